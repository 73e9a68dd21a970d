#include "store/key_map.h"

#include <gtest/gtest.h>

#include <random>

namespace medlake::store {
namespace {

TEST(KeyMapTest, InsertsFindsAndGrows) {
  KeyMap<uint64_t> map;
  std::mt19937_64 rng(1);
  std::vector<Key128> keys;
  for (int i = 0; i < 100000; ++i) keys.push_back({rng(), rng()});
  // Keys sharing low bits collide in the table and must still be told apart: by the whole key
  // when their slot tags (the high half of `hi`) are equal too, else by the tag.
  for (int i = 0; i < 1000; ++i) keys.push_back({42, static_cast<uint64_t>(i)});
  for (int i = 1; i < 1000; ++i) keys.push_back({42, static_cast<uint64_t>(i) << 32});
  for (size_t i = 0; i < keys.size(); ++i) {
    bool inserted = false;
    map.FindOrInsert(keys[i], inserted) = i;
    EXPECT_TRUE(inserted);
  }
  EXPECT_EQ(map.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    uint64_t* v = map.Find(keys[i]);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(*v, i);
    bool inserted = true;
    EXPECT_EQ(map.FindOrInsert(keys[i], inserted), i);
    EXPECT_FALSE(inserted);
  }
  EXPECT_EQ(map.Find(Key128{42, 5000}), nullptr);
  EXPECT_EQ(map.Find(Key128{42, (uint64_t{5000} << 32) | 1}), nullptr);
  size_t visited = 0;
  map.ForEach([&](const Key128& key, uint64_t& value) {
    EXPECT_EQ(keys[value], key);
    ++visited;
  });
  EXPECT_EQ(visited, keys.size());
  EXPECT_EQ(map.Find(Key128{7, 7}), nullptr);
}

TEST(KeyMapTest, PrefetchIsHarmlessAndClearEmpties) {
  KeyMap<int> map;
  map.Prefetch(Key128{1, 2});  // an empty map: no table to fetch from
  bool inserted = false;
  for (uint64_t i = 0; i < 1000; ++i) {
    map.Prefetch(Key128{i, i});
    map.FindOrInsert(Key128{i, i}, inserted) = static_cast<int>(i);
  }
  EXPECT_EQ(map.size(), 1000u);
  map.Clear();
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.Find(Key128{5, 5}), nullptr);
  map.Prefetch(Key128{5, 5});
  map.FindOrInsert(Key128{5, 5}, inserted) = 7;
  EXPECT_TRUE(inserted);
  EXPECT_EQ(*map.Find(Key128{5, 5}), 7);
}

}  // namespace
}  // namespace medlake::store
