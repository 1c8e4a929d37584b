// The framing of CAF 0.17.6's cluster protocol (BASP) as the cluster tunnel
// sees it, so that a frame is judged before CAF reads it: CAF allocates
// whatever a header announces (caf/io/basp/header.hpp), the tunnel closes
// the connection instead when a header announces more than the configured
// maximum, or is one CAF would refuse anyway.
//
// A BASP stream is a sequence of frames: a 32-byte header, then
// `payload_len` bytes of payload (none for a heartbeat). Integers are
// big-endian (CAF's binary serializer):
//
//   0    1     3       4             8                16             24 32
//   +----+-----+-------+-------------+----------------+--------------+------------+
//   | op | pad | flags | payload_len | operation_data | source_actor |
//   dest_actor |
//   +----+-----+-------+-------------+----------------+--------------+------------+
//
// Pure: bytes in, a verdict out; no I/O, no allocation (a fuzz target feeds
// it arbitrary bytes).
//
// Thread-safety: none; one framer per direction of one connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace collab::net {

constexpr size_t basp_header_size = 32;

enum class frame_verdict : uint8_t {
  ok, // everything so far is acceptable (a frame may be incomplete)
  too_large, // a header announces more payload than allowed
  malformed, // a header CAF would refuse (unknown operation, bad fields)
};

const char* to_string(frame_verdict v);

// Judges one complete header; `payload_len` receives what it announces.
frame_verdict check_basp_header(const uint8_t* header, uint64_t max_payload,
                                uint32_t& payload_len);

class basp_framer {
public:
  explicit basp_framer(uint64_t max_payload) : max_payload_(max_payload) {
    // nop
  }

  // Consumes the next `n` bytes of the stream. Once a header is refused,
  // every later call returns that refusal.
  frame_verdict feed(const uint8_t* data, size_t n);

  // The payload length the last complete header announced.
  uint32_t last_payload_len() const { return last_payload_len_; }

  // Complete headers accepted so far.
  uint64_t frames() const { return frames_; }

private:
  uint64_t max_payload_;
  std::array<uint8_t, basp_header_size> header_{};
  size_t header_fill_ = 0; // bytes of the current header seen
  uint64_t payload_left_ = 0; // bytes of the current payload still to come
  uint32_t last_payload_len_ = 0;
  uint64_t frames_ = 0;
  frame_verdict verdict_ = frame_verdict::ok;
};

} // namespace collab::net
