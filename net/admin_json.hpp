// JSON of the admin API's inspection types (docs/ADMIN.md names the fields):
// node_status, doc_status, doc_detail, conn_status, revocations, and the
// list of members that did not answer. Internal to net/admin_*.cpp.
//
// Thread-safety: stateless functions; safe from any thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "actors/cluster_protocol.hpp"
#include "actors/core/revocation.hpp"
#include "persistence/redis_admin.hpp"

namespace collab::net::admin {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

// `"key": "v"`.
void str(writer& w, const char* key, const std::string& v);

void write_node(writer& w, const node_status& n);
// `with_count`: false in the in-depth view, where "subscribers" is the list.
void write_doc_fields(writer& w, const doc_status& d, bool with_count = true);
void write_detail(writer& w, const doc_detail& d,
                  const std::optional<stream_info>& stream);
void write_conn(writer& w, const conn_status& c);
void write_revocation(writer& w, const revocation& r);
// `"missing": [nodes...]`.
void write_missing(writer& w, const std::vector<std::string>& nodes);

// The text `body` writes.
std::string json_string(const std::function<void(writer&)>& body);

} // namespace collab::net::admin
