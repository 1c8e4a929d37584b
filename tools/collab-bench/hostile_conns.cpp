// The abuses of *how many*: connections that open and close (churn),
// documents joined by one socket (docs), sockets of one user (sockets),
// HTTP reads of documents that do not exist (http), and TCP connections
// until the node runs out of file descriptors (fds). See hostile.hpp for
// the contract of a pattern function.
#include <algorithm>
#include <chrono>

#include "hostile.hpp"
#include "hostile_conn.hpp"
#include "http_verify.hpp"
#include "stats.hpp"

namespace collab::bench {

namespace {

// After a refusal: a short pause, so a node that refuses everything is
// not hammered by a hot loop (the count still shows every refusal).
void after_refusal(asio::io_context& ioc, uint64_t& refusals) {
  if (++refusals % 16 == 0) {
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(20));
  }
}

// Holds `open` until the window ends, counts those still open, closes all.
void hold_until_stopped(asio::io_context& ioc, abuse_env& env,
                        std::vector<std::unique_ptr<abuse_conn>>& open) {
  run_until_stopped(ioc, env);
  uint64_t alive = 0;
  for (auto& c : open)
    alive += c->alive() ? 1 : 0;
  env.count("open at end", alive);
  for (auto& c : open)
    c->abort();
  run_out(ioc, 0.5);
}

} // namespace

// Connect, hello, close: --churn-cycles times at most, one after the
// other, with a token that is valid for a day (state a closed connection
// keeps until its token expires piles up; compare "rss after" with "rss
// before").
void abuse_churn(abuse_env& env) {
  asio::io_context ioc;
  const std::string id = env.client_prefix + "churn";
  uint64_t cycles = 0, refusals = 0;
  env.begin();
  while (!env.stopping() && cycles < uint64_t(env.opt->hostile.churn_cycles)) {
    abuse_conn c(ioc);
    std::string why;
    if (c.open(env.client, env.token, why) && c.hello(id, why)) {
      ++cycles;
    } else {
      env.count("refused:" + why);
      after_refusal(ioc, refusals);
    }
    c.abort();
    ioc.restart();
    ioc.poll(); // the aborted operations of this connection
  }
  env.count("cycles", cycles);
}

// One socket joins new documents (up to --abuse-docs) at 480 joins/s, just
// under the node's default message rate, reading the answers.
void abuse_docs(abuse_env& env) {
  asio::io_context ioc;
  abuse_conn c(ioc);
  std::string why;
  if (!c.open(env.client, env.token, why)
      || !c.hello(env.client_prefix + "docs", why))
    return env.fail(why);
  c.read_frames(count_answers(env, ""));
  env.begin();
  const auto start = std::chrono::steady_clock::now();
  uint64_t sent = 0;
  const auto max = uint64_t(env.opt->hostile.docs_per_socket);
  while (!env.stopping() && c.alive()) {
    const double t
      = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
    for (; sent < max && sent < uint64_t(t * 480); ++sent)
      c.send(R"({"type":"join","doc":)"
             + json_string(env.prefix + "docs/" + std::to_string(sent)) + "}");
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(10));
  }
  env.count("joins sent", sent);
  if (!c.alive())
    env.count("closed:" + c.why_dead());
  c.abort();
  run_out(ioc, 0.2);
}

// Sockets of one user (up to --abuse-sockets), opened one after the other
// (each says hello) and held open until the window ends.
void abuse_sockets(abuse_env& env) {
  asio::io_context ioc;
  std::vector<std::unique_ptr<abuse_conn>> open;
  const auto max = uint64_t(env.opt->hostile.sockets);
  uint64_t attempts = 0, refusals = 0;
  env.begin();
  for (; attempts < max && !env.stopping(); ++attempts) {
    auto c = std::make_unique<abuse_conn>(ioc);
    std::string why;
    if (c->open(env.client, env.token, why)
        && c->hello(env.client_prefix + "s" + std::to_string(attempts), why)) {
      open.push_back(std::move(c));
    } else {
      env.count("refused:" + why);
      after_refusal(ioc, refusals);
    }
  }
  env.count("accepted", open.size());
  hold_until_stopped(ioc, env, open);
}

// GET /v1/docs/{id} of ids that never existed (up to --http-gets), one
// after the other on a keep-alive connection.
void abuse_http(abuse_env& env) {
  http_fetcher f(env.client.ep, env.client.addrs, env.token);
  env.begin();
  for (int i = 0; i < env.opt->hostile.http_gets && !env.stopping(); ++i) {
    http_doc d;
    std::string why;
    f.get_doc(env.prefix + "http/" + std::to_string(i), d, why);
    env.count(d.status ? "http " + std::to_string(d.status)
                       : "failed:" + why.substr(0, 60));
  }
}

// TCP connections that never send a byte, up to the fd limit the bench gave
// the node (--fd-limit) plus 256, held until the window ends: the node's
// accept loop meets EMFILE. Watch the log lines and the honest latency.
void abuse_fds(abuse_env& env) {
  asio::io_context ioc;
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> socks;
  const int want = env.opt->hostile.fd_limit + 256;
  int failures = 0;
  env.begin();
  while (int(socks.size()) < want && !env.stopping() && failures < 20) {
    auto s = std::make_unique<asio::ip::tcp::socket>(ioc);
    std::string why;
    if (tcp_connect(ioc, env.client, *s, 1.0, why)) {
      socks.push_back(std::move(s));
    } else {
      env.count("connect failed:" + why);
      ++failures;
    }
  }
  env.count("connections", socks.size());
  run_until_stopped(ioc, env);
  for (auto& s : socks) {
    boost::system::error_code ignored;
    s->close(ignored);
  }
}

} // namespace collab::bench
