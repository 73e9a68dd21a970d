// KeyMap: an open-addressing hash map from 128-bit resource keys to small values, for the
// writer's identity state and the lake's lookup by identity (millions of entries; 8-byte slots
// at a load of at most 0.7, about 12-23 bytes each beyond key and value, against ~80 for
// std::unordered_map). Keys are already uniform hashes, so the low bits of `lo` index the table.
//
// A slot holds the entry's index and 32 bits of the key's `hi` half as a tag: a probe that
// passes other keys reads only the slot array, and the one that matches reads key and value
// side by side. In a map far larger than the cache (the writer's admissions) a lookup of a new
// key costs one cache miss and that of a known key two, where slots of bare indexes, keys and
// values in separate arrays cost one more per entry passed and per array read.
//
// Entries live in chunks of 1024 that never move: growing the map rehashes the slots only, and
// its peak memory is what it holds plus one chunk (a vector of entries, doubled as it grew,
// held the old array and the new one at once, three times what it held). Not thread-safe;
// values keep their address until the map is cleared.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "store/segment.h"

namespace medlake::store {

// A sequence that grows by chunks of 2^kShift elements, each allocated when the first element
// goes into it (its pages are touched as it fills): elements never move.
template <typename T>
class ChunkedVector {
 public:
  static constexpr size_t kShift = 10;
  static constexpr size_t kChunk = size_t{1} << kShift;

  ChunkedVector() = default;
  ChunkedVector(const ChunkedVector&) = delete;
  ChunkedVector& operator=(const ChunkedVector&) = delete;
  ~ChunkedVector() { clear(); }

  size_t size() const { return size_; }
  T& operator[](size_t i) { return chunks_[i >> kShift][i & (kChunk - 1)]; }

  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if ((size_ >> kShift) == chunks_.size()) {
      chunks_.push_back(
          static_cast<T*>(::operator new (sizeof(T) * kChunk, std::align_val_t{alignof(T)})));
    }
    T* slot = &(*this)[size_];
    ::new (slot) T(std::forward<Args>(args)...);
    ++size_;
    return *slot;
  }

  // Destroys every element and frees the chunks.
  void clear() {
    for (size_t i = 0; i < size_; ++i) (*this)[i].~T();
    for (T* chunk : chunks_) ::operator delete (chunk, std::align_val_t{alignof(T)});
    std::vector<T*>().swap(chunks_);
    size_ = 0;
  }

 private:
  std::vector<T*> chunks_;
  size_t size_ = 0;
};

template <typename V>
class KeyMap {
 public:
  V* Find(const Key128& key) {
    if (slots_.empty()) return nullptr;
    const uint64_t tag = TagOf(key);
    for (size_t i = key.lo & mask_;; i = (i + 1) & mask_) {
      uint64_t s = slots_[i];
      if (s == 0) return nullptr;
      if ((s & kTagMask) == tag && entries_[Index(s)].first == key) {
        return &entries_[Index(s)].second;
      }
    }
  }

  // The value of `key`, default-constructed and `inserted` set when absent.
  V& FindOrInsert(const Key128& key, bool& inserted) {
    if ((entries_.size() + 1) * 10 >= slots_.size() * 7) Grow();
    const uint64_t tag = TagOf(key);
    for (size_t i = key.lo & mask_;; i = (i + 1) & mask_) {
      uint64_t s = slots_[i];
      if (s == 0) {
        V& value = entries_.emplace_back(key, V()).second;
        slots_[i] = tag | entries_.size();
        inserted = true;
        return value;
      }
      if ((s & kTagMask) == tag && entries_[Index(s)].first == key) {
        inserted = false;
        return entries_[Index(s)].second;
      }
    }
  }

  // Starts fetching, for writing, what a lookup of `key` touches first: the map's own fields
  // and the slot where the probe begins. A hint, callable without the owner's lock while
  // another thread holds it and grows the map: the table's address and size come from atomics
  // on a line of their own, which only Grow and Clear write, and at worst a line of the old
  // table is fetched (prefetches never fault).
  void Prefetch(const Key128& key) const {
    __builtin_prefetch(this, 1);
    const uint64_t* slots = hint_.slots.load(std::memory_order_relaxed);
    if (slots != nullptr) {
      __builtin_prefetch(slots + (key.lo & hint_.mask.load(std::memory_order_relaxed)), 1);
    }
  }

  // Empties the map and frees its memory.
  void Clear() {
    hint_.slots.store(nullptr, std::memory_order_relaxed);
    std::vector<uint64_t>().swap(slots_);
    entries_.clear();
    mask_ = 0;
  }

  size_t size() const { return entries_.size(); }
  template <typename Fn>
  void ForEach(Fn fn) {
    for (size_t i = 0; i < entries_.size(); ++i) fn(entries_[i].first, entries_[i].second);
  }

 private:
  // A slot: the tag in the high 32 bits, index + 1 into entries_ in the low 32 (0: empty).
  static constexpr uint64_t kTagMask = 0xFFFFFFFF00000000u;
  static uint64_t TagOf(const Key128& key) { return key.hi & kTagMask; }
  static size_t Index(uint64_t slot) { return static_cast<uint32_t>(slot) - 1; }

  void Grow() {
    size_t n = slots_.empty() ? 64 : slots_.size() * 2;
    slots_.assign(n, 0);
    mask_ = n - 1;
    hint_.slots.store(slots_.data(), std::memory_order_relaxed);
    hint_.mask.store(mask_, std::memory_order_relaxed);
    for (size_t k = 0; k < entries_.size(); ++k) {
      size_t i = entries_[k].first.lo & mask_;
      while (slots_[i] != 0) i = (i + 1) & mask_;
      slots_[i] = TagOf(entries_[k].first) | (k + 1);
    }
  }

  std::vector<uint64_t> slots_;
  ChunkedVector<std::pair<Key128, V>> entries_;
  size_t mask_ = 0;
  // slots_.data() and mask_ for Prefetch, away from the fields every insert writes.
  struct alignas(64) Hint {
    std::atomic<const uint64_t*> slots{nullptr};
    std::atomic<size_t> mask{0};
  } hint_;
};

}  // namespace medlake::store
