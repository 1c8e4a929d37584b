// JSON of the admin API's inspection types (net/admin_json.hpp).
//
// Thread-safety: stateless functions; safe from any thread.
#include "net/admin_json.hpp"

#include "actors/ot/op_json.hpp"

namespace collab::net::admin {

void str(writer& w, const char* key, const std::string& v) {
  w.Key(key);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

void write_node(writer& w, const node_status& n) {
  w.StartObject();
  str(w, "node", n.node);
  w.Key("state");
  w.String(to_string(n.state));
  str(w, "cluster_addr", n.cluster_addr);
  w.Key("client_port");
  w.Uint(n.client_port);
  w.Key("admin_port");
  w.Uint(n.admin_port);
  w.Key("uptime_s");
  w.Double(n.uptime_ms / 1000.0);
  w.Key("connections");
  w.Int64(n.connections);
  w.Key("sessions");
  w.Int64(n.sessions);
  w.Key("documents");
  w.Int64(n.documents);
  w.Key("ops_per_s");
  w.Double(n.ops_per_s);
  w.Key("rss_bytes");
  w.Uint64(n.rss_bytes);
  w.Key("ops_committed");
  w.Uint64(n.ops_committed);
  str(w, "version", n.version);
  w.EndObject();
}

void write_doc_fields(writer& w, const doc_status& d, bool with_count) {
  str(w, "doc", d.doc);
  str(w, "node", d.node);
  w.Key("rev");
  w.Uint64(d.rev);
  w.Key("durable_rev");
  w.Uint64(d.durable_rev);
  w.Key("snapshot_rev");
  w.Uint64(d.snapshot_rev);
  if (with_count) {
    w.Key("subscribers");
    w.Uint64(d.subscribers);
  }
  w.Key("mailbox");
  w.Uint64(d.mailbox);
  w.Key("ops_per_s");
  w.Double(d.ops_per_s);
  w.Key("idle_s");
  w.Double(d.idle_ms / 1000.0);
}

namespace {

void write_raw_json(writer& w, const std::string& raw) {
  if (raw.empty()) {
    w.Null();
    return;
  }
  w.RawValue(raw.data(), raw.size(), rapidjson::kObjectType);
}

} // namespace

void write_detail(writer& w, const doc_detail& d,
                  const std::optional<stream_info>& stream) {
  w.StartObject();
  write_doc_fields(w, d.status, false);
  w.Key("epoch");
  w.Uint64(d.epoch);
  w.Key("history");
  w.StartObject();
  w.Key("from");
  w.Uint64(d.history_from);
  w.Key("to");
  w.Uint64(d.history_to);
  w.EndObject();
  w.Key("stream");
  if (stream) {
    w.StartObject();
    w.Key("length");
    w.Uint64(stream->length);
    str(w, "first_id", stream->first_id);
    str(w, "last_id", stream->last_id);
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("subscribers");
  w.StartArray();
  for (auto& s : d.subscribers) {
    w.StartObject();
    str(w, "session", s.session);
    str(w, "client", s.client);
    str(w, "user", s.user);
    str(w, "node", s.node);
    w.Key("presence");
    write_raw_json(w, s.presence == "null" ? std::string{} : s.presence);
    w.EndObject();
  }
  w.EndArray();
  w.Key("recent_ops");
  w.StartArray();
  for (auto& op : d.recent_ops) {
    w.StartObject();
    w.Key("rev");
    w.Uint64(op.rev);
    str(w, "client", op.client);
    w.Key("seq");
    w.Uint64(op.seq);
    str(w, "user", op.user);
    w.Key("op");
    ot::op_to_json(w, op.op);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

void write_conn(writer& w, const conn_status& c) {
  w.StartObject();
  str(w, "node", c.node);
  str(w, "session", c.session);
  str(w, "user", c.user);
  str(w, "client", c.client);
  str(w, "remote", c.remote);
  w.Key("docs");
  w.StartArray();
  for (auto& d : c.docs)
    w.String(d.c_str());
  w.EndArray();
  w.Key("send_queue_bytes");
  w.Uint64(c.send_queue_bytes);
  w.Key("messages_in");
  w.Uint64(c.messages_in);
  w.Key("messages_out");
  w.Uint64(c.messages_out);
  w.Key("connected_s");
  w.Double(c.connected_ms / 1000.0);
  w.EndObject();
}

void write_revocation(writer& w, const revocation& r) {
  w.StartObject();
  if (!r.jti.empty())
    str(w, "jti", r.jti);
  else
    str(w, "sub", r.sub);
  w.Key("at");
  w.Int64(r.at);
  w.EndObject();
}

void write_missing(writer& w, const std::vector<std::string>& nodes) {
  w.Key("missing");
  w.StartArray();
  for (auto& n : nodes)
    w.String(n.c_str());
  w.EndArray();
}

std::string json_string(const std::function<void(writer&)>& body) {
  rapidjson::StringBuffer buf;
  writer w(buf);
  body(w);
  return buf.GetString();
}

} // namespace collab::net::admin
