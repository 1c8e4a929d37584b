// The connection actor's token-expiry timer (docs/PROTOCOL.md:
// token_expired, then close 4001).
//
// The timer is a request of this actor to itself that it never answers: its
// timeout is the expiry. CAF cancels the timeouts of an actor that
// terminates, so a closed connection is freed at once (a delayed_send would
// keep the actor in memory until the token expired). One timer is pending
// at a time: arming a new one (auth) answers the old request and cancels its
// timeout. It fires at the expiry or after max_expiry_wait_ms, whichever is
// first, and is armed again when early, so no `exp` can overflow the clock.
//
// Thread-safety: runs inside the connection actor's handlers only.
#include <algorithm>
#include <chrono>
#include <limits>

#include <caf/all.hpp>

#include "net/connection_state.hpp"

namespace collab::net::conn {
namespace {

// Milliseconds until exp + leeway, saturated (exp is whatever the token says).
int64_t ms_until_expiry(const connection_state& st) {
  constexpr auto max = std::numeric_limits<int64_t>::max();
  constexpr auto min = std::numeric_limits<int64_t>::min();
  int64_t deadline_s = 0;
  if (__builtin_add_overflow(st.claims.exp, st.ctx->cfg.jwt_leeway,
                             &deadline_s))
    deadline_s = st.claims.exp > 0 ? max : min;
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  int64_t deadline_ms = 0;
  if (__builtin_mul_overflow(deadline_s, int64_t{1000}, &deadline_ms))
    deadline_ms = deadline_s > 0 ? max : min;
  int64_t left = 0;
  if (__builtin_sub_overflow(deadline_ms, now_ms, &left))
    left = deadline_ms > 0 ? max : min;
  return left;
}

// Answers the pending timer's request (its response handler goes away).
void retire_expiry_timer(connection_state& st) {
  if (st.expiry_timer.pending())
    st.expiry_timer.deliver(true);
  st.expiry_timer = {};
}

void on_expiry_timer(self_ptr self, uint64_t generation) {
  auto& st = self->state;
  if (generation != st.expiry_generation || st.closing)
    return;
  st.expiry_timer = {}; // its request timed out
  st.expiry_request = caf::message_id{};
  if (ms_until_expiry(st) > 0) {
    arm_expiry(self); // fired early: max_expiry_wait_ms
    return;
  }
  send_error(self, errc::token_expired, "the token expired");
  close_socket(self, 4001, "token expired");
}

} // namespace

void arm_expiry(self_ptr self) {
  auto& st = self->state;
  if (st.expiry_request.is_response()) // a timer is pending
    self->clock().cancel_request_timeout(self, st.expiry_request);
  retire_expiry_timer(st);
  auto wait = std::clamp<int64_t>(ms_until_expiry(st), 1, max_expiry_wait_ms);
  auto generation = ++st.expiry_generation;
  auto handle = self->request(caf::actor_cast<caf::actor>(self),
                              std::chrono::milliseconds(wait), expire_atom_v);
  st.expiry_request = handle.id().response_id();
  handle.then([](bool) { /* retired by a newer timer */ },
              [=](caf::error&) { on_expiry_timer(self, generation); });
}

caf::result<bool> on_expire_request(self_ptr self) {
  // The expiry timer's request (arm_expiry): kept unanswered; an older one
  // still pending is retired.
  auto& st = self->state;
  retire_expiry_timer(st);
  st.expiry_timer = self->make_response_promise<bool>();
  return st.expiry_timer;
}

} // namespace collab::net::conn
