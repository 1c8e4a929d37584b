#include "actors/document_sequencer.hpp"

#include <algorithm>
#include <utility>

namespace collab {
namespace {

sequenced refuse(errc code, std::string message) {
  sequenced out;
  out.what = sequenced::outcome::refused;
  out.code = code;
  out.message = std::move(message);
  return out;
}

} // namespace

document_sequencer::document_sequencer(std::string doc, sequencer_limits limits)
    : doc_(std::move(doc)), limits_(limits) {
  // nop
}

void document_sequencer::set_budget(std::shared_ptr<memory_budget> budget) {
  history_.set_budget(std::move(budget));
}

void document_sequencer::load(uint64_t rev, ot::rope text,
                              std::vector<committed_op> tail,
                              const std::vector<committed_op>& clients) {
  durable_rev_ = head_rev_ = rev;
  durable_text_ = head_text_ = std::move(text);
  // Already in memory: charged whatever the budget says, then trimmed.
  for (auto& op : tail)
    history_.push(std::move(op));
  history_.trim(limits_.history_window, limits_.history_bytes, durable_rev_);
  for (auto& op : clients)
    clients_[op.client] = client_seq{op.seq, op.rev, op.user};
}

const client_seq* document_sequencer::last_of(const std::string& client) const {
  if (auto i = pending_.find(client); i != pending_.end())
    return &i->second;
  if (auto i = clients_.find(client); i != clients_.end())
    return &i->second;
  return nullptr;
}

// docs/PROTOCOL.md: exactly-once is per client id, so a client id belongs to
// the user who made its ops. Ops from before users were recorded have none:
// anyone may take such an id.
bool document_sequencer::owned_by_other(const std::string& client,
                                        const std::string& user,
                                        const std::string& joined_user) const {
  auto last = last_of(client);
  const auto& owner = last ? last->user : joined_user;
  return !owner.empty() && owner != user;
}

sequenced document_sequencer::submit(submission s,
                                     const std::string& joined_user) {
  if (auto refused = check_order(s, joined_user))
    return std::move(*refused);
  if (auto refused = transform_bounded(s))
    return std::move(*refused);
  auto text = head_text_;
  if (auto err = ot::apply(text, s.op); !err.empty())
    return refuse(errc::bad_op, err);
  // A document already over the bound may still shrink.
  if (text.bytes() > limits_.max_doc_bytes && text.bytes() > head_text_.bytes())
    return refuse(errc::too_large, "the document would exceed "
                                     + std::to_string(limits_.max_doc_bytes)
                                     + " bytes");
  return accept(std::move(s), std::move(text));
}

// Checks 1-5: who, which seq, which base.
std::optional<sequenced>
document_sequencer::check_order(const submission& s,
                                const std::string& joined_user) const {
  if (owned_by_other(s.client, s.user, joined_user))
    return refuse(errc::forbidden,
                  "the client id belongs to another user; choose another one");
  auto last = last_of(s.client);
  auto last_seq = last ? last->seq : 0;
  if (s.seq <= last_seq)
    return duplicate(s);
  if (s.seq != last_seq + 1)
    return refuse(errc::seq_gap,
                  "expected seq " + std::to_string(last_seq + 1));
  if (s.base_rev > durable_rev_) {
    sequenced out;
    out.what = sequenced::outcome::ahead;
    out.code = errc::rev_ahead;
    out.message = "base revision " + std::to_string(s.base_rev)
                  + " is ahead of the document";
    return out;
  }
  if (s.base_rev < oldest_rev())
    return refuse(errc::rev_too_old,
                  "base revision is older than the history kept for "
                  "transform; rejoin and rebase");
  return std::nullopt;
}

// Checks 6-7 (docs/DESIGN.md, contract 6): an op whose work would be out of
// bounds is refused; otherwise `s.op` is transformed over every op after
// its base.
std::optional<sequenced>
document_sequencer::transform_bounded(submission& s) const {
  auto components = s.op.size();
  if (components > limits_.max_op_components)
    return refuse(errc::too_large,
                  "the op has " + std::to_string(components)
                    + " components, more than the limit of "
                    + std::to_string(limits_.max_op_components));
  if (!transform_within(s.op, history_.after(s.base_rev), history_.end(),
                        limits_.max_transform_work))
    return refuse(errc::rev_too_old,
                  "the op is too far behind for its size ("
                    + std::to_string(components) + " components, "
                    + std::to_string(head_rev_ - s.base_rev)
                    + " revisions behind); rejoin and rebase");
  return std::nullopt;
}

// A duplicate (client, seq) is re-acked with its original revision: pending
// ops are in the history after durable_rev, durable ones up to it.
sequenced document_sequencer::duplicate(const submission& s) const {
  sequenced out;
  out.what = sequenced::outcome::duplicate_unknown;
  for (auto i = history_.rbegin(); i != history_.rend(); ++i) {
    if (i->client != s.client || i->seq != s.seq)
      continue;
    out.what = i->rev > durable_rev_ ? sequenced::outcome::duplicate_pending
                                     : sequenced::outcome::duplicate_durable;
    out.rev = i->rev;
    break;
  }
  return out;
}

// Check 10 and the new head.
sequenced document_sequencer::accept(submission s, ot::rope text) {
  committed_op c{doc_, head_rev_ + 1, s.client, s.seq, s.user, std::move(s.op)};
  // Room first: the oldest ops leave before the new one is charged, so that
  // a document at its bounds recycles its own bytes of the budget.
  auto bytes = memory_estimate(c);
  history_.trim(limits_.history_window
                  - std::min<uint64_t>(limits_.history_window, 1),
                limits_.history_bytes - std::min(limits_.history_bytes, bytes),
                durable_rev_);
  if (!history_.try_push(c))
    return refuse(errc::overloaded, "the node's memory budget is spent; retry "
                                    "later with the same seq");
  head_rev_ = c.rev;
  head_text_ = text;
  pending_[c.client] = client_seq{c.seq, 0, c.user};
  sequenced out;
  out.what = sequenced::outcome::accepted;
  out.op = std::move(c);
  out.text_after = std::move(text);
  return out;
}

void document_sequencer::mark_durable(const committed_op& op,
                                      const ot::rope& text_after) {
  durable_rev_ = op.rev;
  durable_text_ = text_after;
  clients_[op.client] = client_seq{op.seq, op.rev, op.user};
  auto i = pending_.find(op.client);
  if (i != pending_.end() && i->second.seq == op.seq)
    pending_.erase(i);
}

void document_sequencer::roll_back() {
  history_.drop_newest(head_rev_ - durable_rev_);
  pending_.clear();
  head_rev_ = durable_rev_;
  head_text_ = durable_text_;
}

} // namespace collab
