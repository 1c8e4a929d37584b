// The abusers' connections; see hostile_conn.hpp. Every completion handler
// holds the connection's state by shared_ptr, so a blocking step that gives
// up (and kills the connection) leaves nothing dangling: the aborted
// operation completes later into the state, or is destroyed with the
// io_context.
#include "hostile_conn.hpp"

#include <chrono>
#include <cstdio>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <rapidjson/document.h>

#include "client.hpp" // describe_error
#include "json_fields.hpp"
#include "source_addrs.hpp"

namespace collab::bench {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;

bool run_until(asio::io_context& ioc, const std::function<bool()>& done,
               double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now()
                        + std::chrono::microseconds(int64_t(timeout_s * 1e6));
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      return false;
    if (ioc.stopped())
      ioc.restart();
    ioc.run_one_for(std::min<std::chrono::steady_clock::duration>(
      deadline - now, std::chrono::milliseconds(50)));
  }
  return true;
}

void run_until_stopped(asio::io_context& ioc, const abuse_env& env) {
  // An io_context without work returns from run_for at once: without the
  // guard, an abuse that only holds sockets (fds) spun on a core of the
  // machine the node shares, and the honest clients paid for it.
  auto work = asio::make_work_guard(ioc);
  while (!env.stopping()) {
    if (ioc.stopped())
      ioc.restart();
    ioc.run_for(std::chrono::milliseconds(50));
  }
}

void run_out(asio::io_context& ioc, double timeout_s) {
  ioc.restart();
  ioc.run_for(std::chrono::microseconds(int64_t(timeout_s * 1e6)));
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

namespace {

// The type of a frame and, for an error, its code, doc and seq.
struct frame_head {
  std::string type, code, doc;
  uint64_t rev = 0, seq = 0;
  bool has_seq = false;
};

bool parse_head(std::string_view f, frame_head& h) {
  rapidjson::Document d;
  d.Parse(f.data(), f.size());
  std::string_view v;
  if (d.HasParseError() || !get_str(d, "type", v))
    return false;
  h.type = std::string(v);
  if (get_str(d, "code", v))
    h.code = std::string(v);
  if (get_str(d, "doc", v))
    h.doc = std::string(v);
  get_u64(d, "rev", h.rev);
  h.has_seq = get_u64(d, "seq", h.seq);
  return true;
}

struct outcome {
  bool done = false;
  error_code ec;
};

} // namespace

// ---------------------------------------------------------------- abuse_conn

struct abuse_conn::state {
  explicit state(asio::io_context& c) : ioc(c), ws(c) {}
  asio::io_context& ioc;
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  websocket::response_type res;
  std::deque<std::string> outq;
  bool writing = false;
  uint64_t sent = 0;
  bool dead = false;
  std::string why;
  frame_fn on_frame;
  std::vector<char> sink; // discard_input

  void die(const std::string& reason) {
    if (!dead) {
      dead = true;
      why = reason;
    }
    outq.clear();
    beast::get_lowest_layer(ws).close();
  }
  static std::string reason(state& s, const error_code& ec) {
    if (ec == websocket::error::closed)
      return "close " + std::to_string(s.ws.reason().code);
    return describe_error(ec);
  }
};

namespace {

void write_next(const std::shared_ptr<abuse_conn::state>& s);

} // namespace

abuse_conn::abuse_conn(asio::io_context& ioc)
    : s_(std::make_shared<state>(ioc)) {}

abuse_conn::~abuse_conn() {
  abort();
}

bool abuse_conn::open(const target& t, const std::string& token,
                      std::string& why, int rcvbuf) {
  auto& layer = beast::get_lowest_layer(s_->ws);
  auto o = std::make_shared<outcome>();
  if (rcvbuf > 0 || have_source_addrs()) { // set up before connecting
    const auto& ep = pick_endpoint(t.addrs);
    error_code ec;
    if (!open_bound(layer.socket(), ep, ec)) {
      s_->die(why = "connect: " + describe_error(ec));
      return false;
    }
    if (rcvbuf > 0) // set before connecting: the window is agreed then
      layer.socket().set_option(asio::socket_base::receive_buffer_size(rcvbuf),
                                ec);
    layer.async_connect(ep, [o, s = s_](const error_code& ec) {
      o->ec = ec;
      o->done = true;
    });
  } else {
    layer.async_connect(t.addrs, [o, s = s_](const error_code& ec,
                                             const tcp::endpoint&) {
      o->ec = ec;
      o->done = true;
    });
  }
  if (!run_until(
        s_->ioc, [o] { return o->done; }, 10)) {
    s_->die(why = "connect: timeout");
    return false;
  }
  if (o->ec) {
    s_->die(why = "connect: " + describe_error(o->ec));
    return false;
  }
  error_code ignored;
  layer.socket().set_option(tcp::no_delay(true), ignored);
  websocket::stream_base::timeout to{};
  to.handshake_timeout = std::chrono::seconds(10);
  to.idle_timeout = websocket::stream_base::none();
  to.keep_alive_pings = false;
  s_->ws.set_option(to);
  const std::string bearer = "Bearer " + token;
  s_->ws.set_option(
    websocket::stream_base::decorator([bearer](websocket::request_type& r) {
      r.set(beast::http::field::authorization, bearer);
      r.set(beast::http::field::user_agent, "collab-bench-hostile");
    }));
  s_->ws.text(true);
  s_->ws.auto_fragment(false);
  s_->ws.read_message_max(64ull << 20);
  auto h = std::make_shared<outcome>();
  s_->ws.async_handshake(s_->res, t.ep.host + ":" + t.ep.port, t.ep.path,
                         [h, s = s_](const error_code& ec) {
                           h->ec = ec;
                           h->done = true;
                         });
  if (!run_until(
        s_->ioc, [h] { return h->done; }, 12)) {
    s_->die(why = "upgrade: timeout");
    return false;
  }
  if (h->ec == websocket::error::upgrade_declined) {
    s_->die(why = "http " + std::to_string(s_->res.result_int()));
    return false;
  }
  if (h->ec) {
    s_->die(why = "upgrade: " + describe_error(h->ec));
    return false;
  }
  return true;
}

namespace {

// Reads frames until `want` says stop (true: done, false: go on), within
// 10 s; false with why when the connection died or time ran out.
bool read_until(const std::shared_ptr<abuse_conn::state>& s,
                const std::function<bool(std::string_view)>& want,
                std::string& why) {
  const auto deadline = std::chrono::steady_clock::now()
                        + std::chrono::seconds(10);
  for (;;) {
    if (s->dead) {
      why = s->why;
      return false;
    }
    auto o = std::make_shared<outcome>();
    s->ws.async_read(s->buf, [o, s](const error_code& ec, size_t) {
      o->ec = ec;
      o->done = true;
    });
    const double left = std::chrono::duration<double>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (!run_until(
          s->ioc, [o] { return o->done; }, std::max(0.01, left))) {
      s->die(why = "timeout");
      return false;
    }
    if (o->ec) {
      s->die(why = abuse_conn::state::reason(*s, o->ec));
      return false;
    }
    const auto data = s->buf.data();
    const std::string frame(static_cast<const char*>(data.data()), data.size());
    s->buf.consume(s->buf.size());
    if (want(frame))
      return true;
  }
}

} // namespace

bool abuse_conn::hello(const std::string& client_id, std::string& why) {
  send(R"({"type":"hello","client":)" + json_string(client_id) + R"(,"v":1})");
  bool ok = false;
  const bool read = read_until(
    s_,
    [&](std::string_view f) {
      frame_head h;
      if (!parse_head(f, h))
        return false;
      if (h.type == "welcome")
        return ok = true;
      if (h.type == "error") {
        why = "error " + h.code;
        return true;
      }
      return false;
    },
    why);
  return read && ok;
}

bool abuse_conn::join(const std::string& doc, uint64_t& rev, std::string& why) {
  send(R"({"type":"join","doc":)" + json_string(doc) + "}");
  bool ok = false;
  const bool read = read_until(
    s_,
    [&](std::string_view f) {
      frame_head h;
      if (!parse_head(f, h) || h.doc != doc)
        return false;
      if (h.type == "joined") {
        rev = h.rev;
        return ok = true;
      }
      if (h.type == "error") {
        why = "error " + h.code;
        return true;
      }
      return false;
    },
    why);
  return read && ok;
}

namespace {

void read_next(const std::shared_ptr<abuse_conn::state>& s) {
  if (s->dead)
    return;
  s->ws.async_read(s->buf, [s](const error_code& ec, size_t) {
    if (ec) {
      s->die(abuse_conn::state::reason(*s, ec));
      return;
    }
    const auto data = s->buf.data();
    const std::string frame(static_cast<const char*>(data.data()), data.size());
    s->buf.consume(s->buf.size());
    if (s->on_frame) {
      const auto on_frame = s->on_frame; // it may abort() the connection
      on_frame(frame);
    }
    read_next(s);
  });
}

void discard_next(const std::shared_ptr<abuse_conn::state>& s) {
  if (s->dead)
    return;
  beast::get_lowest_layer(s->ws).socket().async_read_some(
    asio::buffer(s->sink), [s](const error_code& ec, size_t) {
      if (ec) {
        s->die(describe_error(ec));
        return;
      }
      discard_next(s);
    });
}

void write_next(const std::shared_ptr<abuse_conn::state>& s) {
  if (s->outq.empty() || s->dead) {
    s->writing = false;
    return;
  }
  s->writing = true;
  auto msg = std::make_shared<std::string>(std::move(s->outq.front()));
  s->outq.pop_front();
  s->ws.async_write(asio::buffer(*msg),
                    [s, msg](const error_code& ec, size_t n) {
                      if (ec) {
                        s->writing = false;
                        s->die("write: " + describe_error(ec));
                        return;
                      }
                      s->sent += n;
                      write_next(s);
                    });
}

} // namespace

void abuse_conn::read_frames(frame_fn on_frame) {
  s_->on_frame = std::move(on_frame);
  read_next(s_);
}

void abuse_conn::discard_input() {
  s_->sink.resize(65536);
  discard_next(s_);
}

void abuse_conn::send(std::string frame) {
  if (s_->dead)
    return;
  s_->outq.push_back(std::move(frame));
  if (!s_->writing)
    write_next(s_);
}

size_t abuse_conn::queued() const {
  return s_->outq.size() + (s_->writing ? 1 : 0);
}

uint64_t abuse_conn::bytes_sent() const {
  return s_->sent;
}
asio::io_context& abuse_conn::io_context() const {
  return s_->ioc;
}
bool abuse_conn::alive() const {
  return !s_->dead;
}
const std::string& abuse_conn::why_dead() const {
  return s_->why;
}

void abuse_conn::abort() {
  s_->on_frame = nullptr; // whoever set it may be gone soon
  s_->die("aborted");
}

// ------------------------------------------------------------------ op_pump

op_pump::op_pump(abuse_conn& c, std::string doc, uint64_t rev, make_fn make,
                 uint64_t max_ops, double rate)
    : c_(c),
      doc_(std::move(doc)),
      make_(std::move(make)),
      max_ops_(max_ops),
      rate_(rate),
      timer_(c.io_context()),
      rev_(rev) {}

uint64_t op_pump::ack_rev(uint64_t n) const {
  const auto it = ack_revs_.find(n);
  return it == ack_revs_.end() ? 0 : it->second;
}

void op_pump::start() {
  c_.read_frames([this](std::string_view f) { on_frame(f); });
  next_after(0);
}

void op_pump::next_after(double delay_s) {
  if (done())
    return;
  timer_.expires_after(std::chrono::microseconds(int64_t(delay_s * 1e6)));
  timer_.async_wait([this](const error_code& ec) {
    if (ec)
      return;
    current_ = make_(n_);
    base_ = rev_;
    send_current();
  });
}

void op_pump::send_current() {
  in_flight_ = true;
  sent_at_ = std::chrono::steady_clock::now();
  c_.send(R"({"type":"op","doc":)" + json_string(doc_)
          + ",\"rev\":" + std::to_string(base_)
          + ",\"seq\":" + std::to_string(seq_) + ",\"op\":" + current_ + "}");
}

double op_pump::pace() const {
  if (rate_ <= 0)
    return 0;
  const double since
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent_at_)
        .count();
  return std::max(0.0, 1.0 / rate_ - since);
}

void op_pump::on_frame(std::string_view f) {
  frame_head h;
  if (!parse_head(f, h))
    return;
  if (h.type == "op" && h.doc == doc_) {
    rev_ = std::max(rev_, h.rev);
    return;
  }
  const bool ours = in_flight_ && h.has_seq && h.seq == seq_
                    && (h.doc.empty() || h.doc == doc_);
  if (h.type == "ack" && ours) {
    in_flight_ = false;
    ++acked_;
    ack_revs_[n_] = h.rev;
    rev_ = std::max(rev_, h.rev);
    ++seq_;
    ++n_;
    next_after(pace());
    return;
  }
  if (h.type != "error")
    return;
  ++errors_[h.code];
  if (!ours)
    return;
  if (h.code == "rate_limited" || h.code == "unavailable") {
    ++retries_; // not applied: the same op with the same seq again
    timer_.expires_after(std::chrono::milliseconds(50));
    timer_.async_wait([this](const error_code& ec) {
      if (!ec)
        send_current();
    });
    return;
  }
  in_flight_ = false; // refused, not committed: the seq stays
  ++refused_;
  ++n_;
  next_after(std::max(pace(), 0.001));
}

void op_pump::report(abuse_env& env, const std::string& prefix) const {
  env.count(prefix + "acked", acked_);
  if (refused_)
    env.count(prefix + "refused", refused_);
  if (retries_)
    env.count(prefix + "retries", retries_);
  for (const auto& [code, n] : errors_)
    env.count(prefix + "error:" + code, n);
}

abuse_conn::frame_fn count_answers(abuse_env& env, std::string prefix) {
  return [&env, prefix = std::move(prefix)](std::string_view f) {
    frame_head h;
    if (!parse_head(f, h))
      return;
    if (h.type == "ack" || h.type == "joined")
      env.count(prefix + h.type);
    else if (h.type == "error")
      env.count(prefix + "error:" + h.code);
  };
}

bool open_joined(abuse_conn& c, const abuse_env& env,
                 const std::string& client_id, const std::string& doc,
                 uint64_t& rev, std::string& why, const std::string& token,
                 int rcvbuf) {
  return c.open(env.client, token.empty() ? env.token : token, why, rcvbuf)
         && c.hello(client_id, why) && c.join(doc, rev, why);
}

op_pump::make_fn insert_delete(size_t n, char c) {
  auto ins
    = std::make_shared<const std::string>("[\"" + std::string(n, c) + "\"]");
  const std::string del = "[{\"d\":" + std::to_string(n) + "}]";
  return [ins, del](uint64_t i) {
    return i % 2 == 0 ? *ins : del;
  };
}

// ---------------------------------------------------------------- raw TCP

bool tcp_connect(asio::io_context& ioc, const target& t, tcp::socket& out,
                 double timeout_s, std::string& why) {
  auto o = std::make_shared<outcome>();
  if (have_source_addrs()) {
    const auto& ep = pick_endpoint(t.addrs);
    error_code ec;
    if (!open_bound(out, ep, ec)) {
      why = describe_error(ec);
      return false;
    }
    out.async_connect(ep, [o](const error_code& ec) {
      o->ec = ec;
      o->done = true;
    });
  } else {
    asio::async_connect(out, t.addrs,
                        [o](const error_code& ec, const tcp::endpoint&) {
                          o->ec = ec;
                          o->done = true;
                        });
  }
  if (!run_until(
        ioc, [o] { return o->done; }, timeout_s)) {
    error_code ignored;
    out.close(ignored);
    why = "timeout";
    return false;
  }
  if (o->ec) {
    why = describe_error(o->ec);
    return false;
  }
  return true;
}

} // namespace collab::bench
