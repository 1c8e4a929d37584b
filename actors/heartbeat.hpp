// A liveness probe of the actor threads (docs/DESIGN.md contract 6): one actor
// ticks every interval() and stores the time of its last tick in a shared
// atomic. When no actor thread is free to run it (a long op, a blocking
// call, a flood), the tick waits in the queue and the time ages; check()
// reports a stall once it is older than `stall`, and /healthz answers 503
// with that reason until the threads run again.
//
// Times come from the actor system's clock (steady_clock; the test clock in
// deterministic tests), so the probe can be driven without real time.
//
// Thread-safety: heartbeat_monitor is lock-free: the actor writes, any
// thread reads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

// The heartbeat actor's own tick (a self-message).
CAF_ADD_ATOM(collab, collab, heartbeat_tick_atom, "hbtick")

namespace collab {

class heartbeat_monitor {
public:
  using clock = caf::actor_clock::clock_type;

  // `now`: the time of the first tick (the probe starts healthy).
  heartbeat_monitor(std::chrono::milliseconds stall, clock::time_point now);

  // Called by the heartbeat actor on every tick.
  void beat(clock::time_point now);

  // "" while the last tick is at most `stall` old, else the reason.
  std::string check(clock::time_point now) const;
  std::string check() const { return check(clock::now()); }

  std::chrono::milliseconds stall() const { return stall_; }
  // Several ticks per stall period, at most 250 ms, at least 10 ms apart.
  std::chrono::milliseconds interval() const;

private:
  const std::chrono::milliseconds stall_;
  std::atomic<int64_t> last_ns_; // clock::time_point, in ns since its epoch
};

using heartbeat_actor = caf::typed_actor<caf::reacts_to<heartbeat_tick_atom>>;

// Spawns the ticking actor; it runs until it gets an exit message.
heartbeat_actor spawn_heartbeat(caf::actor_system& sys,
                                std::shared_ptr<heartbeat_monitor> monitor);

} // namespace collab
