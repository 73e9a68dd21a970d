// Small string helpers shared by modules.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace medlake {

// `s` with its ASCII letters in lower case (other bytes, UTF-8 ones too, as they are).
std::string AsciiLower(std::string_view s);
// Whether `s` begins with `lower_prefix` (given in lower case) in any case of its ASCII letters:
// "URN:UUID:..." begins with "urn:uuid:".
bool StartsWithAnyCase(std::string_view s, std::string_view lower_prefix);

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

// A map from strings to 32-bit values (a Bundle's fullUrls to the entries they name, looked up
// for every reference of its entries) that keeps a 128-bit hash of each key (XXH3), never the
// key: 24 bytes a slot, at most 70 % full, whatever the keys' length (a map of views and the
// copies they viewed took about 200 bytes a fullUrl, which a Bundle of millions of entries
// holds while it is read). Two keys of the same hash are one key: for n keys that happens by
// chance with a probability of about n^2 / 2^129 (1e-26 for 4 million). XXH3 is no
// cryptographic hash, and two fullUrls could be made to collide on purpose, but only by the
// author of the Bundle, whose references could name any entry anyway. Open addressing in one
// array: a lookup hashes the key and reads a slot or two.
class HashIndex {
 public:
  struct Hash {
    uint64_t low = 0, high = 0;  // both 0: an empty slot (no key hashes to it)
    bool operator==(const Hash&) const = default;
  };
  static Hash HashOf(std::string_view key);

  // Room for `n` keys without growing.
  void Reserve(size_t n);
  // Sets the value of the key hashed to `hash`; a later value replaces an earlier one.
  void Set(Hash hash, uint32_t value);
  // Set of each (hash, value) of `entries` in order, the slots of the next ones fetched into
  // the cache ahead: a table of a large Bundle's fullUrls outgrows the caches, and one Set at a
  // time waits on a miss for every key.
  void SetAll(std::span<const std::pair<Hash, uint32_t>> entries);
  // The value of `key`, nullopt when absent.
  std::optional<uint32_t> Find(std::string_view key) const;
  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }

 private:
  struct Slot {
    Hash hash;
    uint32_t value = 0;
  };
  // The first slot to probe for `hash`: its low word scaled to the table (any size, not a power
  // of two, so that a table just past a power of two is not twice as large as it needs).
  size_t HomeOf(const Hash& hash) const {
    __extension__ using Wide = unsigned __int128;
    return static_cast<size_t>((static_cast<Wide>(hash.low) * slots_.size()) >> 64);
  }
  // The slot of `hash`: its own, or the empty one where it would go.
  size_t SlotOf(const Hash& hash) const;
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
