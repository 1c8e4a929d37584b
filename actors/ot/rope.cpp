// Persistent rope: an AVL tree of immutable nodes. Leaves hold UTF-8 chunks
// (<= max_leaf bytes, never empty); inner nodes hold only their two children
// and the cached code point / byte counts and height of their subtree.
//
// Every edit copies the O(log n) nodes on its path and shares the rest, so
// old ropes stay valid and copying a rope is one shared_ptr copy. All edits
// are built from three primitives: join (concatenate two trees, rebalancing
// along one spine), insert_at and erase_range (path copies that rejoin the
// pieces with join). Small leaves are merged with a neighbour in join, which
// keeps random small edits from fragmenting the tree into tiny leaves.
//
// Thread-safety: nodes are never mutated after construction.
#include "actors/ot/rope.hpp"

#include <algorithm>
#include <vector>

#include "actors/ot/utf8.hpp"

namespace collab::ot {

struct rope::node {
  std::shared_ptr<const node> left; // both null for a leaf
  std::shared_ptr<const node> right;
  std::string text; // leaf only
  uint64_t cps = 0;
  uint64_t bytes = 0;
  int height = 1; // leaf = 1, empty tree = 0

  bool leaf() const { return !left; }
};

namespace {

using node = rope::node;
using node_ptr = std::shared_ptr<const node>;

// A leaf above max_leaf bytes is split; text is chunked at build_leaf bytes so
// fresh leaves have room for small inserts; leaves below min_leaf try to merge
// into a neighbour when joined.
constexpr size_t max_leaf = 1024;
constexpr size_t build_leaf = 768;
constexpr size_t min_leaf = 256;

int height(const node_ptr& t) {
  return t ? t->height : 0;
}

// `cps` is passed when the caller already knows it, to skip a rescan.
node_ptr make_leaf(std::string text, uint64_t cps) {
  if (text.empty())
    return nullptr;
  auto n = std::make_shared<node>();
  n->cps = cps;
  n->bytes = text.size();
  n->text = std::move(text);
  return n;
}

node_ptr make_leaf(std::string text) {
  uint64_t cps = utf8_count(text);
  return make_leaf(std::move(text), cps);
}

// REQUIRES: a and b non-null, heights differ by at most 1.
node_ptr make_inner(node_ptr a, node_ptr b) {
  auto n = std::make_shared<node>();
  n->cps = a->cps + b->cps;
  n->bytes = a->bytes + b->bytes;
  n->height = std::max(a->height, b->height) + 1;
  n->left = std::move(a);
  n->right = std::move(b);
  return n;
}

node_ptr build(const std::vector<node_ptr>& leaves, size_t lo, size_t hi) {
  if (hi - lo == 1)
    return leaves[lo];
  size_t mid = lo + (hi - lo) / 2;
  return make_inner(build(leaves, lo, mid), build(leaves, mid, hi));
}

// A perfectly balanced tree of ~build_leaf byte chunks cut at code points.
node_ptr from_text(std::string_view s) {
  if (s.empty())
    return nullptr;
  if (s.size() <= max_leaf)
    return make_leaf(std::string(s));
  size_t k = (s.size() + build_leaf - 1) / build_leaf;
  size_t target = s.size() / k;
  std::vector<node_ptr> leaves;
  leaves.reserve(k + 1);
  size_t at = 0;
  while (at < s.size()) {
    size_t end = s.size() - at <= max_leaf ? s.size()
                                           : utf8_boundary(s, at + target);
    leaves.push_back(make_leaf(std::string(s.substr(at, end - at))));
    at = end;
  }
  return build(leaves, 0, leaves.size());
}

// Joins a and b whose heights differ by at most 2 (AVL single/double rotation).
node_ptr balance(node_ptr a, node_ptr b) {
  if (height(a) > height(b) + 1) {
    if (height(a->left) >= height(a->right))
      return make_inner(a->left, make_inner(a->right, std::move(b)));
    const node_ptr& m = a->right;
    return make_inner(make_inner(a->left, m->left),
                      make_inner(m->right, std::move(b)));
  }
  if (height(b) > height(a) + 1) {
    if (height(b->right) >= height(b->left))
      return make_inner(make_inner(std::move(a), b->left), b->right);
    const node_ptr& m = b->left;
    return make_inner(make_inner(std::move(a), m->left),
                      make_inner(m->right, b->right));
  }
  return make_inner(std::move(a), std::move(b));
}

const node* rightmost(const node* t) {
  while (!t->leaf())
    t = t->right.get();
  return t;
}

const node* leftmost(const node* t) {
  while (!t->leaf())
    t = t->left.get();
  return t;
}

// Path copy replacing the rightmost (leftmost) leaf; heights are unchanged.
node_ptr replace_rightmost(const node_ptr& t, std::string text, uint64_t cps) {
  if (t->leaf())
    return make_leaf(std::move(text), cps);
  return make_inner(t->left, replace_rightmost(t->right, std::move(text), cps));
}

node_ptr replace_leftmost(const node_ptr& t, std::string text, uint64_t cps) {
  if (t->leaf())
    return make_leaf(std::move(text), cps);
  return make_inner(replace_leftmost(t->left, std::move(text), cps), t->right);
}

// Concatenation. Cost O(|height(a) - height(b)| + 1); the result is at most
// one taller than the taller input and never shorter.
node_ptr join(node_ptr a, node_ptr b) {
  if (!a)
    return b;
  if (!b)
    return a;
  if (a->leaf() && b->leaf() && a->bytes + b->bytes <= max_leaf)
    return make_leaf(a->text + b->text, a->cps + b->cps);
  if (a->height > b->height + 1)
    return balance(a->left, join(a->right, std::move(b)));
  if (b->height > a->height + 1)
    return balance(join(std::move(a), b->left), b->right);
  // Heights are close: absorb a small edge leaf into its neighbour instead of
  // adding a node for it.
  if (b->leaf() && b->bytes < min_leaf) {
    const node* r = rightmost(a.get());
    if (r->bytes + b->bytes <= max_leaf)
      return replace_rightmost(a, r->text + b->text, r->cps + b->cps);
  }
  if (a->leaf() && a->bytes < min_leaf) {
    const node* l = leftmost(b.get());
    if (a->bytes + l->bytes <= max_leaf)
      return replace_leftmost(b, a->text + l->text, a->cps + l->cps);
  }
  return make_inner(std::move(a), std::move(b));
}

// REQUIRES: pos <= size(t), s non-empty.
node_ptr insert_at(const node_ptr& t, uint64_t pos, std::string_view s) {
  if (!t)
    return from_text(s);
  if (t->leaf()) {
    size_t b = utf8_advance(t->text, 0, pos);
    std::string text;
    text.reserve(t->text.size() + s.size());
    text.append(t->text, 0, b).append(s).append(t->text, b, std::string::npos);
    if (text.size() <= max_leaf)
      return make_leaf(std::move(text), t->cps + utf8_count(s));
    return from_text(text);
  }
  uint64_t left_cps = t->left->cps;
  if (pos <= left_cps)
    return join(insert_at(t->left, pos, s), t->right);
  return join(t->left, insert_at(t->right, pos - left_cps, s));
}

// REQUIRES: pos + n <= size(t). Returns null when everything goes.
node_ptr erase_range(const node_ptr& t, uint64_t pos, uint64_t n) {
  if (n == 0)
    return t;
  if (pos == 0 && n == t->cps)
    return nullptr;
  if (t->leaf()) {
    size_t b0 = utf8_advance(t->text, 0, pos);
    size_t b1 = utf8_advance(t->text, b0, n);
    std::string text;
    text.reserve(t->text.size() - (b1 - b0));
    text.append(t->text, 0, b0).append(t->text, b1, std::string::npos);
    return make_leaf(std::move(text), t->cps - n);
  }
  uint64_t left_cps = t->left->cps;
  uint64_t end = pos + n;
  node_ptr left = t->left;
  node_ptr right = t->right;
  if (pos < left_cps)
    left = erase_range(left, pos, std::min(end, left_cps) - pos);
  if (end > left_cps) {
    uint64_t from = std::max(pos, left_cps);
    right = erase_range(right, from - left_cps, end - from);
  }
  return join(std::move(left), std::move(right));
}

void collect(const node* t, uint64_t pos, uint64_t n, std::string& out) {
  if (!t || n == 0)
    return;
  if (t->leaf()) {
    size_t b0 = utf8_advance(t->text, 0, pos);
    size_t b1 = utf8_advance(t->text, b0, n);
    out.append(t->text, b0, b1 - b0);
    return;
  }
  uint64_t left_cps = t->left->cps;
  uint64_t end = pos + n;
  if (pos < left_cps)
    collect(t->left.get(), pos, std::min(end, left_cps) - pos, out);
  if (end > left_cps) {
    uint64_t from = std::max(pos, left_cps);
    collect(t->right.get(), from - left_cps, end - from, out);
  }
}

void append_all(const node* t, std::string& out) {
  if (!t)
    return;
  if (t->leaf()) {
    out += t->text;
    return;
  }
  append_all(t->left.get(), out);
  append_all(t->right.get(), out);
}

uint64_t count_leaves(const node* t) {
  if (!t)
    return 0;
  return t->leaf() ? 1
                   : count_leaves(t->left.get()) + count_leaves(t->right.get());
}

bool check_node(const node* t) {
  if (t->leaf())
    return !t->text.empty() && t->text.size() <= max_leaf && t->right == nullptr
           && t->height == 1 && t->bytes == t->text.size()
           && t->cps == utf8_count(t->text) && utf8_is_lead(t->text[0]);
  if (!t->right || !t->text.empty())
    return false;
  int hl = t->left->height;
  int hr = t->right->height;
  return std::abs(hl - hr) <= 1 && t->height == std::max(hl, hr) + 1
         && t->cps == t->left->cps + t->right->cps
         && t->bytes == t->left->bytes + t->right->bytes
         && check_node(t->left.get()) && check_node(t->right.get());
}

} // namespace

rope::rope() = default;

rope::rope(std::string_view utf8) : root_(from_text(utf8)) {
  // nop
}

rope::rope(std::shared_ptr<const node> root) : root_(std::move(root)) {
  // nop
}

uint64_t rope::size() const {
  return root_ ? root_->cps : 0;
}

uint64_t rope::bytes() const {
  return root_ ? root_->bytes : 0;
}

rope rope::insert(uint64_t pos, std::string_view utf8) const {
  if (utf8.empty())
    return *this;
  return rope(insert_at(root_, std::min(pos, size()), utf8));
}

rope rope::erase(uint64_t pos, uint64_t n) const {
  pos = std::min(pos, size());
  n = std::min(n, size() - pos);
  if (n == 0)
    return *this;
  return rope(erase_range(root_, pos, n));
}

std::string rope::substr(uint64_t pos, uint64_t n) const {
  pos = std::min(pos, size());
  n = std::min(n, size() - pos);
  std::string out;
  collect(root_.get(), pos, n, out);
  return out;
}

std::string rope::to_string() const {
  std::string out;
  append_to(out);
  return out;
}

void rope::append_to(std::string& out) const {
  out.reserve(out.size() + bytes());
  append_all(root_.get(), out);
}

int rope::height() const {
  return root_ ? root_->height : 0;
}

uint64_t rope::leaf_count() const {
  return count_leaves(root_.get());
}

bool rope::valid() const {
  return !root_ || check_node(root_.get());
}

} // namespace collab::ot
