#include "net/http_routes.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <vector>

#include <caf/all.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "actors/cluster_protocol.hpp"
#include "actors/metrics.hpp"
#include "actors/ot/op_json.hpp"
#include "net/codec.hpp"
#include "net/connection_actor.hpp"
#include "net/http_util.hpp"
#include "persistence/store_error.hpp"

namespace collab::net {
namespace {

namespace http = boost::beast::http;
constexpr auto actor_timeout = std::chrono::seconds(10);

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
  if (token && ctx.accept_token(*token, claims, why))
    return true;
  refusal = json_error(req, http::status::unauthorized, "unauthorized", why);
  refusal.set(http::field::www_authenticate, "Bearer");
  return false;
}

void reply_doc(const http_request& req, const std::string& doc, uint64_t rev,
               const ot::rope& text, const reply_fn& reply) {
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
  reply(json_ok(req, buf.GetString()));
}

// A read never activates a document (nor creates one): the live actor
// answers when there is one anywhere in the cluster, else the store's
// durable state (its latest snapshot plus the ops after it).
void get_doc(server_context& ctx, const http_request& req, std::string doc,
             reply_fn reply) {
  auto dir = ctx.directory;
  auto store = ctx.store;
  ctx.sys.spawn([=, req = req](caf::event_based_actor* self) {
    auto unavailable = [=](const caf::error&) {
      reply(json_error(req, http::status::service_unavailable, "unavailable",
                       "the document cannot be read now"));
    };
    auto from_store = [=] {
      self->request(store, actor_timeout, peek_atom_v, doc)
        .then(
          [=](doc_snapshot& snap) {
            for (auto& op : snap.tail) {
              if (op.rev <= snap.rev)
                continue;
              if (op.rev != snap.rev + 1
                  || !ot::apply(snap.text, op.op).empty()) {
                unavailable(caf::error{}); // the stored log contradicts itself
                return;
              }
              snap.rev = op.rev;
            }
            reply_doc(req, doc, snap.rev, snap.text, reply);
          },
          unavailable);
    };
    self->request(dir, actor_timeout, resolve_atom_v, doc, false)
      .then(
        [=](std::vector<document_actor>& live) {
          if (live.empty()) {
            from_store();
            return;
          }
          self->request(live.front(), actor_timeout, snapshot_atom_v)
            .then(
              [=](uint64_t rev, const ot::rope& text) {
                reply_doc(req, doc, rev, text, reply);
              },
              // The actor stopped meanwhile (passivated, moved): the
              // store has everything it committed.
              [=](caf::error&) { from_store(); });
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
          reply(json_ok(req, buf.GetString()));
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
      && rest.compare(rest.size() - suffix.size(), suffix.size(), suffix)
           == 0) {
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
    reply(
      json_error(req, http::status::bad_request, "bad_request",
                 "from and limit must be non-negative integers, limit > 0"));
    return;
  }
  get_ops(ctx, req, std::move(rest), from, std::min<uint64_t>(limit, 1000),
          std::move(reply));
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// True when the request came to a loopback name (plain http is fine there,
// and browsers accept Secure cookies only over https elsewhere).
bool loopback_host(const http_request& req) {
  auto host = std::string_view{req[http::field::host]};
  host = host.substr(0, host.rfind(':') == std::string_view::npos
                            || host.back() == ']'
                          ? host.size()
                          : host.rfind(':'));
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

// 204 with the HttpOnly session cookie holding `token`.
http_response session_cookie(const http_request& req, const std::string& token,
                             int64_t exp, bool secure) {
  auto res = make_response(req, http::status::no_content, {},
                           "application/json");
  res.set(http::field::set_cookie,
          "collab_token=" + token + "; Path=/; Max-Age="
            + std::to_string(std::max<int64_t>(0, exp - unix_now()))
            + "; HttpOnly" + (secure ? "; Secure" : "") + "; SameSite=Strict");
  res.set(http::field::cache_control, "no-store");
  return res;
}

// True when the media type of a Content-Type header is application/json.
bool json_content_type(std::string_view header) {
  auto type = header.substr(0, header.find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t'))
    type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
    type.remove_suffix(1);
  constexpr std::string_view json = "application/json";
  return type.size() == json.size()
         && std::equal(
           type.begin(), type.end(), json.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           });
}

// Every POST that sets the session cookie (login CSRF): a foreign Origin is
// refused, and so is any body but JSON. A cross-site page can send a form or
// a text/plain fetch without asking; an application/json one needs a CORS
// preflight, which this server never grants.
bool cookie_post_allowed(server_context& ctx, const http_request& req,
                         http_response& refusal) {
  if (!origin_allowed(req[http::field::origin], ctx.allowed_origins)) {
    refusal = json_error(req, http::status::forbidden, "forbidden",
                         "origin not allowed");
    return false;
  }
  if (!json_content_type(req[http::field::content_type])) {
    refusal = json_error(req, http::status::unsupported_media_type,
                         "unsupported_media_type",
                         "Content-Type: application/json is required");
    return false;
  }
  return true;
}

void post_session(server_context& ctx, const http_request& req,
                  reply_fn reply) {
  http_response refusal;
  if (!cookie_post_allowed(ctx, req, refusal)) {
    reply(std::move(refusal));
    return;
  }
  token_claims claims;
  auto token = extract_token(req[http::field::authorization], {});
  std::string why = "a Bearer token is required";
  if (!token || !ctx.accept_token(*token, claims, why)) {
    reply(json_error(req, http::status::unauthorized, "unauthorized", why));
    return;
  }
  reply(session_cookie(req, *token, claims.exp, true));
}

// Development mode only: a session for any user name, all documents, 1 h.
void post_dev_login(server_context& ctx, const http_request& req,
                    reply_fn reply) {
  http_response refusal;
  if (!cookie_post_allowed(ctx, req, refusal)) {
    reply(std::move(refusal));
    return;
  }
  rapidjson::Document body;
  body.Parse(req.body().data(), req.body().size());
  std::string user;
  if (!body.HasParseError() && body.IsObject() && body.HasMember("user")
      && body["user"].IsString())
    user.assign(body["user"].GetString(), body["user"].GetStringLength());
  if (user.empty() || user.size() > 64
      || user.find_first_not_of(
           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
           "vwxyz0123456789_ .-")
           != std::string::npos) {
    reply(json_error(req, http::status::bad_request, "bad_request",
                     "user: 1 to 64 of [A-Za-z0-9_ .-]"));
    return;
  }
  constexpr int64_t ttl = 3600;
  auto token = mint_token(ctx.cfg.jwt_secret, user, {"*"}, {}, ttl);
  reply(session_cookie(req, token, unix_now() + ttl, !loopback_host(req)));
}

// What the demo page needs to know: this node and where the others take
// sockets (the page builds ws://<its host>:<client_port>/v1/ws, so that the
// cookie, which belongs to the host, goes along).
void get_config(server_context& ctx, const http_request& req, reply_fn reply) {
  auto answer = [&ctx, req, reply](const std::vector<member_info>& members) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("node");
    w.String(ctx.cfg.node_id.c_str());
    w.Key("dev");
    w.Bool(ctx.cfg.dev);
    w.Key("nodes");
    w.StartArray();
    for (auto& m : members) {
      w.StartObject();
      w.Key("node");
      w.String(m.node.c_str());
      w.Key("client_port");
      w.Uint(m.client_port);
      w.Key("state");
      w.String(to_string(m.state));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    reply(json_ok(req, buf.GetString()));
  };
  member_info self;
  self.node = ctx.cfg.node_id;
  self.client_port = ctx.client_port;
  if (!ctx.membership) {
    answer({self});
    return;
  }
  auto membership = ctx.membership;
  ctx.sys.spawn([=](caf::event_based_actor* actor) {
    actor->request(membership, std::chrono::seconds(2), members_atom_v)
      .then(
        [=](std::vector<member_info>& members) {
          // Our own node first: the page connects there first.
          std::stable_partition(members.begin(), members.end(),
                                [&](const member_info& m) {
                                  return m.node == self.node;
                                });
          answer(members);
        },
        [=](caf::error&) { answer({self}); });
  });
}

void get_static(server_context& ctx, const http_request& req,
                std::string_view path, reply_fn reply) {
  auto file = ctx.site.find(path);
  if (file == nullptr && path == "/") {
    reply(make_response(req, http::status::ok,
                        "collab node " + ctx.cfg.node_id
                          + ": WebSocket protocol v1 at /v1/ws (the demo page "
                            "is not built: run tools/build)\n",
                        "text/plain"));
    return;
  }
  if (file == nullptr) {
    reply(
      json_error(req, http::status::not_found, "not_found", "no such file"));
    return;
  }
  if (req[http::field::if_none_match] == file->etag) {
    auto res = make_response(req, http::status::not_modified, {},
                             file->content_type.c_str());
    res.set(http::field::etag, file->etag);
    res.set(http::field::cache_control, file->cache_control);
    reply(std::move(res));
    return;
  }
  auto res = make_response(req, http::status::ok, file->body,
                           file->content_type.c_str());
  res.set(http::field::etag, file->etag);
  res.set(http::field::cache_control, file->cache_control);
  res.set("X-Content-Type-Options", "nosniff");
  if (path == "/")
    res.set("Content-Security-Policy",
            "default-src 'self'; connect-src 'self' ws: wss:; "
            "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
  reply(std::move(res));
}

// /healthz and /readyz: 200 with `ok` when every check answers "", else 503
// with the reasons, one per line.
http_response
health_answer(const http_request& req, std::string reasons,
              const std::vector<std::function<std::string()>>& checks,
              const char* ok) {
  for (auto& check : checks)
    if (auto why = check(); !why.empty())
      reasons += why + "\n";
  if (reasons.empty())
    return make_response(req, http::status::ok, ok, "text/plain");
  return make_response(req, http::status::service_unavailable,
                       std::move(reasons), "text/plain");
}

void append_net_metrics(std::string& out) {
  out += "# HELP collab_connection_actors connection actors in memory (a "
         "closed connection is freed at once)\n"
         "# TYPE collab_connection_actors gauge\ncollab_connection_actors ";
  out += std::to_string(connection_actors_in_memory());
  out += '\n';
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
  bool get = req.method() == http::verb::get
             || req.method() == http::verb::head;
  if (get && path == "/healthz") {
    reply(health_answer(req, {}, ctx.liveness_checks, "ok\n"));
  } else if (get && path == "/readyz") {
    reply(health_answer(req, ctx.draining ? "draining\n" : "",
                        ctx.readiness_checks, "ready\n"));
  } else if (get && path == "/metrics") {
    auto text = node_metrics().render();
    append_net_metrics(text);
    for (auto& source : ctx.metrics_sources)
      source(text);
    reply(make_response(req, http::status::ok, std::move(text),
                        "text/plain; version=0.0.4"));
  } else if (get && path.rfind("/v1/docs/", 0) == 0) {
    docs_route(ctx, req, path, std::move(reply));
  } else if (req.method() == http::verb::post && path == "/v1/session") {
    post_session(ctx, req, std::move(reply));
  } else if (req.method() == http::verb::post && path == "/v1/dev/login"
             && ctx.cfg.dev) {
    post_dev_login(ctx, req, std::move(reply));
  } else if (get && path == "/v1/config") {
    get_config(ctx, req, std::move(reply));
  } else if (get && (path == "/" || path.rfind("/assets/", 0) == 0)) {
    get_static(ctx, req, path, std::move(reply));
  } else {
    reply(
      json_error(req, http::status::not_found, "not_found", "no such route"));
  }
}

} // namespace collab::net
