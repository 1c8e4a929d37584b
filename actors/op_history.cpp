#include "actors/op_history.hpp"

#include <utility>

namespace collab {
namespace {

// Weights of the transform work (op_history.hpp; measured with
// tools/ot-bench-like loops, see docs/ISOLATION.md).
constexpr uint64_t bytes_per_unit = 32;
constexpr uint64_t history_components_per_unit = 4;

} // namespace

uint64_t transform_step_work(const ot::op& op, uint64_t op_text_bytes,
                             const committed_op& over) {
  return 1 + op.size() + op_text_bytes / bytes_per_unit
         + over.op.size() / history_components_per_unit;
}

uint64_t text_bytes(const ot::op& op) {
  uint64_t n = 0;
  for (auto& c : op)
    n += c.text.size();
  return n;
}

uint64_t memory_estimate(const committed_op& op) {
  return sizeof(committed_op) + op.doc.size() + op.client.size()
         + op.user.size() + op.op.size() * sizeof(ot::component)
         + text_bytes(op.op);
}

op_history::~op_history() {
  release(bytes_);
}

void op_history::set_budget(std::shared_ptr<memory_budget> budget) {
  release(bytes_);
  budget_ = std::move(budget);
  if (budget_)
    budget_->charge(bytes_);
}

op_history::const_iterator op_history::after(uint64_t rev) const {
  if (ops_.empty())
    return ops_.end();
  auto oldest = ops_.front().rev - 1;
  return ops_.begin() + static_cast<std::ptrdiff_t>(rev - oldest);
}

bool op_history::try_push(committed_op op) {
  auto n = memory_estimate(op);
  if (budget_ && !budget_->try_charge(n))
    return false;
  add(std::move(op), n);
  return true;
}

void op_history::push(committed_op op) {
  auto n = memory_estimate(op);
  if (budget_)
    budget_->charge(n);
  add(std::move(op), n);
}

void op_history::add(committed_op op, uint64_t n) {
  ops_.push_back(std::move(op));
  bytes_ += n;
}

void op_history::trim(uint64_t max_ops, uint64_t max_bytes,
                      uint64_t keep_after) {
  while (!ops_.empty() && (ops_.size() > max_ops || bytes_ > max_bytes)
         && ops_.front().rev <= keep_after) {
    auto n = memory_estimate(ops_.front());
    ops_.pop_front();
    bytes_ -= n;
    release(n);
  }
}

void op_history::drop_newest(size_t n) {
  for (; n > 0 && !ops_.empty(); --n) {
    auto bytes = memory_estimate(ops_.back());
    ops_.pop_back();
    bytes_ -= bytes;
    release(bytes);
  }
}

void op_history::clear() {
  ops_.clear();
  release(bytes_);
  bytes_ = 0;
}

void op_history::release(uint64_t n) {
  if (budget_ && n > 0)
    budget_->release(n);
}

bool transform_within(ot::op& op, op_history::const_iterator first,
                      op_history::const_iterator last, uint64_t max_work) {
  // Refused before any work when the op as it is already costs too much.
  auto op_text = text_bytes(op);
  uint64_t work = 0;
  for (auto i = first; i != last; ++i)
    if ((work += transform_step_work(op, op_text, *i)) > max_work)
      return false;
  // Counted again as it grows (the text it carries does not grow).
  work = 0;
  for (auto i = first; i != last; ++i) {
    if ((work += transform_step_work(op, op_text, *i)) > max_work)
      return false;
    op = ot::transform(op, i->op, ot::side::left);
  }
  return true;
}

} // namespace collab
