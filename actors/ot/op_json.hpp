// JSON form of text-unicode ops (RapidJSON): the wire format of
// docs/PROTOCOL.md.
#pragma once

#include <string>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "actors/ot/text_unicode.hpp"

namespace collab::ot {

// Reads an op from its JSON array. Refuses (non-empty status) anything that is
// not an array of components (positive integer, non-empty string, {"d": n > 0}
// or {"d": non-empty string}). Does not require the op to be normalized: call
// check() for that.
status op_from_json(const rapidjson::Value& v, op& out);

void op_to_json(rapidjson::Writer<rapidjson::StringBuffer>& w, const op& a);
std::string op_to_json(const op& a);

} // namespace collab::ot
