// Fuzz target: the text-unicode OT type (actors/ot): check, apply, transform,
// compose, normalize, transform_position, and the JSON op reader.
//
// The first byte picks the mode:
//   even  structured: a document and ops valid on it are derived from the
//         bytes, so nearly every input reaches the invariants below;
//   odd   raw: the rest is JSON fed to op_from_json, then check, normalize,
//         apply (rope and string) and, when it checks, transform/compose.
//
// Invariants (structured mode):
//   apply on a rope == apply on a std::string; the rope stays a valid AVL
//   apply(apply(d,a), transform(b,a,left)) == apply(apply(d,b),
//   transform(a,b,right))
//     for normalized a, b (the reference's transform does not converge on
//     adjacent inserts, which the server normalizes away before transform)
//   apply(d, compose(a,c)) == apply(apply(d,a), c)
//   apply(d, normalize(a)) == apply(d, a); every result passes check()
//   {d:"text"} deletes still name the text they delete after transform/compose
//   the document's length changes by length_delta(a); JSON round trip of ops
//   transform_position stays within the new document
#include <cstdint>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "actors/ot/op_json.hpp"
#include "actors/ot/rope.hpp"
#include "actors/ot/text_unicode.hpp"
#include "fuzz/fuzz_check.hpp"

namespace {

using namespace collab::ot;
using kind = component::kind;

// 1 to 4 byte code points, a combining mark and a newline.
const char* const alphabet[] = {"a",          "b",         "c",      " ",
                                "\n",         "\u00e9",    "\u0301", "\u5b57",
                                "\U0001F600", "\U0001F308"};

std::string make_text(FuzzedDataProvider& p, size_t max_cps) {
  size_t n = p.ConsumeIntegralInRange<size_t>(1, max_cps);
  std::string out;
  for (size_t i = 0; i < n; ++i)
    out
      += alphabet[p.ConsumeIntegralInRange<size_t>(0, std::size(alphabet) - 1)];
  return out;
}

// A valid op on `doc` (check() holds), not necessarily normalized: adjacent
// inserts and deletes are kept, as a client may send them.
op make_op(FuzzedDataProvider& p, const rope& doc) {
  const uint64_t len = doc.size();
  uint64_t pos = 0;
  op out;
  const int n = p.ConsumeIntegralInRange(0, 12);
  for (int i = 0; i < n && p.remaining_bytes() > 0; ++i) {
    const int what = p.ConsumeIntegralInRange(0, 3);
    if (what == 1) {
      out.push_back(component::insert(make_text(p, 8)));
      continue;
    }
    if (pos == len)
      continue;
    const uint64_t k = p.ConsumeIntegralInRange<uint64_t>(1, len - pos);
    if (what == 0) {
      if (!out.empty() && out.back().k == kind::skip)
        out.back().n += k;
      else
        out.push_back(component::skip(k));
    } else if (what == 2) {
      out.push_back(component::del(k));
    } else {
      out.push_back(component::del_text(doc.substr(pos, k)));
    }
    pos += k;
  }
  if (!out.empty() && out.back().k == kind::skip)
    out.pop_back();
  FUZZ_REQUIRE(check(out));
  return out;
}

// apply on both representations; they must agree. REQUIRES: `a` fits `doc`.
rope applied(const rope& doc, const op& a) {
  rope r = doc;
  std::string flat = doc.to_string();
  FUZZ_REQUIRE(collab::ot::apply(r, a).empty());
  FUZZ_REQUIRE(collab::ot::apply(flat, a).empty());
  FUZZ_REQUIRE(r.valid());
  FUZZ_REQUIRE(r.to_string() == flat);
  FUZZ_REQUIRE(static_cast<int64_t>(r.size())
               == static_cast<int64_t>(doc.size()) + length_delta(a));
  return r;
}

// Every {d:"text"} of `a` names the text it deletes from `doc`.
bool deletes_match(const rope& doc, const op& a) {
  uint64_t pos = 0;
  for (const component& c : a) {
    if (c.k == kind::skip)
      pos += c.n;
    else if (c.k == kind::del) {
      if (c.has_text && doc.substr(pos, c.n) != c.text)
        return false;
      pos += c.n;
    }
  }
  return true;
}

bool round_trips(const op& a) {
  rapidjson::Document d;
  if (!collab::fuzz::valid_json(op_to_json(a), d))
    return false;
  op back;
  return op_from_json(d, back).empty() && back == a;
}

void structured(FuzzedDataProvider& p) {
  const std::string piece = make_text(p, 40);
  const size_t repeat
    = p.ConsumeIntegralInRange<size_t>(1, 64); // > 1 KiB: several leaves
  std::string text;
  for (size_t i = 0; i < repeat; ++i)
    text += piece;
  const rope doc(text);
  const op a_raw = make_op(p, doc);
  const op b_raw = make_op(p, doc);
  const op a = normalize(a_raw);
  const op b = normalize(b_raw);
  FUZZ_REQUIRE(check(a) && check(b));
  FUZZ_REQUIRE(round_trips(a_raw) && round_trips(b));

  const rope da = applied(doc, a_raw);
  FUZZ_REQUIRE(applied(doc, a).to_string() == da.to_string());
  const rope db = applied(doc, b);

  // Convergence (TP1) of normalized ops, both sides.
  const op b_over_a = transform(b, a, side::left);
  const op a_over_b = transform(a, b, side::right);
  FUZZ_REQUIRE(check(b_over_a) && check(a_over_b));
  FUZZ_REQUIRE(applied(da, b_over_a).to_string()
               == applied(db, a_over_b).to_string());
  FUZZ_REQUIRE(deletes_match(da, b_over_a) && deletes_match(db, a_over_b));
  // Ops as clients send them still transform into valid ops.
  FUZZ_REQUIRE(check(transform(a_raw, b_raw, side::left)));
  FUZZ_REQUIRE(check(transform(b_raw, a_raw, side::right)));

  // compose: one op with the effect of two.
  const op c = make_op(p, da);
  const op ac = compose(a_raw, c);
  FUZZ_REQUIRE(check(ac));
  FUZZ_REQUIRE(applied(doc, ac).to_string() == applied(da, c).to_string());
  FUZZ_REQUIRE(deletes_match(doc, ac));

  const uint64_t cursor = p.ConsumeIntegralInRange<uint64_t>(0, doc.size());
  FUZZ_REQUIRE(transform_position(cursor, a) <= da.size());
}

void raw(const std::string& json) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (d.HasParseError())
    return;
  op a;
  if (!op_from_json(d, a).empty())
    return;
  const bool valid = check(a);
  const op n = normalize(a);
  if (valid)
    FUZZ_REQUIRE(check(n));
  for (const component& c : n)
    FUZZ_REQUIRE(c.n <= max_count || !valid);
  const std::string start = "h\u00e9llo w\u00f6rld \U0001F600 \u5b57";
  rope r(start);
  std::string flat = start;
  const bool ok = collab::ot::apply(r, a).empty();
  FUZZ_REQUIRE(ok == collab::ot::apply(flat, a).empty());
  FUZZ_REQUIRE(r.valid() && r.to_string() == flat);
  FUZZ_REQUIRE(ok || flat == start); // a refused op changes nothing
  (void)transform_position(7, a);
  (void)inserted_length(a);
  (void)length_delta(a);
  if (!valid)
    return;
  FUZZ_REQUIRE(round_trips(a));
  // a and n read and insert the same totals; the results read at most the
  // sum of two of them, which may legitimately pass max_count.
  uint64_t reads = 0;
  for (const component& c : a)
    reads += c.k == kind::insert ? 0 : c.n;
  const bool small = reads <= max_count / 2
                     && inserted_length(a) <= max_count / 2;
  const op t1 = transform(a, n, side::left);
  const op t2 = transform(n, a, side::right);
  const op c = compose(a, n);
  FUZZ_REQUIRE(!small || (check(t1) && check(t2) && check(c)));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  FuzzedDataProvider p(data + 1, size - 1);
  if (data[0] % 2 == 0)
    structured(p);
  else
    raw(p.ConsumeRemainingBytesAsString());
  return 0;
}
