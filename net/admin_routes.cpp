#include "net/admin_routes.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include <caf/all.hpp>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include "actors/cluster_protocol.hpp"
#include "actors/core/log_escape.hpp"
#include "actors/gather.hpp"
#include "actors/ot/op_json.hpp"
#include "net/admin_json.hpp"
#include "net/admin_members.hpp"
#include "net/codec.hpp"
#include "persistence/redis_admin.hpp"

// Look whether a move is done (a self-message of the request's actor).
CAF_ADD_ATOM(collab, collab, move_poll_atom, "movepoll")

namespace collab::net {
namespace {

namespace http = boost::beast::http;
using namespace admin; // the JSON writers and the member fan-out

constexpr auto move_deadline = std::chrono::seconds(10);
constexpr auto move_poll = std::chrono::milliseconds(50);
constexpr uint64_t recent_ops = 20;

// ---- routes

void get_nodes(server_context& ctx, const http_request& req, reply_fn reply) {
  with_members(ctx, req, reply, [=](actor_ptr self, members ms) {
    std::sort(ms.begin(), ms.end(),
              [](auto& a, auto& b) { return a.node < b.node; });
    auto up = live(ms);
    gather<node_status>(
      self, agents_of(up), ask_timeout,
      [=](std::vector<node_status> got, std::vector<size_t> missing) {
        reply(json_ok(
          req, json_string([&](writer& w) {
            w.StartObject();
            w.Key("nodes");
            w.StartArray();
            for (auto& m : ms) {
              auto i = std::find_if(got.begin(), got.end(),
                                    [&](auto& n) { return n.node == m.node; });
              node_status n;
              if (i != got.end())
                n = *i;
              n.node = m.node;
              n.state = m.state; // the membership view: joining/draining/down
              if (n.cluster_addr.empty() && m.port != 0)
                n.cluster_addr = m.host + ":" + std::to_string(m.port);
              if (n.client_port == 0)
                n.client_port = m.client_port;
              if (n.admin_port == 0)
                n.admin_port = m.admin_port;
              write_node(w, n);
            }
            w.EndArray();
            write_missing(w, names_at(up, missing));
            w.EndObject();
          })));
      },
      inspect_atom_v);
  });
}

// GET of a list every node answers for itself (docs, conns): asks the live
// agents (those of node `?node=N` only, when given) and concatenates.
template<class T, class Atom, class Write>
void list_from_agents(server_context& ctx, const http_request& req,
                      reply_fn reply, const char* key, Atom atom,
                      Write write_item) {
  auto only = query_param(req.target(), "node");
  std::optional<std::string> filter;
  if (only)
    filter = percent_decode(*only);
  with_members(ctx, req, reply, [=](actor_ptr self, members ms) {
    auto asked = filter ? live(ms, *filter) : live(ms);
    gather<std::vector<T>>(
      self, agents_of(asked), ask_timeout,
      [=](std::vector<std::vector<T>> got, std::vector<size_t> missing) {
        reply(json_ok(req, json_string([&](writer& w) {
                        w.StartObject();
                        w.Key(key);
                        w.StartArray();
                        for (auto& list : got)
                          for (auto& item : list)
                            write_item(w, item);
                        w.EndArray();
                        write_missing(w, names_at(asked, missing));
                        w.EndObject();
                      })));
      },
      atom);
  });
}

void get_docs(server_context& ctx, const http_request& req, reply_fn reply) {
  list_from_agents<doc_status>(ctx, req, std::move(reply), "docs", docs_atom_v,
                               [](writer& w, const doc_status& d) {
                                 w.StartObject();
                                 write_doc_fields(w, d);
                                 w.EndObject();
                               });
}

void get_conns(server_context& ctx, const http_request& req, reply_fn reply) {
  list_from_agents<conn_status>(ctx, req, std::move(reply), "conns",
                                conns_atom_v, write_conn);
}

void get_doc(server_context& ctx, const http_request& req,
             const std::string& doc, reply_fn reply) {
  auto redis = ctx.redis_admin;
  with_members(ctx, req, reply, [=](actor_ptr self, members ms) {
    gather<doc_detail>(
      self, agents_of(live(ms)), ask_timeout,
      [=](std::vector<doc_detail> got, std::vector<size_t>) {
        if (got.empty()) {
          reply(json_error(req, http::status::not_found, "not_found",
                           "no node has this document live"));
          return;
        }
        // During a move two actors may be live for a moment: the newer
        // fence epoch is the owner.
        auto best = *std::max_element(got.begin(), got.end(),
                                      [](auto& a, auto& b) {
                                        return a.epoch < b.epoch;
                                      });
        auto answer = [=](std::optional<stream_info> stream) {
          reply(json_ok(req, json_string([&](writer& w) {
                          write_detail(w, best, stream);
                        })));
        };
        if (!redis) {
          answer(std::nullopt);
          return;
        }
        self->request(redis, ask_timeout, stream_info_atom_v, doc)
          .then([=](stream_info& info) { answer(std::move(info)); },
                [=](caf::error&) { answer(std::nullopt); });
      },
      inspect_atom_v, doc, recent_ops);
  });
}

void drain_node(server_context& ctx, const http_request& req,
                const std::string& node, reply_fn reply) {
  with_members(ctx, req, reply, [=](actor_ptr self, members ms) {
    auto m = find_member(live(ms), node);
    if (m == nullptr) {
      reply(json_error(req, http::status::not_found, "not_found",
                       "no live member " + node));
      return;
    }
    self->request(m->agent, ask_timeout, drain_atom_v)
      .then(
        [=](bool) {
          spdlog::info("event=admin_drain node=\"{}\"", log_escape(node));
          reply(json_ok(req, json_string([&](writer& w) {
                          w.StartObject();
                          str(w, "node", node);
                          str(w, "state", "draining");
                          w.EndObject();
                        })));
        },
        [=](caf::error& err) {
          reply(json_error(req, http::status::service_unavailable,
                           "unavailable", self->system().render(err)));
        });
  });
}

// Pins `doc` to `to` on every member, waits until the old owner let go,
// then activates it on `to` (its subscribers usually did that already).
void move_doc(server_context& ctx, const http_request& req,
              const std::string& doc, const std::string& to, reply_fn reply) {
  with_members(ctx, req, reply, [=](actor_ptr self, members ms) {
    auto up = live(ms);
    auto target = find_member(up, to);
    if (target == nullptr || target->state != member_state::up) {
      reply(json_error(req, http::status::conflict, "conflict",
                       to + " is not a live member that takes documents"));
      return;
    }
    auto target_agent = target->agent;
    find_live(self, up, doc, [=](members before) {
      std::string from = before.empty() ? "" : before.front().node;
      gather<bool>(
        self, agents_of(up), ask_timeout,
        [=](std::vector<bool>, std::vector<size_t> missing) {
          if (!missing.empty()) {
            reply(json_error(req, http::status::service_unavailable,
                             "unavailable",
                             "a member did not take the pin; try again"));
            return;
          }
          spdlog::info("event=admin_move doc={} from=\"{}\" to=\"{}\"", doc,
                       log_escape(from), log_escape(to));
          auto deadline = std::chrono::steady_clock::now() + move_deadline;
          auto wait = std::make_shared<std::function<void()>>();
          *wait = [=] {
            find_live(self, up, doc, [=](members now) {
              bool elsewhere = std::any_of(
                now.begin(), now.end(), [&](auto& m) { return m.node != to; });
              if (elsewhere && std::chrono::steady_clock::now() < deadline) {
                self->delayed_send(self, move_poll, move_poll_atom_v);
                self->become([=](move_poll_atom) { (*wait)(); });
                return;
              }
              self
                ->request(target_agent, ask_timeout, resolve_local_atom_v, doc)
                .then(
                  [=](const document_actor&) {
                    reply(json_ok(req, json_string([&](writer& w) {
                                    w.StartObject();
                                    str(w, "doc", doc);
                                    str(w, "from", from);
                                    str(w, "to", to);
                                    w.EndObject();
                                  })));
                    *wait = nullptr; // breaks the self-reference
                  },
                  [=](caf::error& err) {
                    reply(json_error(req, http::status::service_unavailable,
                                     "unavailable",
                                     self->system().render(err)));
                    *wait = nullptr;
                  });
            });
          };
          (*wait)();
        },
        pin_atom_v, doc, to);
    });
  });
}

void snapshot_doc(server_context& ctx, const http_request& req,
                  const std::string& doc, reply_fn reply) {
  auto dir = ctx.directory;
  ctx.sys.spawn([=](actor_ptr self) {
    auto fail = [=](caf::error& err) {
      reply(json_error(req, http::status::service_unavailable, "unavailable",
                       self->system().render(err)));
    };
    // Through the directory: the document is activated at its owner.
    self->request(dir, ask_timeout, resolve_atom_v, doc)
      .then(
        [=](document_actor actor) {
          self->request(actor, ask_timeout, snapshot_now_atom_v)
            .then(
              [=](uint64_t rev) {
                self->request(actor, ask_timeout, inspect_atom_v)
                  .then(
                    [=](const doc_status& st) {
                      reply(json_ok(req, json_string([&](writer& w) {
                                      w.StartObject();
                                      str(w, "doc", doc);
                                      str(w, "node", st.node);
                                      w.Key("snapshot_rev");
                                      w.Uint64(rev);
                                      w.EndObject();
                                    })));
                    },
                    fail);
              },
              fail);
        },
        fail);
  });
}

void evict_doc(server_context& ctx, const http_request& req,
               const std::string& doc, reply_fn reply) {
  with_members(ctx, req, reply, [=](actor_ptr self, members ms) {
    find_live(self, live(ms), doc, [=](members here) {
      if (here.empty()) {
        reply(json_error(req, http::status::not_found, "not_found",
                         "no node has this document live"));
        return;
      }
      auto node = here.front().node;
      self->request(here.front().agent, ask_timeout, evict_atom_v, doc)
        .then(
          [=](uint64_t rev) {
            spdlog::info("event=admin_evict doc={} node=\"{}\"", doc,
                         log_escape(node));
            reply(json_ok(req, json_string([&](writer& w) {
                            w.StartObject();
                            str(w, "doc", doc);
                            str(w, "node", node);
                            w.Key("rev");
                            w.Uint64(rev);
                            w.EndObject();
                          })));
          },
          [=](caf::error& err) {
            reply(json_error(req, http::status::service_unavailable,
                             "unavailable", self->system().render(err)));
          });
    });
  });
}

void kick_session(server_context& ctx, const http_request& req,
                  const std::string& session, reply_fn reply) {
  with_members(ctx, req, reply, [=](actor_ptr self, members ms) {
    members_saying_yes(
      self, live(ms),
      [=](members kicked) {
        if (kicked.empty()) {
          reply(json_error(req, http::status::not_found, "not_found",
                           "no such session"));
          return;
        }
        reply(json_ok(req, json_string([&](writer& w) {
                        w.StartObject();
                        str(w, "session", session);
                        str(w, "node", kicked.front().node);
                        w.EndObject();
                      })));
      },
      kick_atom_v, session);
  });
}

bool parse_body(const http_request& req, rapidjson::Document& body) {
  body.Parse(req.body().data(), req.body().size());
  return !body.HasParseError() && body.IsObject();
}

bool string_list(const rapidjson::Value& v, std::vector<std::string>& out) {
  if (!v.IsArray())
    return false;
  for (auto& x : v.GetArray()) {
    if (!x.IsString())
      return false;
    out.emplace_back(x.GetString(), x.GetStringLength());
  }
  return true;
}

std::string random_jti() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 16; ++i)
    out += "0123456789abcdef"[rd() % 16];
  return out;
}

void post_token(server_context& ctx, const http_request& req, reply_fn reply) {
  rapidjson::Document body;
  std::vector<std::string> docs, read;
  if (!parse_body(req, body) || !body.HasMember("sub")
      || !body["sub"].IsString() || body["sub"].GetStringLength() == 0
      || !body.HasMember("docs") || !string_list(body["docs"], docs)
      || (body.HasMember("read") && !string_list(body["read"], read))
      || (body.HasMember("ttl") && !body["ttl"].IsInt64())) {
    reply(json_error(req, http::status::bad_request, "bad_request",
                     "body: {\"sub\":U,\"docs\":[P...],\"read\":[P...]?,"
                     "\"ttl\":SECONDS?}"));
    return;
  }
  int64_t ttl = body.HasMember("ttl") ? body["ttl"].GetInt64() : 3600;
  if (ttl <= 0 || ttl > max_token_ttl_seconds) {
    reply(json_error(req, http::status::bad_request, "bad_request",
                     "ttl: 1 to " + std::to_string(max_token_ttl_seconds)
                       + " seconds (one year)"));
    return;
  }
  if (ctx.cfg.jwt_secret.empty()) {
    reply(json_error(req, http::status::conflict, "conflict",
                     "this node has no HS256 secret to sign with (RS256 "
                     "tokens come from their issuer)"));
    return;
  }
  auto jti = random_jti();
  auto token = mint_token(ctx.cfg.jwt_secret, body["sub"].GetString(), docs,
                          read, ttl, jti);
  auto exp = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count()
             + ttl;
  reply(json_ok(req, json_string([&](writer& w) {
                  w.StartObject();
                  str(w, "token", token);
                  w.Key("exp");
                  w.Int64(exp);
                  str(w, "jti", jti);
                  w.EndObject();
                })));
}

// Every live node applies the revocation and cuts off its sockets at once;
// Redis keeps it for nodes that start later (they re-read it every 2 s).
void post_revocation(server_context& ctx, const http_request& req,
                     reply_fn reply) {
  rapidjson::Document body;
  revocation r;
  if (parse_body(req, body)) {
    if (body.HasMember("jti") && body["jti"].IsString())
      r.jti = body["jti"].GetString();
    else if (body.HasMember("sub") && body["sub"].IsString())
      r.sub = body["sub"].GetString();
  }
  if (r.jti.empty() == r.sub.empty()) {
    reply(json_error(req, http::status::bad_request, "bad_request",
                     "body: {\"jti\":J} or {\"sub\":U}"));
    return;
  }
  r.at = std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
           .count();
  auto redis = ctx.redis_admin;
  with_members(ctx, req, reply, [=](actor_ptr self, members ms) {
    auto up = live(ms);
    // Every node applies it first, then it is persisted: a node polling
    // Redis in between would cut the user off by itself, and its sockets
    // would be missing from sessions_closed.
    gather<uint64_t>(
      self, agents_of(up), ask_timeout,
      [=](std::vector<uint64_t> closed, std::vector<size_t> missing) {
        uint64_t total = 0;
        for (auto n : closed)
          total += n;
        spdlog::info("event=admin_revoke jti=\"{}\" sub=\"{}\" closed={}",
                     log_escape(r.jti), log_escape(r.sub), total);
        auto answer = [=](bool persisted) {
          reply(json_ok(req, json_string([&](writer& w) {
                          w.StartObject();
                          w.Key("revoked");
                          write_revocation(w, r);
                          w.Key("sessions_closed");
                          w.Uint64(total);
                          w.Key("persisted");
                          w.Bool(persisted);
                          w.Key("nodes");
                          w.StartArray();
                          for (auto& m : up)
                            w.String(m.node.c_str());
                          w.EndArray();
                          write_missing(w, names_at(up, missing));
                          w.EndObject();
                        })));
        };
        if (!redis) {
          answer(false);
          return;
        }
        self->request(redis, ask_timeout, save_revocation_atom_v, r)
          .then([=](bool) { answer(true); },
                [=](caf::error&) { answer(false); });
      },
      revoke_atom_v, r);
  });
}

void get_revocations(server_context& ctx, const http_request& req,
                     reply_fn reply) {
  reply(json_ok(req, json_string([&](writer& w) {
                  w.StartObject();
                  w.Key("revocations");
                  w.StartArray();
                  for (auto& r : ctx.revocations.all())
                    write_revocation(w, r);
                  w.EndArray();
                  w.EndObject();
                })));
}

// "/admin/v1/docs/ID/verb" -> ID and verb ("" for GET of the document).
bool split_doc_path(std::string_view path, std::string& doc,
                    std::string& verb) {
  auto rest
    = percent_decode(path.substr(std::string_view("/admin/v1/docs/").size()));
  for (auto v : {"/move", "/snapshot", "/evict"}) {
    std::string_view suffix{v};
    if (rest.size() > suffix.size()
        && rest.compare(rest.size() - suffix.size(), suffix.size(), suffix)
             == 0) {
      verb = std::string{suffix.substr(1)};
      rest.resize(rest.size() - suffix.size());
      break;
    }
  }
  doc = std::move(rest);
  return valid_doc_id(doc);
}

} // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (b.empty())
    return false; // an unset token never matches
  // Comparing digests hides the length too.
  unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
  return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

void handle_admin(server_context& ctx, const http_request& req,
                  reply_fn reply) {
  auto header = std::string_view{req[http::field::authorization]};
  constexpr std::string_view bearer = "Bearer ";
  bool authorized
    = header.size() > bearer.size() && header.substr(0, bearer.size()) == bearer
      && constant_time_equal(header.substr(bearer.size()), ctx.cfg.admin_token);
  if (!authorized) {
    auto res = json_error(req, http::status::unauthorized, "unauthorized",
                          "the admin token is required "
                          "(Authorization: Bearer ...)");
    res.set(http::field::www_authenticate, "Bearer");
    reply(std::move(res));
    return;
  }
  auto path = path_of(req.target());
  bool get = req.method() == http::verb::get;
  bool post = req.method() == http::verb::post;
  constexpr std::string_view nodes = "/admin/v1/nodes/";
  constexpr std::string_view sessions = "/admin/v1/sessions/";
  if (get && path == "/admin/v1/nodes") {
    get_nodes(ctx, req, std::move(reply));
  } else if (get && path == "/admin/v1/docs") {
    get_docs(ctx, req, std::move(reply));
  } else if (get && path == "/admin/v1/conns") {
    get_conns(ctx, req, std::move(reply));
  } else if (get && path == "/admin/v1/revocations") {
    get_revocations(ctx, req, std::move(reply));
  } else if (post && path == "/admin/v1/revocations") {
    post_revocation(ctx, req, std::move(reply));
  } else if (post && path == "/admin/v1/tokens") {
    post_token(ctx, req, std::move(reply));
  } else if (post && path.rfind(nodes, 0) == 0 && path.size() > nodes.size()
             && path.substr(path.size() - 6) == "/drain") {
    auto node = percent_decode(
      path.substr(nodes.size(), path.size() - nodes.size() - 6));
    drain_node(ctx, req, node, std::move(reply));
  } else if (post && path.rfind(sessions, 0) == 0
             && path.size() > sessions.size() + 5
             && path.substr(path.size() - 5) == "/kick") {
    auto session = percent_decode(
      path.substr(sessions.size(), path.size() - sessions.size() - 5));
    kick_session(ctx, req, session, std::move(reply));
  } else if ((get || post) && path.rfind("/admin/v1/docs/", 0) == 0) {
    std::string doc, verb;
    if (!split_doc_path(path, doc, verb)) {
      reply(json_error(req, http::status::bad_request, "bad_request",
                       "bad document id"));
    } else if (get && verb.empty()) {
      get_doc(ctx, req, doc, std::move(reply));
    } else if (post && verb == "snapshot") {
      snapshot_doc(ctx, req, doc, std::move(reply));
    } else if (post && verb == "evict") {
      evict_doc(ctx, req, doc, std::move(reply));
    } else if (post && verb == "move") {
      rapidjson::Document body;
      if (!parse_body(req, body) || !body.HasMember("node")
          || !body["node"].IsString()) {
        reply(json_error(req, http::status::bad_request, "bad_request",
                         "body: {\"node\":N}"));
        return;
      }
      move_doc(ctx, req, doc, body["node"].GetString(), std::move(reply));
    } else {
      reply(
        json_error(req, http::status::not_found, "not_found", "no such route"));
    }
  } else {
    reply(
      json_error(req, http::status::not_found, "not_found", "no such route"));
  }
}

} // namespace collab::net
