// A document's history for transform: the ops (head - size, head], oldest
// first, that an op based on an older revision is transformed over. It is
// bounded by a count and by bytes (an estimate of each op's memory) and its
// bytes are charged to the node's memory budget, so that one document cannot
// take the node's memory; transforming over it is bounded by work, so that
// one op cannot take an actor thread (docs/DESIGN.md, contract 6).
//
// Transform work is counted in units of about one op component stepped over
// (20-40 ns on this project's machines; docs/ISOLATION.md has the
// measurements): for every history op the op passes, its components, its
// text bytes / 32 (ot::transform copies the op's text at every step) and
// the history op's components / 4 (it walks those too, more cheaply).
//
// Thread-safety: none; one document actor owns it. The budget it charges is
// shared by the whole node and lock-free.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>

#include "actors/core/committed_op.hpp"
#include "actors/memory_budget.hpp"

namespace collab {

// An estimate of the memory one op holds: the record, its strings and its
// components.
uint64_t memory_estimate(const committed_op& op);

// The bytes of the text an op carries (inserts, and deletes in text form).
uint64_t text_bytes(const ot::op& op);

class op_history {
public:
  using container = std::deque<committed_op>;
  using const_iterator = container::const_iterator;

  op_history() = default;
  ~op_history();
  op_history(const op_history&) = delete;
  op_history& operator=(const op_history&) = delete;

  // Charges what is held from now on to `budget` (null: no accounting).
  void set_budget(std::shared_ptr<memory_budget> budget);

  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  uint64_t bytes() const { return bytes_; }
  const_iterator begin() const { return ops_.begin(); }
  const_iterator end() const { return ops_.end(); }
  container::const_reverse_iterator rbegin() const { return ops_.rbegin(); }
  container::const_reverse_iterator rend() const { return ops_.rend(); }

  // The ops after revision `rev`.
  // REQUIRES: head - size() <= rev <= head, where head is the newest rev.
  const_iterator after(uint64_t rev) const;

  // Appends the next op if the budget can take its bytes; false (and
  // nothing changed) when it cannot.
  bool try_push(committed_op op);
  // Appends the next op whatever the budget says (ops already in memory,
  // e.g. the tail a document is loaded with).
  void push(committed_op op);
  // Drops the oldest ops while more than `max_ops` or `max_bytes` are held,
  // but never one after revision `keep_after` (pending ops stay: a failed
  // commit rolls them back).
  void trim(uint64_t max_ops, uint64_t max_bytes, uint64_t keep_after);
  // Drops the `n` newest ops (a rollback of pending ops).
  void drop_newest(size_t n);
  void clear();

private:
  void add(committed_op op, uint64_t n);
  void release(uint64_t n);

  container ops_;
  uint64_t bytes_ = 0;
  std::shared_ptr<memory_budget> budget_;
};

// The work units of transforming `op` (carrying `op_text_bytes` of text)
// over one history op.
uint64_t transform_step_work(const ot::op& op, uint64_t op_text_bytes,
                             const committed_op& over);

// Transforms `op` over [first, last) (side left: ShareDB's rule) unless that
// would take more than `max_work` units (see above). The work is checked
// before anything is done, with the op as it is, and again at every step,
// because transform can make the op grow (a delete split by inserts). On
// false the op is half transformed: discard it.
bool transform_within(ot::op& op, op_history::const_iterator first,
                      op_history::const_iterator last, uint64_t max_work);

} // namespace collab
