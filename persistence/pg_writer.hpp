// The group-commit writer of the PostgreSQL store, shared by its files:
// persistence/pg_writer.cpp (the thread's loop, batches, splitting of
// refused batches; the whole story is at its top), pg_writer_attempt.cpp
// (one transaction: fence, probe, decide, write, COMMIT) and
// pg_writer_settle.cpp (a COMMIT of unknown outcome). Internal to
// persistence/.
//
// Threading: a writer runs on its own std::thread; talks to the store actor
// only through engine::finish.
#pragma once

#include "persistence/pg_internal.hpp"

#include <optional>
#include <string>
#include <vector>

namespace collab::pg::group_commit {

caf::error unavailable(std::string why);

// One commit request in a batch.
struct item {
  commit_job* job;
  bool failed = false; // answered with an error (final)
  bool accepted = false; // part of the current attempt's transaction
  void fail(caf::error e) {
    job->fail(std::move(e));
    failed = true;
    accepted = false;
  }
  uint64_t first_rev() const { return job->ops.front().rev; }
  uint64_t last_rev() const { return job->ops.back().rev; }
};

struct group {
  std::string doc;
  std::vector<item*> items; // in queue order
  uint64_t epoch = 0;
  uint64_t old_head = 0;
  uint64_t new_head = 0;
};

// A batch whose COMMIT outcome is unknown.
struct doubt {
  job_list jobs; // every job of the batch (finished together)
  std::vector<item> items;
  std::vector<group> groups;
  int backend_pid = 0;
  std::string backend_start;
  clock::time_point since = clock::now();
};

// How one transaction over some groups ended.
struct outcome {
  enum kind_t : uint8_t {
    done, // every request of the groups is answered
    in_doubt, // the COMMIT outcome is unknown; nothing answered
    refused, // refused for a data reason (`why`); nothing answered
  };
  kind_t kind = done;
  failure why{};
  // in_doubt: the server process that may still be committing.
  int backend_pid = 0;
  std::string backend_start;
};

// Fails every request of groups[lo, hi) not answered yet with `err`.
void fail_groups(std::vector<group>& groups, size_t lo, size_t hi,
                 const caf::error& err);

class writer {
public:
  writer(engine& e, queue& q, const char* name) : e_(e), q_(q), l_(e, name) {}
  void run();

private:
  void run_batch(job_list jobs);
  // One transaction over groups[lo, hi), redone after collisions (with a
  // probe) and once on a fresh connection when the old one was dead.
  outcome transact(std::vector<group>& groups, size_t lo, size_t hi);
  // groups[lo, hi) were refused as one transaction (`why`): commits each
  // half on its own, splitting refused halves further; a refused document
  // alone is answered rejected. In doubt: the groups not attempted yet are
  // answered unavailable and the doubt is returned.
  outcome split(std::vector<group>& groups, size_t lo, size_t hi,
                const failure& why);
  void reject(group& g, const failure& why);
  // One transaction over the accepted items; throws on database errors.
  // Returns false when ops collided (the caller redoes the batch with probe).
  // REQUIRES: l_.connected(); every item's ops are consecutive.
  bool attempt(std::vector<group>& groups, bool probe, bool& commit_sent);
  // Settles a doubt: answers every request of the batch and returns true,
  // or returns false (nothing answered) when it cannot tell yet.
  bool settle(doubt& d);
  void answer_committed(std::vector<group>& groups);
  void record(const std::vector<item>& items, size_t requests);
  void fail_queued(const std::string& why);

  engine& e_;
  queue& q_; // this writer's commits
  link l_;
  std::optional<doubt> doubt_;
};

} // namespace collab::pg::group_commit
