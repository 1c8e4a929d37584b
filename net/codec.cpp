// The JSON codec (net/codec.hpp): decoding of client frames, docs/PROTOCOL.md
// "Client to server". The encoders are in net/codec_encode.cpp, the escaper
// they share in net/json_writer.cpp, peek_head in net/codec_head.cpp.
//
// Decoding copies the frame into a reusable per-thread buffer and parses it
// in situ with RapidJSON. A guard handler between the reader and the DOM
// bounds the nesting depth (so hostile nesting cannot overflow the stack of
// the recursive reader) and refuses duplicate keys at every level.
// The DOM lives in a stack-buffer memory pool: a typical frame costs no heap
// allocation besides the strings copied into the client_message.
//
// Thread-safety: all functions are reentrant; the scratch buffers are
// thread_local.
#include "net/codec.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "actors/ot/op_json.hpp"
#include "net/json_writer.hpp"

namespace collab::net {

namespace {

namespace rj = rapidjson;
using json::utf8_valid;

// ---------------------------------------------------------------------------
// Identifier character classes

constexpr std::array<bool, 256> make_class(std::string_view extra) {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c)
    t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c)
    t[c] = true;
  for (int c = '0'; c <= '9'; ++c)
    t[c] = true;
  for (char c : extra)
    t[static_cast<unsigned char>(c)] = true;
  return t;
}

constexpr auto doc_chars = make_class("._~/-");
constexpr auto client_chars = make_class("_-");

// ---------------------------------------------------------------------------
// Decoding

using pool_allocator = rj::MemoryPoolAllocator<rj::CrtAllocator>;
using document
  = rj::GenericDocument<rj::UTF8<>, pool_allocator, pool_allocator>;
using reader = rj::GenericReader<rj::UTF8<>, rj::UTF8<>, pool_allocator>;

// The recursive reader is markedly faster than the iterative one, and safe
// here: guard_handler refuses the StartObject/StartArray event beyond
// max_depth, and the reader stops before it recurses any deeper. Encoding is
// validated over the whole frame before parsing (faster than the reader's
// kParseValidateEncodingFlag); what \u escapes produce is checked after.
constexpr unsigned parse_flags = rj::kParseInsituFlag;

// Deep enough for any sane presence payload, shallow enough that the
// recursive re-serialisation of `data` stays far from the stack limit.
constexpr int max_depth = 64;

// Objects up to this size are checked for duplicate keys pairwise; larger
// ones are sorted (so a 100k-key object cannot make us quadratic).
constexpr size_t pairwise_limit = 16;

struct key_ref {
  const char* data;
  rj::SizeType size;
  std::string_view view() const { return {data, size}; }
};

// Per-thread scratch reused across frames, so the steady state allocates
// nothing for the copy of the frame or the key bookkeeping.
struct scratch {
  std::string frame;
  std::vector<key_ref> keys;
  std::vector<size_t> object_starts;
  std::vector<std::string_view> sorted;
};

thread_local scratch tls_scratch;

// Scratch up to these sizes is kept for the next frame.
constexpr size_t keep_buffer_bytes = 256 * 1024;
constexpr size_t keep_keys = 4096;

// Forwards SAX events to the DOM, refusing too deep nesting, duplicate keys
// and an op of too many components. Keys point into the in-situ buffer, so
// they stay valid until the end.
class guard_handler {
public:
  guard_handler(document& doc, scratch& s, size_t max_op_components)
      : doc_(doc), s_(s), max_op_components_(max_op_components) {
    s_.keys.clear();
    s_.object_starts.clear();
  }

  const char* failure() const { return failure_; }
  errc failure_code() const { return failure_code_; }

  bool Null() { return element() && doc_.Null(); }
  bool Bool(bool b) { return element() && doc_.Bool(b); }
  bool Int(int i) { return element() && doc_.Int(i); }
  bool Uint(unsigned i) { return element() && doc_.Uint(i); }
  bool Int64(int64_t i) { return element() && doc_.Int64(i); }
  bool Uint64(uint64_t i) { return element() && doc_.Uint64(i); }
  bool Double(double d) { return element() && doc_.Double(d); }
  bool RawNumber(const char* s, rj::SizeType n, bool copy) {
    return element() && doc_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rj::SizeType n, bool copy) {
    return element() && doc_.String(s, n, copy);
  }

  bool StartObject() {
    if (!element() || !enter())
      return false;
    s_.object_starts.push_back(s_.keys.size());
    return doc_.StartObject();
  }
  bool Key(const char* s, rj::SizeType n, bool copy) {
    s_.keys.push_back({s, n});
    if (depth_ == 1)
      top_key_is_op_ = std::string_view(s, n) == "op";
    return doc_.Key(s, n, copy);
  }
  bool EndObject(rj::SizeType members) {
    --depth_;
    const size_t first = s_.object_starts.back();
    s_.object_starts.pop_back();
    const bool unique = keys_unique(first);
    s_.keys.resize(first);
    if (!unique) {
      failure_ = "duplicate key in a JSON object";
      return false;
    }
    return doc_.EndObject(members);
  }
  bool StartArray() {
    if (!element() || !enter())
      return false;
    if (depth_ == 2 && top_key_is_op_)
      in_op_ = true; // the top-level "op"
    return doc_.StartArray();
  }
  bool EndArray(rj::SizeType elements) {
    if (depth_ == 2)
      in_op_ = false;
    --depth_;
    return doc_.EndArray(elements);
  }

private:
  // A value starts: one more component when it is a direct child of "op".
  bool element() {
    if (!in_op_ || depth_ != 2 || ++op_components_ <= max_op_components_)
      return true;
    failure_ = "the op has more components than the limit";
    failure_code_ = errc::too_large;
    return false;
  }

  bool enter() {
    if (++depth_ > max_depth) {
      failure_ = "JSON nested too deeply";
      return false;
    }
    return true;
  }

  bool keys_unique(size_t first) {
    const size_t n = s_.keys.size() - first;
    const key_ref* k = s_.keys.data() + first;
    if (n <= pairwise_limit) {
      for (size_t i = 1; i < n; ++i)
        for (size_t j = 0; j < i; ++j)
          if (k[i].view() == k[j].view())
            return false;
      return true;
    }
    auto& v = s_.sorted;
    v.clear();
    for (size_t i = 0; i < n; ++i)
      v.push_back(k[i].view());
    std::sort(v.begin(), v.end());
    return std::adjacent_find(v.begin(), v.end()) == v.end();
  }

  document& doc_;
  scratch& s_;
  const size_t max_op_components_;
  int depth_ = 0;
  bool top_key_is_op_ = false; // the last key of the top-level object
  bool in_op_ = false; // inside the top-level "op" array
  size_t op_components_ = 0;
  const char* failure_ = nullptr;
  errc failure_code_ = errc::bad_request;
};

// The members a client frame may carry; unknown members are ignored so that
// clients may add fields (docs/PROTOCOL.md lets the server add some too).
struct frame_fields {
  const rj::Value* type = nullptr;
  const rj::Value* client = nullptr;
  const rj::Value* v = nullptr;
  const rj::Value* doc = nullptr;
  const rj::Value* rev = nullptr;
  const rj::Value* seq = nullptr;
  const rj::Value* op = nullptr;
  const rj::Value* data = nullptr;
  const rj::Value* token = nullptr;
  const rj::Value* batch = nullptr;
};

void collect_fields(const rj::Value& obj, frame_fields& f) {
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    const std::string_view k(it->name.GetString(), it->name.GetStringLength());
    const rj::Value* v = &it->value;
    switch (k.size()) {
      case 1:
        if (k == "v")
          f.v = v;
        break;
      case 2:
        if (k == "op")
          f.op = v;
        break;
      case 3:
        if (k == "doc")
          f.doc = v;
        else if (k == "rev")
          f.rev = v;
        else if (k == "seq")
          f.seq = v;
        break;
      case 4:
        if (k == "type")
          f.type = v;
        else if (k == "data")
          f.data = v;
        break;
      case 5:
        if (k == "token")
          f.token = v;
        else if (k == "batch")
          f.batch = v;
        break;
      case 6:
        if (k == "client")
          f.client = v;
        break;
      default: break;
    }
  }
}

std::string_view as_view(const rj::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

// Shapes a short, printable excerpt of client input for an error message;
// anything else is left out rather than echoed.
std::string quoted_if_printable(std::string_view s) {
  if (s.empty() || s.size() > 32)
    return {};
  for (char c : s)
    if (c < 0x20 || c > 0x7E)
      return {};
  std::string r = " '";
  r.append(s);
  r += '\'';
  return r;
}

// Decoding state for one frame: fills `out`/`err` and remembers what the
// error must carry (the doc and seq, once they were found valid).
class frame_decoder {
public:
  frame_decoder(client_message& out, decode_error& err,
                const decode_limits& limits)
      : out_(out), err_(err), limits_(limits) {}

  bool run(const rj::Value& root) {
    if (!root.IsObject())
      return fail(errc::bad_request, "a frame must be a JSON object");
    collect_fields(root, f_);
    if (f_.type == nullptr)
      return fail(errc::bad_request, "missing field 'type'");
    if (!f_.type->IsString())
      return fail(errc::bad_request, "field 'type' must be a string");
    const std::string_view type = as_view(*f_.type);
    if (type == "op")
      return op();
    if (type == "presence")
      return presence();
    if (type == "join")
      return join();
    if (type == "ping")
      return ping();
    if (type == "leave")
      return leave();
    if (type == "hello")
      return hello();
    if (type == "auth")
      return auth();
    return fail(errc::bad_request,
                "unknown message type" + quoted_if_printable(type));
  }

private:
  bool fail(errc code, std::string message) {
    err_.code = code;
    err_.message = std::move(message);
    return false;
  }

  bool missing(const char* field) {
    return fail(errc::bad_request,
                std::string("missing field '") + field + "'");
  }

  bool hello() {
    out_.type = msg_type::hello;
    if (f_.client == nullptr)
      return missing("client");
    if (!f_.client->IsString() || !valid_client_id(as_view(*f_.client)))
      return fail(errc::bad_request,
                  "field 'client' must be 1 to 64 characters of [A-Za-z0-9_-]");
    if (f_.v == nullptr)
      return missing("v");
    if (!f_.v->IsInt64())
      return fail(errc::bad_request, "field 'v' must be an integer");
    if (f_.batch != nullptr && !f_.batch->IsBool())
      return fail(errc::bad_request, "field 'batch' must be a boolean");
    out_.client.assign(as_view(*f_.client));
    out_.v = f_.v->GetInt64();
    out_.batch = f_.batch != nullptr && f_.batch->GetBool();
    return true;
  }

  // Reads the required `doc`; once valid, errors carry it.
  bool read_doc() {
    if (f_.doc == nullptr)
      return missing("doc");
    if (!f_.doc->IsString() || !valid_doc_id(as_view(*f_.doc)))
      return fail(
        errc::bad_request,
        "field 'doc' must be 1 to 200 characters of [A-Za-z0-9._~/-], "
        "not starting with '/'");
    out_.doc.assign(as_view(*f_.doc));
    err_.doc = out_.doc;
    return true;
  }

  bool read_rev() {
    if (!f_.rev->IsUint64())
      return fail(errc::bad_request,
                  "field 'rev' must be a non-negative integer");
    out_.rev = f_.rev->GetUint64();
    return true;
  }

  bool join() {
    out_.type = msg_type::join;
    if (!read_doc())
      return false;
    return f_.rev == nullptr || read_rev();
  }

  bool op() {
    out_.type = msg_type::op;
    if (!read_doc())
      return false;
    if (f_.seq == nullptr)
      return missing("seq");
    if (!f_.seq->IsUint64() || f_.seq->GetUint64() == 0)
      return fail(errc::bad_request, "field 'seq' must be an integer >= 1");
    out_.seq = f_.seq->GetUint64();
    err_.seq = out_.seq;
    if (f_.rev == nullptr)
      return missing("rev");
    if (!read_rev())
      return false;
    if (f_.op == nullptr)
      return missing("op");
    ot::status why = ot::op_from_json(*f_.op, out_.op);
    if (!why.empty())
      return fail(errc::bad_op, "malformed op: " + why);
    if (!ot::check(out_.op, &why))
      return fail(errc::bad_op, "invalid op: " + why);
    if (holds_nul(out_.op))
      return fail(
        errc::bad_op,
        "invalid op: text with U+0000 (NUL); documents cannot hold it");
    return true;
  }

  // Documents never hold NUL (decided once, here): an insert or a
  // `{"d":"text"}` with U+0000 is refused.
  static bool holds_nul(const ot::op& a) {
    for (const auto& c : a)
      if (!c.text.empty()
          && std::memchr(c.text.data(), '\0', c.text.size()) != nullptr)
        return true;
    return false;
  }

  bool presence() {
    out_.type = msg_type::presence;
    if (!read_doc())
      return false;
    if (f_.data == nullptr)
      return missing("data");
    if (f_.data->IsNull()) {
      out_.presence.assign("null");
      return true;
    }
    // Re-serialised compactly: the sender's whitespace is not forwarded, and
    // the limit applies to what the other sessions will receive.
    rj::StringBuffer buf;
    rj::Writer<rj::StringBuffer> w(buf);
    if (!f_.data->Accept(w))
      return fail(errc::bad_request, "field 'data' cannot be serialised");
    // RapidJSON turns a lone surrogate escape ("\udc00") into bytes that are
    // not UTF-8; never forward those to other sessions.
    if (!utf8_valid({buf.GetString(), buf.GetSize()}))
      return fail(errc::bad_request,
                  "field 'data' holds an invalid \\u escape");
    if (buf.GetSize() > limits_.max_presence_bytes)
      return fail(errc::too_large,
                  "presence data is larger than "
                    + std::to_string(limits_.max_presence_bytes) + " bytes");
    out_.presence.assign(buf.GetString(), buf.GetSize());
    return true;
  }

  bool leave() {
    out_.type = msg_type::leave;
    return read_doc();
  }

  bool auth() {
    out_.type = msg_type::auth;
    if (f_.token == nullptr)
      return missing("token");
    if (!f_.token->IsString() || f_.token->GetStringLength() == 0)
      return fail(errc::bad_request,
                  "field 'token' must be a non-empty string");
    // A JWT is printable ASCII (base64url and dots); anything else (e.g. a
    // lone surrogate escape, which decodes to bytes that are not UTF-8) is
    // refused here rather than carried further.
    auto token = as_view(*f_.token);
    for (unsigned char ch : token)
      if (ch < 0x21 || ch > 0x7e)
        return fail(errc::bad_request,
                    "field 'token' must be a JWT (printable ASCII)");
    out_.token.assign(token);
    return true;
  }

  bool ping() {
    out_.type = msg_type::ping;
    return true;
  }

  client_message& out_;
  decode_error& err_;
  const decode_limits& limits_;
  frame_fields f_;
};
void reset(client_message& m) {
  // clear() keeps capacity when the caller reuses one message per socket.
  m.type = msg_type::ping;
  m.client.clear();
  m.v = 0;
  m.doc.clear();
  m.rev.reset();
  m.seq = 0;
  m.op.clear();
  m.presence.clear();
  m.token.clear();
}

} // namespace

// ---------------------------------------------------------------------------

bool valid_doc_id(std::string_view id) {
  if (id.empty() || id.size() > 200 || id.front() == '/')
    return false;
  for (char c : id)
    if (!doc_chars[static_cast<unsigned char>(c)])
      return false;
  return true;
}

bool valid_client_id(std::string_view id) {
  if (id.empty() || id.size() > 64)
    return false;
  for (char c : id)
    if (!client_chars[static_cast<unsigned char>(c)])
      return false;
  return true;
}

bool decode(std::string_view frame, client_message& out, decode_error& err,
            const decode_limits& limits) {
  reset(out);
  err = decode_error{};
  // RapidJSON sizes are 32-bit; the socket's frame limit is far below this.
  if (frame.size() > (1u << 30)) {
    err.code = errc::too_large;
    err.message = "frame too large";
    return false;
  }

  if (!utf8_valid(frame)) {
    err.code = errc::bad_request;
    err.message = "frame is not valid UTF-8";
    return false;
  }

  scratch& s = tls_scratch;
  s.frame.assign(
    frame.data(),
    frame.size()); // in situ parsing needs a NUL-terminated, writable copy

  // Pools for the DOM and the reader's stack: small frames stay on the stack.
  char value_buffer[8192];
  char doc_stack_buffer[2048];
  char reader_stack_buffer[1024];
  pool_allocator value_alloc(value_buffer, sizeof value_buffer);
  pool_allocator doc_stack_alloc(doc_stack_buffer, sizeof doc_stack_buffer);
  pool_allocator reader_stack_alloc(reader_stack_buffer,
                                    sizeof reader_stack_buffer);
  document doc(&value_alloc, 1024, &doc_stack_alloc);

  rj::InsituStringStream stream(s.frame.data());
  reader rd(&reader_stack_alloc, 256);
  guard_handler guard(doc, s, limits.max_op_components);
  auto generate = [&](document& d) {
    (void)d;
    return !rd.Parse<parse_flags>(stream, guard).IsError();
  };
  doc.Populate(generate);

  bool ok;
  if (rd.HasParseError()) {
    err.code = errc::bad_request;
    if (guard.failure() != nullptr) {
      err.code = guard.failure_code();
      err.message = guard.failure();
      if (err.code == errc::too_large) {
        err.message += " of " + std::to_string(limits.max_op_components);
        auto head = peek_head(frame);
        err.doc = std::move(head.doc);
        err.seq = head.seq;
      }
    } else {
      err.message = std::string("not valid JSON: ")
                    + rj::GetParseError_En(rd.GetParseErrorCode())
                    + " (at byte " + std::to_string(rd.GetErrorOffset()) + ")";
    }
    ok = false;
  } else if (stream.Tell() != frame.size()) {
    // The reader stops at a NUL byte; anything after it is garbage.
    err.code = errc::bad_request;
    err.message = "not valid JSON: NUL byte after the value (at byte "
                  + std::to_string(stream.Tell()) + ")";
    ok = false;
  } else {
    ok = frame_decoder(out, err, limits).run(doc);
  }

  // Do not let one huge frame pin its memory to this thread forever.
  if (s.frame.capacity() > keep_buffer_bytes)
    std::string().swap(s.frame);
  if (s.keys.capacity() > keep_keys) {
    std::vector<key_ref>().swap(s.keys);
    std::vector<std::string_view>().swap(s.sorted);
  }
  return ok;
}

} // namespace collab::net
