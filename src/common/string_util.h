// Small string helpers shared by modules.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace medlake {

// Replaces every occurrence of `from` in `s` with `to`, left to right; text inserted by a
// replacement is not searched again. Does nothing when `from` is empty.
void ReplaceAll(std::string& s, std::string_view from, std::string_view to);

// Appends code point `cp` as UTF-8; a surrogate (U+D800-U+DFFF, no character) or a value past
// U+10FFFF becomes U+FFFD.
void AppendUtf8(char32_t cp, std::string& out);

// Bytes of the well-formed UTF-8 character at s[i] (1 for ASCII), 0 when the bytes there are
// not one (a continuation byte, an overlong form, a surrogate, past U+10FFFF, truncated).
size_t Utf8CharLength(std::string_view s, size_t i);
// Whether every character of `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

// The first eight bytes of `s` as a big-endian number, zero-padded: two strings whose heads
// differ are in the order of their heads (when they are equal, the strings tell). Sorting by
// it, then by the strings where heads tie, moves 8 bytes instead of strings.
inline uint64_t OrderedHead(std::string_view s) {
  uint64_t head = 0;
  for (size_t i = 0; i < 8; ++i) {
    head = (head << 8) | (i < s.size() ? static_cast<unsigned char>(s[i]) : 0u);
  }
  return head;
}

// A database's error text with every quoted part ('...' or "...") that does not appear in
// `known` (the statement the user wrote) replaced by <redacted>: such parts are values from
// the data ("Could not convert string 'Smith' to INT32"), which an error must never print.
std::string RedactDataValues(std::string_view message, std::string_view known);

// Copies of strings that stay where they were copied to: a view of one is valid as long as
// the arena. For many small strings that must outlive what they were read from (a Bundle's
// fullUrls and ids, read one entry at a time).
class StringArena {
 public:
  std::string_view Copy(std::string_view s) {
    if (s.empty()) return {};
    if (chunks_.empty() || chunks_.back().capacity() - chunks_.back().size() < s.size()) {
      chunks_.emplace_back().reserve(std::max(s.size(), kChunkBytes));
    }
    std::string& chunk = chunks_.back();  // appended to within its capacity: never moves
    const size_t at = chunk.size();
    chunk.append(s);
    return std::string_view(chunk).substr(at);
  }

 private:
  static constexpr size_t kChunkBytes = 64u << 10;
  std::deque<std::string> chunks_;
};

// A map from views of strings to views of strings, filled once and searched many times (a
// Bundle's fullUrls, looked up for every reference of its entries): open addressing in one
// array, where a lookup reads one slot and compares a stored hash before any bytes, instead of
// a bucket, a chain of nodes and a division by a prime (std::unordered_map). The bytes of the
// views are owned elsewhere and must outlive the map.
class ViewMap {
 public:
  // Room for `n` keys without growing.
  void Reserve(size_t n);
  // Sets the value of `key`; a later value replaces an earlier one.
  void Set(std::string_view key, std::string_view value);
  // Set of each (key, value) of `entries` in order, the slots of the next ones fetched into
  // the cache ahead: a table of a large Bundle's fullUrls outgrows the caches, and one Set at a
  // time waits on a miss for every key.
  void SetAll(std::span<const std::pair<std::string_view, std::string_view>> entries);
  // The value of `key`, null when absent (valid until the next Set).
  const std::string_view* Find(std::string_view key) const;
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;  // 0: empty (a key's hash is never 0)
    std::string_view key, value;
  };
  static uint64_t HashOf(std::string_view key);
  // The slot of `key`: its own, or the empty one where it would go.
  size_t SlotOf(std::string_view key, uint64_t hash) const;
  void Grow(size_t slots);
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

// A hash map keyed by std::string that is searched with a string_view (no key copy per lookup).
// XXH3: 1.6 times as fast as std::hash (libstdc++'s Murmur) on a Bundle's fullUrls, 5.3 against
// 8.6 ns a key (bench/ingest/parts_bench.cc on Synthea's 38,970).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const;
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

}  // namespace medlake
