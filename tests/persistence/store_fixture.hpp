// A fixture for document store tests with real threads and real time: an
// actor system, a scoped actor, and blocking helpers that send one request
// and wait for its answer. Each store suite derives from it and says how to
// spawn its store (conformance_tests.inc holds the shared cases).
//
// Threading: used from the test's main thread only.
#pragma once

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/messages.hpp"
#include "actors/ot/text_unicode.hpp"
#include "persistence/document_store.hpp"
#include "persistence/store_error.hpp"

namespace collab::test {

inline std::string random_id(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string out = prefix;
  auto x = rng();
  for (int i = 0; i < 16; ++i, x >>= 4)
    out += hex[x & 15];
  return out;
}

// An op inserting `text` at `pos`.
inline ot::op insert_at(uint64_t pos, const std::string& text) {
  ot::op op;
  if (pos > 0)
    op.push_back(ot::component::skip(pos));
  op.push_back(ot::component::insert(text));
  return op;
}

inline committed_op make_op(const std::string& doc, uint64_t rev,
                            const std::string& client, uint64_t seq,
                            ot::op op) {
  committed_op x;
  x.doc = doc;
  x.rev = rev;
  x.client = client;
  x.seq = seq;
  x.user = "user-" + client;
  x.op = std::move(op);
  return x;
}

// The store's answer or its error.
template<class T>
struct answer {
  T value{};
  caf::error err;
  bool ok() const { return !err; }
  // (0.17.6: error::category() of an empty error crashes, so check first.)
  bool is(store_errc x) const { return err && collab::is(err, x); }
};

inline std::string describe(const caf::error& err) {
  return err ? caf::to_string(err) : "ok";
}

// What a scoped actor's request for a commit returns.
using commit_handle = decltype(std::declval<caf::scoped_actor&>()->request(
  std::declval<const document_store_actor&>(), std::chrono::seconds{},
  commit_atom_v, std::string{}, uint64_t{}, std::vector<committed_op>{}));

struct store_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  document_store_actor store;
  std::chrono::seconds timeout{20};

  store_fixture() : sys(init(cfg)), self(sys) {}

  static caf::actor_system_config& init(caf::actor_system_config& c) {
    c.set("scheduler.max-threads", 2);
    return c;
  }

  template<class T, class... Ts>
  answer<T> ask(const document_store_actor& s, Ts&&... xs) {
    answer<T> out;
    self->request(s, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { out.value = std::move(x); },
               [&](caf::error& e) { out.err = std::move(e); });
    return out;
  }

  // Sends a commit without waiting; `collect` waits for the answers.
  commit_handle send_commit(const std::string& doc, uint64_t epoch,
                            std::vector<committed_op> ops) {
    return self->request(store, timeout, commit_atom_v, doc, epoch,
                         std::move(ops));
  }
  std::vector<answer<uint64_t>> collect(std::vector<commit_handle>& hs) {
    std::vector<answer<uint64_t>> out;
    for (auto& h : hs) {
      answer<uint64_t> a;
      h.receive([&](uint64_t rev) { a.value = rev; },
                [&](caf::error& e) { a.err = std::move(e); });
      out.push_back(std::move(a));
    }
    hs.clear();
    return out;
  }

  answer<doc_snapshot> load(const std::string& doc, uint64_t tail = 100,
                            const std::string& node = "node-a") {
    return ask<doc_snapshot>(store, load_atom_v, doc, node, tail);
  }
  answer<uint64_t> commit(const std::string& doc, uint64_t epoch,
                          std::vector<committed_op> ops) {
    return ask<uint64_t>(store, commit_atom_v, doc, epoch, std::move(ops));
  }
  answer<std::vector<committed_op>> read_ops(const std::string& doc,
                                             uint64_t from, uint64_t limit) {
    return ask<std::vector<committed_op>>(store, read_ops_atom_v, doc, from,
                                          limit);
  }
  answer<std::vector<committed_op>>
  find_seq(const std::string& doc, const std::string& client, uint64_t seq) {
    return ask<std::vector<committed_op>>(store, find_seq_atom_v, doc, client,
                                          seq);
  }
  answer<doc_snapshot> peek(const std::string& doc) {
    return ask<doc_snapshot>(store, peek_atom_v, doc);
  }
  answer<bool> save_snapshot(const std::string& doc, uint64_t epoch,
                             uint64_t rev, const std::string& text) {
    return ask<bool>(store, save_snapshot_atom_v, doc, epoch, rev,
                     ot::rope{text});
  }

  // Points the helpers at another store until the guard ends.
  struct store_swap {
    store_fixture& f;
    document_store_actor saved;
    ~store_swap() { f.store = saved; }
  };
  store_swap use(document_store_actor s) {
    auto saved = store;
    store = std::move(s);
    return store_swap{*this, std::move(saved)};
  }

  // Commits `texts` as appends by `client` (seq = rev), starting after `rev`.
  answer<uint64_t> append(const std::string& doc, uint64_t epoch, uint64_t rev,
                          uint64_t len, const std::vector<std::string>& texts,
                          const std::string& client = "c1") {
    std::vector<committed_op> ops;
    for (auto& t : texts) {
      ++rev;
      ops.push_back(make_op(doc, rev, client, rev, insert_at(len, t)));
      len += t.size();
    }
    return commit(doc, epoch, std::move(ops));
  }
};

} // namespace collab::test
