// A persistent (immutable, structurally shared) rope of UTF-8 text indexed by
// Unicode code points. Copying a rope is O(1) (it shares nodes), so the
// document actor can keep the text at several revisions cheaply; edits are
// O(log n) and return new ropes sharing the untouched parts.
//
// Thread-safety: a rope is an immutable value; concurrent readers are safe.
// Nodes are shared between ropes through shared_ptr<const node> (atomic
// reference counts), so ropes may be copied and dropped on any thread.
//
// Representation (rope.cpp): an AVL tree whose leaves hold UTF-8 chunks of at
// most 1 KiB; every node caches its code point and byte counts and height.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace collab::ot {

class rope {
public:
  rope();
  explicit rope(std::string_view utf8);

  // Length in code points, and in UTF-8 bytes.
  uint64_t size() const;
  uint64_t bytes() const;
  bool empty() const { return size() == 0; }

  // Positions past the end are clamped to it, and ranges to what is left
  // after `pos` (as std::string::substr does with `n`), so no position or
  // count can wrap: callers (apply) check ranges first and say why.
  // REQUIRES: `utf8` is valid UTF-8.
  rope insert(uint64_t pos, std::string_view utf8) const;
  rope erase(uint64_t pos, uint64_t n) const;
  // The code points [pos, pos + n) as UTF-8.
  std::string substr(uint64_t pos, uint64_t n) const;

  std::string to_string() const;
  // Appends the whole text to `out` without intermediate copies.
  void append_to(std::string& out) const;

  // Introspection for tests and benchmarks: tree height (0 when empty),
  // number of leaves, and a full invariant check (AVL balance, cached
  // counts, leaf sizes, no empty leaf).
  int height() const;
  uint64_t leaf_count() const;
  bool valid() const;

  struct node;

private:
  explicit rope(std::shared_ptr<const node> root);
  std::shared_ptr<const node> root_;
};

} // namespace collab::ot
