// What every fuzz target shares: FUZZ_REQUIRE, an invariant that aborts (a
// finding, with the input saved by libFuzzer) when it does not hold, and a
// JSON validity check for what the encoders produce.
//
// Thread-safety: libFuzzer runs a target on one thread.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <rapidjson/document.h>

#define FUZZ_REQUIRE(cond)                                                     \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,          \
                   __LINE__, #cond);                                           \
      std::abort();                                                            \
    }                                                                          \
  } while (false)

namespace collab::fuzz {

// True when `json` is one well-formed JSON value in valid UTF-8.
inline bool valid_json(std::string_view json, rapidjson::Document& d) {
  d.Parse<rapidjson::kParseValidateEncodingFlag
          | rapidjson::kParseIterativeFlag>(json.data(), json.size());
  return !d.HasParseError();
}

inline bool valid_json(std::string_view json) {
  rapidjson::Document d;
  return valid_json(json, d);
}

} // namespace collab::fuzz
