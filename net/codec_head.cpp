// peek_head (net/codec.hpp): the doc and seq of a frame that is not decoded
// (over the rate limit), from a bounded scan of its first bytes, no parse.
//
// Thread-safety: stateless; safe from any thread.
#include "net/codec.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace collab::net {

namespace {

// A cursor over the first bytes of a frame: every read fails past them, and
// a value counts only when it ends before them (a cut "seq":12 of 123 is
// not 12).
class head_scanner {
public:
  head_scanner(std::string_view frame, size_t max_bytes)
      : s_(frame.substr(0, std::min(frame.size(), max_bytes))) {}

  bool eat(char c) {
    if (peek() != c)
      return false;
    ++i_;
    return true;
  }

  char peek() {
    while (
      i_ < s_.size()
      && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
    return i_ < s_.size() ? s_[i_] : '\0';
  }

  // A string; `plain`: it holds no escape (then `body` is its text).
  bool string(std::string_view& body, bool& plain) {
    if (!eat('"'))
      return false;
    const size_t start = i_;
    plain = true;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') {
        body = s_.substr(start, i_ - 1 - start);
        return true;
      }
      if (c == '\\') {
        plain = false;
        ++i_;
      }
    }
    return false;
  }

  // A number, true, false or null.
  bool scalar(std::string_view& text) {
    peek();
    const size_t start = i_;
    while (i_ < s_.size()
           && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-'
               || s_[i_] == '+' || s_[i_] == '.'))
      ++i_;
    text = s_.substr(start, i_ - start);
    return !text.empty() && i_ < s_.size();
  }

private:
  std::string_view s_;
  size_t i_ = 0;
};

} // namespace

frame_head peek_head(std::string_view frame, size_t max_bytes) {
  head_scanner h(frame, max_bytes);
  std::optional<std::string_view> type, doc;
  std::optional<uint64_t> seq;
  if (!h.eat('{'))
    return {};
  do {
    std::string_view key, value;
    bool plain = false;
    if (!h.string(key, plain) || !plain || !h.eat(':'))
      break;
    const char c = h.peek();
    if (c == '"') {
      if (!h.string(value, plain))
        break;
      if (plain && key == "type" && !type)
        type = value;
      if (plain && key == "doc" && !doc)
        doc = value;
    } else if (c == '{' || c == '[' || c == '\0') {
      break; // nothing nested is read
    } else {
      if (!h.scalar(value))
        break;
      uint64_t n = 0;
      const auto r = std::from_chars(value.data(), value.data() + value.size(),
                                     n);
      if (key == "seq" && !seq && r.ec == std::errc{}
          && r.ptr == value.data() + value.size() && n > 0)
        seq = n;
    }
  } while (h.eat(','));
  frame_head out;
  if (doc && valid_doc_id(*doc))
    out.doc.assign(*doc);
  if (type == std::string_view("op"))
    out.seq = seq;
  return out;
}

} // namespace collab::net
