// The encoders of net/codec.hpp: one per server message, docs/PROTOCOL.md
// "Server to client". Each appends to one std::string reserved up front,
// with the escaper of net/json_writer.hpp. The joined text is copied out of
// the rope straight into the output and escaped there in place.
//
// Thread-safety: stateless functions; safe from any thread.
#include "net/codec.hpp"

#include "net/json_writer.hpp"

namespace collab::net {

using json::append_string;
using json::append_string_sanitized;
using json::append_u64;
using json::escape_in_place;

void append_json_string(std::string& out, std::string_view utf8) {
  append_string(out, utf8);
}

void append_op_json(std::string& out, const ot::op& a) {
  out += '[';
  bool first = true;
  for (const auto& c : a) {
    if (!first)
      out += ',';
    first = false;
    switch (c.k) {
      case ot::component::kind::skip: append_u64(out, c.n); break;
      case ot::component::kind::insert: append_string(out, c.text); break;
      case ot::component::kind::del:
        out.append("{\"d\":");
        if (c.has_text)
          append_string(out, c.text);
        else
          append_u64(out, c.n);
        out += '}';
        break;
    }
  }
  out += ']';
}

std::string encode_welcome(std::string_view node, std::string_view session,
                           bool batch) {
  std::string out;
  out.reserve(64 + node.size() + session.size());
  out.append("{\"type\":\"welcome\",\"node\":");
  append_string_sanitized(out, node);
  out.append(",\"session\":");
  append_string_sanitized(out, session);
  out.append(batch ? ",\"v\":1,\"batch\":true}" : ",\"v\":1}");
  return out;
}

std::string encode_joined(std::string_view doc, uint64_t rev,
                          const ot::rope* text) {
  std::string out;
  // Room for the text plus some escapes (newlines are common), so the
  // in-place escaping usually does not reallocate.
  const size_t text_bytes = text != nullptr ? text->bytes() : 0;
  out.reserve(64 + doc.size() + text_bytes + text_bytes / 8);
  out.append("{\"type\":\"joined\",\"doc\":");
  append_string(out, doc);
  out.append(",\"rev\":");
  append_u64(out, rev);
  if (text != nullptr) {
    out.append(",\"text\":\"");
    const size_t start = out.size();
    text->append_to(out);
    escape_in_place(out, start);
    out += '"';
  }
  out += '}';
  return out;
}

namespace {

size_t op_bytes_estimate(const ot::op& op) {
  size_t bytes = 2;
  for (const auto& c : op)
    bytes += c.text.size() + 24;
  return bytes;
}

// `"rev":N,"client":C,"seq":S,"op":OP`: the members of an op frame and of an
// entry of an ops frame.
void append_op_members(std::string& out, uint64_t rev, std::string_view client,
                       uint64_t seq, const ot::op& op) {
  out.append("\"rev\":");
  append_u64(out, rev);
  out.append(",\"client\":");
  append_string(out, client);
  out.append(",\"seq\":");
  append_u64(out, seq);
  out.append(",\"op\":");
  append_op_json(out, op);
}

} // namespace

std::string encode_op(std::string_view doc, uint64_t rev,
                      std::string_view client, uint64_t seq, const ot::op& op) {
  std::string out;
  out.reserve(64 + doc.size() + client.size() + op_bytes_estimate(op));
  out.append("{\"type\":\"op\",\"doc\":");
  append_string(out, doc);
  out += ',';
  append_op_members(out, rev, client, seq, op);
  out += '}';
  return out;
}

std::string encode_ops(std::string_view doc,
                       const std::vector<committed_op>& ops, size_t from) {
  size_t bytes = 48 + doc.size();
  for (size_t i = from; i < ops.size(); ++i)
    bytes += 48 + ops[i].client.size() + op_bytes_estimate(ops[i].op);
  std::string out;
  out.reserve(bytes);
  out.append("{\"type\":\"ops\",\"doc\":");
  append_string(out, doc);
  out.append(",\"ops\":[");
  for (size_t i = from; i < ops.size(); ++i) {
    if (i != from)
      out += ',';
    out += '{';
    auto& c = ops[i];
    append_op_members(out, c.rev, c.client, c.seq, c.op);
    out += '}';
  }
  out.append("]}");
  return out;
}

std::string encode_ack(std::string_view doc, uint64_t seq, uint64_t rev) {
  std::string out;
  out.reserve(64 + doc.size());
  out.append("{\"type\":\"ack\",\"doc\":");
  append_string(out, doc);
  out.append(",\"seq\":");
  append_u64(out, seq);
  out.append(",\"rev\":");
  append_u64(out, rev);
  out += '}';
  return out;
}

namespace {

// `"client":C,"user":U,"data":X`: a presence frame's members and an entry of
// a presences frame.
void append_presence_members(std::string& out, std::string_view client,
                             std::string_view user,
                             std::string_view data_json) {
  if (data_json.empty())
    data_json = "null"; // never emit `"data":}`
  out.append("\"client\":");
  append_string(out, client);
  out.append(",\"user\":");
  append_string_sanitized(out, user);
  out.append(",\"data\":");
  out.append(data_json);
}

} // namespace

std::string encode_presence(std::string_view doc, std::string_view client,
                            std::string_view user, std::string_view data_json) {
  std::string out;
  out.reserve(64 + doc.size() + client.size() + user.size() + data_json.size());
  out.append("{\"type\":\"presence\",\"doc\":");
  append_string(out, doc);
  out += ',';
  append_presence_members(out, client, user, data_json);
  out += '}';
  return out;
}

std::string encode_presences(std::string_view doc,
                             const std::vector<presence_entry>& entries) {
  size_t bytes = 48 + doc.size();
  for (auto& e : entries)
    bytes += 40 + e.client.size() + e.user.size() + e.data_json.size();
  std::string out;
  out.reserve(bytes);
  out.append("{\"type\":\"presences\",\"doc\":");
  append_string(out, doc);
  out.append(",\"presence\":[");
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i != 0)
      out += ',';
    out += '{';
    append_presence_members(out, entries[i].client, entries[i].user,
                            entries[i].data_json);
    out += '}';
  }
  out.append("]}");
  return out;
}

std::string encode_left(std::string_view doc) {
  std::string out;
  out.reserve(32 + doc.size());
  out.append("{\"type\":\"left\",\"doc\":");
  append_string(out, doc);
  out += '}';
  return out;
}

std::string encode_pong() {
  return "{\"type\":\"pong\"}";
}

std::string encode_error(errc code, std::string_view message,
                         std::string_view doc, std::optional<uint64_t> seq,
                         std::optional<uint64_t> retry_after_ms) {
  std::string out;
  out.reserve(64 + message.size() + doc.size());
  out.append("{\"type\":\"error\",\"code\":\"");
  out.append(to_wire(code));
  out.append("\",\"message\":");
  append_string_sanitized(out, message);
  if (!doc.empty()) {
    out.append(",\"doc\":");
    append_string_sanitized(out, doc);
  }
  if (seq) {
    out.append(",\"seq\":");
    append_u64(out, *seq);
  }
  if (retry_after_ms) {
    out.append(",\"retry_after_ms\":");
    append_u64(out, *retry_after_ms);
  }
  out += '}';
  return out;
}

} // namespace collab::net
