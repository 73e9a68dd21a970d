#include "store/identity_index.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "test_util.h"

namespace medlake::store {
namespace {

using testing::TempDir;

IdentityEntry EntryOf(const Key128& key, uint32_t segment, uint32_t row) {
  IdentityEntry e;
  e.key = key;
  e.content_hash = key.lo ^ segment;
  e.segment = segment;
  e.row = row;
  e.run = segment;
  return e;
}

std::unique_ptr<IdentityIndex> MustOpen(const std::string& dir, uint64_t stamp) {
  auto index = IdentityIndex::Open(dir, stamp);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return index.ok() ? std::move(index).value() : nullptr;
}

TEST(IdentityIndexTest, NewerRunsOverrideAndMergesKeepTheNewest) {
  TempDir dir;
  auto index = MustOpen(dir.path(), 7);
  ASSERT_TRUE(index);
  EXPECT_TRUE(index->needs_rebuild());
  std::mt19937_64 rng(3);
  std::vector<Key128> keys;
  for (int i = 0; i < 20000; ++i) keys.push_back({rng(), rng()});
  // Ten runs: run r holds keys [0, 2000 * (r + 1)), so every key is rewritten by later runs.
  for (uint32_t r = 1; r <= 10; ++r) {
    std::vector<IdentityEntry> entries;
    for (size_t i = 0; i < 2000 * r; ++i) entries.push_back(EntryOf(keys[i], r, uint32_t(i)));
    ASSERT_TRUE(index->AddRun(std::move(entries)).ok());
  }
  EXPECT_LE(index->run_count(), 4u);  // merged as they came
  auto check = [&](IdentityIndex& idx) {
    for (size_t i = 0; i < keys.size(); ++i) {
      IdentityEntry e;
      auto found = idx.Find(keys[i], e);
      ASSERT_TRUE(found.ok());
      ASSERT_TRUE(*found) << i;
      EXPECT_EQ(e.segment, 10u) << i;  // the newest run holds every key
      EXPECT_EQ(e.row, i);
      EXPECT_EQ(e.content_hash, keys[i].lo ^ 10u);
    }
    int absent = 0;
    for (int i = 0; i < 1000; ++i) {
      IdentityEntry e;
      auto found = idx.Find({rng(), rng()}, e);
      ASSERT_TRUE(found.ok());
      absent += *found ? 0 : 1;
    }
    EXPECT_EQ(absent, 1000);
  };
  check(*index);
  ASSERT_TRUE(index->Publish(7).ok());
  index.reset();

  auto reopened = MustOpen(dir.path(), 7);
  ASSERT_TRUE(reopened);
  EXPECT_FALSE(reopened->needs_rebuild());
  check(*reopened);
  // Only the manifest and the runs it names are left.
  size_t files = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir.path())) (void)f, ++files;
  EXPECT_EQ(files, reopened->run_count() + 1);
}

// A run's filter bits are set a few entries after each key is appended (after a prefetch of
// their block): the last keys of a run of any length, short runs included, must be findable.
TEST(IdentityIndexTest, EveryKeyOfRunsOfAnyLengthIsInTheirFilter) {
  TempDir dir;
  auto index = MustOpen(dir.path(), 1);
  ASSERT_TRUE(index);
  std::mt19937_64 rng(11);
  std::vector<Key128> keys;
  for (uint32_t length = 1; length <= 40; ++length) {
    std::vector<IdentityEntry> entries;
    for (uint32_t i = 0; i < length; ++i) {
      keys.push_back({rng(), rng()});
      entries.push_back(EntryOf(keys.back(), length, i));
    }
    ASSERT_TRUE(index->AddRun(std::move(entries)).ok());
  }
  for (const Key128& key : keys) {
    IdentityEntry e;
    auto found = index->Find(key, e);
    ASSERT_TRUE(found.ok());
    EXPECT_TRUE(*found);
  }
}

// A lookup first reads the part of a block where a uniform key would lie; keys that are not
// uniform (here in groups of 64 with wide gaps between) must still be found, through the
// whole block.
TEST(IdentityIndexTest, KeysFarFromWhereTheyWouldLieAreFound) {
  TempDir dir;
  auto index = MustOpen(dir.path(), 1);
  ASSERT_TRUE(index);
  std::vector<Key128> keys;
  auto grouped = [](uint64_t i) { return (i / 64) << 40 | (i % 64); };
  for (uint64_t i = 0; i < 5000; ++i) keys.push_back({i, grouped(i)});
  std::vector<IdentityEntry> entries;
  for (size_t i = 0; i < keys.size(); ++i) entries.push_back(EntryOf(keys[i], 1, uint32_t(i)));
  ASSERT_TRUE(index->AddRun(std::move(entries)).ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    IdentityEntry e;
    auto found = index->Find(keys[i], e);
    ASSERT_TRUE(found.ok());
    ASSERT_TRUE(*found) << i;
    EXPECT_EQ(e.row, i);
  }
  for (uint64_t i = 0; i < 5000; ++i) {
    IdentityEntry e;
    auto found = index->Find({i + 1000000, grouped(i)}, e);  // between two keys
    ASSERT_TRUE(found.ok());
    EXPECT_FALSE(*found) << i;
  }
}

TEST(IdentityIndexTest, UnpublishedRunsAreDroppedAndStaleIndexesRebuilt) {
  TempDir dir;
  auto index = MustOpen(dir.path(), 1);
  ASSERT_TRUE(index->AddRun({EntryOf({1, 1}, 1, 0)}).ok());
  ASSERT_TRUE(index->Publish(1).ok());
  ASSERT_TRUE(index->AddRun({EntryOf({2, 2}, 2, 0)}).ok());  // never published: a crash
  index.reset();

  index = MustOpen(dir.path(), 1);
  EXPECT_FALSE(index->needs_rebuild());
  IdentityEntry e;
  EXPECT_TRUE(*index->Find({1, 1}, e));
  EXPECT_FALSE(*index->Find({2, 2}, e));
  index.reset();

  // Another committed state (a commit whose manifest update was lost, an erasure): rebuilt.
  index = MustOpen(dir.path(), 2);
  EXPECT_TRUE(index->needs_rebuild());
  EXPECT_EQ(index->run_count(), 0u);
  EXPECT_FALSE(*index->Find({1, 1}, e));
}

// A run prepared before its commit (a keyed ingest writes it while the vault writes): nothing
// finds its keys until it is added, and one that is dropped (the commit failed) leaves no file.
TEST(IdentityIndexTest, APreparedRunIsReadOnlyOnceAddedAndLeavesNoFileWhenDropped) {
  TempDir dir;
  auto index = MustOpen(dir.path(), 1);
  ASSERT_TRUE(index->AddRun({EntryOf({1, 1}, 1, 0)}).ok());
  ASSERT_TRUE(index->Publish(1).ok());
  auto files = [&] {
    size_t n = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
      n += f.path().extension() == ".idx";
    }
    return n;
  };
  ASSERT_EQ(files(), 1u);
  IdentityEntry e;
  {
    auto dropped = index->Prepare({EntryOf({2, 2}, 2, 0)});
    ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
    EXPECT_EQ(files(), 2u);
    EXPECT_FALSE(*index->Find({2, 2}, e));
  }
  EXPECT_EQ(files(), 1u) << "a prepared run never added is removed";

  auto prepared = index->Prepare({EntryOf({3, 3}, 3, 0), EntryOf({1, 1}, 3, 1)});
  ASSERT_TRUE(prepared.ok());
  EXPECT_FALSE(*index->Find({3, 3}, e));
  ASSERT_TRUE(*index->Find({1, 1}, e));
  EXPECT_EQ(e.segment, 1u);
  ASSERT_TRUE(index->Add(std::move(prepared).value()).ok());
  ASSERT_TRUE(*index->Find({3, 3}, e));
  ASSERT_TRUE(*index->Find({1, 1}, e));
  EXPECT_EQ(e.segment, 3u);  // the added run is the newest
  ASSERT_TRUE(index->Publish(2).ok());
  index.reset();
  index = MustOpen(dir.path(), 2);
  EXPECT_FALSE(index->needs_rebuild());
  ASSERT_TRUE(*index->Find({3, 3}, e));
  EXPECT_FALSE(*index->Find({2, 2}, e));
}

TEST(IdentityIndexTest, DamagedRunIsRebuiltNotTrusted) {
  TempDir dir;
  auto index = MustOpen(dir.path(), 5);
  std::vector<IdentityEntry> entries;
  for (uint64_t i = 0; i < 1000; ++i) entries.push_back(EntryOf({i * 7919, i}, 1, uint32_t(i)));
  ASSERT_TRUE(index->AddRun(std::move(entries)).ok());
  ASSERT_TRUE(index->Publish(5).ok());
  index.reset();
  std::string run;
  for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
    if (f.path().filename() != "MANIFEST") run = f.path().string();
  }
  ASSERT_FALSE(run.empty());
  {
    std::fstream file(run, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(100);
    file.put('\x5a');
  }
  index = MustOpen(dir.path(), 5);
  EXPECT_TRUE(index->needs_rebuild());
  EXPECT_FALSE(std::filesystem::exists(run));
}

TEST(IdentityIndexTest, ManifestCutShortIsRebuiltNotTrusted) {
  TempDir dir;
  auto index = MustOpen(dir.path(), 9);
  ASSERT_TRUE(index->AddRun({EntryOf({1, 1}, 1, 0)}).ok());
  ASSERT_TRUE(index->AddRun({EntryOf({2, 2}, 1, 1)}).ok());
  ASSERT_TRUE(index->Publish(9).ok());
  index.reset();
  const std::string manifest = testing::ReadText(dir / "MANIFEST");
  // Cut after each of its lines in turn: a shorter list of runs must not pass for the index.
  for (size_t cut = manifest.find('\n'); cut + 1 < manifest.size();
       cut = manifest.find('\n', cut + 1)) {
    testing::WriteText(dir / "MANIFEST", manifest.substr(0, cut + 1));
    auto reopened = MustOpen(dir.path(), 9);
    EXPECT_TRUE(reopened->needs_rebuild()) << "cut after " << cut + 1 << " bytes";
    reopened.reset();
    // (The rebuild removed the runs: publish them again for the next cut.)
    auto again = MustOpen(dir.path(), 9);
    ASSERT_TRUE(again->AddRun({EntryOf({1, 1}, 1, 0)}).ok());
    ASSERT_TRUE(again->AddRun({EntryOf({2, 2}, 1, 1)}).ok());
    ASSERT_TRUE(again->Publish(9).ok());
  }
  auto whole = MustOpen(dir.path(), 9);
  EXPECT_FALSE(whole->needs_rebuild());
  IdentityEntry e;
  EXPECT_TRUE(*whole->Find({2, 2}, e));
}

}  // namespace
}  // namespace medlake::store
