// Error events of the document actor (docs/PROTOCOL.md, errors): each is
// counted; an `internal` one is logged with a correlation id that the
// message carries, so that an operator can find it.
//
// Thread-safety: runs inside the document actor's handlers only
// (new_correlation_id: any thread).
#include <random>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"
#include "actors/document_state.hpp"
#include "actors/metrics.hpp"

namespace collab::doc_actor {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
    .count();
}

std::string new_correlation_id() {
  // Random, so that ids from different nodes and restarts never collide.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(16, '0');
  auto bits = rng();
  for (auto& c : id) {
    c = hex[bits & 0xf];
    bits >>= 4;
  }
  return id;
}

void send_error_event(self_ptr self, const document_subscriber& to, errc code,
                      std::string message, const uint64_t* seq) {
  node_metrics().count_error(code);
  error_event e{self->state.doc, code, std::move(message), seq != nullptr,
                seq ? *seq : 0};
  self->send(to, std::move(e));
}

void send_error(self_ptr self, const document_subscriber& to, errc code,
                std::string message, const uint64_t* seq) {
  if (code == errc::internal) {
    auto id = new_correlation_id();
    spdlog::error("doc={} event=internal_error correlation={} message=\"{}\"",
                  self->state.doc, id, log_escape(message));
    message += " (correlation id " + id + ")";
  }
  send_error_event(self, to, code, std::move(message), seq);
}

} // namespace collab::doc_actor
