// Erasure (GDPR art. 17) at the level of segment bytes: superseded versions of the patient's
// resources are rows of their segments too, and a stream's unstored records would bring the
// patient back.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ingest/ingest.h"
#include "keyed_lake.h"
#include "medlake/lake.h"
#include "privacy/key_store.h"
#include "privacy/segment_cipher.h"
#include "privacy/vault.h"
#include "query/patient_export.h"
#include "store/segment.h"
#include "test_util.h"

namespace medlake::query {
namespace {

std::string Obs(const std::string& id, const std::string& patient, const std::string& updated,
                int value) {
  return R"({"resourceType":"Observation","id":")" + id + R"(","meta":{"lastUpdated":")" + updated +
         R"("},"status":"final","code":{"text":"x"},"subject":{"reference":"Patient/)" + patient +
         R"("},"valueQuantity":{"value":)" + std::to_string(value) + "}}\n";
}

// Every row of every segment file of the lake, deleted ones included, as JSON.
std::string AllRows(const std::string& lake) {
  auto cipher = privacy::SegmentCipher::ForLake(lake);
  EXPECT_TRUE(cipher.ok());
  std::string all;
  for (const auto& f : std::filesystem::recursive_directory_iterator(lake + "/segments")) {
    if (f.path().extension() != ".mls") continue;
    auto reader = store::SegmentReader::Open(f.path().string(), cipher->get());
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) continue;
    for (uint32_t i = 0; i < (*reader)->columns().rows; ++i) {
      auto row = (*reader)->ReadRow(i);
      EXPECT_TRUE(row.ok());
      if (row.ok()) all += row->json + "\n";
    }
  }
  return all;
}

// What de-identification removes inside an array item that it then empties whole (a payload
// whose attachment held data alone), and a kept US Core extension that loses its value: the
// stored form marks the item masked and keeps the extension valid (R4 ext-1), and
// export-patient puts the data back without the mark (it left the mark on the item beside the
// data it restored: a review).
TEST(EraseTest, ExportPatientPutsBackWhatAMaskedItemHeld) {
  testing::TempDir dir;
  testing::CreateKeyedLake(dir / "lake");
  testing::WriteText(
      dir / "in/a.ndjson",
      std::string(
          R"({"resourceType":"Patient","id":"src-2","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueIdentifier":{"value":"ZZX"}}]})") +
          "\n" +
          R"({"resourceType":"Communication","id":"c2","status":"completed","subject":{"reference":"Patient/src-2"},"payload":[{"contentAttachment":{"data":"WlpSMkRBVEE="}}]})" +
          "\n");
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  const std::string stored = AllRows(dir / "lake");
  EXPECT_EQ(stored.find("WlpSMkRBVEE="), std::string::npos);
  EXPECT_EQ(stored.find("ZZX"), std::string::npos);
  EXPECT_NE(stored.find("\"payload\":[{\"extension\""), std::string::npos) << stored;
  // The extension keeps its url with the masked extension inside, not its url alone.
  EXPECT_EQ(stored.find("us-core-birthsex\"}"), std::string::npos) << stored;

  auto exported = ExportPatient({dir / "lake", "src-2", "", "test"});
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();
  const auto bundle = nlohmann::json::parse(exported->bundle_json);
  bool found = false;
  for (const auto& entry : bundle["entry"]) {
    const auto& resource = entry["resource"];
    if (resource["resourceType"] != "Communication") continue;
    found = true;
    EXPECT_EQ(resource["payload"][0],
              nlohmann::json::parse(R"({"contentAttachment":{"data":"WlpSMkRBVEE="}})"))
        << resource.dump();
  }
  EXPECT_TRUE(found);
}

// A superseded version of an erased patient's Observation stayed in its segment (skipped
// as not live, the segment was not rewritten): its value and the patient's pseudonym were
// still there, decryptable with the lake key.
TEST(EraseTest, SupersededVersionsAreErasedToo) {
  testing::TempDir dir;
  testing::CreateKeyedLake(dir / "lake");
  // Three runs: the patients; the first version alone in a segment; the second version.
  testing::WriteText(dir / "in1/a.ndjson",
                     std::string(R"({"resourceType":"Patient","id":"src-9"})") + "\n" +
                         R"({"resourceType":"Patient","id":"src-10"})" + "\n" +
                         Obs("o2", "src-10", "2024-01-01T00:00:00Z", 333));
  testing::WriteText(dir / "in2/b.ndjson", Obs("o1", "src-9", "2024-01-01T00:00:00Z", 111));
  testing::WriteText(dir / "in3/c.ndjson", Obs("o1", "src-9", "2024-02-01T00:00:00Z", 222));
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in1"}, ingest::IngestOptions{}).ok());
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in2"}, ingest::IngestOptions{}).ok());
  auto third = ingest::Ingest(dir / "lake", {dir / "in3"}, ingest::IngestOptions{});
  ASSERT_TRUE(third.ok());
  ASSERT_EQ(third->counters.replaced, 1u);
  ASSERT_NE(AllRows(dir / "lake").find(R"("value":111)"), std::string::npos);

  // A stream's inbox not yet stored: refused, nothing erased.
  testing::WriteText(dir / "lake/inbox/stream.log", "x");
  auto refused = ErasePatientData(dir / "lake", "src-9", "", "test");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("inbox"), std::string::npos);
  ASSERT_NE(AllRows(dir / "lake").find(R"("value":222)"), std::string::npos);
  std::filesystem::remove(dir / "lake/inbox/stream.log");

  auto erased = ErasePatientData(dir / "lake", "src-9", "", "test");
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  std::string rows = AllRows(dir / "lake");
  EXPECT_EQ(rows.find(R"("value":111)"), std::string::npos) << "the superseded version";
  EXPECT_EQ(rows.find(R"("value":222)"), std::string::npos);
  EXPECT_NE(rows.find(R"("value":333)"), std::string::npos) << "the other patient's";
}

// An ingest killed between the vault's transaction and the catalog's leaves vault records of
// resources the lake does not hold, which an erasure, naming records by the rows that held the
// patient, did not find: they are dropped first, as the next ingest would.
TEST(EraseTest, RecordsOfACommitThatDidNotHappenAreErasedToo) {
  testing::TempDir dir;
  auto keys = testing::CreateKeyedLake(dir / "lake");
  testing::WriteText(dir / "in/a.ndjson",
                     std::string(R"({"resourceType":"Patient","id":"src-9"})") + "\n" +
                         R"({"resourceType":"Patient","id":"src-10","name":[{"family":"Keep"}]})" +
                         "\n");
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto pseudonym = FindStoredPatient(dir / "lake", "src-9");
  auto other = FindStoredPatient(dir / "lake", "src-10");
  ASSERT_TRUE(pseudonym.ok() && other.ok());
  uint64_t commits = (*Lake::Open(dir / "lake"))->commits();
  const std::string lost = *pseudonym + "/Observation/o9";
  {
    // What the killed run wrote for the commit after the catalog's last.
    auto vault = privacy::Vault::Open(keys);
    ASSERT_TRUE(vault.ok());
    ASSERT_TRUE((*vault)->Stage(commits + 1, {{lost, R"([{"note":"Crashnote"}])"}}).ok());
  }
  auto erased = ErasePatientData(dir / "lake", "src-9", "", "test");
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  auto vault = privacy::Vault::Open(keys);
  ASSERT_TRUE(vault.ok());
  EXPECT_EQ((*vault)->Get(lost).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ((*vault)->Get(*pseudonym).status().code(), ErrorCode::kNotFound);
  auto kept = (*vault)->Get(*other);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_NE(kept->find("Keep"), std::string::npos);
}

}  // namespace
}  // namespace medlake::query
