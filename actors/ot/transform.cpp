// transform and compose of text-unicode ops: a line-by-line port of
// ot-text-unicode 4.0.0 (dist/type.js), including what it does with ops that
// pass checkOp without being fully normalized (adjacent inserts or deletes),
// and which delete form ({d:"text"} or {d:n}) survives. The callers (document
// actor, collab-ot) run check() on both inputs first, as the reference does;
// unchecked input still terminates and never reads out of bounds.
//
// Thread-safety: pure functions.
#include "actors/ot/op_cursor.hpp"
#include "actors/ot/text_unicode.hpp"

namespace collab::ot {

using detail::appender;
using detail::indivisible;
using detail::taker;
using kind = component::kind;

op transform(const op& a, const op& b, side s) {
  op out;
  appender app(out);
  taker take(a);
  for (const component& c2 : b) {
    switch (c2.k) {
      case kind::skip: {
        // Copy a's components over the retained range; a's inserts are free.
        uint64_t len = c2.n;
        while (len > 0) {
          component c1 = take.take(len, indivisible::insert);
          if (c1.k != kind::insert)
            len -= c1.n;
          app.push(std::move(c1));
        }
        break;
      }
      case kind::insert: {
        // Tie: the left side's insert at this position goes first.
        const component* next = take.peek();
        if (s == side::left && next && next->k == kind::insert) {
          component c1;
          take.take_all(c1);
          app.push(std::move(c1));
        }
        app.push(component::skip(c2.n));
        break;
      }
      case kind::del: {
        // b removed this range: drop a's skips and deletes over it, keep
        // inserts.
        uint64_t len = c2.n;
        while (len > 0) {
          component c1 = take.take(len, indivisible::insert);
          if (c1.k == kind::insert)
            app.push(std::move(c1));
          else
            len -= c1.n;
        }
        break;
      }
    }
  }
  component c;
  while (take.take_all(c))
    app.push(std::move(c));
  detail::trim(out);
  return out;
}

namespace {

// The code points [from, from + n) of delete `d` (dslice in the reference);
// `byte_from` is the byte offset of `from` in d.text for the text form.
component slice_delete(const component& d, size_t byte_from, uint64_t n,
                       size_t* byte_end) {
  if (!d.has_text)
    return component::del(n);
  *byte_end = utf8_advance(d.text, byte_from, n);
  return component::del_text(d.text.substr(byte_from, *byte_end - byte_from));
}

} // namespace

op compose(const op& a, const op& b) {
  op out;
  appender app(out);
  taker take(a);
  for (const component& c2 : b) {
    switch (c2.k) {
      case kind::skip: {
        // b keeps this range of apply(doc, a): copy a there; a's deletes are
        // whole and do not use up b's skip.
        uint64_t len = c2.n;
        while (len > 0) {
          component chunk = take.take(len, indivisible::del);
          if (chunk.k != kind::del)
            len -= chunk.n;
          app.push(std::move(chunk));
        }
        break;
      }
      case kind::insert: app.push(c2); break;
      case kind::del: {
        // b deletes text that a either kept (delete it from the original) or
        // inserted (the two cancel out).
        uint64_t len = c2.n;
        uint64_t offset = 0;
        size_t byte_offset = 0; // of `offset` in c2.text, for {d:"text"}
        while (offset < len) {
          component chunk = take.take(len - offset, indivisible::del);
          switch (chunk.k) {
            case kind::skip: {
              size_t end = byte_offset;
              app.push(slice_delete(c2, byte_offset, chunk.n, &end));
              byte_offset = end;
              offset += chunk.n;
              break;
            }
            case kind::insert:
              if (c2.has_text)
                byte_offset = utf8_advance(c2.text, byte_offset, chunk.n);
              offset += chunk.n;
              break;
            case kind::del: app.push(std::move(chunk)); break;
          }
        }
        break;
      }
    }
  }
  component c;
  while (take.take_all(c))
    app.push(std::move(c));
  detail::trim(out);
  return out;
}

} // namespace collab::ot
