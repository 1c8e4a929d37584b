// collabd's storage (storage.hpp): PostgreSQL or memory, the Redis op log
// and admin actor, their metrics, their stop at exit.
#include "storage.hpp"

#include <chrono>
#include <string>

#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "persistence/memory_store.hpp"
#include "persistence/redis_admin.hpp"

namespace collabd {

namespace {

// Storage counters for /metrics: PostgreSQL group commit, Redis stream.
void add_storage_metrics(collab::net::server_context& ctx,
                         std::shared_ptr<collab::pg_status> pg,
                         std::shared_ptr<const collab::redis_health> redis) {
  using collab::append_metric;
  if (pg)
    ctx.metrics_sources.push_back([pg](std::string& out) {
      auto c = pg->snapshot();
      append_metric(out, "gauge", "collab_pg_up", "PostgreSQL reachable",
                    uint64_t{pg->ready()});
      append_metric(out, "counter", "collab_pg_commit_batches_total",
                    "group-commit transactions", c.batches);
      append_metric(out, "counter", "collab_pg_ops_total", "ops made durable",
                    c.ops);
      append_metric(out, "counter", "collab_pg_commit_failures_total",
                    "commit requests answered with an error", c.failed);
      append_metric(out, "counter", "collab_pg_in_doubt_total",
                    "batches whose COMMIT outcome had to be verified",
                    c.in_doubt);
      append_metric(out, "gauge", "collab_pg_max_batch",
                    "most commit requests in one transaction", c.max_batch);
    });
  if (redis && redis->enabled)
    ctx.metrics_sources.push_back([redis](std::string& out) {
      auto h = redis->snapshot();
      append_metric(out, "gauge", "collab_redis_up", "Redis reachable",
                    uint64_t{h.healthy});
      append_metric(out, "counter", "collab_stream_appended_total",
                    "ops appended to replay streams", h.appended);
      append_metric(out, "counter", "collab_stream_dropped_total",
                    "ops not appended (backlog overflow)", h.dropped);
      append_metric(out, "gauge", "collab_stream_backlog",
                    "ops waiting to be appended", h.backlog);
      append_metric(out, "gauge", "collab_stream_lag_seconds",
                    "queue time of the last appended op", h.lag_ms / 1000.0);
      append_metric(out, "counter", "collab_stream_read_misses_total",
                    "resume reads the stream could not serve", h.read_misses);
    });
}
} // namespace

bool start_storage(caf::actor_system& sys, const collab::node_config& cfg,
                   collab::net::server_context& ctx, storage& st) {
  // Storage: PostgreSQL when configured (the truth), else memory; the Redis
  // stream is the fast path of resume, never the durability path.
  collab::store_limits store_limits;
  store_limits.history_bytes = cfg.history_bytes;
  if (cfg.pg_url.empty()) {
    ctx.store = collab::spawn_memory_store(sys, store_limits);
  } else {
    collab::pg_store_options pg_opts;
    pg_opts.url = cfg.pg_url;
    pg_opts.application_name = "collabd-" + cfg.node_id;
    pg_opts.ops_retention = cfg.ops_retention;
    pg_opts.retention_interval
      = std::chrono::milliseconds(cfg.retention_interval_ms);
    pg_opts.limits = store_limits;
    auto pg_status = st.pg_status = pg_opts.status
      = std::make_shared<collab::pg_status>();
    ctx.store = collab::spawn_pg_store(sys, pg_opts);
    ctx.readiness_checks.push_back([pg_status] {
      return pg_status->ready() ? std::string{}
                                : "postgres: " + pg_status->reason();
    });
  }
  auto& redis_opts = st.redis_opts;
  redis_opts.url = cfg.redis_url;
  redis_opts.maxlen = cfg.stream_maxlen;
  redis_opts.max_bytes = cfg.stream_max_bytes;
  try {
    st.op_log = collab::spawn_redis_op_log(sys, redis_opts);
  } catch (const std::exception& e) {
    spdlog::error("event=config_error message=\"{}\"", e.what());
    return false;
  }

  if (!cfg.redis_url.empty())
    ctx.redis_admin = collab::spawn_redis_admin(sys, redis_opts);
  add_storage_metrics(ctx, st.pg_status, st.op_log.health());
  return true;
}

collab::document_options
document_options_of(const collab::node_config& cfg,
                    std::shared_ptr<collab::memory_budget> budget,
                    const storage& st) {
  collab::document_options doc_opts;
  doc_opts.node = cfg.node_id;
  doc_opts.snapshot_every = cfg.snapshot_every;
  doc_opts.snapshot_quiet = std::chrono::milliseconds(cfg.snapshot_quiet_ms);
  doc_opts.history_window = cfg.history_window;
  doc_opts.max_doc_bytes = cfg.max_doc_bytes;
  doc_opts.idle_timeout = std::chrono::milliseconds(cfg.doc_idle_ms);
  // Isolation (docs/DESIGN.md, contract 6): the work of one op, the history's
  // bytes (charged to the node's memory budget, shared with the sessions),
  // presence per tick, resume pages.
  doc_opts.max_op_components = cfg.max_op_components;
  doc_opts.max_transform_work = cfg.max_transform_work;
  doc_opts.history_bytes = cfg.history_bytes;
  doc_opts.budget = std::move(budget);
  doc_opts.presence_tick = std::chrono::milliseconds(cfg.presence_tick_ms);
  doc_opts.batch_tick_max = std::chrono::milliseconds(cfg.batch_tick_max_ms);
  doc_opts.batch_frames_per_s = cfg.batch_frames_per_s;
  doc_opts.resume_page_ops = cfg.resume_page_ops;
  doc_opts.activations
    = std::make_shared<collab::activation_gate>(cfg.max_concurrent_activations);
  if (!cfg.redis_url.empty()) {
    doc_opts.op_log = st.op_log.actor();
    doc_opts.op_log_timeout = st.redis_opts.read_timeout
                              + std::chrono::milliseconds(100);
  }
  return doc_opts;
}

void stop_storage(collab::net::server_context& ctx, storage& st) {
  st.op_log.stop(); // appends what is queued while Redis answers
  if (st.pg_status)
    collab::stop_pg_store(ctx.store); // commits what is queued
  else
    caf::anon_send_exit(ctx.store, caf::exit_reason::user_shutdown);
}

} // namespace collabd
