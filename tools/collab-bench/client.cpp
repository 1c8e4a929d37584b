// The client state machine; see client.hpp for the design. Every handler
// runs on the document's strand and first checks the connection generation
// it was started for, so completions of a dropped connection are ignored.
// No exceptions: Beast and Asio report errors as error_codes, RapidJSON and
// the OT library as values.
#include "client.hpp"

#include <algorithm>
#include <cstdio>

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "actors/ot/op_json.hpp"
#include "json_fields.hpp"

namespace collab::bench {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
using boost::system::error_code;
using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

struct bench_client::connection {
  explicit connection(const strand_t& ex) : ws(ex) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  websocket::response_type res;
};

namespace {

// Code points of the default insert alphabet besides [a-z]: 2-, 3- and
// 4-byte UTF-8 (the last two are astral: surrogate pairs in JavaScript).
const char* const wide_chars[] = {"\xc3\xa9", "\xd0\xb6", "\xe2\x82\xac",
                                  "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                                  "\xf0\x9d\x84\x9e"};

} // namespace

std::string describe_error(const error_code& ec) {
  if (ec == asio::error::eof || ec == http::error::end_of_stream)
    return "eof";
  if (ec == asio::error::connection_reset)
    return "reset";
  if (ec == asio::error::connection_refused)
    return "refused";
  if (ec == beast::error::timeout)
    return "timeout";
  return ec.message();
}

// ---------------------------------------------------------------- doc_group

doc_group::doc_group(asio::io_context& ioc, std::string doc_id,
                     const shared_setup& s)
    : id(std::move(doc_id)), strand(asio::make_strand(ioc)), setup(s) {}

doc_group::~doc_group() = default;

void doc_group::add_client(std::string client_id, size_t url_index,
                           uint64_t seed) {
  const size_t idx = clients.size();
  index_of_client.emplace(client_id, idx);
  send_ns.emplace_back();
  clients.push_back(std::make_unique<bench_client>(*this, idx,
                                                   std::move(client_id),
                                                   url_index, seed));
}

// ------------------------------------------------------------- bench_client

bench_client::bench_client(doc_group& g, size_t index, std::string client_id,
                           size_t url_index, uint64_t seed)
    : g_(g), index_(index), id_(std::move(client_id)), url_index_(url_index),
      rng_(seed), gen_timer_(g.strand), retry_timer_(g.strand),
      reconnect_timer_(g.strand) {}

bench_client::~bench_client() = default;

int64_t bench_client::inflight_sent_ns() const {
  const auto& sent = g_.send_ns[index_];
  if (!inflight_ || inflight_seq_ < 1 || inflight_seq_ > sent.size())
    return -1;
  return sent[inflight_seq_ - 1];
}

client_snapshot bench_client::snapshot(bool with_text) const {
  client_snapshot s;
  s.id = id_;
  s.node = node_;
  s.joined = ever_joined_;
  s.failed = failed_;
  s.fail_reason = fail_reason_;
  s.busy = busy();
  s.rev = rev_;
  if (with_text)
    s.text = text_.to_string();
  return s;
}

void bench_client::fail(const std::string& reason) {
  if (failed_)
    return;
  failed_ = true;
  fail_reason_ = reason;
  gen_timer_.cancel();
  retry_timer_.cancel();
}

void bench_client::anomaly(const std::string& what, const std::string& detail) {
  ++g_.stats.anomalies[what];
  if (!detail.empty() && g_.stats.anomalies[what] <= 3)
    std::fprintf(stderr, "collab-bench: %s %s on %s: %s\n", id_.c_str(),
                 what.c_str(), g_.id.c_str(), detail.c_str());
}

// --------------------------------------------------------------- connection

void bench_client::start_connect() {
  if (g_.setup.ctl->stopping.load() || failed_)
    return;
  const auto gen = ++conn_gen_;
  conn_ = std::make_shared<connection>(g_.strand);
  outq_.clear();
  writing_ = false;
  close_after_write_ = false;
  phase_ = phase::connecting;
  auto& layer = beast::get_lowest_layer(conn_->ws);
  layer.expires_after(std::chrono::seconds(5));
  const auto& eps = g_.setup.resolved[url_index_];
  layer.async_connect(eps, [this, gen, c = conn_](const error_code& ec,
                                                  const tcp::endpoint&) {
    on_connected(gen, ec);
  });
}

void bench_client::on_connected(uint64_t gen, const error_code& ec) {
  if (gen != conn_gen_)
    return;
  if (ec) {
    ++g_.stats.connect_failures;
    on_disconnect("connect: " + describe_error(ec));
    return;
  }
  auto& layer = beast::get_lowest_layer(conn_->ws);
  layer.expires_never();
  error_code ignored;
  layer.socket().set_option(tcp::no_delay(true), ignored);
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::seconds(10);
  t.idle_timeout = websocket::stream_base::none();
  t.keep_alive_pings = false;
  conn_->ws.set_option(t);
  const std::string bearer = "Bearer " + g_.setup.opt->token;
  conn_->ws.set_option(
      websocket::stream_base::decorator([bearer](websocket::request_type& req) {
        req.set(http::field::authorization, bearer);
        req.set(http::field::user_agent, "collab-bench");
      }));
  conn_->ws.text(true);
  conn_->ws.read_message_max(64ull << 20);
  phase_ = phase::handshaking;
  const auto& ep = g_.setup.opt->urls[url_index_];
  conn_->ws.async_handshake(conn_->res, ep.host + ":" + ep.port, ep.path,
                            [this, gen, c = conn_](const error_code& e) {
                              on_handshake(gen, e);
                            });
}

void bench_client::on_handshake(uint64_t gen, const error_code& ec) {
  if (gen != conn_gen_)
    return;
  if (ec) {
    ++g_.stats.connect_failures;
    if (ec == websocket::error::upgrade_declined) {
      const unsigned status = conn_->res.result_int();
      const std::string why = "connect: http " + std::to_string(status);
      if (status == 401 || status == 403) { // retrying will not help
        ++g_.stats.disconnects[why];
        phase_ = phase::closed;
        fail("upgrade refused with HTTP " + std::to_string(status));
        return;
      }
      on_disconnect(why);
      return;
    }
    on_disconnect("connect: " + describe_error(ec));
    return;
  }
  phase_ = phase::hello;
  read_next();
  send(R"({"type":"hello","client":")" + id_ + R"(","v":1})");
}

void bench_client::read_next() {
  const auto gen = conn_gen_;
  conn_->ws.async_read(conn_->buf,
                       [this, gen, c = conn_](const error_code& ec, size_t n) {
                         on_read(gen, ec, n);
                       });
}

void bench_client::on_read(uint64_t gen, const error_code& ec, size_t n) {
  if (gen != conn_gen_)
    return;
  if (ec) {
    if (phase_ == phase::closing || phase_ == phase::closed) {
      phase_ = phase::closed;
      return;
    }
    if (ec == websocket::error::closed)
      on_disconnect("close " + std::to_string(conn_->ws.reason().code));
    else
      on_disconnect(describe_error(ec));
    return;
  }
  g_.stats.bytes_in += n;
  const auto data = conn_->buf.data();
  handle_frame(std::string_view(static_cast<const char*>(data.data()),
                                data.size()));
  conn_->buf.consume(conn_->buf.size());
  if (gen == conn_gen_ && phase_ != phase::closed)
    read_next();
}

void bench_client::on_disconnect(const std::string& reason) {
  const bool was_joined = phase_ == phase::joined;
  ++g_.stats.disconnects[reason];
  ++conn_gen_; // orphan every handler of this connection
  if (conn_) {
    error_code ignored;
    beast::get_lowest_layer(conn_->ws).socket().close(ignored);
  }
  phase_ = phase::idle;
  retry_timer_.cancel();
  outq_.clear();
  writing_ = false;
  if (g_.setup.ctl->stopping.load()) { // close() will count it
    phase_ = phase::closed;
    return;
  }
  if (!g_.setup.opt->reconnect) {
    phase_ = phase::closed;
    fail((was_joined ? "disconnected: " : "could not connect: ") + reason);
    return;
  }
  schedule_reconnect();
}

void bench_client::schedule_reconnect() {
  if (failed_)
    return;
  ++g_.stats.reconnects;
  // 1001 means "any node will do": move on to the next URL.
  url_index_ = (url_index_ + 1) % g_.setup.opt->urls.size();
  const int k = std::min(reconnect_attempts_++, 6);
  const auto base = std::chrono::milliseconds(50 << k); // 50 ms .. 3.2 s
  const auto jitter = std::chrono::milliseconds(rng_() % 50);
  reconnect_timer_.expires_after(base + jitter);
  reconnect_timer_.async_wait([this](const error_code& ec) {
    if (!ec)
      start_connect();
  });
}

void bench_client::send(std::string msg) {
  g_.stats.bytes_out += msg.size();
  outq_.push_back(std::move(msg));
  if (!writing_)
    write_next();
}

void bench_client::write_next() {
  if (outq_.empty()) {
    writing_ = false;
    if (close_after_write_)
      do_close();
    return;
  }
  writing_ = true;
  auto msg = std::make_shared<std::string>(std::move(outq_.front()));
  outq_.pop_front();
  const auto gen = conn_gen_;
  conn_->ws.async_write(asio::buffer(*msg),
                        [this, gen, msg, c = conn_](const error_code& ec,
                                                    size_t) {
                          if (gen != conn_gen_)
                            return;
                          if (ec) {
                            if (phase_ == phase::closing)
                              return;
                            on_disconnect("write: " + describe_error(ec));
                            return;
                          }
                          write_next();
                        });
}

void bench_client::close() {
  gen_timer_.cancel();
  retry_timer_.cancel();
  reconnect_timer_.cancel();
  generating_ = false;
  const bool open = phase_ == phase::hello || phase_ == phase::joining ||
                    phase_ == phase::joined;
  if (!open) { // not connected (or mid-connect): just drop it
    ++conn_gen_;
    if (conn_) {
      error_code ignored;
      beast::get_lowest_layer(conn_->ws).socket().close(ignored);
    }
    if (phase_ != phase::closed)
      phase_ = phase::closed;
    ++g_.setup.ctl->closed_clients;
    return;
  }
  phase_ = phase::closing;
  if (writing_)
    close_after_write_ = true;
  else
    do_close();
}

void bench_client::do_close() {
  const auto gen = conn_gen_;
  conn_->ws.async_close(websocket::close_code::normal,
                        [this, gen, c = conn_](const error_code&) {
                          if (gen != conn_gen_)
                            return;
                          phase_ = phase::closed;
                          ++g_.setup.ctl->closed_clients;
                        });
}

// ----------------------------------------------------------------- protocol

void bench_client::handle_frame(std::string_view frame) {
  scratch_.assign(frame.data(), frame.size());
  // In-situ parse with the DOM and the parse stack in per-thread buffers:
  // no heap allocation for ordinary frames (larger ones spill to the heap).
  thread_local char value_buf[16384];
  thread_local char stack_buf[4096];
  rapidjson::MemoryPoolAllocator<> value_alloc(value_buf, sizeof value_buf);
  rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buf, sizeof stack_buf);
  using pooled_document =
      rapidjson::GenericDocument<rapidjson::UTF8<>,
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
  else if (type == "ack")
    handle_ack(d);
  else if (type == "error")
    handle_error(d);
  else if (type == "presence")
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
    text_ = ot::rope(text);
    rev_ = rev;
  } else if (rev != rev_) {
    anomaly("resume_rev_mismatch", "joined rev " + std::to_string(rev) +
                                       " after replay to " +
                                       std::to_string(rev_));
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
  if (!get_str(m, "doc", doc) || !get_u64(m, "seq", seq) ||
      !get_u64(m, "rev", rev)) {
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
            "ack rev " + std::to_string(rev) + ", local rev " +
                std::to_string(rev_));
    fail("ack out of order");
    return;
  }
  acknowledge(seq, rev, true);
}

void bench_client::handle_op(const rapidjson::Value& m) {
  std::string_view doc, client;
  uint64_t rev = 0, seq = 0;
  const auto* opv = field(m, "op");
  if (!get_str(m, "doc", doc) || !get_u64(m, "rev", rev) ||
      !get_str(m, "client", client) || !get_u64(m, "seq", seq) ||
      opv == nullptr) {
    anomaly("malformed_op_message");
    fail("malformed op message");
    return;
  }
  if (doc != g_.id) {
    anomaly("op_for_other_doc", std::string(doc));
    return;
  }
  if (failed_)
    return;
  if (rev <= rev_) {
    anomaly("op_repeated", "rev " + std::to_string(rev) + " at local rev " +
                               std::to_string(rev_));
    return;
  }
  if (rev != rev_ + 1) {
    anomaly("op_gap", "rev " + std::to_string(rev) + " at local rev " +
                          std::to_string(rev_));
    fail("gap in revisions");
    return;
  }
  if (client == id_) {
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
  if (has_seq && inflight_ && seq == inflight_seq_ &&
      (!has_doc || doc == g_.id)) {
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
  retry_timer_.expires_after(std::chrono::milliseconds(base_ms << k) +
                             std::chrono::milliseconds(rng_() % 10));
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

// ------------------------------------------------------------------ editing

void bench_client::start_generating() {
  if (failed_)
    return;
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
  next_edit_ns_ = g_.setup.ctl->gen_start_ns +
                  static_cast<int64_t>(rng_() % uint64_t(period_ns_));
  gen_timer_.expires_at(g_.setup.ctl->epoch +
                        std::chrono::nanoseconds(next_edit_ns_));
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
  gen_timer_.expires_at(g_.setup.ctl->epoch +
                        std::chrono::nanoseconds(next_edit_ns_));
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
    const uint64_t n = std::min<uint64_t>(len, 1 + rng_() % uint64_t(o.op_size));
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
  ot::op e = random_edit();
  const ot::status st = ot::apply(text_, e);
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
