// The JSON codec for every docs/PROTOCOL.md message: one decoder for client
// frames, one encoder per server message. RapidJSON in situ parsing, no
// exceptions on the hot path: a bad frame comes back as a decode_error.
//
// Thread-safety: stateless functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/core/committed_op.hpp"
#include "actors/core/errc.hpp"
#include "actors/ot/rope.hpp"
#include "actors/ot/text_unicode.hpp"

namespace collab::net {

enum class msg_type : uint8_t { hello, join, op, presence, leave, auth, ping };

struct client_message {
  msg_type type = msg_type::ping;
  std::string client; // hello
  int64_t v = 0; // hello
  bool batch = false; // hello: ops and presence in batches
  std::string doc; // join, op, presence, leave
  std::optional<uint64_t> rev; // join (optional), op (required: base rev)
  uint64_t seq = 0; // op
  ot::op op; // op (checked: valid and normalized)
  std::string presence; // presence: `data` as raw JSON text ("null")
  std::string token; // auth
};

struct decode_error {
  errc code = errc::bad_request;
  std::string message;
  std::string doc; // set when the frame named a valid doc
  std::optional<uint64_t> seq; // set for op frames that carried a seq
};

// Limits the decoder enforces (besides the frame limit, which the socket does).
struct decode_limits {
  size_t max_presence_bytes = 4096;
  // Components of an op: counted while the frame is parsed, so that a
  // frame of a million components is refused after the first few
  // thousand, not after building them all (too_large).
  size_t max_op_components = 20000;
};

// Decodes one text frame. Returns false and fills `err` on any problem:
// bad_request (not JSON, unknown type, missing or mistyped field, bad id),
// bad_op (the op is malformed or not normalized, or its text holds U+0000:
// documents never hold NUL, which PostgreSQL's jsonb cannot store),
// too_large (presence data over the limit, an op of more components than the
// limit: then `doc` and `seq` as peek_head finds them). Presence data may hold
// U+0000: it is forwarded, never stored.
bool decode(std::string_view frame, client_message& out, decode_error& err,
            const decode_limits& limits = {});

// What an answer to a frame that is not decoded (over the rate limit) can
// still carry: `doc` and, for an op, `seq`, when they are among the leading
// top-level members (before any array or object) within the first
// `max_bytes` bytes. Clients write type, doc, rev and seq before op. A
// bounded scan, no parse: the rest of the frame is never read.
struct frame_head {
  std::string doc; // empty unless a valid document id
  std::optional<uint64_t> seq; // only for type "op"
};
frame_head peek_head(std::string_view frame, size_t max_bytes = 512);

bool valid_doc_id(
  std::string_view id); // 1..200 of [A-Za-z0-9._~/-], no leading '/'
bool valid_client_id(std::string_view id); // 1..64 of [A-Za-z0-9_-]

// `batch`: the session asked for batched delivery and gets it.
std::string encode_welcome(std::string_view node, std::string_view session,
                           bool batch = false);
// `text` null: a resumed join (no text field).
std::string encode_joined(std::string_view doc, uint64_t rev,
                          const ot::rope* text);
std::string encode_op(std::string_view doc, uint64_t rev,
                      std::string_view client, uint64_t seq, const ot::op& op);
std::string encode_ack(std::string_view doc, uint64_t seq, uint64_t rev);
// Batched delivery: ops[from..] (consecutive revisions) as one frame.
std::string encode_ops(std::string_view doc,
                       const std::vector<committed_op>& ops, size_t from = 0);
struct presence_entry {
  std::string_view client;
  std::string_view user;
  std::string_view data_json; // raw JSON, "null" to clear
};
std::string encode_presences(std::string_view doc,
                             const std::vector<presence_entry>& entries);
// `data_json` is raw JSON ("null" to clear), inserted verbatim.
std::string encode_presence(std::string_view doc, std::string_view client,
                            std::string_view user, std::string_view data_json);
std::string encode_left(std::string_view doc);
std::string encode_pong();
// `retry_after_ms`: when the client may try again (an addition to v1 for
// the errors that say "later": unavailable, overloaded, rate_limited).
std::string encode_error(errc code, std::string_view message,
                         std::string_view doc = {},
                         std::optional<uint64_t> seq = std::nullopt,
                         std::optional<uint64_t> retry_after_ms = std::nullopt);

// Building blocks for other JSON answers (the HTTP document API):
// appends `utf8` as a quoted, escaped JSON string (REQUIRES: valid UTF-8),
// and an op as its compact JSON array (byte-identical to ot::op_to_json).
void append_json_string(std::string& out, std::string_view utf8);
void append_op_json(std::string& out, const ot::op& a);

} // namespace collab::net
