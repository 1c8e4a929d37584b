// text-unicode: components, check (checkOp), normalize, apply,
// transform_position and lengths. transform and compose are in transform.cpp.
// Semantics follow ot-text-unicode 4.0.0 exactly, except that apply refuses a
// delete running past the end of the document (the reference truncates it).
//
// Thread-safety: pure functions.
#include "actors/ot/text_unicode.hpp"

#include <algorithm>
#include <limits>

#include "actors/ot/op_cursor.hpp"
#include "actors/ot/utf8.hpp"

namespace collab::ot {

using kind = component::kind;

component component::skip(uint64_t n) {
  component c;
  c.k = kind::skip;
  c.n = n;
  return c;
}

component component::insert(std::string utf8) {
  component c;
  c.k = kind::insert;
  c.n = utf8_count(utf8);
  c.text = std::move(utf8);
  return c;
}

component component::del(uint64_t n) {
  component c;
  c.k = kind::del;
  c.n = n;
  return c;
}

component component::del_text(std::string utf8) {
  component c;
  c.k = kind::del;
  c.n = utf8_count(utf8);
  c.text = std::move(utf8);
  c.has_text = true;
  return c;
}

bool operator==(const component& a, const component& b) {
  return a.k == b.k && a.n == b.n && a.has_text == b.has_text
         && a.text == b.text;
}

namespace {

bool refuse(status* why, const char* reason) {
  if (why)
    *why = reason;
  return false;
}

// Code points of the document an op reads (skips + deletes), saturating so a
// hostile op cannot wrap around to a small number.
uint64_t consumed_length(const op& a) {
  uint64_t total = 0;
  for (const component& c : a)
    if (c.k != kind::insert)
      total = detail::add_saturated(total, c.n);
  return total;
}

} // namespace

bool check(const op& a, status* why) {
  // checkOp only refuses empty components, adjacent skips and a trailing
  // skip; adjacent inserts or deletes are accepted (and kept by transform).
  // Counts and their sums stay within max_count (JavaScript's exact
  // integers): a larger one would wrap in normalize, transform or compose,
  // and the server would commit another op than the client sent. Each
  // running total is at most max_count before an addition of at most
  // max_count, so the totals themselves cannot wrap.
  uint64_t reads = 0;
  uint64_t inserts = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const component& c = a[i];
    if (c.n > max_count)
      return refuse(why, "Counts must not exceed 2^53-1");
    uint64_t& total = c.k == kind::insert ? inserts : reads;
    total += c.n;
    if (total > max_count)
      return refuse(why, c.k == kind::insert
                           ? "The op inserts more than 2^53-1 code points"
                           : "The op reads more than 2^53-1 code points");
    switch (c.k) {
      case kind::skip:
        if (c.n == 0)
          return refuse(why, "Skip components must be >0");
        if (i > 0 && a[i - 1].k == kind::skip)
          return refuse(why, "Adjacent skip components should be combined");
        break;
      case kind::insert:
        if (c.text.empty())
          return refuse(why, "Inserts cannot be empty");
        break;
      case kind::del:
        if (c.n == 0)
          return refuse(why, "Deletes must not be empty");
        break;
    }
  }
  if (!a.empty() && a.back().k == kind::skip)
    return refuse(why, "Op has a trailing skip");
  return true;
}

op normalize(op a) {
  op out;
  detail::appender app(out);
  for (component& c : a)
    app.push(std::move(c));
  detail::trim(out);
  return out;
}

status apply(rope& doc, const op& a) {
  status why;
  if (!check(a, &why))
    return why;
  if (consumed_length(a) > doc.size())
    return "The op is too long for this document";
  rope out = doc;
  uint64_t pos = 0; // in the new document
  for (const component& c : a) {
    switch (c.k) {
      case kind::skip: pos += c.n; break;
      case kind::insert:
        out = out.insert(pos, c.text);
        pos += c.n;
        break;
      case kind::del: out = out.erase(pos, c.n); break;
    }
  }
  doc = std::move(out);
  return {};
}

status apply(std::string& utf8_doc, const op& a) {
  status why;
  if (!check(a, &why))
    return why;
  if (consumed_length(a) > utf8_count(utf8_doc))
    return "The op is too long for this document";
  std::string out;
  out.reserve(utf8_doc.size() + a.size() * 8);
  size_t at = 0; // byte offset in the old document
  for (const component& c : a) {
    switch (c.k) {
      case kind::skip: {
        size_t end = utf8_advance(utf8_doc, at, c.n);
        out.append(utf8_doc, at, end - at);
        at = end;
        break;
      }
      case kind::insert: out += c.text; break;
      case kind::del: at = utf8_advance(utf8_doc, at, c.n); break;
    }
  }
  out.append(utf8_doc, at, std::string::npos);
  utf8_doc = std::move(out);
  return {};
}

uint64_t transform_position(uint64_t cursor, const op& a) {
  // Like the reference, no checkOp here; `pos` walks the old document and
  // stops at the cursor, so an insert exactly at the cursor is not counted.
  // Unchecked counts may be huge: the sums saturate instead of wrapping.
  uint64_t pos = 0;
  for (size_t i = 0; i < a.size() && cursor > pos; ++i) {
    const component& c = a[i];
    switch (c.k) {
      case kind::skip: pos = detail::add_saturated(pos, c.n); break;
      case kind::insert:
        pos = detail::add_saturated(pos, c.n);
        cursor = detail::add_saturated(cursor, c.n);
        break;
      case kind::del:
        cursor -= std::min(c.n, cursor - pos); // cursor > pos: no underflow
        break;
    }
  }
  return cursor;
}

uint64_t inserted_length(const op& a) {
  uint64_t n = 0;
  for (const component& c : a)
    if (c.k == kind::insert)
      n = detail::add_saturated(n, c.n);
  return n;
}

int64_t length_delta(const op& a) {
  // Both sums clamped to INT64_MAX so the difference cannot overflow.
  constexpr uint64_t cap = std::numeric_limits<int64_t>::max();
  uint64_t added = 0;
  uint64_t removed = 0;
  for (const component& c : a) {
    if (c.k == kind::insert)
      added = detail::add_saturated(added, c.n);
    else if (c.k == kind::del)
      removed = detail::add_saturated(removed, c.n);
  }
  return static_cast<int64_t>(std::min(added, cap))
         - static_cast<int64_t>(std::min(removed, cap));
}

} // namespace collab::ot
