#include "net/ws_session.hpp"

#include <random>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"
#include "actors/metrics.hpp"
#include "net/connection_actor.hpp"

namespace collab::net {
namespace {

constexpr auto close_grace = std::chrono::seconds(5);
constexpr auto slow_reader_grace = std::chrono::seconds(1);
constexpr size_t kept_buffer_bytes = 16 * 1024;

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
      read_bytes_(ctx.cfg.rate_limit_bytes, ctx.cfg.rate_burst_bytes),
      throttle_timer_(ws_.get_executor()),
      hard_close_timer_(ws_.get_executor()) {
  // nop
}

ws_session::~ws_session() {
  ctx_.sessions.remove(this);
  // Frames the actor never handled (it ended first) and frames never written.
  ctx_.sessions.input_consumed(unprocessed_.load());
  ctx_.sessions.output_released(queued_bytes_.load());
}

void ws_session::run(http::request<http::string_body> req, token_claims claims,
                     session_registry::user_slot slot) {
  claims_ = std::move(claims);
  user_slot_ = std::move(slot);
  ws_.set_option(
    websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.set_option(
    websocket::stream_base::decorator([](websocket::response_type& res) {
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
  // An actor that ends before its socket (a bug, a shutdown) would leave
  // the socket waiting for consumed() forever: close it.
  conn_->attach_functor([weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self)
      return;
    boost::asio::post(self->ws_.get_executor(), [self] {
      if (!self->closed_) // else the socket went first, as it should
        self->start_close(websocket::close_code::internal_error,
                          "the connection ended", true);
    });
  });
  ctx_.sessions.add(this, weak_from_this(), conn_, session_id_);
  spdlog::debug("session={} user={} event=open", session_id_,
                log_escape(claims_.sub));
  read_next();
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
    clear_buffer();
    start_close(websocket::close_code::unknown_data,
                "binary frames are not part of the protocol", false);
    do_read();
    return;
  }
  auto frame = beast::buffers_to_string(buffer_.data());
  clear_buffer();
  read_bytes_.spend(static_cast<double>(frame.size()));
  if (!closing_) {
    unprocessed_ += frame.size();
    ctx_.sessions.input_received(frame.size());
    caf::anon_send(conn_, frame_atom_v, std::move(frame));
  }
  read_next();
}

void ws_session::read_next() {
  if (closed_)
    return;
  if (input_full()) {
    // Paused first, checked again after: consumed() either sees the flag
    // and posts resume_read(), or its decrement is seen here.
    read_paused_ = true;
    if (input_full()) {
      node_metrics().input_pauses.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    read_paused_ = false;
  }
  auto wait = read_bytes_.time_to_repay();
  if (wait > wait.zero()) {
    node_metrics().input_throttles.fetch_add(1, std::memory_order_relaxed);
    throttle_timer_.expires_after(wait);
    throttle_timer_.async_wait(
      [self = shared_from_this()](beast::error_code ec) {
        if (!ec)
          self->read_next();
      });
    return;
  }
  do_read();
}

// A large frame leaves a large buffer: give it back rather than keep it for
// the life of the socket, so that idle sockets stay small.
void ws_session::clear_buffer() {
  buffer_.clear();
  if (buffer_.capacity() > kept_buffer_bytes)
    buffer_.shrink_to_fit();
}

// Over max-input-bytes; or, with the node over its memory budget, anything
// at all (the actor still has a frame to handle, so consumed() will come).
bool ws_session::input_full() const {
  auto pending = unprocessed_.load();
  return pending > ctx_.cfg.max_input_bytes
         || (pending > 0 && ctx_.sessions.memory_tight());
}

void ws_session::consumed(uint64_t bytes) {
  unprocessed_ -= bytes;
  ctx_.sessions.input_consumed(bytes);
  if (read_paused_)
    boost::asio::post(ws_.get_executor(),
                      [self = shared_from_this()] { self->resume_read(); });
}

void ws_session::resume_read() {
  if (!read_paused_ || input_full())
    return;
  read_paused_ = false;
  read_next();
}

// Counted at once, not when the strand gets to it: frames on their way to
// a busy strand take memory too.
void ws_session::send(std::shared_ptr<const std::string> frame) {
  auto bytes = frame->size();
  queued_bytes_ += bytes;
  ctx_.sessions.output_queued(bytes);
  boost::asio::post(ws_.get_executor(), [self = shared_from_this(),
                                         f = std::move(frame)]() mutable {
    self->on_send(std::move(f));
  });
  ctx_.sessions.enforce_send_budget();
}

void ws_session::close(uint16_t code, std::string reason) {
  boost::asio::post(ws_.get_executor(),
                    [self = shared_from_this(), code, r = std::move(reason)] {
                      self->start_close(code, r, false);
                    });
}

void ws_session::drop(uint16_t code, std::string reason) {
  boost::asio::post(ws_.get_executor(), [self = shared_from_this(), code,
                                         r = std::move(reason)] {
    spdlog::info("session={} event=send_budget_close "
                 "queued_bytes={} node_queued_bytes={}",
                 self->session_id_, self->queued_bytes_.load(),
                 self->ctx_.sessions.queued_bytes());
    self->forget_queue(); // also when already closing
    self->start_close(code, r, true);
  });
}

void ws_session::on_send(std::shared_ptr<const std::string> frame) {
  if (closing_) {
    release_queued(frame->size());
    return;
  }
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
    return false; // a single frame always fits an empty queue
  return queued_bytes_ > 4 * limit
         || clock::now() - queue_.front().queued_at > slow_reader_grace;
}

void ws_session::do_write() {
  writing_ = true;
  ws_.async_write(boost::asio::buffer(*queue_.front().bytes),
                  beast::bind_front_handler(&ws_session::on_write,
                                            shared_from_this()));
}

void ws_session::release_queued(size_t bytes) {
  queued_bytes_ -= bytes;
  ctx_.sessions.output_released(bytes);
}

void ws_session::dequeue_front() {
  if (!front_uncounted_)
    release_queued(queue_.front().bytes->size());
  front_uncounted_ = false;
  queue_.pop_front();
}

// Keeps only the frame being written: Beast owns its buffer now.
void ws_session::drop_queue() {
  auto keep = writing_ ? size_t{1} : size_t{0};
  while (queue_.size() > keep) {
    release_queued(queue_.back().bytes->size());
    queue_.pop_back();
  }
}

// Shed for the node's send budget: the frame being written stops counting
// too, so that the node is under its budget again at once rather than when
// a peer that reads nothing is cut off (its bytes are on their way out; a
// broadcast frame is shared with the other subscribers anyway).
void ws_session::forget_queue() {
  drop_queue();
  if (writing_ && !front_uncounted_) {
    release_queued(queue_.front().bytes->size());
    front_uncounted_ = true;
  }
}

void ws_session::on_write(beast::error_code ec, size_t) {
  writing_ = false;
  dequeue_front();
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
  close_reason_
    = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
  if (drop_queue)
    this->drop_queue();
  hard_close_timer_.expires_after(close_grace);
  hard_close_timer_.async_wait(
    [self = shared_from_this()](beast::error_code ec) {
      if (ec)
        return; // cancelled: closed in time
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
  throttle_timer_.cancel();
  user_slot_.release();
  if (conn_)
    caf::anon_send(conn_, closed_atom_v);
}

} // namespace collab::net
