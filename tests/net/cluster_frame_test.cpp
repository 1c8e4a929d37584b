// Unit tests for net/cluster_frame: headers made by CAF's own serializer are
// read right (layout, byte order), a header announcing more than the limit
// or one CAF would refuse is refused however the stream is chunked, payload
// bytes are never taken for a header, and the field rules agree with CAF's
// caf::io::basp::valid on random headers.
#define CAF_SUITE net.cluster_frame
#include <caf/test/unit_test.hpp>

#include "net/cluster_frame.hpp"

#include <cstdint>
#include <random>
#include <vector>

#include <caf/binary_serializer.hpp>
#include <caf/io/basp/header.hpp>

using namespace collab::net;
namespace basp = caf::io::basp;

namespace {

using bytes = std::vector<uint8_t>;

// A header as CAF writes it on the wire.
bytes wire(const basp::header& hdr) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  auto copy = hdr;
  if (auto err = sink(copy))
    CAF_FAIL("cannot serialize a BASP header");
  return bytes(buf.begin(), buf.end());
}

basp::header make(basp::message_type op, uint32_t payload_len,
                  uint64_t operation_data = 0, uint64_t source = 0,
                  uint64_t dest = 0) {
  return basp::header{op, 0, payload_len, operation_data, source, dest};
}

// One frame: a header and its payload (filled with 0xff, which would read
// as an absurd header if the framer took payload for a header).
bytes frame(const basp::header& hdr) {
  auto out = wire(hdr);
  out.insert(out.end(), hdr.payload_len, uint8_t{0xff});
  return out;
}

bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

frame_verdict feed_whole(const bytes& stream, uint64_t max) {
  basp_framer f{max};
  return f.feed(stream.data(), stream.size());
}

frame_verdict feed_chunked(const bytes& stream, uint64_t max, size_t chunk) {
  basp_framer f{max};
  auto v = frame_verdict::ok;
  for (size_t i = 0; i < stream.size(); i += chunk)
    v = f.feed(stream.data() + i, std::min(chunk, stream.size() - i));
  return v;
}

constexpr uint64_t max = 1000;

const basp::header heartbeat = make(basp::message_type::heartbeat, 0);
const basp::header server_hs = make(basp::message_type::server_handshake, 40,
                                    /*version*/ 3);
const basp::header client_hs = make(basp::message_type::client_handshake, 20);
const basp::header direct = make(basp::message_type::direct_message, 300, 0, 7,
                                 9);

} // namespace

CAF_TEST(CAF writes a 32 byte header with a big - endian payload length) {
  auto w = wire(make(basp::message_type::direct_message, 0x01020304, 0, 7, 9));
  CAF_REQUIRE_EQUAL(w.size(), basp_header_size);
  CAF_CHECK_EQUAL(w[0], 0x02);
  CAF_CHECK_EQUAL(w[4], 0x01);
  CAF_CHECK_EQUAL(w[7], 0x04);
  uint32_t len = 0;
  CAF_CHECK_EQUAL(check_basp_header(w.data(), UINT32_MAX, len),
                  frame_verdict::ok);
  CAF_CHECK_EQUAL(len, 0x01020304u);
}

CAF_TEST(a stream of valid frames passes in any chunking) {
  auto stream = concat({frame(server_hs), frame(client_hs), frame(heartbeat),
                        frame(direct), frame(heartbeat), frame(direct)});
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{31}, size_t{32}, size_t{33},
                       size_t{500}, stream.size()})
    CAF_CHECK_EQUAL(feed_chunked(stream, max, chunk), frame_verdict::ok);
  basp_framer f{max};
  f.feed(stream.data(), stream.size());
  CAF_CHECK_EQUAL(f.frames(), 6u);
}

CAF_TEST(a header announcing 1 GiB is refused as soon as it is complete) {
  auto big = wire(make(basp::message_type::direct_message, 1u << 30, 0, 7, 9));
  basp_framer f{max};
  CAF_CHECK_EQUAL(f.feed(big.data(), 31), frame_verdict::ok); // incomplete
  CAF_CHECK_EQUAL(f.feed(big.data() + 31, 1), frame_verdict::too_large);
  CAF_CHECK_EQUAL(f.last_payload_len(), 1u << 30);
  // after valid frames too, and it stays refused
  auto stream = concat({frame(server_hs), frame(heartbeat), big});
  for (size_t chunk : {size_t{1}, size_t{13}, stream.size()})
    CAF_CHECK_EQUAL(feed_chunked(stream, max, chunk), frame_verdict::too_large);
  CAF_CHECK_EQUAL(f.feed(frame(heartbeat).data(), basp_header_size),
                  frame_verdict::too_large);
}

CAF_TEST(the limit is inclusive) {
  auto at = frame(make(basp::message_type::direct_message, max, 0, 7, 9));
  CAF_CHECK_EQUAL(feed_whole(at, max), frame_verdict::ok);
  auto over = wire(make(basp::message_type::direct_message, max + 1, 0, 7, 9));
  CAF_CHECK_EQUAL(feed_whole(over, max), frame_verdict::too_large);
}

CAF_TEST(headers CAF would refuse are refused) {
  uint32_t len = 0;
  auto unknown_op = wire(heartbeat);
  unknown_op[0] = 7;
  CAF_CHECK_EQUAL(check_basp_header(unknown_op.data(), max, len),
                  frame_verdict::malformed);
  unknown_op[0] = 0xff;
  CAF_CHECK_EQUAL(check_basp_header(unknown_op.data(), max, len),
                  frame_verdict::malformed);
  auto hb_payload = wire(make(basp::message_type::heartbeat, 10));
  CAF_CHECK_EQUAL(check_basp_header(hb_payload.data(), max, len),
                  frame_verdict::malformed);
  auto no_dest = wire(make(basp::message_type::direct_message, 10, 0, 7, 0));
  CAF_CHECK_EQUAL(check_basp_header(no_dest.data(), max, len),
                  frame_verdict::malformed);
  auto no_version = wire(make(basp::message_type::server_handshake, 10, 0));
  CAF_CHECK_EQUAL(check_basp_header(no_version.data(), max, len),
                  frame_verdict::malformed);
  // size is judged first: an oversized invalid header says too_large
  auto both = wire(make(basp::message_type::heartbeat, 1u << 30));
  CAF_CHECK_EQUAL(check_basp_header(both.data(), max, len),
                  frame_verdict::too_large);
}

CAF_TEST(payload bytes are skipped and never read as a header) {
  // payload of 0xff..: as a header it would be op 0xff, 4 GiB
  auto stream = concat({frame(direct), frame(heartbeat)});
  CAF_CHECK_EQUAL(feed_chunked(stream, max, 5), frame_verdict::ok);
}

CAF_TEST(field rules agree with CAF on random headers) {
  std::mt19937_64 rng{20261207};
  // fields are zero half the time: the rules are about zero and non-zero
  auto field = [&](uint64_t bound) -> uint64_t {
    return (rng() & 1) ? 0 : 1 + rng() % bound;
  };
  size_t valid = 0;
  for (int i = 0; i < 20000; ++i) {
    auto op = static_cast<basp::message_type>(rng() % 9);
    basp::header hdr{op,
                     static_cast<uint8_t>(rng() % 4),
                     static_cast<uint32_t>(field(2 * max)),
                     field(UINT64_MAX - 1),
                     field(UINT32_MAX),
                     field(UINT32_MAX)};
    auto w = wire(hdr);
    uint32_t len = 0;
    auto v = check_basp_header(w.data(), max, len);
    CAF_CHECK_EQUAL(len, hdr.payload_len);
    auto expected = hdr.payload_len > max ? frame_verdict::too_large
                    : basp::valid(hdr)    ? frame_verdict::ok
                                          : frame_verdict::malformed;
    CAF_CHECK_EQUAL(v, expected);
    valid += v == frame_verdict::ok;
  }
  CAF_CHECK_GREATER(valid, 1000u); // the sample covers both answers
}

CAF_TEST(random bytes never crash and chunking never changes the verdict) {
  std::mt19937 rng{7};
  for (int i = 0; i < 2000; ++i) {
    bytes stream(rng() % 300);
    for (auto& b : stream)
      b = static_cast<uint8_t>(rng() % 8 == 0 ? rng() : rng() % 8);
    auto whole = feed_whole(stream, max);
    CAF_CHECK_EQUAL(feed_chunked(stream, max, 1 + rng() % 40), whole);
  }
}
