// collab-bench: the load generator and convergence checker for collabd.
//
// Runs D documents x C clients over one io_context (--threads io threads,
// one strand per document), in phases: connect (every client hello + join),
// generate (--warmup unmeasured seconds, then the --duration window in which
// acks, latencies and edits are counted and the server's /proc is sampled),
// drain (stop editing, wait until no client has an inflight or pending op
// and all clients of a document are at the same revision), verify (all
// clients of a document hold the same text; GET /v1/docs/{id} returns that
// text at that revision; the revisions committed equal the acks received)
// and close. Exit status: 0 all good, 1 divergence / protocol anomaly /
// failed client / error not in --tolerate, 2 usage, 3 could not connect.
//
// Thread-safety: main owns the run; it touches a document's clients only by
// posting to that document's strand and waiting (on_all_groups).
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "client.hpp"
#include "http_verify.hpp"
#include "options.hpp"
#include "report.hpp"
#include "stats.hpp"

using namespace collab::bench;

namespace {

using group_list = std::vector<std::unique_ptr<doc_group>>;

// Runs fn(index, group) on every group's strand and waits for all of them.
template <class F> void on_all_groups(group_list& groups, F fn) {
  std::mutex m;
  std::condition_variable cv;
  size_t left = groups.size();
  for (size_t i = 0; i < groups.size(); ++i) {
    asio::post(groups[i]->strand, [&, i] {
      fn(i, *groups[i]);
      std::lock_guard<std::mutex> lock(m);
      if (--left == 0)
        cv.notify_one();
    });
  }
  std::unique_lock<std::mutex> lock(m);
  cv.wait(lock, [&] { return left == 0; });
}

double seconds_since(const run_control& ctl, int64_t ns) {
  return double(ctl.now_ns() - ns) / 1e9;
}

void sleep_until_ns(const run_control& ctl, int64_t ns) {
  std::this_thread::sleep_until(ctl.epoch + std::chrono::nanoseconds(ns));
}

std::string first_difference(const std::string& a, const std::string& b) {
  const auto n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i])
    ++i;
  return "first difference at byte " + std::to_string(i) + " (sizes " +
         std::to_string(a.size()) + " and " + std::to_string(b.size()) + ")";
}

uint64_t code_points(const std::string& s) {
  uint64_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xc0) != 0x80;
  return n;
}

} // namespace

int main(int argc, char** argv) {
  bench_options opt;
  if (const int rc = parse_options(argc, argv, opt); rc >= 0)
    return rc;

  asio::io_context ioc;
  run_control ctl;
  shared_setup setup;
  setup.opt = &opt;
  setup.ctl = &ctl;
  {
    tcp::resolver resolver(ioc);
    for (const auto& u : opt.urls) {
      boost::system::error_code ec;
      const auto results = resolver.resolve(u.host, u.port, ec);
      if (ec || results.empty()) {
        std::fprintf(stderr, "collab-bench: cannot resolve %s: %s\n",
                     u.text().c_str(), ec.message().c_str());
        return 3;
      }
      setup.resolved.emplace_back(results.begin(), results.end());
    }
  }

  // Client ids: unique per run, stable per (doc, client) within it.
  std::mt19937_64 seeder(opt.seed);
  char run_id[16];
  std::snprintf(run_id, sizeof run_id, "%06llx",
                static_cast<unsigned long long>(seeder() & 0xffffff));
  group_list groups;
  groups.reserve(size_t(opt.docs));
  size_t next_url = 0;
  for (int d = 0; d < opt.docs; ++d) {
    groups.push_back(std::make_unique<doc_group>(
        ioc, opt.doc_prefix + std::to_string(d), setup));
    for (int c = 0; c < opt.clients; ++c) {
      groups.back()->add_client("b" + std::string(run_id) + "-" +
                                    std::to_string(d) + "-" + std::to_string(c),
                                next_url++ % opt.urls.size(), seeder());
    }
  }
  const int total = opt.docs * opt.clients;

  auto guard = asio::make_work_guard(ioc);
  std::vector<latency_sink> sinks(size_t(opt.threads));
  std::vector<std::thread> threads;
  for (int t = 0; t < opt.threads; ++t)
    threads.emplace_back([&ioc, sink = &sinks[size_t(t)]] {
      set_thread_latency(sink);
      ioc.run();
    });
  auto shutdown = [&] {
    ctl.stopping = true;
    ctl.generating = false;
    on_all_groups(groups, [](size_t, doc_group& g) {
      for (auto& c : g.clients)
        c->close();
    });
    const int64_t t0 = ctl.now_ns();
    while (ctl.closed_clients.load() < total && seconds_since(ctl, t0) < 3)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    guard.reset();
    ioc.stop();
    for (auto& t : threads)
      t.join();
  };

  bench_result r;
  r.opt = &opt;
  r.connections = total;

  // --- connect
  const int64_t connect0 = ctl.now_ns();
  on_all_groups(groups, [](size_t, doc_group& g) {
    for (auto& c : g.clients)
      c->start_connect();
  });
  int failed_at_connect = 0;
  for (int polls = 0;; ++polls) {
    if (ctl.joined_clients.load() >= total)
      break;
    if (polls % 20 == 19) { // every 100 ms: anyone refused for good?
      std::atomic<int> failed{0};
      on_all_groups(groups, [&failed](size_t, doc_group& g) {
        for (auto& c : g.clients)
          failed += c->failed() ? 1 : 0;
      });
      failed_at_connect = failed.load();
      if (ctl.joined_clients.load() + failed_at_connect >= total)
        break;
    }
    if (seconds_since(ctl, connect0) > opt.connect_timeout)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.connect_s = seconds_since(ctl, connect0);
  if (ctl.joined_clients.load() < total) {
    doc_stats merged;
    std::vector<std::string> reasons;
    std::mutex m;
    on_all_groups(groups, [&](size_t, doc_group& g) {
      std::lock_guard<std::mutex> lock(m);
      merged.merge(g.stats);
      for (auto& c : g.clients) {
        const auto s = c->snapshot(false);
        if (s.failed && reasons.size() < 5)
          reasons.push_back(s.id + ": " + s.fail_reason);
      }
    });
    shutdown();
    std::fprintf(stderr,
                 "collab-bench: only %d of %d clients joined within %.1f s\n",
                 ctl.joined_clients.load(), total, r.connect_s);
    for (const auto& [k, v] : merged.disconnects)
      std::fprintf(stderr, "  %s: %llu\n", k.c_str(),
                   static_cast<unsigned long long>(v));
    for (const auto& [k, v] : merged.errors)
      std::fprintf(stderr, "  error %s: %llu\n", k.c_str(),
                   static_cast<unsigned long long>(v));
    for (const auto& s : reasons)
      std::fprintf(stderr, "  %s\n", s.c_str());
    return 3;
  }

  // --- generate
  ctl.gen_start_ns = ctl.now_ns() + 1000000;
  ctl.window_start_ns =
      ctl.gen_start_ns + static_cast<int64_t>(opt.warmup * 1e9);
  ctl.window_end_ns =
      ctl.window_start_ns + static_cast<int64_t>(opt.duration * 1e9);
  ctl.generating = true;
  on_all_groups(groups, [](size_t, doc_group& g) {
    for (auto& c : g.clients)
      c->start_generating();
  });
  sleep_until_ns(ctl, ctl.window_start_ns);
  const double server_cpu0 = opt.pid ? proc_cpu_seconds(opt.pid) : -1;
  const double self_cpu0 = proc_cpu_seconds(0);
  const int64_t w0 = ctl.now_ns();
  while (ctl.now_ns() < ctl.window_end_ns) {
    if (opt.pid)
      r.server_rss_peak = std::max(r.server_rss_peak, proc_rss_bytes(opt.pid));
    const int64_t next = std::min(ctl.window_end_ns, ctl.now_ns() + 100000000);
    sleep_until_ns(ctl, next);
  }
  const double server_cpu1 = opt.pid ? proc_cpu_seconds(opt.pid) : -1;
  const double self_cpu1 = proc_cpu_seconds(0);
  const int64_t w1 = ctl.now_ns();
  ctl.generating = false;
  r.window_s = double(ctl.window_end_ns - ctl.window_start_ns) / 1e9;
  const double sampled_s = double(w1 - w0) / 1e9;
  if (opt.pid && server_cpu0 >= 0 && server_cpu1 >= 0) {
    r.server_sampled = true;
    r.server_cpu_pct = 100.0 * (server_cpu1 - server_cpu0) / sampled_s;
    r.server_rss = proc_rss_bytes(opt.pid);
    r.server_rss_peak = std::max(r.server_rss_peak, r.server_rss);
  }
  r.bench_cpu_pct = 100.0 * (self_cpu1 - self_cpu0) / sampled_s;
  r.bench_rss = proc_rss_bytes(0);
  on_all_groups(groups, [](size_t, doc_group& g) {
    for (auto& c : g.clients)
      c->stop_generating();
  });

  // --- drain
  const int64_t drain0 = ctl.now_ns();
  std::vector<char> quiet(groups.size(), 0);
  for (;;) {
    on_all_groups(groups, [&quiet](size_t i, doc_group& g) {
      bool q = true;
      bool have_rev = false;
      uint64_t rev = 0;
      for (auto& c : g.clients) {
        if (c->failed())
          continue;
        if (!c->joined() || c->busy()) {
          q = false;
          break;
        }
        if (!have_rev) {
          rev = c->rev();
          have_rev = true;
        } else if (c->rev() != rev) {
          q = false;
          break;
        }
      }
      quiet[i] = q;
    });
    if (std::all_of(quiet.begin(), quiet.end(), [](char q) { return q; })) {
      r.drained = true;
      break;
    }
    if (seconds_since(ctl, drain0) > opt.drain_timeout)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  r.drain_s = seconds_since(ctl, drain0);

  // --- verify: clients against each other
  std::vector<std::vector<client_snapshot>> snaps(groups.size());
  std::vector<uint64_t> join_revs(groups.size());
  on_all_groups(groups, [&](size_t i, doc_group& g) {
    for (auto& c : g.clients)
      snaps[i].push_back(c->snapshot(true));
    join_revs[i] = g.first_join_rev;
  });
  std::vector<const client_snapshot*> reference(groups.size(), nullptr);
  std::vector<char> doc_ok(groups.size(), 1);
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& doc = groups[i]->id;
    char& ok = doc_ok[i];
    for (const auto& s : snaps[i]) {
      ++r.nodes[s.node];
      if (s.failed) {
        r.failed_clients.push_back(s.id + " (" + doc + "): " + s.fail_reason);
        ok = 0;
        continue;
      }
      if (reference[i] == nullptr) {
        reference[i] = &s;
        continue;
      }
      const auto& ref = *reference[i];
      if (s.rev != ref.rev || s.text != ref.text) {
        r.divergences.push_back(
            doc + ": " + ref.id + " rev " + std::to_string(ref.rev) +
            (ref.busy ? " (ops unacknowledged)" : "") + " vs " + s.id +
            " rev " + std::to_string(s.rev) +
            (s.busy ? " (ops unacknowledged)" : "") + ", " +
            (s.text == ref.text ? "same text"
                                : first_difference(ref.text, s.text)));
        ok = 0;
      }
    }
    if (reference[i] == nullptr) {
      r.divergences.push_back(doc + ": no healthy client left");
      ok = 0;
    } else {
      r.final_chars += code_points(reference[i]->text);
    }
    uint64_t max_rev = 0; // what any client saw, failed ones included
    for (const auto& s : snaps[i])
      max_rev = std::max(max_rev, s.rev);
    if (join_revs[i] != UINT64_MAX)
      r.committed_revs += max_rev - join_revs[i];
  }

  // --- close the sockets, then verify against the server over HTTP
  shutdown();
  for (auto& g : groups)
    r.stats.merge(g->stats);
  for (const auto& s : sinks) {
    r.stats.ack_latency.merge(s.ack);
    r.stats.remote_latency.merge(s.remote);
  }
  // Every revision committed during the run is one of our acked ops; only
  // meaningful when everything was acked and nobody dropped out.
  r.accounting_checked = r.drained && r.failed_clients.empty();
  r.accounting_ok =
      !r.accounting_checked || r.committed_revs == r.stats.total_acks;

  if (opt.verify_docs != 0) {
    std::vector<std::unique_ptr<http_fetcher>> fetchers;
    for (size_t u = 0; u < opt.urls.size(); ++u)
      fetchers.push_back(std::make_unique<http_fetcher>(
          opt.urls[u], setup.resolved[u], opt.token));
    const size_t n = groups.size();
    const size_t want =
        opt.verify_docs < 0 ? n : std::min(n, size_t(opt.verify_docs));
    for (size_t k = 0; k < want; ++k) {
      const size_t i = want == n ? k : k * n / want; // spread the sample
      if (reference[i] == nullptr)
        continue;
      const auto& ref = *reference[i];
      const auto& doc = groups[i]->id;
      http_doc h;
      std::string why;
      ++r.http_checked;
      // Any node answers for any document: a node that is gone (a crash
      // test) is skipped for the next one.
      bool fetched = false;
      for (size_t t = 0; t < fetchers.size() && !fetched; ++t)
        fetched = fetchers[(k + t) % fetchers.size()]->get_doc(doc, h, why);
      if (!fetched) {
        r.divergences.push_back(doc + ": " + why);
        doc_ok[i] = 0;
        continue;
      }
      if (!h.no_store)
        ++r.stats.anomalies["http_doc_without_cache_control_no_store"];
      if (h.rev != ref.rev || h.text != ref.text) {
        r.divergences.push_back(
            doc + ": HTTP rev " + std::to_string(h.rev) + " vs clients' rev " +
            std::to_string(ref.rev) + ", " +
            (h.text == ref.text ? "same text"
                                : first_difference(ref.text, h.text)));
        doc_ok[i] = 0;
        continue;
      }
      ++r.http_matched;
    }
  }
  r.docs_ok = int(std::count(doc_ok.begin(), doc_ok.end(), 1));

  // --- verdict
  for (const auto& [code, n] : r.stats.errors) {
    if (std::find(opt.tolerate.begin(), opt.tolerate.end(), code) ==
        opt.tolerate.end())
      r.untolerated_errors.push_back(code + "=" + std::to_string(n));
  }
  const bool bad = !r.divergences.empty() || !r.failed_clients.empty() ||
                   !r.stats.anomalies.empty() || !r.untolerated_errors.empty() ||
                   !r.drained || !r.accounting_ok;
  r.exit_code = bad ? 1 : 0;
  if (opt.json)
    print_json(r);
  else
    print_human(r);
  return r.exit_code;
}
