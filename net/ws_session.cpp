#include "net/ws_session.hpp"

#include <random>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/log_escape.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "net/connection_actor.hpp"

namespace collab::net {
namespace {

constexpr auto close_grace = std::chrono::seconds(5);
constexpr auto slow_reader_grace = std::chrono::seconds(1);

std::string random_session_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(rng()));
  return buf;
}

} // namespace

namespace {
std::string remote_of(ws_stream& stream) {
  beast::error_code ec;
  auto ep = stream.next_layer().socket().remote_endpoint(ec);
  return ec ? std::string{"?"}
            : ep.address().to_string() + ":" + std::to_string(ep.port());
}
} // namespace

ws_session::ws_session(ws_stream&& stream, server_context& ctx)
  : remote_(remote_of(stream)),
    ws_(std::move(stream)),
    ctx_(ctx),
    session_id_(random_session_id()),
    hard_close_timer_(ws_.get_executor()) {
  // nop
}

ws_session::~ws_session() {
  ctx_.sessions.remove(this);
}

void ws_session::run(http::request<http::string_body> req,
                     token_claims claims) {
  claims_ = std::move(claims);
  ws_.set_option(
    websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.set_option(websocket::stream_base::decorator(
    [](websocket::response_type& res) {
      res.set(http::field::server, "collabd");
    }));
  ws_.read_message_max(ctx_.cfg.max_frame_bytes);
  ws_.auto_fragment(false);
  ws_.text(true);
  ws_.async_accept(req, beast::bind_front_handler(&ws_session::on_accept,
                                                  shared_from_this()));
}

void ws_session::on_accept(beast::error_code ec) {
  if (ec) {
    spdlog::debug("session={} event=accept_failed error={}", session_id_,
                  ec.message());
    return;
  }
  conn_ = spawn_connection(ctx_, shared_from_this(), claims_, session_id_);
  ctx_.sessions.add(this, weak_from_this(), conn_, session_id_);
  spdlog::debug("session={} user={} event=open", session_id_, log_escape(claims_.sub));
  do_read();
}

void ws_session::do_read() {
  ws_.async_read(buffer_, beast::bind_front_handler(&ws_session::on_read,
                                                    shared_from_this()));
}

void ws_session::on_read(beast::error_code ec, size_t) {
  if (ec) {
    // message_too_big: Beast has already sent close 1009.
    if (ec != websocket::error::closed && ec != boost::asio::error::eof)
      spdlog::debug("session={} event=read_end error={}", session_id_,
                    ec.message());
    on_closed();
    return;
  }
  if (!ws_.got_text()) {
    buffer_.consume(buffer_.size());
    start_close(websocket::close_code::unknown_data,
                "binary frames are not part of the protocol", false);
    do_read();
    return;
  }
  auto frame = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  if (!closing_)
    caf::anon_send(conn_, frame_atom_v, std::move(frame));
  do_read();
}

void ws_session::send(std::shared_ptr<const std::string> frame) {
  boost::asio::post(ws_.get_executor(),
                    [self = shared_from_this(), f = std::move(frame)]() mutable {
                      self->on_send(std::move(f));
                    });
}

void ws_session::close(uint16_t code, std::string reason) {
  boost::asio::post(ws_.get_executor(),
                    [self = shared_from_this(), code, r = std::move(reason)] {
                      self->start_close(code, r, false);
                    });
}

void ws_session::on_send(std::shared_ptr<const std::string> frame) {
  if (closing_)
    return;
  queued_bytes_ += frame->size();
  queue_.push_back(queued_frame{std::move(frame), clock::now()});
  if (too_slow()) {
    node_metrics().slow_reader_closes.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("session={} event=slow_reader queued_bytes={}", session_id_,
                 queued_bytes_.load());
    start_close(websocket::close_code::try_again_later, "too slow a reader",
                true);
    return;
  }
  if (!writing_)
    do_write();
}

// A reader is too slow when its backlog is over the limit and has been for
// a while (a prompt reader drains a burst, e.g. a large joined text or a
// resume replay, within the grace period), or when the backlog is far over
// the limit (memory stays bounded whatever the reader does).
bool ws_session::too_slow() const {
  auto limit = ctx_.cfg.send_queue_bytes;
  if (queued_bytes_ <= limit || queue_.size() == 1)
    return false;  // a single frame always fits an empty queue
  return queued_bytes_ > 4 * limit
         || clock::now() - queue_.front().queued_at > slow_reader_grace;
}

void ws_session::do_write() {
  writing_ = true;
  ws_.async_write(boost::asio::buffer(*queue_.front().bytes),
                  beast::bind_front_handler(&ws_session::on_write,
                                            shared_from_this()));
}

void ws_session::on_write(beast::error_code ec, size_t) {
  writing_ = false;
  queued_bytes_ -= queue_.front().bytes->size();
  queue_.pop_front();
  if (ec) {
    on_closed();
    return;
  }
  if (!queue_.empty())
    do_write();
  else if (closing_ && !close_sent_)
    do_close();
}

void ws_session::start_close(uint16_t code, std::string reason,
                             bool drop_queue) {
  if (closing_)
    return;
  closing_ = true;
  close_reason_ = websocket::close_reason(
    static_cast<websocket::close_code>(code), reason);
  if (drop_queue && !queue_.empty()) {
    // Keep only the frame being written: Beast owns its buffer now.
    auto front = queue_.front();
    queue_.clear();
    queued_bytes_ = 0;
    if (writing_) {
      queued_bytes_ = front.bytes->size();
      queue_.push_back(std::move(front));
    }
  }
  hard_close_timer_.expires_after(close_grace);
  hard_close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec)
      return;  // cancelled: closed in time
    beast::error_code ignored;
    beast::get_lowest_layer(self->ws_).socket().shutdown(
      boost::asio::ip::tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(self->ws_).socket().close(ignored);
  });
  if (!writing_ && queue_.empty())
    do_close();
}

void ws_session::do_close() {
  close_sent_ = true;
  ws_.async_close(close_reason_,
                  [self = shared_from_this()](beast::error_code) {
                    self->hard_close_timer_.cancel();
                    self->on_closed();
                  });
}

void ws_session::on_closed() {
  if (closed_)
    return;
  closed_ = true;
  if (conn_)
    caf::anon_send(conn_, closed_atom_v);
}

} // namespace collab::net
