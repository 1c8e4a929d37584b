#include "persistence/redis_connection.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>

#include <pthread.h>

#include "persistence/redis_errors.hpp"

namespace collab {
namespace {

// Blocks SIGPIPE on this thread for one hiredis call and swallows the one
// the call raised, if any (hiredis writes with write(2), not MSG_NOSIGNAL).
class sigpipe_guard {
public:
  sigpipe_guard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~sigpipe_guard() {
    auto saved = errno;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR)
          ; // retry
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    errno = saved;
  }
  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;

private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

timeval to_timeval(std::chrono::milliseconds d) {
  auto ms = std::max<long long>(d.count(), 1);
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

const char* kind_of(int err, const char* text) {
  switch (err) {
    case REDIS_ERR_IO:
      // SO_RCVTIMEO/SO_SNDTIMEO expired: hiredis reports EAGAIN as I/O.
      if (std::strstr(text, "temporarily unavailable") != nullptr
          || std::strstr(text, "timed out") != nullptr)
        return "timeout";
      return "io";
    case REDIS_ERR_EOF: return "closed by Redis";
    case REDIS_ERR_PROTOCOL: return "protocol";
    case REDIS_ERR_OOM: return "out of memory";
    default: return "error";
  }
}

bool timed_out(const redisContext* c) {
  return c != nullptr
         && std::strcmp(kind_of(c->err, c->errstr), "timeout") == 0;
}

std::string reply_text(const redisReply* r) {
  if (r == nullptr)
    return "no reply";
  return std::string{r->str != nullptr ? r->str : "", r->len};
}

} // namespace

caf::error to_error(const redisContext* c, const std::string& what) {
  if (c == nullptr)
    return make_error(redis_errc::unavailable,
                      what + ": cannot allocate a hiredis context");
  return make_error(redis_errc::unavailable, what + ": "
                                               + kind_of(c->err, c->errstr)
                                               + ": " + c->errstr);
}

redis_connection::redis_connection(redis_endpoint ep,
                                   redis_connection_timeouts t)
    : ep_(std::move(ep)),
      timeouts_(t),
      connect_timeout_(t.connect),
      io_timeout_(t.io),
      rng_(std::random_device{}()) {
  // nop
}

void redis_connection::limit_timeouts(std::chrono::milliseconds limit) {
  limit = std::max(limit, std::chrono::milliseconds{1});
  connect_timeout_ = std::min(timeouts_.connect, limit);
  auto io = std::min(timeouts_.io, limit);
  if (io != io_timeout_ && ctx_ != nullptr)
    redisSetTimeout(ctx_, to_timeval(io));
  io_timeout_ = io;
}

redis_connection::~redis_connection() {
  close();
}

void redis_connection::close() {
  if (ctx_ != nullptr) {
    sigpipe_guard guard;
    redisFree(ctx_);
    ctx_ = nullptr;
  }
}

caf::error redis_connection::failed(caf::error err) {
  close();
  backoff_ = backoff_.count() == 0
               ? timeouts_.backoff_initial
               : std::min(backoff_ * 2, timeouts_.backoff_max);
  // +-20 % jitter
  std::uniform_int_distribution<long long> pct{80, 120};
  auto wait = std::chrono::milliseconds{backoff_.count() * pct(rng_) / 100};
  retry_at_ = clock::now() + wait;
  return err;
}

// Asks the sentinels, in order, where `ep.master` is now; the first that
// answers sets ep.host and ep.port.
caf::error redis_connection::locate_master() {
  std::string why;
  for (auto& s : ep_.sentinels) {
    sigpipe_guard guard;
    auto* c = redisConnectWithTimeout(s.host.c_str(), s.port,
                                      to_timeval(connect_timeout_));
    auto where = "sentinel " + s.host + ":" + std::to_string(s.port);
    if (c == nullptr || c->err != 0) {
      why = where + ": " + (c != nullptr ? c->errstr : "no context");
      if (c != nullptr)
        redisFree(c);
      continue;
    }
    redisSetTimeout(c, to_timeval(io_timeout_));
    redis_reply r{static_cast<redisReply*>(redisCommand(
      c, "SENTINEL get-master-addr-by-name %s", ep_.master.c_str()))};
    redisFree(c);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2
        && r->element[0]->type == REDIS_REPLY_STRING
        && r->element[1]->type == REDIS_REPLY_STRING) {
      ep_.host = r->element[0]->str;
      ep_.port = static_cast<uint16_t>(std::atoi(r->element[1]->str));
      return {};
    }
    why = where + " does not know master " + ep_.master;
  }
  return make_error(redis_errc::unavailable,
                    "no sentinel named the master (" + why + ")");
}

// With sentinels: the server we reached must be the master (a demoted one
// that came back is a replica, and refuses writes).
caf::error redis_connection::check_master() {
  std::vector<redis_reply> replies;
  if (auto err = exchange({{"ROLE"}}, replies))
    return err;
  auto* r = replies.front().get();
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0
      && r->element[0]->type == REDIS_REPLY_STRING
      && std::string_view{r->element[0]->str} == "master")
    return {};
  return make_error(redis_errc::unavailable,
                    ep_.host + ":" + std::to_string(ep_.port)
                      + " is not the master of " + ep_.master);
}

caf::error redis_connection::connect(bool force) {
  if (ctx_ != nullptr)
    return {};
  auto where = ep_.sentinels.empty() ? ep_.host + ":" + std::to_string(ep_.port)
                                     : "master " + ep_.master;
  if (!force && clock::now() < retry_at_)
    return make_error(redis_errc::unavailable,
                      "Redis at " + where + " is down, backing off");
  if (!ep_.sentinels.empty()) {
    if (auto err = locate_master())
      return failed(std::move(err));
    where = ep_.host + ":" + std::to_string(ep_.port);
  }
  {
    sigpipe_guard guard;
    ctx_ = redisConnectWithTimeout(ep_.host.c_str(), ep_.port,
                                   to_timeval(connect_timeout_));
    if (ctx_ == nullptr || ctx_->err != 0) {
      auto err = to_error(ctx_, "connect to " + where);
      return failed(std::move(err));
    }
    redisSetTimeout(ctx_, to_timeval(io_timeout_));
    redisEnableKeepAlive(ctx_);
  }
  std::vector<redis_command> hello;
  if (!ep_.password.empty()) {
    if (ep_.user.empty())
      hello.push_back({"AUTH", ep_.password});
    else
      hello.push_back({"AUTH", ep_.user, ep_.password});
  }
  if (ep_.db != 0)
    hello.push_back({"SELECT", std::to_string(ep_.db)});
  if (!hello.empty()) {
    std::vector<redis_reply> replies;
    if (auto err = exchange(hello, replies))
      return failed(std::move(err));
    for (auto& r : replies)
      if (r->type == REDIS_REPLY_ERROR)
        return failed(
          make_error(redis_errc::unavailable,
                     "connect to " + where + ": " + reply_text(r.get())));
  }
  if (!ep_.sentinels.empty())
    if (auto err = check_master())
      return failed(std::move(err));
  backoff_ = std::chrono::milliseconds{0};
  return {};
}

caf::error redis_connection::exchange(const std::vector<redis_command>& cmds,
                                      std::vector<redis_reply>& replies) {
  sigpipe_guard guard;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& cmd : cmds) {
    argv.clear();
    lens.clear();
    for (auto& arg : cmd) {
      argv.push_back(arg.data());
      lens.push_back(arg.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(),
                               lens.data())
        != REDIS_OK)
      return to_error(ctx_, "send");
  }
  for (size_t i = 0; i < cmds.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK)
      return to_error(ctx_, "round trip");
    replies.emplace_back(static_cast<redisReply*>(r));
  }
  return {};
}

caf::error redis_connection::run(const std::vector<redis_command>& cmds,
                                 std::vector<redis_reply>& replies) {
  auto was_open = connected();
  if (auto err = connect())
    return err;
  auto before = replies.size();
  auto err = exchange(cmds, replies);
  if (!err)
    return {};
  if (was_open && replies.size() == before && !timed_out(ctx_)) {
    // The socket was closed under us (Redis restarted, an idle connection
    // cut): one fresh try. Not after a timeout: Redis is slow, not gone.
    close();
    if (auto cerr = connect(true))
      return cerr;
    err = exchange(cmds, replies);
    if (!err)
      return {};
  }
  return failed(std::move(err));
}

} // namespace collab
