// A flipped byte anywhere in a segment is caught by a checksum, reported with the file name,
// and the rest of the lake stays readable.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "fhir/r4_model.h"
#include "ingest/ingest.h"
#include "medlake/lake.h"
#include "store/bitmap.h"
#include "store/lake_writer.h"
#include "store/repair.h"
#include "store/segment.h"
#include "store/sqlite.h"
#include "test_util.h"

namespace medlake {
namespace {

using testing::TempDir;

// 64 patients of 30 Observations each, in a lake of several segments.
std::string ObservationLines() {
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
  return lines;
}

// The lake of ObservationLines(), ingested into `dir`/lake.
Result<std::unique_ptr<Lake>> IngestObservations(const TempDir& dir) {
  testing::WriteText(dir / "in/Observation.ndjson", ObservationLines());
  auto run = ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{});
  if (!run.ok()) return run.status();
  return Lake::Open(dir / "lake");
}

// The resources a scan of the whole lake reads; the damaged segments it skips in `report`.
uint64_t ScanAll(Lake& lake, std::vector<std::string>& report) {
  uint64_t seen = 0;
  EXPECT_TRUE(lake.Scan(
                      "", [&](const ResourceView&) { ++seen; }, &report)
                  .ok());
  return seen;
}

TEST(CorruptionTest, FlippedByteIsDetectedAndIsolated) {
  TempDir dir;
  auto lake = IngestObservations(dir);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  ASSERT_GE((*lake)->segments().size(), 2u);
  EXPECT_TRUE((*lake)->Verify()->empty());

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
    auto verified = (*reopened)->Verify();
    ASSERT_TRUE(verified.ok()) << verified.status().ToString();
    const std::vector<std::string>& problems = *verified;
    ASSERT_EQ(problems.size(), 1u) << "byte " << pos;
    EXPECT_NE(problems[0].find(std::filesystem::path(victim.file).filename().string()),
              std::string::npos)
        << problems[0];
    std::vector<std::string> damaged_report;
    const uint64_t seen = ScanAll(**reopened, damaged_report);
    EXPECT_EQ(damaged_report.size(), 1u);
    EXPECT_GE(seen, 64u * 30 - victim.rows);  // every other segment is read in full
    EXPECT_LT(seen, 64u * 30);
  }
  testing::WriteText(path, bytes);
  EXPECT_TRUE((*Lake::Open(dir / "lake"))->Verify()->empty());
}

// verify --drop-damaged: a damaged segment leaves the catalog, the lake verifies clean and
// counts what stays, and ingesting the source again stores what it held (before, the identity
// index still named its rows: the source read again was all duplicates).
TEST(CorruptionTest, DroppingADamagedSegmentLetsIngestStoreItsResourcesAgain) {
  TempDir dir;
  auto lake = IngestObservations(dir);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  const uint64_t total = 64u * 30;
  // A byte in a data block (its columns still read), then one in the footer (they do not).
  for (bool footer : {false, true}) {
    auto before = Lake::Open(dir / "lake");
    ASSERT_TRUE(before.ok());
    const SegmentInfo victim = (*before)->segments()[0];
    const std::string path = dir / "lake" + "/" + victim.file;
    std::string bytes = testing::ReadText(path);
    bytes[footer ? bytes.size() - 40 : 20] ^= 0x5a;
    testing::WriteText(path, bytes);

    auto dropped = store::DropDamagedSegments(dir / "lake");
    ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
    ASSERT_EQ(dropped->size(), 1u);
    EXPECT_EQ((*dropped)[0].file, victim.file);
    EXPECT_EQ((*dropped)[0].columns_read, !footer);
    EXPECT_EQ((*dropped)[0].live, victim.rows);
    EXPECT_FALSE(std::filesystem::exists(path));
    auto after = Lake::Open(dir / "lake");
    ASSERT_TRUE(after.ok());
    EXPECT_TRUE((*after)->Verify()->empty());
    auto status = (*after)->Status();
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->resources["Observation"], total - victim.rows);
    std::vector<std::string> report;
    EXPECT_EQ(ScanAll(**after, report), total - victim.rows);
    EXPECT_TRUE(report.empty());

    auto again = ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{});
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->counters.stored, victim.rows);
    auto restored = Lake::Open(dir / "lake");
    ASSERT_TRUE(restored.ok());
    EXPECT_TRUE((*restored)->Verify()->empty());
    EXPECT_EQ((*restored)->Status()->resources["Observation"], total);
    EXPECT_EQ(ScanAll(**restored, report), total);
  }
  auto none = store::DropDamagedSegments(dir / "lake");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// A segment that cannot be read for another reason than damage (permission denied, for a user
// who may read the rest of the lake) is an error for verify and for --drop-damaged, which
// leaves it: a review saw a sound segment deleted as "damaged".
TEST(CorruptionTest, AnUnreadableSegmentIsNotDamage) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to give the segment to another user";
  TempDir dir;
  auto lake = IngestObservations(dir);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  const SegmentInfo victim = (*lake)->segments()[0];
  const std::string path = dir / "lake" + "/" + victim.file;
  // The segment belongs to another user; medlake runs as root without the capabilities that
  // pass over file permissions (so the binary's own folders, wherever the build is, stay
  // readable to it).
  const std::string user = "setpriv --bounding-set=-dac_override,-dac_read_search -- ";
  ASSERT_EQ(std::system(("chown 65534:65534 " + path + " && chmod 600 " + path).c_str()), 0);
  auto run = [&](const std::string& args) {
    std::string out;
    FILE* p = ::popen((user + MEDLAKE_BINARY + " " + args + " 2>&1").c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int status = ::pclose(p);
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
  };
  auto [verify_code, verify_out] = run("verify --lake " + (dir / "lake"));
  EXPECT_NE(verify_code, 0) << verify_out;
  EXPECT_NE(verify_out.find("Permission denied"), std::string::npos) << verify_out;
  EXPECT_EQ(verify_out.find("damage"), std::string::npos) << verify_out;
  auto [drop_code, drop_out] = run("verify --drop-damaged --lake " + (dir / "lake"));
  EXPECT_NE(drop_code, 0) << drop_out;
  EXPECT_EQ(drop_out.find("dropped"), std::string::npos) << drop_out;
  EXPECT_TRUE(std::filesystem::exists(path));
  auto after = Lake::Open(dir / "lake");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->segments().size(), (*lake)->segments().size());
  EXPECT_TRUE((*after)->Verify()->empty());  // as root, the segment reads
}

// A reader whose segment was replaced after it read the catalog (an erase or a repair removes
// the old file once committed) says that the lake changed, not that it is damaged: a review saw
// exports during an erase report damage and write part of the lake.
TEST(CorruptionTest, ASegmentReplacedDuringAReadIsNoDamage) {
  TempDir dir;
  auto lake = IngestObservations(dir);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  ASSERT_GE((*lake)->segments().size(), 2u);
  const SegmentInfo replaced = (*lake)->segments()[0];
  const SegmentInfo lost = (*lake)->segments()[1];
  {
    // As an erase commits: the catalog no longer names the segment; then its file goes.
    auto db = store::Db::Open(dir / "lake/catalog.sqlite", false, false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(
        (*db)->Exec("DELETE FROM segments WHERE segment_id = " + std::to_string(replaced.id)).ok());
  }
  std::filesystem::remove(dir / "lake/" + replaced.file);
  std::vector<std::string> damaged;
  Status scanned = (*lake)->Scan(
      "", [](const ResourceView&) {}, &damaged);
  EXPECT_EQ(scanned.code(), ErrorCode::kIoError) << scanned.ToString();
  EXPECT_NE(scanned.message().find("the lake changed while it was read"), std::string::npos);
  EXPECT_TRUE(damaged.empty());
  EXPECT_EQ((*lake)->Verify().status().code(), ErrorCode::kIoError);
  // A file missing that the catalog still names is damage, as before.
  auto reopened = Lake::Open(dir / "lake");
  ASSERT_TRUE(reopened.ok());
  std::filesystem::remove(dir / "lake/" + lost.file);
  EXPECT_TRUE((*reopened)
                  ->Scan(
                      "", [](const ResourceView&) {}, &damaged)
                  .ok());
  ASSERT_EQ(damaged.size(), 1u);
  EXPECT_NE(damaged[0].find("segment missing"), std::string::npos) << damaged[0];
  EXPECT_EQ((*reopened)->Verify()->size(), 1u);
}

// Status reads its counts and its segments in one transaction: a lake opened before a commit
// gave the segments it had opened with and the counts of the later commit (a review saw one
// segment count with two totals while an ingest ran).
TEST(LakeStatusTest, CountsAndSegmentsComeFromOneCommit) {
  TempDir dir;
  auto lake = IngestObservations(dir);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  testing::WriteText(dir / "more/Patient.ndjson", R"({"resourceType":"Patient","id":"late"})"
                                                  "\n");
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "more"}, ingest::IngestOptions{}).ok());
  auto fresh = Lake::Open(dir / "lake");
  ASSERT_TRUE(fresh.ok());
  auto now = (*fresh)->Status();
  auto seen = (*lake)->Status();
  ASSERT_TRUE(now.ok() && seen.ok());
  EXPECT_EQ(seen->total_resources, now->total_resources);
  EXPECT_EQ(seen->segments, now->segments);
  EXPECT_EQ(seen->bytes, now->bytes);
  EXPECT_GT(seen->segments, (*lake)->segments().size());
}

// verify counts the segments' live rows per type against the catalog's counts (`status`): a
// damaged count was found nowhere (a review flipped one bit of it).
TEST(CorruptionTest, VerifyFindsADamagedTypeCount) {
  TempDir dir;
  auto lake = IngestObservations(dir);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  EXPECT_TRUE((*lake)->Verify()->empty());
  {
    auto db = store::Db::Open(dir / "lake/catalog.sqlite", false, false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(
        (*db)->Exec("UPDATE type_counts SET live = live + 256 WHERE type = 'Observation'").ok());
  }
  auto reopened = Lake::Open(dir / "lake");
  ASSERT_TRUE(reopened.ok());
  auto problems = (*reopened)->Verify();
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_NE((*problems)[0].find("type_counts says 2176 live Observation, the segments hold 1920"),
            std::string::npos)
      << (*problems)[0];
  // The repair counts them again, dropping nothing.
  bool recounted = false;
  auto dropped = store::DropDamagedSegments(dir / "lake", &recounted);
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  EXPECT_TRUE(dropped->empty());
  EXPECT_TRUE(recounted);
  auto repaired = Lake::Open(dir / "lake");
  ASSERT_TRUE(repaired.ok());
  EXPECT_TRUE((*repaired)->Verify()->empty());
  EXPECT_EQ((*repaired)->Status()->resources["Observation"], 1920u);
  EXPECT_TRUE(store::DropDamagedSegments(dir / "lake", &recounted).ok());
  EXPECT_FALSE(recounted);
}

// A damaged block loses its own rows only: the segment's later blocks are still read, and
// verify names every damaged block (a scan stopped at the first, and verify named only it).
TEST(CorruptionTest, ADamagedBlockLosesItsRowsOnly) {
  TempDir dir;
  std::string lines;  // one patient: segments of several 128 KiB blocks
  for (int i = 0; i < 8000; ++i) {
    lines += R"({"resourceType":"Observation","id":"b)" + std::to_string(i) +
             R"(","status":"final","code":{"text":"reading )" + std::to_string(i * 7919) +
             R"("},"subject":{"reference":"Patient/p1"}})"
             "\n";
  }
  testing::WriteText(dir / "in/Observation.ndjson", lines);
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  SegmentInfo biggest = (*lake)->segments()[0];
  for (const auto& seg : (*lake)->segments()) {
    if (seg.rows > biggest.rows) biggest = seg;
  }
  const std::string path = dir / "lake" + "/" + biggest.file;
  const std::string bytes = testing::ReadText(path);
  auto damage = [&](const std::vector<size_t>& positions) {
    std::string damaged = bytes;
    for (size_t pos : positions) damaged[pos] = static_cast<char>(damaged[pos] ^ 0x5a);
    testing::WriteText(path, damaged);
  };
  // Two positions in different blocks, neither the last: found by what verify names.
  std::map<std::string, size_t> block_at;
  for (size_t pos = 100; pos < bytes.size() / 2 && block_at.size() < 2; pos += 4096) {
    damage({pos});
    auto problems = *(*Lake::Open(dir / "lake"))->Verify();
    ASSERT_EQ(problems.size(), 1u);
    auto at = problems[0].find(" block ");
    if (at != std::string::npos) block_at.emplace(problems[0].substr(at), pos);
  }
  ASSERT_EQ(block_at.size(), 2u);
  std::vector<uint64_t> seen_one;
  for (const auto& [block, pos] : block_at) {
    damage({pos});
    std::vector<std::string> report;
    seen_one.push_back(ScanAll(**Lake::Open(dir / "lake"), report));
    ASSERT_EQ(report.size(), 1u);
    EXPECT_NE(report[0].find(block), std::string::npos) << report[0];
    EXPECT_LT(seen_one.back(), 8000u);
    EXPECT_GT(seen_one.back(), 8000u - biggest.rows / 2) << "the later blocks are read";
  }
  damage({block_at.begin()->second, block_at.rbegin()->second});
  auto reopened = Lake::Open(dir / "lake");
  EXPECT_EQ((*reopened)->Verify()->size(), 2u);
  std::vector<std::string> report;
  EXPECT_EQ(ScanAll(**reopened, report), seen_one[0] + seen_one[1] - 8000u);
  EXPECT_EQ(report.size(), 2u);
}

// Every byte of a segment's header and trailer, and bytes anywhere between, is covered by a
// check `verify` makes (the header's shard and the trailer's reserved field were not).
TEST(CorruptionTest, VerifyCoversTheHeaderAndTrailerBytes) {
  TempDir dir;
  auto lake = IngestObservations(dir);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  const SegmentInfo victim = (*lake)->segments()[0];
  const std::string path = dir / "lake" + "/" + victim.file;
  const std::string bytes = testing::ReadText(path);
  std::vector<size_t> positions;
  for (size_t i = 0; i < 16; ++i) positions.push_back(i);                            // header
  for (size_t i = bytes.size() - 32; i < bytes.size(); ++i) positions.push_back(i);  // trailer
  std::mt19937 rng(11);
  for (int i = 0; i < 32; ++i) positions.push_back(16 + rng() % (bytes.size() - 48));
  for (size_t pos : positions) {
    std::string damaged = bytes;
    damaged[pos] = static_cast<char>(damaged[pos] ^ 0x01);
    testing::WriteText(path, damaged);
    auto reopened = Lake::Open(dir / "lake");
    ASSERT_TRUE(reopened.ok());
    auto problems = *(*reopened)->Verify();
    ASSERT_EQ(problems.size(), 1u) << "byte " << pos << " of " << bytes.size();
    EXPECT_NE(problems[0].find(std::filesystem::path(victim.file).filename().string()),
              std::string::npos)
        << problems[0];
  }
  testing::WriteText(path, bytes);
  EXPECT_TRUE((*Lake::Open(dir / "lake"))->Verify()->empty());
}

TEST(CorruptionTest, DamagedHeaderOrMissingFileLeavesTheRestReadable) {
  TempDir dir;
  auto lake = IngestObservations(dir);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  const auto segments = (*lake)->segments();
  ASSERT_GE(segments.size(), 3u);
  // The ids of each segment's rows, and a resource in another shard than the first segment.
  std::map<std::string, std::vector<std::string>> ids_of;
  for (size_t i = 0; i < segments.size(); ++i) {
    ASSERT_TRUE((*lake)
                    ->ScanSegment(
                        i, "",
                        [&](const ResourceView& r) {
                          ids_of[segments[i].file].push_back(std::string(r.id));
                        },
                        nullptr)
                    .ok());
  }
  const SegmentInfo& victim = segments[0];
  std::string other_id;
  for (const auto& seg : segments) {
    if (seg.shard != victim.shard) other_id = ids_of[seg.file].front();
  }
  ASSERT_FALSE(other_id.empty());
  const std::string victim_id = ids_of[victim.file].front();
  const std::string path = dir / "lake" + "/" + victim.file;
  const std::string bytes = testing::ReadText(path);

  // The header's format version: unknown (254), or "encrypted" in a lake without a key (2).
  for (char version : {'\xfe', '\x02'}) {
    std::string damaged = bytes;
    damaged[8] = version;
    testing::WriteText(path, damaged);
    auto reopened = Lake::Open(dir / "lake");
    ASSERT_TRUE(reopened.ok());
    std::vector<std::string> report;
    const uint64_t seen = ScanAll(**reopened, report);
    ASSERT_EQ(report.size(), 1u);
    EXPECT_NE(report[0].find(victim.file), std::string::npos) << report[0];
    EXPECT_EQ(seen, 64u * 30 - victim.rows);
    EXPECT_TRUE((*reopened)->Get("Observation", other_id).ok());
    auto lost = (*reopened)->Get("Observation", victim_id);
    ASSERT_FALSE(lost.ok());
    EXPECT_EQ(lost.status().code(), ErrorCode::kCorruption) << lost.status().ToString();
    EXPECT_NE(lost.status().message().find(victim.file), std::string::npos);
  }

  // A missing file: the same, and the resources of every other shard are still found.
  std::filesystem::remove(path);
  auto reopened = Lake::Open(dir / "lake");
  ASSERT_TRUE(reopened.ok());
  for (const auto& seg : segments) {
    if (seg.file == victim.file) continue;
    for (const auto& id : ids_of[seg.file]) {
      ASSERT_TRUE((*reopened)->Get("Observation", id).ok()) << id;
    }
  }
  EXPECT_EQ((*reopened)->Get("Observation", victim_id).status().code(), ErrorCode::kCorruption);
  EXPECT_EQ((*reopened)->Get("Observation", "never-stored").status().code(),
            ErrorCode::kCorruption);  // its shard could be the damaged one: unknown
}

// A lake whose catalog is lost (removed, or emptied) is not a new lake: ingest would have
// removed every segment as uncommitted. Writer and reader refuse and say what happened.
TEST(CorruptionTest, ALostCatalogIsNotTakenForANewLake) {
  TempDir dir;
  testing::WriteText(dir / "in/Observation.ndjson", ObservationLines());
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto segment_files = [&] {
    size_t n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "lake/segments")) {
      n += e.path().extension() == ".mls";
    }
    return n;
  };
  const size_t before = segment_files();
  ASSERT_GT(before, 0u);
  const std::string catalog = dir / "lake/catalog.sqlite";
  std::filesystem::copy_file(catalog, dir / "catalog.copy");
  for (bool emptied : {false, true}) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(catalog + suffix);
    if (emptied) testing::WriteText(catalog, "");
    auto again = ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{});
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.status().code(), ErrorCode::kCorruption);
    EXPECT_NE(again.status().message().find("catalog was lost"), std::string::npos)
        << again.status().ToString();
    auto reader = Lake::Open(dir / "lake");
    ASSERT_FALSE(reader.ok());
    EXPECT_NE(reader.status().message().find("catalog was lost"), std::string::npos)
        << reader.status().ToString();
    EXPECT_EQ(segment_files(), before) << "nothing removed";
  }
  std::filesystem::copy_file(dir / "catalog.copy", catalog,
                             std::filesystem::copy_options::overwrite_existing);
  auto restored = Lake::Open(dir / "lake");
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_TRUE((*restored)->Verify()->empty());
}

// A disk that fills up at any point of an ingest: the run fails with io_error and the lake
// keeps its last commit, or the run commits (when only the identity index did not fit: with a
// warning, not a failure, and the next ingest rebuilds the index). With room again, the same
// ingest reaches the full lake. Needs root (a small tmpfs per size).
TEST(CorruptionTest, ADiskThatFillsUpAtAnyPointLosesNothingCommitted) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  TempDir dir;
  std::string lines;
  for (int i = 0; i < 20000; ++i) {
    lines += R"({"resourceType":"Observation","id":"d)" + std::to_string(i) +
             R"(","status":"final","code":{"text":"reading )" + std::to_string(i * 7919 % 10007) +
             R"("},"subject":{"reference":"Patient/p)" + std::to_string(i % 97) + R"("}})" + "\n";
  }
  testing::WriteText(dir / "in/Observation.ndjson", lines);
  const std::string small = dir / "small";
  std::filesystem::create_directories(small);
  int warnings = 0, failures = 0;
  for (int kb = 256; kb <= 4096; kb += 256) {
    SCOPED_TRACE(std::to_string(kb) + " KiB");
    testing::ScopedTmpfs disk(small, std::to_string(kb) + "k");
    if (!disk.ok()) GTEST_SKIP() << "cannot mount a tmpfs";
    auto run = ingest::Ingest(small + "/lake", {dir / "in"}, ingest::IngestOptions{});
    if (!run.ok()) {
      ++failures;
      EXPECT_EQ(run.status().code(), ErrorCode::kIoError) << run.status().ToString();
    } else if (!run->warning.empty()) {
      ++warnings;
    }
    auto lake = Lake::Open(small + "/lake");
    if (lake.ok()) {
      const uint64_t stored = (*lake)->Status()->total_resources;
      EXPECT_TRUE(stored == 0 || stored == 20000u) << stored;
      EXPECT_EQ(stored == 20000u, run.ok());
      EXPECT_TRUE((*lake)->Verify()->empty());
    } else {
      EXPECT_FALSE(run.ok());
    }
    // Room again: the same ingest completes the lake.
    ASSERT_TRUE(disk.Resize("64m"));
    auto again = ingest::Ingest(small + "/lake", {dir / "in"}, ingest::IngestOptions{});
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_TRUE(again->warning.empty());
    auto full = Lake::Open(small + "/lake");
    ASSERT_TRUE(full.ok());
    EXPECT_EQ((*full)->Status()->total_resources, 20000u);
    EXPECT_TRUE((*full)->Verify()->empty());
  }
  EXPECT_GT(failures, 0);
  EXPECT_GT(warnings, 0) << "no size stopped the identity index alone";
}

// verify checks what the segments' own checksums cannot: a segment file copied over another
// (its rows are not the ones the catalog counts) and damaged catalog pages.
TEST(CorruptionTest, VerifyComparesSegmentsWithTheCatalogAndChecksIt) {
  TempDir dir;
  auto lake = IngestObservations(dir);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  const auto segments = (*lake)->segments();
  const SegmentInfo* a = &segments[0];
  const SegmentInfo* b = nullptr;
  for (const auto& seg : segments) {
    if (seg.bytes != a->bytes) b = &seg;
  }
  ASSERT_NE(b, nullptr);
  const std::string b_path = dir / "lake" + "/" + b->file;
  const std::string b_bytes = testing::ReadText(b_path);
  std::filesystem::copy_file(dir / "lake" + "/" + a->file, b_path,
                             std::filesystem::copy_options::overwrite_existing);
  auto problems = *(*Lake::Open(dir / "lake"))->Verify();
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("the catalog says"), std::string::npos) << problems[0];
  testing::WriteText(b_path, b_bytes);
  EXPECT_TRUE((*Lake::Open(dir / "lake"))->Verify()->empty());

  std::string catalog = testing::ReadText(dir / "lake/catalog.sqlite");
  ASSERT_GT(catalog.size(), 3u * 4096);
  for (size_t i = 2 * 4096; i < 3 * 4096; ++i) catalog[i] = static_cast<char>(i * 7919);
  testing::WriteText(dir / "lake/catalog.sqlite", catalog);
  auto reopened = Lake::Open(dir / "lake");
  if (reopened.ok()) {  // the page may be one that opening reads: then the open says so
    auto verified = (*reopened)->Verify();
    ASSERT_TRUE(verified.ok()) << verified.status().ToString();
    const std::vector<std::string>& found = *verified;
    ASSERT_FALSE(found.empty());
    EXPECT_NE(found[0].find("catalog.sqlite"), std::string::npos) << found[0];
  }
}

// A commit is folded into the catalog file at once. Left in SQLite's write-ahead log (it
// folds 1,000 pages at a time), every commit of a run lived there alone until the run ended:
// one damaged frame in the log ended SQLite's recovery there after a crash, and the commits
// after it were lost without a word, their segments then removed as uncommitted (a review
// lost two thirds of a lake that way). Here the run is still open, as a killed one would be,
// and the catalog file without its log holds the commit.
TEST(CorruptionTest, ACommitLivesInTheCatalogFileNotInItsLogAlone) {
  TempDir dir;
  auto writer = store::LakeWriter::Open(dir / "lake");
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  store::Row row;
  row.key = store::ResourceKey("Patient", "p1");
  row.type = "Patient";
  row.id = "p1";
  row.json = R"({"resourceType":"Patient","id":"p1"})";
  row.content_hash = store::ContentHash(row.json);
  const uint64_t run = static_cast<uint64_t>((*writer)->run_id()) << 32;
  auto admitted =
      (*writer)->Admit(row.key, static_cast<uint16_t>(fhir::ResourceTypeIndex("Patient")),
                       row.content_hash, kNoTime, {run, 0}, row.seq);
  ASSERT_TRUE(admitted.ok()) << admitted.status().ToString();
  row.patient = (*writer)->PatientOrdinal("p1");
  ASSERT_TRUE((*writer)->Add(std::move(row)).ok());
  ASSERT_TRUE((*writer)->Commit(store::RunCounters{}, false).ok());

  namespace fs = std::filesystem;
  EXPECT_EQ(fs::file_size(dir / "lake/catalog.sqlite-wal"), 0u) << "the log still holds frames";
  fs::copy(dir / "lake", dir / "copy", fs::copy_options::recursive);
  fs::remove(dir / "copy/catalog.sqlite-wal");
  fs::remove(dir / "copy/catalog.sqlite-shm");
  auto copy = Lake::Open(dir / "copy");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  auto stored = (*copy)->Get("Patient", "p1");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(*stored, R"({"resourceType":"Patient","id":"p1"})");
  EXPECT_TRUE((*copy)->Verify()->empty());
}

// The step before a commit (a keyed lake's vault) runs beside the catalog's transaction, and
// the identity index's next run is written meanwhile. A step that fails, however late, rolls
// the catalog back: nothing of the commit is visible, no run file is left, and the same
// writer's next commit (its step succeeding) makes everything visible and indexed.
TEST(CorruptionTest, AFailedStepBeforeTheCommitLeavesTheLakeAsItWas) {
  TempDir dir;
  auto writer = store::LakeWriter::Open(dir / "lake");
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  const uint64_t run = static_cast<uint64_t>((*writer)->run_id()) << 32;
  for (int i = 0; i < 100; ++i) {
    store::Row row;
    const std::string id = "p" + std::to_string(i);
    row.key = store::ResourceKey("Patient", id);
    row.type = "Patient";
    row.id = id;
    row.json = R"({"resourceType":"Patient","id":")" + id + R"("})";
    row.content_hash = store::ContentHash(row.json);
    auto admitted =
        (*writer)->Admit(row.key, static_cast<uint16_t>(fhir::ResourceTypeIndex("Patient")),
                         row.content_hash, kNoTime, {run, static_cast<uint64_t>(i)}, row.seq);
    ASSERT_TRUE(admitted.ok()) << admitted.status().ToString();
    row.patient = (*writer)->PatientOrdinal(id);
    ASSERT_TRUE((*writer)->Add(std::move(row)).ok());
  }
  namespace fs = std::filesystem;
  auto run_files = [&] {
    size_t n = 0;
    for (const auto& f : fs::directory_iterator(dir / "lake/index/identity")) {
      n += f.path().extension() == ".idx";
    }
    return n;
  };
  const size_t runs_before = run_files();
  std::atomic<int> steps{0};
  (*writer)->SetCommitSteps(
      [&](uint64_t) {
        // Late: the catalog's rows and the index run are written by now.
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        return ++steps == 1 ? IoError("the vault's disk is full") : Status::Ok();
      },
      nullptr);
  Status failed = (*writer)->Commit(store::RunCounters{}, false);
  EXPECT_EQ(failed.code(), ErrorCode::kIoError) << failed.ToString();
  EXPECT_EQ((*writer)->commits(), 0u);
  EXPECT_EQ(run_files(), runs_before) << "the run prepared for the failed commit is left";
  {
    auto lake = Lake::Open(dir / "lake");
    ASSERT_TRUE(lake.ok()) << lake.status().ToString();
    EXPECT_EQ((*lake)->Status()->total_resources, 0u);
    EXPECT_FALSE((*lake)->Get("Patient", "p7").ok());
  }
  ASSERT_TRUE((*writer)->Commit(store::RunCounters{}, true).ok());
  EXPECT_EQ(steps.load(), 2);
  EXPECT_EQ((*writer)->commits(), 1u);
  (*writer)->SetCommitSteps(nullptr, nullptr);
  writer->reset();  // the lock goes: a reader, then a writer that opens the index
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  EXPECT_EQ((*lake)->Status()->total_resources, 100u);
  EXPECT_TRUE((*lake)->Get("Patient", "p7").ok());
  EXPECT_TRUE((*lake)->Verify()->empty());
  auto again = store::LakeWriter::Open(dir / "lake");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  store::Row same;
  same.key = store::ResourceKey("Patient", "p7");
  same.content_hash = store::ContentHash(R"({"resourceType":"Patient","id":"p7"})");
  const uint64_t next_run = static_cast<uint64_t>((*again)->run_id()) << 32;
  auto admitted =
      (*again)->Admit(same.key, static_cast<uint16_t>(fhir::ResourceTypeIndex("Patient")),
                      same.content_hash, kNoTime, {next_run, 0}, same.seq);
  ASSERT_TRUE(admitted.ok()) << admitted.status().ToString();
  EXPECT_EQ(*admitted, store::Admission::kDuplicate) << "the index does not know the commit";
}

// A delete bitmap carries a hash: a flipped bit in it read as another valid bitmap (a row
// deleted, another live again) and only verify's type counts could notice. One written without
// the hash, as catalogs were until 2026-11-30, still reads. A damaged one makes its segment
// damaged (it failed every open of the lake, and the repair too).
TEST(CorruptionTest, AFlippedBitInADeleteBitmapIsDamage) {
  TempDir dir;
  ASSERT_TRUE(IngestObservations(dir).ok());
  std::string amended;
  for (int i = 0; i < 10; ++i) {
    amended += R"({"resourceType":"Observation","id":"o)" + std::to_string(i) +
               R"(","status":"amended","code":{"text":"x"},"subject":{"reference":"Patient/p0"}})"
               "\n";
  }
  testing::WriteText(dir / "in2/Observation.ndjson", amended);
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in2"}, ingest::IngestOptions{}).ok());
  int64_t segment = 0;
  std::string blob;
  {
    auto db = store::Db::Open(dir / "lake/catalog.sqlite", false, false);
    ASSERT_TRUE(db.ok());
    auto q = (*db)->Prepare("SELECT segment_id, deleted FROM segment_deletes");
    ASSERT_TRUE(q.ok());
    ASSERT_TRUE(*q->Step());
    segment = q->Int(0);
    blob = std::string(q->Blob(1));
  }
  ASSERT_TRUE(blob.starts_with("mld1"));
  const std::string bitmap = blob.substr(12);  // after the mark and the hash
  const size_t size = roaring_bitmap_portable_deserialize_size(bitmap.data(), bitmap.size());
  ASSERT_EQ(size, bitmap.size());
  auto put = [&](const std::string& bytes) {
    auto db = store::Db::Open(dir / "lake/catalog.sqlite", false, false);
    ASSERT_TRUE(db.ok());
    auto u = (*db)->Prepare("UPDATE segment_deletes SET deleted = ? WHERE segment_id = ?");
    ASSERT_TRUE(u.ok());
    ASSERT_TRUE(u->BindBlob(1, bytes).Bind(2, segment).Run().ok());
  };
  // The last row number, made larger by one bit: still a valid bitmap, of other rows.
  std::string flipped = blob;
  flipped[blob.size() - 2] = static_cast<char>(flipped[blob.size() - 2] ^ 0x40);
  roaring_bitmap_t* other = store::ReadBitmap(std::string_view(flipped).substr(12));
  ASSERT_NE(other, nullptr) << "the bit must leave a bitmap that reads without the hash";
  roaring_bitmap_free(other);
  // Other damage: the first container's cardinality up by 4 (its array 8 bytes longer, as long
  // as the hash, which once let the blob pass for one written before it), the mark, the length.
  std::vector<std::string> damaged_blobs(3, blob);
  damaged_blobs[0][12 + 10] = static_cast<char>(damaged_blobs[0][12 + 10] ^ 0x04);
  damaged_blobs[1][1] = static_cast<char>(damaged_blobs[1][1] ^ 0x01);  // the mark
  damaged_blobs[2][5] = static_cast<char>(damaged_blobs[2][5] ^ 0x10);  // the hash
  for (const std::string& bytes :
       {blob.substr(0, blob.size() - 1), blob + "x", bitmap + "x", std::string()}) {
    damaged_blobs.push_back(bytes);
  }
  for (size_t bit = 0; bit < blob.size() * 8; ++bit) {  // every bit, one at a time
    damaged_blobs.push_back(blob);
    damaged_blobs.back()[bit / 8] = static_cast<char>(blob[bit / 8] ^ (1 << (bit % 8)));
  }
  for (size_t i = 0; i < damaged_blobs.size(); ++i) {
    roaring_bitmap_t* read = store::ReadCatalogBitmap(damaged_blobs[i]);
    EXPECT_EQ(read, nullptr) << "damaged blob " << i << " read as a bitmap";
    if (read) roaring_bitmap_free(read);
  }
  put(bitmap);  // as written before the hash
  auto old = Lake::Open(dir / "lake");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  std::vector<std::string> report;
  EXPECT_EQ(ScanAll(**old, report), 1920u);
  EXPECT_TRUE(report.empty());
  EXPECT_TRUE((*old)->Verify()->empty());

  // The damaged bitmap's segment is read as a damaged segment is: skipped and named, the rest
  // of the lake readable; verify names it, and --drop-damaged drops it.
  put(flipped);
  const std::string named = "damaged delete bitmap of segment " + std::to_string(segment);
  auto damaged = Lake::Open(dir / "lake");
  ASSERT_TRUE(damaged.ok()) << damaged.status().ToString();
  const uint64_t readable = ScanAll(**damaged, report);
  EXPECT_LT(readable, 1920u);
  EXPECT_GT(readable, 0u);
  ASSERT_EQ(report.size(), 1u);
  EXPECT_NE(report[0].find(named), std::string::npos) << report[0];
  auto get = (*damaged)->Get("Observation", "o10");  // in that segment, as p0's o0 to o9 were
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.status().code(), ErrorCode::kCorruption) << get.status().ToString();
  auto problems = (*damaged)->Verify();
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_NE((*problems)[0].find(named), std::string::npos) << (*problems)[0];
  auto dropped = store::DropDamagedSegments(dir / "lake", nullptr);
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  ASSERT_EQ(dropped->size(), 1u);
  EXPECT_NE((*dropped)[0].problem.find(named), std::string::npos) << (*dropped)[0].problem;
  auto repaired = Lake::Open(dir / "lake");
  ASSERT_TRUE(repaired.ok()) << repaired.status().ToString();
  EXPECT_TRUE((*repaired)->Verify()->empty());
  report.clear();
  EXPECT_EQ(ScanAll(**repaired, report), readable);
  EXPECT_EQ((*repaired)->Status()->resources["Observation"], readable);
  // The inputs read again bring the segment's resources back.
  ASSERT_TRUE(
      ingest::Ingest(dir / "lake", {dir / "in", dir / "in2"}, ingest::IngestOptions{}).ok());
  EXPECT_EQ((*Lake::Open(dir / "lake"))->Status()->resources["Observation"], 1920u);
  EXPECT_TRUE((*Lake::Open(dir / "lake"))->Verify()->empty());
}

// A segment dropped for its damaged bitmap takes the identifiers of its live resources along,
// as one dropped for a damaged block does (a conditional reference resolved to a Patient that
// was gone); an empty bitmap blob is damage to the repair as to readers (it took it for "none
// replaced" and counted replaced versions as live).
TEST(CorruptionTest, ASegmentDroppedForItsBitmapTakesItsLiveIdentifiersAlong) {
  TempDir dir;
  auto patients = [](int from, int to, const char* gender) {
    std::string lines;
    for (int i = from; i < to; ++i) {
      lines += R"({"resourceType":"Patient","id":"p)" + std::to_string(i) + R"(","gender":")" +
               gender + R"(","identifier":[{"system":"urn:mrn","value":"m)" + std::to_string(i) +
               "\"}]}\n";
    }
    return lines;
  };
  testing::WriteText(dir / "in/Patient.ndjson", patients(0, 64, "female"));
  testing::WriteText(dir / "in2/Patient.ndjson", patients(0, 1, "male"));
  for (const char* in : {"in", "in2"}) {
    ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / in}, ingest::IngestOptions{}).ok());
  }
  auto identifier_ids = [&] {
    std::set<std::string> ids;
    auto db = store::Db::Open(dir / "lake/catalog.sqlite", false, false);
    EXPECT_TRUE(db.ok());
    auto q = (*db)->Prepare("SELECT id FROM identifiers WHERE system = 'urn:mrn'");
    EXPECT_TRUE(q.ok());
    while (*q->Step()) ids.insert(std::string(q->Text(0)));
    return ids;
  };
  ASSERT_EQ(identifier_ids().size(), 64u);
  {
    auto db = store::Db::Open(dir / "lake/catalog.sqlite", false, false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("UPDATE segment_deletes SET deleted = X''").ok());
  }
  std::vector<std::string> report;
  ScanAll(**Lake::Open(dir / "lake"), report);
  ASSERT_EQ(report.size(), 1u);
  EXPECT_NE(report[0].find("damaged delete bitmap"), std::string::npos) << report[0];
  auto dropped = store::DropDamagedSegments(dir / "lake", nullptr);
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  ASSERT_EQ(dropped->size(), 1u);
  const store::DroppedSegment& d = (*dropped)[0];
  EXPECT_TRUE(d.columns_read);
  EXPECT_EQ(d.live + 1, d.rows) << "all but p0's first version were live";
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_TRUE((*lake)->Verify()->empty());
  EXPECT_EQ((*lake)->Status()->resources["Patient"], 64u - d.live);
  const std::set<std::string> left = identifier_ids();
  EXPECT_EQ(left.size(), 64u - d.live);
  EXPECT_TRUE(left.contains("p0")) << "its live version is in another segment";
  EXPECT_TRUE((*lake)->Get("Patient", "p0").ok());
}

// Segment files the catalog does not name are an interrupted run's, or commits the catalog
// lost: Verify does not take them for damage, but names them, so that they can be kept aside
// before the next writer removes them.
TEST(CorruptionTest, SegmentFilesTheCatalogDoesNotNameAreListed) {
  TempDir dir;
  auto lake = IngestObservations(dir);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  EXPECT_TRUE((*lake)->UnnamedSegmentFiles().empty());
  const std::string first = (*lake)->segments().front().file;
  const std::string stray =
      std::filesystem::path(first).replace_filename("seg-99999999.mls").generic_string();
  std::filesystem::copy_file(dir / ("lake/" + first), dir / ("lake/" + stray));
  lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_TRUE((*lake)->Verify()->empty());
  EXPECT_EQ((*lake)->UnnamedSegmentFiles(), std::vector<std::string>{stray});
  // A writer removes it.
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_TRUE((*lake)->UnnamedSegmentFiles().empty());
}

TEST(CorruptionTest, ANewCatalogAndItsLogAreOwnerOnly) {
  TempDir dir;
  auto writer = store::LakeWriter::Open(dir / "lake");  // a run started: the log holds it
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  namespace fs = std::filesystem;
  for (const char* file : {"catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"}) {
    ASSERT_TRUE(fs::exists(dir / "lake/" + file)) << file;
    EXPECT_EQ(fs::status(dir / "lake/" + file).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write)
        << file << ": the catalog holds patient ids and quarantined records";
  }
}

// A reader needs no write access to the lake: run as another user (nobody) on a lake shared
// with it read-only, status and get work and leave the catalog as it was.
TEST(CorruptionTest, ReadersNeedNoWriteAccess) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to read the lake as another user";
  TempDir dir;
  testing::WriteText(dir / "in/Observation.ndjson", ObservationLines());
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  // Shared read-only with everyone (segments are written owner-only).
  namespace fs = std::filesystem;
  const auto read_only = fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read;
  const auto exec = fs::perms::group_exec | fs::perms::others_exec;
  fs::permissions(dir.path(), read_only | exec);
  for (const auto& e : fs::recursive_directory_iterator(dir / "lake")) {
    fs::permissions(e.path(), e.is_directory() ? read_only | exec : read_only);
  }
  fs::permissions(dir / "lake", read_only | exec);
  const std::string before = testing::ReadText(dir / "lake/catalog.sqlite");
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setuid(65534) != 0) ::_exit(10);
    auto lake = Lake::Open(dir / "lake");
    if (!lake.ok()) ::_exit(11);
    auto status = (*lake)->Status();
    if (!status.ok() || status->total_resources != 64u * 30) ::_exit(12);
    if (!(*lake)->Get("Observation", "o0").ok()) ::_exit(13);
    ::_exit(0);
  }
  int code = 0;
  ::waitpid(pid, &code, 0);
  ASSERT_TRUE(WIFEXITED(code));
  EXPECT_EQ(WEXITSTATUS(code), 0);
  EXPECT_EQ(testing::ReadText(dir / "lake/catalog.sqlite"), before);
  EXPECT_FALSE(fs::exists(dir / "lake/catalog.sqlite-shm"));

  // While a writer works (it holds the lake and a write-ahead log), such a reader cannot see
  // its commits: it is refused rather than given a stale or torn state.
  auto writer = store::LakeWriter::Open(dir / "lake");
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  // (Its log files are owner-only, as they are for a lake created owner-only; readable ones
  // would be read through, which SQLite does consistently.)
  for (const char* file : {"catalog.sqlite-wal", "catalog.sqlite-shm"}) {
    fs::permissions(dir / "lake/" + file, fs::perms::owner_read | fs::perms::owner_write);
  }
  pid = ::fork();
  if (pid == 0) {
    if (::setuid(65534) != 0) ::_exit(10);
    ::_exit(Lake::Open(dir / "lake").ok() ? 0 : 11);
  }
  ::waitpid(pid, &code, 0);
  ASSERT_TRUE(WIFEXITED(code));
  EXPECT_EQ(WEXITSTATUS(code), 11);
}

}  // namespace
}  // namespace medlake
