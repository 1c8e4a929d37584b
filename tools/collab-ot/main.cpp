// collab-ot: the OT adapter of docs/OT-ADAPTER.md. Reads JSON Lines
// cases on stdin and prints exactly one JSON line per input line on stdout,
// flushed per line so a driver may interleave writes and reads.
//
// Thread-safety: single-threaded.
#include <cstdio>
#include <iostream>
#include <string>

#include "cases.hpp"

int main() {
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string out = collab::ot_tool::answer(line);
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  }
  return 0;
}
