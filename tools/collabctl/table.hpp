// Human-readable output: a JSON array of objects as an aligned text table.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <rapidjson/document.h>

namespace collabctl {

struct column {
  const char* header;
  const char* key; // member of each row object
};

void print_table(std::ostream& out, const rapidjson::Value& rows,
                 const std::vector<column>& columns);

// A JSON value as table text: strings bare, numbers short, arrays joined.
std::string cell_text(const rapidjson::Value& v);

} // namespace collabctl
