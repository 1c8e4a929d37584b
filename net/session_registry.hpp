// The live WebSocket sessions of this node and what they cost it: so that a
// shutdown or drain can close every socket with 1001, wait until they are
// gone, and end what is left; so that operators can list and kick them
// (collabctl conns, kick); and so that the node's bounds on sockets hold
// (docs/DESIGN.md contract 6):
//
//  - open sockets per user (max-sockets-per-user): each socket holds a
//    user_slot, taken before the upgrade (none left: HTTP 429) and given
//    back when the socket closes;
//  - bytes queued for writing on all sockets together
//    (send-queue-node-bytes): over it, the sockets with the most queued are
//    closed with 1013, biggest first, until the rest fits;
//  - received but unprocessed input and queued output are charged to the
//    node's memory budget (actors/memory_budget.hpp).
//
// Thread-safety: the maps lock `mutex_`, the byte counts are atomics, sinks
// are called outside the lock. configure() is called before serving; until
// then nothing is bounded and nothing is charged.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/send.hpp>

#include "actors/inspection_protocol.hpp"
#include "actors/memory_budget.hpp"
#include "net/session_sink.hpp"

namespace collab::net {

class session_registry {
public:
  struct limits {
    uint64_t send_queue_node_bytes = std::numeric_limits<uint64_t>::max();
    uint64_t max_sockets_per_user = std::numeric_limits<uint64_t>::max();
  };

  // One open socket of a user; gives its slot back when released or
  // destroyed. Movable; an empty slot (no user) is false. It points at its
  // user's entry of the registry (which lives while the user has a slot)
  // rather than keeping a copy of the name: every socket holds one.
  class user_slot {
  public:
    user_slot() = default;
    user_slot(user_slot&& other) noexcept { *this = std::move(other); }
    user_slot& operator=(user_slot&& other) noexcept;
    ~user_slot() { release(); }
    void release();
    explicit operator bool() const { return reg_ != nullptr; }

  private:
    friend class session_registry;
    using user_entry = std::pair<const std::string, uint64_t>;
    user_slot(session_registry* reg, user_entry* user)
        : reg_(reg), user_(user) {
      // nop
    }
    session_registry* reg_ = nullptr;
    user_entry* user_ = nullptr; // in reg_->users_
  };

  // REQUIRES: before serving. `budget` may be null (nothing is charged).
  void configure(std::shared_ptr<memory_budget> budget, limits lim);

  void add(const void* key, std::weak_ptr<session_sink> s,
           inspectable_connection conn, std::string id);
  void remove(const void* key);
  size_t size() const;
  // Asks every live session to close with `code`.
  void close_all(uint16_t code, const std::string& reason);
  std::vector<inspectable_connection> connections() const;
  // The connection actor of session `id`, or a null handle.
  inspectable_connection find(const std::string& id) const;
  // Ends every connection actor still alive (their sockets are gone).
  void kill_all();

  // A slot for one more socket of `user`; an empty one when the user has
  // max-sockets-per-user sockets open on this node already.
  user_slot acquire_user(const std::string& user);
  size_t sockets_of(const std::string& user) const;

  // Input handed to connection actors and not yet handled, node-wide.
  void input_received(uint64_t n);
  void input_consumed(uint64_t n);
  // True when the node is over its memory budget: a socket with input still
  // unprocessed waits before it reads more.
  bool memory_tight() const { return budget_ && budget_->over(); }

  // Bytes queued for writing, node-wide.
  void output_queued(uint64_t n);
  void output_released(uint64_t n);
  // When the node's queued bytes are over send-queue-node-bytes, closes the
  // sessions with the most queued (1013, queue dropped), biggest first,
  // until what stays queued fits.
  void enforce_send_budget();

  uint64_t input_bytes() const { return input_.load(); }
  uint64_t queued_bytes() const { return queued_.load(); }
  // Appends the gauges of this registry and the memory budget to /metrics.
  void render_metrics(std::string& out) const;

private:
  struct entry {
    std::weak_ptr<session_sink> sink;
    inspectable_connection conn;
    std::string id;
    bool shed = false; // closed for the node's send budget, not yet gone
  };
  void release_user(user_slot::user_entry* user);

  // Constant after configure().
  std::shared_ptr<memory_budget> budget_;
  limits limits_;

  std::atomic<uint64_t> input_{0};
  std::atomic<uint64_t> queued_{0};

  mutable std::mutex mutex_;
  std::unordered_map<const void*, entry> sessions_;
  // Open sockets per sub; a user_slot points at its entry (nodes of an
  // unordered_map stay where they are).
  std::unordered_map<std::string, uint64_t> users_;
};

} // namespace collab::net
