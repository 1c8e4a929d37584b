// The sequencing rules of one document, without actors (ShareDB keeps its
// SubmitRequest apart from the Agent the same way): which submitted op gets
// the next revision, which is a duplicate, and which is refused with what.
// The document actor (document_actor.hpp) owns one and does the messaging:
// store requests, acks, broadcasts.
//
// A submission is checked in this order; the first failing check answers:
//   1. forbidden     the client id belongs to another user
//   2. duplicate     seq at or below the client's last (pending or durable):
//                    re-acked, never applied again (exactly once)
//   3. seq_gap       seq other than last + 1
//   4. ahead         base revision after the durable revision (the actor
//                    asks the store whether it is stale, else rev_ahead)
//   5. rev_too_old   base revision older than the history kept
//   6. too_large     more components than max_op_components
//   7. rev_too_old   transforming over the history since the base would
//                    take more than max_transform_work (op_history.hpp)
//   8. bad_op        the transformed op does not fit the head text
//   9. too_large     the document would grow past max_doc_bytes
//  10. overloaded    the node's memory budget cannot take the op
// (`not_joined` comes before all of them: subscribers are the actor's.)
//
// Revisions: durable_rev <= head_rev. Ops in (durable_rev, head_rev] are
// accepted but pending; new ops are transformed over them too, and a failed
// commit rolls them back (roll_back).
//
// Thread-safety: none; one document actor owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/core/committed_op.hpp"
#include "actors/core/errc.hpp"
#include "actors/memory_budget.hpp"
#include "actors/op_history.hpp"
#include "actors/ot/rope.hpp"
#include "actors/ot/text_unicode.hpp"

namespace collab {

struct sequencer_limits {
  uint64_t history_window = 10000; // ops kept in memory for transform
  uint64_t history_bytes = 64ull << 20; // and bytes of them (an estimate)
  uint64_t max_doc_bytes = 64ull << 20;
  uint64_t max_op_components = 20000;
  uint64_t max_transform_work = 1'500'000;
};

// An op as a client submitted it.
struct submission {
  std::string client;
  std::string user;
  uint64_t seq = 0;
  uint64_t base_rev = 0;
  ot::op op;
};

// What the sequencer decided for one submission.
struct sequenced {
  enum class outcome : uint8_t {
    accepted, // op is revision head_rev (pending), text after it
    duplicate_pending, // the same (client, seq) is pending: ack it with it
    duplicate_durable, // already durable at `rev`
    duplicate_unknown, // older than the history: only the store knows
    ahead, // base after durable_rev: `message` for rev_ahead
    refused, // answered `code` with `message`
  };
  outcome what = outcome::refused;
  errc code = errc::internal;
  std::string message;
  uint64_t rev = 0; // duplicate_durable
  committed_op op; // accepted
  ot::rope text_after; // accepted
};

// A client's last op: its seq, its revision (0 while pending), its user.
struct client_seq {
  uint64_t seq = 0;
  uint64_t rev = 0;
  std::string user; // who made it; empty: unknown
};

class document_sequencer {
public:
  document_sequencer(std::string doc, sequencer_limits limits);
  document_sequencer(const document_sequencer&) = delete;
  document_sequencer& operator=(const document_sequencer&) = delete;

  // Charges the history's bytes to `budget` from now on (null: none).
  void set_budget(std::shared_ptr<memory_budget> budget);

  // The document as the store loaded it: durable at `rev` with `text`, the
  // newest ops (`tail`, oldest first) and every client's last op.
  void load(uint64_t rev, ot::rope text, std::vector<committed_op> tail,
            const std::vector<committed_op>& clients);

  // Decides for `s`; on `accepted` the op is pending at head. `joined_user`
  // is the user joined with `s.client` in another session (empty: none),
  // which owns the client id when it has made no op.
  sequenced submit(submission s, const std::string& joined_user);

  // Who owns `client` (the user of its last op, pending or durable, else
  // `joined_user`) is someone other than `user`.
  bool owned_by_other(const std::string& client, const std::string& user,
                      const std::string& joined_user) const;

  // The store made the oldest pending op durable.
  void mark_durable(const committed_op& op, const ot::rope& text_after);
  // The store did not: every pending op is dropped, head goes back.
  void roll_back();

  uint64_t durable_rev() const { return durable_rev_; }
  const ot::rope& durable_text() const { return durable_text_; }
  uint64_t head_rev() const { return head_rev_; }
  const ot::rope& head_text() const { return head_text_; }
  const op_history& history() const { return history_; }
  // The oldest revision an op may be based on: ops after it are in memory.
  uint64_t oldest_rev() const { return head_rev_ - history_.size(); }
  // The client's last op, pending first; null when it made none.
  const client_seq* last_of(const std::string& client) const;

private:
  std::optional<sequenced> check_order(const submission& s,
                                       const std::string& joined_user) const;
  std::optional<sequenced> transform_bounded(submission& s) const;
  sequenced duplicate(const submission& s) const;
  sequenced accept(submission s, ot::rope text);

  // Constant after construction.
  std::string doc_;
  sequencer_limits limits_;

  uint64_t durable_rev_ = 0;
  ot::rope durable_text_;
  std::unordered_map<std::string, client_seq> clients_; // last durable op

  uint64_t head_rev_ = 0;
  ot::rope head_text_;
  op_history history_; // (oldest, head]
  std::unordered_map<std::string, client_seq> pending_; // last pending op
};

} // namespace collab
