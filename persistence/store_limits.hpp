// Per-request bounds of a document store (docs/DESIGN.md contract 6): no single
// load or read_ops may make the store, or the actor it answers, hold an
// unbounded amount of ops, however large one document's ops are. Both stores
// (memory_store, pg_store) apply them the same way; the conformance suite
// checks it.
//
// Ops are measured by their JSON form (op_json.hpp), what clients are sent.
// The PostgreSQL store measures octet_length(op::text) of its jsonb column,
// which writes a space after each ',' and ':': a few bytes more per op, so
// its bounds cut slightly earlier than the memory store's.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "actors/ot/text_unicode.hpp"

namespace collab {

struct store_limits {
  // load: the tail (history for transform) is cut to the newest ops whose
  // bytes together stay within this; an op bigger than it alone leaves the
  // tail empty (a submit based before the tail then answers rev_too_old).
  uint64_t history_bytes = 64ull << 20;
  // read_ops: at most this many ops per request, whatever `limit` asks ...
  uint64_t read_max_ops = 10000;
  // ... and no further op once this many bytes were read (at least one op
  // is always answered, so a caller paging through the log makes progress).
  uint64_t read_max_bytes = 16ull << 20;
};

// The bytes an op counts for: the size of its JSON form.
uint64_t op_bytes(const ot::op& op);

// How many of the last `n` ops fit into the newest-first bound of `bytes`;
// size(i) is the size of op i (0 <= i < n, oldest first).
template<class Size>
size_t newest_within(size_t n, uint64_t bytes, Size size) {
  uint64_t sum = 0;
  size_t k = 0;
  for (; k < n; ++k) {
    auto s = size(n - 1 - k);
    if (s > bytes - sum) // sum <= bytes: no overflow
      break;
    sum += s;
  }
  return k;
}

// How many of the first `n` ops one read_ops answer carries: the longest
// prefix within read_max_ops and read_max_bytes, but at least one op when
// n > 0; size(i) as above. (pg_reader.cpp's read_ops statement is the same
// rule in SQL.)
template<class Size>
size_t oldest_within(size_t n, const store_limits& l, Size size) {
  uint64_t sum = 0;
  size_t k = 0;
  for (; k < n && k < l.read_max_ops; ++k) {
    auto s = size(k);
    if (k > 0 && s > l.read_max_bytes - sum) // sum <= max here
      break;
    sum += s;
    if (sum >= l.read_max_bytes)
      return k + 1;
  }
  return std::max<size_t>(k, n > 0 ? 1 : 0);
}

} // namespace collab
