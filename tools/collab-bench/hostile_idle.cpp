// The idle crowd (`idle`, issue 12): --idle-sockets sockets, each of its own
// user, set up --idle-concurrency at a time (TCP connect, WebSocket upgrade,
// hello, join one of --idle-docs documents round-robin: each step
// asynchronous), then silent until the window ends. See hostile.hpp for the
// contract of a pattern function.
//
// The crowd is set up before the window opens (the honest workload runs
// meanwhile, unmeasured), so the window measures the honest clients beside
// a crowd that is there, and the set-up rate ("sockets/s") is the node's,
// not one client's, as long as enough sockets are in flight. "rss per
// socket (bytes)" is the node's RSS once the crowd is set up, less before,
// over the sockets. --idle-phase stops every socket after an earlier step
// (tcp, upgrade, hello) to show what each step costs the node;
// --idle-ping-s makes every socket ping now and then, as the JS client
// does every 25 s (the crowd is then idle as a crowd of real clients is).
//
// Thread-safety: everything here runs on the pattern's thread, the one that
// runs its io_context.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <unordered_map>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <rapidjson/document.h>

#include "client.hpp" // describe_error
#include "hostile.hpp"
#include "hostile_conn.hpp"
#include "json_fields.hpp"
#include "source_addrs.hpp"
#include "stats.hpp"

namespace collab::bench {

namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::system::error_code;
using clock = std::chrono::steady_clock;

// A step that takes longer fails the socket ("timeout").
constexpr auto step_timeout = std::chrono::seconds(10);

enum class idle_phase { tcp, upgrade, hello, join };

bool parse_phase(const std::string& s, idle_phase& out) {
  if (s == "tcp")
    out = idle_phase::tcp;
  else if (s == "upgrade")
    out = idle_phase::upgrade;
  else if (s == "hello")
    out = idle_phase::hello;
  else if (s == "join")
    out = idle_phase::join;
  else
    return false;
  return true;
}

class idle_socket;

// The sockets of the crowd and the set-up loop: at most `concurrency` in
// flight; a success starts the next at once, a failure leaves its place to
// the next tick (every 100 ms), so a node that refuses everything is not
// hammered by a hot loop.
struct crowd {
  crowd(asio::io_context& c, abuse_env& e) : ioc(c), env(e), tick(c) {}

  void launch();
  void finished(idle_socket* s, bool ok, const std::string& why);
  void on_tick();

  asio::io_context& ioc;
  abuse_env& env;
  idle_phase phase = idle_phase::join;
  bool batch = true;
  std::vector<std::string> tokens; // one per socket, minted beforehand
  uint64_t want = 0;
  uint64_t docs = 1;
  size_t concurrency = 1;
  double ping_s = 0; // > 0: each ready socket pings this often
  std::vector<char> sink = std::vector<char>(65536); // all discarded input
  std::minstd_rand rng{std::random_device{}()};
  uint64_t pings = 0; // sent

  uint64_t started = 0;
  std::unordered_map<idle_socket*, std::shared_ptr<idle_socket>> in_flight;
  std::vector<std::shared_ptr<idle_socket>> ready;
  clock::time_point first_start, last_ready;
  asio::steady_timer tick;
  bool ticking = true;
};

class idle_socket : public std::enable_shared_from_this<idle_socket> {
public:
  idle_socket(crowd& c, uint64_t index) : c_(c), index_(index), ws_(c.ioc) {}

  void start();
  // Closes the TCP socket at once (no closing handshake).
  void abort();
  bool alive() const { return !dead_; }
  clock::time_point started_at() const { return started_at_; }
  void fail(const std::string& why);

private:
  void on_connect(error_code ec);
  void on_upgrade(error_code ec);
  // Sends `frame`, then reads until a frame of type `want` (for `doc_`
  // when joining) or an error.
  void say(std::string frame, const char* want);
  void read_answer();
  void on_answer(error_code ec, size_t bytes);
  void ready();
  void discard();
  // The next ping after `after` seconds (--idle-ping-s).
  void ping_in(double after);

  crowd& c_;
  const uint64_t index_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buf_;
  websocket::response_type res_;
  std::string out_; // the frame being written
  const char* want_ = "";
  std::string doc_;
  clock::time_point started_at_;
  std::unique_ptr<asio::steady_timer> ping_timer_;
  bool dead_ = false;
  bool setting_up_ = true;
};

void idle_socket::start() {
  started_at_ = clock::now();
  const auto& ep = pick_endpoint(c_.env.client.addrs);
  auto& layer = beast::get_lowest_layer(ws_);
  error_code ec;
  if (!open_bound(layer.socket(), ep, ec)) {
    asio::post(c_.ioc, [self = shared_from_this(), ec] {
      self->fail("connect: " + describe_error(ec));
    });
    return;
  }
  layer.async_connect(ep, beast::bind_front_handler(&idle_socket::on_connect,
                                                    shared_from_this()));
}

void idle_socket::on_connect(error_code ec) {
  if (dead_)
    return;
  if (ec)
    return fail("connect: " + describe_error(ec));
  error_code ignored;
  beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true),
                                                   ignored);
  if (c_.phase == idle_phase::tcp)
    return ready();
  const std::string bearer = "Bearer " + c_.tokens[index_];
  ws_.set_option(
    websocket::stream_base::decorator([bearer](websocket::request_type& r) {
      r.set(beast::http::field::authorization, bearer);
      r.set(beast::http::field::user_agent, "collab-bench-idle");
    }));
  ws_.text(true);
  ws_.auto_fragment(false);
  ws_.write_buffer_bytes(512); // a client masks into it: 4 KiB by default
  const auto& t = c_.env.client.ep;
  ws_.async_handshake(res_, t.host + ":" + t.port, t.path,
                      beast::bind_front_handler(&idle_socket::on_upgrade,
                                                shared_from_this()));
}

void idle_socket::on_upgrade(error_code ec) {
  if (dead_)
    return;
  if (ec == websocket::error::upgrade_declined)
    return fail("http " + std::to_string(res_.result_int()));
  if (ec)
    return fail("upgrade: " + describe_error(ec));
  res_ = {};
  if (c_.phase == idle_phase::upgrade)
    return ready();
  const std::string user = "idle-" + std::to_string(index_);
  say(R"({"type":"hello","client":)" + json_string(c_.env.client_prefix + user)
        + (c_.batch ? R"(,"v":1,"batch":true})" : R"(,"v":1})"),
      "welcome");
}

void idle_socket::say(std::string frame, const char* want) {
  out_ = std::move(frame);
  want_ = want;
  ws_.async_write(asio::buffer(out_),
                  [self = shared_from_this()](error_code ec, size_t) {
                    if (self->dead_)
                      return;
                    if (ec)
                      return self->fail("write: " + describe_error(ec));
                    self->read_answer();
                  });
}

void idle_socket::read_answer() {
  ws_.async_read(buf_, beast::bind_front_handler(&idle_socket::on_answer,
                                                 shared_from_this()));
}

void idle_socket::on_answer(error_code ec, size_t) {
  if (dead_)
    return;
  if (ec == websocket::error::closed)
    return fail("close " + std::to_string(ws_.reason().code));
  if (ec)
    return fail("read: " + describe_error(ec));
  rapidjson::Document d;
  const auto data = buf_.data();
  d.Parse(static_cast<const char*>(data.data()), data.size());
  buf_.consume(buf_.size());
  std::string_view type, v;
  if (d.HasParseError() || !get_str(d, "type", type))
    return read_answer();
  if (type == "error") {
    get_str(d, "code", v);
    return fail("error " + std::string(v));
  }
  if (type != want_ || (!doc_.empty() && (!get_str(d, "doc", v) || v != doc_)))
    return read_answer(); // e.g. presence of the others
  if (type == "joined" || c_.phase == idle_phase::hello)
    return ready();
  doc_ = c_.env.prefix + "idle/" + std::to_string(index_ % c_.docs);
  say(R"({"type":"join","doc":)" + json_string(doc_) + "}", "joined");
}

// Set up: give back what the set-up needed and read (and drop) whatever the
// node still sends, so that a close is noticed.
void idle_socket::ready() {
  setting_up_ = false;
  buf_ = beast::flat_buffer{};
  std::string{}.swap(out_);
  std::string{}.swap(doc_);
  c_.finished(this, true, {});
  discard();
  if (c_.ping_s > 0 && c_.phase >= idle_phase::hello) // pings need a hello
    ping_in(std::uniform_real_distribution<double>(0, c_.ping_s)(c_.rng));
}

// As the JS client does (pingIntervalMs): {"type":"ping"} now and then; the
// pongs are discarded with the rest.
void idle_socket::ping_in(double after) {
  if (!ping_timer_)
    ping_timer_ = std::make_unique<asio::steady_timer>(c_.ioc);
  ping_timer_->expires_after(std::chrono::microseconds(int64_t(after * 1e6)));
  ping_timer_->async_wait([self = shared_from_this()](error_code ec) {
    if (ec || self->dead_)
      return;
    static const std::string ping = R"({"type":"ping"})";
    self->ws_.async_write(asio::buffer(ping), [self](error_code ec, size_t) {
      if (ec || self->dead_)
        return;
      ++self->c_.pings;
      self->ping_in(self->c_.ping_s);
    });
  });
}

void idle_socket::discard() {
  beast::get_lowest_layer(ws_).socket().async_read_some(
    asio::buffer(c_.sink), [self = shared_from_this()](error_code ec, size_t) {
      if (self->dead_)
        return;
      if (ec) {
        self->dead_ = true;
        return;
      }
      self->discard();
    });
}

void idle_socket::fail(const std::string& why) {
  if (dead_)
    return;
  abort();
  if (setting_up_)
    c_.finished(this, false, why);
}

void idle_socket::abort() {
  dead_ = true;
  if (ping_timer_)
    ping_timer_->cancel();
  error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

void crowd::launch() {
  if (started == 0)
    first_start = clock::now();
  while (in_flight.size() < concurrency && started < want && !env.stopping()) {
    auto s = std::make_shared<idle_socket>(*this, started++);
    in_flight.emplace(s.get(), s);
    s->start();
  }
}

void crowd::finished(idle_socket* s, bool ok, const std::string& why) {
  auto it = in_flight.find(s);
  if (it == in_flight.end())
    return;
  if (ok) {
    ready.push_back(std::move(it->second));
    last_ready = clock::now();
  } else {
    env.count("refused:" + why);
  }
  in_flight.erase(it);
  if (ok)
    launch();
}

// Every 100 ms: fails the sockets stuck in a step, refills the places of
// failed ones.
void crowd::on_tick() {
  if (!ticking)
    return;
  const auto now = clock::now();
  std::vector<std::shared_ptr<idle_socket>> late;
  for (auto& [p, s] : in_flight)
    if (now - s->started_at() > step_timeout)
      late.push_back(s);
  for (auto& s : late)
    s->fail("timeout");
  launch();
  tick.expires_after(std::chrono::milliseconds(100));
  tick.async_wait([this](error_code ec) {
    if (!ec)
      on_tick();
  });
}

// CPU seconds this thread has used.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// How many idle sockets this run can hold: --idle-sockets, within the fd
// limit the bench gave the node (--fd-limit) and this process's own (its
// soft limit raised to the hard one), each less a margin for everything
// else the process has open.
uint64_t idle_capacity(abuse_env& env) {
  auto want = uint64_t(std::max(env.opt->hostile.idle_sockets, 0));
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur > 1024 && rl.rlim_cur - 1024 < want) {
      want = rl.rlim_cur - 1024;
      env.count("capped by this process's fd limit");
    }
  }
  const int node_limit = env.opt->hostile.fd_limit;
  if (node_limit > 1024 && uint64_t(node_limit - 1024) < want) {
    want = uint64_t(node_limit - 1024);
    env.count("capped by --fd-limit");
  }
  return want;
}

} // namespace

// Idle sockets by the ten thousand (see the top of this file).
void abuse_idle(abuse_env& env) {
  asio::io_context ioc;
  crowd c(ioc, env);
  const auto& h = env.opt->hostile;
  if (!parse_phase(h.idle_phase, c.phase))
    return env.fail("unknown --idle-phase " + h.idle_phase);
  c.batch = env.opt->batch;
  c.want = idle_capacity(env);
  c.docs = uint64_t(std::max(h.idle_docs, 1));
  c.concurrency = size_t(std::max(h.idle_concurrency, 1));
  c.ping_s = h.idle_ping_s;
  const int pid = env.opt->pid;
  // The node's CPU without the crowd (the honest workload's), measured while
  // the tokens are minted (at least 0.5 s), is taken off its set-up cost.
  const auto quiet0 = clock::now();
  const double quiet_cpu0 = pid ? proc_cpu_seconds(pid) : -1;
  c.tokens.reserve(c.want);
  for (uint64_t i = 0; i < c.want; ++i)
    c.tokens.push_back(env.token_for("idle-" + std::to_string(i)));
  run_out(
    ioc,
    std::max(
      0.0, 0.5 - std::chrono::duration<double>(clock::now() - quiet0).count()));
  const double node_cpu0 = pid ? proc_cpu_seconds(pid) : -1;
  const double quiet_rate
    = (node_cpu0 - quiet_cpu0)
      / std::chrono::duration<double>(clock::now() - quiet0).count();
  const uint64_t rss_before = pid ? proc_rss_bytes(pid) : 0;
  const double own_cpu0 = thread_cpu_seconds();
  c.on_tick();
  while ((c.started < c.want || !c.in_flight.empty()) && !env.stopping()) {
    if (ioc.stopped())
      ioc.restart();
    ioc.run_for(std::chrono::milliseconds(50));
  }
  c.ticking = false;
  c.tick.cancel();
  const double secs
    = std::chrono::duration<double>(c.last_ready - c.first_start).count();
  env.count("joined", c.ready.size());
  if (secs > 0)
    env.count("sockets/s", uint64_t(double(c.ready.size()) / secs));
  env.count("set-up ms", uint64_t(secs * 1000));
  // What a set-up costs, in CPU: the node's (all its threads, less its
  // quiet rate) and this thread's (the bench's side), per socket set up.
  // With both on one machine, the set-up rate is at most
  // cores / (node + bench).
  if (!c.ready.empty()) {
    const double n = double(c.ready.size());
    if (node_cpu0 >= 0)
      env.count("node cpu per socket (us)",
                uint64_t(std::max(0.0, proc_cpu_seconds(pid) - node_cpu0
                                         - quiet_rate * secs)
                         / n * 1e6));
    env.count("bench cpu per socket (us)",
              uint64_t((thread_cpu_seconds() - own_cpu0) / n * 1e6));
  }
  run_out(ioc, 0.5); // the node finishes what the last joins started
  if (pid && !c.ready.empty()) {
    const uint64_t rss_after = proc_rss_bytes(pid);
    env.count("rss per socket (bytes)",
              rss_after > rss_before ? (rss_after - rss_before) / c.ready.size()
                                     : 0);
  }
  std::vector<std::string>{}.swap(c.tokens);
  env.begin();
  run_until_stopped(ioc, env);
  uint64_t alive = 0;
  for (auto& s : c.ready)
    alive += s->alive() ? 1 : 0;
  env.count("open at end", alive);
  if (c.ping_s > 0)
    env.count("pings sent", c.pings);
  for (auto& s : c.ready)
    s->abort();
  for (auto& [p, s] : c.in_flight)
    s->abort();
  run_out(ioc, 0.5);
}

} // namespace collab::bench
