// The abusers' connections: a WebSocket client (abuse_conn) that does what
// a hostile client does and nothing more, a closed-loop op sender on top of
// it (op_pump), and a raw TCP connect for the patterns that never speak
// WebSocket.
//
// abuse_conn has blocking steps for setting up (open, hello, join: each
// runs the io_context until it is done or 10 s passed, and a failure leaves
// the connection dead) and asynchronous modes for the abuse itself: read
// frames into a callback, discard everything the server sends without
// parsing it (cheap), or never read at all (the default). Writes are queued
// and go out one at a time.
//
// Thread-safety: everything of one io_context (its connections, pumps and
// timers) is used by the one thread that runs it (the pattern's). Blocking
// steps must not be called from a handler.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "hostile.hpp"

namespace collab::bench {

namespace asio = boost::asio;

// Runs `ioc` until done() or the deadline; true when done().
bool run_until(asio::io_context& ioc, const std::function<bool()>& done,
               double timeout_s);
// Runs `ioc` until the runner says stop.
void run_until_stopped(asio::io_context& ioc, const abuse_env& env);
// Runs what is left of `ioc` (closing handshakes, aborted operations) for at
// most `timeout_s`.
void run_out(asio::io_context& ioc, double timeout_s);

// A JSON string literal (quotes included) of `s`.
std::string json_string(std::string_view s);

class abuse_conn {
public:
  using frame_fn = std::function<void(std::string_view)>;

  explicit abuse_conn(asio::io_context& ioc);
  ~abuse_conn(); // aborts
  abuse_conn(const abuse_conn&) = delete;
  abuse_conn& operator=(const abuse_conn&) = delete;

  // TCP connect and WebSocket upgrade with `token`. rcvbuf > 0 shrinks the
  // socket's receive buffer first (a reader that stops reading fills the
  // server's queue sooner). why: "http 429", "refused", "timeout", ...
  bool open(const target& t, const std::string& token, std::string& why,
            int rcvbuf = 0);
  // hello -> welcome.
  bool hello(const std::string& client_id, std::string& why);
  // join -> joined at `rev` (an error answer: why = "error <code>").
  bool join(const std::string& doc, uint64_t& rev, std::string& why);

  // Asynchronous modes (pick one; none = never read).
  void read_frames(frame_fn on_frame);
  void discard_input();

  void send(std::string frame);
  size_t queued() const;
  uint64_t bytes_sent() const;
  bool alive() const;
  const std::string& why_dead() const;
  // Closes the TCP socket at once (no closing handshake).
  void abort();
  asio::io_context& io_context() const;

  struct state; // (hostile_conn.cpp)

private:
  std::shared_ptr<state> s_;
};

// A closed-loop op sender on a joined connection (ot.js discipline: one op
// in flight, the next after its ack). make(n) gives the n-th op (the JSON
// array); ops go out at most `rate` per second (0: as soon as acked) until
// `max_ops` are acked or refused. rate_limited and unavailable are retried
// with the same seq after a pause; any other refusal moves on to the next
// op with the same seq (it was not committed). Every answer is counted.
class op_pump {
public:
  using make_fn = std::function<std::string(uint64_t n)>;

  op_pump(abuse_conn& c, std::string doc, uint64_t rev, make_fn make,
          uint64_t max_ops = UINT64_MAX, double rate = 0);
  void start(); // takes over c's frames (read_frames)

  uint64_t acked() const { return acked_; }
  uint64_t refused() const { return refused_; }
  uint64_t retries() const { return retries_; }
  bool done() const { return acked_ + refused_ >= max_ops_; }
  uint64_t rev() const { return rev_; } // latest known revision
  uint64_t ack_rev(uint64_t n) const; // rev of the n-th op
  uint64_t seq() const { return seq_; }
  const std::map<std::string, uint64_t>& errors() const { return errors_; }
  // Adds the pump's answers to env.counts as "<prefix>acked", ...
  void report(abuse_env& env, const std::string& prefix) const;

private:
  void on_frame(std::string_view f);
  void send_current();
  void next_after(double delay_s);
  double pace() const; // seconds until the rate allows the next op

  abuse_conn& c_;
  const std::string doc_;
  make_fn make_;
  const uint64_t max_ops_;
  const double rate_;
  asio::steady_timer timer_;
  uint64_t rev_;
  uint64_t seq_ = 1;
  uint64_t n_ = 0; // index of the op in flight
  std::string current_; // its op JSON
  uint64_t base_ = 0; // and its base revision (kept for retries)
  std::chrono::steady_clock::time_point sent_at_;
  bool in_flight_ = false;
  uint64_t acked_ = 0;
  uint64_t refused_ = 0;
  uint64_t retries_ = 0;
  std::map<uint64_t, uint64_t> ack_revs_;
  std::map<std::string, uint64_t> errors_;
};

// A frame handler that counts the answers an abuser gets in env.counts:
// "<prefix>ack", "<prefix>joined", "<prefix>error:<code>" (other frames are
// ignored).
abuse_conn::frame_fn count_answers(abuse_env& env, std::string prefix);

// open + hello + join in one step (the abuser's own token unless given).
bool open_joined(abuse_conn& c, const abuse_env& env,
                 const std::string& client_id, const std::string& doc,
                 uint64_t& rev, std::string& why, const std::string& token = {},
                 int rcvbuf = 0);

// Ops for an op_pump that alternately insert `n` copies of `c` at 0 and
// delete them again: the document stays small while every insert stays in
// its history.
op_pump::make_fn insert_delete(size_t n, char c);

// A TCP connection to `addrs` within `timeout_s`; nothing is sent.
bool tcp_connect(asio::io_context& ioc, const target& t,
                 asio::ip::tcp::socket& out, double timeout_s,
                 std::string& why);

} // namespace collab::bench
