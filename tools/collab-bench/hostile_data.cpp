// The abuses that send bad or heavy *data*: ops with U+0000 (nul), one op
// of very many components based far back (big-op), very large ops piling
// up in one document's history (history), and another user's client id
// (spoof). See hostile.hpp for the contract of a pattern function.
#include <set>
#include <unordered_map>

#include <rapidjson/document.h>

#include "hostile.hpp"
#include "hostile_conn.hpp"
#include "json_fields.hpp"

namespace collab::bench {

namespace {

// An insert of `n` copies of `c` at position 0, as an op (JSON array).
std::string insert_op(size_t n, char c) {
  return "[\"" + std::string(n, c) + "\"]";
}

} // namespace

// One client in its own document sends ops inserting "nul\u0000<n>" at
// --nul-rate and, like a client would, retries the same seq on
// `unavailable`. With PostgreSQL (jsonb refuses U+0000) this used to fail
// every group commit it was part of, other documents' ops included.
void abuse_nul(abuse_env& env) {
  asio::io_context ioc;
  abuse_conn c(ioc);
  const std::string doc = env.prefix + "nul";
  uint64_t rev = 0;
  std::string why;
  if (!open_joined(c, env, env.client_prefix + "nul", doc, rev, why))
    return env.fail(why);
  op_pump pump(
    c, doc, rev,
    [](uint64_t n) { return "[\"nul\\u0000" + std::to_string(n) + "\"]"; },
    UINT64_MAX, env.opt->hostile.nul_rate);
  env.begin();
  pump.start();
  run_until_stopped(ioc, env);
  pump.report(env, "nul ");
  c.abort();
  run_out(ioc, 0.2);
}

// For each of --big-ops honest documents: a helper client inserts
// components/2 characters (the room the big op skips over) and then
// --big-op-history one-character ops; when the window opens an attacker
// sends one op of --big-op-components components ([1,"a",1,"a",...], about
// 3 bytes each) based on the revision right after that insert, so the
// server must transform it over the whole history built since.
void abuse_big_op(abuse_env& env) {
  const auto& h = env.opt->hostile;
  asio::io_context ioc;
  const size_t pairs = size_t(h.big_op_components) / 2;
  const size_t n = std::min<size_t>(size_t(h.big_ops), env.honest_docs.size());
  std::vector<std::unique_ptr<abuse_conn>> helpers, attackers;
  std::vector<std::unique_ptr<op_pump>> pumps;
  std::string why;
  for (size_t i = 0; i < n; ++i) {
    const auto& doc = env.honest_docs[i];
    uint64_t rev = 0;
    helpers.push_back(std::make_unique<abuse_conn>(ioc));
    attackers.push_back(std::make_unique<abuse_conn>(ioc));
    const auto id = std::to_string(i);
    uint64_t ignored = 0;
    if (!open_joined(*helpers[i], env, env.client_prefix + "bighelp" + id, doc,
                     rev, why)
        || !open_joined(*attackers[i], env, env.client_prefix + "big" + id, doc,
                        ignored, why))
      return env.fail(why);
    auto room = std::make_shared<const std::string>(insert_op(pairs, 'r'));
    pumps.push_back(std::make_unique<op_pump>(
      *helpers[i], doc, rev,
      [room](uint64_t k) { return k == 0 ? *room : std::string("[\"h\"]"); },
      uint64_t(h.big_op_history) + 1));
    pumps[i]->start();
  }
  // Building the history is preparation, not abuse: the window opens after.
  const bool built = run_until(
    ioc,
    [&] {
      for (const auto& p : pumps)
        if (!p->done() && !env.stopping())
          return false;
      return true;
    },
    300);
  for (size_t i = 0; i < n; ++i)
    pumps[i]->report(env, "history ");
  if (!built || pumps.empty() || pumps[0]->acked() == 0)
    return env.fail("history not built (see counts)");

  std::string big = "[";
  big.reserve(pairs * 6 + 2);
  for (size_t k = 0; k < pairs; ++k)
    big += k == 0 ? "1,\"a\"" : ",1,\"a\"";
  big += "]";
  env.count("big op bytes", big.size());
  env.begin();
  for (size_t i = 0; i < n; ++i) {
    attackers[i]->read_frames(count_answers(env, "big op "));
    attackers[i]->send(R"({"type":"op","doc":)"
                       + json_string(env.honest_docs[i])
                       + ",\"rev\":" + std::to_string(pumps[i]->ack_rev(0))
                       + ",\"seq\":1,\"op\":" + big + "}");
  }
  run_until_stopped(ioc, env);
  for (auto& c : attackers)
    c->abort();
  for (auto& c : helpers)
    c->abort();
  run_out(ioc, 0.2);
}

// One client in its own document alternately inserts --history-op-bytes
// characters and deletes them, as fast as its acks come: the document stays
// small, its history (and Redis stream) grows by every insert.
void abuse_history(abuse_env& env) {
  asio::io_context ioc;
  abuse_conn c(ioc);
  const std::string doc = env.prefix + "history";
  uint64_t rev = 0;
  std::string why;
  if (!open_joined(c, env, env.client_prefix + "history", doc, rev, why))
    return env.fail(why);
  op_pump pump(c, doc, rev,
               insert_delete(size_t(env.opt->hostile.history_op_bytes), 'x'));
  env.begin();
  pump.start();
  run_until_stopped(ioc, env);
  pump.report(env, "");
  env.count("bytes inserted", (pump.acked() + 1) / 2
                                * uint64_t(env.opt->hostile.history_op_bytes));
  c.abort();
  run_out(ioc, 0.2);
}

namespace {

// What the spoof scout learned about one victim (an honest client id).
struct victim {
  std::string doc;
  uint64_t last_spoofed = 0;
  std::unique_ptr<abuse_conn> conn; // says hello with the victim's id
};

} // namespace

// A scout of another user joins every honest document and watches the
// `op` messages for client ids; for each it opens a connection that says
// hello with that id, and whenever the victim's op S is seen, submits an op
// with seq S+1 before the victim does. Where exactly-once is keyed by the
// client id alone, the victim's own S+1 is then re-acked as "already
// committed" and silently lost (the honest columns show it: divergence,
// anomalies, failed clients). "spoof ack" counts the spoofed ops the node
// took.
void abuse_spoof(abuse_env& env) {
  asio::io_context ioc;
  abuse_conn scout(ioc);
  std::string why;
  if (!scout.open(env.client, env.token, why)
      || !scout.hello(env.client_prefix + "scout", why))
    return env.fail(why);
  std::unordered_map<std::string, uint64_t> revs; // doc -> latest rev
  for (const auto& doc : env.honest_docs) {
    uint64_t rev = 0;
    if (!scout.join(doc, rev, why))
      return env.fail(why);
    revs[doc] = rev;
  }
  std::unordered_map<std::string, victim> victims;
  std::vector<std::string> found; // ids without a connection yet
  const auto spoof = [&](victim& v, uint64_t seq) {
    v.last_spoofed = seq;
    v.conn->send(R"({"type":"op","doc":)" + json_string(v.doc)
                 + ",\"rev\":" + std::to_string(revs[v.doc])
                 + ",\"seq\":" + std::to_string(seq) + R"(,"op":["!"]})");
    env.count("spoof sent");
  };
  scout.read_frames([&](std::string_view f) {
    rapidjson::Document d;
    d.Parse(f.data(), f.size());
    std::string_view type, doc, client;
    uint64_t rev = 0, seq = 0;
    if (d.HasParseError() || !get_str(d, "type", type) || type != "op"
        || !get_str(d, "doc", doc) || !get_str(d, "client", client)
        || !get_u64(d, "rev", rev) || !get_u64(d, "seq", seq))
      return;
    revs[std::string(doc)] = rev;
    auto [it, fresh] = victims.try_emplace(std::string(client));
    if (fresh) {
      it->second.doc = std::string(doc);
      found.push_back(it->first);
      return;
    }
    victim& v = it->second;
    if (v.conn && v.conn->alive() && seq > v.last_spoofed)
      spoof(v, seq + 1); // ahead of the victim's next op
  });
  env.begin();
  while (!env.stopping()) {
    while (!found.empty() && !env.stopping()) {
      const std::string id = found.back();
      found.pop_back();
      victim& v = victims[id];
      auto c = std::make_unique<abuse_conn>(ioc);
      uint64_t rev = 0;
      if (!open_joined(*c, env, id, v.doc, rev, why)) {
        env.count("spoof refused:" + why);
        continue;
      }
      c->read_frames(count_answers(env, "spoof "));
      v.conn = std::move(c);
      env.count("victims");
    }
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(50));
  }
  scout.abort();
  for (auto& [id, v] : victims)
    if (v.conn)
      v.conn->abort();
  run_out(ioc, 0.2);
}

} // namespace collab::bench
