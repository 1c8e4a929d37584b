#include "net/http_routes.hpp"

#include <chrono>

#include <caf/all.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/ot/op_json.hpp"
#include "net/codec.hpp"
#include "persistence/store_error.hpp"

namespace collab::net {
namespace {

namespace http = boost::beast::http;
constexpr auto actor_timeout = std::chrono::seconds(10);

http_response make_response(const http_request& req, http::status status,
                            std::string body, const char* content_type) {
  http_response res{status, req.version()};
  res.set(http::field::server, "collabd");
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http_response json_error(const http_request& req, http::status status,
                         std::string_view code, std::string_view message) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("error");
  w.String(code.data(), code.size());
  w.Key("message");
  w.String(message.data(), message.size());
  w.EndObject();
  auto res = make_response(req, status, buf.GetString(), "application/json");
  res.set(http::field::cache_control, "no-store");
  return res;
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() + 0 && isxdigit(s[i + 1])
        && isxdigit(s[i + 2])) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)),
                                         nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The value of query parameter `key`, or `fallback`.
uint64_t query_u64(std::string_view target, std::string_view key,
                   uint64_t fallback, bool& bad) {
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return fallback;
  auto query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key && eq != std::string_view::npos) {
      auto v = pair.substr(eq + 1);
      if (v.empty() || v.size() > 19
          || v.find_first_not_of("0123456789") != std::string_view::npos) {
        bad = true;
        return fallback;
      }
      return std::stoull(std::string(v));
    }
    if (amp == std::string_view::npos)
      break;
    query.remove_prefix(amp + 1);
  }
  return fallback;
}

// The caller's claims from the Authorization header or cookie, or an answer.
bool authenticate(server_context& ctx, const http_request& req,
                  token_claims& claims, http_response& refusal) {
  if (query_has_token(req.target())) {
    refusal = json_error(req, http::status::unauthorized, "unauthorized",
                         "tokens are not accepted in the URL");
    return false;
  }
  auto token = extract_token(req[http::field::authorization],
                             req[http::field::cookie]);
  std::string why = "no token";
  if (!token || !ctx.verifier.verify(*token, claims, why)) {
    refusal = json_error(req, http::status::unauthorized, "unauthorized", why);
    refusal.set(http::field::www_authenticate, "Bearer");
    return false;
  }
  return true;
}

void get_doc(server_context& ctx, const http_request& req, std::string doc,
             reply_fn reply) {
  auto dir = ctx.directory;
  ctx.sys.spawn([=, req = req](caf::event_based_actor* self) {
    auto unavailable = [=](caf::error&) {
      reply(json_error(req, http::status::service_unavailable, "unavailable",
                       "the document cannot be read now"));
    };
    self->request(dir, actor_timeout, resolve_atom_v, doc)
      .then(
        [=](caf::actor actor) {
          self->request(actor, actor_timeout, snapshot_atom_v)
            .then(
              [=](uint64_t rev, const ot::rope& text) {
                rapidjson::StringBuffer buf;
                rapidjson::Writer<rapidjson::StringBuffer> w(buf);
                w.StartObject();
                w.Key("doc");
                w.String(doc.data(), doc.size());
                w.Key("rev");
                w.Uint64(rev);
                w.Key("text");
                auto s = text.to_string();
                w.String(s.data(), s.size());
                w.EndObject();
                auto res = make_response(req, http::status::ok,
                                         buf.GetString(), "application/json");
                res.set(http::field::cache_control, "no-store");
                reply(std::move(res));
              },
              unavailable);
        },
        unavailable);
  });
}

void get_ops(server_context& ctx, const http_request& req, std::string doc,
             uint64_t from, uint64_t limit, reply_fn reply) {
  auto store = ctx.store;
  ctx.sys.spawn([=, req = req](caf::event_based_actor* self) {
    self->request(store, actor_timeout, read_ops_atom_v, doc, from, limit)
      .then(
        [=](const std::vector<committed_op>& ops) {
          rapidjson::StringBuffer buf;
          rapidjson::Writer<rapidjson::StringBuffer> w(buf);
          w.StartObject();
          w.Key("doc");
          w.String(doc.data(), doc.size());
          w.Key("ops");
          w.StartArray();
          for (auto& op : ops) {
            w.StartObject();
            w.Key("rev");
            w.Uint64(op.rev);
            w.Key("client");
            w.String(op.client.data(), op.client.size());
            w.Key("seq");
            w.Uint64(op.seq);
            w.Key("op");
            ot::op_to_json(w, op.op);
            w.EndObject();
          }
          w.EndArray();
          w.EndObject();
          auto res = make_response(req, http::status::ok, buf.GetString(),
                                   "application/json");
          res.set(http::field::cache_control, "no-store");
          reply(std::move(res));
        },
        [=](caf::error& err) {
          if (is(err, store_errc::compacted))
            reply(json_error(req, http::status::gone, "compacted",
                             "these ops were removed by retention; read the "
                             "document instead"));
          else
            reply(json_error(req, http::status::service_unavailable,
                             "unavailable", "the history cannot be read now"));
        });
  });
}

void docs_route(server_context& ctx, const http_request& req,
                std::string_view path, reply_fn reply) {
  auto rest = percent_decode(path.substr(std::string_view("/v1/docs/").size()));
  bool ops = false;
  constexpr std::string_view suffix = "/ops";
  if (rest.size() > suffix.size()
      && rest.compare(rest.size() - suffix.size(), suffix.size(), suffix) == 0) {
    ops = true;
    rest.resize(rest.size() - suffix.size());
  }
  if (!valid_doc_id(rest)) {
    reply(json_error(req, http::status::bad_request, "bad_request",
                     "bad document id"));
    return;
  }
  token_claims claims;
  http_response refusal;
  if (!authenticate(ctx, req, claims, refusal)) {
    reply(std::move(refusal));
    return;
  }
  if (access_for(claims, rest) == access::none) {
    reply(json_error(req, http::status::forbidden, "forbidden",
                     "the token does not allow this document"));
    return;
  }
  if (!ops) {
    get_doc(ctx, req, std::move(rest), std::move(reply));
    return;
  }
  bool bad = false;
  auto from = query_u64(req.target(), "from", 0, bad);
  auto limit = query_u64(req.target(), "limit", 100, bad);
  if (bad || limit == 0) {
    reply(json_error(req, http::status::bad_request, "bad_request",
                     "from and limit must be non-negative integers, limit > 0"));
    return;
  }
  get_ops(ctx, req, std::move(rest), from, std::min<uint64_t>(limit, 1000),
          std::move(reply));
}

void post_session(server_context& ctx, const http_request& req,
                  reply_fn reply) {
  token_claims claims;
  http_response refusal;
  auto token = extract_token(req[http::field::authorization], {});
  std::string why = "a Bearer token is required";
  if (!token || !ctx.verifier.verify(*token, claims, why)) {
    reply(json_error(req, http::status::unauthorized, "unauthorized", why));
    return;
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  auto res = make_response(req, http::status::no_content, {},
                           "application/json");
  res.set(http::field::set_cookie,
          "collab_token=" + *token + "; Path=/; Max-Age="
            + std::to_string(std::max<int64_t>(0, claims.exp - now))
            + "; HttpOnly; Secure; SameSite=Strict");
  res.set(http::field::cache_control, "no-store");
  reply(std::move(res));
}

} // namespace

bool check_upgrade(server_context& ctx, const http_request& req,
                   token_claims& claims, http_response& refusal) {
  if (path_of(req.target()) != "/v1/ws") {
    refusal = json_error(req, http::status::not_found, "not_found",
                         "WebSockets are served at /v1/ws");
    return false;
  }
  if (ctx.draining) {
    refusal = json_error(req, http::status::service_unavailable, "draining",
                         "the node is draining; connect to another node");
    return false;
  }
  if (!origin_allowed(req[http::field::origin], ctx.allowed_origins)) {
    refusal = json_error(req, http::status::forbidden, "forbidden",
                         "origin not allowed");
    return false;
  }
  return authenticate(ctx, req, claims, refusal);
}

void handle_http(server_context& ctx, const http_request& req, reply_fn reply) {
  auto path = path_of(req.target());
  bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  if (get && path == "/healthz") {
    reply(make_response(req, http::status::ok, "ok\n", "text/plain"));
  } else if (get && path == "/readyz") {
    std::string reasons = ctx.draining ? "draining\n" : "";
    for (auto& check : ctx.readiness_checks)
      if (auto why = check(); !why.empty())
        reasons += why + "\n";
    if (reasons.empty())
      reply(make_response(req, http::status::ok, "ready\n", "text/plain"));
    else
      reply(make_response(req, http::status::service_unavailable, reasons,
                          "text/plain"));
  } else if (get && path == "/metrics") {
    auto text = node_metrics().render();
    for (auto& source : ctx.metrics_sources)
      source(text);
    reply(make_response(req, http::status::ok, std::move(text),
                        "text/plain; version=0.0.4"));
  } else if (get && path.rfind("/v1/docs/", 0) == 0) {
    docs_route(ctx, req, path, std::move(reply));
  } else if (req.method() == http::verb::post && path == "/v1/session") {
    post_session(ctx, req, std::move(reply));
  } else if (get && path == "/") {
    reply(make_response(req, http::status::ok,
                        "collab node " + ctx.cfg.node_id
                          + ": WebSocket protocol v1 at /v1/ws\n",
                        "text/plain"));
  } else {
    reply(json_error(req, http::status::not_found, "not_found",
                     "no such route"));
  }
}

} // namespace collab::net
