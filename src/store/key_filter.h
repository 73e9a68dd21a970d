// Blocked Bloom filters over 128-bit keys (already uniform hashes): each key sets
// kFilterProbes bits in one 512-bit block, so that a lookup reads one cache line. At 10 bits per
// key about 1 % of absent keys pass. The identity index stores one per run (its byte layout is
// in docs/format.md); the lake writer keeps one of the catalog's identifiers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "store/segment.h"

namespace medlake::store {

inline constexpr uint64_t kFilterWords = 8;  // 64-bit words per block
inline constexpr uint64_t kFilterBitsPerEntry = 10;
inline constexpr int kFilterProbes = 7;  // bits set per key, 9 bits of key.lo each

// Blocks for a filter of `entries` keys.
inline uint64_t FilterBlocks(uint64_t entries) {
  return std::max<uint64_t>(1, (entries * kFilterBitsPerEntry + 511) / 512);
}

inline size_t FilterBlockOf(const Key128& key, uint64_t blocks) {
  return static_cast<size_t>(key.hi % blocks);
}

inline uint64_t* FilterBlock(std::vector<uint64_t>& filter, const Key128& key) {
  return filter.data() + FilterBlockOf(key, filter.size() / kFilterWords) * kFilterWords;
}

inline void FilterAdd(std::vector<uint64_t>& filter, const Key128& key) {
  uint64_t* block = FilterBlock(filter, key);
  for (int i = 0; i < kFilterProbes; ++i) {
    uint32_t bit = (key.lo >> (9 * i)) & 511;
    block[bit / 64] |= uint64_t{1} << (bit % 64);
  }
}

// False when `key` was never added; true when it was, and for about 1 % of the others.
inline bool FilterHas(const std::vector<uint64_t>& filter, const Key128& key) {
  const uint64_t* block =
      filter.data() + FilterBlockOf(key, filter.size() / kFilterWords) * kFilterWords;
  for (int i = 0; i < kFilterProbes; ++i) {
    uint32_t bit = (key.lo >> (9 * i)) & 511;
    if ((block[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) return false;
  }
  return true;
}

// A Bloom filter of the keys a catalog table holds, for a writer that looks many of them up:
// built from the table once the lookups pay for reading it, given the keys the writer's own
// commits add, and dropped (to be built again, larger) once they pass the room it has.
struct LookupFilter {
  std::vector<uint64_t> bits;  // empty until built
  uint64_t capacity = 0;       // keys it has room for
  uint64_t keys = 0;           // keys added
  uint64_t lookups = 0;        // lookups made while it was not built

  bool built() const { return !bits.empty(); }
  // Empty, with room for `room` keys.
  void Reset(uint64_t room) {
    capacity = room;
    keys = 0;
    bits.assign(FilterBlocks(room) * kFilterWords, 0);
  }
  void Add(const Key128& key) {
    FilterAdd(bits, key);
    ++keys;
  }
  bool MayHave(const Key128& key) const { return FilterHas(bits, key); }
  // MayHave, built first once `after_lookups` lookups are made and `worth()` says building
  // pays; true (look in the table) until it is built. `build()` builds it, false when the
  // table could not be read (then the lookups count again from 0).
  template <typename Worth, typename Build>
  bool MayHave(const Key128& key, uint64_t after_lookups, Worth worth, Build build) {
    if (!built()) {
      if (++lookups < after_lookups || !worth()) return true;
      if (!build()) {
        lookups = 0;
        return true;
      }
    }
    return MayHave(key);
  }
  // After a commit's additions: past its room it is dropped, and built again later.
  void DropIfFull() {
    if (keys > capacity) {
      bits.clear();
      lookups = 0;
    }
  }
};

}  // namespace medlake::store
