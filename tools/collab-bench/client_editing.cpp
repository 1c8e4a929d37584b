// The client state machine's edits (client.hpp): the generator timer and
// random edits of the local text. Runs on the document's strand, like
// client.cpp.
#include "client.hpp"

#include <algorithm>

namespace collab::bench {

using boost::system::error_code;

namespace {

// Code points of the default insert alphabet besides [a-z]: 2-, 3- and
// 4-byte UTF-8 (the last two are astral: surrogate pairs in JavaScript).
const char* const wide_chars[] = {"\xc3\xa9",         "\xd0\xb6",
                                  "\xe2\x82\xac",     "\xe4\xb8\xad",
                                  "\xf0\x9f\x98\x80", "\xf0\x9d\x84\x9e"};

} // namespace

void bench_client::start_generating() {
  if (failed_ || index_ >= size_t(g_.setup.opt->authors_per_doc()))
    return; // a viewer
  generating_ = true;
  const double rate = g_.setup.opt->per_client_rate();
  if (rate <= 0) {
    period_ns_ = 0;
    if (!inflight_ && phase_ == phase::joined)
      local_edit();
    return;
  }
  period_ns_ = std::max<int64_t>(1, static_cast<int64_t>(1e9 / rate));
  // A random phase so the clients do not tick in lockstep.
  next_edit_ns_ = g_.setup.ctl->gen_start_ns
                  + static_cast<int64_t>(rng_() % uint64_t(period_ns_));
  gen_timer_.expires_at(g_.setup.ctl->epoch
                        + std::chrono::nanoseconds(next_edit_ns_));
  gen_timer_.async_wait([this](const error_code& ec) { on_gen_timer(ec); });
}

void bench_client::stop_generating() {
  generating_ = false;
  gen_timer_.cancel();
}

void bench_client::on_gen_timer(const error_code& ec) {
  if (ec || !generating_ || failed_)
    return;
  if (!g_.setup.ctl->generating.load()) {
    generating_ = false;
    return;
  }
  const int64_t now = g_.setup.ctl->now_ns();
  int n = 0;
  while (next_edit_ns_ <= now && n < 1000 && !failed_) {
    local_edit();
    next_edit_ns_ += period_ns_;
    ++n;
  }
  if (next_edit_ns_ <= now) { // the bench itself fell behind
    ++g_.stats.info["generator_lag"];
    next_edit_ns_ = now + period_ns_;
  }
  gen_timer_.expires_at(g_.setup.ctl->epoch
                        + std::chrono::nanoseconds(next_edit_ns_));
  gen_timer_.async_wait([this](const error_code& e) { on_gen_timer(e); });
}

std::string bench_client::random_text() {
  const int n = g_.setup.opt->op_size;
  std::string s;
  s.reserve(size_t(n) * 2);
  for (int i = 0; i < n; ++i) {
    const uint64_t r = rng_();
    if (!g_.setup.opt->ascii && r % 100 < 15)
      s += wide_chars[(r >> 8) % (sizeof wide_chars / sizeof *wide_chars)];
    else
      s += char('a' + (r >> 8) % 26);
  }
  return s;
}

ot::op bench_client::random_edit() {
  const uint64_t len = text_.size();
  const auto& o = *g_.setup.opt;
  const double u = double(rng_() >> 11) * (1.0 / 9007199254740992.0);
  ot::op e;
  if (len > 0 && (len > o.max_doc_chars || u < o.delete_ratio)) {
    const uint64_t n = std::min<uint64_t>(len,
                                          1 + rng_() % uint64_t(o.op_size));
    const uint64_t pos = rng_() % (len - n + 1);
    if (pos > 0)
      e.push_back(ot::component::skip(pos));
    e.push_back(ot::component::del(n));
  } else {
    const uint64_t pos = rng_() % (len + 1);
    if (pos > 0)
      e.push_back(ot::component::skip(pos));
    e.push_back(ot::component::insert(random_text()));
  }
  return e;
}

void bench_client::local_edit() {
  ot::op e = random_edit(); // a light client's text is empty: an insert at 0
  const ot::status st = light_ ? ot::status{} : ot::apply(text_, e);
  if (!st.empty()) {
    anomaly("local_edit_does_not_apply", st);
    fail("local edit does not apply");
    return;
  }
  ++g_.stats.total_edits;
  if (g_.setup.ctl->in_window(g_.setup.ctl->now_ns()))
    ++g_.stats.window_edits;
  if (!inflight_) {
    inflight_ = std::move(e);
    inflight_seq_ = next_seq_++;
    send_inflight(); // waits for `joined` when not connected
  } else if (pending_) {
    pending_ = ot::compose(*pending_, e);
  } else {
    pending_ = std::move(e);
  }
}

} // namespace collab::bench
