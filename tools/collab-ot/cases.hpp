// One collab-ot case: a JSON line in, a JSON line out (see
// docs/OT-ADAPTER.md). Kept apart from main() so the answer logic is
// a plain function of the input text.
//
// Thread-safety: pure function.
#pragma once

#include <string>
#include <string_view>

namespace collab::ot_tool {

// The answer to one input line, without the trailing newline:
// {"id":..,"result":..} or {"id":..,"error":".."}. Never throws on bad input.
std::string answer(std::string_view line);

} // namespace collab::ot_tool
