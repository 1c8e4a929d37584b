// ot-bench: micro-benchmark of the text-unicode OT type. Prints ops/s and
// ns/op for apply (random small insert/delete ops) on the rope and on a flat
// std::string, transform, compose and rope copy, on documents of 1 KB, 1 MB
// and 10 MB. Figures only, no assertions; results vary with the machine.
//
// Usage: ot-bench [iterations-scale]   (default 1.0)
//
// Thread-safety: single-threaded.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "actors/ot/rope.hpp"
#include "actors/ot/text_unicode.hpp"

namespace {

using namespace collab::ot;
using bench_clock = std::chrono::steady_clock;

// Mixed text: ASCII, accents, CJK, emoji, newlines (about 1.4 bytes/char).
const char* const pieces[] = {
  "a", "b", "c", " ", "e", "\xC3\xA9", "\n", "\xE5\xAD\x97", "\xF0\x9F\x98\x80",
  "t", "o", "n"};

std::string make_text(std::mt19937_64& rng, size_t bytes) {
  std::string s;
  s.reserve(bytes + 4);
  while (s.size() < bytes)
    s += pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];
  return s;
}

// A random small op on a document of `len` code points: insert 1-8 chars or
// delete 1-8 chars at a random position.
op random_edit(std::mt19937_64& rng, uint64_t len) {
  op a;
  uint64_t pos = len ? rng() % (len + 1) : 0;
  if (pos > 0)
    a.push_back(component::skip(pos));
  if (len - pos >= 8 && rng() % 2) {
    a.push_back(component::del(1 + rng() % 8));
  } else {
    a.push_back(component::insert(make_text(rng, 1 + rng() % 8)));
  }
  return a;
}

template<class F>
void report(const char* what, const char* size, size_t iterations, F&& body) {
  auto start = bench_clock::now();
  for (size_t i = 0; i < iterations; ++i)
    body(i);
  double ns
    = std::chrono::duration<double, std::nano>(bench_clock::now() - start)
        .count();
  double per = ns / static_cast<double>(iterations);
  std::printf("%-26s %-6s %10zu iters %14.0f ops/s %12.1f ns/op\n", what, size,
              iterations, 1e9 / per, per);
  std::fflush(stdout);
}

// Runs every figure on one document of `bytes` bytes; `iters` scales the
// iteration counts (the command line's factor).
template<class Iters>
void bench_document(std::mt19937_64& rng, const char* name, size_t bytes,
                    Iters iters) {
  std::string text = make_text(rng, bytes);
  rope doc(text);
  std::printf("-- document %s: %llu bytes, %llu code points, rope height %d, "
              "%llu leaves\n",
              name, static_cast<unsigned long long>(doc.bytes()),
              static_cast<unsigned long long>(doc.size()), doc.height(),
              static_cast<unsigned long long>(doc.leaf_count()));

  // Ops are generated up front so only apply is timed; each op is made for
  // the length the document will have when it is applied.
  const size_t n_apply = iters(200000);
  std::vector<op> ops;
  ops.reserve(n_apply);
  uint64_t len = doc.size();
  for (size_t i = 0; i < n_apply; ++i) {
    ops.push_back(random_edit(rng, len));
    len = static_cast<uint64_t>(static_cast<int64_t>(len)
                                + length_delta(ops.back()));
  }
  rope r = doc;
  report("apply (rope)", name, n_apply,
         [&](size_t i) { collab::ot::apply(r, ops[i]); });

  // The flat string is O(n) per op: fewer iterations on large documents.
  const size_t n_flat = bytes > (1 << 20) ? iters(50)
                        : bytes > 4096    ? iters(500)
                                          : n_apply;
  std::string flat = text;
  report("apply (std::string)", name, n_flat,
         [&](size_t i) { collab::ot::apply(flat, ops[i]); });

  std::vector<rope> keep;
  keep.reserve(iters(1000000));
  report("rope copy", name, iters(1000000), [&](size_t) { keep.push_back(r); });
  keep.clear();

  report("rope substr (64 chars)", name, iters(200000), [&](size_t i) {
    uint64_t at = r.size() > 64 ? (i * 7919) % (r.size() - 64) : 0;
    volatile size_t sink
      = r.substr(at, std::min<uint64_t>(64, r.size())).size();
    (void)sink;
  });

  // transform/compose cost depends on op size, not document size; run
  // them on ops made for this document's length anyway.
  const size_t n_ot = iters(200000);
  std::vector<op> others;
  others.reserve(n_ot);
  for (size_t i = 0; i < n_ot; ++i)
    others.push_back(random_edit(rng, doc.size()));
  std::vector<op> firsts;
  firsts.reserve(n_ot);
  for (size_t i = 0; i < n_ot; ++i)
    firsts.push_back(random_edit(rng, doc.size()));
  report("transform", name, n_ot, [&](size_t i) {
    volatile size_t sink = transform(firsts[i], others[i], side::left).size();
    (void)sink;
  });
  report("compose", name, n_ot, [&](size_t i) {
    // others[i] is not made for apply(doc, firsts[i]); compose does not care.
    volatile size_t sink = compose(firsts[i], others[i]).size();
    (void)sink;
  });
}

} // namespace

int main(int argc, char** argv) {
  double scale = argc > 1 ? std::atof(argv[1]) : 1.0;
  if (!(scale > 0))
    scale = 1.0;
  auto iters = [&](double n) {
    return static_cast<size_t>(n * scale) + 1;
  };
  std::mt19937_64 rng(42);
  bench_document(rng, "1KB", 1 << 10, iters);
  bench_document(rng, "1MB", 1 << 20, iters);
  bench_document(rng, "10MB", 10 << 20, iters);
  return 0;
}
