// The `text-unicode` OT type (ShareDB's ot-text-unicode 4.0.0), positions in
// Unicode code points. Pure C++: no CAF, Beast or database include, no
// exceptions for refused input; errors come back as values.
//
// An op is a list of components:
//   skip n      retain n code points            JSON: n (positive integer)
//   insert s    insert the UTF-8 string s       JSON: "s" (non-empty)
//   del n / s   delete n code points            JSON: {"d": n} or {"d": "s"}
//
// Thread-safety: all functions are pure; ops and ropes are values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "actors/ot/rope.hpp"

namespace collab::ot {

struct component {
  enum class kind : uint8_t { skip, insert, del };
  kind k = kind::skip;
  // skip: count; del: count (code points); insert: code points of `text`.
  uint64_t n = 0;
  // insert: the inserted text; del with has_text: the deleted text.
  std::string text;
  // del only: true for the invertible form {"d": "text"}.
  bool has_text = false;

  static component skip(uint64_t n);
  static component insert(std::string utf8);
  static component del(uint64_t n);
  static component del_text(std::string utf8);
  friend bool operator==(const component& a, const component& b);
};

using op = std::vector<component>;

// The largest count an op may carry, and the largest number of code points
// an op may read (skips + deletes) or insert: 2^53 - 1, JavaScript's largest
// exact integer (clients are JavaScript). check() refuses anything above it,
// so no sum of counts of a checked op can wrap a uint64_t.
constexpr uint64_t max_count = (uint64_t{1} << 53) - 1;

enum class side : uint8_t { left, right };

// An empty string means success; otherwise a human-readable reason.
using status = std::string;

// True when `a` is a valid op: what ot-text-unicode's checkOp accepts (no
// empty component, no adjacent skips, no trailing skip; adjacent inserts or
// deletes are accepted, as the reference does), and no count, no total read
// (skips + deletes) and no total insert above max_count. `why` receives the
// reason otherwise.
bool check(const op& a, status* why = nullptr);

// Merges adjacent same-kind components, drops empty ones and a trailing skip.
// Two merged deletes keep {"d": "text"} only when both carry text. Two
// components whose sum would exceed max_count stay apart (never a wrap; such
// an op fails check() anyway).
op normalize(op a);

// Applies `a` to `doc`. Refuses (returns non-empty status, `doc` unchanged)
// when check(a) fails or a skip or delete runs past the end of the document
// (ot-text-unicode would truncate such a delete silently).
// O(k log n) for an op with k components on a document of n code points.
status apply(rope& doc, const op& a);
status apply(std::string& utf8_doc, const op& a);

// Rewrites `a` so it applies after `b` (both made on the same document).
// `s` breaks ties between inserts at one position: left goes first.
// REQUIRES: check(a) && check(b) (the reference throws otherwise).
op transform(const op& a, const op& b, side s);

// One op with the effect of `a` followed by `b`.
// REQUIRES: check(a) && check(b) (the reference throws otherwise).
op compose(const op& a, const op& b);

// Where `cursor` moves to after `a`; an insert exactly at the cursor leaves
// the cursor before the insert. Like the reference, does not check `a`;
// sums saturate at UINT64_MAX instead of wrapping.
uint64_t transform_position(uint64_t cursor, const op& a);

// Code points the op inserts, and the length change it makes. Exact for a
// checked op; for others the sums saturate instead of wrapping.
uint64_t inserted_length(const op& a);
int64_t length_delta(const op& a);

} // namespace collab::ot
