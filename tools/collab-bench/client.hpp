// One simulated editor (bench_client) and the document it edits with its
// peers (doc_group).
//
// A client connects over WebSocket (Beast, Authorization: Bearer), says
// hello, joins its document and then edits it at its rate, following the
// ot.js discipline of docs/PROTOCOL.md: at most one op in flight; edits made
// meanwhile are composed into one pending op, sent on the ack with the latest
// known revision as base; an incoming `op` is transformed against inflight
// and pending (own side `left`, incoming side `right`) and applied to the
// local text (an ot::rope). After a disconnect it reconnects to the next URL,
// resumes with join+rev and resends its inflight op with the same seq
// (exactly-once on the server). Whatever the server does that the protocol
// forbids (a gap in revisions, an ack that overtakes ops, an op that does not
// apply) is counted as an anomaly and takes the client out of the run.
//
// Latencies: every first send of (client, seq) is timestamped in the
// group's send table, so the ack (sender) and the `op` delivery (every other
// client) can be timed without embedding anything in the protocol.
//
// Thread-safety: every member of a doc_group and of its clients is touched
// only from the group's strand (all its sockets, timers and handlers run on
// it), so a document's clients never race with each other and several io
// threads can share one io_context. run_control is shared by everything:
// its times are written before generation starts, its flags are atomics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <rapidjson/document.h>

#include "actors/ot/rope.hpp"
#include "actors/ot/text_unicode.hpp"
#include "options.hpp"
#include "stats.hpp"

namespace collab::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using strand_t = asio::strand<asio::io_context::executor_type>;

// Run-wide timing and flags. Times are nanoseconds since `epoch`; the
// window is atomic because --hostile moves it while the clients run.
struct run_control {
  std::chrono::steady_clock::time_point epoch
    = std::chrono::steady_clock::now();
  std::atomic<int64_t> gen_start_ns{0};
  std::atomic<int64_t> window_start_ns{0};
  std::atomic<int64_t> window_end_ns{0};
  std::atomic<bool> generating{false};
  std::atomic<bool> stopping{false}; // final close: no reconnects
  std::atomic<int> joined_clients{0}; // clients that joined once
  std::atomic<int> closed_clients{0}; // clients done with the final close

  int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now() - epoch)
      .count();
  }
  bool in_window(int64_t t) const {
    return t >= window_start_ns && t < window_end_ns;
  }
};

// Read-only after start-up.
struct shared_setup {
  const bench_options* opt = nullptr;
  std::vector<std::vector<tcp::endpoint>> resolved; // per opt->urls entry
  run_control* ctl = nullptr;
  std::string doc_prefix; // document ids are doc_prefix<n>
  std::string run_id; // makes client ids unique per workload
  // --hostile: also record, per document (doc_stats), the latency of every
  // op *sent* in the window, whenever its ack or delivery arrives, so a
  // stall that outlasts the window is still measured.
  bool window_by_send = false;
};

// A short name for a socket error: eof, reset, refused, timeout, or the
// error's message.
std::string describe_error(const boost::system::error_code& ec);

class bench_client;

struct doc_group {
  doc_group(asio::io_context& ioc, std::string doc_id, const shared_setup& s);
  ~doc_group();

  std::string id;
  strand_t strand;
  const shared_setup& setup;
  std::vector<std::unique_ptr<bench_client>> clients;
  std::unordered_map<std::string, size_t> index_of_client;
  std::vector<std::vector<int64_t>> send_ns; // [client][seq - 1]: first send
  doc_stats stats;
  uint64_t first_join_rev = UINT64_MAX; // lowest rev of a first join

  void add_client(std::string client_id, size_t url_index, uint64_t seed);
};

// What main reads from a client after the run (copied on the strand).
struct client_snapshot {
  std::string id;
  std::string node;
  bool joined = false;
  bool failed = false;
  std::string fail_reason;
  bool busy = false; // has an inflight or pending op
  uint64_t rev = 0;
  std::string text;
  bool light = false; // keeps no replica (--replicas)
};

class bench_client {
public:
  bench_client(doc_group& g, size_t index, std::string client_id,
               size_t url_index, uint64_t seed);
  ~bench_client();
  bench_client(const bench_client&) = delete;
  bench_client& operator=(const bench_client&) = delete;

  // All of these run on the group's strand.
  void start_connect();
  void start_generating();
  void stop_generating();
  void close(); // final: graceful close, no reconnect
  bool failed() const { return failed_; }
  bool joined() const { return phase_ == phase::joined; }
  bool skim_ops(std::string_view frame);
  bool busy() const { return inflight_.has_value() || pending_.has_value(); }
  uint64_t rev() const { return rev_; }
  // First-send time of the unacknowledged op; -1 when none is in flight.
  int64_t inflight_sent_ns() const;
  client_snapshot snapshot(bool with_text) const;

private:
  enum class phase {
    idle,
    connecting,
    handshaking,
    hello,
    joining,
    joined,
    closing,
    closed
  };
  struct connection;

  // connection
  void on_connected(uint64_t gen, const boost::system::error_code& ec);
  void on_handshake(uint64_t gen, const boost::system::error_code& ec);
  void read_next();
  void on_read(uint64_t gen, const boost::system::error_code& ec, size_t n);
  void on_disconnect(const std::string& reason);
  void schedule_reconnect();
  void send(std::string msg);
  void write_next();
  void do_close();

  // protocol
  void handle_frame(std::string_view frame);
  void handle_welcome(const rapidjson::Value& m);
  void handle_joined(const rapidjson::Value& m);
  void handle_ack(const rapidjson::Value& m);
  void handle_op(const rapidjson::Value& m);
  void handle_ops(const rapidjson::Value& m);
  // A committed op (an `op` frame or an entry of an `ops` batch).
  void handle_committed(const rapidjson::Value& m, bool batched);
  // An op of our own client id at the next rev: legal while resuming.
  void handle_own_op(uint64_t seq, uint64_t rev);
  // The latency of a remote op, when one of ours sent it.
  void record_remote_latency(std::string_view client, uint64_t seq);
  void handle_error(const rapidjson::Value& m);
  void acknowledge(uint64_t seq, uint64_t rev, bool count_latency);
  void send_join();
  void send_inflight();
  void promote_pending();
  void schedule_retry(const std::string& code);

  // editing
  void on_gen_timer(const boost::system::error_code& ec);
  void local_edit();
  ot::op random_edit();
  std::string random_text();

  void fail(const std::string& reason);
  void anomaly(const std::string& what, const std::string& detail = {});

  doc_group& g_;
  const size_t index_;
  const std::string id_;
  size_t url_index_;
  std::mt19937_64 rng_;
  asio::steady_timer gen_timer_;
  asio::steady_timer retry_timer_;
  asio::steady_timer reconnect_timer_;

  std::shared_ptr<connection> conn_;
  uint64_t conn_gen_ = 0; // handlers of older connections are ignored
  phase phase_ = phase::idle;
  std::deque<std::string> outq_;
  bool writing_ = false;
  bool close_after_write_ = false;
  int reconnect_attempts_ = 0;
  int retry_attempts_ = 0;
  std::string node_;
  std::string scratch_; // in-situ parse buffer

  // OT state (ot.js client)
  ot::rope text_; // stays empty in a light client
  bool light_ = false;
  bool skim_ = false; // a viewer that is no probe: skim_ops()
  uint64_t rev_ = 0;
  bool ever_joined_ = false;
  std::optional<ot::op> inflight_;
  uint64_t inflight_seq_ = 0;
  std::optional<ot::op> pending_;
  uint64_t next_seq_ = 1;

  // generation
  bool generating_ = false;
  int64_t period_ns_ = 0; // 0: saturation
  int64_t next_edit_ns_ = 0;

  bool failed_ = false;
  std::string fail_reason_;
};

} // namespace collab::bench
