// collabctl: inspect and operate a running collab cluster through the admin
// API of any node (docs/ADMIN.md). Human-readable tables by default, --json
// for scripts.
//
// Exit codes: 0 done, 1 the node answered an error, 2 bad usage, 3 the node
// is unreachable, 4 unauthorized.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "admin_client.hpp"
#include "table.hpp"

namespace {

using namespace collabctl;

enum exit_code {
  ok = 0,
  server_error = 1,
  usage = 2,
  unreachable = 3,
  unauthorized = 4
};

struct options {
  std::string node;
  std::string token;
  bool json = false;
  double timeout_s = 10;
  double watch_s = 0;
};

std::string env_or(const char* name, const char* fallback) {
  auto v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s)
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else
      out += {'%', hex[c >> 4], hex[c & 15]};
  return out;
}

std::string json_string(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

// One request; on success `doc` holds the answer, else the exit code.
int call(const options& o, const std::string& method, const std::string& target,
         const std::string& body, rapidjson::Document& doc) {
  auto ms = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  auto a = admin_request(o.node, o.token, method, target, body, ms);
  if (a.status == 0) {
    std::cerr << "collabctl: cannot reach " << o.node << ": "
              << a.transport_error << "\n";
    return unreachable;
  }
  doc.Parse(a.body.data(), a.body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    std::cerr << "collabctl: " << o.node << " answered HTTP " << a.status
              << " with a body that is not a JSON object\n";
    return server_error;
  }
  if (a.status == 200)
    return ok;
  auto message = doc.HasMember("message") && doc["message"].IsString()
                   ? doc["message"].GetString()
                   : "";
  auto code = doc.HasMember("error") && doc["error"].IsString()
                ? doc["error"].GetString()
                : "error";
  std::cerr << "collabctl: " << code << ": " << message << " (HTTP " << a.status
            << ")\n";
  return a.status == 401 ? unauthorized : server_error;
}

void print_missing(const rapidjson::Document& d) {
  if (d.HasMember("missing") && d["missing"].IsArray() && !d["missing"].Empty())
    std::cout << "(no answer from: " << cell_text(d["missing"]) << ")\n";
}

// Adds a human-friendly column computed from another one.
template<class F>
void derive(rapidjson::Document& d, rapidjson::Value& rows, const char* key,
            F f) {
  for (auto& row : rows.GetArray())
    row.AddMember(rapidjson::StringRef(key),
                  rapidjson::Value(f(row).c_str(), d.GetAllocator()),
                  d.GetAllocator());
}

std::string mib(const rapidjson::Value& row) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB",
                row["rss_bytes"].GetUint64() / 1048576.0);
  return buf;
}

std::string duration(double s) {
  char buf[32];
  if (s < 120)
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 7200)
    std::snprintf(buf, sizeof buf, "%.0fm", s / 60);
  else
    std::snprintf(buf, sizeof buf, "%.1fh", s / 3600);
  return buf;
}

int show_nodes(const options& o) {
  rapidjson::Document d;
  if (auto rc = call(o, "GET", "/admin/v1/nodes", "", d))
    return rc;
  if (o.json) {
    std::cout << json_string(d) << "\n";
    return ok;
  }
  auto& rows = d["nodes"];
  derive(d, rows, "rss", mib);
  derive(d, rows, "uptime",
         [](auto& r) { return duration(r["uptime_s"].GetDouble()); });
  print_table(std::cout, rows,
              {{"NODE", "node"},
               {"STATE", "state"},
               {"CLUSTER", "cluster_addr"},
               {"CLIENT", "client_port"},
               {"UPTIME", "uptime"},
               {"CONNS", "connections"},
               {"SESSIONS", "sessions"},
               {"DOCS", "documents"},
               {"OPS/S", "ops_per_s"},
               {"RSS", "rss"}});
  print_missing(d);
  return ok;
}

int show_docs(const options& o, const std::string& node,
              const std::string& sort) {
  rapidjson::Document d;
  auto target = "/admin/v1/docs"
                + (node.empty() ? std::string{} : "?node=" + url_encode(node));
  if (auto rc = call(o, "GET", target, "", d))
    return rc;
  auto& rows = d["docs"];
  auto key = sort == "ops"    ? "ops_per_s"
             : sort == "subs" ? "subscribers"
                              : "idle_s";
  // Busiest (or most idle) first; then by id, so the order is stable.
  std::sort(rows.Begin(), rows.End(), [&](auto& a, auto& b) {
    auto x = a[key].GetDouble(), y = b[key].GetDouble();
    if (x != y)
      return x > y;
    return std::string{a["doc"].GetString()} < b["doc"].GetString();
  });
  if (o.json) {
    std::cout << json_string(d) << "\n";
    return ok;
  }
  derive(d, rows, "idle",
         [](auto& r) { return duration(r["idle_s"].GetDouble()); });
  print_table(std::cout, rows,
              {{"DOC", "doc"},
               {"NODE", "node"},
               {"REV", "rev"},
               {"DURABLE", "durable_rev"},
               {"SNAPSHOT", "snapshot_rev"},
               {"SUBS", "subscribers"},
               {"MAILBOX", "mailbox"},
               {"OPS/S", "ops_per_s"},
               {"IDLE", "idle"}});
  print_missing(d);
  return ok;
}

int show_doc(const options& o, const std::string& id) {
  rapidjson::Document d;
  if (auto rc = call(o, "GET", "/admin/v1/docs/" + url_encode(id), "", d))
    return rc;
  if (o.json) {
    std::cout << json_string(d) << "\n";
    return ok;
  }
  for (auto key : {"doc", "node", "epoch", "rev", "durable_rev", "snapshot_rev",
                   "mailbox", "ops_per_s", "idle_s"})
    std::cout << key << ": " << cell_text(d[key]) << "\n";
  std::cout << "history: ops " << d["history"]["from"].GetUint64() << ".."
            << d["history"]["to"].GetUint64() << " in memory\n";
  if (d["stream"].IsObject())
    std::cout << "stream: " << d["stream"]["length"].GetUint64() << " entries, "
              << cell_text(d["stream"]["first_id"]) << " .. "
              << cell_text(d["stream"]["last_id"]) << "\n";
  else
    std::cout << "stream: none\n";
  std::cout << "\nsubscribers:\n";
  print_table(std::cout, d["subscribers"],
              {{"SESSION", "session"},
               {"CLIENT", "client"},
               {"USER", "user"},
               {"NODE", "node"},
               {"PRESENCE", "presence"}});
  std::cout << "\nrecent ops:\n";
  print_table(std::cout, d["recent_ops"],
              {{"REV", "rev"},
               {"CLIENT", "client"},
               {"SEQ", "seq"},
               {"USER", "user"},
               {"OP", "op"}});
  return ok;
}

int show_conns(const options& o, const std::string& node) {
  rapidjson::Document d;
  auto target = "/admin/v1/conns"
                + (node.empty() ? std::string{} : "?node=" + url_encode(node));
  if (auto rc = call(o, "GET", target, "", d))
    return rc;
  if (o.json) {
    std::cout << json_string(d) << "\n";
    return ok;
  }
  print_table(std::cout, d["conns"],
              {{"NODE", "node"},
               {"SESSION", "session"},
               {"USER", "user"},
               {"CLIENT", "client"},
               {"REMOTE", "remote"},
               {"DOCS", "docs"},
               {"QUEUED", "send_queue_bytes"},
               {"IN", "messages_in"},
               {"OUT", "messages_out"}});
  print_missing(d);
  return ok;
}

// Keeps the `limit` rows that sort first by `keys` (each descending), then
// by `id` (ascending, so the order is stable).
void keep_top(rapidjson::Value& rows, std::initializer_list<const char*> keys,
              const char* id, size_t limit) {
  std::sort(rows.Begin(), rows.End(), [&](auto& a, auto& b) {
    for (auto key : keys) {
      auto x = a[key].GetDouble(), y = b[key].GetDouble();
      if (x != y)
        return x > y;
    }
    return std::string{a[id].GetString()} < b[id].GetString();
  });
  if (rows.Size() > limit)
    rows.Erase(rows.Begin() + limit, rows.End());
}

// The busiest documents (ops/s, subscribers, mailbox) and sessions (queued
// bytes, messages in) across the cluster, with the nodes above them.
int show_top(const options& o, size_t limit) {
  rapidjson::Document nodes, docs, conns;
  if (auto rc = call(o, "GET", "/admin/v1/nodes", "", nodes))
    return rc;
  if (auto rc = call(o, "GET", "/admin/v1/docs", "", docs))
    return rc;
  if (auto rc = call(o, "GET", "/admin/v1/conns", "", conns))
    return rc;
  keep_top(docs["docs"], {"ops_per_s", "subscribers", "mailbox"}, "doc", limit);
  keep_top(conns["conns"], {"send_queue_bytes", "messages_in"}, "session",
           limit);
  if (o.json) {
    std::cout << "{\"nodes\":" << json_string(nodes["nodes"])
              << ",\"docs\":" << json_string(docs["docs"])
              << ",\"conns\":" << json_string(conns["conns"]) << "}\n";
    return ok;
  }
  uint64_t sockets = 0, documents = 0;
  double ops = 0;
  for (auto& n : nodes["nodes"].GetArray()) {
    sockets += n["connections"].GetUint64();
    documents += n["documents"].GetUint64();
    ops += n["ops_per_s"].GetDouble();
  }
  std::cout << "collab: " << nodes["nodes"].Size() << " nodes, " << sockets
            << " sockets, " << documents << " documents, " << ops
            << " ops/s\n\n";
  derive(nodes, nodes["nodes"], "rss", mib);
  print_table(std::cout, nodes["nodes"],
              {{"NODE", "node"},
               {"STATE", "state"},
               {"CONNS", "connections"},
               {"DOCS", "documents"},
               {"OPS/S", "ops_per_s"},
               {"RSS", "rss"}});
  std::cout << "\nbusiest documents:\n";
  print_table(std::cout, docs["docs"],
              {{"DOC", "doc"},
               {"NODE", "node"},
               {"OPS/S", "ops_per_s"},
               {"SUBS", "subscribers"},
               {"MAILBOX", "mailbox"},
               {"REV", "rev"}});
  std::cout << "\nbusiest sessions:\n";
  print_table(std::cout, conns["conns"],
              {{"SESSION", "session"},
               {"NODE", "node"},
               {"USER", "user"},
               {"QUEUED", "send_queue_bytes"},
               {"IN", "messages_in"},
               {"OUT", "messages_out"}});
  print_missing(docs);
  return ok;
}

// POST commands: JSON answer, or a one-line summary.
int post(const options& o, const std::string& target, const std::string& body,
         const std::function<std::string(const rapidjson::Document&)>& say) {
  rapidjson::Document d;
  if (auto rc = call(o, "POST", target, body, d))
    return rc;
  std::cout << (o.json ? json_string(d) : say(d)) << "\n";
  return ok;
}

std::string json_field(const char* key, const std::string& value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key(key);
  w.String(value.c_str());
  w.EndObject();
  return buf.GetString();
}

// Repeats `show` every `seconds` (clearing the terminal) until interrupted.
int watch(double seconds, const std::function<int()>& show) {
  for (;;) {
    std::cout << "\x1b[H\x1b[2J" << std::flush;
    if (auto rc = show())
      return rc;
    std::cout << std::flush;
    std::this_thread::sleep_for(
      std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  }
}

// The subcommands and what they were given.
struct command_line {
  std::string filter_node, sort = "ops";
  size_t limit = 10; // top
  bool once = false; // top
  std::string id, target_node, session;
  std::string sub, jti;
  std::vector<std::string> patterns, read;
  int64_t ttl = 3600;
  CLI::App* nodes = nullptr;
  CLI::App* docs = nullptr;
  CLI::App* doc = nullptr;
  CLI::App* conns = nullptr;
  CLI::App* top = nullptr;
  CLI::App* drain = nullptr;
  CLI::App* move = nullptr;
  CLI::App* snapshot = nullptr;
  CLI::App* evict = nullptr;
  CLI::App* kick = nullptr;
  CLI::App* token = nullptr;
  CLI::App* revoke = nullptr;
  CLI::App* revocations = nullptr;
};

// nodes, docs, doc, conns, top.
void add_inspect_commands(CLI::App& app, options& o, command_line& c) {
  c.nodes = app.add_subcommand("nodes", "members: state, load, memory");
  c.nodes->add_option("--watch", o.watch_s, "refresh every SECONDS")
    ->expected(0, 1)
    ->default_str("2");

  c.docs = app.add_subcommand("docs", "live document actors");
  c.docs->add_option("--node", c.filter_node, "only documents owned by node N");
  c.docs->add_option("--sort", c.sort, "ops, subs or idle")
    ->check(CLI::IsMember({"ops", "subs", "idle"}));
  c.docs->add_option("--watch", o.watch_s, "refresh every SECONDS")
    ->expected(0, 1)
    ->default_str("2");

  c.doc = app.add_subcommand("doc", "one document in depth");
  c.doc->add_option("ID", c.id)->required();

  c.conns = app.add_subcommand("conns", "open sockets");
  c.conns->add_option("--node", c.filter_node, "only sockets on node N");

  c.top = app.add_subcommand("top", "the busiest documents and sessions, "
                                    "refreshed in place");
  c.top->add_option("--limit", c.limit, "rows of each list (10)")
    ->check(CLI::Range(size_t{1}, size_t{10000}));
  c.top->add_option("--watch", o.watch_s, "refresh every SECONDS (2)");
  c.top->add_flag("--once", c.once, "print once (as --json does)");
}

// drain, move, snapshot, evict, kick.
void add_operate_commands(CLI::App& app, command_line& c) {
  c.drain = app.add_subcommand("drain", "move every document off NODE");
  c.drain->add_option("NODE", c.target_node)->required();
  c.move = app.add_subcommand("move", "move DOC to NODE (pins it there)");
  c.move->add_option("DOC", c.id)->required();
  c.move->add_option("NODE", c.target_node)->required();
  c.snapshot = app.add_subcommand("snapshot", "write a snapshot of DOC now");
  c.snapshot->add_option("DOC", c.id)->required();
  c.evict = app.add_subcommand("evict", "passivate DOC now");
  c.evict->add_option("DOC", c.id)->required();
  c.kick = app.add_subcommand("kick", "close SESSION's socket (1008)");
  c.kick->add_option("SESSION", c.session)->required();
}

// token, revoke, revocations.
void add_token_commands(CLI::App& app, command_line& c) {
  c.token = app.add_subcommand("token", "mint a token with the node's secret");
  c.token->add_option("--sub", c.sub, "user id")->required();
  c.token->add_option("--docs", c.patterns, "document patterns")
    ->required()
    ->delimiter(',');
  c.token->add_option("--read", c.read, "read-only patterns")->delimiter(',');
  // The node refuses a longer lifetime too (net/auth.hpp,
  // max_token_ttl_seconds): no ttl may overflow the token's exp.
  constexpr int64_t max_ttl = 366 * 24 * 3600;
  c.token->add_option("--ttl", c.ttl, "seconds (1 to 31622400: one year)")
    ->check(CLI::Range(int64_t{1}, max_ttl));
  c.revoke = app.add_subcommand("revoke", "revoke a token (jti) or a user");
  auto jti_opt = c.revoke->add_option("--jti", c.jti, "token id");
  auto sub_opt = c.revoke->add_option("--sub", c.sub, "user id");
  jti_opt->excludes(sub_opt);
  c.revocations = app.add_subcommand("revocations", "the revocation list");
}

// The inspecting subcommands; nothing when another one was given.
std::optional<int> run_inspect(const options& o, const command_line& c) {
  if (c.nodes->parsed()) {
    if (c.nodes->count("--watch") > 0)
      return watch(o.watch_s > 0 ? o.watch_s : 2,
                   [&] { return show_nodes(o); });
    return show_nodes(o);
  }
  if (c.docs->parsed()) {
    if (c.docs->count("--watch") > 0)
      return watch(o.watch_s > 0 ? o.watch_s : 2,
                   [&] { return show_docs(o, c.filter_node, c.sort); });
    return show_docs(o, c.filter_node, c.sort);
  }
  if (c.doc->parsed())
    return show_doc(o, c.id);
  if (c.conns->parsed())
    return show_conns(o, c.filter_node);
  if (c.top->parsed()) {
    if (c.once || o.json)
      return show_top(o, c.limit);
    return watch(o.watch_s > 0 ? o.watch_s : 2,
                 [&] { return show_top(o, c.limit); });
  }
  return std::nullopt;
}

// The operating subcommands; nothing when another one was given.
std::optional<int> run_operate(const options& o, const command_line& c) {
  const auto& id = c.id;
  const auto& target_node = c.target_node;
  const auto& session = c.session;
  if (c.drain->parsed())
    return post(o, "/admin/v1/nodes/" + url_encode(target_node) + "/drain", "",
                [&](auto&) { return target_node + " is draining"; });
  if (c.move->parsed())
    return post(o, "/admin/v1/docs/" + url_encode(id) + "/move",
                json_field("node", target_node), [&](auto& d) {
                  return id + " moved from "
                         + (d["from"].GetStringLength() ? d["from"].GetString()
                                                        : "(not live)")
                         + " to " + d["to"].GetString();
                });
  if (c.snapshot->parsed())
    return post(
      o, "/admin/v1/docs/" + url_encode(id) + "/snapshot", "", [&](auto& d) {
        return id + ": snapshot at rev " + cell_text(d["snapshot_rev"]) + " on "
               + d["node"].GetString();
      });
  if (c.evict->parsed())
    return post(o, "/admin/v1/docs/" + url_encode(id) + "/evict", "",
                [&](auto& d) {
                  return id + " passivated on " + d["node"].GetString()
                         + " at rev " + cell_text(d["rev"]);
                });
  if (c.kick->parsed())
    return post(o, "/admin/v1/sessions/" + url_encode(session) + "/kick", "",
                [&](auto& d) {
                  return session + " closed on " + d["node"].GetString();
                });
  return std::nullopt;
}

// The body of POST /admin/v1/tokens.
std::string token_request(const command_line& c) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("sub");
  w.String(c.sub.c_str());
  for (auto [key, list] : {std::pair{"docs", &c.patterns}, {"read", &c.read}}) {
    w.Key(key);
    w.StartArray();
    for (auto& p : *list)
      w.String(p.c_str());
    w.EndArray();
  }
  w.Key("ttl");
  w.Int64(c.ttl);
  w.EndObject();
  return buf.GetString();
}

// The token subcommands; nothing when another one was given.
std::optional<int> run_tokens(const options& o, const command_line& c) {
  if (c.token->parsed()) {
    std::string body = token_request(c);
    return post(o, "/admin/v1/tokens", body,
                [](auto& d) { return std::string{d["token"].GetString()}; });
  }
  if (c.revoke->parsed())
    return post(
      o, "/admin/v1/revocations",
      c.jti.empty() ? json_field("sub", c.sub) : json_field("jti", c.jti),
      [](auto& d) {
        return "revoked; sockets closed: " + cell_text(d["sessions_closed"]);
      });
  if (c.revocations->parsed()) {
    rapidjson::Document d;
    if (auto rc = call(o, "GET", "/admin/v1/revocations", "", d))
      return rc;
    if (o.json)
      std::cout << json_string(d) << "\n";
    else
      print_table(std::cout, d["revocations"],
                  {{"JTI", "jti"}, {"USER", "sub"}, {"AT", "at"}});
    return ok;
  }
  return std::nullopt;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{
    "collabctl: inspect and operate a collab cluster (docs/ADMIN.md)"};
  app.require_subcommand(1);
  // Global options anywhere on the line, as kubectl takes them
  // (`collabctl nodes --json`): a subcommand's own options match first.
  // Set before the subcommands are added: they inherit it.
  app.fallthrough();
  options o;
  o.node = env_or("COLLAB_ADMIN_NODE", "127.0.0.1:9090");
  o.token = env_or("COLLAB_ADMIN_TOKEN", "");
  app.add_option("--node", o.node,
                 "admin address HOST:PORT of any node ($COLLAB_ADMIN_NODE)");
  app.add_option("--token", o.token, "admin token ($COLLAB_ADMIN_TOKEN)");
  app.add_flag("--json", o.json, "print the JSON answer");
  app.add_option("--timeout", o.timeout_s, "seconds to wait for an answer");

  command_line c;
  add_inspect_commands(app, o, c);
  add_operate_commands(app, c);
  add_token_commands(app, c);

  try {
    app.parse(argc, argv);
    if (c.revoke->parsed() && c.jti.empty() && c.sub.empty())
      throw CLI::ValidationError("revoke needs --jti or --sub");
  } catch (const CLI::ParseError& e) {
    auto rc = app.exit(e);
    return rc == 0 ? ok : usage;
  }

  if (auto rc = run_inspect(o, c))
    return *rc;
  if (auto rc = run_operate(o, c))
    return *rc;
  if (auto rc = run_tokens(o, c))
    return *rc;
  return usage;
}
