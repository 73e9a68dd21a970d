// kill -9 of `medlake ingest` at random moments: the lake always opens at its last committed
// state, every checksum holds, and a re-run reaches exactly the counts of an uninterrupted run.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "medlake/lake.h"
#include "test_util.h"

namespace medlake {
namespace {

using testing::TempDir;
using testing::WriteText;

pid_t StartIngest(const std::string& lake, const std::string& input) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execl(MEDLAKE_BINARY, MEDLAKE_BINARY, "ingest", "--lake", lake.c_str(), "--checkpoint-mb",
            "1", input.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

std::map<std::string, uint64_t> Counts(const std::string& lake_dir) {
  auto lake = Lake::Open(lake_dir);
  if (!lake.ok()) return {};
  return (*lake)->Status()->resources;
}

TEST(CrashTest, KillAtRandomPointsThenRerun) {
  TempDir dir;
  // About 12 MB of NDJSON over 2,000 patients, several checkpoints per run.
  std::string obs, pats;
  for (int p = 0; p < 2000; ++p) {
    pats += R"({"resourceType":"Patient","id":"p)" + std::to_string(p) +
            R"(","gender":"male"})"
            "\n";
    for (int i = 0; i < 20; ++i) {
      obs +=
          R"({"resourceType":"Observation","id":"o)" + std::to_string(p) + "-" + std::to_string(i) +
          R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)"
          R"("subject":{"reference":"Patient/p)" +
          std::to_string(p) +
          R"("},"effectiveDateTime":"2024-01-01T10:00:00Z","valueQuantity":{"value":)" +
          std::to_string(60 + i) + R"(,"code":"/min"},"note":[{"text":")" + std::string(200, 'x') +
          R"("}]})"
          "\n";
    }
  }
  WriteText(dir / "in/Patient.ndjson", pats);
  WriteText(dir / "in/Observation.ndjson", obs);

  // Reference: one uninterrupted run.
  pid_t ref = StartIngest(dir / "ref", dir / "in");
  int status = 0;
  ::waitpid(ref, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto expected = Counts(dir / "ref");
  ASSERT_EQ(expected["Observation"], 40000u);

  std::mt19937 rng(20261128);
  int killed_mid_run = 0;
  for (int round = 0; round < 12; ++round) {
    pid_t pid = StartIngest(dir / "lake", dir / "in");
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 400)(rng)));
    if (::kill(pid, SIGKILL) == 0) ++killed_mid_run;
    ::waitpid(pid, &status, 0);
    // The committed state is readable and undamaged after every kill.
    auto lake = Lake::Open(dir / "lake");
    if (!lake.ok()) {
      ASSERT_EQ(lake.status().code(), ErrorCode::kNotFound) << lake.status().ToString();
      continue;  // killed before the catalog existed
    }
    EXPECT_TRUE((*lake)->Verify().empty());
    auto s = (*lake)->Status();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_LE(s->resources["Observation"], 40000u);
    uint64_t scanned = 0;
    ASSERT_TRUE((*lake)
                    ->Scan(
                        "Observation", [&](const ResourceView&) { ++scanned; }, nullptr)
                    .ok());
    EXPECT_EQ(scanned, s->resources["Observation"]);
  }
  EXPECT_GT(killed_mid_run, 0);
  pid_t last = StartIngest(dir / "lake", dir / "in");
  ::waitpid(last, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(Counts(dir / "lake"), expected);
  auto lake = Lake::Open(dir / "lake");
  EXPECT_TRUE((*lake)->Verify().empty());
}

TEST(CrashTest, KillWhileTheLakeIsCreatedLeavesItUsable) {
  TempDir dir;
  std::string pats;
  for (int p = 0; p < 200; ++p) {
    pats += R"({"resourceType":"Patient","id":"p)" + std::to_string(p) +
            R"("})"
            "\n";
  }
  WriteText(dir / "in/Patient.ndjson", pats);
  // The first milliseconds of a first ingest create the catalog: kill inside them, at every
  // millisecond, then ingest again into what is left.
  for (int ms = 0; ms < 30; ++ms) {
    const std::string lake = dir / ("lake" + std::to_string(ms));
    pid_t pid = StartIngest(lake, dir / "in");
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid_t rerun = StartIngest(lake, dir / "in");
    ::waitpid(rerun, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "killed after " << ms << " ms";
    EXPECT_EQ(Counts(lake)["Patient"], 200u) << "killed after " << ms << " ms";
  }
}

TEST(CrashTest, SegmentsFolderMayBeASymbolicLink) {
  TempDir dir;
  WriteText(dir / "in/Patient.ndjson", R"({"resourceType":"Patient","id":"p1"})"
                                       "\n");
  int status = 0;
  pid_t first = StartIngest(dir / "lake", dir / "in");
  ::waitpid(first, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The segments moved to another disk, linked from the lake: the next writer must not take
  // them for a crashed run's leftovers.
  std::filesystem::rename(dir / "lake/segments", dir / "elsewhere");
  std::filesystem::create_directory_symlink(dir / "elsewhere", dir / "lake/segments");
  pid_t second = StartIngest(dir / "lake", dir / "in");
  ::waitpid(second, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_TRUE((*lake)->Verify().empty());
  EXPECT_TRUE((*lake)->Get("Patient", "p1").ok());
}

}  // namespace
}  // namespace medlake
