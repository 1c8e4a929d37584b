// transform-bench: what one op costs the document actor at the bound of
// `max_transform_work` (actors/op_history.hpp). For several worst-case
// shapes (an op of many components, an op carrying much text, a delete that
// grows as inserts split it, a small op over large history ops, a large op
// over large ops) it builds a history that an op only just fits under the
// bound, transforms it with transform_within, and prints the CPU time and
// the time per work unit. The default bound (config/node_config.hpp) is
// chosen so that the worst shape stays near 50 ms. Figures only, no
// assertions; results vary with the machine.
//
// Usage: transform-bench [max-work]   (default: the configured default)
//
// Thread-safety: single-threaded.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <string>

#include "actors/op_history.hpp"
#include "config/node_config.hpp"

namespace {

using namespace collab;

ot::op comb(size_t pairs, const std::string& piece) {
  ot::op out;
  for (size_t i = 0; i < pairs; ++i) {
    out.push_back(ot::component::skip(1));
    out.push_back(ot::component::insert(piece));
  }
  return out;
}

ot::op insert_at(uint64_t pos, std::string text) {
  ot::op out;
  if (pos > 0)
    out.push_back(ot::component::skip(pos));
  out.push_back(ot::component::insert(std::move(text)));
  return out;
}

double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Builds the longest history (ops made by `next(rev)`, at most
// history-window of them) that `op`, as sent, fits under `max_work`, then times
// the transform of `op` over all of it.
void run(const char* shape, uint64_t max_work, const ot::op& op,
         const std::function<ot::op(uint64_t)>& next) {
  // No longer than a document keeps (history-window).
  const uint64_t max_history = node_config{}.history_window;
  op_history history;
  auto op_text = text_bytes(op);
  uint64_t work = 0;
  for (uint64_t rev = 1; rev <= max_history; ++rev) {
    committed_op c{"d", rev, "c", rev, "u", next(rev)};
    auto w = transform_step_work(op, op_text, c);
    if (work + w > max_work)
      break;
    work += w;
    history.push(std::move(c));
  }
  auto x = op;
  auto t0 = cpu_ms();
  bool ok = transform_within(x, history.begin(), history.end(), max_work);
  auto ms = cpu_ms() - t0;
  std::printf("%-34s %6zu comps %7zu ops %8s %9.1f ms %6.1f ns/unit\n", shape,
              op.size(), history.size(), ok ? "accepted" : "refused", ms,
              ms * 1e6 / static_cast<double>(max_work));
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  uint64_t max_work = node_config{}.max_transform_work;
  if (argc > 1)
    max_work = std::strtoull(argv[1], nullptr, 10);
  std::printf("max_transform_work = %llu units\n",
              static_cast<unsigned long long>(max_work));
  auto small_insert = [](uint64_t) {
    return insert_at(0, "x");
  };
  // Many components (the defect's shape: 300k components, far behind).
  for (size_t comps : {20000, 2000, 200, 20})
    run("many components, small history ops", max_work, comb(comps / 2, "x"),
        small_insert);
  // Much text in few components.
  run("1 MB insert, small history ops", max_work,
      insert_at(0, std::string(1 << 20, 'y')), small_insert);
  run("20k x 50 B inserts, small ops", max_work,
      comb(10000, std::string(50, 'y')), small_insert);
  // A delete split by the inserts committed inside its range.
  run("delete split by inserts", max_work, ot::op{ot::component::del(1 << 20)},
      [](uint64_t rev) { return insert_at(2 * rev - 1, "x"); });
  // Small op over large history ops, and large over large.
  auto large_op = [](uint64_t) {
    return comb(10000, "z");
  };
  run("small op over 20k-comp ops", max_work, insert_at(0, "x"), large_op);
  run("20k-comp op over 20k-comp ops", max_work, comb(10000, "x"), large_op);
  return 0;
}
