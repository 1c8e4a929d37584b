// The verdict and the two renderings of a --hostile run; see
// hostile_report.hpp. Latencies in ms, memory in MiB.
#include "hostile_report.hpp"

#include <algorithm>
#include <cstdio>

#include "json_fields.hpp"

namespace collab::bench {

namespace {

uint64_t sum(const std::map<std::string, uint64_t>& m) {
  uint64_t n = 0;
  for (const auto& [k, v] : m)
    n += v;
  return n;
}

std::string join_counts(const std::map<std::string, uint64_t>& m) {
  std::string s;
  for (const auto& [k, v] : m)
    s += (s.empty() ? "" : ", ") + k + "=" + std::to_string(v);
  return s;
}

std::string mib(uint64_t b) {
  if (b == 0)
    return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", double(b) / (1024.0 * 1024.0));
  return buf;
}

std::string latency(const window_figures& w) {
  if (!w.measured)
    return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f / %.1f", w.p50_ms, w.p99_ms);
  return buf;
}

// What the honest clients saw, in a few words ("none" when nothing).
std::string honest_trouble(const pattern_row& row) {
  const auto& a = row.abuse;
  std::string s;
  const auto add = [&s](const std::string& t) {
    s += (s.empty() ? "" : "; ") + t;
  };
  if (!a.errors.empty())
    add("errors " + join_counts(a.errors));
  if (!a.disconnects.empty())
    add("disconnects " + join_counts(a.disconnects));
  if (!a.anomalies.empty())
    add("anomalies " + join_counts(a.anomalies));
  if (a.failed_clients)
    add(std::to_string(a.failed_clients) + " clients failed");
  if (a.stuck)
    add(std::to_string(a.stuck) + " ops unacked after "
        + std::to_string(int(row.settle_s)) + " s");
  if (!row.quiet)
    add("docs not quiet after --settle");
  else if (!row.problems.empty())
    add(std::to_string(row.problems.size()) + " divergences");
  if (row.base.trouble())
    add("(baseline had trouble too)");
  return s.empty() ? "none" : s;
}

} // namespace

uint64_t window_figures::trouble() const {
  return sum(errors) + sum(disconnects) + sum(anomalies)
         + uint64_t(failed_clients) + stuck;
}

void judge(pattern_row& row, const bench_options& opt) {
  if (!row.ran())
    return;
  const double floor = opt.hostile.p99_floor_ms;
  row.latency_ok = row.base.measured && row.abuse.measured
                   && row.abuse.acked > 0
                   && row.abuse.p99_ms <= 2 * std::max(row.base.p99_ms, floor);
  row.honest_ok = row.abuse.trouble() == 0 && row.base.trouble() == 0
                  && row.problems.empty() && row.settled;
  row.rss_ok = row.rss_peak == 0 || row.rss_peak < opt.hostile.memory_budget;
}

void print_hostile_table(const hostile_report& r) {
  const auto& o = *r.opt;
  std::printf("collab-bench --hostile: honest workload %d docs x %d clients x "
              "%.3g ops/s; windows %.3g s without / %.3g s with the abuse\n",
              o.docs, o.clients, o.per_client_rate(), o.hostile.baseline,
              o.duration);
  std::printf("node: %s", o.urls.front().text().c_str());
  if (r.server_pid)
    std::printf("  pid %d%s", r.server_pid,
                r.started_server ? " (started by the bench)" : "");
  if (r.fd_limit)
    std::printf("  fd limit %d", r.fd_limit);
  std::printf("  memory budget %s MiB\n", mib(o.hostile.memory_budget).c_str());
  std::printf("goal: honest ack p99 within 2x of its baseline (baselines under "
              "%.3g ms count as %.3g ms), no error for the honest clients, "
              "peak RSS under the budget\n\n",
              o.hostile.p99_floor_ms, o.hostile.p99_floor_ms);
  std::printf("%-9s %-15s %-17s %6s %-19s %-7s %s\n", "pattern", "base p50/p99",
              "abused p50/p99", "x p99", "rss MiB b/peak/a", "goal",
              "honest clients saw");
  for (const auto& row : r.rows) {
    if (!row.ran()) {
      std::printf(
        "%-9s skipped: %s\n", row.name.c_str(),
        (row.skipped.empty() ? row.setup_error : row.skipped).c_str());
      continue;
    }
    char ratio[16] = "-";
    if (row.base.measured && row.abuse.measured && row.base.p99_ms > 0)
      std::snprintf(ratio, sizeof ratio, "%.1f",
                    row.abuse.p99_ms / row.base.p99_ms);
    const std::string rss = mib(row.rss_before) + "/" + mib(row.rss_peak) + "/"
                            + mib(row.rss_after);
    std::string goal = row.met() ? "met" : "MISSED";
    if (!row.met()) {
      std::string why;
      for (const auto& [ok, what] :
           {std::pair{row.latency_ok, "p99"},
            std::pair{row.honest_ok, "errors"}, std::pair{row.rss_ok, "rss"}})
        if (!ok)
          why += (why.empty() ? "" : ",") + std::string(what);
      goal += " (" + why + ")";
    }
    std::printf("%-9s %-15s %-17s %6s %-19s %-7s %s\n", row.name.c_str(),
                latency(row.base).c_str(), latency(row.abuse).c_str(), ratio,
                rss.c_str(), goal.c_str(), honest_trouble(row).c_str());
    std::printf("%9s abuse: %s\n", "", join_counts(row.counts).c_str());
    std::printf("%9s acks %llu/%llu sent, max %.1f ms, server cpu %.0f%% -> "
                "%.0f%%, fds peak %d",
                "", static_cast<unsigned long long>(row.abuse.acked),
                static_cast<unsigned long long>(row.abuse.sent),
                row.abuse.max_ms, row.base.server_cpu_pct,
                row.abuse.server_cpu_pct, row.fds_peak);
    if (r.started_server) // only then does the bench see its log
      std::printf(", log +%llu lines",
                  static_cast<unsigned long long>(row.log_lines));
    if (row.prepare_s >= 0.5)
      std::printf(", prepared in %.1f s", row.prepare_s);
    if (row.settle_s >= 0.5)
      std::printf(", settled in %.1f s%s", row.settle_s,
                  row.settled ? "" : " (NOT)");
    std::printf("\n");
    for (size_t i = 0; i < row.problems.size() && i < 3; ++i)
      std::printf("%9s %s\n", "", row.problems[i].c_str());
  }
  int met = 0, ran = 0;
  for (const auto& row : r.rows) {
    ran += row.ran() ? 1 : 0;
    met += row.met() ? 1 : 0;
  }
  std::printf("\n%d of %d patterns met the goal", met, ran);
  if (r.started_server)
    std::printf("; node %s", r.server_end.c_str());
  std::printf("\n");
}

namespace {

using bench::put; // json_fields.hpp's, next to the overloads below

void put(json_writer& w, const char* k, const window_figures& f) {
  w.Key(k);
  if (!f.measured) {
    w.Null();
    return;
  }
  w.StartObject();
  put(w, "seconds", f.seconds);
  put(w, "sent", f.sent);
  put(w, "acked", f.acked);
  put(w, "stuck", f.stuck);
  put(w, "ack_p50_ms", f.p50_ms);
  put(w, "ack_p99_ms", f.p99_ms);
  put(w, "ack_max_ms", f.max_ms);
  put(w, "remote_p99_ms", f.remote_p99_ms);
  put_counts(w, "errors", f.errors);
  put_counts(w, "disconnects", f.disconnects);
  put_counts(w, "anomalies", f.anomalies);
  put(w, "failed_clients", f.failed_clients);
  put(w, "server_cpu_percent", f.server_cpu_pct);
  w.EndObject();
}

} // namespace

void print_hostile_json(const hostile_report& r) {
  const auto& o = *r.opt;
  rapidjson::StringBuffer sb;
  json_writer w(sb);
  w.StartObject();
  w.Key("setup");
  w.StartObject();
  put(w, "docs", o.docs);
  put(w, "clients_per_doc", o.clients);
  put(w, "rate_per_client", o.per_client_rate());
  put(w, "baseline_s", o.hostile.baseline);
  put(w, "window_s", o.duration);
  put(w, "url", o.urls.front().text());
  put(w, "server_pid", r.server_pid);
  put(w, "started_server", r.started_server);
  put(w, "fd_limit", r.fd_limit);
  put(w, "memory_budget_bytes", uint64_t(o.hostile.memory_budget));
  put(w, "p99_floor_ms", o.hostile.p99_floor_ms);
  w.EndObject();
  w.Key("patterns");
  w.StartArray();
  for (const auto& row : r.rows) {
    w.StartObject();
    put(w, "name", row.name);
    put(w, "what", row.what);
    if (!row.ran()) {
      put(w, "skipped", row.skipped.empty() ? row.setup_error : row.skipped);
      w.EndObject();
      continue;
    }
    put(w, "baseline", row.base);
    put(w, "abused", row.abuse);
    put(w, "prepare_s", row.prepare_s);
    put(w, "settle_s", row.settle_s);
    put(w, "settled", row.settled);
    put(w, "quiet", row.quiet);
    put(w, "rss_before_bytes", row.rss_before);
    put(w, "rss_peak_bytes", row.rss_peak);
    put(w, "rss_peak_is_vmhwm", row.peak_is_hwm);
    put(w, "rss_after_bytes", row.rss_after);
    put(w, "fds_peak", row.fds_peak);
    put(w, "log_lines", row.log_lines);
    put(w, "log_bytes", row.log_bytes);
    w.Key("problems");
    w.StartArray();
    for (const auto& p : row.problems)
      w.String(p.c_str(), rapidjson::SizeType(p.size()));
    w.EndArray();
    put_counts(w, "abuse", row.counts);
    w.Key("goal");
    w.StartObject();
    put(w, "latency_ok", row.latency_ok);
    put(w, "honest_ok", row.honest_ok);
    put(w, "rss_ok", row.rss_ok);
    put(w, "met", row.met());
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  put(w, "server_end", r.server_end);
  put(w, "exit_code", r.exit_code);
  w.EndObject();
  std::printf("%s\n", sb.GetString());
}

} // namespace collab::bench
