#include "table.hpp"

#include <algorithm>
#include <cstdio>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace collabctl {

std::string cell_text(const rapidjson::Value& v) {
  if (v.IsString())
    return {v.GetString(), v.GetStringLength()};
  if (v.IsNull())
    return "-";
  if (v.IsBool())
    return v.GetBool() ? "yes" : "no";
  if (v.IsUint64())
    return std::to_string(v.GetUint64());
  if (v.IsInt64())
    return std::to_string(v.GetInt64());
  if (v.IsNumber()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v.GetDouble());
    return buf;
  }
  if (v.IsArray()) {
    std::string out;
    for (auto& x : v.GetArray())
      out += (out.empty() ? "" : ",") + cell_text(x);
    return out.empty() ? "-" : out;
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

void print_table(std::ostream& out, const rapidjson::Value& rows,
                 const std::vector<column>& columns) {
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> width;
  for (auto& c : columns)
    width.push_back(std::string{c.header}.size());
  for (auto& row : rows.GetArray()) {
    std::vector<std::string> line;
    for (size_t i = 0; i < columns.size(); ++i) {
      auto m = row.FindMember(columns[i].key);
      line.push_back(m == row.MemberEnd() ? "-" : cell_text(m->value));
      width[i] = std::max(width[i], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto print_line = [&](const std::vector<std::string>& line) {
    for (size_t i = 0; i < line.size(); ++i) {
      out << line[i];
      if (i + 1 < line.size())
        out << std::string(width[i] - line[i].size() + 2, ' ');
    }
    out << '\n';
  };
  std::vector<std::string> headers;
  for (auto& c : columns)
    headers.push_back(c.header);
  print_line(headers);
  for (auto& line : cells)
    print_line(line);
}

} // namespace collabctl
