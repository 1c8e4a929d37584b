// One WebSocket (Beast) and its bounded write queue. Frames read from the
// socket go to the session's connection actor; frames the actor sends come
// back through session_sink::send, posted onto the socket's strand.
//
// Backpressure out: when more than `send-queue-bytes` wait to be written for
// longer than a short grace period (or four times that much at all), the
// reader is too slow: the queue is dropped and the socket closed with 1013,
// so one slow reader never slows anyone else down. A socket that does not
// even take the close frame is cut after a grace period. Queued bytes count
// towards the node's send budget too (session_registry), which closes the
// biggest queues of the node first.
//
// Backpressure in: a frame read is handed to the connection actor, which
// reports it consumed() once handled. While more than `max-input-bytes` (or,
// with the node over its memory budget, any input at all) wait to be
// handled, the session does not read: the peer's frames wait in the kernel
// and in the peer, not in this process. The byte rate (`rate-limit-bytes`,
// `rate-burst-bytes`) works the same way: a frame's bytes are taken from a
// token bucket once it is read, and while the bucket is in debt the session
// does not read. A sender over the rate is slowed by TCP, and its frames
// cost this process nothing until it is their turn.
//
// Thread-safety: all members are touched only on the socket's strand, but
// the atomics; send(), close(), drop() and consumed() post onto it and are
// safe from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <caf/actor.hpp>

#include "net/auth.hpp"
#include "net/connection_actor.hpp"
#include "net/server_context.hpp"
#include "net/session_sink.hpp"
#include "net/token_bucket.hpp"
#include "net/ws_stream.hpp"

namespace collab::net {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

// A FIFO that holds no memory while empty (the write queue of an idle
// socket is empty nearly always, and a std::deque keeps ~600 bytes even
// then): a vector consumed from the front, given back whenever it runs
// empty, compacted when its consumed part is over half of it.
template<class T>
class drained_fifo {
public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_.back(); }
  void push_back(T v) { items_.push_back(std::move(v)); }
  void pop_front() {
    items_[head_++] = T{};
    if (empty())
      release();
    else if (head_ >= 16 && 2 * head_ >= items_.size())
      compact();
  }
  void pop_back() {
    items_.pop_back();
    if (empty())
      release();
  }

private:
  void release() {
    std::vector<T>{}.swap(items_);
    head_ = 0;
  }
  void compact() {
    items_.erase(items_.begin(), items_.begin() + head_);
    head_ = 0;
  }
  std::vector<T> items_;
  size_t head_ = 0; // items_[0, head_) are consumed
};

class ws_session : public session_sink,
                   public std::enable_shared_from_this<ws_session> {
public:
  ws_session(ws_stream&& stream, server_context& ctx);
  ~ws_session() override;

  // Completes the upgrade of `req` and starts reading.
  // `slot` is the socket's place among its user's sockets: given back when
  // the socket closes.
  void run(http::request<http::string_body> req, token_claims claims,
           session_registry::user_slot slot);

  void send(std::shared_ptr<const std::string> frame) override;
  void close(uint16_t code, std::string reason) override;
  void drop(uint16_t code, std::string reason) override;
  void consumed(uint64_t bytes) override;
  uint64_t queued_bytes() const override { return queued_bytes_.load(); }
  const std::string& remote() const override { return remote_; }

private:
  void on_accept(beast::error_code ec);
  // Reads the next frame unless the input is full or the byte rate is
  // spent (then consumed() or the throttle timer calls it again).
  void read_next();
  void do_read();
  void on_read_head(beast::error_code ec, size_t bytes);
  void on_read(beast::error_code ec, size_t bytes);
  // A whole text frame read: to the connection actor.
  void on_frame(std::string frame);
  // Whether the input waiting for the actor is too much to read more.
  bool input_full() const;
  void resume_read();
  void on_send(std::shared_ptr<const std::string> frame);
  bool too_slow() const;
  void release_queued(size_t bytes);
  void dequeue_front();
  void drop_queue();
  void forget_queue();
  void do_write();
  void on_write(beast::error_code ec, size_t bytes);
  // Closes with `code` once the frames queued so far are written.
  void start_close(uint16_t code, std::string reason, bool drop_queue);
  void do_close();
  void on_closed();

  std::string remote_; // before ws_: read off the stream before it moves
  websocket::stream<ws_stream, false> ws_; // no permessage-deflate
  server_context& ctx_;
  // The first bytes of the next frame (most frames fit), then the rest of a
  // longer one; buffer_ is empty between frames (see do_read).
  std::array<char, 128> head_;
  beast::flat_buffer buffer_;
  connection_actor conn_;
  // From run() until on_accept() hands them to the connection actor.
  std::unique_ptr<token_claims> claims_;
  std::string session_id_;

  using clock = std::chrono::steady_clock;
  struct queued_frame {
    std::shared_ptr<const std::string> bytes;
    clock::time_point queued_at;
  };
  drained_fifo<queued_frame> queue_;
  // Sent and not yet written (or dropped), frames on their way to the
  // strand included; updated off the strand by send().
  std::atomic<size_t> queued_bytes_{0};
  std::atomic<uint64_t> unprocessed_{0}; // handed to conn_, not consumed
  std::atomic<bool> read_paused_{false}; // set on the strand only
  token_bucket read_bytes_; // the byte rate in
  // Timers made when first needed (most sockets never need them).
  std::unique_ptr<boost::asio::steady_timer> throttle_timer_;
  session_registry::user_slot user_slot_;
  bool writing_ = false;
  bool front_uncounted_ = false; // the frame being written was released
  bool closing_ = false; // no more frames are taken
  bool close_sent_ = false;
  bool closed_ = false; // the actor was told
  // What start_close() was asked (a websocket::close_reason holds 123
  // bytes of reason in place).
  uint16_t close_code_ = 0;
  std::string close_text_;
  std::unique_ptr<boost::asio::steady_timer> hard_close_timer_;
  // A timer on the session's strand.
  std::unique_ptr<boost::asio::steady_timer> make_timer();
};

} // namespace collab::net
