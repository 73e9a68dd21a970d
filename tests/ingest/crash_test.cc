// kill -9 of `medlake ingest` at random moments: the lake always opens at its last committed
// state, every checksum holds, and a re-run reaches exactly the counts of an uninterrupted run.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "adt_message.h"
#include "keyed_lake.h"
#include "medlake/lake.h"
#include "privacy/vault.h"
#include "test_util.h"

namespace medlake {
namespace {

using testing::TempDir;
using testing::WriteText;

// Starts `medlake ARGS...` in a child process, its output discarded.
pid_t StartMedlake(std::vector<std::string> args) {
  args.insert(args.begin(), MEDLAKE_BINARY);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execv(MEDLAKE_BINARY, argv.data());
    ::_exit(127);
  }
  return pid;
}

pid_t StartIngest(const std::string& lake, const std::string& input) {
  return StartMedlake({"ingest", "--lake", lake, "--checkpoint-mb", "1", input});
}

std::map<std::string, uint64_t> Counts(const std::string& lake_dir) {
  auto lake = Lake::Open(lake_dir);
  if (!lake.ok()) return {};
  return (*lake)->Status()->resources;
}

// `medlake ingest` of `input` into `lake`, to its end: true when it succeeded.
bool IngestToEnd(const std::string& lake, const std::string& input) {
  pid_t pid = StartIngest(lake, input);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// `rounds` runs of `medlake ingest` of `input` into `lake`, each killed after a random delay
// of `min_ms` to `max_ms`; with `after_a_commit`, a delay that begins once the run has
// committed Observations (polled, up to two minutes: however slow the build). After every kill
// the committed state is readable and undamaged, with at most `most` Observations, each one
// found by a scan. Returns, per kill that left a lake (one before the catalog existed leaves
// none), its Observations; `killed` counts the kills of a running ingest.
std::vector<uint64_t> KillAtRandomPoints(const std::string& lake, const std::string& input,
                                         int rounds, uint32_t seed, int min_ms, int max_ms,
                                         uint64_t most, int* killed, bool after_a_commit = false) {
  std::mt19937 rng(seed);
  std::vector<uint64_t> observations;
  for (int round = 0; round < rounds; ++round) {
    const uint64_t before = Counts(lake)["Observation"];
    pid_t pid = StartIngest(lake, input);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    while (after_a_commit && Counts(lake)["Observation"] == before &&
           ::waitpid(pid, nullptr, WNOHANG) == 0 && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(min_ms, max_ms)(rng)));
    if (::kill(pid, SIGKILL) == 0) ++*killed;
    int status = 0;
    ::waitpid(pid, &status, 0);
    auto opened = Lake::Open(lake);
    if (!opened.ok()) {
      EXPECT_EQ(opened.status().code(), ErrorCode::kNotFound) << opened.status().ToString();
      continue;
    }
    EXPECT_TRUE((*opened)->Verify()->empty());
    auto s = (*opened)->Status();
    if (!s.ok()) {
      ADD_FAILURE() << s.status().ToString();
      continue;
    }
    const uint64_t count = s->resources["Observation"];
    EXPECT_LE(count, most);
    uint64_t scanned = 0;
    EXPECT_TRUE((*opened)
                    ->Scan(
                        "Observation", [&](const ResourceView&) { ++scanned; }, nullptr)
                    .ok());
    EXPECT_EQ(scanned, count);
    observations.push_back(count);
  }
  return observations;
}

// A last run completes the lake: it reaches `expected`, every checksum holding.
void ExpectARerunCompletes(const std::string& lake, const std::string& input,
                           const std::map<std::string, uint64_t>& expected) {
  ASSERT_TRUE(IngestToEnd(lake, input));
  EXPECT_EQ(Counts(lake), expected);
  auto opened = Lake::Open(lake);
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE((*opened)->Verify()->empty());
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
  ASSERT_TRUE(IngestToEnd(dir / "ref", dir / "in"));
  auto expected = Counts(dir / "ref");
  ASSERT_EQ(expected["Observation"], 40000u);

  int killed_mid_run = 0;
  const std::vector<uint64_t> kept =
      KillAtRandomPoints(dir / "lake", dir / "in", 12, 20261128, 5, 400, 40000, &killed_mid_run);
  EXPECT_GT(killed_mid_run, 0);
  ExpectARerunCompletes(dir / "lake", dir / "in", expected);
  // `status` counts the killed runs apart: unfinished, what they committed kept.
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto status = (*lake)->Status();
  ASSERT_TRUE(status.ok());
  EXPECT_GE(status->runs, 1u);  // the re-run, and the rounds that ended before their kill
  EXPECT_LE(status->runs + status->unfinished_runs, 13u);
  if (std::any_of(kept.begin(), kept.end(), [](uint64_t n) { return n > 0 && n < 40000; })) {
    EXPECT_GE(status->unfinished_runs, 1u);  // a kill between two commits of a run
  }
}

// A Bundle larger than a checkpoint is read in a batch of its own and commits inside, every
// checkpoint's worth of its entries (here 1 MiB of a 22 MB Bundle): a kill between those
// commits leaves the lake readable at the last one, and a re-run completes it.
TEST(CrashTest, KillInsideALargeBundleThenRerun) {
  TempDir dir;
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
  auto uuid = [](int p) {
    return "urn:uuid:00000000-0000-4000-8000-" + std::to_string(100000000000 + p);
  };
  for (int p = 0; p < 2000; ++p) {
    bundle += std::string(p > 0 ? "," : "") + R"({"fullUrl":")" + uuid(p) +
              R"(","resource":{"resourceType":"Patient","gender":"male"},)"
              R"("request":{"method":"POST","url":"Patient"}})";
    for (int i = 0; i < 10; ++i) {
      bundle += R"(,{"resource":{"resourceType":"Observation","id":"o)" + std::to_string(p) + "-" +
                std::to_string(i) +
                R"(","status":"final","code":{"text":"x"},"subject":{"reference":")" + uuid(p) +
                R"("},"note":[{"text":")" + std::string(1000, 'x') + R"("}]}})";
    }
  }
  WriteText(dir / "in/big.json", bundle + "]}");
  ASSERT_GT(bundle.size(), 17u << 20);  // read an entry at a time

  ASSERT_TRUE(IngestToEnd(dir / "ref", dir / "in"));
  auto expected = Counts(dir / "ref");
  ASSERT_EQ(expected["Observation"], 20000u);

  int killed = 0;
  const std::vector<uint64_t> observations =
      KillAtRandomPoints(dir / "lake", dir / "in", 6, 20261201, 0, 60, 20000, &killed, true);
  // Some kill fell between two commits inside the Bundle (a lake without them held all of it
  // or none).
  EXPECT_TRUE(std::any_of(observations.begin(), observations.end(),
                          [](uint64_t n) { return n > 0 && n < 20000; }));
  ExpectARerunCompletes(dir / "lake", dir / "in", expected);
}

// Deletions (a Bulk Data `deleted` file) commit at checkpoints too: a kill leaves the lake at
// its last commit, with the deletions of that commit remembered (an older version read again
// stays deleted), and a re-run completes it.
TEST(CrashTest, KillWhileDeletingThenRerun) {
  TempDir dir;
  std::string obs, deleted;
  std::vector<std::string> urls;
  auto flush = [&] {
    deleted += R"({"resourceType":"Bundle","type":"transaction",)"
               R"("meta":{"lastUpdated":"2025-01-01T00:00:00Z"},"entry":[)";
    for (size_t i = 0; i < urls.size(); ++i) {
      deleted += std::string(i > 0 ? "," : "") + R"({"request":{"method":"DELETE","url":")" +
                 urls[i] + R"("}})";
    }
    deleted += "]}\n";
    urls.clear();
  };
  for (int p = 0; p < 2000; ++p) {
    for (int i = 0; i < 20; ++i) {
      const std::string id = "o" + std::to_string(p) + "-" + std::to_string(i);
      obs += R"({"resourceType":"Observation","id":")" + id +
             R"(","meta":{"lastUpdated":"2024-01-01T00:00:00Z"},"status":"final",)"
             R"("code":{"text":"x"},"subject":{"reference":"Patient/p)" +
             std::to_string(p) +
             R"("}})"
             "\n";
      // Three in four deleted, by a long url (absolute) so that the file spans checkpoints.
      if (i % 4 != 0) urls.push_back("https://ehr.example.org/fhir/R4/Observation/" + id);
      if (urls.size() == 100) flush();
    }
  }
  WriteText(dir / "export/Observation.ndjson", obs);
  WriteText(dir / "deleted/Bundle.ndjson", deleted);
  ASSERT_GT(deleted.size(), 2u << 20);  // a few checkpoints of 1 MiB

  ASSERT_TRUE(IngestToEnd(dir / "ref", dir / "export"));
  ASSERT_TRUE(IngestToEnd(dir / "ref", dir / "deleted"));
  auto expected = Counts(dir / "ref");
  ASSERT_EQ(expected["Observation"], 10000u);

  ASSERT_TRUE(IngestToEnd(dir / "lake", dir / "export"));
  int killed = 0;
  const std::vector<uint64_t> observations =
      KillAtRandomPoints(dir / "lake", dir / "deleted", 6, 20261202, 0, 60, 40000, &killed, true);
  EXPECT_GT(killed, 0);
  // Some kill fell between two commits of the deletions.
  EXPECT_TRUE(std::any_of(observations.begin(), observations.end(),
                          [](uint64_t n) { return n > 10000 && n < 40000; }));
  // The export read again after the kills changes nothing: what was deleted stays deleted.
  const std::map<std::string, uint64_t> before = Counts(dir / "lake");
  ASSERT_TRUE(IngestToEnd(dir / "lake", dir / "export"));
  EXPECT_EQ(Counts(dir / "lake"), before);
  ExpectARerunCompletes(dir / "lake", dir / "deleted", expected);
  ASSERT_TRUE(IngestToEnd(dir / "lake", dir / "export"));
  EXPECT_EQ(Counts(dir / "lake"), expected);
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

pid_t StartExport(const std::string& lake, const std::string& out) {
  return StartMedlake({"export", "--lake", lake, "--out", out});
}

// Lines per file name of the `.ndjson` files directly in `folder`.
std::map<std::string, size_t> NdjsonLines(const std::filesystem::path& folder) {
  std::map<std::string, size_t> lines;
  for (const auto& e : std::filesystem::directory_iterator(folder)) {
    if (e.path().extension() != ".ndjson") continue;
    std::ifstream in(e.path());
    size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    lines[e.path().filename().string()] = n;
  }
  return lines;
}

// kill -9 of `medlake export` at random moments: its folder holds the whole export or does not
// exist, and a folder that ingest would read anywhere next to it (a staging folder renamed
// last) holds a whole export too. A later export to the same folder removes what the killed
// ones left.
TEST(CrashTest, AKilledExportLeavesTheWholeExportOrNone) {
  TempDir dir;
  std::string pats, obs;
  for (int p = 0; p < 1000; ++p) {
    pats += R"({"resourceType":"Patient","id":"p)" + std::to_string(p) + R"("})" + "\n";
    for (int i = 0; i < 20; ++i) {
      obs += R"({"resourceType":"Observation","id":"o)" + std::to_string(p) + "-" +
             std::to_string(i) + R"(","status":"final","code":{"text":")" + std::string(200, 'x') +
             R"("},"subject":{"reference":"Patient/p)" + std::to_string(p) + R"("}})" + "\n";
    }
  }
  WriteText(dir / "in/Patient.ndjson", pats);
  WriteText(dir / "in/Observation.ndjson", obs);
  int status = 0;
  pid_t ingest = StartIngest(dir / "lake", dir / "in");
  ::waitpid(ingest, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  const std::map<std::string, size_t> whole = {{"Observation.ndjson", 20000},
                                               {"Patient.ndjson", 1000}};
  const auto started = std::chrono::steady_clock::now();
  pid_t reference = StartExport(dir / "lake", dir / "exports/reference");
  ::waitpid(reference, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const int run_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - started)
                                          .count());
  ASSERT_EQ(NdjsonLines(dir / "exports/reference"), whole);

  std::mt19937 rng(20261201);
  int absent = 0, complete = 0;
  for (int round = 0; round < 16; ++round) {
    const std::filesystem::path out = dir / ("exports/out" + std::to_string(round));
    pid_t pid = StartExport(dir / "lake", out);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, run_ms + 20)(rng)));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    if (std::filesystem::exists(out)) {
      EXPECT_EQ(NdjsonLines(out), whole) << "round " << round;
      ++complete;
    } else {
      ++absent;
    }
    // Whatever else the kill left next to it: nothing ingest reads, or a whole export.
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "exports")) {
      if (!e.is_directory()) continue;
      const std::map<std::string, size_t> lines = NdjsonLines(e.path());
      if (!lines.empty()) {
        EXPECT_EQ(lines, whole) << e.path();
      }
    }
  }
  EXPECT_GT(absent, 0);
  // Exports to the folders that no killed run gave: each removes the staging folders left for
  // it, and only the finished folders and the reference remain.
  for (int round = 0; round < 16; ++round) {
    const std::filesystem::path out = dir / ("exports/out" + std::to_string(round));
    if (std::filesystem::exists(out)) continue;
    pid_t pid = StartExport(dir / "lake", out);
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(NdjsonLines(out), whole);
  }
  size_t folders = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "exports")) {
    EXPECT_FALSE(e.path().filename().string().starts_with(".")) << e.path();
    ++folders;
  }
  EXPECT_EQ(folders, 17u);
  // An empty folder made for the export keeps its permissions when the staging folder replaces
  // it.
  const std::filesystem::path made = dir / "exports/made";
  std::filesystem::create_directory(made);
  std::filesystem::permissions(made, std::filesystem::perms::owner_all);
  pid_t into_made = StartExport(dir / "lake", made);
  ::waitpid(into_made, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(NdjsonLines(made), whole);
  EXPECT_EQ(std::filesystem::status(made).permissions(), std::filesystem::perms::owner_all);
  std::printf("export killed: %d absent, %d complete (a run: %d ms)\n", absent, complete, run_ms);
}

// SQLite's file change counter (header bytes 24-27), which every write transaction of a file in
// rollback-journal mode (the vault) increments.
uint32_t ChangeCounter(const std::string& path) {
  unsigned char b[4] = {};
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    (void)!::pread(fd, b, 4, 24);
    ::close(fd);
  }
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
}

// Each Patient of a keyed lake: its pseudonym and its identity as the vault gives it.
std::map<std::string, std::string> Identities(const std::string& lake_dir) {
  std::map<std::string, std::string> out;
  auto lake = Lake::Open(lake_dir);
  EXPECT_TRUE(lake.ok()) << lake.status().ToString();
  if (!lake.ok()) return out;
  auto keys = privacy::KeyStore::Open(lake_dir);
  EXPECT_TRUE(keys.ok());
  auto vault = privacy::Vault::Open(*keys);
  EXPECT_TRUE(vault.ok());
  (*vault)->SetCommitted((*lake)->commits());
  EXPECT_TRUE((*lake)
                  ->Scan(
                      "Patient",
                      [&](const ResourceView& r) {
                        auto identity = (*vault)->Get(r.id);
                        out[std::string(r.id)] = identity.ok() ? *identity : "(none)";
                      },
                      nullptr)
                  .ok());
  return out;
}

// The identity vault and the catalog are two files that commit one after the other. A kill
// after the vault has taken a commit's records and before the catalog commits must not leave
// them standing for the identities of what the lake holds: HL7 v2 updates merge with the
// vault's original, and one it took for newer than the message (by its time) made the re-run
// drop the message as old, so the patient was never stored (privacy/vault.h).
TEST(CrashTest, KillBetweenTheVaultAndTheCatalogCommitKeepsIdentities) {
  TempDir dir;
  testing::CreateKeyedLake(dir / "template");
  std::filesystem::copy(dir / "template", dir / "ref", std::filesystem::copy_options::recursive);
  std::filesystem::copy(dir / "template", dir / "lake", std::filesystem::copy_options::recursive);
  testing::WriteText(dir / "in1/adt.hl7", testing::AdtMessage("A01", "C0", "20240301101000",
                                                              "4E^1^1^GHH", "", "", "V0", "M0"));
  // About 6 MB of admissions of 20,000 patients, with names and addresses: several commits.
  std::string feed;
  for (int p = 1; p <= 20000; ++p) {
    std::string n = std::to_string(p);
    std::string m = testing::AdtMessage("A01", "C" + n, "20240301101000", "4E^1^1^GHH", "", "",
                                        "V" + n, "M" + n);
    m.replace(
        m.find("PID|1||M" + n + "^^^GHH^MR"), 12 + n.size(),
        "PID|1||M" + n + "^^^GHH^MR||Name" + n + "^Given||19610723|F|||" + n + " Elm St^^Town");
    feed += m + "\n";
  }
  testing::WriteText(dir / "in2/adt.hl7", feed);
  int status = 0;
  for (const char* lake : {"ref", "lake"}) {
    pid_t first = StartIngest(dir / lake, dir / "in1");
    ::waitpid(first, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  pid_t ref = StartIngest(dir / "ref", dir / "in2");
  ::waitpid(ref, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  // Once the run has begun (its row in `runs`), the catalog's write lock is taken from it: the
  // run stages its first commit's records in the vault, then waits for the catalog, and is
  // killed there.
  sqlite3* catalog = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "lake/catalog.sqlite").c_str(), &catalog), SQLITE_OK);
  sqlite3_busy_timeout(catalog, 10'000);
  auto runs = [&] {
    sqlite3_stmt* q = nullptr;
    int64_t n = 0;
    if (sqlite3_prepare_v2(catalog, "SELECT count(*) FROM runs", -1, &q, nullptr) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
      n = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    return n;
  };
  const int64_t runs_before = runs();
  pid_t pid = StartIngest(dir / "lake", dir / "in2");
  while (runs() == runs_before) std::this_thread::sleep_for(std::chrono::microseconds(200));
  ASSERT_EQ(sqlite3_exec(catalog, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const std::string vault = privacy::Vault::PathFor(dir / "lake");
  const uint32_t vault_before = ChangeCounter(vault);
  // Up to two minutes: under AddressSanitizer the run takes more than 10 s to get there.
  bool staged = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (!staged && std::chrono::steady_clock::now() < deadline) {
    staged = ChangeCounter(vault) != vault_before;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it was killed";
  ASSERT_TRUE(staged) << "the run wrote nothing to the vault while the catalog was locked";
  sqlite3_exec(catalog, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(catalog);

  pid_t rerun = StartIngest(dir / "lake", dir / "in2");
  ::waitpid(rerun, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(Counts(dir / "lake"), Counts(dir / "ref"));
  auto expected = Identities(dir / "ref");
  ASSERT_EQ(expected.size(), 20001u);
  auto got = Identities(dir / "lake");
  EXPECT_EQ(got.size(), expected.size());
  size_t differ = 0;
  for (const auto& [pseudonym, identity] : expected) {
    auto it = got.find(pseudonym);
    differ += it == got.end() || it->second != identity ? 1 : 0;
  }
  EXPECT_EQ(differ, 0u) << "patients missing or with another identity";
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
  EXPECT_TRUE((*lake)->Verify()->empty());
  EXPECT_TRUE((*lake)->Get("Patient", "p1").ok());
}

}  // namespace
}  // namespace medlake
