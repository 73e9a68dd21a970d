// Deletions (docs/format.md, "Deletions"): a DELETE request of a transaction, batch or history
// Bundle deletes the resource it names, ordered among that resource's versions as versions are
// (meta.lastUpdated when both have one, else the place in the input); the lake remembers it, so
// that ingesting the same files again changes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "ingest/ingest.h"
#include "medlake/lake.h"
#include "privacy/key_store.h"
#include "quarantine_of.h"
#include "store/catalog.h"
#include "store/identity_index.h"
#include "test_util.h"

namespace medlake::ingest {
namespace {

using testing::QuarantineOf;
using testing::TempDir;
using testing::WriteText;

IngestReport MustIngest(const std::string& lake, std::vector<std::string> paths,
                        uint64_t checkpoint_bytes = 0) {
  IngestOptions options;
  options.jobs = 2;
  if (checkpoint_bytes > 0) options.checkpoint_bytes = checkpoint_bytes;
  auto r = Ingest(lake, paths, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return IngestReport{};
  const store::RunCounters& c = r->counters;
  EXPECT_EQ(c.records_read, c.stored + c.duplicates + c.quarantined + c.deleted);
  return *r;
}

std::string Meta(const std::string& updated) {
  return updated.empty() ? "" : R"("meta":{"lastUpdated":")" + updated + R"("},)";
}

std::string Patient(const std::string& id, const std::string& mrn, const std::string& updated) {
  return R"({"resourceType":"Patient","id":")" + id + R"(",)" + Meta(updated) +
         R"("identifier":[{"system":"urn:mrn","value":")" + mrn + R"("}]})";
}

std::string Obs(const std::string& id, const std::string& patient, const std::string& text,
                const std::string& updated) {
  return R"({"resourceType":"Observation","id":")" + id + R"(",)" + Meta(updated) +
         R"("status":"final","code":{"text":")" + text + R"("},"subject":{"reference":"Patient/)" +
         patient + R"("}})";
}

// One line of a Bulk Data `deleted` file: a transaction Bundle of DELETE requests for `urls`,
// deleted at `updated` (Bundle.meta.lastUpdated; none when empty).
std::string DeletedLine(const std::vector<std::string>& urls, const std::string& updated) {
  std::string line =
      R"({"resourceType":"Bundle","type":"transaction",)" + Meta(updated) + R"("entry":[)";
  for (size_t i = 0; i < urls.size(); ++i) {
    if (i > 0) line += ",";
    line += R"({"request":{"method":"DELETE","url":")" + urls[i] + R"("}})";
  }
  return line + "]}";
}

bool Holds(const std::string& lake_dir, const std::string& type, const std::string& id) {
  auto lake = Lake::Open(lake_dir);
  EXPECT_TRUE(lake.ok());
  return lake.ok() && (*lake)->Get(type, id).ok();
}

LakeStatus StatusOf(const std::string& lake_dir) {
  auto lake = Lake::Open(lake_dir);
  EXPECT_TRUE(lake.ok());
  auto status = (*lake)->Status();
  EXPECT_TRUE(status.ok());
  return status.ok() ? *status : LakeStatus{};
}

// A bulk export, then an incremental one's `deleted` file (Bulk Data Access: a transaction
// Bundle of DELETE requests a line): what it names is deleted, by Type/id or by identifier;
// a Patient deleted no longer answers conditional references; ingesting everything again
// changes nothing, the older versions included.
TEST(DeletionTest, ABulkExportsDeletedFileDeletesWhatItNames) {
  TempDir dir;
  const std::string t1 = "2024-01-01T00:00:00Z";
  WriteText(dir / "export/Patient.ndjson",
            Patient("p1", "M1", t1) + "\n" + Patient("p2", "M2", t1) + "\n");
  WriteText(dir / "export/Observation.ndjson",
            Obs("o1", "p1", "a", t1) + "\n" + Obs("o2", "p2", "b", t1) + "\n");
  MustIngest(dir / "lake", {dir / "export"});

  WriteText(
      dir / "since/deleted/Bundle.ndjson",
      DeletedLine({"Observation/o1", "Patient?identifier=urn:mrn|M1"}, "2024-06-01T00:00:00Z") +
          "\n" +
          DeletedLine({"https://ehr.example.org/fhir/Observation/gone",
                       "Patient?identifier=urn:mrn|nobody"},
                      "2024-06-01T00:00:00Z") +
          "\n");
  auto r = MustIngest(dir / "lake", {dir / "since"});
  EXPECT_EQ(r.counters.records_read, 4u);
  // o1, p1 and "gone" (which the lake did not hold: it remembers the deletion all the same).
  EXPECT_EQ(r.counters.deleted, 3u);
  EXPECT_EQ(r.counters.duplicates, 1u);  // no Patient has identifier "nobody"
  EXPECT_EQ(r.counters.stored, 0u);
  EXPECT_FALSE(Holds(dir / "lake", "Observation", "o1"));
  EXPECT_FALSE(Holds(dir / "lake", "Patient", "p1"));
  EXPECT_TRUE(Holds(dir / "lake", "Observation", "o2"));
  {
    auto lake = Lake::Open(dir / "lake");
    ASSERT_TRUE(lake.ok());
    auto o1 = (*lake)->Get("Observation", "o1");
    ASSERT_EQ(o1.status().code(), ErrorCode::kNotFound);
    EXPECT_NE(o1.status().message().find("a DELETE request of ingest run 2 deleted it"),
              std::string::npos)
        << o1.status().message();
    EXPECT_EQ((*lake)->Get("Observation", "never").status().message(),
              "Observation/never is not in the lake");
  }
  EXPECT_TRUE(Holds(dir / "lake", "Patient", "p2"));
  LakeStatus status = StatusOf(dir / "lake");
  EXPECT_EQ(status.resources["Observation"], 1u);
  EXPECT_EQ(status.resources["Patient"], 1u);
  EXPECT_EQ(status.deleted, 3u);

  // The deleted Patient's identifier names nothing now: a resource whose subject names it is
  // quarantined, as one whose Patient is unknown.
  WriteText(dir / "later/Observation.ndjson",
            R"({"resourceType":"Observation","id":"o3","status":"final","code":{"text":"c"},)"
            R"("subject":{"reference":"Patient?identifier=urn:mrn|M1"}})"
            "\n");
  auto later = MustIngest(dir / "lake", {dir / "later"});
  EXPECT_EQ(later.counters.quarantined, 1u);
  auto q = QuarantineOf(dir / "lake", 1);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_NE(q[0].reason.find("Patient that could not be found"), std::string::npos) << q[0].reason;

  // Everything again: the versions of January are older than June's deletions.
  auto again = MustIngest(dir / "lake", {dir / "export", dir / "since"});
  EXPECT_EQ(again.counters.stored, 0u);
  EXPECT_EQ(again.counters.deleted, 0u);
  EXPECT_EQ(again.counters.duplicates, again.counters.records_read);
  EXPECT_FALSE(Holds(dir / "lake", "Observation", "o1"));
  EXPECT_FALSE(Holds(dir / "lake", "Patient", "p1"));
  EXPECT_EQ(StatusOf(dir / "lake").total_resources, 2u);
}

// Without times, the place in the input decides, as between versions: a version before the
// deletion is deleted, one after it stands; with times, the later time wins wherever it is
// read (and a version without one is older than a deletion with one). Whatever the threads
// and wherever the checkpoints fall.
TEST(DeletionTest, ADeletionIsOrderedAmongTheVersions) {
  for (uint64_t checkpoint : {uint64_t{0}, uint64_t{64}}) {
    SCOPED_TRACE(checkpoint);
    TempDir dir;
    // a.ndjson, b.ndjson, c.ndjson: read in that order (files sort by name).
    WriteText(dir / "in/a.ndjson", Obs("before", "p", "1", "") + "\n" + Obs("after", "p", "1", "") +
                                       "\n" + Obs("newer", "p", "1", "2024-09-01T00:00:00Z") +
                                       "\n" + Obs("older", "p", "1", "2024-01-01T00:00:00Z") +
                                       "\n");
    WriteText(dir / "in/b.ndjson",
              DeletedLine({"Observation/before", "Observation/after"}, "") + "\n" +
                  DeletedLine({"Observation/newer", "Observation/older", "Observation/late"},
                              "2024-06-01T00:00:00Z") +
                  "\n");
    WriteText(dir / "in/c.ndjson", Obs("after", "p", "2", "") + "\n" +
                                       Obs("late", "p", "1", "2024-03-01T00:00:00Z") + "\n");
    auto r = MustIngest(dir / "lake", {dir / "in"}, checkpoint);
    EXPECT_FALSE(Holds(dir / "lake", "Observation", "before"));
    EXPECT_FALSE(Holds(dir / "lake", "Observation", "older"));
    EXPECT_FALSE(Holds(dir / "lake", "Observation", "late")) << "deleted in June, read after";
    EXPECT_TRUE(Holds(dir / "lake", "Observation", "newer")) << "updated in September";
    auto lake = Lake::Open(dir / "lake");
    auto after = (*lake)->Get("Observation", "after");
    ASSERT_TRUE(after.ok()) << "stored again after its deletion";
    EXPECT_NE(after->find(R"("text":"2")"), std::string::npos) << *after;
    EXPECT_EQ(StatusOf(dir / "lake").total_resources, 2u);
    // Records read 11, of which 3 deleted (before, older, late) and 2 stored, whatever the
    // timing and the checkpoints: a version or deletion that a later one of the same run
    // replaced is counted with the duplicates, committed in between or not.
    EXPECT_EQ(r.counters.records_read, 11u);
    EXPECT_EQ(r.counters.stored, 2u);
    EXPECT_EQ(r.counters.deleted, 3u);

    // Again: the same resources stand. (Without times a deletion, once committed, stands
    // where its run began, as a version does: the version of "before" read again, untimed, is
    // stored and deleted again in the run; docs/format.md, "Deletions".)
    MustIngest(dir / "lake", {dir / "in"}, checkpoint);
    EXPECT_FALSE(Holds(dir / "lake", "Observation", "before"));
    EXPECT_TRUE(Holds(dir / "lake", "Observation", "after"));
    EXPECT_EQ(StatusOf(dir / "lake").total_resources, 2u);
  }
}

// A history Bundle lists a resource's versions newest first, a deletion among them (its
// response.lastModified when it has one).
TEST(DeletionTest, AHistoryBundlesDeletionIsOneOfItsVersions) {
  TempDir dir;
  // Its own meta.lastUpdated is when the history was read: no deletion's time.
  WriteText(
      dir / "in/history.json",
      R"({"resourceType":"Bundle","type":"history","meta":{"lastUpdated":"2025-01-01T00:00:00Z"},"entry":[
    {"request":{"method":"DELETE","url":"Patient/h1"},
     "response":{"status":"204","lastModified":"2024-05-01T00:00:00Z"}},
    {"resource":)" +
          Patient("h1", "H1", "2024-04-01T00:00:00Z") +
          R"(,"request":{"method":"PUT","url":"Patient/h1"}},
    {"resource":)" +
          Patient("h2", "H2", "2024-07-01T00:00:00Z") +
          R"(,"request":{"method":"PUT","url":"Patient/h2"}},
    {"request":{"method":"DELETE","url":"Patient/h2"},"response":{"status":"204"}},
    {"resource":)" +
          Patient("h2", "H2", "") +
          R"(,"request":{"method":"POST","url":"Patient"}},
    {"resource":)" +
          Patient("h3", "H3", "2024-03-01T00:00:00Z") +
          R"(,"request":{"method":"PUT","url":"Patient/h3"}},
    {"request":{"method":"DELETE","url":"Patient/h3"}},
    {"resource":)" +
          Patient("h3", "H3", "2024-01-01T00:00:00Z") +
          R"(,"request":{"method":"POST","url":"Patient"}}]})");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_FALSE(Holds(dir / "lake", "Patient", "h1"));
  EXPECT_TRUE(Holds(dir / "lake", "Patient", "h2")) << "created, deleted, then created again";
  EXPECT_TRUE(Holds(dir / "lake", "Patient", "h3")) << "its March version is the newest";
  EXPECT_EQ(r.counters.records_read, 8u);
}

// The lake remembers a deletion in its catalog: an identity index rebuilt from the segments
// (after a crash between a commit and the index's update, an erase, a repair) still knows it.
TEST(DeletionTest, ADeletionOutlivesARebuiltIdentityIndex) {
  TempDir dir;
  WriteText(dir / "export/Observation.ndjson", Obs("o1", "p1", "a", "2024-01-01T00:00:00Z") + "\n");
  MustIngest(dir / "lake", {dir / "export"});
  WriteText(dir / "deleted.ndjson", DeletedLine({"Observation/o1"}, "2024-06-01T00:00:00Z") + "\n");
  EXPECT_EQ(MustIngest(dir / "lake", {dir / "deleted.ndjson"}).counters.deleted, 1u);
  std::filesystem::remove_all(dir / "lake" + "/" + store::kIdentityIndexDir);
  auto again = MustIngest(dir / "lake", {dir / "export"});
  EXPECT_EQ(again.counters.stored, 0u);
  EXPECT_FALSE(Holds(dir / "lake", "Observation", "o1"));
}

// What names no resource is quarantined with its reason; a DELETE in a collection Bundle
// applies to nothing (a collection holds resources, not requests).
TEST(DeletionTest, DeleteRequestsThatNameNoResourceAreQuarantined) {
  TempDir dir;
  WriteText(dir / "in/tx.json", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"request":{"method":"DELETE"}},
    {"request":{"method":"DELETE","url":"Patient/p1/_history/2"}},
    {"request":{"method":"DELETE","url":"Banana/b1"}},
    {"request":{"method":"DELETE","url":"Patient?name=smith"}}]})");
  WriteText(dir / "in/collection.json", R"({"resourceType":"Bundle","type":"collection","entry":[
    {"request":{"method":"DELETE","url":"Patient/p1"}}]})");
  // Times that are no instants: read as none, the deletions would silently lose to every
  // version with one.
  WriteText(dir / "in/times.ndjson",
            DeletedLine({"Patient/p1"}, "2024-06-01") + "\n" +
                R"({"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"DELETE",)"
                R"("url":"Patient/p1"},"response":{"status":"204","lastModified":"June"}}]})" +
                "\n");
  // Conditions: on a type whose identifiers the lake does not keep, in a compartment.
  WriteText(dir / "in/conditions.json", R"({"resourceType":"Bundle","type":"batch","entry":[
    {"request":{"method":"DELETE","url":"Observation?identifier=urn:lab|1"}},
    {"request":{"method":"DELETE","url":"https://h/fhir/Group/g1/Practitioner?identifier=urn:npi|1"}}]})");
  auto r = MustIngest(dir / "lake", {dir / "in"});
  EXPECT_EQ(r.counters.quarantined, 9u);
  EXPECT_EQ(r.counters.deleted, 0u);
  std::vector<std::string> reasons;
  for (const auto& e : QuarantineOf(dir / "lake", 9)) {
    reasons.push_back(e.location + ": " + e.reason);
  }
  auto count = [&](const std::string& part) {
    return std::count_if(reasons.begin(), reasons.end(),
                         [&](const std::string& r) { return r.find(part) != std::string::npos; });
  };
  EXPECT_EQ(count("without a url"), 1);
  EXPECT_EQ(count("names no resource"), 2);  // a version; an unknown type
  EXPECT_EQ(count("does not evaluate"), 2);  // another parameter; a compartment's search
  EXPECT_EQ(count("another type than transaction"), 1);
  EXPECT_EQ(count("meta.lastUpdated or timestamp is not a FHIR instant"), 1);
  EXPECT_EQ(count("response.lastModified is not a FHIR instant"), 1);
  EXPECT_EQ(count("patient compartment"), 1);
}

// A deletion of what the lake remembers as deleted, at a later time, moves the time it
// remembers: a version between the two times stays deleted, whichever run reads it.
TEST(DeletionTest, ALaterDeletionOfWhatIsDeletedMovesItsTime) {
  TempDir dir;
  WriteText(dir / "june.ndjson", DeletedLine({"Observation/o1"}, "2024-06-01T00:00:00Z") + "\n");
  WriteText(dir / "september.ndjson",
            DeletedLine({"Observation/o1"}, "2024-09-01T00:00:00Z") + "\n");
  WriteText(dir / "july/Observation.ndjson", Obs("o1", "p1", "a", "2024-07-01T00:00:00Z") + "\n");
  MustIngest(dir / "lake", {dir / "june.ndjson"});
  auto september = MustIngest(dir / "lake", {dir / "september.ndjson"});
  EXPECT_EQ(september.counters.duplicates, 1u);
  MustIngest(dir / "lake", {dir / "july"});
  EXPECT_FALSE(Holds(dir / "lake", "Observation", "o1"));
  // In the other order of runs, the same.
  MustIngest(dir / "other", {dir / "june.ndjson"});
  MustIngest(dir / "other", {dir / "july"});
  EXPECT_TRUE(Holds(dir / "other", "Observation", "o1"));
  MustIngest(dir / "other", {dir / "september.ndjson"});
  EXPECT_FALSE(Holds(dir / "other", "Observation", "o1"));

  // Retimed, committed at a checkpoint, then stored again by a newer version in the same run:
  // the retiming was a duplicate, and is not taken back from the run's deletions.
  WriteText(dir / "again/a.ndjson", DeletedLine({"Observation/o1"}, "2024-10-01T00:00:00Z") + "\n" +
                                        std::string(8192, ' ') + "\n");
  WriteText(dir / "again/b.ndjson", Obs("o1", "p1", "b", "2024-11-01T00:00:00Z") + "\n");
  auto again = MustIngest(dir / "lake", {dir / "again"}, 64);  // checks the counts reconcile
  EXPECT_GT(again.checkpoints, 0u);
  EXPECT_EQ(again.counters.deleted, 0u);
  EXPECT_EQ(again.counters.stored, 1u);
  EXPECT_EQ(again.counters.duplicates, 1u);
  EXPECT_TRUE(Holds(dir / "lake", "Observation", "o1"));
}

// A large Bundle read an entry at a time commits between waves of its entries: a deletion
// there meets the versions of its resource in one wave, as in a Bundle read whole, and a
// conditional delete is matched in the lake as the Bundle's batch began, as there.
TEST(DeletionTest, ALargeBundleThatCommitsInsideDeletesAsOneReadWhole) {
  TempDir dir;
  // A history Bundle, newest first: o1 deleted, then (older) created; a Practitioner deleted by
  // its identifier, then (older) created with it.
  std::string bundle =
      R"({"resourceType":"Bundle","type":"history","entry":[)"
      R"({"request":{"method":"DELETE","url":"Observation/o1"}},)"
      R"({"request":{"method":"DELETE","url":"Practitioner?identifier=urn:npi|9"}})";
  for (int i = 0; i < 2000; ++i) {
    bundle += R"(,{"resource":{"resourceType":"Patient","id":"f)" + std::to_string(i) +
              R"(","gender":"female"},"request":{"method":"PUT","url":"Patient/f)" +
              std::to_string(i) + R"("}})";
  }
  bundle += R"(,{"resource":)" + Obs("o1", "f1", "a", "") +
            R"(,"request":{"method":"PUT","url":"Observation/o1"}})"
            R"(,{"resource":{"resourceType":"Practitioner","id":"dr","identifier":[{"system":)"
            R"("urn:npi","value":"9"}]},"request":{"method":"PUT","url":"Practitioner/dr"}}]})";
  WriteText(dir / "in/history.json", bundle);
  // A transaction (R4: its DELETEs are processed before its PUTs): a Practitioner created, then
  // the same identifier deleted, waves apart; the lake as the batch began has no such
  // Practitioner, so nothing is deleted, however many waves commit in between.
  std::string transaction =
      R"({"resourceType":"Bundle","type":"transaction","entry":[)"
      R"({"resource":{"resourceType":"Practitioner","id":"dr2","identifier":[{"system":)"
      R"("urn:npi","value":"7"}]},"request":{"method":"PUT","url":"Practitioner/dr2"}})";
  for (int i = 0; i < 2000; ++i) {
    transaction += R"(,{"resource":{"resourceType":"Patient","id":"g)" + std::to_string(i) +
                   R"(","gender":"male"},"request":{"method":"PUT","url":"Patient/g)" +
                   std::to_string(i) + R"("}})";
  }
  transaction += R"(,{"request":{"method":"DELETE","url":"Practitioner?identifier=urn:npi|7"}}]})";
  WriteText(dir / "in/transaction.json", transaction);
  for (uint64_t streamed : {std::numeric_limits<uint64_t>::max(), uint64_t{1000}}) {
    SCOPED_TRACE(streamed);
    const std::string lake = dir / ("lake" + std::to_string(streamed));
    IngestOptions options;
    options.streamed_document_bytes = streamed;
    options.checkpoint_bytes = 4096;
    auto r = Ingest(lake, {dir / "in"}, options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (streamed == 1000) {
      EXPECT_GT(r->checkpoints, 10u) << "it commits inside";
    }
    EXPECT_FALSE(Holds(lake, "Observation", "o1"));
    // The identifiers matched nothing as the batches began: the Practitioners stay.
    EXPECT_TRUE(Holds(lake, "Practitioner", "dr"));
    EXPECT_TRUE(Holds(lake, "Practitioner", "dr2"));
    EXPECT_EQ(StatusOf(lake).total_resources, 4002u);
  }
}

// In a lake with a key the source's ids are pseudonymized: a DELETE names the resource as the
// source does, and deletes what is stored under its pseudonym. A conditional delete of a
// Patient, matched by a pseudonym link, is refused as a conditional update is.
TEST(DeletionTest, AKeyedLakeDeletesWhatTheSourceIdNames) {
  TempDir dir;
  ASSERT_TRUE(privacy::KeyStore::Create(dir / "lake").ok());
  WriteText(dir / "export/Patient.ndjson",
            Patient("p1", "M1", "") + "\n" + Patient("p2", "M2", "") + "\n");
  WriteText(dir / "export/Observation.ndjson",
            Obs("o1", "p1", "a", "") + "\n" + Obs("o2", "p2", "b", "") + "\n");
  MustIngest(dir / "lake", {dir / "export"});
  EXPECT_EQ(StatusOf(dir / "lake").total_resources, 4u);
  WriteText(
      dir / "deleted.ndjson",
      DeletedLine({"Observation/o1", "Patient/p1", "Patient?identifier=urn:mrn|M2"}, "") + "\n");
  auto r = MustIngest(dir / "lake", {dir / "deleted.ndjson"});
  EXPECT_EQ(r.counters.deleted, 2u);
  EXPECT_EQ(r.counters.quarantined, 1u);
  LakeStatus status = StatusOf(dir / "lake");
  EXPECT_EQ(status.resources["Observation"], 1u);
  EXPECT_EQ(status.resources["Patient"], 1u);
  auto q = QuarantineOf(dir / "lake", 1);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_NE(q[0].reason.find("lake with a key"), std::string::npos) << q[0].reason;
  // The same deletions again change nothing.
  auto again = MustIngest(dir / "lake", {dir / "deleted.ndjson"});
  EXPECT_EQ(again.counters.deleted, 0u);
  EXPECT_EQ(again.counters.duplicates, 2u);
}

// In a lake with a key, a deletion of a Patient whose pseudonym link an earlier chunk of the
// same batch makes is prepared again once that link is published (PreparedChunk): it is counted
// once, and deletes the Patient under the pseudonym the link gives.
TEST(DeletionTest, AKeyedDeletionOfAPatientJustLinkedIsCountedOnce) {
  // The Bundle of Patients takes far longer to prepare than the line of deletions, which is
  // prepared meanwhile on the other thread: it looks for links not yet published.
  constexpr int kPatients = 2000;
  for (int attempt = 0; attempt < 3; ++attempt) {
    TempDir dir;
    ASSERT_TRUE(privacy::KeyStore::Create(dir / "lake").ok());
    // An Observation first: a file that begins with a Patient is read in a wave before the
    // others, its links published before they are prepared.
    std::string patients =
        R"({"resourceType":"Bundle","type":"transaction","entry":[{"resource":)" +
        Obs("o", "q", "a", "") + "},";
    std::vector<std::string> urls;
    for (int i = 0; i < kPatients; ++i) {
      const std::string id = "p" + std::to_string(i);
      if (i > 0) patients += ",";
      patients += R"({"resource":)" + Patient(id, "MR" + std::to_string(i), "") +
                  R"(,"request":{"method":"PUT","url":"Patient/)" + id + R"("}})";
      urls.push_back("Patient/" + id);
    }
    WriteText(dir / "in/a.json", patients + "]}");
    WriteText(dir / "in/b.json", DeletedLine(urls, ""));
    auto r = MustIngest(dir / "lake", {dir / "in"});  // checks that the counts reconcile
    EXPECT_EQ(r.counters.records_read, 2u * kPatients + 1);
    EXPECT_EQ(r.counters.deleted, uint64_t{kPatients});
    EXPECT_EQ(StatusOf(dir / "lake").total_resources, 1u);
  }
}

}  // namespace
}  // namespace medlake::ingest
