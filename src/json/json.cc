#include "json/json.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "common/string_util.h"
#include "json/minify.h"
#include "json/scanner.h"
#include "json/string_masks.h"

namespace medlake::json {
namespace {

static_assert(sizeof(simdjson::dom::element) <= 16, "Node::raw_ too small for dom::element");
static_assert(std::is_trivially_copyable_v<simdjson::dom::element>);

simdjson::dom::element Elem(const unsigned char* raw) {
  simdjson::dom::element e;
  std::memcpy(static_cast<void*>(&e), raw, sizeof(e));
  return e;
}

}  // namespace

static_assert(sizeof(simdjson::dom::element) == 2 * sizeof(uint64_t));
using ElementKey = std::array<uint64_t, 2>;

// Source text of every number of one document, found on demand (Node::NumberText).
struct NumberTable {
  std::string_view source;
  simdjson::dom::element root;
  // Built by the first NumberText call, under `build` (threads may read one document): not
  // std::call_once, whose glibc implementation makes a futex system call every time.
  std::mutex build;
  std::atomic<bool> ready{false};
  // The numbers' tape indices, and their texts, in document order. Elements of one document
  // differ only in their tape index, which grows in document order, so the indices are
  // sorted and lookups are binary searches.
  std::vector<uint64_t> indices;
  std::vector<std::string_view> texts;
  // Where the last lookup ended: a writer asks in document order, each number right after the
  // last one (a hint only: threads reading one document may move it).
  std::atomic<size_t> next{0};
};

// What a Parser knows of the document it parsed last, shared by every Node of it (Node::doc_).
struct DocumentState {
  // The source text of numbers, when the Parser keeps it (Parser::set_keep_number_text).
  std::unique_ptr<NumberTable> numbers;
  // Set once a walk of the whole document found no name repeated (Node::RepeatedName, through
  // a Node's const view of the state): the answer for every Node of it. Atomic: threads may
  // read one document.
  mutable std::atomic<bool> names_unique{false};
};

// Number tokens of `text` in document order (strings skipped with memchr).
std::vector<std::string_view> NumberTokensScalar(std::string_view text) {
  std::vector<std::string_view> out;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    char c = *p;
    if (c == '"') {
      ++p;
      while (true) {
        const char* q = static_cast<const char*>(std::memchr(p, '"', size_t(end - p)));
        if (q == nullptr) return out;
        size_t backslashes = 0;
        for (const char* b = q; b > p && b[-1] == '\\'; --b) ++backslashes;
        p = q + 1;
        if (backslashes % 2 == 0) break;
      }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      const char* start = p;
      while (p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' ||
                         *p == '+' || *p == '-')) {
        ++p;
      }
      out.emplace_back(start, size_t(p - start));
    } else {
      ++p;
    }
  }
  return out;
}

#ifdef MEDLAKE_STRING_MASKS
// The bytes of v that may start a number: digits (their distance from '0' is at most 9) and
// the minus sign.
MEDLAKE_AVX2_TARGET inline __m256i NumberStarts256(__m256i v) {
  const __m256i d = _mm256_sub_epi8(v, _mm256_set1_epi8('0'));
  return _mm256_or_si256(_mm256_cmpeq_epi8(_mm256_min_epu8(d, _mm256_set1_epi8(9)), d),
                         Is256(v, '-'));
}

// The other bytes of a number: point, plus sign, exponent.
MEDLAKE_AVX2_TARGET inline __m256i NumberRests256(__m256i v) {
  return _mm256_or_si256(_mm256_or_si256(Is256(v, '.'), Is256(v, '+')),
                         _mm256_or_si256(Is256(v, 'e'), Is256(v, 'E')));
}

// As NumberTokensScalar, for valid JSON, 64 bytes at a time: the bytes outside strings come
// from masks (string_masks.h), and a number is a run of number bytes (digits, sign, point,
// exponent) outside them that starts with a digit or a minus (outside strings, the other runs
// are the 'e' of true and false). A FHIR resource has a string every few bytes: a memchr per
// string cost more than the rest of the walk.
MEDLAKE_AVX2_TARGET std::vector<std::string_view> NumberTokensAvx2(std::string_view text) {
  std::vector<std::string_view> out;
  StringCarry carry;
  uint64_t number_carry = 0;             // bit 0: the previous block ended in a number byte
  size_t open = std::string_view::npos;  // where the number that crosses blocks began
  alignas(32) char tail[64];
  for (size_t at = 0; at < text.size(); at += 64) {
    const char* block = text.data() + at;
    if (text.size() - at < 64) {  // the last bytes, padded with spaces
      std::memset(tail, ' ', sizeof(tail));
      std::memcpy(tail, block, text.size() - at);
      block = tail;
    }
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block));
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32));
    const uint64_t escaped = EscapedBytes(Bits256(Is256(lo, '\\'), Is256(hi, '\\')), carry);
    const uint64_t quotes = Bits256(Is256(lo, '"'), Is256(hi, '"')) & ~escaped;
    const uint64_t outside = ~(InString(quotes, carry) | quotes);
    const uint64_t starters = Bits256(NumberStarts256(lo), NumberStarts256(hi)) & outside;
    const uint64_t number = starters | (Bits256(NumberRests256(lo), NumberRests256(hi)) & outside);
    uint64_t starts = number & ~((number << 1) | number_carry);
    if (open != std::string_view::npos) {
      if (~number == 0) continue;  // the whole block is the number's
      const size_t end = at + static_cast<size_t>(std::countr_zero(~number));
      out.emplace_back(text.data() + open, std::min(end, text.size()) - open);
      open = std::string_view::npos;
    }
    number_carry = number >> 63;
    for (; starts != 0; starts &= starts - 1) {
      const int s = std::countr_zero(starts);
      if (((starters >> s) & 1) == 0) continue;  // the 'e' of true or false
      const uint64_t stops = ~number >> s;
      if (stops == 0) {  // runs on into the next block
        open = at + static_cast<size_t>(s);
        break;
      }
      const size_t begin = at + static_cast<size_t>(s);
      const size_t end = begin + static_cast<size_t>(std::countr_zero(stops));
      out.emplace_back(text.data() + begin, std::min(end, text.size()) - begin);
    }
  }
  if (open != std::string_view::npos) out.emplace_back(text.data() + open, text.size() - open);
  return out;
}
#endif

// Number tokens of the valid JSON `text` in document order.
std::vector<std::string_view> NumberTokens(std::string_view text) {
#ifdef MEDLAKE_STRING_MASKS
  if (HasAvx2Masks()) return NumberTokensAvx2(text);
#endif
  return NumberTokensScalar(text);
}

ElementKey KeyOf(const void* element_bytes) {
  ElementKey key;
  std::memcpy(key.data(), element_bytes, sizeof(key));
  return key;
}

// The tape indices of the numbers of the document `root` is the root of, in document order,
// read in one pass over its tape (simdjson's doc/tape.md): a word per value, the value's type
// in its top byte, a second word after each number, and in the first word the index of the
// last. An element is a document pointer and a tape index (KeyOf).
std::vector<uint64_t> NumberIndices(simdjson::dom::element root) {
  const ElementKey key = KeyOf(&root);
  const auto* doc = reinterpret_cast<const simdjson::dom::document*>(key[0]);
  const uint64_t* tape = doc->tape.get();
  const uint64_t end = tape[0] & simdjson::internal::JSON_VALUE_MASK;
  std::vector<uint64_t> out;
  for (uint64_t i = key[1]; i < end;) {
    switch (static_cast<simdjson::internal::tape_type>(tape[i] >> 56)) {
      case simdjson::internal::tape_type::INT64:
      case simdjson::internal::tape_type::UINT64:
      case simdjson::internal::tape_type::DOUBLE:
        out.push_back(i);
        i += 2;
        break;
      default:
        ++i;
    }
  }
  return out;
}

namespace {

Kind KindOf(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY:
      return Kind::kArray;
    case simdjson::dom::element_type::OBJECT:
      return Kind::kObject;
    case simdjson::dom::element_type::INT64:
      return Kind::kInt64;
    case simdjson::dom::element_type::UINT64:
      return Kind::kUint64;
    case simdjson::dom::element_type::DOUBLE:
      return Kind::kDouble;
    case simdjson::dom::element_type::STRING:
      return Kind::kString;
    case simdjson::dom::element_type::BOOL:
      return Kind::kBool;
    case simdjson::dom::element_type::NULL_VALUE:
      return Kind::kNull;
  }
  return Kind::kNull;
}

}  // namespace

// Node is built only here, from a valid element.
struct NodeAccess {
  static Node Make(simdjson::dom::element e, const void* doc = nullptr) {
    Node n;
    std::memcpy(n.raw_, static_cast<const void*>(&e), sizeof(e));
    n.valid_ = true;
    n.kind_ = KindOf(e);
    n.doc_ = doc;
    return n;
  }
  static simdjson::dom::element Get(const Node& n) { return Elem(n.raw_); }
  template <class It>
  static Cursor MakeCursor(It begin, It end, bool object, const void* doc) {
    static_assert(sizeof(It) <= sizeof(Cursor::cur_) && std::is_trivially_copyable_v<It>);
    Cursor c;
    std::memcpy(c.cur_, static_cast<const void*>(&begin), sizeof(It));
    std::memcpy(c.end_, static_cast<const void*>(&end), sizeof(It));
    c.object_ = object;
    c.doc_ = doc;
    c.valid_ = true;
    return c;
  }
  template <class It>
  static It Iter(const unsigned char* raw) {
    It it;
    std::memcpy(static_cast<void*>(&it), raw, sizeof(It));
    return it;
  }
  template <class It>
  static bool Advance(Cursor& c) {
    It it = Iter<It>(c.cur_);
    if (c.started_) {
      ++it;
      std::memcpy(c.cur_, static_cast<const void*>(&it), sizeof(It));
    }
    c.started_ = true;
    return it != Iter<It>(c.end_);
  }
  static bool Next(Cursor& c) {
    if (!c.valid_) return false;
    return c.object_ ? Advance<simdjson::dom::object::iterator>(c)
                     : Advance<simdjson::dom::array::iterator>(c);
  }
  static std::string_view Key(const Cursor& c) {
    if (!c.valid_ || !c.object_) return {};
    return Iter<simdjson::dom::object::iterator>(c.cur_).key();
  }
  static Node Value(const Cursor& c) {
    if (!c.valid_) return Node();
    if (c.object_) return Make(Iter<simdjson::dom::object::iterator>(c.cur_).value(), c.doc_);
    return Make(*Iter<simdjson::dom::array::iterator>(c.cur_), c.doc_);
  }
  static bool Valid(const Node& n) { return n.valid_; }
};

bool Node::IsNumber() const {
  Kind k = kind();
  return k == Kind::kInt64 || k == Kind::kUint64 || k == Kind::kDouble;
}

std::string_view Node::GetString() const {
  if (!valid_) return {};
  std::string_view s;
  if (Elem(raw_).get_string().get(s)) return {};
  return s;
}

double Node::GetDouble() const {
  if (!valid_) return 0;
  auto e = Elem(raw_);
  switch (e.type()) {
    case simdjson::dom::element_type::INT64:
      return static_cast<double>(int64_t(e));
    case simdjson::dom::element_type::UINT64:
      return static_cast<double>(uint64_t(e));
    case simdjson::dom::element_type::DOUBLE:
      return double(e);
    default:
      return 0;
  }
}

int64_t Node::GetInt64() const {
  if (!valid_) return 0;
  auto e = Elem(raw_);
  switch (e.type()) {
    case simdjson::dom::element_type::INT64:
      return int64_t(e);
    case simdjson::dom::element_type::UINT64: {
      uint64_t u = uint64_t(e);
      return u <= uint64_t(INT64_MAX) ? int64_t(u) : 0;
    }
    case simdjson::dom::element_type::DOUBLE:
      return static_cast<int64_t>(double(e));
    default:
      return 0;
  }
}

bool Node::GetBool() const {
  if (!valid_) return false;
  bool b = false;
  if (Elem(raw_).get_bool().get(b)) return false;
  return b;
}

std::optional<Node> Node::Find(std::string_view key) const {
  if (!valid_) return std::nullopt;
  simdjson::dom::object obj;
  if (Elem(raw_).get_object().get(obj)) return std::nullopt;
  simdjson::dom::element v;
  if (obj.at_key(key).get(v)) return std::nullopt;
  return NodeAccess::Make(v, doc_);
}

uint64_t Node::FindFields(const FieldSet& set, std::span<std::optional<Node>> out) const {
  for (size_t i = 0; i < set.size(); ++i) out[i].reset();
  if (!valid_) return 0;
  simdjson::dom::object obj;
  if (Elem(raw_).get_object().get(obj)) return 0;
  uint64_t repeated = 0;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    int i = set.IndexOf(it.key());
    if (i < 0) continue;
    if (!out[i]) {
      out[i] = NodeAccess::Make(it.value(), doc_);
    } else if (i < 64) {
      repeated |= uint64_t{1} << i;
    }
  }
  return repeated;
}

FieldSet::FieldSet(std::vector<std::string_view> names) : names_(std::move(names)) {
  if (names_.size() > kMaxNames) std::abort();  // a programming error: indexes are 8 bits
  size_t buckets = 64;
  while (buckets < 2 * names_.size()) buckets *= 2;
  head_.assign(buckets, 0);
  mask_ = buckets - 1;
  next_.assign(names_.size(), 0);
  for (size_t i = names_.size(); i-- > 0;) {
    size_t b = Bucket(names_[i]);
    next_[i] = head_[b];
    head_[b] = static_cast<uint8_t>(i + 1);
  }
}

void Node::FindWithPrefixed(std::string_view key, char prefix, std::optional<Node>& plain,
                            std::optional<Node>& prefixed) const {
  if (!valid_) return;
  simdjson::dom::object obj;
  if (Elem(raw_).get_object().get(obj)) return;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    uint32_t length = it.key_length();
    if (length == key.size()) {
      if (!plain && it.key_equals(key)) plain = NodeAccess::Make(it.value(), doc_);
    } else if (length == key.size() + 1 && !prefixed) {
      std::string_view k = it.key();
      if (k[0] == prefix && k.substr(1) == key) prefixed = NodeAccess::Make(it.value(), doc_);
    }
  }
}

int Node::FirstPresent(std::string_view stem, std::span<const std::string> keys,
                       char prefix) const {
  if (!valid_) return -1;
  simdjson::dom::object obj;
  if (Elem(raw_).get_object().get(obj)) return -1;
  int best = -1;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    std::string_view k = it.key();
    if (!k.empty() && k[0] == prefix) k.remove_prefix(1);
    if (k.size() <= stem.size() || k.substr(0, stem.size()) != stem) continue;
    for (size_t i = 0; i < keys.size() && (best < 0 || int(i) < best); ++i) {
      if (keys[i] == k) best = int(i);
    }
  }
  return best;
}

void Node::ForEachField(const std::function<bool(std::string_view, Node)>& fn) const {
  if (!valid_) return;
  simdjson::dom::object obj;
  if (Elem(raw_).get_object().get(obj)) return;
  for (auto field : obj) {
    if (!fn(field.key, NodeAccess::Make(field.value, doc_))) return;
  }
}

void Node::ForEachItem(const std::function<bool(Node)>& fn) const {
  if (!valid_) return;
  simdjson::dom::array arr;
  if (Elem(raw_).get_array().get(arr)) return;
  for (auto item : arr) {
    if (!fn(NodeAccess::Make(item, doc_))) return;
  }
}

Cursor Node::Children() const {
  if (!valid_) return Cursor();
  auto e = Elem(raw_);
  simdjson::dom::object obj;
  if (!e.get_object().get(obj)) return NodeAccess::MakeCursor(obj.begin(), obj.end(), true, doc_);
  simdjson::dom::array arr;
  if (!e.get_array().get(arr)) return NodeAccess::MakeCursor(arr.begin(), arr.end(), false, doc_);
  return Cursor();
}

bool Cursor::Next() {
  return NodeAccess::Next(*this);
}

std::string_view Cursor::key() const {
  return NodeAccess::Key(*this);
}

Node Cursor::value() const {
  return NodeAccess::Value(*this);
}

namespace {

// The tape index past the value at index `j` (simdjson's doc/tape.md): an object's or array's
// first word holds the index past its last; a number takes two words; the rest one.
uint64_t TapeAfter(const uint64_t* tape, uint64_t j) {
  using simdjson::internal::tape_type;
  switch (static_cast<tape_type>(tape[j] >> 56)) {
    case tape_type::START_OBJECT:
    case tape_type::START_ARRAY:
      return static_cast<uint32_t>(tape[j]);
    case tape_type::INT64:
    case tape_type::UINT64:
    case tape_type::DOUBLE:
      return j + 2;
    default:
      return j + 1;
  }
}

// The string of a tape word: its offset in the string buffer, where its length (32 bits)
// precedes its bytes.
std::string_view TapeString(const uint8_t* strings, uint64_t word) {
  const uint64_t offset = word & simdjson::internal::JSON_VALUE_MASK;
  uint32_t size;
  std::memcpy(&size, strings + offset, sizeof size);
  return {reinterpret_cast<const char*>(strings + offset + sizeof size), size};
}

// A name given twice in one object of the value at tape index `i`, into `name`. One pass over
// simdjson's tape in document order (TapeString), where an object's words alternate name and
// value, with a stack of the objects and arrays open at each word: no recursion, no jumps.
// Objects are small (FHIR elements hold a few names, a resource a few dozen): a name is
// compared with the names its object gave before only when a 64-bit filter of their tags (a
// name's length and three of its bytes) says it may be one of them, and by tag before its
// bytes; an object of more than kCompared names has the rest sorted when it closes.
bool FindRepeatedName(const uint64_t* tape, const uint8_t* strings, uint64_t i,
                      std::string_view& name) {
  using simdjson::internal::tape_type;
  constexpr size_t kCompared = 32;
  struct Seen {
    const char* data;
    uint64_t tag;  // the length in the low 32 bits
  };
  struct Open {
    size_t first;    // of its names in `seen`
    uint64_t bloom;  // a bit per tag seen, while it has at most kCompared names
    bool object;
  };
  // Reused by the calls of a thread (no allocation per resource); nothing here calls back.
  thread_local std::vector<Seen> seen;
  thread_local std::vector<Open> open;
  seen.clear();
  open.clear();
  auto is_container = [](tape_type t) {
    return t == tape_type::START_OBJECT || t == tape_type::START_ARRAY;
  };
  open.push_back({0, 0, static_cast<tape_type>(tape[i] >> 56) == tape_type::START_OBJECT});
  for (uint64_t j = i + 1;;) {
    const auto type = static_cast<tape_type>(tape[j] >> 56);
    if (type == tape_type::END_OBJECT || type == tape_type::END_ARRAY) {
      const Open& closed = open.back();
      if (closed.object && seen.size() - closed.first > kCompared) {
        std::vector<std::string_view> names;
        names.reserve(seen.size() - closed.first);
        for (size_t k = closed.first; k < seen.size(); ++k) {
          names.emplace_back(seen[k].data, static_cast<uint32_t>(seen[k].tag));
        }
        std::sort(names.begin(), names.end());
        if (auto it = std::adjacent_find(names.begin(), names.end()); it != names.end()) {
          name = *it;
          return true;
        }
      }
      seen.resize(closed.first);
      open.pop_back();
      if (open.empty()) return false;
      ++j;
      continue;
    }
    if (open.back().object) {  // a name, then its value
      Open& in = open.back();
      const std::string_view key = TapeString(strings, tape[j++]);
      uint64_t tag = key.size();
      if (!key.empty()) {
        tag |= uint64_t{static_cast<uint8_t>(key.front())} << 32 |
               uint64_t{static_cast<uint8_t>(key[key.size() / 2])} << 40 |
               uint64_t{static_cast<uint8_t>(key.back())} << 48;
      }
      if (seen.size() - in.first < kCompared) {
        const uint64_t bit = uint64_t{1} << ((tag * 0x9E3779B97F4A7C15ull) >> 58);
        if ((in.bloom & bit) != 0) {
          for (size_t k = in.first; k < seen.size(); ++k) {
            if (seen[k].tag == tag && std::memcmp(seen[k].data, key.data(), key.size()) == 0) {
              name = key;
              return true;
            }
          }
        }
        in.bloom |= bit;
      }
      seen.push_back({key.data(), tag});
    }
    const auto value = static_cast<tape_type>(tape[j] >> 56);
    if (is_container(value)) {
      open.push_back({seen.size(), 0, value == tape_type::START_OBJECT});
      ++j;
    } else {
      j += value == tape_type::INT64 || value == tape_type::UINT64 || value == tape_type::DOUBLE
               ? 2
               : 1;
    }
  }
}

inline bool HasChildren(simdjson::dom::element e) {
  const auto type = e.type();
  return type == simdjson::dom::element_type::OBJECT || type == simdjson::dom::element_type::ARRAY;
}

// Whether the document of `doc` (Node::doc_) is known to repeat no name.
bool NamesKnownUnique(const void* doc) {
  return doc != nullptr &&
         static_cast<const DocumentState*>(doc)->names_unique.load(std::memory_order_acquire);
}

}  // namespace

std::optional<std::string_view> Node::RepeatedName() const {
  std::string_view name;
  if (!valid_ || !HasChildren(Elem(raw_)) || NamesKnownUnique(doc_)) return std::nullopt;
  const ElementKey key = KeyOf(raw_);
  const auto* doc = reinterpret_cast<const simdjson::dom::document*>(key[0]);
  if (FindRepeatedName(doc->tape.get(), doc->string_buf.get(), key[1], name)) return name;
  // simdjson's root is the tape's second word, after the ROOT word.
  constexpr uint64_t kRootIndex = 1;
  if (key[1] == kRootIndex && doc_ != nullptr) {
    static_cast<const DocumentState*>(doc_)->names_unique.store(true, std::memory_order_release);
  }
  return std::nullopt;
}

bool Node::RepeatsAny(std::initializer_list<std::string_view> keys) const {
  if (!valid_ || Elem(raw_).type() != simdjson::dom::element_type::OBJECT) return false;
  if (NamesKnownUnique(doc_)) return false;
  const ElementKey element = KeyOf(raw_);
  const auto* doc = reinterpret_cast<const simdjson::dom::document*>(element[0]);
  const uint64_t* tape = doc->tape.get();
  // The object's words from its '{' to its '}' alternate name and value (FindRepeatedName).
  const uint64_t last = static_cast<uint32_t>(tape[element[1]]) - 1;
  uint64_t seen = 0;  // bit k: keys[k] was named once
  for (uint64_t j = element[1] + 1; j < last; j = TapeAfter(tape, j)) {
    const std::string_view name = TapeString(doc->string_buf.get(), tape[j++]);
    uint64_t bit = 1;
    for (std::string_view key : keys) {
      if (name == key) {
        if ((seen & bit) != 0) return true;
        seen |= bit;
      }
      bit <<= 1;
    }
  }
  return false;
}

size_t Node::Size() const {
  if (!valid_) return 0;
  auto e = Elem(raw_);
  simdjson::dom::array arr;
  if (!e.get_array().get(arr)) return arr.size();
  simdjson::dom::object obj;
  if (!e.get_object().get(obj)) return obj.size();
  return 0;
}

std::string Node::ToJson() const {
  if (!valid_) return "null";
  return simdjson::minify(Elem(raw_));
}

std::string_view Node::NumberText() const {
  if (!valid_ || doc_ == nullptr || !IsNumber()) return {};
  NumberTable* table = static_cast<const DocumentState*>(doc_)->numbers.get();
  if (table == nullptr) return {};
  if (!table->ready.load(std::memory_order_acquire)) {
    std::lock_guard lock(table->build);
    if (!table->ready.load(std::memory_order_relaxed)) {
      std::vector<uint64_t> indices = NumberIndices(table->root);
      std::vector<std::string_view> tokens = NumberTokens(table->source);
      if (tokens.size() == indices.size()) {
        table->indices = std::move(indices);
        table->texts = std::move(tokens);
      }
      table->ready.store(true, std::memory_order_release);
    }
  }
  const uint64_t index = KeyOf(raw_)[1];
  const std::vector<uint64_t>& indices = table->indices;
  size_t at = table->next.load(std::memory_order_relaxed);
  if (at >= indices.size() || indices[at] != index) {
    at = static_cast<size_t>(std::lower_bound(indices.begin(), indices.end(), index) -
                             indices.begin());
    if (at == indices.size() || indices[at] != index) return {};
  }
  table->next.store(at + 1, std::memory_order_relaxed);
  return table->texts[at];
}

struct Parser::Impl {
  simdjson::dom::parser parser;
  bool keep_number_text = false;
  std::string source;  // copy of the text of Parse() when keeping number text
  DocumentState doc;   // of the last parse; the Nodes of earlier ones are no longer valid

  // The root Node of a new parse of `text`, with a fresh state (and number table, when
  // number text is kept).
  Node Root(simdjson::dom::element root, std::string_view text) {
    doc.names_unique.store(false, std::memory_order_relaxed);
    doc.numbers.reset();
    if (keep_number_text) {
      doc.numbers = std::make_unique<NumberTable>();
      doc.numbers->source = text;
      doc.numbers->root = root;
    }
    return NodeAccess::Make(root, &doc);
  }
};

void Parser::set_keep_number_text(bool keep) {
  impl_->keep_number_text = keep;
}

Status Parser::set_max_depth(size_t depth) {
  static_assert(kDefaultMaxDepth == simdjson::DEFAULT_MAX_DEPTH);
  // Later parses grow the capacity and keep this depth (dom::parser::ensure_capacity).
  if (impl_->parser.allocate(std::max<size_t>(impl_->parser.capacity(), 64), depth)) {
    return Internal("cannot allocate the JSON parser");
  }
  return Status::Ok();
}

Parser::Parser() : impl_(std::make_unique<Impl>()) {}
Parser::~Parser() = default;
Parser::Parser(Parser&&) noexcept = default;
Parser& Parser::operator=(Parser&&) noexcept = default;

namespace {

// simdjson's reason, said the way a reader of the quarantine needs it: a number that JSON
// allows but no 64-bit integer or double holds (1e400, 2^64) is refused as "Problem while
// parsing a number", which reads as if the text were no number at all.
Status JsonError(simdjson::error_code error) {
  if (error == simdjson::NUMBER_ERROR || error == simdjson::NUMBER_OUT_OF_RANGE) {
    return ParseError(
        "invalid JSON: a number that is malformed, or beyond a 64-bit integer and a double "
        "(1e400, 18446744073709551616), which medlake does not read");
  }
  return ParseError(std::string("invalid JSON: ") + simdjson::error_message(error));
}

}  // namespace

Result<Node> Parser::Parse(std::string_view text) {
  simdjson::dom::element root;
  auto error = impl_->parser.parse(text.data(), text.size(), true).get(root);
  if (error) return JsonError(error);
  if (impl_->keep_number_text) {
    impl_->source.assign(text);
    return impl_->Root(root, impl_->source);
  }
  return impl_->Root(root, text);
}

Result<Node> Parser::ParseWithUniqueNames(std::string_view text) {
  Result<Node> root = Parse(text);
  if (root.ok()) impl_->doc.names_unique.store(true, std::memory_order_relaxed);
  return root;
}

Result<Node> Parser::ParsePadded(const char* data, size_t size) {
  simdjson::dom::element root;
  auto error = impl_->parser.parse(data, size, false).get(root);
  if (error) return JsonError(error);
  return impl_->Root(root, std::string_view(data, size));
}

namespace {

// The first member of `object` named `key`, its name's escapes decoded (find_field compares
// names as written: "entr\u0079" would not be "entry", which a parse of the document says it
// is). NO_SUCH_FIELD when there is none.
simdjson::error_code FindMember(simdjson::ondemand::object& object, std::string_view key,
                                simdjson::ondemand::value& out) {
  // Names as written first (no copy of each name): a name with escapes is rare, and one that
  // decodes to `key` before the one written plainly would be `key` twice, which the readers
  // refuse (FhirReader: "appears twice").
  auto found = object.find_field_unordered(key).get(out);
  if (found != simdjson::NO_SUCH_FIELD) return found;
  if (auto error = object.reset().error()) return error;
  for (auto field : object) {
    std::string_view name;
    if (auto error = field.unescaped_key().get(name)) return error;
    if (name == key) return field.value().get(out);
  }
  return simdjson::NO_SUCH_FIELD;
}

// The raw text of `item[key]` into `out` (empty when `item` has no such member).
Status RawMember(simdjson::ondemand::object& item, std::string_view key, std::string_view& out) {
  out = {};
  simdjson::ondemand::value member;
  if (auto error = FindMember(item, key, member)) {
    return error == simdjson::NO_SUCH_FIELD ? Status::Ok() : ParseError("invalid JSON");
  }
  simdjson::ondemand::json_type type;
  if (member.type().get(type)) return ParseError("invalid JSON");
  if (type == simdjson::ondemand::json_type::object) {
    simdjson::ondemand::object obj;
    if (member.get_object().get(obj) || obj.raw_json().get(out)) return ParseError("invalid JSON");
  } else if (type == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array items;
    if (member.get_array().get(items) || items.raw_json().get(out))
      return ParseError("invalid JSON");
  } else {
    // The token and the whitespace after it, which is not the value's (PlainMemberSlices).
    out = member.raw_json_token();
    while (!out.empty() &&
           (out.back() == ' ' || out.back() == '\n' || out.back() == '\t' || out.back() == '\r')) {
      out.remove_suffix(1);
    }
  }
  return Status::Ok();
}

}  // namespace

Status MemberSlice(std::string_view text, std::string_view key, std::string_view& out) {
  if (auto plain = PlainMemberSlice(text, key, out)) return *plain;
  out = {};
  thread_local simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (parser.iterate(text.data(), text.size(), text.size() + kPadding).get(doc)) {
    return ParseError("invalid JSON");
  }
  simdjson::ondemand::object root;
  if (doc.get_object().get(root)) return Status::Ok();  // no object: no member
  return RawMember(root, key, out);
}

Status MemberSlices(std::string_view text, std::string_view array_key, std::string_view member_key,
                    std::vector<std::string_view>& out) {
  if (auto plain = PlainMemberSlices(text, array_key, member_key, out)) return *plain;
  out.clear();
  thread_local simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (parser.iterate(text.data(), text.size(), text.size() + kPadding).get(doc)) {
    return ParseError("invalid JSON");
  }
  simdjson::ondemand::object root;
  if (doc.get_object().get(root)) return ParseError("not a JSON object");
  simdjson::ondemand::array items;
  simdjson::ondemand::value field;
  if (auto error = FindMember(root, array_key, field)) {
    return error == simdjson::NO_SUCH_FIELD ? Status::Ok() : ParseError("invalid JSON");
  }
  if (field.get_array().get(items)) return ParseError("member is not an array");
  for (auto item_result : items) {
    simdjson::ondemand::object item;
    if (item_result.get_object().get(item)) {
      out.emplace_back();  // no object: no member
      continue;
    }
    MEDLAKE_RETURN_IF_ERROR(RawMember(item, member_key, out.emplace_back()));
  }
  return Status::Ok();
}

Status Minify(std::string_view text, std::string& out) {
  out.resize(text.size() + kMinifySlack);
  MEDLAKE_ASSIGN_OR_RETURN(size_t len, MinifyInto(text, out.data()));
  out.resize(len);
  return Status::Ok();
}

namespace {

// Whether byte `b` ends a run copied as is: a control, a quote, a backslash or non-ASCII.
constexpr bool EndsPlainRun(unsigned char b) {
  return b < 0x20 || b >= 0x80 || b == '"' || b == '\\';
}
// The same as a table: the bytes of a string shorter than a word are looked up one load each.
constexpr std::array<bool, 256> kEndsPlainRun = [] {
  std::array<bool, 256> table{};
  for (int b = 0; b < 256; ++b) table[b] = EndsPlainRun(static_cast<unsigned char>(b));
  return table;
}();

// Of the eight bytes of `w`, the first (lowest) that ends a run, as a flag in its top bit; 0
// when none. In each term, the lowest flagged byte is exact (a borrow only flags bytes above a
// true match), so the lowest flagged byte of their union is the first byte that ends the run.
inline uint64_t RunEnds(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const uint64_t quote = w ^ (kOnes * '"');
  const uint64_t backslash = w ^ (kOnes * '\\');
  return (((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash) | (w - kOnes * 0x20) |
          w) &
         kHigh;
}

// The end of the run of s[i..] that needs no escaping, eight bytes at a time.
size_t PlainRunEnd(std::string_view s, size_t start) {
  const char* p = s.data();
  const size_t n = s.size();
  size_t i = start;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (const uint64_t ends = RunEnds(w); ends != 0) {
      return i + static_cast<size_t>(std::countr_zero(ends) >> 3);
    }
  }
  if (i == n) return n;
  if (i != start) {
    // The last (fewer than eight) bytes, read as the string's last word: the bytes before them
    // in it were found plain above, and a plain byte is never flagged (nor borrowed from), so a
    // flag is one of them.
    uint64_t w;
    std::memcpy(&w, p + n - 8, 8);
    const uint64_t ends = RunEnds(w);
    return ends == 0 ? n : n - 8 + static_cast<size_t>(std::countr_zero(ends) >> 3);
  }
  while (i < n && !kEndsPlainRun[static_cast<unsigned char>(p[i])]) ++i;
  return i;
}

}  // namespace

void AppendQuoted(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t i = PlainRunEnd(s, 0);
  if (i == s.size()) {
    // Nothing to escape (nearly every name and value): the quotes and the bytes in one growth
    // of `out`, not a reserve, two push_backs and an append.
    out.append(s.size() + 2, '"');
    std::memcpy(out.data() + out.size() - 1 - s.size(), s.data(), s.size());
    return;
  }
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  out.append(s.data(), i);
  while (i < s.size()) {
    // Printable ASCII other than quote and backslash is copied as a run.
    size_t run = PlainRunEnd(s, i);
    out.append(s.data() + i, run - i);
    i = run;
    if (i == s.size()) break;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = Utf8CharLength(s, i);
      if (len == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD replacement character
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

}  // namespace medlake::json
