#include "actors/metrics.hpp"

#include <cstdio>

#include <spdlog/fmt/fmt.h>

namespace collab {

histogram::histogram(std::initializer_list<double> bounds) {
  for (auto b : bounds)
    if (size_ < max_buckets)
      bounds_[size_++] = b;
}

void histogram::observe(double value) {
  size_t i = 0;
  while (i < size_ && value > bounds_[i])
    ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(value * 1e6),
                        std::memory_order_relaxed);
}

void histogram::render(std::string& out, const char* name,
                       const char* help) const {
  char line[256];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s histogram\n", name,
                help, name);
  out += line;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= size_; ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    if (i < size_)
      std::snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name,
                    bounds_[i], static_cast<unsigned long long>(cumulative));
    else
      std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                    static_cast<unsigned long long>(cumulative));
    out += line;
  }
  std::snprintf(line, sizeof line, "%s_sum %.6f\n%s_count %llu\n", name,
                sum_micros_.load(std::memory_order_relaxed) / 1e6, name,
                static_cast<unsigned long long>(cumulative));
  out += line;
}

namespace {
// The one Prometheus text writer: # HELP, # TYPE and the sample line.
void metric(std::string& out, const char* type, const char* name,
            const char* help, const std::string& value) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  out += name;
  out += ' ';
  out += value;
  out += '\n';
}

template<class T>
void gauge(std::string& out, const char* type, const char* name,
           const char* help, const std::atomic<T>& v) {
  metric(out, type, name, help,
         std::to_string(v.load(std::memory_order_relaxed)));
}
} // namespace

void append_metric(std::string& out, const char* type, const char* name,
                   const char* help, uint64_t value) {
  metric(out, type, name, help, std::to_string(value));
}

void append_metric(std::string& out, const char* type, const char* name,
                   const char* help, double value) {
  metric(out, type, name, help, fmt::format("{}", value));
}

std::string metrics::render() const {
  std::string out;
  out.reserve(4096);
  gauge(out, "gauge", "collab_connections", "open WebSocket connections",
        connections);
  gauge(out, "gauge", "collab_joined_sessions",
        "joined (session, document) pairs", joined_sessions);
  gauge(out, "gauge", "collab_live_documents", "live document actors",
        live_documents);
  gauge(out, "counter", "collab_ops_committed_total", "ops committed",
        ops_committed);
  gauge(out, "counter", "collab_commit_batches_total",
        "commit batches sent to the store", commit_batches);
  gauge(out, "counter", "collab_duplicate_ops_total",
        "ops re-acked as duplicates", duplicate_ops);
  gauge(out, "counter", "collab_frames_in_total", "frames received", frames_in);
  gauge(out, "counter", "collab_frames_out_total", "frames sent", frames_out);
  gauge(out, "counter", "collab_slow_reader_closes_total",
        "sockets closed 1013 for reading too slowly", slow_reader_closes);
  gauge(out, "counter", "collab_document_activations_total",
        "document actors activated (first use, failover, move)", activations);
  gauge(out, "counter", "collab_document_activations_deferred_total",
        "activations refused while max_concurrent_activations documents "
        "were loading (the connection asks again)",
        activations_deferred);
  gauge(out, "counter", "collab_document_hand_offs_total",
        "documents handed off to another node (moves)", hand_offs);
  gauge(out, "counter", "collab_delivery_batches_total",
        "batches of ops and presence sent by documents (batched delivery)",
        delivery_batches);
  gauge(out, "counter", "collab_delivery_messages_total",
        "messages those batches took: one per node relay with subscribers "
        "(or per subscriber without a relay)",
        delivery_messages);
  gauge(out, "counter", "collab_delivery_remote_messages_total",
        "of those, messages to another node (cluster messages per batch: "
        "the nodes with subscribers)",
        delivery_remote_messages);
  gauge(out, "counter", "collab_relay_deliveries_total",
        "batches a node relay handed to its connection actors",
        relay_deliveries);
  gauge(out, "counter", "collab_members_lost_total",
        "cluster members seen down (failovers)", members_lost);
  gauge(out, "counter", "collab_revoked_closes_total",
        "sockets closed because their token was revoked", revoked_closes);
  gauge(out, "counter", "collab_accept_errors_total",
        "failed accepts on the listeners (e.g. out of file descriptors)",
        accept_errors);
  gauge(out, "counter", "collab_send_budget_closes_total",
        "sockets closed 1013 because the node's queued output was over "
        "send-queue-node-bytes",
        send_budget_closes);
  gauge(out, "counter", "collab_input_pauses_total",
        "times a socket stopped reading because its unprocessed input was "
        "over max-input-bytes",
        input_pauses);
  gauge(out, "counter", "collab_input_throttles_total",
        "times a socket stopped reading a while because it was over "
        "rate-limit-bytes",
        input_throttles);
  gauge(out, "counter", "collab_user_socket_refusals_total",
        "upgrades refused 429: the user had max-sockets-per-user sockets",
        user_socket_refusals);
  out += "# HELP collab_errors_total error messages sent, by code\n"
         "# TYPE collab_errors_total counter\n";
  for (int i = 0; i < errc_count; ++i) {
    out += "collab_errors_total{code=\"";
    out += to_wire(static_cast<errc>(i));
    out += "\"} ";
    out += std::to_string(errors[i].load(std::memory_order_relaxed));
    out += '\n';
  }
  ack_latency.render(out, "collab_ack_latency_seconds",
                     "op frame received to ack sent");
  commit_latency.render(out, "collab_commit_latency_seconds",
                        "store commit round trip");
  store_read_latency.render(out, "collab_store_read_latency_seconds",
                            "resume reads from the store (PostgreSQL)");
  stream_read_latency.render(out, "collab_stream_read_latency_seconds",
                             "resume reads from the Redis stream");
  commit_batch.render(out, "collab_commit_batch_ops",
                      "ops in one commit request of a document");
  mailbox_depth.render(out, "collab_document_mailbox_depth",
                       "messages waiting in a document actor's mailbox, "
                       "sampled at each submitted op");
  return out;
}

metrics& node_metrics() {
  static metrics instance;
  return instance;
}

} // namespace collab
