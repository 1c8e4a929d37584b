// The client state machine; see client.hpp for the design. This file: the
// document group and the connection (connect, read, write, reconnect,
// close); the protocol is in client_protocol.cpp, the edits in
// client_editing.cpp. Every handler
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
#include "source_addrs.hpp"

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
  clients.push_back(std::make_unique<bench_client>(
    *this, idx, std::move(client_id), url_index, seed));
}

// ------------------------------------------------------------- bench_client

bench_client::bench_client(doc_group& g, size_t index, std::string client_id,
                           size_t url_index, uint64_t seed)
    : g_(g),
      index_(index),
      id_(std::move(client_id)),
      url_index_(url_index),
      rng_(seed),
      gen_timer_(g.strand),
      retry_timer_(g.strand),
      reconnect_timer_(g.strand) {
  const auto& opt = *g.setup.opt;
  light_ = opt.replicas >= 0 && index >= static_cast<size_t>(opt.replicas);
  skim_ = light_ && opt.probes >= 0
          && index >= static_cast<size_t>(opt.authors_per_doc() + opt.probes);
}

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
  s.light = light_;
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
  if (have_source_addrs()) { // bound first: one endpoint, no range
    const auto& ep = pick_endpoint(eps);
    error_code ec;
    if (!open_bound(layer.socket(), ep, ec)) {
      asio::post(g_.strand, [this, gen, ec] { on_connected(gen, ec); });
      return;
    }
    layer.async_connect(ep, [this, gen, c = conn_](const error_code& e) {
      on_connected(gen, e);
    });
    return;
  }
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
  // Viewers (beyond --authors) hold a token that may only read, as a
  // crowd of readers would.
  const auto& opt = *g_.setup.opt;
  const bool viewer = index_ >= size_t(opt.authors_per_doc());
  const std::string bearer
    = "Bearer "
      + (viewer && !opt.viewer_token.empty() ? opt.viewer_token : opt.token);
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
  send(R"({"type":"hello","client":")" + id_
       + (g_.setup.opt->batch ? R"(","v":1,"batch":true})" : R"(","v":1})"));
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
  handle_frame(
    std::string_view(static_cast<const char*>(data.data()), data.size()));
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
  conn_->ws.async_write(asio::buffer(*msg), [this, gen, msg, c = conn_](
                                              const error_code& ec, size_t) {
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
  const bool open = phase_ == phase::hello || phase_ == phase::joining
                    || phase_ == phase::joined;
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

} // namespace collab::bench
