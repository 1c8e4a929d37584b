// The abuses of *flow*: large frames sent without reading (flood),
// subscribers that stop reading while another client types (slow),
// presence from many sessions (presence), and a BASP header announcing
// 1 GiB sent to the cluster port (basp). See hostile.hpp for the contract
// of a pattern function.
#include <array>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include "hostile.hpp"
#include "hostile_conn.hpp"

namespace collab::bench {

namespace {

// Counts the connections that are gone, by reason, and aborts all.
void close_all(abuse_env& env, std::vector<std::unique_ptr<abuse_conn>>& cs,
               const std::string& what) {
  for (auto& c : cs) {
    if (!c->alive())
      env.count(what + " closed:" + c->why_dead());
    c->abort();
  }
}

// Opens n connections with open + hello (+ join when doc is not empty);
// false with why at the first that fails.
bool open_many(abuse_env& env, asio::io_context& ioc, int n,
               const std::string& name, const std::string& doc, int rcvbuf,
               std::vector<std::unique_ptr<abuse_conn>>& out,
               std::string& why) {
  for (int i = 0; i < n; ++i) {
    auto c = std::make_unique<abuse_conn>(ioc);
    const std::string id = env.client_prefix + name + std::to_string(i);
    uint64_t rev = 0;
    const bool ok = doc.empty()
                      ? c->open(env.client, env.token, why, rcvbuf)
                          && c->hello(id, why)
                      : open_joined(*c, env, id, doc, rev, why, {}, rcvbuf);
    if (!ok)
      return false;
    out.push_back(std::move(c));
  }
  return true;
}

} // namespace

// --flood-sockets sockets each send --flood-frame-bytes frames (an op with
// one large insert, for a document they never joined) back to back and
// never read.
void abuse_flood(abuse_env& env) {
  const auto& h = env.opt->hostile;
  asio::io_context ioc;
  std::vector<std::unique_ptr<abuse_conn>> cs;
  std::string why;
  if (!open_many(env, ioc, h.flood_sockets, "flood", {}, 0, cs, why))
    return env.fail(why);
  const std::string head = R"({"type":"op","doc":)"
                           + json_string(env.prefix + "flood")
                           + R"(,"rev":0,"seq":1,"op":[")";
  const std::string tail = "\"]}";
  const size_t fill = size_t(h.flood_frame_bytes) > head.size() + tail.size()
                        ? size_t(h.flood_frame_bytes) - head.size()
                            - tail.size()
                        : 1;
  const std::string frame = head + std::string(fill, 'f') + tail;
  uint64_t frames = 0;
  env.begin();
  while (!env.stopping()) {
    for (auto& c : cs) {
      if (c->alive() && c->queued() < 2) {
        c->send(frame);
        ++frames;
      }
    }
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(5));
  }
  uint64_t bytes = 0;
  for (auto& c : cs)
    bytes += c->bytes_sent();
  env.count("frames queued", frames);
  env.count("MB written", bytes >> 20);
  close_all(env, cs, "flooder");
  run_out(ioc, 0.2);
}

// --slow-subscribers sessions (receive buffer 4 KiB) join one document and
// never read; a typist in it alternately inserts --slow-op-bytes
// characters and deletes them, as fast as its acks come.
void abuse_slow(abuse_env& env) {
  const auto& h = env.opt->hostile;
  asio::io_context ioc;
  const std::string doc = env.prefix + "slow";
  std::vector<std::unique_ptr<abuse_conn>> subs;
  std::string why;
  if (!open_many(env, ioc, h.slow_subscribers, "slow", doc, 4096, subs, why))
    return env.fail(why);
  abuse_conn typist(ioc);
  uint64_t rev = 0;
  if (!open_joined(typist, env, env.client_prefix + "typist", doc, rev, why))
    return env.fail(why);
  op_pump pump(typist, doc, rev, insert_delete(size_t(h.slow_op_bytes), 'y'));
  env.begin();
  pump.start();
  run_until_stopped(ioc, env);
  pump.report(env, "typist ");
  typist.abort();
  close_all(env, subs, "subscriber");
  run_out(ioc, 0.2);
}

// --presence-sessions sessions join one document, read (and discard)
// everything, and each sends --presence-rate presence frames per second
// (about 1 KiB of data each).
void abuse_presence(abuse_env& env) {
  const auto& h = env.opt->hostile;
  asio::io_context ioc;
  const std::string doc = env.prefix + "presence";
  std::vector<std::unique_ptr<abuse_conn>> cs;
  std::string why;
  if (!open_many(env, ioc, h.presence_sessions, "presence", doc, 0, cs, why))
    return env.fail(why);
  for (auto& c : cs)
    c->discard_input();
  const std::string pad(900, 'p');
  const auto start = std::chrono::steady_clock::now();
  uint64_t sent = 0; // per session
  uint64_t frames = 0;
  env.begin();
  while (!env.stopping()) {
    const double t
      = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
    for (; sent < uint64_t(t * h.presence_rate); ++sent) {
      const std::string frame = R"({"type":"presence","doc":)"
                                + json_string(doc) + R"(,"data":{"cursor":)"
                                + std::to_string(sent)
                                + R"(,"name":"hostile","pad":")" + pad + "\"}}";
      for (auto& c : cs) {
        if (c->alive() && c->queued() < 64) {
          c->send(frame);
          ++frames;
        }
      }
    }
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(10));
  }
  env.count("presence sent", frames);
  close_all(env, cs, "session");
  run_out(ioc, 0.2);
}

// One TCP connection to the cluster port sends a 32-byte BASP header (a
// client_handshake) announcing a payload of about 1 GiB and holds the
// connection, reading whatever comes back, until the window ends. The
// length bytes 40 00 00 40 read as 0x40000040 in either byte order.
void abuse_basp(abuse_env& env) {
  asio::io_context ioc;
  target t;
  t.ep = env.client.ep;
  t.ep.port = std::to_string(env.opt->hostile.cluster_port);
  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(ioc);
  const auto addrs = resolver.resolve(t.ep.host, t.ep.port, ec);
  if (ec || addrs.empty())
    return env.fail("cannot resolve " + t.ep.host + ":" + t.ep.port);
  t.addrs.assign(addrs.begin(), addrs.end());
  asio::ip::tcp::socket s(ioc);
  std::string why;
  if (!tcp_connect(ioc, t, s, 5, why))
    return env.fail("cluster port: " + why);
  std::array<unsigned char, 32> header{};
  header[0] = 0x01; // client_handshake; padding, flags 0
  header[4] = 0x40; // payload_len 40 00 00 40
  header[7] = 0x40; // operation_data, source and dest actor: 0
  env.begin();
  asio::write(s, asio::buffer(header), ec);
  env.count(ec ? "header not sent:" + ec.message() : "header sent");
  std::array<char, 4096> in;
  bool closed = false;
  std::function<void()> read = [&] {
    s.async_read_some(asio::buffer(in), [&](const auto& e, size_t n) {
      if (e) {
        closed = true;
        env.count("closed by node:" + e.message());
        return;
      }
      env.count("bytes from node", n);
      read();
    });
  };
  read();
  run_until_stopped(ioc, env);
  if (!closed)
    env.count("open at end");
  s.close(ec);
  run_out(ioc, 0.1);
}

} // namespace collab::bench
