#include "ingest/ingest.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "common/fhir_time.h"
#include "common/file_util.h"
#include "fhir/r4_model.h"
#include "ingest/chunk_source.h"
#include "medlake/lake.h"
#include "privacy/key_store.h"
#include "quarantine_of.h"
#include "store/catalog.h"
#include "store/erase.h"
#include "store/lake_writer.h"
#include "store/sqlite.h"
#include "test_util.h"
#include "zstd_frames.h"

namespace medlake::ingest {
namespace {

using testing::QuarantineOf;
using testing::TempDir;
using testing::WriteText;

IngestReport MustIngest(const std::string& lake, std::vector<std::string> paths) {
  IngestOptions options;
  options.jobs = 2;
  auto r = Ingest(lake, paths, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : IngestReport{};
}

void ExpectReconciles(const IngestReport& r) {
  const auto& c = r.counters;
  EXPECT_EQ(c.records_read, c.stored + c.duplicates + c.quarantined + c.deleted);
}

std::string Obs(const std::string& id, const std::string& patient, const std::string& value,
                const std::string& updated = "") {
  std::string meta = updated.empty() ? "" : R"("meta":{"lastUpdated":")" + updated + R"("},)";
  return R"({"resourceType":"Observation","id":")" + id + R"(",)" + meta +
         R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)"
         R"("subject":{"reference":"Patient/)" +
         patient +
         R"("},"effectiveDateTime":"2024-05-01T10:00:00Z",)"
         R"("valueQuantity":{"value":)" +
         value + R"(,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}})";
}

// Every live resource of `lake`, one a line (what `medlake export` writes, in one file).
std::string ExportedNdjson(Lake& lake) {
  std::string out;
  EXPECT_TRUE(
      lake.Scan(
              "", [&](const ResourceView& v) { out.append(v.json).push_back('\n'); }, nullptr)
          .ok());
  return out;
}

// The stored JSON of Observation `id` in the lake at `lake_dir`; "" (and a failure) when it
// cannot be read.
std::string StoredObservation(const std::string& lake_dir, const std::string& id) {
  auto lake = Lake::Open(lake_dir);
  EXPECT_TRUE(lake.ok()) << lake.status().ToString();
  if (!lake.ok()) return "";
  auto json = (*lake)->Get("Observation", id);
  EXPECT_TRUE(json.ok()) << id << ": " << json.status().ToString();
  return json.ok() ? *json : "";
}

// The lake holds `total` live resources, and Observation `id` with valueQuantity `value`.
void ExpectObservation(const std::string& lake_dir, const std::string& id, const std::string& value,
                       uint64_t total) {
  auto lake = Lake::Open(lake_dir);
  ASSERT_TRUE(lake.ok()) << lake.status().ToString();
  auto json = (*lake)->Get("Observation", id);
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_NE(json->find("\"value\":" + value), std::string::npos) << id;
  EXPECT_EQ((*lake)->Status()->total_resources, total);
}

TEST(IngestTest, NdjsonIsIdempotent) {
  TempDir dir;
  WriteText(dir / "in/Observation.ndjson",
            Obs("o1", "p1", "80") + "\n" + Obs("o2", "p1", "90") + "\n");
  WriteText(dir / "in/Patient.ndjson", R"({"resourceType":"Patient","id":"p1","gender":"female"})"
                                       "\n");
  auto first = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(first.counters.records_read, 3u);
  EXPECT_EQ(first.counters.stored, 3u);
  ExpectReconciles(first);
  auto second = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(second.counters.stored, 0u);
  EXPECT_EQ(second.counters.duplicates, 3u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto status = (*lake)->Status();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->patients, 1u);
  EXPECT_EQ(status->resources.at("Observation"), 2u);
  EXPECT_EQ(status->total_resources, 3u);
}

// One writer at a time: a second is refused at once with its own exit status (75, sysexits'
// EX_TEMPFAIL: run it again later), not as if the lake "already existed"; readers go on.
TEST(IngestTest, ASecondWriterIsToldTheLakeIsBusy) {
  TempDir dir;
  WriteText(dir / "in/Patient.ndjson", R"({"resourceType":"Patient","id":"p1","gender":"female"})"
                                       "\n");
  MustIngest(dir / "lake", {dir / "in"});
  auto held = FolderLock::Acquire(dir / "lake");  // what a running ingest holds
  ASSERT_TRUE(held.ok());
  auto busy = testing::RunMedlake("ingest --lake " + (dir / "lake") + " " + (dir / "in"));
  EXPECT_EQ(busy.exit_code, 75) << busy.out;
  EXPECT_NE(busy.out.find("busy: lake "), std::string::npos) << busy.out;
  EXPECT_NE(busy.out.find("is being written by another process"), std::string::npos) << busy.out;
  auto status = testing::RunMedlake("status --lake " + (dir / "lake"));
  EXPECT_EQ(status.exit_code, 0) << status.out;
}

TEST(IngestTest, NewVersionReplacesOld) {
  TempDir dir;
  WriteText(dir / "a/Observation.ndjson", Obs("o1", "p1", "80") + "\n");
  MustIngest(dir / "lake", {dir / "a"});
  WriteText(dir / "b/Observation.ndjson", Obs("o1", "p1", "120") + "\n");
  auto r = MustIngest(dir / "lake", {dir / "b"});
  EXPECT_EQ(r.counters.stored, 1u);
  EXPECT_EQ(r.counters.replaced, 1u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto json = (*lake)->Get("Observation", "o1");
  ASSERT_TRUE(json.ok());
  EXPECT_NE(json->find("\"value\":120"), std::string::npos);
  EXPECT_EQ((*lake)->Status()->resources.at("Observation"), 1u);
}

TEST(IngestTest, LastUpdatedDecidesBetweenVersions) {
  TempDir dir;
  // The later line is the older version: meta.lastUpdated wins over file position.
  WriteText(dir / "in/Observation.ndjson", Obs("o1", "p1", "70", "2024-01-02T00:00:00Z") + "\n" +
                                               Obs("o1", "p1", "60", "2024-01-01T00:00:00Z") +
                                               "\n");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(r.counters.stored, 1u);
  EXPECT_EQ(r.counters.duplicates, 1u);
  ExpectReconciles(r);
  auto lake = Lake::Open(dir / "lake");
  EXPECT_NE((*lake)->Get("Observation", "o1")->find("\"value\":70"), std::string::npos);
}

TEST(IngestTest, SameIdInOneRunKeepsTheLaterRecord) {
  TempDir dir;
  WriteText(dir / "in/Observation.ndjson",
            Obs("o1", "p1", "70") + "\n" + Obs("o1", "p1", "75") + "\n");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(r.counters.stored, 1u);
  EXPECT_EQ(r.counters.duplicates, 1u);
  ExpectObservation(dir / "lake", "o1", "75", 1);
}

// A history Bundle lists versions newest first: when lastUpdated does not order two versions
// (equal, or absent), the first entry wins. A transaction keeps the later entry.
TEST(IngestTest, AHistoryBundleKeepsItsFirstEntryWhenTimesTie) {
  TempDir dir;
  auto bundle = [](const std::string& type, const std::string& meta) {
    std::string entries;
    for (const char* family : {"V2", "V1"}) {
      if (!entries.empty()) entries += ",";
      entries += R"({"resource":{"resourceType":"Patient","id":"h1",)" + meta +
                 R"("name":[{"family":")" + family + R"("}]}})";
    }
    return R"({"resourceType":"Bundle","type":")" + type + R"(","entry":[)" + entries + "]}";
  };
  const std::string same_time = R"("meta":{"lastUpdated":"2021-05-01T10:00:00Z"},)";
  WriteText(dir / "a/history.json", bundle("history", same_time));
  WriteText(dir / "b/history.json", bundle("history", ""));
  WriteText(dir / "c/transaction.json", bundle("transaction", same_time));
  // A history Bundle's PATCH entry holds the version the patch made: it is stored.
  WriteText(dir / "d/history.json",
            R"({"resourceType":"Bundle","type":"history","entry":[)"
            R"({"resource":{"resourceType":"Patient","id":"h1","meta":{"lastUpdated":)"
            R"("2024-02-01T00:00:00Z"},"name":[{"family":"V2"}]},"request":{"method":"PATCH",)"
            R"("url":"Patient/h1"}},{"resource":{"resourceType":"Patient","id":"h1","meta":)"
            R"({"lastUpdated":"2024-01-01T00:00:00Z"},"name":[{"family":"V1"}]},)"
            R"("request":{"method":"POST","url":"Patient"}}]})");
  for (const char* in : {"a", "b", "c", "d"}) {
    const std::string lake_dir = dir / (std::string("lake_") + in);
    auto r = MustIngest(lake_dir, {dir / in});
    EXPECT_EQ(r.counters.stored, 1u);
    EXPECT_EQ(r.counters.duplicates, 1u);
    auto lake = Lake::Open(lake_dir);
    auto p = (*lake)->Get("Patient", "h1");
    ASSERT_TRUE(p.ok());
    EXPECT_NE(p->find(std::string(in) == "c" ? "V1" : "V2"), std::string::npos) << in << ": " << *p;
  }
}

// Admits a version of Observation o1 straight through `writer`, as if read from its `file`-th
// input file of this run: the tests below force an order of admission this way.
Result<store::Admission> AdmitO1(store::LakeWriter& writer, uint64_t content_hash, uint64_t file) {
  const uint64_t run = static_cast<uint64_t>(writer.run_id()) << 32;
  uint64_t seq = 0;
  return writer.Admit(store::ResourceKey("Observation", "o1"),
                      static_cast<uint16_t>(fhir::ResourceTypeIndex("Observation")), content_hash,
                      kNoTime, {run | file, 0}, seq);
}

// Files are read in parallel, so records are admitted out of input order. A record equal to
// the committed version that comes later in the input must still beat a different one from
// earlier in the input that is admitted after it (the order of admission is forced here).
TEST(IngestTest, LaterSightingOfTheCommittedVersionWinsWhateverTheAdmissionOrder) {
  TempDir dir;
  WriteText(dir / "in/Observation.ndjson", Obs("o1", "p1", "60") + "\n");
  MustIngest(dir / "lake", {dir / "in"});
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto stored = (*lake)->Get("Observation", "o1");
  ASSERT_TRUE(stored.ok());
  const uint64_t committed = store::ContentHash(*stored);
  auto writer = store::LakeWriter::Open(dir / "lake");
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  // File 3 holds the committed version again; file 2, admitted afterwards, another one.
  auto third = AdmitO1(**writer, committed, 3);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, store::Admission::kDuplicate);
  auto second = AdmitO1(**writer, committed + 1, 2);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, store::Admission::kDuplicate) << "an earlier input beat a later one";
  // A record from later still in the input wins.
  auto fourth = AdmitO1(**writer, committed + 1, 4);
  ASSERT_TRUE(fourth.ok());
  EXPECT_EQ(*fourth, store::Admission::kReplace) << "it replaces the committed version";
}

// Three versions of one resource: 2020 (first file), no meta.lastUpdated (second), 2019 (third).
// A version without lastUpdated is older than any with one, so 2020 wins in every order of
// admission (threads admit in any order). Looking at lastUpdated only when both versions had
// one made the winner depend on that order: 2020 > 2019 by time, 2019 > none and none > 2020
// by position.
TEST(IngestTest, TheWinningVersionDoesNotDependOnTheOrderOfAdmission) {
  struct Version {
    uint64_t hash;
    int64_t updated;
    uint64_t file;
  };
  const std::vector<Version> versions = {{101, ParseFhirTime("2020-01-01T00:00:00Z")->start, 0},
                                         {102, kNoTime, 1},
                                         {103, ParseFhirTime("2019-01-01T00:00:00Z")->start, 2}};
  std::vector<int> order = {0, 1, 2};
  do {
    TempDir dir;
    auto writer = store::LakeWriter::Open(dir / "lake");
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    const uint64_t run = static_cast<uint64_t>((*writer)->run_id()) << 32;
    int best = -1;  // the winner so far, by the documented order
    for (int v : order) {
      uint64_t seq = 0;
      auto admitted =
          (*writer)->Admit(store::ResourceKey("Observation", "o1"),
                           static_cast<uint16_t>(fhir::ResourceTypeIndex("Observation")),
                           versions[v].hash, versions[v].updated, {run | versions[v].file, 0}, seq);
      ASSERT_TRUE(admitted.ok());
      const bool newer =
          best < 0 || versions[v].updated > versions[best].updated ||
          (versions[v].updated == versions[best].updated && versions[v].file > versions[best].file);
      // The first version to store is new; a later one replaces it.
      const store::Admission expected = !newer     ? store::Admission::kDuplicate
                                        : best < 0 ? store::Admission::kStore
                                                   : store::Admission::kReplace;
      EXPECT_EQ(*admitted, expected)
          << "admitting " << v << " in order " << order[0] << order[1] << order[2];
      if (newer) best = v;
    }
    EXPECT_EQ(best, 0);
  } while (std::next_permutation(order.begin(), order.end()));
}

// Files that start with shared-area resources are read first (their identifiers must be known
// before patient data refers to them), but versions are decided by the input order: Synthea's
// patient bundles carry their own copies of the Organizations and Practitioners of the
// hospital and practitioner files that come after them. Whatever the checkpoints, the later
// file's version wins and a re-ingest stores nothing (it re-stored both versions, one after
// the other, when a commit fell between them).
TEST(IngestTest, ALaterFileWinsEvenWhenReadFirstAndReingestStoresNothing) {
  TempDir dir;
  auto org = [](const std::string& name) {
    return R"({"resourceType":"Organization","id":"org1","name":")" + name + R"("})";
  };
  std::string patients;
  for (int i = 0; i < 3000; ++i) {
    patients += R"({"resourceType":"Patient","id":"p)" + std::to_string(i) +
                R"(","gender":"female","birthDate":"1970-01-01"})"
                "\n";
  }
  // a_patients.ndjson: patients, then its copy of org1; z_hospital.ndjson: the hospital's.
  WriteText(dir / "in/a_patients.ndjson", patients + org("copy in a patient file") + "\n");
  WriteText(dir / "in/z_hospital.ndjson", org("the hospital's") + "\n");
  for (uint64_t checkpoint : {uint64_t{256} << 20, uint64_t{1}}) {
    TempDir run;
    IngestOptions options;
    options.checkpoint_bytes = checkpoint;  // 1: a commit after every chunk
    for (int pass = 0; pass < 3; ++pass) {
      auto r = Ingest(run / "lake", {dir / "in"}, options);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ExpectReconciles(*r);
      EXPECT_EQ(r->counters.stored, pass == 0 ? 3001u : 0u)
          << "checkpoint " << checkpoint << ", pass " << pass;
      EXPECT_EQ(r->counters.replaced, 0u);
      auto lake = Lake::Open(run / "lake");
      auto json = (*lake)->Get("Organization", "org1");
      ASSERT_TRUE(json.ok());
      EXPECT_NE(json->find("the hospital's"), std::string::npos) << *json;
      EXPECT_EQ((*lake)->Status()->total_resources, 3001u);
    }
  }
}

// Versions without lastUpdated, one in each of two files of one checkpoint: on a re-ingest,
// the first file's version beats the committed one (a later run) and is written, deleting it,
// before the second file's brings it back. That deletion is taken back: the re-ingest stores
// nothing and replaces nothing (it stored every resource again, or part of them depending on
// thread timing). The first file's 8,000 rows fill a shard buffer: they are written before the
// second file is read.
TEST(IngestTest, ReingestOfVersionsInTwoFilesStoresNothing) {
  TempDir dir;
  const std::string pad(300, 'x');
  auto versions = [&](const std::string& status) {
    std::string out;
    for (int i = 0; i < 8000; ++i) {
      out += R"({"resourceType":"Observation","id":"o)" + std::to_string(i) + R"(","status":")" +
             status + R"(","code":{"text":")" + pad +
             R"("},"subject":{"reference":"Patient/p1"}})" + "\n";
    }
    return out;
  };
  WriteText(dir / "in/a.ndjson", versions("preliminary"));
  WriteText(dir / "in/b.ndjson", versions("final"));
  for (int jobs : {1, 2}) {
    TempDir run;
    IngestOptions options;
    options.jobs = jobs;
    for (int pass = 0; pass < 3; ++pass) {
      auto r = Ingest(run / "lake", {dir / "in"}, options);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ExpectReconciles(*r);
      EXPECT_EQ(r->counters.stored, pass == 0 ? 8000u : 0u) << "jobs " << jobs << ", pass " << pass;
      EXPECT_EQ(r->counters.replaced, 0u) << "jobs " << jobs << ", pass " << pass;
      auto lake = Lake::Open(run / "lake");
      ASSERT_TRUE(lake.ok());
      EXPECT_EQ((*lake)->Status()->total_resources, 8000u);
      auto json = (*lake)->Get("Observation", "o7999");
      ASSERT_TRUE(json.ok());
      EXPECT_NE(json->find(R"("status":"final")"), std::string::npos);
    }
  }
}

// The place of a version is its record's byte offset and its entry in the record, apart: a
// Bundle of more than 2^20 entries (here after a byte-order mark, at an odd offset) still has
// its later entry win. Packed into one integer, entry 2^20 + 5 overlapped the offset's bits and
// lost to entry 5.
TEST(IngestTest, ALaterEntryWinsInABundleOfMoreThanAMillionEntries) {
  TempDir dir;
  auto basic = [](const char* text) {
    return std::string(R"({"resource":{"resourceType":"Basic","id":"t","code":{"text":")") + text +
           R"("}}})";
  };
  constexpr size_t kLast = (size_t{1} << 20) + 5;
  std::string bundle =
      "\xEF\xBB\xBF"
      R"({"resourceType":"Bundle","type":"batch","entry":[)";
  bundle.reserve(kLast * 56);
  for (size_t i = 0; i <= kLast; ++i) {
    if (i > 0) bundle += ',';
    bundle += basic(i == 5 ? "first" : i == kLast ? "last" : "same");
  }
  bundle += "]}";
  WriteText(dir / "in/big.json", bundle);
  auto r = MustIngest(dir / "lake", {dir / "in"});
  ExpectReconciles(r);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto json = (*lake)->Get("Basic", "t");
  ASSERT_TRUE(json.ok());
  EXPECT_NE(json->find(R"("text":"last")"), std::string::npos) << *json;
}

// The shared-area files are read first, and a pipeline boundary after them makes their
// identifiers known before patient data refers to them. Here the Organization file is exactly
// one read chunk long, with the identifier on its last line: the read after it finds nothing,
// and the boundary must still come (it was dropped with the empty chunk, and the Encounter was
// read beside the Organizations, its reference unresolved). (With 512 KiB chunks and a 4 MiB
// file, the reads after the first no longer ended at the file's end: the test held whatever.)
TEST(IngestTest, TheBoundaryAfterSharedFilesHoldsWhenTheirLastReadIsEmpty) {
  TempDir dir;
  const size_t kRead = IngestOptions().chunk_bytes;  // what MustIngest reads at once
  const std::string last =
      R"({"resourceType":"Organization","id":"target","identifier":[{"system":"urn:s","value":"V1"}]})"
      "\n";
  std::string orgs;
  for (int i = 0; orgs.size() + last.size() < kRead; ++i) {
    std::string line = R"({"resourceType":"Organization","id":"o)" + std::to_string(i) +
                       R"(","name":")" + std::string(200, 'x') + R"("})" + "\n";
    const size_t room = kRead - last.size() - orgs.size();
    if (room < 2 * line.size()) {  // the last filler line takes what is left, exactly
      line = R"({"resourceType":"Organization","id":"pad","name":")";
      ASSERT_GE(room, line.size() + 3);
      line += std::string(room - line.size() - 3, 'y') + R"("})" + "\n";
    }
    orgs += line;
  }
  orgs += last;
  ASSERT_EQ(orgs.size(), kRead);
  WriteText(dir / "in/Organization.ndjson", orgs);
  WriteText(dir / "in/Encounter.ndjson",
            R"({"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},)"
            R"("subject":{"reference":"Patient/p1"},)"
            R"("serviceProvider":{"reference":"Organization?identifier=urn:s|V1"}})"
            "\n");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  ExpectReconciles(r);
  EXPECT_EQ(r.unresolved_references, 0u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto json = (*lake)->Get("Encounter", "e1");
  ASSERT_TRUE(json.ok());
  EXPECT_NE(json->find(R"("reference":"Organization/target")"), std::string::npos) << *json;
}

// The same version met again keeps the later of its places in the input: org1 "A" is read
// first from the hospital file (last in the input), then again from a patient file before
// that file's "B". The hospital's "A" comes last in the input and wins, with or without a
// commit between the two readings.
TEST(IngestTest, ARepeatedVersionKeepsItsLaterPlace) {
  TempDir dir;
  auto org = [](const std::string& name) {
    return R"({"resourceType":"Organization","id":"org1","name":")" + name + R"("})";
  };
  WriteText(dir / "in/a_other.ndjson", R"({"resourceType":"Patient","id":"f1"})"
                                       "\n");
  WriteText(dir / "in/b_patient.ndjson", R"({"resourceType":"Patient","id":"p1"})"
                                         "\n" +
                                             org("A") + "\n" + org("B") + "\n");
  WriteText(dir / "in/z_hospital.ndjson", org("A") + "\n");
  for (uint64_t checkpoint : {uint64_t{256} << 20, uint64_t{1}}) {
    TempDir run;
    IngestOptions options;
    options.checkpoint_bytes = checkpoint;
    auto r = Ingest(run / "lake", {dir / "in"}, options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto lake = Lake::Open(run / "lake");
    auto json = (*lake)->Get("Organization", "org1");
    ASSERT_TRUE(json.ok());
    EXPECT_NE(json->find(R"("name":"A")"), std::string::npos)
        << "checkpoint " << checkpoint << ": " << *json;
  }
}

// An identity index that cannot be read leaves the writer unable to tell a new version from a
// committed one: every later admission fails too, rather than storing a second live copy.
TEST(IngestTest, AnUnreadableIdentityIndexStopsEveryLaterAdmission) {
  TempDir dir;
  WriteText(dir / "in/Observation.ndjson", Obs("o1", "p1", "60") + "\n");
  MustIngest(dir / "lake", {dir / "in"});
  auto writer = store::LakeWriter::Open(dir / "lake");
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  // Cut the index's runs to their first bytes under the open writer.
  size_t cut = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "lake/index/identity")) {
    if (e.path().extension() == ".idx") {
      std::filesystem::resize_file(e.path(), 16);
      ++cut;
    }
  }
  ASSERT_GT(cut, 0u);
  ASSERT_FALSE(AdmitO1(**writer, 1, 1).ok());
  EXPECT_FALSE(AdmitO1(**writer, 2, 2).ok()) << "admitted without knowing the committed version";
}

TEST(IngestTest, VersionsAcrossCheckpointsAndALostIdentityIndex) {
  TempDir dir;
  // 1: o0..o199; 2: new values for o0..o99; 3: o0..o49 back to their first values.
  std::string one, two, three;
  for (int i = 0; i < 200; ++i) one += Obs("o" + std::to_string(i), "p1", "60") + "\n";
  for (int i = 0; i < 100; ++i) two += Obs("o" + std::to_string(i), "p1", "70") + "\n";
  for (int i = 0; i < 50; ++i) three += Obs("o" + std::to_string(i), "p1", "60") + "\n";
  WriteText(dir / "in/1.ndjson", one);
  WriteText(dir / "in/2.ndjson", two);
  WriteText(dir / "in/3.ndjson", three);
  IngestOptions every_file;
  every_file.jobs = 2;
  every_file.checkpoint_bytes = 1;  // a commit (and an identity index run) per input chunk
  auto first = Ingest(dir / "lake", {dir / "in"}, every_file);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ExpectReconciles(*first);
  // Versions committed at a checkpoint and replaced later in the same run count as
  // duplicates, like those replaced before a commit: stored is what the run leaves live.
  EXPECT_EQ(first->counters.stored, 200u);
  EXPECT_EQ(first->counters.duplicates, 150u);
  EXPECT_EQ(first->counters.replaced, 0u);
  auto expect_lake = [&] {
    ExpectObservation(dir / "lake", "o7", "60", 200);
    ExpectObservation(dir / "lake", "o70", "70", 200);
    ExpectObservation(dir / "lake", "o170", "60", 200);
  };
  expect_lake();

  // The identity index is derived data: without it the writer rebuilds it from the segments,
  // and re-ingesting the same files in one commit changes nothing.
  std::filesystem::remove_all(dir / "lake/index/identity");
  auto again = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(again.counters.records_read, 350u);
  EXPECT_EQ(again.counters.stored, 0u);
  EXPECT_EQ(again.counters.duplicates, 350u);
  EXPECT_TRUE(std::filesystem::exists(dir / "lake/index/identity/MANIFEST"));
  expect_lake();

  WriteText(dir / "new/Observation.ndjson", Obs("o7", "p1", "99") + "\n");
  auto newer = MustIngest(dir / "lake", {dir / "new"});
  EXPECT_EQ(newer.counters.stored, 1u);
  EXPECT_EQ(newer.counters.replaced, 1u);
  ExpectObservation(dir / "lake", "o7", "99", 200);
}

TEST(IngestTest, StaleIdentityIndexIsRebuilt) {
  TempDir dir;
  WriteText(dir / "a/Observation.ndjson", Obs("o1", "p1", "80") + "\n");
  WriteText(dir / "b/Observation.ndjson", Obs("o1", "p1", "120") + "\n");
  MustIngest(dir / "lake", {dir / "a"});
  // The index as it was after the first run, as if the writer of the second run had died
  // between its catalog commit and its manifest update.
  std::filesystem::copy(dir / "lake/index/identity", dir / "saved");
  MustIngest(dir / "lake", {dir / "b"});
  std::filesystem::remove_all(dir / "lake/index/identity");
  std::filesystem::copy(dir / "saved", dir / "lake/index/identity");
  auto again = MustIngest(dir / "lake", {dir / "b"});
  EXPECT_EQ(again.counters.stored, 0u);
  EXPECT_EQ(again.counters.duplicates, 1u);
  ExpectObservation(dir / "lake", "o1", "120", 1);
}

TEST(IngestTest, ErasedPatientIsStoredAgainWhenReingested) {
  TempDir dir;
  WriteText(dir / "in/Observation.ndjson",
            Obs("o1", "p1", "80") + "\n" + Obs("o2", "p2", "90") + "\n");
  WriteText(dir / "in/Patient.ndjson", R"({"resourceType":"Patient","id":"p1"})"
                                       "\n"
                                       R"({"resourceType":"Patient","id":"p2"})"
                                       "\n");
  MustIngest(dir / "lake", {dir / "in"});
  auto erased = store::ErasePatient(dir / "lake", "p1");
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_EQ(erased->size(), 2u);
  // The erasure removes the identity index with the other derived caches (and changes the
  // committed state its stamp names): the next writer rebuilds it and sees p1's resources as
  // new.
  auto again = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(again.counters.stored, 2u);
  EXPECT_EQ(again.counters.duplicates, 2u);
  auto lake = Lake::Open(dir / "lake");
  EXPECT_TRUE((*lake)->Get("Observation", "o1").ok());
  EXPECT_EQ((*lake)->Status()->total_resources, 4u);
}

// A damaged delete bitmap in the catalog is reported, not replaced: a run that deletes more
// rows of that segment, and an erasure that rewrites it, fail with kCorruption instead of
// writing a bitmap of their own deletions only (which brought superseded versions back).
TEST(IngestTest, ADamagedDeleteBitmapIsReportedNotReplaced) {
  TempDir dir;
  WriteText(dir / "in1/Observation.ndjson",
            Obs("o1", "p1", "80") + "\n" + Obs("o2", "p1", "81") + "\n");
  WriteText(dir / "in2/Observation.ndjson", Obs("o1", "p1", "90") + "\n");
  WriteText(dir / "in3/Observation.ndjson", Obs("o2", "p1", "91") + "\n");
  MustIngest(dir / "lake", {dir / "in1"});
  MustIngest(dir / "lake", {dir / "in2"});  // deletes o1's first version: a bitmap
  {
    auto db = store::Db::Open(dir / "lake/catalog.sqlite", false, false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("UPDATE segment_deletes SET deleted = x'DEADBEEF'").ok());
  }
  auto third = Ingest(dir / "lake", {dir / "in3"}, IngestOptions{});
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), ErrorCode::kCorruption) << third.status().ToString();
  auto erased = store::ErasePatient(dir / "lake", "p1");
  ASSERT_FALSE(erased.ok());
  EXPECT_EQ(erased.status().code(), ErrorCode::kCorruption) << erased.status().ToString();
}

// An erasure cut short after its commit (old segments and the derived indexes not yet
// removed) is finished by running the same erase again, although the patient is no longer in
// the catalog: no file of the lake then holds the patient's id.
TEST(IngestTest, RunningAnInterruptedEraseAgainFinishesIt) {
  namespace fs = std::filesystem;
  TempDir dir;
  const std::string id = "erase-me-4711";
  WriteText(dir / "in/Observation.ndjson",
            Obs("o1", id, "80") + "\n" + Obs("o2", "p2", "90") + "\n");
  WriteText(dir / "in/Patient.ndjson", R"({"resourceType":"Patient","id":")" + id +
                                           R"("})"
                                           "\n"
                                           R"({"resourceType":"Patient","id":"p2"})"
                                           "\n");
  MustIngest(dir / "lake", {dir / "in"});
  fs::create_directories(dir / "before");
  fs::copy(dir / "lake/segments", dir / "before/segments", fs::copy_options::recursive);
  fs::copy(dir / "lake/index", dir / "before/index", fs::copy_options::recursive);
  ASSERT_TRUE(store::ErasePatient(dir / "lake", id).ok());
  // The state a kill right after the erasure's commit leaves: the old files are back.
  fs::copy(dir / "before/segments", dir / "lake/segments",
           fs::copy_options::recursive | fs::copy_options::skip_existing);
  fs::copy(dir / "before/index", dir / "lake/index",
           fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  auto holds_id = [&] {
    for (const auto& e : fs::recursive_directory_iterator(dir / "lake")) {
      std::string bytes = e.is_regular_file() ? testing::ReadText(e.path().string()) : "";
      if ((bytes + testing::ZstdFrameText(bytes)).find(id) != std::string::npos) {
        return e.path().string();
      }
    }
    return std::string();
  };
  ASSERT_FALSE(holds_id().empty());
  auto again = store::ErasePatient(dir / "lake", id);
  EXPECT_EQ(again.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(holds_id(), "");
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->total_resources, 2u);
  EXPECT_TRUE((*lake)->Get("Observation", "o2").ok());
  EXPECT_FALSE((*lake)->Get("Observation", "o1").ok());
}

TEST(IngestTest, HotColumnsAreScannedWithoutTheResource) {
  TempDir dir;
  WriteText(dir / "in/Observation.ndjson",
            Obs("o1", "p1", "80") + "\n" + Obs("o2", "p2", "91.5") + "\n");
  MustIngest(dir / "lake", {dir / "in"});
  auto lake = Lake::Open(dir / "lake");
  std::map<std::string, double> values;
  int with_code = 0;
  ASSERT_TRUE((*lake)
                  ->ScanHot(
                      "Observation",
                      [&](const HotRow& r) {
                        values[std::string(r.id)] = r.value;
                        EXPECT_EQ(r.unit, "/min");
                        EXPECT_EQ(r.status, "final");
                        EXPECT_EQ(r.effective_start, 1714557600000);  // 2024-05-01T10:00:00Z
                        for (size_t i = 0; i < r.code_count; ++i) {
                          if (r.codes[i].system == "http://loinc.org" &&
                              r.codes[i].code == "8867-4")
                            ++with_code;
                        }
                        auto json = r.json();
                        ASSERT_TRUE(json.ok());
                        EXPECT_NE(json->find(std::string(r.id)), std::string_view::npos);
                      },
                      nullptr)
                  .ok());
  EXPECT_EQ(values, (std::map<std::string, double>{{"o1", 80}, {"o2", 91.5}}));
  EXPECT_EQ(with_code, 2);
}

TEST(IngestTest, GzipNdjson) {
  TempDir dir;
  std::string text = Obs("o1", "p1", "80") + "\n" + Obs("o2", "p2", "81") + "\n";
  gzFile gz = gzopen((dir / "Observation.ndjson.gz").c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  auto r = MustIngest(dir / "lake", {dir / "Observation.ndjson.gz"});
  EXPECT_EQ(r.counters.stored, 2u);
  auto lake = Lake::Open(dir / "lake");
  EXPECT_TRUE((*lake)->Get("Observation", "o2").ok());
}

// A damaged .ndjson.gz: the records before the damage are stored, the rest is one quarantine
// entry from the first byte of the line the damage cuts, and nothing else (no half line taken
// for an invalid record); a stream cut short is caught like a damaged one.
TEST(IngestTest, DamagedGzipKeepsTheRecordsBeforeTheDamage) {
  TempDir dir;
  // 20,000 distinct lines (about 3.6 MB inflated), compressed with a full flush every 1,000
  // lines: the file cut at a flush point is a clean-looking prefix without a trailer.
  std::string compressed;
  std::vector<size_t> flush_points;
  {
    const std::string path = dir / "whole.ndjson.gz";
    gzFile gz = gzopen(path.c_str(), "wb");
    for (int i = 0; i < 20000; ++i) {
      std::string line =
          Obs("o" + std::to_string(i), "p" + std::to_string(i % 97), std::to_string(i)) + "\n";
      gzwrite(gz, line.data(), static_cast<unsigned>(line.size()));
      if (i % 1000 == 999) {
        gzflush(gz, Z_FULL_FLUSH);
        flush_points.push_back(static_cast<size_t>(gzoffset(gz)));
      }
    }
    gzclose(gz);
    compressed = testing::ReadText(path);
  }
  struct Case {
    std::string name;
    std::string bytes;
    std::string reason;
  };
  std::string flipped = compressed;
  for (size_t i = 0; i < 64; ++i) flipped[compressed.size() / 2 + i] ^= 0x55;
  const std::vector<Case> cases = {
      {"cut.ndjson.gz", compressed.substr(0, flush_points[9]), "gzip stream truncated"},
      {"flipped.ndjson.gz", flipped, "gzip stream damaged"}};
  for (const auto& c : cases) {
    TempDir run;
    WriteText(run / ("in/" + c.name), c.bytes);
    auto r = MustIngest(run / "lake", {run / "in"});
    ExpectReconciles(r);
    EXPECT_EQ(r.counters.quarantined, 1u) << c.name;
    // Before the damage: all of the first ten thousand lines for the cut, and about the first
    // half (what was inflated before the damage, less the line it cuts) for the flipped bytes.
    EXPECT_GE(r.counters.stored, c.name == "cut.ndjson.gz" ? 10000u : 9000u) << c.name;
    EXPECT_LT(r.counters.stored, 20000u) << c.name;
    auto lake = Lake::Open(run / "lake");
    auto q = (*lake)->Quarantine(10);
    ASSERT_TRUE(q.ok());
    ASSERT_EQ(q->size(), 1u) << c.name;
    EXPECT_NE((*q)[0].reason.find(c.reason), std::string::npos) << (*q)[0].reason;
  }
}

TEST(IngestTest, BundleReferencesAreResolved) {
  TempDir dir;
  // A transaction with urn:uuid references, an entry without id (implied by fullUrl), and a
  // conditional reference to a Practitioner defined in another file.
  WriteText(dir / "in/practitioners.json", R"({"resourceType":"Bundle","type":"batch","entry":[
    {"resource":{"resourceType":"Practitioner","id":"dr1","identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"123"}]}}]})");
  WriteText(dir / "in/a_patient.json", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111",
     "resource":{"resourceType":"Patient","id":"pat-1"},"request":{"method":"POST","url":"Patient"}},
    {"fullUrl":"urn:uuid:22222222-2222-2222-2222-222222222222",
     "resource":{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},
       "subject":{"reference":"urn:uuid:11111111-1111-1111-1111-111111111111"},
       "participant":[{"individual":{"reference":"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|123"}}]},
     "request":{"method":"POST","url":"Encounter"}}]})");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(r.counters.stored, 3u);
  EXPECT_EQ(r.unresolved_references, 0u);
  auto lake = Lake::Open(dir / "lake");
  auto enc = (*lake)->Get("Encounter", "22222222-2222-2222-2222-222222222222");
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  EXPECT_NE(enc->find(R"("reference":"Patient/pat-1")"), std::string::npos) << *enc;
  EXPECT_NE(enc->find(R"("reference":"Practitioner/dr1")"), std::string::npos) << *enc;
  EXPECT_EQ(enc->find("urn:uuid"), std::string::npos);
}

// An OID fullUrl implies its entry's id as a UUID does; a versioned reference to an entry's
// fullUrl is matched without its version (R4 Bundle) and keeps it; a Bundle-local name that
// no entry has is reported unresolved; the Observation whose subject it is, typed Patient, is
// quarantined (its patient cannot be found), one whose subject has no type stays shared (a
// Device, a Location may be meant).
TEST(IngestTest, OidsVersionsAndUnknownLocalNamesInBundles) {
  TempDir dir;
  WriteText(dir / "in/b.json", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:oid:2.16.840.1.113883.3.1",
     "resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
    {"fullUrl":"http://srv.example/fhir/Encounter/e1",
     "resource":{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"}}},
    {"resource":{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},
      "subject":{"reference":"urn:oid:2.16.840.1.113883.3.1"},
      "encounter":{"reference":"http://srv.example/fhir/Encounter/e1/_history/3"}}},
    {"resource":{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},
      "subject":{"reference":"urn:uuid:99999999-9999-9999-9999-999999999999","type":"Patient"}}},
    {"resource":{"resourceType":"Observation","id":"o3","status":"final","code":{"text":"x"},
      "subject":{"reference":"urn:uuid:99999999-9999-9999-9999-999999999998"}}}]})");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(r.counters.stored, 4u);
  EXPECT_EQ(r.counters.quarantined, 1u);
  EXPECT_EQ(r.unresolved_references, 2u);
  auto lake = Lake::Open(dir / "lake");
  EXPECT_TRUE((*lake)->Get("Patient", "2.16.840.1.113883.3.1").ok());
  EXPECT_FALSE((*lake)->Get("Observation", "o2").ok());
  auto o1 = (*lake)->Get("Observation", "o1");
  ASSERT_TRUE(o1.ok());
  EXPECT_NE(o1->find(R"("subject":{"reference":"Patient/2.16.840.1.113883.3.1"})"),
            std::string::npos)
      << *o1;
  EXPECT_NE(o1->find(R"("encounter":{"reference":"Encounter/e1/_history/3"})"), std::string::npos)
      << *o1;
  std::string encounter;
  ASSERT_TRUE((*lake)
                  ->ScanHot(
                      "Observation",
                      [&](const HotRow& row) {
                        if (row.id == "o1") encounter = std::string(row.encounter);
                      },
                      nullptr)
                  .ok());
  EXPECT_EQ(encounter, "e1");
}

// Ingests Patient p1, identifier http://mrn|M1, into dir/lake.
void IngestPatientM1(const TempDir& dir) {
  WriteText(
      dir / "r1/Patient.ndjson",
      R"({"resourceType":"Patient","id":"p1","identifier":[{"system":"http://mrn","value":"M1"}]})"
      "\n");
  MustIngest(dir / "lake", {dir / "r1"});
}

// Conditional create and update in a transaction (R4 http.html), against the lake: a POST
// whose ifNoneExist matches one Patient stores nothing and its fullUrl names that Patient; a
// PUT to "Patient?identifier=..." stores a new version of the match; one whose body names
// another id is quarantined; without a match, both create.
TEST(IngestTest, ConditionalCreateAndUpdateInTransactions) {
  TempDir dir;
  IngestPatientM1(dir);
  WriteText(dir / "r2/tx.json", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:0b0b0b0b-0000-0000-0000-000000000001",
     "resource":{"resourceType":"Patient","identifier":[{"system":"http://mrn","value":"M1"}]},
     "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=http://mrn|M1"}},
    {"resource":{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},
      "subject":{"reference":"urn:uuid:0b0b0b0b-0000-0000-0000-000000000001"}},
     "request":{"method":"POST","url":"Observation"}},
    {"resource":{"resourceType":"Patient","gender":"female",
      "identifier":[{"system":"http://mrn","value":"M1"}]},
     "request":{"method":"PUT","url":"Patient?identifier=http://mrn|M1"}},
    {"fullUrl":"urn:uuid:0c0c0c0c-0000-0000-0000-000000000002",
     "resource":{"resourceType":"Patient","identifier":[{"system":"http://mrn","value":"M2"}]},
     "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=http://mrn|M2"}},
    {"resource":{"resourceType":"Patient","id":"other"},
     "request":{"method":"PUT","url":"Patient?identifier=http://mrn|M1"}}]})");
  auto r = MustIngest(dir / "lake", {dir / "r2"});
  EXPECT_EQ(r.counters.records_read, 5u);
  EXPECT_EQ(r.counters.stored, 3u);
  EXPECT_EQ(r.counters.duplicates, 1u);
  EXPECT_EQ(r.counters.quarantined, 1u);
  auto lake = Lake::Open(dir / "lake");
  EXPECT_EQ((*lake)->Status()->patients, 2u);
  auto o1 = (*lake)->Get("Observation", "o1");
  ASSERT_TRUE(o1.ok());
  EXPECT_NE(o1->find(R"("reference":"Patient/p1")"), std::string::npos) << *o1;
  auto p1 = (*lake)->Get("Patient", "p1");
  ASSERT_TRUE(p1.ok());
  EXPECT_NE(p1->find("female"), std::string::npos) << *p1;
  EXPECT_TRUE((*lake)->Get("Patient", "0c0c0c0c-0000-0000-0000-000000000002").ok());
  EXPECT_FALSE((*lake)->Get("Patient", "other").ok());
  auto q = (*lake)->Quarantine(10);
  ASSERT_EQ(q->size(), 1u);
  EXPECT_NE((*q)[0].reason.find("conditional update"), std::string::npos) << (*q)[0].reason;
}

// A conditional update whose url is absolute (R4 bundle.html makes it relative to the
// server's root; some clients send the server's base too) is read by its type and query, as a
// relative one: it was quarantined as a condition medlake does not evaluate. Its type must
// still be the entry's, and a search in a compartment is still no such condition.
TEST(IngestTest, AConditionalUpdateWithAnAbsoluteUrlIsApplied) {
  TempDir dir;
  IngestPatientM1(dir);
  WriteText(dir / "r2/tx.json", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":{"resourceType":"Patient","gender":"female",
      "identifier":[{"system":"http://mrn","value":"M1"}]},
     "request":{"method":"PUT","url":"https://fhir.example.org/r4/Patient?identifier=http://mrn|M1"}},
    {"resource":{"resourceType":"Patient","identifier":[{"system":"http://mrn","value":"M1"}]},
     "request":{"method":"PUT","url":"https://fhir.example.org/r4/Group?identifier=http://mrn|M1"}},
    {"resource":{"resourceType":"Patient","identifier":[{"system":"http://mrn","value":"M1"}]},
     "request":{"method":"PUT",
      "url":"https://fhir.example.org/r4/Group/g1/Patient?identifier=http://mrn|M1"}}]})");
  auto r = MustIngest(dir / "lake", {dir / "r2"});
  ExpectReconciles(r);
  EXPECT_EQ(r.counters.stored, 1u);
  EXPECT_EQ(r.counters.quarantined, 2u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->patients, 1u);
  auto p1 = (*lake)->Get("Patient", "p1");
  ASSERT_TRUE(p1.ok());
  EXPECT_NE(p1->find("female"), std::string::npos) << *p1;
  // Another type than the entry's, and a search in a Group's compartment.
  for (const auto& e : QuarantineOf(dir / "lake", 2)) {
    EXPECT_NE(e.reason.find("condition medlake does not evaluate"), std::string::npos) << e.reason;
  }
}

// A condition medlake cannot evaluate (another parameter, another type) or that matches
// several resources (R4 http.html: 412) is not taken for "no match": such an entry created a
// second Patient with the identifier, after which no reference to it resolved. It is
// quarantined; an ifNoneExist written with "Type?" before the query is read as the query.
TEST(IngestTest, ConditionsThatCannotBeEvaluatedOrMatchSeveralAreNotApplied) {
  TempDir dir;
  WriteText(
      dir / "r1/Patient.ndjson",
      R"({"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:mrn","value":"M1"}]})"
      "\n"
      R"({"resourceType":"Patient","id":"p2","identifier":[{"system":"urn:mrn","value":"M2"}]})"
      "\n"
      R"({"resourceType":"Patient","id":"p3","identifier":[{"system":"urn:mrn","value":"M2"}]})"
      "\n");
  MustIngest(dir / "lake", {dir / "r1"});
  auto entry = [](std::string_view request) {
    return std::string(R"({"resource":{"resourceType":"Patient",)"
                       R"("identifier":[{"system":"urn:mrn","value":"M1"}]},"request":)") +
           std::string(request) + "}";
  };
  WriteText(
      dir / "r2/tx.json",
      R"({"resourceType":"Bundle","type":"transaction","entry":[)" +
          entry(
              R"({"method":"POST","url":"Patient","ifNoneExist":"Patient?identifier=urn:mrn|M1"})") +
          "," +
          entry(
              R"({"method":"POST","url":"Patient","ifNoneExist":"identifier=urn%3Amrn%7CM1&_tag=x"})") +
          "," + entry(R"({"method":"PUT","url":"Patient?identifier=urn:mrn|M1&active=true"})") +
          "," + entry(R"({"method":"PUT","url":"Observation?identifier=urn:mrn|M1"})") + "," +
          entry(R"({"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:mrn|M2"})") +
          "," + entry(R"({"method":"PUT","url":"Patient?identifier=urn:mrn|M2"})") + "]}");
  auto r = MustIngest(dir / "lake", {dir / "r2"});
  ExpectReconciles(r);
  EXPECT_EQ(r.counters.records_read, 6u);
  EXPECT_EQ(r.counters.stored, 0u);
  EXPECT_EQ(r.counters.duplicates, 1u);
  EXPECT_EQ(r.counters.quarantined, 5u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->patients, 3u);
  int unsupported = 0, several = 0;
  for (const auto& e : QuarantineOf(dir / "lake", 5)) {
    unsupported += e.reason.find("condition medlake does not evaluate") != std::string::npos;
    several += e.reason.find("matches several resources") != std::string::npos;
  }
  EXPECT_EQ(unsupported, 3);
  EXPECT_EQ(several, 2);
}

// Gives the lake at `lake` a key first when `keyed` (as `medlake init` does): a test then runs
// the same records through a lake with a key and one without.
void KeyLakeIf(bool keyed, const std::string& lake) {
  if (keyed) {
    ASSERT_TRUE(privacy::KeyStore::Create(lake).ok());
  }
}

// A resource whose Patient is named by a conditional reference that matches no single
// Patient is quarantined, with or without a key: stored, it was filed in the shared area, out of
// its patient's data, unseen by every per-patient query, and no report said which it was. Once
// the Patient is in the lake the same record is stored under them. A conditional reference
// outside the compartment paths (focus) stays as written, as before.
TEST(IngestTest, AnUnresolvedPatientReferenceIsQuarantined) {
  for (bool keyed : {false, true}) {
    SCOPED_TRACE(keyed ? "keyed" : "plain");
    TempDir dir;
    ASSERT_NO_FATAL_FAILURE(KeyLakeIf(keyed, dir / "lake"));
    WriteText(
        dir / "obs/Observation.ndjson",
        R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},)"
        R"("subject":{"reference":"Patient?identifier=urn:mrn|M7"}})"
        "\n"
        R"({"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},)"
        R"("focus":[{"reference":"Patient?identifier=urn:mrn|M7"}]})"
        "\n"
        R"({"resourceType":"Observation","id":"o3","status":"final","code":{"text":"x"},)"
        R"("subject":{"reference":"https://fhir.example.org/r4/Patient?identifier=urn:mrn|M7"}})"
        "\n");
    auto r = MustIngest(dir / "lake", {dir / "obs"});
    ExpectReconciles(r);
    EXPECT_EQ(r.counters.stored, 1u);
    EXPECT_EQ(r.counters.quarantined, 2u);
    for (const auto& e : QuarantineOf(dir / "lake", 2)) {
      EXPECT_TRUE(e.line == 1 || e.line == 3) << e.line;
      EXPECT_TRUE(e.reason.starts_with("subject names a Patient that could not be found"))
          << e.reason;
      EXPECT_EQ(e.reason.find("M7"), std::string::npos);
    }
    WriteText(
        dir / "pat/Patient.ndjson",
        R"({"resourceType":"Patient","id":"p7","identifier":[{"system":"urn:mrn","value":"M7"}]})"
        "\n");
    MustIngest(dir / "lake", {dir / "pat"});
    auto again = MustIngest(dir / "lake", {dir / "obs"});
    EXPECT_EQ(again.counters.quarantined, 0u);
    auto lake = Lake::Open(dir / "lake");
    ASSERT_TRUE(lake.ok());
    EXPECT_EQ((*lake)->Status()->resources["Observation"], 3u);
    // The absolute one too, after its base: to the lake's Patient, as a relative one.
    if (!keyed) {
      auto o3 = (*lake)->Get("Observation", "o3");
      ASSERT_TRUE(o3.ok()) << o3.status().ToString();
      EXPECT_NE(o3->find(R"("subject":{"reference":"Patient/p7"})"), std::string::npos) << *o3;
    }
  }
}

// A subject that names a Patient in a form FHIR does not allow is one that cannot be found,
// with or without a key: "Patient/p18/", "patient/p18", " Patient/p18", "Patient/p 18",
// "Patient/", and text whose `type` says Patient were filed in the shared area, as about no
// patient (a review). A contained Patient ("#p") and another type stay there as before.
TEST(IngestTest, AMalformedPatientReferenceIsQuarantined) {
  for (bool keyed : {false, true}) {
    SCOPED_TRACE(keyed ? "keyed" : "plain");
    TempDir dir;
    ASSERT_NO_FATAL_FAILURE(KeyLakeIf(keyed, dir / "lake"));
    std::string lines = R"({"resourceType":"Patient","id":"p18"})"
                        "\n";
    int n = 0;
    auto observation = [&](const std::string& subject) {
      lines += R"({"resourceType":"Observation","id":"o)" + std::to_string(++n) +
               R"(","status":"final","code":{"text":"x"},"subject":)" + subject + "}\n";
    };
    for (const char* malformed : {"Patient/p18/", "patient/p18", " Patient/p18", "Patient/p 18",
                                  "Patient/", "http://h.org/fhir/PATIENT/p18/"}) {
      observation(std::string(R"({"reference":")") + malformed + R"("})");
    }
    observation(R"({"type":"Patient","reference":"p18"})");
    observation(R"({"reference":"#p"})");
    observation(R"({"reference":"Group/g1"})");
    observation(R"({"reference":"Patient/p18"})");
    WriteText(dir / "in/all.ndjson", lines);
    auto r = MustIngest(dir / "lake", {dir / "in"});
    ExpectReconciles(r);
    EXPECT_EQ(r.counters.stored, 4u);
    EXPECT_EQ(r.counters.quarantined, 7u);
    for (const auto& e : QuarantineOf(dir / "lake", 7)) {
      EXPECT_GE(e.line, 2);
      EXPECT_LE(e.line, 8);
      EXPECT_TRUE(e.reason.starts_with("subject names a Patient that could not be found"))
          << e.reason;
      EXPECT_EQ(e.reason.find("p18"), std::string::npos) << e.reason;
    }
  }
}

// The first element that references a Patient decides: an Observation whose subject cannot be
// found is quarantined even when its performer is a known Patient (it was filed under the
// performer); a Group naming a known Patient and one that cannot be found is about several
// (shared area); a urn:uuid outside any Bundle names nothing; one patient found: theirs.
TEST(IngestTest, TheFirstElementNamingAPatientDecides) {
  TempDir dir;
  WriteText(dir / "pat/Patient.ndjson", R"({"resourceType":"Patient","id":"p1"})"
                                        "\n");
  MustIngest(dir / "lake", {dir / "pat"});
  auto obs = [](const std::string& id, const std::string& rest) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","code":{"text":"x"},)" + rest + "}\n";
  };
  WriteText(dir / "in/x.ndjson",
            obs("subject-lost", R"("subject":{"reference":"Patient?identifier=urn:mrn|NOPE"},)"
                                R"("performer":[{"reference":"Patient/p1"}])") +
                obs("uuid-alone",
                    R"("subject":{"reference":"urn:uuid:0b0b0b0b-0000-4000-8000-000000000001",)"
                    R"("type":"Patient"})") +
                obs("uuid-untyped",
                    R"("subject":{"reference":"urn:uuid:0b0b0b0b-0000-4000-8000-000000000002"},)"
                    R"("performer":[{"reference":"Patient/p1"}])") +
                obs("query-holds-patient",
                    R"("subject":{"reference":"Patient?identifier=http://h.org/ns/Patient/p1"})") +
                obs("performer-lost",
                    R"("subject":{"reference":"Patient/p1"},)"
                    R"("performer":[{"reference":"Patient?identifier=urn:mrn|NOPE"}])") +
                obs("group-subject", R"("subject":{"reference":"Group/g1"},)"
                                     R"("performer":[{"reference":"Patient/p1"}])") +
                R"({"resourceType":"Group","id":"g-mixed","type":"person","actual":true,"member":[)"
                R"({"entity":{"reference":"Patient/p1"}},)"
                R"({"entity":{"reference":"Patient?identifier=urn:mrn|NOPE"}}]})"
                "\n");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  ExpectReconciles(r);
  EXPECT_EQ(r.counters.stored, 4u);
  EXPECT_EQ(r.counters.quarantined, 3u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  std::map<std::string, uint32_t> patient;
  ASSERT_TRUE(
      (*lake)
          ->Scan(
              "", [&](const ResourceView& v) { patient[std::string(v.id)] = v.patient; }, nullptr)
          .ok());
  EXPECT_FALSE(patient.contains("subject-lost"));
  EXPECT_FALSE(patient.contains("uuid-alone"));
  EXPECT_FALSE(patient.contains("query-holds-patient"));  // not Patient/p1: its query's text
  EXPECT_EQ(patient["uuid-untyped"], patient["p1"]);      // may be no Patient: performer decides
  EXPECT_EQ(patient["performer-lost"], patient["p1"]);
  EXPECT_EQ(patient["group-subject"], patient["p1"]);  // a Group is no Patient: performer decides
  EXPECT_EQ(patient["g-mixed"], store::kNoPatient);
}

TEST(IngestTest, ConditionalReferencesResolveOnlyToASingleMatch) {
  TempDir dir;
  // In one Bundle: a Patient known only by its urn:uuid fullUrl, two Practitioners sharing an
  // identifier, and an Observation referring to each conditionally.
  WriteText(dir / "in/bundle.json", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},
      "subject":{"reference":"Patient?identifier=http://mrn|M1"},
      "performer":[{"reference":"Practitioner?identifier=http://npi|N1"}]}},
    {"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111",
     "resource":{"resourceType":"Patient","identifier":[{"system":"http://mrn","value":"M1"}]}},
    {"resource":{"resourceType":"Practitioner","id":"dr1","identifier":[{"system":"http://npi","value":"N1"}]}},
    {"resource":{"resourceType":"Practitioner","id":"dr2","identifier":[{"system":"http://npi","value":"N1"}]}}]})");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(r.counters.stored, 4u);
  EXPECT_EQ(r.unresolved_references, 1u);  // the ambiguous one, counted once
  {
    auto lake = Lake::Open(dir / "lake");
    auto obs = (*lake)->Get("Observation", "o1");
    ASSERT_TRUE(obs.ok());
    EXPECT_NE(obs->find(R"("reference":"Patient/11111111-1111-1111-1111-111111111111")"),
              std::string::npos)
        << *obs;
    EXPECT_NE(obs->find(R"("reference":"Practitioner?identifier=http://npi|N1")"),
              std::string::npos)
        << *obs;
  }
  // In a later run, against the lake: the identifier two Practitioners carry matches neither.
  WriteText(dir / "later/Observation.ndjson",
            R"({"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},)"
            R"("performer":[{"reference":"Practitioner?identifier=http://npi|N1"}]})"
            "\n");
  auto later = MustIngest(dir / "lake", {dir / "later"});
  EXPECT_EQ(later.unresolved_references, 1u);
  auto lake = Lake::Open(dir / "lake");
  auto obs = (*lake)->Get("Observation", "o2");
  ASSERT_TRUE(obs.ok());
  EXPECT_NE(obs->find("Practitioner?identifier="), std::string::npos) << *obs;
}

// Only a stored version registers its identifiers: an older version of a Patient, which loses
// to the stored one in the same run or in a later one, carries an identifier that no stored
// Patient has, and a conditional reference to it stays unresolved.
TEST(IngestTest, IdentifiersOfALosingVersionAreNotRegistered) {
  TempDir dir;
  auto patient = [](const std::string& updated, const std::string& mrn) {
    return R"({"resourceType":"Patient","id":"p1","meta":{"lastUpdated":")" + updated +
           R"("},"identifier":[{"system":"http://mrn","value":")" + mrn + R"("}]})" + "\n";
  };
  auto obs = [](const std::string& id, const std::string& mrn) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","code":{"text":"x"},"focus":[{"reference":)" +
           R"("Patient?identifier=http://mrn|)" + mrn + R"("}]})" + "\n";
  };
  WriteText(dir / "r1/Patient.ndjson",
            patient("2022-01-01T00:00:00Z", "200") + patient("2020-01-01T00:00:00Z", "100"));
  WriteText(dir / "r1/Observation.ndjson", obs("o1", "100") + obs("o2", "200"));
  auto r1 = MustIngest(dir / "lake", {dir / "r1"});
  EXPECT_EQ(r1.counters.stored, 3u);
  EXPECT_EQ(r1.unresolved_references, 1u);
  WriteText(dir / "r2/Patient.ndjson", patient("2019-01-01T00:00:00Z", "300"));
  WriteText(dir / "r3/Observation.ndjson", obs("o3", "300"));
  MustIngest(dir / "lake", {dir / "r2"});
  auto r3 = MustIngest(dir / "lake", {dir / "r3"});
  EXPECT_EQ(r3.unresolved_references, 1u);
  auto lake = Lake::Open(dir / "lake");
  for (const char* id : {"o1", "o3"}) {
    auto o = (*lake)->Get("Observation", id);
    ASSERT_TRUE(o.ok());
    EXPECT_NE(o->find("Patient?identifier="), std::string::npos) << *o;
  }
  auto o2 = (*lake)->Get("Observation", "o2");
  ASSERT_TRUE(o2.ok());
  EXPECT_NE(o2->find(R"("reference":"Patient/p1")"), std::string::npos) << *o2;
}

// Identifiers held for conditional references bring a checkpoint when they reach
// checkpoint_identifiers (memory had grown with them: 1.4 GB for 1.6 million). Committed
// between the two Patient files, an identifier both carry is still ambiguous, and the lake is
// the one a single commit makes.
TEST(IngestTest, ACheckpointByIdentifiersKeepsConditionalReferences) {
  TempDir dir;
  auto patient = [](int i, const std::string& team) {
    return R"({"resourceType":"Patient","id":"p)" + std::to_string(i) +
           R"(","identifier":[{"system":"http://mrn","value":"M)" + std::to_string(i) +
           R"("},{"system":"urn:team","value":")" + team + R"("}]})" + "\n";
  };
  auto obs = [](const std::string& id, const std::string& query) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","code":{"text":"x"},"focus":[{"reference":"Patient?)" + query +
           R"("}]})" + "\n";
  };
  std::string a;
  std::string b;
  for (int i = 0; i < 20; ++i) a += patient(i, i == 0 ? "T" : "A" + std::to_string(i));
  for (int i = 20; i < 40; ++i) b += patient(i, i == 39 ? "T" : "B" + std::to_string(i));
  WriteText(dir / "in/Patient-a.ndjson", a);
  WriteText(dir / "in/Patient-b.ndjson", b);
  WriteText(dir / "in/Observation.ndjson",
            obs("mrn", "identifier=http://mrn|M25") + obs("shared", "identifier=urn:team|T") +
                obs("any", "identifier=B30") + obs("anyshared", "identifier=T"));
  for (uint64_t every : {uint64_t{1} << 18, uint64_t{1}}) {
    SCOPED_TRACE("checkpoint_identifiers " + std::to_string(every));
    TempDir run;
    IngestOptions options;
    options.checkpoint_identifiers = every;
    auto r = Ingest(run / "lake", {dir / "in"}, options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectReconciles(*r);
    EXPECT_EQ(r->counters.stored, 44u);
    EXPECT_EQ(r->checkpoints > 0, every == 1) << r->checkpoints;
    EXPECT_EQ(r->unresolved_references, 2u);
    auto lake = Lake::Open(run / "lake");
    for (auto [id, patient] : {std::pair{"mrn", "p25"}, std::pair{"any", "p30"}}) {
      auto o = (*lake)->Get("Observation", id);
      ASSERT_TRUE(o.ok());
      EXPECT_NE(o->find(std::string(R"("reference":"Patient/)") + patient + "\""),
                std::string::npos)
          << *o;
    }
    for (const char* id : {"shared", "anyshared"}) {
      auto o = (*lake)->Get("Observation", id);
      ASSERT_TRUE(o.ok());
      EXPECT_NE(o->find("Patient?identifier="), std::string::npos) << *o;
    }
    auto again = Ingest(run / "lake", {dir / "in"}, options);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->counters.stored, 0u);
  }
}

// A checkpoint that identifiers bring falls at the same chunk whatever the threads, and with
// it the batches that conditional references see. 20,000 Organizations, each naming the one
// 300 before it by identifier, in chunks of about 64 KiB: a reference resolves only when its
// target is in an earlier batch, so which ones resolve tells where the checkpoints fell. They
// fell where the worker threads happened to be (a count read while they registered).
TEST(IngestTest, CheckpointsByIdentifiersFallAtTheSameChunkWhateverTheThreads) {
  TempDir dir;
  constexpr int kOrganizations = 20'000, kBack = 300;
  std::string input;
  for (int i = 0; i < kOrganizations; ++i) {
    input += R"({"resourceType":"Organization","id":"o)" + std::to_string(i) +
             R"(","identifier":[{"system":"urn:org","value":"V)" + std::to_string(i) + R"("}])";
    if (i >= kBack) {
      input += R"(,"partOf":{"reference":"Organization?identifier=urn:org|V)" +
               std::to_string(i - kBack) + R"("})";
    }
    input += R"(,"name":")" + std::string(100, 'n') + "\"}\n";
  }
  WriteText(dir / "in/Organization.ndjson", input);
  // For each Organization that names another, the reference as stored.
  using PartOf = std::map<std::string, std::string>;
  std::optional<PartOf> first;
  uint64_t first_checkpoints = 0;
  for (int jobs : {1, 2, 4, 2}) {
    SCOPED_TRACE("jobs " + std::to_string(jobs));
    TempDir run;
    IngestOptions options;
    options.jobs = jobs;
    options.chunk_bytes = 4096;  // ChunkSource still reads 64 KiB at least
    options.checkpoint_identifiers = 1'500;
    auto r = Ingest(run / "lake", {dir / "in"}, options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectReconciles(*r);
    EXPECT_EQ(r->counters.stored, static_cast<uint64_t>(kOrganizations));
    EXPECT_GE(r->checkpoints, 2u);
    PartOf part_of;
    auto lake = Lake::Open(run / "lake");
    ASSERT_TRUE(lake.ok());
    ASSERT_TRUE((*lake)
                    ->Scan(
                        "Organization",
                        [&](const ResourceView& v) {
                          const size_t at = v.json.find(R"("partOf":{"reference":")");
                          if (at == std::string_view::npos) return;
                          const size_t start = at + 23;
                          part_of[std::string(v.id)] =
                              std::string(v.json.substr(start, v.json.find('"', start) - start));
                        },
                        nullptr)
                    .ok());
    size_t resolved = 0;
    for (const auto& [id, reference] : part_of) resolved += reference.starts_with("Organization/");
    // Those at the start of each batch after the first resolve; the others cannot.
    EXPECT_GT(resolved, 0u);
    EXPECT_LT(resolved, part_of.size());
    EXPECT_EQ(r->unresolved_references, part_of.size() - resolved);
    if (!first) {
      first = std::move(part_of);
      first_checkpoints = r->checkpoints;
      continue;
    }
    EXPECT_EQ(r->checkpoints, first_checkpoints);
    size_t differ = 0;
    for (const auto& [id, reference] : part_of) differ += first->at(id) != reference;
    EXPECT_EQ(differ, 0u) << "references resolved otherwise than with one thread";
  }
}

// A Bundle is one chunk of any size: fewer than 16 large ones never reached the 15 chunks after
// the budget, and made one batch whatever their identifiers (1.2 GB for 14 Bundles of 30,000
// Patients). Once the last chunks hold IngestOptions::whole_files_in_delay bytes of such files
// the batch ends, and brings the checkpoint; where does not depend on the threads.
TEST(IngestTest, LargeBundlesBringTheCheckpointsOfTheirIdentifiers) {
  TempDir dir;
  constexpr int kBundles = 8, kPatients = 400;
  for (int b = 0; b < kBundles; ++b) {
    std::string entries;
    for (int k = 0; k < kPatients; ++k) {
      const std::string i = std::to_string(b * kPatients + k);
      if (!entries.empty()) entries += ",";
      entries += R"({"fullUrl":"urn:uuid:p)" + i +
                 R"(","resource":{"resourceType":"Patient","id":"p)" + i +
                 R"(","identifier":[{"system":"urn:mrn","value":"M)" + i +
                 R"("}]},"request":{"method":"PUT","url":"Patient/p)" + i + R"("}})";
    }
    // Each Bundle's Observation names a Patient of the Bundle before by identifier: it resolves
    // only when a batch ends between the two.
    const std::string target = std::to_string(b == 0 ? 0 : (b - 1) * kPatients);
    entries += R"(,{"resource":{"resourceType":"Observation","id":"o)" + std::to_string(b) +
               R"(","status":"final","code":{"text":"x"},"focus":[{"reference":)"
               R"("Patient?identifier=urn:mrn|M)" +
               target + R"("}]},"request":{"method":"PUT","url":"Observation/o)" +
               std::to_string(b) + R"("}})";
    WriteText(dir / ("in/b" + std::to_string(b) + ".json"),
              R"({"resourceType":"Bundle","type":"transaction","entry":[)" + entries + "]}");
  }
  const uint64_t bundle_bytes = std::filesystem::file_size(dir / "in/b0.json");
  std::optional<uint64_t> first_unresolved;
  for (int jobs : {1, 2, 4}) {
    SCOPED_TRACE("jobs " + std::to_string(jobs));
    TempDir run;
    IngestOptions options;
    options.jobs = jobs;
    options.checkpoint_identifiers = kPatients;       // reached by every Bundle
    options.whole_files_in_delay = 2 * bundle_bytes;  // a batch of two Bundles
    auto r = Ingest(run / "lake", {dir / "in"}, options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectReconciles(*r);
    EXPECT_EQ(r->counters.stored, static_cast<uint64_t>(kBundles * (kPatients + 1)));
    EXPECT_EQ(r->checkpoints, kBundles / 2 - 1);  // the last batch's is the final commit
    // The Observation of the second Bundle of each batch names a Patient of the first: it stays
    // unresolved. The first Bundle's names one of its own entries, which a Bundle resolves.
    EXPECT_EQ(r->unresolved_references, kBundles / 2);
    if (!first_unresolved) first_unresolved = r->unresolved_references;
    EXPECT_EQ(r->unresolved_references, *first_unresolved);
  }
}

// The same with the older version read first, in another file: with one thread it is
// admitted before the newer one replaces it, with two after. Either way its identifier is not
// registered (it was with one thread), so the lake does not depend on the threads.
TEST(IngestTest, IdentifiersOfAVersionReplacedInTheSameBatchDoNotDependOnThreads) {
  for (int jobs : {1, 2}) {
    SCOPED_TRACE("jobs " + std::to_string(jobs));
    TempDir dir;
    std::string filler;
    for (int i = 0; i < 9000; ++i) filler += Obs("f" + std::to_string(i), "q", "70") + "\n";
    WriteText(
        dir / "in/x.ndjson",
        filler +
            R"({"resourceType":"Patient","id":"p","meta":{"lastUpdated":"2020-01-01T00:00:00Z"},)"
            R"("identifier":[{"system":"http://ex.org/mrn","value":"OLD-A"}]})" +
            "\n");
    WriteText(
        dir / "in/y.ndjson",
        Obs("y1", "q", "70") + "\n" +
            R"({"resourceType":"Patient","id":"p","meta":{"lastUpdated":"2021-01-01T00:00:00Z"},)"
            R"("identifier":[{"system":"http://ex.org/mrn","value":"NEW-B"}]})" +
            "\n");
    IngestOptions options;
    options.jobs = jobs;
    auto first = Ingest(dir / "lake", {dir / "in/x.ndjson", dir / "in/y.ndjson"}, options);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    WriteText(dir / "later/c.ndjson",
              R"({"resourceType":"Observation","id":"check","status":"final","code":{"text":"x"},)"
              R"("focus":[{"reference":"Patient?identifier=http://ex.org/mrn|OLD-A"}]})"
              "\n"
              R"({"resourceType":"Observation","id":"check2","status":"final","code":{"text":"x"},)"
              R"("focus":[{"reference":"Patient?identifier=http://ex.org/mrn|NEW-B"}]})"
              "\n");
    auto later = MustIngest(dir / "lake", {dir / "later"});
    EXPECT_EQ(later.unresolved_references, 1u);
    auto lake = Lake::Open(dir / "lake");
    EXPECT_NE((*lake)->Get("Observation", "check")->find("Patient?identifier="), std::string::npos);
    EXPECT_NE((*lake)->Get("Observation", "check2")->find(R"("reference":"Patient/p")"),
              std::string::npos);
  }
}

// Identifiers are told apart by system and value, whatever '|' they hold: system "urn:a|b"
// with value "c" is not system "urn:a" with value "b|c". A conditional reference splits at its
// first '|' (FHIR token search), so "urn:a|b|c" names the second, in the run that registers
// them and, through the catalog, in a later one.
TEST(IngestTest, IdentifiersWithBarsInSystemOrValueStayApart) {
  TempDir dir;
  WriteText(
      dir / "first/Patient.ndjson",
      R"({"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:a|b","value":"c"}]})"
      "\n"
      R"({"resourceType":"Patient","id":"p2","identifier":[{"system":"urn:a","value":"b|c"}]})"
      "\n");
  const std::string obs = R"("status":"final","code":{"text":"x"},)"
                          R"("subject":{"reference":"Patient?identifier=urn:a|b|c"}})";
  WriteText(dir / "first/Observation.ndjson",
            R"({"resourceType":"Observation","id":"o1",)" + obs + "\n");
  auto first = MustIngest(dir / "lake", {dir / "first"});
  EXPECT_EQ(first.counters.stored, 3u);
  EXPECT_EQ(first.unresolved_references, 0u);
  WriteText(dir / "later/Observation.ndjson",
            R"({"resourceType":"Observation","id":"o2",)" + obs + "\n");
  auto later = MustIngest(dir / "lake", {dir / "later"});
  EXPECT_EQ(later.unresolved_references, 0u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  for (const char* id : {"o1", "o2"}) {
    auto json = (*lake)->Get("Observation", id);
    ASSERT_TRUE(json.ok()) << id;
    EXPECT_NE(json->find(R"("reference":"Patient/p2")"), std::string::npos) << id;
  }
}

// A conditional reference without a system ("Patient?identifier=M9") matches the value in any
// system, as FHIR token search does, against the lake as within a Bundle: in the run that
// registers the identifier (memory) and in later ones (the catalog), and only while a single
// resource carries that value; "|M9" matches identifiers without a system only.
TEST(IngestTest, AConditionalReferenceWithoutASystemMatchesAnySystem) {
  TempDir dir;
  auto patient = [](const std::string& id, const std::string& system, const std::string& value) {
    return R"({"resourceType":"Patient","id":")" + id + R"(","identifier":[{"system":")" + system +
           R"(","value":")" + value + R"("}]})" + "\n";
  };
  auto obs = [](const std::string& id, const std::string& ref) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","code":{"text":"x"},"focus":[{"reference":")" + ref + R"("}]})" +
           "\n";
  };
  WriteText(dir / "run1/Patient.ndjson",
            patient("pa", "http://mrn", "M9") + patient("pb", "urn:other", "M8"));
  WriteText(dir / "run1/Observation.ndjson", obs("o1", "Patient?identifier=M8"));
  auto first = MustIngest(dir / "lake", {dir / "run1"});
  EXPECT_EQ(first.unresolved_references, 0u);
  WriteText(dir / "run2/Observation.ndjson",
            obs("o2", "Patient?identifier=M9") + obs("o3", "Patient?identifier=%7CM9"));
  auto second = MustIngest(dir / "lake", {dir / "run2"});
  EXPECT_EQ(second.unresolved_references, 1u);  // "|M9": no identifier without a system
  // A second resource with value M9, in another system: no single match any more.
  WriteText(dir / "run3/Patient.ndjson", patient("pc", "urn:x", "M9"));
  WriteText(dir / "run3/Observation.ndjson", obs("o4", "Patient?identifier=M9"));
  auto third = MustIngest(dir / "lake", {dir / "run3"});
  EXPECT_EQ(third.unresolved_references, 1u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto subject = [&](const char* id) {
    auto json = (*lake)->Get("Observation", id);
    EXPECT_TRUE(json.ok()) << id;
    return json.ok() ? *json : std::string();
  };
  EXPECT_NE(subject("o1").find(R"("reference":"Patient/pb")"), std::string::npos);
  EXPECT_NE(subject("o2").find(R"("reference":"Patient/pa")"), std::string::npos);
  EXPECT_NE(subject("o3").find("identifier=%7CM9"), std::string::npos);
  EXPECT_NE(subject("o4").find("identifier=M9"), std::string::npos);
}

// The reference key is searched 32 bytes at a time (FindRefKey, fhir_reader.cc): a reference at
// every offset of the search window, after look-alikes of the two bytes the search tests ('f'
// and ':' eight bytes apart), in a Bundle and in NDJSON, is found and resolved.
TEST(IngestTest, ReferencesAreFoundAtEveryOffset) {
  TempDir dir;
  constexpr int kOffsets = 80;
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[)"
                       R"({"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111",)"
                       R"("resource":{"resourceType":"Patient","id":"pat-1",)"
                       R"("identifier":[{"system":"http://mrn","value":"M1"}]}})";
  std::string ndjson;
  for (int k = 0; k < kOffsets; ++k) {
    std::string pad(static_cast<size_t>(k), 'x');
    std::string decoy = R"("note":"f1234567:f_reference:",)";
    std::string head = R"({"resourceType":"Observation","id":"o)" + std::to_string(k) + R"(",)" +
                       decoy + R"("pad":")" + pad + R"(","status":"final","code":{"text":"x"},)";
    bundle += R"(,{"resource":)" + head +
              R"("subject":{"reference":"urn:uuid:11111111-1111-1111-1111-111111111111"}}})";
    ndjson += R"({"resourceType":"Observation","id":"n)" + std::to_string(k) + R"(",)" + decoy +
              R"("pad":")" + pad + R"(","status":"final","code":{"text":"x"},)" +
              R"("subject":{"reference":"Patient?identifier=http://mrn|M1"}})" + "\n";
  }
  bundle += "]}";
  WriteText(dir / "in/a_bundle.json", bundle);
  WriteText(dir / "later/Observation.ndjson", ndjson);
  auto r = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(r.counters.stored, kOffsets + 1u);
  auto later = MustIngest(dir / "lake", {dir / "later"});
  EXPECT_EQ(later.counters.stored, static_cast<uint64_t>(kOffsets));
  EXPECT_EQ(later.unresolved_references, 0u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  for (int k = 0; k < kOffsets; ++k) {
    for (const char* prefix : {"o", "n"}) {
      auto obs = (*lake)->Get("Observation", prefix + std::to_string(k));
      ASSERT_TRUE(obs.ok()) << prefix << k;
      EXPECT_NE(obs->find(R"("subject":{"reference":"Patient/pat-1"})"), std::string::npos)
          << prefix << k << ": " << *obs;
    }
  }
}

// A reference written with JSON escapes means what it decodes to ('/' escaped as "\/" by
// serializers such as PHP's, "\u002d" for '-'): it matches its fullUrl, and a conditional
// one resolves, as written plainly.
TEST(IngestTest, EscapedReferencesResolveLikePlainOnes) {
  TempDir dir;
  WriteText(dir / "in/bundle.json", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"http:\/\/example.org\/fhir\/Patient\/a1",
     "resource":{"resourceType":"Patient","id":"a1",
       "identifier":[{"system":"http://s","value":"V1"}]}},
    {"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111",
     "resource":{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},
       "subject":{"reference":"http:\/\/example.org\/fhir\/Patient\/a1"}}},
    {"resource":{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},
       "subject":{"reference":"http:\/\/example.org\/fhir\/Patient\/a1"},
       "encounter":{"reference":"urn:uuid:11111111\u002d1111-1111-1111-111111111111"}}}]})");
  WriteText(dir / "later/Observation.ndjson",
            R"({"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},)"
            R"("subject":{"reference":"Patient?identifier=http:\/\/s%7CV1"}})"
            "\n");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(r.counters.stored, 3u);
  auto later = MustIngest(dir / "lake", {dir / "later"});
  EXPECT_EQ(later.unresolved_references, 0u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  for (const char* id : {"o1", "o2"}) {
    auto obs = (*lake)->Get("Observation", id);
    ASSERT_TRUE(obs.ok()) << id;
    EXPECT_NE(obs->find(R"("subject":{"reference":"Patient/a1"})"), std::string::npos) << *obs;
  }
  auto o1 = (*lake)->Get("Observation", "o1");
  EXPECT_NE(o1->find(R"("reference":"Encounter/11111111-1111-1111-1111-111111111111")"),
            std::string::npos)
      << *o1;
}

// UUIDs are compared without regard to case (RFC 4122): a reference in upper case names the
// entry whose fullUrl is in lower case, and the other way round.
TEST(IngestTest, AUuidOrOidReferenceMatchesItsFullUrlInAnyCase) {
  TempDir dir;
  WriteText(dir / "in/bundle.json", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:bbbbbbbb-0000-4000-8000-00000000000a",
     "resource":{"resourceType":"Patient","id":"lower1"}},
    {"fullUrl":"URN:UUID:CCCCCCCC-0000-4000-8000-00000000000B",
     "resource":{"resourceType":"Patient","id":"upper1"}},
    {"fullUrl":"URN:UUID:DDDDDDDD-0000-4000-8000-00000000000C",
     "resource":{"resourceType":"Patient"}},
    {"resource":{"resourceType":"Observation","id":"o3","status":"final","code":{"text":"x"},
       "subject":{"reference":"urn:uuid:dddddddd-0000-4000-8000-00000000000c"}}},
    {"resource":{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},
       "subject":{"reference":"urn:uuid:BBBBBBBB-0000-4000-8000-00000000000A"}}},
    {"resource":{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},
       "subject":{"reference":"urn:uuid:cccccccc-0000-4000-8000-00000000000b"}}},
    {"fullUrl":"URN:OID:2.999.7","resource":{"resourceType":"Patient"}},
    {"resource":{"resourceType":"Observation","id":"o4","status":"final","code":{"text":"x"},
       "subject":{"reference":"urn:oid:2.999.7"}}}]})");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  ExpectReconciles(r);
  EXPECT_EQ(r.counters.stored, 8u);
  EXPECT_EQ(r.unresolved_references, 0u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  // An entry without an id takes its UUID in lower case, RFC 4122's form.
  const char* implied = "dddddddd-0000-4000-8000-00000000000c";
  EXPECT_TRUE((*lake)->Get("Patient", implied).ok());
  // "urn" and "oid" are read in any case too (RFC 8141); the OID is the id.
  EXPECT_TRUE((*lake)->Get("Patient", "2.999.7").ok());
  for (auto [obs_id, patient] : {std::pair{"o1", "lower1"}, std::pair{"o2", "upper1"},
                                 std::pair{"o3", implied}, std::pair{"o4", "2.999.7"}}) {
    auto obs = (*lake)->Get("Observation", obs_id);
    ASSERT_TRUE(obs.ok()) << obs_id;
    EXPECT_NE(obs->find(std::string(R"("reference":"Patient/)") + patient + '"'), std::string::npos)
        << *obs;
  }
}

// In a bulk export Observation.ndjson sorts before Patient.ndjson: Patient files are read in
// a wave of their own before the others, so conditional references to Patients resolve in the
// first run, and re-ingesting stores nothing (it stored the resolved version once more).
TEST(IngestTest, ConditionalReferencesToPatientsResolveWhateverTheFileOrder) {
  TempDir dir;
  WriteText(dir / "in/Observation.ndjson",
            R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},)"
            R"("subject":{"reference":"Patient?identifier=http://h|123"}})"
            "\n");
  WriteText(
      dir / "in/Patient.ndjson",
      R"({"resourceType":"Patient","id":"p1","identifier":[{"system":"http://h","value":"123"}]})"
      "\n");
  for (int pass = 0; pass < 2; ++pass) {
    auto r = MustIngest(dir / "lake", {dir / "in"});
    EXPECT_EQ(r.counters.stored, pass == 0 ? 2u : 0u) << pass;
    EXPECT_EQ(r.unresolved_references, 0u) << pass;
  }
  auto lake = Lake::Open(dir / "lake");
  auto obs = (*lake)->Get("Observation", "o1");
  ASSERT_TRUE(obs.ok());
  EXPECT_NE(obs->find(R"("reference":"Patient/p1")"), std::string::npos) << *obs;

  // The same with the Patients gzipped, their resourceType after a 20 KB photo.
  WriteText(dir / "gz/Observation.ndjson",
            R"({"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},)"
            R"("subject":{"reference":"Patient?identifier=http://h|456"}})"
            "\n");
  const std::string patient = R"({"photo":[{"data":")" + std::string(20000, 'A') +
                              R"("}],"resourceType":"Patient","id":"p2",)"
                              R"("identifier":[{"system":"http://h","value":"456"}]})"
                              "\n";
  gzFile gz = gzopen((dir / "gz/Patient.ndjson.gz").c_str(), "wb");
  gzwrite(gz, patient.data(), static_cast<unsigned>(patient.size()));
  gzclose(gz);
  for (int pass = 0; pass < 2; ++pass) {
    auto r = MustIngest(dir / "lake", {dir / "gz"});
    EXPECT_EQ(r.counters.stored, pass == 0 ? 2u : 0u) << pass;
    EXPECT_EQ(r.unresolved_references, 0u) << pass;
  }
}

// Conditional references to Patients of a Bundle file resolve whatever the file order and
// the number of threads: the Bundle, which starts with a Patient, is read in a wave of its
// own. And a reference never sees an identifier registered by another thread of its own
// batch (with 60,000 references, 2,316 to 60,000 were unresolved by --jobs 2 depending on
// the timing, and re-ingesting changed the lake).
TEST(IngestTest, ConditionalReferencesToBundlePatientsDoNotDependOnThreads) {
  TempDir dir;
  const int n = 3000;
  std::string bundle = R"({"resourceType":"Bundle","type":"collection","entry":[)";
  std::string obs;
  for (int i = 0; i < n; ++i) {
    std::string k = std::to_string(i);
    bundle += (i ? "," : "") + std::string(R"({"fullUrl":"urn:uuid:)") + k +
              R"(","resource":{"resourceType":"Patient","id":"q)" + k +
              R"(","identifier":[{"system":"http://mrn","value":"Q)" + k + R"("}]}})";
    obs +=
        R"({"resourceType":"Observation","id":"o)" + k +
        R"(","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=http://mrn|Q)" +
        k + "\"}}\n";
  }
  WriteText(dir / "in/z_patients.json", bundle + "]}");  // sorts after the Observations
  WriteText(dir / "in/a_obs.ndjson", obs);
  std::string first;
  for (int jobs : {1, 2}) {
    IngestOptions options;
    options.jobs = jobs;
    std::string lake = dir / ("lake" + std::to_string(jobs));
    auto r = Ingest(lake, {dir / "in"}, options);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->unresolved_references, 0u) << jobs;
    auto again = Ingest(lake, {dir / "in"}, options);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->counters.stored, 0u) << jobs;
    auto l = Lake::Open(lake);
    ASSERT_TRUE(l.ok());
    auto o = (*l)->Get("Observation", "o" + std::to_string(n - 1));
    ASSERT_TRUE(o.ok());
    EXPECT_NE(o->find(R"("reference":"Patient/q)" + std::to_string(n - 1) + "\""),
              std::string::npos)
        << *o;
  }
}

// A RESTful fullUrl that names another resource than its entry's ("Patient/p1" holding
// Observation ob9) does not retarget references to it (a subject became Observation/ob9);
// "|value" matches entries whose identifier has no system.
TEST(IngestTest, BundleFullUrlsAndIdentifiersMatchOnlyWhatTheyName) {
  TempDir dir;
  WriteText(dir / "in/b.json", R"({"resourceType":"Bundle","type":"collection","entry":[
    {"fullUrl":"http://srv/fhir/Patient/p1","resource":{"resourceType":"Observation","id":"ob9","status":"final","code":{"text":"x"}}},
    {"resource":{"resourceType":"Observation","id":"o7","status":"final","code":{"text":"x"},"subject":{"reference":"http://srv/fhir/Patient/p1"}}},
    {"resource":{"resourceType":"Observation","id":"o8","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=|E88"}}},
    {"resource":{"resourceType":"Patient","id":"pe","identifier":[{"value":"E88"}]}},
    {"resource":{"resourceType":"Observation","id":"o9","status":"final","code":{"text":"x"},"focus":[{"reference":"Patient?identifier=|E99"}]}},
    {"fullUrl":"urn:uuid:9d4b2c3e-1f5a-4e6b-8c7d-0a1b2c3d4e5f","resource":{"resourceType":"Patient","resourceType":"Patient","identifier":[{"value":"E99"}]}}]})");
  const IngestReport report = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(report.counters.quarantined, 1u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto o7 = (*lake)->Get("Observation", "o7");
  ASSERT_TRUE(o7.ok());
  EXPECT_EQ(o7->find("Observation/ob9"), std::string::npos) << *o7;
  auto o8 = (*lake)->Get("Observation", "o8");
  ASSERT_TRUE(o8.ok());
  EXPECT_NE(o8->find(R"("reference":"Patient/pe")"), std::string::npos) << *o8;
  // A Patient given its id by its fullUrl but quarantined (its type given twice): its
  // identifier names nothing stored.
  auto o9 = (*lake)->Get("Observation", "o9");
  ASSERT_TRUE(o9.ok());
  EXPECT_NE(o9->find(R"("reference":"Patient?identifier=|E99")"), std::string::npos) << *o9;
}

// Identifiers registered in a batch are seen by conditional references from the next batch
// on, not by the batch's own (other threads may or may not have registered them yet).
TEST(IngestTest, ConditionalReferencesSeeIdentifiersOfEarlierBatchesOnly) {
  TempDir dir;
  auto writer = store::LakeWriter::Open(dir / "lake");
  ASSERT_TRUE(writer.ok());
  (*writer)->set_isolate_batches(true);
  (*writer)->BeginBatch();
  (*writer)->AddIdentifiers("Patient", "p1", {{"http://h", "1"}});
  EXPECT_EQ((*writer)->ResolveIdentifier("Patient", "http://h", "1"), "");
  EXPECT_EQ((*writer)->ResolveIdentifier("Patient", std::nullopt, "1"), "");
  (*writer)->BeginBatch();
  EXPECT_EQ((*writer)->ResolveIdentifier("Patient", "http://h", "1"), "p1");
  EXPECT_EQ((*writer)->ResolveIdentifier("Patient", std::nullopt, "1"), "p1");
  // A second Patient with the identifier makes it ambiguous, from the next batch on.
  (*writer)->AddIdentifiers("Patient", "p2", {{"http://h", "1"}});
  EXPECT_EQ((*writer)->ResolveIdentifier("Patient", "http://h", "1"), "p1");
  (*writer)->BeginBatch();
  EXPECT_EQ((*writer)->ResolveIdentifier("Patient", "http://h", "1"), store::kAmbiguousIdentifier);
}

// An identifier names the resources whose stored version carries it: one that a new version
// dropped matches it no more, whether the versions came in one run or in several, and a
// resource that carries it afterwards is its one match.
TEST(IngestTest, IdentifiersDroppedByANewVersionNoLongerMatch) {
  TempDir dir;
  auto patient = [](const std::string& id, const std::string& identifiers) {
    return R"({"resourceType":"Patient","id":")" + id + R"(","identifier":[)" + identifiers +
           "]}\n";
  };
  const std::string mrn_a = R"({"system":"http://mrn","value":"A"})";
  const std::string mrn_b = R"({"system":"http://mrn","value":"B"})";
  auto referring = [](const std::string& id) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","code":{"text":"x"},)"
           R"("focus":[{"reference":"Patient?identifier=http://mrn|A"}]})"
           "\n";
  };
  WriteText(dir / "v1/Patient.ndjson", patient("p1", mrn_a));
  WriteText(dir / "v2/Patient.ndjson", patient("p1", mrn_b));
  WriteText(dir / "v3/Patient.ndjson", R"({"resourceType":"Patient","id":"p1"})"
                                       "\n");
  WriteText(dir / "o1/Observation.ndjson", referring("o1"));
  WriteText(dir / "p2/Patient.ndjson", patient("p2", mrn_a));
  WriteText(dir / "o2/Observation.ndjson", referring("o2"));
  auto subject = [&](const std::string& lake_dir, const std::string& id) {
    const std::string obs = StoredObservation(lake_dir, id);
    size_t at = obs.find(R"("focus":[{"reference":")");
    return at == std::string::npos ? std::string()
                                   : obs.substr(at + 23, obs.find('"', at + 23) - at - 23);
  };
  // Versions in two runs, then in one run; then a version without identifiers.
  for (const auto& runs : std::vector<std::vector<std::vector<std::string>>>{
           {{"v1"}, {"v2"}}, {{"v1", "v2"}}, {{"v1"}, {"v3"}}}) {
    const std::string lake = dir / ("lake" + std::to_string(runs.size()) + runs.back().back());
    for (const auto& run : runs) {
      std::vector<std::string> paths;
      for (const auto& in : run) paths.push_back(dir / in);
      MustIngest(lake, paths);
    }
    MustIngest(lake, {dir / "o1"});
    EXPECT_EQ(subject(lake, "o1"), "Patient?identifier=http://mrn|A") << lake;
    MustIngest(lake, {dir / "p2"});
    MustIngest(lake, {dir / "o2"});
    EXPECT_EQ(subject(lake, "o2"), "Patient/p2") << lake;
  }
}

// Erasing a Patient removes its identifiers, not those of a resource of another type that has
// the same id.
TEST(IngestTest, ErasingAPatientKeepsTheIdentifiersOfAnotherTypeWithItsId) {
  TempDir dir;
  WriteText(
      dir / "in/Practitioner.ndjson",
      R"({"resourceType":"Practitioner","id":"p1","identifier":[{"system":"npi","value":"N"}]})"
      "\n");
  WriteText(dir / "in/Patient.ndjson",
            R"({"resourceType":"Patient","id":"p1","identifier":[{"system":"mrn","value":"A"}]})"
            "\n");
  MustIngest(dir / "lake", {dir / "in"});
  ASSERT_TRUE(store::ErasePatient(dir / "lake", "p1").ok());
  WriteText(dir / "obs/Observation.ndjson",
            R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},)"
            R"("focus":[{"reference":"Patient?identifier=mrn|A"}],)"
            R"("performer":[{"reference":"Practitioner?identifier=npi|N"}]})"
            "\n");
  MustIngest(dir / "lake", {dir / "obs"});
  const std::string obs = StoredObservation(dir / "lake", "o1");
  EXPECT_NE(obs.find(R"("reference":"Practitioner/p1")"), std::string::npos) << obs;
  EXPECT_NE(obs.find("Patient?identifier=mrn|A"), std::string::npos) << obs;
}

// A new version registered at one batch's end that the lake's own version beats in a later
// batch (read again, later in the input): from the batch after that, the identifiers are the
// lake's version's again, as in a later run.
TEST(IngestTest, TheLakesVersionComingBackBringsItsIdentifiersBack) {
  TempDir dir;
  WriteText(dir / "v1/Patient.ndjson",
            R"({"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"A"}]})"
            "\n");
  MustIngest(dir / "lake", {dir / "v1"});
  WriteText(dir / "run/p_v2.ndjson",
            R"({"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"B"}]})"
            "\n");
  // A Bundle that starts with a Patient: a wave of its own, after the Patient NDJSON files.
  WriteText(dir / "run/q_back.json",
            R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":)"
            R"({"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"A"}]}}]})");
  WriteText(dir / "run/z_obs.ndjson",
            R"({"resourceType":"Observation","id":"oA","status":"final","code":{"text":"a"},)"
            R"("focus":[{"reference":"Patient?identifier=s|A"}]})"
            "\n"
            R"({"resourceType":"Observation","id":"oB","status":"final","code":{"text":"a"},)"
            R"("focus":[{"reference":"Patient?identifier=s|B"}]})"
            "\n");
  MustIngest(dir / "lake",
             {dir / "run/p_v2.ndjson", dir / "run/q_back.json", dir / "run/z_obs.ndjson"});
  const std::string a = StoredObservation(dir / "lake", "oA");
  const std::string b = StoredObservation(dir / "lake", "oB");
  EXPECT_NE(a.find(R"("reference":"Patient/p1")"), std::string::npos) << a;
  EXPECT_NE(b.find("Patient?identifier=s|B"), std::string::npos) << b;
}

// A conditional create (ifNoneExist) matches only what stored resources carry: a Patient whose
// identifier the lake's version of another Patient dropped is a new Patient, and holds the
// Observation that refers to it (it was taken for a duplicate, its Observation given to the
// other Patient).
TEST(IngestTest, AConditionalCreateDoesNotMatchADroppedIdentifier) {
  TempDir dir;
  WriteText(dir / "v1/Patient.ndjson",
            R"({"resourceType":"Patient","id":"p1","identifier":[{"system":"mrn","value":"A"}]})"
            "\n");
  WriteText(dir / "v2/Patient.ndjson",
            R"({"resourceType":"Patient","id":"p1","identifier":[{"system":"mrn","value":"B"}]})"
            "\n");
  WriteText(dir / "tx/bundle.json", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:99999999-0000-0000-0000-000000000001",
     "resource":{"resourceType":"Patient","identifier":[{"system":"mrn","value":"A"}]},
     "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=mrn|A"}},
    {"fullUrl":"urn:uuid:99999999-0000-0000-0000-000000000002",
     "resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},
       "subject":{"reference":"urn:uuid:99999999-0000-0000-0000-000000000001"}},
     "request":{"method":"POST","url":"Observation"}}]})");
  MustIngest(dir / "lake", {dir / "v1"});
  MustIngest(dir / "lake", {dir / "v2"});
  auto r = MustIngest(dir / "lake", {dir / "tx"});
  EXPECT_EQ(r.counters.stored, 2u);
  const std::string obs = StoredObservation(dir / "lake", "99999999-0000-0000-0000-000000000002");
  EXPECT_NE(obs.find(R"("reference":"Patient/99999999-0000-0000-0000-000000000001")"),
            std::string::npos)
      << obs;
}

// Runs `sql` on the catalog of `lake` (as an older medlake, or a hand, would have left it).
void ExecOnCatalog(const std::string& lake, const std::string& sql) {
  auto db = store::Db::Open(lake + "/catalog.sqlite", false, false);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Exec(sql).ok()) << sql;
}

// The catalog is of the current format: `identifiers` keyed by value before system, no index of
// its own, and `identifier_carriers` holding the same rows, which are `rows`
// ("type|system|value|id").
void ExpectCurrentIdentifierTables(const std::string& lake, const std::set<std::string>& rows) {
  auto opened = store::Db::Open(lake + "/catalog.sqlite", false, true);
  ASSERT_TRUE(opened.ok());
  store::Db& db = **opened;
  auto q = db.Prepare(
      "SELECT (SELECT pk FROM pragma_table_info('identifiers') WHERE name = 'value'), "
      "(SELECT value FROM meta WHERE key = 'format_version'), "
      "(SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'identifiers'), "
      "(SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'identifiers')");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->Int(0), 2) << "value second in the primary key";
  EXPECT_EQ(q->Text(1), std::to_string(store::kCatalogVersion));
  EXPECT_EQ(q->Int(2), 0) << "no index of its own";
  EXPECT_EQ(q->Int(3), 1) << "the trigger that keeps identifier_carriers";
  for (const char* table : {"identifiers", "identifier_carriers"}) {
    auto all = db.Prepare(std::string("SELECT type || '|' || system || '|' || value || '|' || id "
                                      "FROM ") +
                          table);
    ASSERT_TRUE(all.ok());
    std::set<std::string> found;
    while (*all->Step()) found.emplace(all->Text(0));
    EXPECT_EQ(found, rows) << table;
  }
}

// A catalog of a later format is not written by this medlake (it would not keep what that
// format adds): ingest fails, naming the format, and the lake is unchanged.
TEST(IngestTest, ACatalogOfALaterFormatIsNotWritten) {
  TempDir dir;
  WriteText(dir / "in/Patient.ndjson", R"({"resourceType":"Patient","id":"p0"})"
                                       "\n");
  MustIngest(dir / "lake", {dir / "in"});
  ExecOnCatalog(dir / "lake", "UPDATE meta SET value = '" +
                                  std::to_string(store::kCatalogVersion + 1) +
                                  "' WHERE key = 'format_version'");
  WriteText(dir / "more/Patient.ndjson", R"({"resourceType":"Patient","id":"p1"})"
                                         "\n");
  auto r = Ingest(dir / "lake", {dir / "more"}, IngestOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(
      r.status().message().find("catalog format " + std::to_string(store::kCatalogVersion + 1)),
      std::string::npos)
      << r.status().message();
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->resources["Patient"], 1u);
}

// A writer that has looked up many identifiers answers from a filter of the catalog's: those
// committed before it opened and those its own commits add are still found, absent ones not.
TEST(IngestTest, IdentifierLookupsThroughTheCatalogFilterFindWhatIsCommitted) {
  TempDir dir;
  auto id_of = [](int i) { return "p" + std::to_string(i); };
  {
    auto writer = store::LakeWriter::Open(dir / "lake");
    ASSERT_TRUE(writer.ok());
    for (int i = 0; i < 200; ++i) {
      (*writer)->AddIdentifiers("Practitioner", id_of(i), {{"http://npi", "N" + id_of(i)}});
    }
    ASSERT_TRUE((*writer)->Commit({}, true).ok());
  }
  auto writer = store::LakeWriter::Open(dir / "lake");
  ASSERT_TRUE(writer.ok());
  (*writer)->set_filter_after_lookups(1);
  for (int i = 0; i < 200; i += 7) {
    EXPECT_EQ((*writer)->ResolveIdentifier("Practitioner", "http://npi", "N" + id_of(i)), id_of(i));
  }
  EXPECT_EQ((*writer)->ResolveIdentifier("Practitioner", "http://npi", "N" + id_of(200)), "");
  EXPECT_EQ((*writer)->ResolveIdentifier("Practitioner", "http://other", "N" + id_of(1)), "");
  for (int i = 200; i < 300; ++i) {
    (*writer)->AddIdentifiers("Practitioner", id_of(i), {{"http://npi", "N" + id_of(i)}});
  }
  ASSERT_TRUE((*writer)->Commit({}, false).ok());
  for (int i = 150; i < 300; i += 7) {
    EXPECT_EQ((*writer)->ResolveIdentifier("Practitioner", "http://npi", "N" + id_of(i)), id_of(i));
  }
}

// Patient ordinals through the filter of the catalog's patients: a patient committed before
// the writer opened, or by its own commit, keeps its ordinal; a new one gets the next.
TEST(IngestTest, PatientLookupsThroughTheCatalogFilterKeepOrdinals) {
  TempDir dir;
  auto id_of = [](int i) { return "p" + std::to_string(i); };
  std::map<std::string, uint32_t> ordinals;
  {
    auto writer = store::LakeWriter::Open(dir / "lake");
    ASSERT_TRUE(writer.ok());
    for (int i = 0; i < 200; ++i) ordinals[id_of(i)] = (*writer)->PatientOrdinal(id_of(i));
    ASSERT_TRUE((*writer)->Commit({}, true).ok());
  }
  auto writer = store::LakeWriter::Open(dir / "lake");
  ASSERT_TRUE(writer.ok());
  (*writer)->set_filter_after_lookups(1);
  for (int i = 0; i < 200; i += 7)
    EXPECT_EQ((*writer)->PatientOrdinal(id_of(i)), ordinals[id_of(i)]);
  for (int i = 200; i < 300; ++i) {
    ordinals[id_of(i)] = (*writer)->PatientOrdinal(id_of(i));
    EXPECT_EQ(ordinals[id_of(i)], static_cast<uint32_t>(i)) << "a new patient, the next ordinal";
  }
  ASSERT_TRUE((*writer)->Commit({}, false).ok());
  // Past the writer's cache of recent lookups (16,384), so that these go to the filter and the
  // catalog.
  for (int i = 300; i < 20'000; ++i) {
    (*writer)->PatientOrdinal(id_of(i));
  }
  for (int i = 0; i < 300; i += 7)
    EXPECT_EQ((*writer)->PatientOrdinal(id_of(i)), ordinals[id_of(i)]);
}

// Within one run, between batches: a version registered at one batch's end and replaced at a
// later one takes its identifiers with it.
TEST(IngestTest, AVersionReplacedInALaterBatchTakesItsIdentifiersWithIt) {
  TempDir dir;
  auto writer = store::LakeWriter::Open(dir / "lake");
  ASSERT_TRUE(writer.ok());
  (*writer)->set_isolate_batches(true);
  const uint16_t type = static_cast<uint16_t>(fhir::ResourceTypeIndex("Patient"));
  const store::Key128 key = store::ResourceKey("Patient", "p1");
  const uint64_t run = static_cast<uint64_t>((*writer)->run_id()) << 32;
  auto admit = [&](uint64_t hash, uint64_t file, const std::string& value) {
    uint64_t seq = 0;
    auto admitted = (*writer)->Admit(key, type, hash, kNoTime, {run | file, 0}, seq);
    ASSERT_TRUE(admitted.ok());
    ASSERT_NE(*admitted, store::Admission::kDuplicate);
    (*writer)->AddIdentifiersOf(key, seq, "Patient", "p1", {{"http://mrn", value}});
  };
  (*writer)->BeginBatch();
  admit(1, 1, "A");
  (*writer)->BeginBatch();
  EXPECT_EQ((*writer)->ResolveIdentifier("Patient", "http://mrn", "A"), "p1");
  admit(2, 2, "B");
  (*writer)->BeginBatch();
  EXPECT_EQ((*writer)->ResolveIdentifier("Patient", "http://mrn", "A"), "");
  EXPECT_EQ((*writer)->ResolveIdentifier("Patient", std::nullopt, "A"), "");
  EXPECT_EQ((*writer)->ResolveIdentifier("Patient", "http://mrn", "B"), "p1");
  EXPECT_EQ((*writer)->ResolveIdentifier("Patient", std::nullopt, "B"), "p1");
}

// Catalogs of format 1 kept a row per identifier, "*" for one that several resources carried:
// a writer upgrades them, keeping what they knew.
TEST(IngestTest, AFormatOneCatalogsIdentifiersAreUpgraded) {
  TempDir dir;
  WriteText(dir / "in/Patient.ndjson", R"({"resourceType":"Patient","id":"p0"})"
                                       "\n");
  MustIngest(dir / "lake", {dir / "in"});
  ExecOnCatalog(dir / "lake", R"sql(
      DROP TABLE identifiers;
      DROP TABLE identifier_carriers;
      CREATE TABLE identifiers(type TEXT NOT NULL, system TEXT NOT NULL, value TEXT NOT NULL,
        id TEXT NOT NULL, PRIMARY KEY(type, system, value));
      CREATE INDEX identifiers_by_value ON identifiers(type, value);
      INSERT INTO identifiers VALUES('Patient', 'http://mrn', 'A', 'p1'),
        ('Practitioner', 'http://npi', 'N', '*');
      UPDATE meta SET value = '1' WHERE key = 'format_version';)sql");
  WriteText(dir / "obs/Observation.ndjson",
            R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},)"
            R"("subject":{"reference":"Patient?identifier=http://mrn|A"},)"
            R"("performer":[{"reference":"Practitioner?identifier=http://npi|N"}]})"
            "\n");
  auto r = MustIngest(dir / "lake", {dir / "obs"});
  EXPECT_EQ(r.unresolved_references, 1u);  // the ambiguous one
  const std::string obs = StoredObservation(dir / "lake", "o1");
  EXPECT_NE(obs.find(R"("reference":"Patient/p1")"), std::string::npos) << obs;
  EXPECT_NE(obs.find("Practitioner?identifier=http://npi|N"), std::string::npos) << obs;
  ExpectCurrentIdentifierTables(dir / "lake",
                                {"Patient|http://mrn|A|p1", "Practitioner|http://npi|N|*"});
}

// Catalogs of format 2 kept the rows by resource and by value in two indexes of `identifiers`:
// a writer moves them to format 3's two tables, and what they held still resolves and is still
// dropped by a new version of its carrier.
TEST(IngestTest, AFormatTwoCatalogsIdentifiersAreUpgraded) {
  TempDir dir;
  WriteText(dir / "in/Patient.ndjson",
            R"({"resourceType":"Patient","id":"p1","identifier":[)"
            R"({"system":"http://mrn","value":"A"},{"system":"http://mrn","value":"B"}]})"
            "\n"
            R"({"resourceType":"Patient","id":"p2","identifier":[)"
            R"({"system":"http://ssn","value":"B"}]})"
            "\n");
  MustIngest(dir / "lake", {dir / "in"});
  ExecOnCatalog(dir / "lake", R"sql(
      CREATE TABLE format_two(type TEXT NOT NULL, system TEXT NOT NULL, value TEXT NOT NULL,
        id TEXT NOT NULL, PRIMARY KEY(type, system, value, id)) WITHOUT ROWID;
      INSERT INTO format_two SELECT type, system, value, id FROM identifiers;
      DROP TABLE identifiers;
      DROP TABLE identifier_carriers;
      ALTER TABLE format_two RENAME TO identifiers;
      CREATE INDEX identifiers_by_resource ON identifiers(type, id);
      CREATE INDEX identifiers_by_value ON identifiers(type, value);
      UPDATE meta SET value = '2' WHERE key = 'format_version';)sql");
  // p1's new version keeps A only; a reference to A resolves, one to B (now only p2's) too.
  WriteText(
      dir / "next/Patient.ndjson",
      R"({"resourceType":"Patient","id":"p1","identifier":[{"system":"http://mrn","value":"A"}]})"
      "\n");
  WriteText(dir / "next/Observation.ndjson",
            R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},)"
            R"("subject":{"reference":"Patient?identifier=http://mrn|A"}})"
            "\n"
            R"({"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},)"
            R"("subject":{"reference":"Patient?identifier=B"}})"
            "\n");
  auto r = MustIngest(dir / "lake", {dir / "next"});
  EXPECT_EQ(r.unresolved_references, 0u);
  EXPECT_NE(StoredObservation(dir / "lake", "o1").find(R"("reference":"Patient/p1")"),
            std::string::npos);
  EXPECT_NE(StoredObservation(dir / "lake", "o2").find(R"("reference":"Patient/p2")"),
            std::string::npos);
  ExpectCurrentIdentifierTables(dir / "lake",
                                {"Patient|http://mrn|A|p1", "Patient|http://ssn|B|p2"});
}

// A medlake of catalog format 2 writing a format 3 catalog (after a downgrade) changes
// `identifiers` only: what it deletes leaves identifier_carriers by the trigger at once, and what
// it adds is found by the next writer of format 3 (by the indexes that medlake leaves), which
// makes identifier_carriers again.
TEST(IngestTest, WhatAnOlderWriterDoesToAFormatThreeCatalogIsMadeGood) {
  TempDir dir;
  WriteText(dir / "in/Practitioner.ndjson",
            R"({"resourceType":"Practitioner","id":"x1","identifier":[)"
            R"({"system":"urn:a","value":"A1"},{"system":"urn:b","value":"B1"}]})"
            "\n");
  MustIngest(dir / "lake", {dir / "in"});
  // What that medlake's erase or commit does: a row deleted from `identifiers` only.
  ExecOnCatalog(dir / "lake", "DELETE FROM identifiers WHERE value = 'B1'");
  ExpectCurrentIdentifierTables(dir / "lake", {"Practitioner|urn:a|A1|x1"});
  // What its ingest does: its indexes, and a row added to `identifiers` only.
  ExecOnCatalog(dir / "lake",
                "CREATE INDEX identifiers_by_resource ON identifiers(type, id);"
                "CREATE INDEX identifiers_by_value ON identifiers(type, value);"
                "INSERT INTO identifiers VALUES('Practitioner', 'urn:c', 'C2', 'x2')");
  WriteText(dir / "next/Practitioner.ndjson",
            R"({"resourceType":"Practitioner","id":"x3","identifier":[)"
            R"({"system":"urn:d","value":"D3"}]})"
            "\n");
  MustIngest(dir / "lake", {dir / "next"});
  ExpectCurrentIdentifierTables(
      dir / "lake",
      {"Practitioner|urn:a|A1|x1", "Practitioner|urn:c|C2|x2", "Practitioner|urn:d|D3|x3"});
}

// A Bundle in a Bundle's entry is unpacked like any Bundle other than a document (it was
// stored as a resource, which a re-ingest of its export then unpacked: the two lakes differed);
// nesting deeper than four is quarantined with its location.
TEST(IngestTest, NestedBundlesAreUnpacked) {
  TempDir dir;
  WriteText(dir / "in/b.json", R"({"resourceType":"Bundle","type":"batch-response","entry":[
    {"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111",
     "resource":{"resourceType":"Patient"}},
    {"resource":{"resourceType":"Bundle","id":"inner","type":"searchset","entry":[
      {"resource":{"resourceType":"Patient","id":"p9"}},
      {"resource":{"resourceType":"Bundle","id":"doc","type":"document","entry":[]}}]}}]})");
  std::string deep = R"({"resourceType":"Patient","id":"deep"})";
  for (int i = 0; i < 6; ++i) {
    deep = R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":)" + deep + "}]}";
  }
  WriteText(dir / "in/deep.json", deep);
  auto r = MustIngest(dir / "lake", {dir / "in"});
  ExpectReconciles(r);
  EXPECT_EQ(r.counters.stored, 3u);  // two Patients and the document
  EXPECT_EQ(r.counters.quarantined, 1u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_TRUE((*lake)->Get("Patient", "p9").ok());
  EXPECT_TRUE((*lake)->Get("Patient", "11111111-1111-1111-1111-111111111111").ok());
  EXPECT_TRUE((*lake)->Get("Bundle", "doc").ok());
  EXPECT_FALSE((*lake)->Get("Bundle", "inner").ok());
  auto q = (*lake)->Quarantine(10);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].location,
            "Bundle.entry[0].resource.entry[0].resource.entry[0].resource.entry[0].resource."
            "entry[0].resource");
  // Its export re-ingests to the same lake.
  const std::string exported = ExportedNdjson(**lake);
  WriteText(dir / "out/all.ndjson", exported);
  auto fresh = MustIngest(dir / "lake2", {dir / "out"});
  EXPECT_EQ(fresh.counters.stored, 3u);
  EXPECT_EQ((*Lake::Open(dir / "lake2"))->Status()->total_resources, 3u);
}

// A document in a transaction is kept whole, as at the top level: the outer Bundle's fullUrls
// do not rewrite its references, which name its own entries (a review saw a document's subject
// become the transaction's other Patient, which shares an inner entry's fullUrl).
// A document Bundle without an id is stored under one its identifier implies (R4 bdl-9: a
// document has an identifier; its id is optional), the same at every reading; without either
// it is quarantined as missing its id.
TEST(IngestTest, ADocumentWithoutAnIdTakesOneFromItsIdentifier) {
  TempDir dir;
  const std::string doc =
      R"({"resourceType":"Bundle","type":"document","identifier":{"system":"urn:ietf:rfc:3986",)"
      R"("value":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},"timestamp":"2020-01-01T00:00:00Z",)"
      R"("entry":[{"fullUrl":"urn:uuid:aa","resource":{"resourceType":"Composition","id":"c1",)"
      R"("status":"final","type":{"text":"t"},"date":"2020-01-01","title":"t"}}]})";
  WriteText(dir / "in/doc.json", doc);
  WriteText(dir / "in/tx.json",
            R"({"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":)"
            R"("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0","resource":)" +
                doc + R"(,"request":{"method":"POST","url":"Bundle"}}]})");
  WriteText(dir / "in/none.json", R"({"resourceType":"Bundle","type":"document","entry":[]})");
  // A PUT names its id (R4 http.html): the document is stored under it.
  WriteText(dir / "in/put.json",
            R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":)" + doc +
                R"(,"request":{"method":"PUT","url":"Bundle/abc"}}]})");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  ExpectReconciles(r);
  EXPECT_EQ(r.counters.records_read, 4u);
  EXPECT_EQ(r.counters.stored, 2u);
  // The same document in the transaction, under the same id (not its fullUrl's).
  EXPECT_EQ(r.counters.duplicates, 1u);
  EXPECT_EQ(r.counters.quarantined, 1u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->resources["Bundle"], 2u);
  EXPECT_TRUE((*lake)->Get("Bundle", "abc").ok());
  std::string id;
  ASSERT_TRUE((*lake)
                  ->Scan(
                      "Bundle",
                      [&](const ResourceView& v) {
                        if (v.id != "abc") id = std::string(v.id);
                      },
                      nullptr)
                  .ok());
  EXPECT_TRUE(id.starts_with("doc-")) << id;
  EXPECT_EQ(id.size(), 36u);
  auto again = MustIngest(dir / "lake", {dir / "in/doc.json"});
  EXPECT_EQ(again.counters.duplicates, 1u);
}

TEST(IngestTest, ADocumentInABundleKeepsItsReferences) {
  TempDir dir;
  const std::string doc = R"({"resourceType":"Bundle","id":"docA","type":"document","entry":[
    {"fullUrl":"urn:uuid:00000000-0000-0000-0000-0000000000aa","resource":{
      "resourceType":"Composition","id":"c1","status":"final","type":{"text":"t"},
      "date":"2020-01-01","title":"t",
      "subject":{"reference":"urn:uuid:00000000-0000-0000-0000-0000000000bb"}}},
    {"fullUrl":"urn:uuid:00000000-0000-0000-0000-0000000000bb","resource":{
      "resourceType":"Patient","id":"inner-pat"}}]})";
  auto entry = [&](std::string_view full_url, std::string_view resource) {
    return std::string(R"({"fullUrl":")") + std::string(full_url) + R"(","resource":)" +
           std::string(resource) + R"(,"request":{"method":"POST","url":"Bundle"}})";
  };
  // With the document's own id, and with the id its fullUrl implies.
  WriteText(dir / "in/outer.json",
            R"({"resourceType":"Bundle","type":"transaction","entry":[)" +
                entry("urn:uuid:00000000-0000-0000-0000-0000000000bb",
                      R"({"resourceType":"Patient","id":"other-patient"})") +
                "," + entry("urn:uuid:00000000-0000-0000-0000-0000000000cc", doc) + "," +
                entry("urn:uuid:00000000-0000-0000-0000-0000000000dd",
                      std::regex_replace(doc, std::regex(R"("id":"docA",)"), "")) +
                "]}");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  ExpectReconciles(r);
  EXPECT_EQ(r.counters.stored, 3u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  for (const char* id : {"docA", "00000000-0000-0000-0000-0000000000dd"}) {
    auto stored = (*lake)->Get("Bundle", id);
    ASSERT_TRUE(stored.ok()) << id;
    EXPECT_NE(stored->find(R"("reference":"urn:uuid:00000000-0000-0000-0000-0000000000bb")"),
              std::string::npos)
        << *stored;
    EXPECT_EQ(stored->find("other-patient"), std::string::npos) << *stored;
  }
}

// A reference to an entry whose resource is not stored under the id it implies is not
// rewritten to a Type/id that names nothing: it stays as written, and what refers to it is not
// filed under a patient that does not exist. Such entries: a quarantined resource (an id that
// is no valid id, empty or repeated; a resourceType missing, not a string, unknown or
// repeated), or a Bundle that is unpacked. By fullUrl and by conditional reference alike.
TEST(IngestTest, ReferencesToAnEntryNotStoredAreNotRewritten) {
  const std::vector<std::string> not_stored = {
      R"({"resourceType":"Patient","id":5,"identifier":[{"system":"s","value":"Q"}]})",
      R"({"resourceType":"Patient","id":"","identifier":[{"system":"s","value":"Q"}]})",
      R"({"resourceType":"Patient","id":"has space","identifier":[{"system":"s","value":"Q"}]})",
      R"({"resourceType":"Patient","id":"twice","id":"twice","identifier":[{"system":"s","value":"Q"}]})",
      R"({"resourceType":"Patient","resourceType":"Patient","id":"p","identifier":[{"system":"s","value":"Q"}]})",
      R"({"resourceType":5,"id":"p","identifier":[{"system":"s","value":"Q"}]})",
      R"({"resourceType":"Patinet","id":"p","identifier":[{"system":"s","value":"Q"}]})",
      R"({"id":"p","identifier":[{"system":"s","value":"Q"}]})",
      R"({"resourceType":"Bundle","id":"b","type":"collection","entry":[]})",
  };
  for (size_t k = 0; k < not_stored.size(); ++k) {
    SCOPED_TRACE(not_stored[k]);
    TempDir dir;
    WriteText(dir / "in/b.json",
              R"({"resourceType":"Bundle","type":"transaction","entry":[)"
              R"({"fullUrl":"urn:uuid:33333333-3333-3333-3333-333333333333","resource":)" +
                  not_stored[k] + R"(},)" +
                  R"({"resource":{"resourceType":"Observation","id":"o1","status":"final",)"
                  R"("code":{"text":"x"},)"
                  R"("focus":[{"reference":"urn:uuid:33333333-3333-3333-3333-333333333333"}]}},)"
                  R"({"resource":{"resourceType":"Observation","id":"o2","status":"final",)"
                  R"("code":{"text":"x"},"focus":[{"reference":"Patient?identifier=s|Q"}]}}]})");
    auto r = MustIngest(dir / "lake", {dir / "in"});
    EXPECT_EQ(r.counters.stored, 2u);
    EXPECT_EQ(r.counters.records_read, r.counters.stored + r.counters.quarantined);
    EXPECT_EQ(r.unresolved_references, 2u);  // the urn:uuid and the conditional one
    auto lake = Lake::Open(dir / "lake");
    ASSERT_TRUE(lake.ok());
    auto o1 = (*lake)->Get("Observation", "o1");
    auto o2 = (*lake)->Get("Observation", "o2");
    ASSERT_TRUE(o1.ok() && o2.ok());
    EXPECT_NE(o1->find("urn:uuid:33333333"), std::string::npos) << *o1;
    EXPECT_NE(o2->find("Patient?identifier=s|Q"), std::string::npos) << *o2;
    EXPECT_EQ((*lake)->Status()->patients, 0u);
  }
}

TEST(IngestTest, DirectorySkipsUnknownFormats) {
  TempDir dir;
  WriteText(dir / "in/notes.txt", "not FHIR");
  WriteText(dir / "in/sub/Observation.ndjson", Obs("o1", "p1", "80") + "\n");
  // What is not a file to read is listed too: a broken link, a link to a folder (not
  // followed, so that a link cannot make the walk loop), a named pipe.
  std::filesystem::create_symlink(dir / "gone.ndjson", dir / "in/broken.ndjson");
  std::filesystem::create_directory_symlink(dir / "in/sub", dir / "in/loop");
  std::filesystem::create_symlink("self.ndjson", dir / "in/self.ndjson");
  ASSERT_EQ(::mkfifo((dir / "in/pipe.ndjson").c_str(), 0600), 0);
  auto r = MustIngest(dir / "lake", {dir / "in"});
  std::map<std::string, std::string> skipped;
  for (const auto& s : r.skipped) {
    skipped[std::filesystem::path(s.path).filename().string()] = s.reason;
  }
  EXPECT_EQ(skipped.size(), 5u);
  EXPECT_NE(skipped["notes.txt"].find("unknown format"), std::string::npos);
  EXPECT_EQ(skipped["broken.ndjson"], "broken symbolic link");
  EXPECT_EQ(skipped["self.ndjson"], "symbolic link loop");
  EXPECT_EQ(skipped["loop"], "symbolic link to a folder (not followed)");
  EXPECT_EQ(skipped["pipe.ndjson"], "not a regular file");
  EXPECT_EQ(r.counters.stored, 1u);
  EXPECT_EQ(r.counters.skipped_files, 5u);
  // The catalog lists them (docs/format.md, skipped_files).
  auto db = store::Db::Open(dir / "lake/catalog.sqlite", false, true);
  ASSERT_TRUE(db.ok());
  auto q = (*db)->Prepare("SELECT count(*) FROM skipped_files WHERE run_id = ?");
  ASSERT_TRUE(q.ok());
  q->Bind(1, r.run_id);
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->Int(0), 5);
}

// Named on the command line, a pipe, a device or a file of unknown format is skipped as it is
// inside a folder (a pipe was read twice, the format sniffed first, and hung or lost its
// data; a .txt file was parsed as one JSON document).
TEST(IngestTest, NamedInputsAreSkippedLikeFolderContents) {
  TempDir dir;
  WriteText(dir / "in/export.txt", Obs("o1", "p1", "80") + "\n" + Obs("o2", "p1", "81") + "\n");
  WriteText(dir / "in/Observation.ndjson", Obs("o3", "p1", "82") + "\n");
  ASSERT_EQ(::mkfifo((dir / "in/pipe.ndjson").c_str(), 0600), 0);
  auto r = MustIngest(dir / "lake", {dir / "in/export.txt", dir / "in/pipe.ndjson", "/dev/null",
                                     dir / "in/Observation.ndjson"});
  std::map<std::string, std::string> skipped;
  for (const auto& s : r.skipped) skipped[s.path] = s.reason;
  ASSERT_EQ(skipped.size(), 3u);
  EXPECT_NE(skipped[dir / "in/export.txt"].find("unknown format"), std::string::npos);
  EXPECT_NE(skipped[dir / "in/pipe.ndjson"].find("not a regular file"), std::string::npos);
  EXPECT_NE(skipped["/dev/null"].find("not a regular file"), std::string::npos);
  EXPECT_EQ(r.counters.records_read, 1u);
  EXPECT_EQ(r.counters.stored, 1u);
}

// A file is read as device readings only when readings are among its first lines and no
// resource is: a malformed first line mentioning "vital" no longer turns a file of resources
// into a stream of rejected readings.
TEST(IngestTest, AMalformedFirstLineDoesNotMakeADeviceStream) {
  TempDir dir;
  WriteText(dir / "in/a.ndjson", std::string(R"({"id":"bad","comment":"vital"})") + "\n" +
                                     R"({"resourceType":"Patient","id":"p1"})" + "\n" +
                                     R"({"resourceType":"Patient","id":"p2"})" + "\n");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(r.counters.stored, 2u);
  EXPECT_EQ(r.counters.quarantined, 1u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto q = (*lake)->Quarantine(100);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].line, 1);
  EXPECT_NE((*q)[0].reason.find("resourceType"), std::string::npos) << (*q)[0].reason;
}

TEST(IngestTest, MissingInputIsAnError) {
  TempDir dir;
  auto r = Ingest(dir / "lake", {dir / "nope"}, IngestOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
}

TEST(IngestTest, ExportReingestsToTheSameLake) {
  TempDir dir;
  std::string lines;
  for (int i = 0; i < 500; ++i)
    lines += Obs("o" + std::to_string(i), "p" + std::to_string(i % 37), std::to_string(i)) + "\n";
  WriteText(dir / "in/Observation.ndjson", lines);
  MustIngest(dir / "lake", {dir / "in"});
  auto lake = Lake::Open(dir / "lake");
  const std::string exported = ExportedNdjson(**lake);
  WriteText(dir / "out/Observation.ndjson", exported);
  auto again = MustIngest(dir / "lake", {dir / "out"});
  EXPECT_EQ(again.counters.duplicates, 500u);
  EXPECT_EQ(again.counters.stored, 0u);
  auto fresh = MustIngest(dir / "lake2", {dir / "out"});
  EXPECT_EQ(fresh.counters.stored, 500u);
}

// The pages of `path` in the page cache, and its pages in all.
std::pair<size_t, size_t> CachedPages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || st.st_size == 0) {
    if (fd >= 0) ::close(fd);
    return {0, 0};
  }
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t pages = (static_cast<size_t>(st.st_size) + page - 1) / page;
  void* map = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return {0, pages};
  std::vector<unsigned char> in_core(pages);
  size_t cached = 0;
  if (::mincore(map, static_cast<size_t>(st.st_size), in_core.data()) == 0) {
    for (unsigned char c : in_core) cached += c & 1;
  }
  ::munmap(map, static_cast<size_t>(st.st_size));
  return {cached, pages};
}

// The input past what has been handed out is read ahead (ChunkSource::kReadAheadBytes): from
// a cold cache, each worker read its file only when its turn came. Here the last of three
// files comes into the page cache whole once the first is handed out, before anything reads
// it: 32 MiB, more than the kernel reads ahead for one piece advised (8 MiB on the
// development VM, 128 KiB on many disks).
TEST(IngestTest, TheInputIsReadAheadOfItsReaders) {
  TempDir dir;
  std::vector<InputFile> files;
  for (int i = 0; i < 3; ++i) {
    InputFile& f = files.emplace_back();
    f.path = dir / ("f" + std::to_string(i) + ".json");
    f.format = InputFormat::kJson;
    const std::string text = R"({"resourceType":"Patient","id":"p)" + std::to_string(i) +
                             R"(","text":{"div":")" +
                             std::string(i == 2 ? 32u << 20 : 1u << 20, 'x') + R"("}})";
    WriteText(f.path, text);
    f.size = text.size();
    // Out of the page cache: written back first, so that its pages can go.
    const int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
    if (CachedPages(f.path).first > 0) GTEST_SKIP() << "this file system keeps its files cached";
  }
  ChunkSource source(files);
  auto first = source.Next();  // a whole JSON file: handed out, read by its worker
  ASSERT_TRUE(first.ok() && first->has_value());
  std::pair<size_t, size_t> last = CachedPages(files[2].path);
  for (int wait = 0; wait < 500 && last.first < last.second; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    last = CachedPages(files[2].path);
  }
  EXPECT_EQ(last.first, last.second) << "pages of the third file in the page cache";
}

}  // namespace
}  // namespace medlake::ingest
