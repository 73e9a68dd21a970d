#include "synth/external_sort.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace medlake::synth {
namespace {

std::string TmpPath(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("medlake-extsort-") + std::to_string(::getpid()) + name))
      .string();
}

// Adds `n` records with few distinct keys (many ties) through RecordBuffers of `batch`
// records, and checks the output against std::stable_sort of the same sequence.
void CheckAgainstStableSort(size_t budget, int n, int batch, bool expect_runs) {
  std::mt19937_64 rng(7);
  std::vector<std::pair<int64_t, std::string>> input;
  for (int i = 0; i < n; ++i) {
    const int64_t key = static_cast<int64_t>(rng() % 97) - 40;
    // Payloads of varied size, some larger than the 16 KiB minimum read buffer.
    const size_t len = i % 500 == 0 ? 40'000 : rng() % 300;
    std::string payload =
        std::to_string(i) + ":" + std::string(len, static_cast<char>('a' + i % 26));
    input.emplace_back(key, std::move(payload));
  }
  ExternalSorter sorter(TmpPath("a"), budget);
  RecordBuffer buffer;
  for (int i = 0; i < n; ++i) {
    buffer.Add(input[i].first, input[i].second);
    if (buffer.count() == static_cast<uint64_t>(batch) || i + 1 == n) {
      ASSERT_TRUE(sorter.AddFrames(buffer.frames()).ok());
      buffer.Clear();
    }
  }
  const size_t runs_added = sorter.runs();
  ASSERT_TRUE(sorter.Finish().ok());
  EXPECT_EQ(sorter.records(), static_cast<uint64_t>(n));
  EXPECT_EQ(sorter.runs() > 1, expect_runs);
  // Finish merges runs beforehand when more than budget / 16 KiB would be read at once.
  const size_t max_ways = std::max<size_t>(2, budget / (16 << 10));
  EXPECT_LE(sorter.runs(), max_ways);
  if (expect_runs) {
    EXPECT_GT(runs_added, max_ways) << "the test should exercise that merge";
  }
  std::vector<std::pair<int64_t, std::string>> expected = input;
  std::stable_sort(expected.begin(), expected.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  TimedRecord r;
  size_t i = 0;
  while (true) {
    Result<bool> more = sorter.Next(r);
    ASSERT_TRUE(more.ok());
    if (!*more) break;
    ASSERT_LT(i, expected.size());
    ASSERT_EQ(r.key, expected[i].first) << i;
    ASSERT_EQ(r.payload, expected[i].second) << i;
    ++i;
  }
  EXPECT_EQ(i, expected.size());
  EXPECT_FALSE(std::filesystem::exists(TmpPath("a")));
}

TEST(ExternalSort, InMemoryIsStable) {
  CheckAgainstStableSort(64 << 20, 5'000, 64, false);
}

TEST(ExternalSort, ManyRunsMergeStably) {
  CheckAgainstStableSort(1 << 16, 20'000, 37, true);
}

TEST(ExternalSort, EmptyInput) {
  ExternalSorter sorter(TmpPath("b"), 1 << 16);
  ASSERT_TRUE(sorter.Finish().ok());
  TimedRecord r;
  Result<bool> more = sorter.Next(r);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
}

TEST(ExternalSort, RejectsTruncatedFrames) {
  ExternalSorter sorter(TmpPath("c"), 1 << 16);
  RecordBuffer buffer;
  buffer.Add(5, "hello");
  const std::string_view frames = buffer.frames();
  EXPECT_FALSE(sorter.AddFrames(frames.substr(0, frames.size() - 1)).ok());
}

}  // namespace
}  // namespace medlake::synth
