// The heartbeat actor and its monitor (actors/heartbeat.hpp).
#include "actors/heartbeat.hpp"

#include <algorithm>

#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace collab {
namespace {

int64_t ns_of(heartbeat_monitor::clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           t.time_since_epoch())
    .count();
}

} // namespace

heartbeat_monitor::heartbeat_monitor(std::chrono::milliseconds stall,
                                     clock::time_point now)
    : stall_(stall), last_ns_(ns_of(now)) {
  // nop
}

void heartbeat_monitor::beat(clock::time_point now) {
  last_ns_.store(ns_of(now), std::memory_order_relaxed);
}

std::string heartbeat_monitor::check(clock::time_point now) const {
  auto age = std::chrono::nanoseconds(
    ns_of(now) - last_ns_.load(std::memory_order_relaxed));
  if (age <= stall_)
    return {};
  // Rounded up: a stall just over 100 ms is not reported as "100 ms".
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(age).count();
  return "actor threads stalled: no heartbeat for " + std::to_string(ms)
         + " ms (limit " + std::to_string(stall_.count()) + " ms)";
}

std::chrono::milliseconds heartbeat_monitor::interval() const {
  return std::clamp(stall_ / 5, std::chrono::milliseconds(10),
                    std::chrono::milliseconds(250));
}

heartbeat_actor spawn_heartbeat(caf::actor_system& sys,
                                std::shared_ptr<heartbeat_monitor> monitor) {
  return sys.spawn(
    [monitor](heartbeat_actor::pointer self) -> heartbeat_actor::behavior_type {
      monitor->beat(self->clock().now());
      self->delayed_send(self, monitor->interval(), heartbeat_tick_atom_v);
      return {
        [=](heartbeat_tick_atom) {
          monitor->beat(self->clock().now());
          self->delayed_send(self, monitor->interval(), heartbeat_tick_atom_v);
        },
      };
    });
}

} // namespace collab
