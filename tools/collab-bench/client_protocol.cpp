// The client state machine's protocol side (client.hpp): the server's
// frames (welcome, joined, ack, op, ops, presence(s), error) and what the
// client sends (join, its op in flight). Runs on the document's strand, like
// client.cpp.
#include "client.hpp"

#include <algorithm>
#include <cstdio>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "actors/ot/op_json.hpp"
#include "json_fields.hpp"

namespace collab::bench {

using boost::system::error_code;
using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

namespace {

// The revision in `"rev":N` at `at` (just past the key), or 0.
uint64_t rev_at(std::string_view frame, size_t at) {
  uint64_t rev = 0;
  for (; at < frame.size() && frame[at] >= '0' && frame[at] <= '9'; ++at)
    rev = rev * 10 + uint64_t(frame[at] - '0');
  return rev;
}

} // namespace

// An `ops` frame as encode_ops lays it out ({"type":"ops","doc":..,"ops":
// [{"rev":N,...},...]}): the first and last revisions and the count, found
// by scanning for the key (a `"rev":` inside a string has its quotes
// escaped). False when it is not one, or not the next revisions: the full
// parse then judges it.
bool bench_client::skim_ops(std::string_view frame) {
  constexpr std::string_view head = R"({"type":"ops",)";
  constexpr std::string_view key = R"({"rev":)";
  if (frame.substr(0, head.size()) != head)
    return false;
  auto first = frame.find(key);
  auto last = frame.rfind(key);
  if (first == std::string_view::npos)
    return false;
  if (rev_at(frame, first + key.size()) != rev_ + 1)
    return false;
  uint64_t count = 0;
  for (auto at = first; at != std::string_view::npos;
       at = frame.find(key, at + key.size()))
    ++count;
  auto rev = rev_at(frame, last + key.size());
  if (rev != rev_ + count)
    return false;
  rev_ = rev;
  g_.stats.remote_ops += count;
  ++g_.stats.info["ops_frames"];
  g_.stats.info["ops_in_frames"] += count;
  return true;
}

void bench_client::handle_frame(std::string_view frame) {
  if (skim_ && phase_ == phase::joined && skim_ops(frame))
    return;
  scratch_.assign(frame.data(), frame.size());
  // In-situ parse with the DOM and the parse stack in per-thread buffers:
  // no heap allocation for ordinary frames (larger ones spill to the heap).
  thread_local char value_buf[16384];
  thread_local char stack_buf[4096];
  rapidjson::MemoryPoolAllocator<> value_alloc(value_buf, sizeof value_buf);
  rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buf, sizeof stack_buf);
  using pooled_document
    = rapidjson::GenericDocument<rapidjson::UTF8<>,
                                 rapidjson::MemoryPoolAllocator<>,
                                 rapidjson::MemoryPoolAllocator<>>;
  pooled_document d(&value_alloc, sizeof stack_buf, &stack_alloc);
  d.ParseInsitu(scratch_.data());
  if (d.HasParseError() || !d.IsObject()) {
    anomaly("unparsable_frame", std::string(frame.substr(0, 200)));
    return;
  }
  std::string_view type;
  if (!get_str(d, "type", type)) {
    anomaly("frame_without_type", std::string(frame.substr(0, 200)));
    return;
  }
  if (type == "op")
    handle_op(d);
  else if (type == "ops")
    handle_ops(d);
  else if (type == "ack")
    handle_ack(d);
  else if (type == "error")
    handle_error(d);
  else if (type == "presence" || type == "presences")
    ++g_.stats.presence;
  else if (type == "welcome")
    handle_welcome(d);
  else if (type == "joined")
    handle_joined(d);
  else if (type == "pong" || type == "left")
    ;
  else // the server may add message types
    ++g_.stats.info["unknown_type:" + std::string(type.substr(0, 32))];
}

void bench_client::handle_welcome(const rapidjson::Value& m) {
  if (phase_ != phase::hello) {
    anomaly("unexpected_welcome");
    return;
  }
  std::string_view node;
  if (get_str(m, "node", node))
    node_ = std::string(node);
  else
    anomaly("welcome_without_node");
  phase_ = phase::joining;
  send_join();
}

void bench_client::send_join() {
  rapidjson::StringBuffer sb;
  json_writer w(sb);
  w.StartObject();
  w.Key("type");
  w.String("join");
  w.Key("doc");
  w.String(g_.id.data(), rapidjson::SizeType(g_.id.size()));
  if (ever_joined_) { // resume: the server replays rev_+1.. before `joined`
    w.Key("rev");
    w.Uint64(rev_);
  }
  w.EndObject();
  send(std::string(sb.GetString(), sb.GetSize()));
}

void bench_client::handle_joined(const rapidjson::Value& m) {
  std::string_view doc;
  uint64_t rev = 0;
  if (!get_str(m, "doc", doc) || doc != g_.id || !get_u64(m, "rev", rev)) {
    anomaly("bad_joined");
    fail("malformed joined");
    return;
  }
  if (phase_ != phase::joining) {
    anomaly("unexpected_joined");
    return;
  }
  std::string_view text;
  const bool has_text = get_str(m, "text", text);
  if (!ever_joined_) {
    if (!has_text) {
      anomaly("joined_without_text");
      fail("first joined without text");
      return;
    }
    if (!light_)
      text_ = ot::rope(text);
    rev_ = rev;
    ever_joined_ = true;
    g_.first_join_rev = std::min(g_.first_join_rev, rev);
    ++g_.setup.ctl->joined_clients;
  } else if (has_text) {
    // The server could not replay from rev_: it sent the whole text. Fine
    // when nothing of ours is unacknowledged; otherwise we cannot tell
    // whether our inflight op is in that text.
    ++g_.stats.info["full_resync"];
    if (busy()) {
      fail("resume answered with full text while ops were unacknowledged");
      return;
    }
    if (!light_)
      text_ = ot::rope(text);
    rev_ = rev;
  } else if (rev != rev_) {
    anomaly("resume_rev_mismatch", "joined rev " + std::to_string(rev)
                                     + " after replay to "
                                     + std::to_string(rev_));
    fail("resume rev mismatch");
    return;
  }
  phase_ = phase::joined;
  reconnect_attempts_ = 0;
  if (inflight_)
    send_inflight(); // unsent, or sent on a lost connection: same seq
  else if (pending_)
    promote_pending();
  else if (generating_ && period_ns_ == 0)
    local_edit();
}

void bench_client::acknowledge(uint64_t seq, uint64_t rev, bool count_latency) {
  const int64_t now = g_.setup.ctl->now_ns();
  const auto& sent = g_.send_ns[index_];
  if (count_latency && seq >= 1 && seq <= sent.size()) {
    const int64_t at = sent[seq - 1];
    if (g_.setup.ctl->in_window(now))
      thread_latency().ack.record(now - at);
    if (g_.setup.window_by_send && g_.setup.ctl->in_window(at))
      g_.stats.ack_latency.record(now - at);
  }
  if (g_.setup.ctl->in_window(now))
    ++g_.stats.window_acks;
  ++g_.stats.total_acks;
  if (g_.setup.ctl->gen_start_ns > 0)
    g_.stats.count_ack_second(now - g_.setup.ctl->gen_start_ns);
  rev_ = rev;
  inflight_.reset();
  retry_attempts_ = 0;
  retry_timer_.cancel();
  if (phase_ != phase::joined)
    return; // resuming: pending goes out after `joined`
  if (pending_)
    promote_pending();
  else if (generating_ && period_ns_ == 0 && !failed_)
    local_edit();
}

void bench_client::handle_ack(const rapidjson::Value& m) {
  std::string_view doc;
  uint64_t seq = 0, rev = 0;
  if (!get_str(m, "doc", doc) || !get_u64(m, "seq", seq)
      || !get_u64(m, "rev", rev)) {
    anomaly("malformed_ack");
    return;
  }
  if (doc != g_.id) {
    anomaly("ack_for_other_doc", std::string(doc));
    return;
  }
  if (!inflight_ || seq != inflight_seq_) {
    if (seq < next_seq_ && (!inflight_ || seq < inflight_seq_))
      ++g_.stats.info["stale_ack"]; // a re-ack of an op already committed
    else
      anomaly("unexpected_ack", "seq " + std::to_string(seq));
    return;
  }
  if (rev != rev_ + 1) {
    // Acks take the place of the op echo in the ordered stream: rev_ + 1.
    anomaly(rev <= rev_ ? "ack_rev_behind" : "ack_overtook_ops",
            "ack rev " + std::to_string(rev) + ", local rev "
              + std::to_string(rev_));
    fail("ack out of order");
    return;
  }
  acknowledge(seq, rev, true);
}

void bench_client::handle_op(const rapidjson::Value& m) {
  std::string_view doc;
  if (!get_str(m, "doc", doc)) {
    anomaly("malformed_op_message");
    fail("malformed op message");
    return;
  }
  if (doc != g_.id) {
    anomaly("op_for_other_doc", std::string(doc));
    return;
  }
  handle_committed(m, false);
}

// Batched delivery: the entries in order, as single ops would come; our op
// in flight among them is its ack.
void bench_client::handle_ops(const rapidjson::Value& m) {
  std::string_view doc;
  const auto* ops = field(m, "ops");
  if (!get_str(m, "doc", doc) || ops == nullptr || !ops->IsArray()) {
    anomaly("malformed_ops_message");
    fail("malformed ops message");
    return;
  }
  if (doc != g_.id) {
    anomaly("ops_for_other_doc", std::string(doc));
    return;
  }
  ++g_.stats.info["ops_frames"];
  g_.stats.info["ops_in_frames"] += ops->Size();
  for (const auto& e : ops->GetArray())
    handle_committed(e, true);
}

void bench_client::handle_committed(const rapidjson::Value& m, bool batched) {
  std::string_view client;
  uint64_t rev = 0, seq = 0;
  const auto* opv = field(m, "op");
  if (!get_u64(m, "rev", rev) || !get_str(m, "client", client)
      || !get_u64(m, "seq", seq) || opv == nullptr) {
    anomaly("malformed_op_message");
    fail("malformed op message");
    return;
  }
  if (failed_)
    return;
  if (rev <= rev_) {
    anomaly("op_repeated", "rev " + std::to_string(rev) + " at local rev "
                             + std::to_string(rev_));
    return;
  }
  if (rev != rev_ + 1) {
    anomaly("op_gap", "rev " + std::to_string(rev) + " at local rev "
                        + std::to_string(rev_));
    fail("gap in revisions");
    return;
  }
  if (light_ && client != id_) { // follows revisions, applies nothing
    rev_ = rev;
    ++g_.stats.remote_ops;
    record_remote_latency(client, seq);
    return;
  }
  if (client == id_) {
    if (batched && inflight_ && seq == inflight_seq_)
      acknowledge(seq, rev, true); // the op in the batch is the ack
    else
      handle_own_op(seq, rev);
    return;
  }
  ot::op incoming;
  const ot::status parsed = ot::op_from_json(*opv, incoming);
  if (!parsed.empty()) {
    anomaly("unreadable_op", parsed);
    fail("unreadable op from server");
    return;
  }
  if (inflight_) {
    ot::op in2 = ot::transform(incoming, *inflight_, ot::side::right);
    inflight_ = ot::transform(*inflight_, incoming, ot::side::left);
    incoming = std::move(in2);
  }
  if (pending_) {
    ot::op in2 = ot::transform(incoming, *pending_, ot::side::right);
    pending_ = ot::transform(*pending_, incoming, ot::side::left);
    incoming = std::move(in2);
  }
  const ot::status applied = ot::apply(text_, incoming);
  if (!applied.empty()) {
    anomaly("op_does_not_apply", applied);
    fail("remote op does not apply");
    return;
  }
  rev_ = rev;
  ++g_.stats.remote_ops;
  record_remote_latency(client, seq);
}

void bench_client::handle_own_op(uint64_t seq, uint64_t rev) {
  // Our own op: legal while resuming (committed while we were away).
  if (inflight_ && seq == inflight_seq_) {
    // While joined it is an op the previous connection submitted and
    // the server committed after our resume (we may have resent it: the
    // server then re-acks it, counted as stale_ack).
    ++g_.stats.info[phase_ == phase::joined ? "own_op_echo_after_resume"
                                            : "resume_learned_commit"];
    acknowledge(seq, rev, true);
    return;
  }
  anomaly("own_op_unknown_seq", "seq " + std::to_string(seq));
  fail("own op with unknown seq");
}

void bench_client::record_remote_latency(std::string_view client,
                                         uint64_t seq) {
  const auto it = g_.index_of_client.find(std::string(client));
  if (it == g_.index_of_client.end())
    return; // not one of ours (another tool, or --hostile's abusers)
  const auto& sent = g_.send_ns[it->second];
  if (seq < 1 || seq > sent.size())
    return;
  const int64_t at = sent[seq - 1];
  const int64_t now = g_.setup.ctl->now_ns();
  if (g_.setup.ctl->in_window(now))
    thread_latency().remote.record(now - at);
  if (g_.setup.window_by_send && g_.setup.ctl->in_window(at))
    g_.stats.remote_latency.record(now - at);
}

void bench_client::handle_error(const rapidjson::Value& m) {
  std::string_view code, message, doc;
  if (!get_str(m, "code", code)) {
    anomaly("error_without_code");
    return;
  }
  get_str(m, "message", message);
  const bool has_doc = get_str(m, "doc", doc);
  uint64_t seq = 0;
  const bool has_seq = get_u64(m, "seq", seq);
  const std::string c(code);
  ++g_.stats.errors[c];
  if (has_seq && inflight_ && seq == inflight_seq_
      && (!has_doc || doc == g_.id)) {
    if (c == "rate_limited" || c == "unavailable") {
      schedule_retry(c); // not applied: same seq again
      return;
    }
    fail("op refused: " + c + ": " + std::string(message));
    return;
  }
  if (phase_ == phase::joining && has_doc && doc == g_.id) {
    fail("join refused: " + c + ": " + std::string(message));
    return;
  }
  if (c == "token_expired")
    return; // close 4001 follows
  if (g_.stats.errors[c] <= 3)
    std::fprintf(stderr, "collab-bench: %s got error %s: %.*s\n", id_.c_str(),
                 c.c_str(), int(message.size()), message.data());
}

void bench_client::schedule_retry(const std::string& code) {
  const int k = std::min(retry_attempts_++, 6);
  const int base_ms = code == "rate_limited" ? 20 : 100;
  retry_timer_.expires_after(std::chrono::milliseconds(base_ms << k)
                             + std::chrono::milliseconds(rng_() % 10));
  const auto seq = inflight_seq_;
  retry_timer_.async_wait([this, seq](const error_code& ec) {
    if (!ec && inflight_ && inflight_seq_ == seq && phase_ == phase::joined)
      send_inflight();
  });
}

void bench_client::promote_pending() {
  inflight_ = std::move(*pending_);
  pending_.reset();
  inflight_seq_ = next_seq_++;
  send_inflight();
}

void bench_client::send_inflight() {
  if (phase_ != phase::joined || failed_ || !inflight_)
    return;
  rapidjson::StringBuffer sb;
  json_writer w(sb);
  w.StartObject();
  w.Key("type");
  w.String("op");
  w.Key("doc");
  w.String(g_.id.data(), rapidjson::SizeType(g_.id.size()));
  w.Key("rev");
  w.Uint64(rev_);
  w.Key("seq");
  w.Uint64(inflight_seq_);
  w.Key("op");
  ot::op_to_json(w, *inflight_);
  w.EndObject();
  const int64_t now = g_.setup.ctl->now_ns();
  auto& sent = g_.send_ns[index_];
  if (sent.size() < inflight_seq_) {
    sent.resize(inflight_seq_, now);
    ++g_.stats.total_sends;
    if (g_.setup.ctl->in_window(now))
      ++g_.stats.window_sends;
  } else {
    ++g_.stats.resends;
  }
  send(std::string(sb.GetString(), sb.GetSize()));
}

} // namespace collab::bench
