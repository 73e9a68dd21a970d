// A flipped byte anywhere in a segment is caught by a checksum, reported with the file name,
// and the rest of the lake stays readable.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "ingest/ingest.h"
#include "medlake/lake.h"
#include "test_util.h"

namespace medlake {
namespace {

using testing::TempDir;

TEST(CorruptionTest, FlippedByteIsDetectedAndIsolated) {
  TempDir dir;
  std::string lines;
  for (int p = 0; p < 64; ++p) {
    for (int i = 0; i < 30; ++i) {
      lines += R"({"resourceType":"Observation","id":"o)" + std::to_string(p * 100 + i) +
               R"(","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p)" +
               std::to_string(p) +
               R"("}})"
               "\n";
    }
  }
  testing::WriteText(dir / "in/Observation.ndjson", lines);
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  ASSERT_GE((*lake)->segments().size(), 2u);
  EXPECT_TRUE((*lake)->Verify().empty());

  const SegmentInfo victim = (*lake)->segments()[0];
  const std::string path = dir / "lake" + "/" + victim.file;
  std::string bytes = testing::ReadText(path);
  std::mt19937 rng(7);
  // Flip one byte in each region in turn: data block, column section, footer.
  for (size_t pos : {size_t{20}, bytes.size() / 2, bytes.size() - 40}) {
    std::string damaged = bytes;
    damaged[pos] = static_cast<char>(damaged[pos] ^ 0x5a);
    testing::WriteText(path, damaged);
    auto reopened = Lake::Open(dir / "lake");
    ASSERT_TRUE(reopened.ok());
    auto problems = (*reopened)->Verify();
    ASSERT_EQ(problems.size(), 1u) << "byte " << pos;
    EXPECT_NE(problems[0].find(std::filesystem::path(victim.file).filename().string()),
              std::string::npos)
        << problems[0];
    std::vector<std::string> damaged_report;
    uint64_t seen = 0;
    ASSERT_TRUE((*reopened)
                    ->Scan(
                        "", [&](const ResourceView&) { ++seen; }, &damaged_report)
                    .ok());
    EXPECT_EQ(damaged_report.size(), 1u);
    EXPECT_GE(seen, 64u * 30 - victim.rows);  // every other segment is read in full
    EXPECT_LT(seen, 64u * 30);
  }
  testing::WriteText(path, bytes);
  EXPECT_TRUE((*Lake::Open(dir / "lake"))->Verify().empty());
}

}  // namespace
}  // namespace medlake
