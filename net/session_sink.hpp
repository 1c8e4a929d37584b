// How a connection actor reaches its socket: frames go into the session's
// bounded write queue, close asks the session to close with a code after
// what is queued, consumed tells the session that a frame it handed over
// has been handled (input backpressure: a session stops reading while too
// much of its input waits to be handled). Implemented by ws_session; every
// call is thread-safe (they post onto the socket's strand) and never blocks.
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
  // Closes at once, dropping what waits to be written (the node needs the
  // memory back). By default as close().
  virtual void drop(uint16_t code, std::string reason) {
    close(code, std::move(reason));
  }
  // A frame of `bytes` bytes that the session handed over (frame_atom) has
  // been handled; call it once per frame, whatever became of the frame.
  virtual void consumed(uint64_t bytes) {
    (void)bytes; // nop: a sink without input accounting
  }
  // Bytes waiting to be written (for operators; approximate).
  virtual uint64_t queued_bytes() const = 0;
  // The peer's address, "ip:port".
  virtual const std::string& remote() const = 0;
};

} // namespace collab::net
