// Private building blocks of transform/compose/normalize, mirroring the two
// helpers of ot-text-unicode 4.0.0 (dist/type.js) one to one, because their
// quirks decide the exact output:
//
//   appender  = makeAppend: drops empty components, merges a component into
//               the previous one of the same kind; two deletes stay {d:"text"}
//               only when both carry text, otherwise become {d:n}. Unlike
//               the reference (whose numbers are doubles), it never merges
//               past max_count.
//   taker     = makeTake: reads an op front to back in pieces of at most n
//               code points; past the end it yields skips forever. An
//               "indivisible" kind is returned whole even when longer than n.
//
// Thread-safety: single-threaded helpers over caller-owned ops.
#pragma once

#include <algorithm>
#include <cstdint>

#include "actors/ot/text_unicode.hpp"
#include "actors/ot/utf8.hpp"

namespace collab::ot::detail {

inline bool is_empty(const component& c) {
  return c.k == component::kind::insert ? c.text.empty() : c.n == 0;
}

// a + b, or UINT64_MAX when that would wrap.
inline uint64_t add_saturated(uint64_t a, uint64_t b) {
  return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

// True when merging `c` into `last` keeps the count within max_count.
inline bool fits_merged(const component& last, const component& c) {
  return last.n <= max_count && c.n <= max_count - last.n;
}

class appender {
public:
  explicit appender(op& out) : out_(out) {
    // nop
  }

  void push(component c) {
    if (is_empty(c))
      return;
    // Two parts whose sum would not fit stay apart: the same meaning, never
    // a wrapped count (only reachable from ops that fail check()).
    if (out_.empty() || out_.back().k != c.k || !fits_merged(out_.back(), c)) {
      out_.push_back(std::move(c));
      return;
    }
    component& last = out_.back();
    last.n += c.n;
    switch (c.k) {
      case component::kind::skip: break;
      case component::kind::insert: last.text += c.text; break;
      case component::kind::del:
        if (last.has_text && c.has_text) {
          last.text += c.text; // keeps the op invertible
        } else {
          last.has_text = false; // a counted delete loses the text
          last.text.clear();
        }
        break;
    }
  }

private:
  op& out_;
};

// Drops one trailing skip (the appender never leaves two in a row).
inline void trim(op& a) {
  if (!a.empty() && a.back().k == component::kind::skip)
    a.pop_back();
}

enum class indivisible : uint8_t { none, insert, del };

class taker {
public:
  explicit taker(const op& a) : op_(a) {
    // nop
  }

  const component* peek() const {
    return idx_ < op_.size() ? &op_[idx_] : nullptr;
  }

  // The next piece of at most n code points (whole if `keep` is its kind).
  component take(uint64_t n, indivisible keep) {
    component out;
    take_impl(n, false, keep, out);
    return out;
  }

  // The rest of the current component; false at the end of the op.
  bool take_all(component& out) {
    return take_impl(0, true, indivisible::none, out);
  }

private:
  bool take_impl(uint64_t n, bool whole, indivisible keep, component& out) {
    if (idx_ == op_.size()) {
      if (whole)
        return false;
      out = component::skip(n); // the op retains the rest of the document
      return true;
    }
    const component& c = op_[idx_];
    uint64_t rest = c.n - offset_;
    switch (c.k) {
      case component::kind::skip:
        if (whole || rest <= n) {
          out = component::skip(rest);
          next();
        } else {
          out = component::skip(n);
          offset_ += n;
        }
        break;
      case component::kind::insert:
        if (whole || keep == indivisible::insert || rest <= n) {
          out = component::insert(c.text.substr(byte_offset_));
          next();
        } else {
          size_t end = utf8_advance(c.text, byte_offset_, n);
          out = component::insert(
            c.text.substr(byte_offset_, end - byte_offset_));
          offset_ += n;
          byte_offset_ = end;
        }
        break;
      case component::kind::del:
        if (whole || keep == indivisible::del || rest <= n) {
          out = c.has_text ? component::del_text(c.text.substr(byte_offset_))
                           : component::del(rest);
          next();
        } else if (c.has_text) {
          size_t end = utf8_advance(c.text, byte_offset_, n);
          out = component::del_text(
            c.text.substr(byte_offset_, end - byte_offset_));
          offset_ += n;
          byte_offset_ = end;
        } else {
          out = component::del(n);
          offset_ += n;
        }
        break;
    }
    return true;
  }

  void next() {
    ++idx_;
    offset_ = 0;
    byte_offset_ = 0;
  }

  const op& op_;
  size_t idx_ = 0;
  uint64_t offset_ = 0; // code points consumed of op_[idx_]
  size_t byte_offset_
    = 0; // the same, in bytes of its text (insert / text delete)
};

} // namespace collab::ot::detail
