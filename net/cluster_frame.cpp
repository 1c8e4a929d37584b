#include "net/cluster_frame.hpp"

#include <algorithm>

namespace collab::net {
namespace {

// caf::io::basp::message_type
enum basp_op : uint8_t {
  server_handshake = 0x00,
  client_handshake = 0x01,
  direct_message = 0x02,
  routed_message = 0x03,
  monitor_message = 0x04,
  down_message = 0x05,
  heartbeat = 0x06,
};

uint64_t big_endian(const uint8_t* p, size_t n) {
  uint64_t x = 0;
  for (size_t i = 0; i < n; ++i)
    x = (x << 8) | p[i];
  return x;
}

// The rules of caf::io::basp::valid (libcaf_io/src/io/basp/header.cpp at
// 0.17.6): a header CAF would drop the connection for never reaches it.
bool valid_fields(uint8_t op, uint32_t payload_len, uint64_t operation_data,
                  uint64_t source, uint64_t dest) {
  switch (op) {
    case server_handshake: return operation_data != 0;
    case client_handshake: return source == 0 && dest == 0;
    case direct_message:
    case routed_message: return dest != 0 && payload_len != 0;
    case monitor_message: return payload_len != 0 && operation_data == 0;
    case down_message:
      return source != 0 && dest == 0 && payload_len != 0
             && operation_data == 0;
    case heartbeat:
      return source == 0 && dest == 0 && payload_len == 0
             && operation_data == 0;
    default: return false;
  }
}

} // namespace

const char* to_string(frame_verdict v) {
  switch (v) {
    case frame_verdict::ok: return "ok";
    case frame_verdict::too_large: return "too_large";
    case frame_verdict::malformed: return "malformed";
  }
  return "?";
}

frame_verdict check_basp_header(const uint8_t* h, uint64_t max_payload,
                                uint32_t& payload_len) {
  payload_len = static_cast<uint32_t>(big_endian(h + 4, 4));
  // Size first: the verdict that matters for memory.
  if (payload_len > max_payload)
    return frame_verdict::too_large;
  if (!valid_fields(h[0], payload_len, big_endian(h + 8, 8),
                    big_endian(h + 16, 8), big_endian(h + 24, 8)))
    return frame_verdict::malformed;
  return frame_verdict::ok;
}

frame_verdict basp_framer::feed(const uint8_t* data, size_t n) {
  while (n > 0 && verdict_ == frame_verdict::ok) {
    if (payload_left_ > 0) {
      auto k = static_cast<size_t>(std::min<uint64_t>(payload_left_, n));
      payload_left_ -= k;
      data += k;
      n -= k;
      continue;
    }
    auto k = std::min(n, basp_header_size - header_fill_);
    std::copy(data, data + k, header_.data() + header_fill_);
    header_fill_ += k;
    data += k;
    n -= k;
    if (header_fill_ < basp_header_size)
      break;
    header_fill_ = 0;
    verdict_ = check_basp_header(header_.data(), max_payload_,
                                 last_payload_len_);
    if (verdict_ == frame_verdict::ok) {
      ++frames_;
      payload_left_ = last_payload_len_;
    }
  }
  return verdict_;
}

} // namespace collab::net
