// KeyMap: an open-addressing hash map from 128-bit resource keys to small values, for the
// writer's identity index (millions of entries; about 24 bytes of overhead each, against ~80
// for std::unordered_map). Keys are already uniform hashes, so the low bits index the table.
// Not thread-safe; values move when the map grows (do not keep pointers across inserts).
#pragma once

#include <cstdint>
#include <vector>

#include "store/segment.h"

namespace medlake::store {

template <typename V>
class KeyMap {
 public:
  V* Find(const Key128& key) {
    if (slots_.empty()) return nullptr;
    for (size_t i = key.lo & mask_;; i = (i + 1) & mask_) {
      uint32_t s = slots_[i];
      if (s == 0) return nullptr;
      if (keys_[s - 1] == key) return &values_[s - 1];
    }
  }

  // The value of `key`, default-constructed and `inserted` set when absent.
  V& FindOrInsert(const Key128& key, bool& inserted) {
    if ((keys_.size() + 1) * 10 >= slots_.size() * 7) Grow();
    for (size_t i = key.lo & mask_;; i = (i + 1) & mask_) {
      uint32_t s = slots_[i];
      if (s == 0) {
        keys_.push_back(key);
        values_.emplace_back();
        slots_[i] = static_cast<uint32_t>(keys_.size());
        inserted = true;
        return values_.back();
      }
      if (keys_[s - 1] == key) {
        inserted = false;
        return values_[s - 1];
      }
    }
  }

  size_t size() const { return keys_.size(); }
  template <typename Fn>
  void ForEach(Fn fn) {
    for (size_t i = 0; i < keys_.size(); ++i) fn(keys_[i], values_[i]);
  }

 private:
  void Grow() {
    size_t n = slots_.empty() ? 64 : slots_.size() * 2;
    slots_.assign(n, 0);
    mask_ = n - 1;
    for (size_t k = 0; k < keys_.size(); ++k) {
      size_t i = keys_[k].lo & mask_;
      while (slots_[i] != 0) i = (i + 1) & mask_;
      slots_[i] = static_cast<uint32_t>(k + 1);
    }
  }

  std::vector<uint32_t> slots_;  // 0 = empty, else index + 1 into keys_/values_
  std::vector<Key128> keys_;
  std::vector<V> values_;
  size_t mask_ = 0;
};

}  // namespace medlake::store
