// Connections of the PostgreSQL store: connect with timeouts, session
// settings and backoff (link), the watchdog that cuts a connection whose work
// overran its deadline, and the one helper that turns exceptions into store
// errors (classify_current_exception).
//
// Why a watchdog: statement_timeout is enforced by the server, so it cannot
// help when the server (or the network) stops answering altogether; libpq
// would then wait in recv() forever. The watchdog shuts the socket down
// (shutdown(2) on our own dup of it, so a descriptor number reused by someone
// else is never touched), the blocked call fails, and the caller answers
// unavailable or, during COMMIT, settles the outcome (pg_writer.cpp).
//
// Threading: a link is used by its owning thread only; the watchdog thread
// touches only the link's watch_slot, under the slot's mutex.
#include "persistence/pg_internal.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include <pqxx/except>
#include <pqxx/nontransaction>

#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"

namespace collab::pg {

// ---- conninfo

std::string make_conninfo(const pg_store_options& opts) {
  auto secs = std::max<long>(
    2, static_cast<long>((opts.connect_timeout.count() + 999) / 1000));
  std::vector<std::pair<std::string, std::string>> params{
    {"connect_timeout", std::to_string(secs)},
    {"keepalives", "1"},
    {"keepalives_idle", "10"},
    {"keepalives_interval", "2"},
    {"keepalives_count", "3"},
    {"application_name", opts.application_name},
  };
  std::string out = opts.url;
  bool uri = out.rfind("postgresql://", 0) == 0
             || out.rfind("postgres://", 0) == 0;
  for (auto& [k, v] : params) {
    // Keep what the operator set explicitly.
    if (out.find(k + "=") != std::string::npos)
      continue;
    if (uri) {
      out += out.find('?') == std::string::npos ? '?' : '&';
      out += k + "=";
      for (unsigned char c : v) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
          out += static_cast<char>(c);
        } else {
          char hex[4];
          std::snprintf(hex, sizeof(hex), "%%%02X", c);
          out += hex;
        }
      }
    } else {
      out += " " + k + "='";
      for (char c : v) {
        if (c == '\\' || c == '\'')
          out += '\\';
        out += c;
      }
      out += '\'';
    }
  }
  return out;
}

// ---- classify

namespace {

std::string first_line(const char* what) {
  std::string s = what ? what : "";
  if (auto nl = s.find('\n'); nl != std::string::npos)
    s.resize(nl);
  // libpq prefixes server messages with "ERROR:  ".
  if (s.rfind("ERROR:  ", 0) == 0)
    s.erase(0, 8);
  return s;
}

failure make_failure(caf::error err, bool connection_lost, std::string text,
                     bool data = false, std::string sqlstate = {}) {
  return failure{std::move(err), connection_lost, std::move(text), data,
                 std::move(sqlstate)};
}

} // namespace

failure classify_current_exception() {
  constexpr auto corrupt = store_errc::corrupt;
  constexpr auto unavailable = store_errc::unavailable;
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    return make_failure(make_error(unavailable, "COMMIT outcome unknown"), true,
                        first_line(e.what()));
  } catch (const pqxx::broken_connection& e) {
    auto text = first_line(e.what());
    return make_failure(make_error(unavailable, "connection lost: " + text),
                        true, text);
  } catch (const pqxx::sql_error& e) {
    const auto& state = e.sqlstate();
    auto cls = state.substr(0, 2);
    auto text = first_line(e.what());
    if (state == "57014")
      return make_failure(make_error(unavailable, "timeout: " + text), false,
                          text);
    if (cls == "08" || state.rfind("57P", 0) == 0)
      return make_failure(make_error(unavailable, text), true, text);
    // 40 (serialization, deadlock), 53 (resources), 55P03 (lock timeout):
    // the server cannot do it now; the caller may retry.
    if (cls == "40" || cls == "53" || cls == "55")
      return make_failure(make_error(unavailable, text), false, text);
    // Everything else is about what we sent (22 data exception, 23
    // integrity, 54 program limit, ...): retrying the same data will not
    // help.
    spdlog::error("pg store: data error {}: {}", state, log_escape(text));
    auto code = cls == "22" || cls == "23" || cls == "XX" ? corrupt
                                                          : unavailable;
    return make_failure(make_error(code, text), false, text, true, state);
  } catch (const pqxx::conversion_error& e) {
    auto text = first_line(e.what());
    spdlog::error("pg store: unreadable value: {}", log_escape(text));
    return make_failure(make_error(corrupt, text), false, text, true);
  } catch (const std::exception& e) {
    auto text = first_line(e.what());
    spdlog::error("pg store: {}", log_escape(text));
    return make_failure(make_error(unavailable, text), false, text, true);
  } catch (...) {
    return make_failure(make_error(unavailable, "unknown error"), false,
                        "unknown error", true);
  }
}

// ---- watchdog

void watchdog::start() {
  thread_ = std::thread{[this] {
    run();
  }};
}

void watchdog::stop() {
  {
    std::lock_guard<std::mutex> lk{mtx_};
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

std::shared_ptr<watch_slot> watchdog::add(std::string name) {
  auto s = std::make_shared<watch_slot>();
  s->name = std::move(name);
  std::lock_guard<std::mutex> lk{mtx_};
  slots_.push_back(s);
  return s;
}

void watchdog::remove(const std::shared_ptr<watch_slot>& s) {
  std::lock_guard<std::mutex> lk{mtx_};
  slots_.erase(std::remove(slots_.begin(), slots_.end(), s), slots_.end());
}

void watchdog::run() {
  std::unique_lock<std::mutex> lock{mtx_};
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds{50});
    auto now = clock::now();
    for (auto& s : slots_) {
      std::lock_guard<std::mutex> slot_guard{s->mtx};
      if (s->fd >= 0 && !s->fired && s->deadline <= now) {
        spdlog::warn("pg store: {} overran its deadline; cutting the "
                     "connection",
                     s->name);
        ::shutdown(s->fd, SHUT_RDWR);
        s->fired = true;
      }
    }
  }
}

// ---- link

namespace {

class notice_logger : public pqxx::errorhandler {
public:
  notice_logger(pqxx::connection_base& c, std::string name)
      : pqxx::errorhandler(c), name_(std::move(name)) {}
  bool operator()(const char msg[]) noexcept override {
    try {
      spdlog::debug("pg store: {}: {}", name_, log_escape(first_line(msg)));
    } catch (...) {
    }
    return false; // do not pass on (libpqxx would print to stderr)
  }

private:
  std::string name_;
};

} // namespace

link::link(engine& e, std::string name)
    : engine_(e),
      name_(std::move(name)),
      slot_(e.dog.add(name_)),
      backoff_(e.opts.min_backoff),
      next_attempt_(clock::now()) {}

link::~link() {
  close();
  engine_.dog.remove(slot_);
}

clock::duration link::budget() const {
  auto st = engine_.opts.statement_timeout;
  return st
         + std::max<std::chrono::milliseconds>(std::chrono::seconds{1}, st / 2);
}

void link::close() {
  {
    std::lock_guard<std::mutex> lk{slot_->mtx};
    if (slot_->fd >= 0)
      ::close(slot_->fd);
    slot_->fd = -1;
    slot_->deadline = clock::time_point::max();
  }
  notices_.reset();
  conn_.reset(); // PQfinish: never waits for the server
  prepared_.clear();
}

void link::prepare(const statement& s) {
  for (auto* name : prepared_)
    if (name == s.name)
      return;
  conn_->prepare(s.name, s.sql);
  prepared_.push_back(s.name);
}

void link::drop(const std::string& why) {
  if (!conn_)
    return;
  close();
  last_error_ = why;
  engine_.status->report_down(name_, why);
  spdlog::warn("pg store: {}: connection dropped: {}", name_, log_escape(why));
  // One immediate reconnect attempt; backoff applies if that fails.
  next_attempt_ = clock::now();
}

bool link::ensure() {
  if (conn_)
    return true;
  if (clock::now() < next_attempt_)
    return false;
  auto& o = engine_.opts;
  try {
    // Connecting is bounded by libpq's connect_timeout (in the conninfo).
    auto c = std::make_unique<pqxx::connection>(engine_.conninfo);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    // A silently re-opened connection would lose our session settings and
    // the socket the watchdog guards: a broken connection stays broken.
    c->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    auto notices = std::make_unique<notice_logger>(*c, name_);
    {
      std::lock_guard<std::mutex> lk{slot_->mtx};
      slot_->fd = ::fcntl(c->sock(), F_DUPFD_CLOEXEC, 0);
      slot_->fired = false;
    }
    conn_ = std::move(c);
    notices_ = std::move(notices);
    guard g{*this, budget()};
    auto st = std::to_string(o.statement_timeout.count());
    auto idle = std::to_string(2 * o.statement_timeout.count());
    std::string setup = "SET statement_timeout = " + st
                        + "; SET lock_timeout = " + st
                        + "; SET idle_in_transaction_session_timeout = " + idle
                        + "; SET synchronous_commit = on"
                          "; SET client_min_messages = warning";
    if (!o.schema.empty())
      setup += "; SET search_path = " + conn_->quote_name(o.schema);
    {
      pqxx::nontransaction n{*conn_};
      n.exec(setup);
      auto r = n.exec("SELECT pg_backend_pid(), backend_start::text "
                      "FROM pg_stat_activity WHERE pid = pg_backend_pid()");
      backend_pid_ = r.empty() ? 0 : r[0][0].as<int>();
      backend_start_ = r.empty() ? "" : r[0][1].as<std::string>();
    }
    if (!engine_.schema_ready.load()) {
      migrate(*conn_, o.schema);
      engine_.schema_ready = true;
    }
    if (g.fired())
      throw pqxx::broken_connection{"set-up overran its deadline"};
    backoff_ = o.min_backoff;
    engine_.status->report_up(name_);
    if (!last_error_.empty() && last_error_ != "not connected yet")
      spdlog::info("pg store: {}: connected again", name_);
    last_error_.clear();
    return true;
  } catch (...) {
    auto f = classify_current_exception();
    close();
    if (f.text != last_error_)
      spdlog::warn(
        "pg store: {}: cannot connect: {} (retry in {} ms)", name_,
        log_escape(f.text),
        std::chrono::duration_cast<std::chrono::milliseconds>(backoff_)
          .count());
    last_error_ = f.text;
    engine_.status->report_down(name_, f.text);
    next_attempt_ = clock::now() + backoff_;
    backoff_ = std::min<clock::duration>(2 * backoff_, o.max_backoff);
    return false;
  }
}

link::guard::guard(link& l, clock::duration budget) : link_(l) {
  std::lock_guard<std::mutex> g{link_.slot_->mtx};
  link_.slot_->deadline = clock::now() + budget;
  link_.slot_->fired = false;
}

link::guard::~guard() {
  std::lock_guard<std::mutex> g{link_.slot_->mtx};
  link_.slot_->deadline = clock::time_point::max();
}

bool link::guard::fired() const {
  std::lock_guard<std::mutex> g{link_.slot_->mtx};
  return link_.slot_->fired;
}

} // namespace collab::pg
