// The phases of the honest workload; see workload.hpp.
#include "workload.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include <boost/asio/post.hpp>

#include "http_verify.hpp"

namespace collab::bench {

namespace {

std::string first_difference(const std::string& a, const std::string& b) {
  const auto n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i])
    ++i;
  return "first difference at byte " + std::to_string(i) + " (sizes "
         + std::to_string(a.size()) + " and " + std::to_string(b.size()) + ")";
}

uint64_t code_points(const std::string& s) {
  uint64_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xc0) != 0x80;
  return n;
}

} // namespace

double seconds_since(const run_control& ctl, int64_t ns) {
  return double(ctl.now_ns() - ns) / 1e9;
}

void sleep_until_ns(const run_control& ctl, int64_t ns) {
  std::this_thread::sleep_until(ctl.epoch + std::chrono::nanoseconds(ns));
}

workload::workload(const bench_options& opt,
                   std::vector<std::vector<tcp::endpoint>> resolved,
                   std::string doc_prefix, uint64_t seed, bool window_by_send)
    : opt_(opt) {
  setup_.opt = &opt;
  setup_.ctl = &ctl_;
  setup_.resolved = std::move(resolved);
  setup_.window_by_send = window_by_send;
  // Client ids: unique per workload, stable per (doc, client) within it.
  std::mt19937_64 seeder(seed);
  char run_id[16];
  std::snprintf(run_id, sizeof run_id, "%06llx",
                static_cast<unsigned long long>(seeder() & 0xffffff));
  groups_.reserve(size_t(opt.docs));
  size_t next_url = 0;
  for (int d = 0; d < opt.docs; ++d) {
    groups_.push_back(std::make_unique<doc_group>(
      ioc_, doc_prefix + std::to_string(d), setup_));
    for (int c = 0; c < opt.clients; ++c) {
      groups_.back()->add_client("b" + std::string(run_id) + "-"
                                   + std::to_string(d) + "-"
                                   + std::to_string(c),
                                 next_url++ % opt.urls.size(), seeder());
    }
  }
  total_ = opt.docs * opt.clients;
}

workload::~workload() {
  shutdown();
}

std::vector<std::string> workload::doc_ids() const {
  std::vector<std::string> ids;
  for (const auto& g : groups_)
    ids.push_back(g->id);
  return ids;
}

// Runs fn(index, group) on every group's strand and waits for all of them.
template<class F>
void workload::on_all_groups(F fn) {
  std::mutex m;
  std::condition_variable cv;
  size_t left = groups_.size();
  for (size_t i = 0; i < groups_.size(); ++i) {
    asio::post(groups_[i]->strand, [&, i] {
      fn(i, *groups_[i]);
      std::lock_guard<std::mutex> lock(m);
      if (--left == 0)
        cv.notify_one();
    });
  }
  std::unique_lock<std::mutex> lock(m);
  cv.wait(lock, [&] { return left == 0; });
}

bool workload::connect(double timeout, double& seconds, std::string& why) {
  guard_ = std::make_unique<
    asio::executor_work_guard<asio::io_context::executor_type>>(
    ioc_.get_executor());
  sinks_.resize(size_t(opt_.threads));
  for (int t = 0; t < opt_.threads; ++t)
    threads_.emplace_back([this, sink = &sinks_[size_t(t)]] {
      set_thread_latency(sink);
      ioc_.run();
    });
  running_ = true;
  const int64_t connect0 = ctl_.now_ns();
  on_all_groups([](size_t, doc_group& g) {
    for (auto& c : g.clients)
      c->start_connect();
  });
  for (int polls = 0;; ++polls) {
    if (ctl_.joined_clients.load() >= total_)
      break;
    if (polls % 20 == 19) { // every 100 ms: anyone refused for good?
      std::atomic<int> failed{0};
      on_all_groups([&failed](size_t, doc_group& g) {
        for (auto& c : g.clients)
          failed += c->failed() ? 1 : 0;
      });
      if (ctl_.joined_clients.load() + failed.load() >= total_)
        break;
    }
    if (seconds_since(ctl_, connect0) > timeout)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  seconds = seconds_since(ctl_, connect0);
  if (ctl_.joined_clients.load() >= total_)
    return true;
  doc_stats merged;
  std::vector<std::string> reasons;
  std::mutex m;
  on_all_groups([&](size_t, doc_group& g) {
    std::lock_guard<std::mutex> lock(m);
    merged.merge(g.stats);
    for (auto& c : g.clients) {
      const auto s = c->snapshot(false);
      if (s.failed && reasons.size() < 5)
        reasons.push_back(s.id + ": " + s.fail_reason);
    }
  });
  char head[128];
  std::snprintf(head, sizeof head, "only %d of %d clients joined within %.1f s",
                ctl_.joined_clients.load(), total_, seconds);
  why = head;
  for (const auto& [k, v] : merged.disconnects)
    why += "\n  " + k + ": " + std::to_string(v);
  for (const auto& [k, v] : merged.errors)
    why += "\n  error " + k + ": " + std::to_string(v);
  for (const auto& s : reasons)
    why += "\n  " + s;
  return false;
}

void workload::start_generating() {
  ctl_.gen_start_ns = ctl_.now_ns() + 1000000;
  ctl_.generating = true;
  on_all_groups([](size_t, doc_group& g) {
    for (auto& c : g.clients)
      c->start_generating();
  });
}

void workload::stop_generating() {
  ctl_.generating = false;
  on_all_groups([](size_t, doc_group& g) {
    for (auto& c : g.clients)
      c->stop_generating();
  });
}

void workload::open_window(int64_t start_ns, int64_t end_ns) {
  // Widen first: a send between the two stores is never outside both.
  ctl_.window_end_ns = end_ns;
  ctl_.window_start_ns = start_ns;
}

uint64_t workload::pending_in_window() {
  std::atomic<uint64_t> n{0};
  on_all_groups([this, &n](size_t, doc_group& g) {
    for (auto& c : g.clients) {
      const int64_t at = c->inflight_sent_ns();
      if (!c->failed() && at >= 0 && ctl_.in_window(at))
        ++n;
    }
  });
  return n.load();
}

window_stats workload::take_window() {
  window_stats w;
  std::mutex m;
  on_all_groups([this, &w, &m](size_t, doc_group& g) {
    const int64_t now = ctl_.now_ns();
    doc_stats s = std::exchange(g.stats, doc_stats{});
    uint64_t stuck = 0;
    int failed = 0;
    for (auto& c : g.clients) {
      failed += c->failed() ? 1 : 0;
      const int64_t at = c->inflight_sent_ns();
      if (at >= 0 && ctl_.in_window(at)) {
        ++stuck;
        s.ack_latency.record(now - at);
      }
    }
    std::lock_guard<std::mutex> lock(m);
    w.stats.merge(s);
    w.stuck += stuck;
    w.failed_clients += failed;
    w.clients += int(g.clients.size());
  });
  // Ops sent from now on belong to no window until the next one opens.
  open_window(0, 0);
  return w;
}

bool workload::drain(double timeout) {
  const int64_t drain0 = ctl_.now_ns();
  std::vector<char> quiet(groups_.size(), 0);
  for (;;) {
    on_all_groups([&quiet](size_t i, doc_group& g) {
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
    if (std::all_of(quiet.begin(), quiet.end(), [](char q) { return q; }))
      return true;
    if (seconds_since(ctl_, drain0) > timeout)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void workload::compare_clients(bench_result& r) {
  std::vector<std::vector<client_snapshot>> snaps(groups_.size());
  std::vector<uint64_t> join_revs(groups_.size());
  on_all_groups([&](size_t i, doc_group& g) {
    for (auto& c : g.clients)
      snaps[i].push_back(c->snapshot(true));
    join_revs[i] = g.first_join_rev;
  });
  reference_text_.assign(groups_.size(), {});
  reference_rev_.assign(groups_.size(), 0);
  has_reference_.assign(groups_.size(), 0);
  doc_ok_.assign(groups_.size(), 1);
  for (size_t i = 0; i < groups_.size(); ++i) {
    const auto& doc = groups_[i]->id;
    const client_snapshot* ref = nullptr;
    for (const auto& s : snaps[i]) {
      ++r.nodes[s.node];
      if (s.failed) {
        r.failed_clients.push_back(s.id + " (" + doc + "): " + s.fail_reason);
        doc_ok_[i] = 0;
        continue;
      }
      if (s.light)
        continue; // no replica to compare
      if (ref == nullptr) {
        ref = &s;
        continue;
      }
      if (s.rev != ref->rev || s.text != ref->text) {
        r.divergences.push_back(
          doc + ": " + ref->id + " rev " + std::to_string(ref->rev)
          + (ref->busy ? " (ops unacknowledged)" : "") + " vs " + s.id + " rev "
          + std::to_string(s.rev) + (s.busy ? " (ops unacknowledged)" : "")
          + ", "
          + (s.text == ref->text ? "same text"
                                 : first_difference(ref->text, s.text)));
        doc_ok_[i] = 0;
      }
    }
    if (ref == nullptr) {
      r.divergences.push_back(doc + ": no healthy client left");
      doc_ok_[i] = 0;
    } else {
      r.final_chars += code_points(ref->text);
      reference_text_[i] = ref->text;
      reference_rev_[i] = ref->rev;
      has_reference_[i] = 1;
    }
    uint64_t max_rev = 0; // what any client saw, failed ones included
    for (const auto& s : snaps[i])
      max_rev = std::max(max_rev, s.rev);
    if (join_revs[i] != UINT64_MAX)
      r.committed_revs += max_rev - join_revs[i];
  }
  r.docs_ok = int(std::count(doc_ok_.begin(), doc_ok_.end(), 1));
}

void workload::shutdown() {
  if (!running_)
    return;
  running_ = false;
  ctl_.stopping = true;
  ctl_.generating = false;
  on_all_groups([](size_t, doc_group& g) {
    for (auto& c : g.clients)
      c->close();
  });
  const int64_t t0 = ctl_.now_ns();
  while (ctl_.closed_clients.load() < total_ && seconds_since(ctl_, t0) < 3)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  guard_.reset();
  ioc_.stop();
  for (auto& t : threads_)
    t.join();
  threads_.clear();
}

void workload::collect(bench_result& r) {
  for (auto& g : groups_)
    r.stats.merge(g->stats);
  for (const auto& s : sinks_) {
    r.stats.ack_latency.merge(s.ack);
    r.stats.remote_latency.merge(s.remote);
  }
}

void workload::verify_http(bench_result& r, int want_docs) {
  std::vector<std::unique_ptr<http_fetcher>> fetchers;
  for (size_t u = 0; u < opt_.urls.size(); ++u)
    fetchers.push_back(std::make_unique<http_fetcher>(
      opt_.urls[u], setup_.resolved[u], opt_.token));
  const size_t n = groups_.size();
  const size_t want = want_docs < 0 ? n : std::min(n, size_t(want_docs));
  for (size_t k = 0; k < want; ++k) {
    const size_t i = want == n ? k : k * n / want; // spread the sample
    if (i >= has_reference_.size() || !has_reference_[i])
      continue;
    const auto& doc = groups_[i]->id;
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
      doc_ok_[i] = 0;
      continue;
    }
    if (!h.no_store)
      ++r.stats.anomalies["http_doc_without_cache_control_no_store"];
    if (h.rev != reference_rev_[i] || h.text != reference_text_[i]) {
      r.divergences.push_back(
        doc + ": HTTP rev " + std::to_string(h.rev) + " vs clients' rev "
        + std::to_string(reference_rev_[i]) + ", "
        + (h.text == reference_text_[i]
             ? "same text"
             : first_difference(reference_text_[i], h.text)));
      doc_ok_[i] = 0;
      continue;
    }
    ++r.http_matched;
  }
  r.docs_ok = int(std::count(doc_ok_.begin(), doc_ok_.end(), 1));
}

} // namespace collab::bench
