// How a connection actor reaches its socket: frames go into the session's
// bounded write queue, close asks the session to close with a code after
// what is queued. Implemented by ws_session; both calls are thread-safe
// (they post onto the socket's strand) and never block.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace collab::net {

class session_sink {
public:
  virtual ~session_sink() = default;
  virtual void send(std::shared_ptr<const std::string> frame) = 0;
  virtual void close(uint16_t code, std::string reason) = 0;
  // Bytes waiting to be written (for operators; approximate).
  virtual uint64_t queued_bytes() const = 0;
  // The peer's address, "ip:port".
  virtual const std::string& remote() const = 0;
};

} // namespace collab::net
