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

std::string random_session_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(rng()));
  return buf;
}

} // namespace

namespace {

// Allocates exactly what is asked. Asio's default for a handler without an
// allocator recycles the last block its thread freed whenever that block is
// big enough, so the read an idle socket waits in could keep a block made
// for a larger operation (a handshake, a write) for as long as it waits.
template<class T>
struct exact_allocator {
  using value_type = T;
  exact_allocator() = default;
  template<class U>
  exact_allocator(const exact_allocator<U>&) noexcept {
    // nop
  }
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p); }
  template<class U>
  bool operator==(const exact_allocator<U>&) const noexcept {
    return true;
  }
  template<class U>
  bool operator!=(const exact_allocator<U>&) const noexcept {
    return false;
  }
};

std::string remote_of(ws_stream& stream) {
  beast::error_code ec;
  auto ep = stream.socket().remote_endpoint(ec);
  return ec ? std::string{"?"}
            : ep.address().to_string() + ":" + std::to_string(ep.port());
}
} // namespace

ws_session::ws_session(ws_stream&& stream, server_context& ctx)
    : remote_(remote_of(stream)),
      ws_(std::move(stream)),
      ctx_(ctx),
      session_id_(random_session_id()),
      read_bytes_(ctx.cfg.rate_limit_bytes, ctx.cfg.rate_burst_bytes) {
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
  claims_ = std::make_unique<token_claims>(std::move(claims));
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
  spdlog::debug("session={} user={} event=open", session_id_,
                log_escape(claims_->sub));
  conn_ = spawn_connection(ctx_, shared_from_this(), std::move(*claims_),
                           session_id_);
  claims_.reset();
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
  read_next();
}

// An idle socket waits for its next frame with nothing but head_ to read
// into. A whole-message read (async_read) would make Beast prepare 1.5 KB
// in buffer_ before the first byte came, held for as long as the peer is
// silent: most of the memory of an idle socket.
void ws_session::do_read() {
  struct handler {
    std::shared_ptr<ws_session> self;
    using allocator_type = exact_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
    void operator()(beast::error_code ec, size_t bytes) {
      self->on_read_head(ec, bytes);
    }
  };
  ws_.async_read_some(boost::asio::buffer(head_), handler{shared_from_this()});
}

// A frame that fits head_ is whole; a longer one goes on into buffer_ (the
// rest of the message, its limit read_message_max still checked by Beast).
void ws_session::on_read_head(beast::error_code ec, size_t bytes) {
  if (ec) {
    on_read(ec, 0);
    return;
  }
  if (ws_.is_message_done()) {
    on_frame(std::string(head_.data(), bytes));
    return;
  }
  buffer_.commit(boost::asio::buffer_copy(buffer_.prepare(bytes),
                                          boost::asio::buffer(head_, bytes)));
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
  auto frame = beast::buffers_to_string(buffer_.data());
  // A large frame leaves a large buffer: give it back rather than keep it
  // for the life of the socket, so that idle sockets stay small.
  buffer_ = beast::flat_buffer{};
  on_frame(std::move(frame));
}

void ws_session::on_frame(std::string frame) {
  if (!ws_.got_text()) {
    start_close(websocket::close_code::unknown_data,
                "binary frames are not part of the protocol", false);
    do_read();
    return;
  }
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
    if (!throttle_timer_)
      throttle_timer_ = make_timer();
    throttle_timer_->expires_after(wait);
    throttle_timer_->async_wait(
      [self = shared_from_this()](beast::error_code ec) {
        if (!ec)
          self->read_next();
      });
    return;
  }
  do_read();
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
  close_code_ = code;
  close_text_ = std::move(reason);
  if (drop_queue)
    this->drop_queue();
  hard_close_timer_ = make_timer();
  hard_close_timer_->expires_after(close_grace);
  hard_close_timer_->async_wait(
    [self = shared_from_this()](beast::error_code ec) {
      if (ec)
        return; // cancelled: closed in time
      beast::error_code ignored;
      auto& socket = self->ws_.next_layer().socket();
      socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    });
  if (!writing_ && queue_.empty())
    do_close();
}

void ws_session::do_close() {
  close_sent_ = true;
  ws_.async_close(
    websocket::close_reason(static_cast<websocket::close_code>(close_code_),
                            close_text_),
    [self = shared_from_this()](beast::error_code) {
      self->hard_close_timer_->cancel();
      self->on_closed();
    });
}

void ws_session::on_closed() {
  if (closed_)
    return;
  closed_ = true;
  if (throttle_timer_)
    throttle_timer_->cancel();
  user_slot_.release();
  if (conn_)
    caf::anon_send(conn_, closed_atom_v);
}

std::unique_ptr<boost::asio::steady_timer> ws_session::make_timer() {
  return std::make_unique<boost::asio::steady_timer>(ws_.get_executor());
}

} // namespace collab::net
