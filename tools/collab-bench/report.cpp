// Rendering of bench_result; see report.hpp. Latencies are printed in
// milliseconds with three decimals, rates with one.
#include "report.hpp"

#include <algorithm>
#include <cstdio>

#include "json_fields.hpp"

namespace collab::bench {

namespace {

double ms(int64_t ns) {
  return double(ns) / 1e6;
}

std::string join_counts(const std::map<std::string, uint64_t>& m) {
  if (m.empty())
    return "none";
  std::string s;
  for (const auto& [k, v] : m) {
    if (!s.empty())
      s += ", ";
    s += k + "=" + std::to_string(v);
  }
  return s;
}

void print_latency(const char* name, const histogram& h) {
  if (h.count() == 0) {
    std::printf("%-18s no samples\n", name);
    return;
  }
  std::printf("%-18s p50 %.3f  p90 %.3f  p95 %.3f  p99 %.3f  p99.9 %.3f  "
              "max %.3f ms  (n=%llu)\n",
              name, ms(h.quantile(0.5)), ms(h.quantile(0.9)),
              ms(h.quantile(0.95)), ms(h.quantile(0.99)), ms(h.quantile(0.999)),
              ms(h.max()), static_cast<unsigned long long>(h.count()));
}

std::string mib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / (1024.0 * 1024.0));
  return buf;
}

// The setup: load, urls, documents, nodes.
void print_setup(const bench_result& r) {
  const auto& o = *r.opt;
  const double pcr = o.per_client_rate();
  std::printf("collab-bench: %d docs x %d clients = %d connections, ", o.docs,
              o.clients, r.connections);
  if (pcr <= 0)
    std::printf("saturation (closed loop)");
  else
    std::printf("%.3g ops/s per client (%.1f offered)", pcr,
                pcr * double(o.docs) * double(o.authors_per_doc()));
  std::printf(", op-size %d, %.3g s + %.3g s warmup, %d io thread%s\n",
              o.op_size, o.duration, o.warmup, o.threads,
              o.threads == 1 ? "" : "s");
  std::printf("urls:");
  for (const auto& u : o.urls)
    std::printf(" %s", u.text().c_str());
  std::printf("   docs: %s0..%d\n", o.doc_prefix.c_str(), o.docs - 1);
  if (r.nodes.size() > 1
      || (!r.nodes.empty() && r.nodes.begin()->first != "")) {
    std::printf("nodes:");
    for (const auto& [n, c] : r.nodes)
      std::printf(" %s=%d", n.c_str(), c);
    std::printf("\n");
  }
}

// Throughput and latency in the window, errors, resource use.
void print_window(const bench_result& r) {
  const auto& o = *r.opt;
  const auto& s = r.stats;
  std::printf("connect:           %d joined in %.3f s\n", r.connections,
              r.connect_s);
  const double w = r.window_s > 0 ? r.window_s : 1;
  std::printf("committed ops/s:   %.1f   (%llu acks in %.3f s)\n",
              double(s.window_acks) / w,
              static_cast<unsigned long long>(s.window_acks), r.window_s);
  std::printf("edits/s:           %.1f generated, %.1f ops/s sent "
              "(edits made while an op is in flight are composed)\n",
              double(s.window_edits) / w, double(s.window_sends) / w);
  {
    // Whole seconds inside the window (warmup excluded).
    const auto first = size_t(o.warmup + 0.999999);
    const auto last = size_t(o.warmup + o.duration); // exclusive
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = first; i < last; ++i) {
      const uint64_t v = i < s.acks_per_second.size() ? s.acks_per_second[i]
                                                      : 0;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (hi > 0)
      std::printf("per second:        min %llu  max %llu ops/s (timeline in "
                  "--json)\n",
                  static_cast<unsigned long long>(lo),
                  static_cast<unsigned long long>(hi));
  }
  print_latency("ack latency:", s.ack_latency);
  print_latency("remote delivery:", s.remote_latency);
  std::printf("errors:            %s\n", join_counts(s.errors).c_str());
  std::printf("disconnects:       %s", join_counts(s.disconnects).c_str());
  if (s.reconnects)
    std::printf("   (reconnects %llu, resends %llu)",
                static_cast<unsigned long long>(s.reconnects),
                static_cast<unsigned long long>(s.resends));
  std::printf("\n");
  if (!s.anomalies.empty())
    std::printf("PROTOCOL ANOMALIES: %s\n", join_counts(s.anomalies).c_str());
  if (!s.info.empty())
    std::printf("notes:             %s\n", join_counts(s.info).c_str());
  if (r.server_sampled)
    std::printf("server (pid %d):    cpu %.1f%%  rss %s (peak %s)\n", o.pid,
                r.server_cpu_pct, mib(r.server_rss).c_str(),
                mib(r.server_rss_peak).c_str());
  std::printf("bench:             cpu %.1f%% over %d thread%s, rss %s, "
              "in %s, out %s\n",
              r.bench_cpu_pct, o.threads, o.threads == 1 ? "" : "s",
              mib(r.bench_rss).c_str(), mib(s.bytes_in).c_str(),
              mib(s.bytes_out).c_str());
}

// Drain, accounting, convergence, the verdict.
void print_outcome(const bench_result& r) {
  const auto& o = *r.opt;
  const auto& s = r.stats;
  std::printf("drain:             %s in %.3f s; %llu revisions committed "
              "(acks %llu)%s, %llu code points in all docs\n",
              r.drained ? "quiet" : "TIMED OUT", r.drain_s,
              static_cast<unsigned long long>(r.committed_revs),
              static_cast<unsigned long long>(s.total_acks),
              !r.accounting_checked ? " (not checked)"
              : r.accounting_ok     ? ""
                                    : " MISMATCH",
              static_cast<unsigned long long>(r.final_chars));
  for (size_t i = 0; i < r.failed_clients.size() && i < 10; ++i)
    std::printf("failed client:     %s\n", r.failed_clients[i].c_str());
  if (r.failed_clients.size() > 10)
    std::printf("failed clients:    ... and %zu more (all in --json)\n",
                r.failed_clients.size() - 10);
  if (r.divergences.empty())
    std::printf("convergence: OK (%d docs)", r.docs_ok);
  else
    std::printf("convergence: FAILED (%d of %d docs)", o.docs - r.docs_ok,
                o.docs);
  if (r.http_checked)
    std::printf(", HTTP GET /v1/docs matches %d/%d", r.http_matched,
                r.http_checked);
  std::printf("\n");
  for (size_t i = 0; i < r.divergences.size() && i < 10; ++i)
    std::printf("  %s\n", r.divergences[i].c_str());
  if (r.divergences.size() > 10)
    std::printf("  ... and %zu more (all in --json)\n",
                r.divergences.size() - 10);
  if (!r.untolerated_errors.empty()) {
    std::printf("result: FAILED (errors:");
    for (const auto& e : r.untolerated_errors)
      std::printf(" %s", e.c_str());
    std::printf(")\n");
  }
}

} // namespace

void print_human(const bench_result& r) {
  print_setup(r);
  print_window(r);
  print_outcome(r);
}

namespace {

void put_latency(json_writer& w, const char* k, const histogram& h) {
  w.Key(k);
  w.StartObject();
  put(w, "count", uint64_t(h.count()));
  put(w, "p50", ms(h.quantile(0.5)));
  put(w, "p90", ms(h.quantile(0.9)));
  put(w, "p95", ms(h.quantile(0.95)));
  put(w, "p99", ms(h.quantile(0.99)));
  put(w, "p999", ms(h.quantile(0.999)));
  put(w, "max", ms(h.max()));
  put(w, "mean", h.mean() / 1e6);
  w.EndObject();
}

void put_strings(json_writer& w, const char* k,
                 const std::vector<std::string>& v) {
  w.Key(k);
  w.StartArray();
  for (const auto& s : v)
    w.String(s.c_str(), rapidjson::SizeType(s.size()));
  w.EndArray();
}

// "setup": what was asked for.
void put_setup(json_writer& w, const bench_result& r) {
  const auto& o = *r.opt;
  w.Key("setup");
  w.StartObject();
  put(w, "docs", o.docs);
  put(w, "clients_per_doc", o.clients);
  put(w, "connections", r.connections);
  put(w, "rate_per_client", o.per_client_rate());
  put(w, "offered_rate", o.per_client_rate() * o.docs * o.authors_per_doc());
  put(w, "saturation", o.saturation());
  put(w, "duration_s", o.duration);
  put(w, "warmup_s", o.warmup);
  put(w, "op_size", o.op_size);
  put(w, "delete_ratio", o.delete_ratio);
  put(w, "ascii", o.ascii);
  put(w, "threads", o.threads);
  put(w, "doc_prefix", o.doc_prefix);
  put(w, "seed", uint64_t(o.seed));
  w.Key("urls");
  w.StartArray();
  for (const auto& u : o.urls) {
    const auto t = u.text();
    w.String(t.c_str(), rapidjson::SizeType(t.size()));
  }
  w.EndArray();
  w.EndObject();
}

// "server" and "bench" resource use, drain, accounting and convergence.
void put_outcome(json_writer& w, const bench_result& r) {
  const auto& o = *r.opt;
  const auto& s = r.stats;
  w.Key("server");
  if (r.server_sampled) {
    w.StartObject();
    put(w, "pid", o.pid);
    put(w, "cpu_percent", r.server_cpu_pct);
    put(w, "rss_bytes", uint64_t(r.server_rss));
    put(w, "rss_peak_bytes", uint64_t(r.server_rss_peak));
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("bench");
  w.StartObject();
  put(w, "cpu_percent", r.bench_cpu_pct);
  put(w, "rss_bytes", uint64_t(r.bench_rss));
  w.EndObject();
  put(w, "drained", r.drained);
  put(w, "drain_s", r.drain_s);
  put(w, "committed_revs", uint64_t(r.committed_revs));
  put(w, "total_acks", uint64_t(s.total_acks));
  put(w, "accounting_checked", r.accounting_checked);
  put(w, "accounting_ok", r.accounting_ok);
  put(w, "final_chars", uint64_t(r.final_chars));
  w.Key("convergence");
  w.StartObject();
  put(w, "ok", r.divergences.empty());
  put(w, "docs", o.docs);
  put(w, "docs_ok", r.docs_ok);
  put(w, "http_checked", r.http_checked);
  put(w, "http_matched", r.http_matched);
  put_strings(w, "problems", r.divergences);
  put_strings(w, "failed_clients", r.failed_clients);
  w.EndObject();
}

} // namespace

void print_json(const bench_result& r) {
  const auto& s = r.stats;
  const double w_s = r.window_s > 0 ? r.window_s : 1;
  rapidjson::StringBuffer sb;
  json_writer w(sb);
  w.StartObject();
  put_setup(w, r);
  w.Key("nodes");
  w.StartObject();
  for (const auto& [n, c] : r.nodes) {
    w.Key(n.c_str(), rapidjson::SizeType(n.size()));
    w.Int(c);
  }
  w.EndObject();
  put(w, "connect_s", r.connect_s);
  put(w, "window_s", r.window_s);
  put(w, "ops_per_s", double(s.window_acks) / w_s);
  put(w, "acks", uint64_t(s.window_acks));
  put(w, "edits_per_s", double(s.window_edits) / w_s);
  put(w, "sends_per_s", double(s.window_sends) / w_s);
  w.Key("acks_per_second"); // from the start of generation, warmup included
  w.StartArray();
  for (const auto v : s.acks_per_second)
    w.Uint64(v);
  w.EndArray();
  put_latency(w, "ack_latency_ms", s.ack_latency);
  put_latency(w, "remote_latency_ms", s.remote_latency);
  put_counts(w, "errors", s.errors);
  put_counts(w, "disconnects", s.disconnects);
  put_counts(w, "anomalies", s.anomalies);
  put_counts(w, "info", s.info);
  put(w, "reconnects", uint64_t(s.reconnects));
  put(w, "resends", uint64_t(s.resends));
  put(w, "connect_failures", uint64_t(s.connect_failures));
  put(w, "bytes_in", uint64_t(s.bytes_in));
  put(w, "bytes_out", uint64_t(s.bytes_out));
  put_outcome(w, r);
  put_strings(w, "untolerated_errors", r.untolerated_errors);
  put(w, "exit_code", r.exit_code);
  w.EndObject();
  std::printf("%s\n", sb.GetString());
}

} // namespace collab::bench
