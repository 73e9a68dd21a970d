// `medlake ingest` reads HL7 v2 files: mapped resources are stored, unsupported or broken
// messages are quarantined with their location, and counts reconcile.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "adt_message.h"
#include "ingest/ingest.h"
#include "medlake/lake.h"
#include "test_util.h"

namespace medlake::ingest {
namespace {

using testing::TempDir;

TEST(Hl7v2IngestTest, AdmissionAndResultsBecomeResources) {
  TempDir dir;
  std::string msgs =
      "MSH|^~\\&|ADT|HOSP|LAKE|HOSP|202401011200||ADT^A01|CTRL1|P|2.5\r"
      "PID|1||MRN123^^^HOSP^MR||Doe^Jane||19600101|F\r"
      "PV1|1|I|WARD1^101^A||||||||||||||||VN1^^^HOSP^VN|||||||||||||||||||||||||202401011100\r"
      "MSH|^~\\&|LAB|HOSP|LAKE|HOSP|202401011300||ORU^R01|CTRL2|P|2.5\r"
      "PID|1||MRN123^^^HOSP^MR||Doe^Jane||19600101|F\r"
      "PV1|1|I|WARD1^101^A||||||||||||||||VN1^^^HOSP^VN\r"
      "OBR|1||LAB1|24323-8^Comprehensive metabolic panel^LN|||202401011230\r"
      "OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.1|N|||F|||202401011230\r"
      "MSH|^~\\&|X|HOSP|LAKE|HOSP|202401011400||ZZZ^Z01|CTRL3|P|2.5\r"
      "ZZZ|1\r";
  testing::WriteText(dir / "in/feed.hl7", msgs);
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& c = r->counters;
  EXPECT_EQ(c.records_read, c.stored + c.duplicates + c.quarantined + c.deleted);
  EXPECT_EQ(c.quarantined, 1u);
  auto lake = Lake::Open(dir / "lake");
  auto s = (*lake)->Status();
  EXPECT_EQ(s->resources["Patient"], 1u);
  EXPECT_EQ(s->resources["Encounter"], 1u);
  EXPECT_EQ(s->resources["Observation"], 1u);
  EXPECT_EQ(s->patients, 1u);
  auto q = (*lake)->Quarantine(10);
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].location, "message 3");
  EXPECT_NE((*q)[0].reason.find("unsupported message type ZZZ^Z01 (control id CTRL3)"),
            std::string::npos);
  // The observation belongs to the patient of the ADT message.
  uint32_t patient = 0xFFFFFFFFu, obs_patient = 0;
  ASSERT_TRUE((*lake)
                  ->Scan(
                      "",
                      [&](const ResourceView& v) {
                        if (v.type == "Patient") patient = v.patient;
                        if (v.type == "Observation") obs_patient = v.patient;
                      },
                      nullptr)
                  .ok());
  EXPECT_EQ(patient, obs_patient);
  // Idempotent.
  auto again = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->counters.stored, 0u);
}

TEST(Hl7v2IngestTest, SampleMessagesAreMappedOrQuarantined) {
  if (!testing::HaveSharedData("hl7v2-samples"))
    GTEST_SKIP() << "../shared/data/hl7v2-samples not present";
  TempDir dir;
  auto r = Ingest(dir / "lake", {testing::SharedData("hl7v2-samples")}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& c = r->counters;
  EXPECT_EQ(c.records_read, c.stored + c.duplicates + c.quarantined + c.deleted);
  EXPECT_EQ(c.records_read,
            254u + 85u);  // 58 messages map to 254 resources; 85 are unsupported types
  EXPECT_EQ(c.quarantined, 85u);
  auto lake = Lake::Open(dir / "lake");
  auto entries = (*lake)->Quarantine(1000);
  ASSERT_TRUE(entries.ok());
  for (const auto& e : *entries) {
    EXPECT_NE(e.reason.find("unsupported message type"), std::string::npos) << e.reason;
  }
}

// An ADT message for visit V100 (see AdtMessage).
std::string Adt(const std::string& event, const std::string& control, const std::string& evn_time,
                const std::string& current, const std::string& prior,
                const std::string& discharge = "") {
  return testing::AdtMessage(event, control, evn_time, current, prior, discharge, "V100", "MRN123");
}

std::string StoredEncounter(const std::string& lake_dir) {
  auto lake = Lake::Open(lake_dir);
  EXPECT_TRUE(lake.ok());
  std::string out;
  std::vector<std::string> damaged;
  EXPECT_TRUE(
      (*lake)
          ->Scan(
              "Encounter", [&](const ResourceView& r) { out = std::string(r.json); }, &damaged)
          .ok());
  return out;
}

void ExpectWholeHistory(const std::string& encounter) {
  // 4E from admission to transfer, then ICU from transfer to discharge.
  EXPECT_NE(
      encounter.find(
          R"("display":"4E / 136 / B"},"status":"completed","period":{"start":"2024-03-01T10:10:00Z","end":"2024-03-02T07:55:00Z"})"),
      std::string::npos)
      << encounter;
  EXPECT_NE(
      encounter.find(
          R"("display":"ICU / 1 / 1"},"status":"completed","period":{"start":"2024-03-02T07:55:00Z","end":"2024-03-03T12:00:00Z"})"),
      std::string::npos)
      << encounter;
  EXPECT_NE(encounter.find(R"("status":"finished")"), std::string::npos) << encounter;
}

TEST(Hl7v2IngestTest, TransfersAndDischargeKeepTheWholeLocationHistory) {
  TempDir dir;
  // Admission and transfer in two files of one run (read in parallel, merged in file order),
  // the discharge in a later run (merged with the committed version).
  testing::WriteText(dir / "in1/day1.hl7", Adt("A01", "C1", "20240301101000", "4E^136^B^GHH", ""));
  testing::WriteText(dir / "in1/day2.hl7",
                     Adt("A02", "C2", "20240302075500", "ICU^1^1^GHH", "4E^136^B^GHH"));
  testing::WriteText(dir / "in2/day3.hl7",
                     Adt("A03", "C3", "20240303120000", "ICU^1^1^GHH", "", "20240303120000"));
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in1"}, IngestOptions{}).ok());
  auto second = Ingest(dir / "lake", {dir / "in2"}, IngestOptions{});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->counters.records_read,
            second->counters.stored + second->counters.duplicates + second->counters.quarantined);
  ExpectWholeHistory(StoredEncounter(dir / "lake"));
}

// The earlier version of an Encounter that cannot be read (its segment is damaged) is not "no
// earlier version": the run fails, naming the file, instead of storing the transfer unmerged
// and losing the admission's ward.
TEST(Hl7v2IngestTest, AnUnreadableEarlierVersionFailsTheRunInsteadOfLosingTheHistory) {
  TempDir dir;
  testing::WriteText(dir / "in1/day1.hl7", Adt("A01", "C1", "20240301101000", "4E^136^B^GHH", ""));
  testing::WriteText(dir / "in2/day2.hl7",
                     Adt("A02", "C2", "20240302075500", "ICU^1^1^GHH", "4E^136^B^GHH"));
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in1"}, IngestOptions{}).ok());
  // A byte of every segment's first data block flipped.
  int damaged = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir / "lake/segments")) {
    if (f.path().extension() != ".mls") continue;
    std::string bytes = testing::ReadText(f.path());
    bytes[20] ^= 0x40;
    testing::WriteText(f.path(), bytes);
    ++damaged;
  }
  ASSERT_GT(damaged, 0);
  auto second = Ingest(dir / "lake", {dir / "in2"}, IngestOptions{});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kCorruption);
  EXPECT_NE(second.status().message().find(".mls"), std::string::npos) << second.status().message();
}

// An ORU^R01 whose patient group repeats (results for two patients in one message) is
// quarantined whole: every result was filed under the first patient, the second patient's
// critical value included.
TEST(Hl7v2IngestTest, AMessageWithSeveralPatientsIsQuarantined) {
  TempDir dir;
  std::string msg =
      "MSH|^~\\&|LAB|HOSP|LAKE|HOSP|202401011300||ORU^R01|CTRL9|P|2.5\r"
      "PID|1||MRN1^^^HOSP^MR||Alpha^Ann||19600101|F\r"
      "OBR|1||FA|2345-7^Glucose^LN|||202401011230\r"
      "OBX|1|NM|2345-7^Glucose^LN||100|mg/dL|70-99|H|||F|||202401011230\r"
      "PID|2||MRN2^^^HOSP^MR||Beta^Bob||19700101|M\r"
      "OBR|2||FB|2345-7^Glucose^LN|||202401011230\r"
      "OBX|1|NM|2345-7^Glucose^LN||400|mg/dL|70-99|HH|||F|||202401011230\r";
  testing::WriteText(dir / "in/multi.hl7", msg);
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.stored, 0u);
  EXPECT_EQ(r->counters.quarantined, 1u);
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto q = (*lake)->Quarantine(10);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_NE((*q)[0].reason.find("several patients"), std::string::npos) << (*q)[0].reason;
  EXPECT_EQ((*q)[0].reason.find("Beta"), std::string::npos) << (*q)[0].reason;
}

std::string StoredPatient(const std::string& lake_dir) {
  auto lake = Lake::Open(lake_dir);
  EXPECT_TRUE(lake.ok());
  std::string out;
  EXPECT_TRUE((*lake)
                  ->Scan(
                      "Patient", [&](const ResourceView& r) { out = std::string(r.json); }, nullptr)
                  .ok());
  return out;
}

// HL7 v2.5 section 2.5.3: a PID field left empty changes nothing, "" deletes. A lab message
// whose PID holds the MRN alone keeps the admission's demographics, whether it comes in the
// same run or a later one; its "" in PID-13 deletes the phone. Re-ingesting stores nothing.
TEST(Hl7v2IngestTest, ASparsePidKeepsTheDemographicsAndItsNullsDelete) {
  const std::string admission =
      "MSH|^~\\&|ADT|HOSP|LAKE|HOSP|202401011200||ADT^A01|C1|P|2.5\r"
      "PID|1||MRN123^^^HOSP^MR||Doe^Jane||19600101|F|||1 Main St^^Town^^12345||555-1234\r"
      "PV1|1|I|WARD1^101^A||||||||||||||||VN1^^^HOSP^VN\r";
  const std::string lab =
      "MSH|^~\\&|LAB|HOSP|LAKE|HOSP|202401011300||ORU^R01|C2|P|2.5\r"
      "PID|1||MRN123^^^HOSP^MR||||||||||\"\"\r"
      "OBR|1||LAB1|2823-3^Potassium^LN|||202401011230\r"
      "OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.1|N|||F|||202401011230\r";
  for (bool one_run : {true, false}) {
    SCOPED_TRACE(one_run ? "one run" : "two runs");
    TempDir dir;
    testing::WriteText(dir / "in1/a.hl7", admission);
    testing::WriteText(dir / (one_run ? "in1/b.hl7" : "in2/b.hl7"), lab);
    ASSERT_TRUE(Ingest(dir / "lake", {dir / "in1"}, IngestOptions{}).ok());
    if (!one_run) {
      ASSERT_TRUE(Ingest(dir / "lake", {dir / "in2"}, IngestOptions{}).ok());
    }
    std::string patient = StoredPatient(dir / "lake");
    EXPECT_NE(patient.find(R"("family":"Doe")"), std::string::npos) << patient;
    EXPECT_NE(patient.find(R"("birthDate":"1960-01-01")"), std::string::npos) << patient;
    EXPECT_NE(patient.find(R"("gender":"female")"), std::string::npos) << patient;
    EXPECT_NE(patient.find(R"("city":"Town")"), std::string::npos) << patient;
    EXPECT_EQ(patient.find("telecom"), std::string::npos) << patient;
    // Idempotent: the same files again store nothing.
    std::vector<std::string> all = {dir / "in1"};
    if (!one_run) all.push_back(dir / "in2");
    auto again = Ingest(dir / "lake", all, IngestOptions{});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->counters.stored, 0u);
    EXPECT_EQ(StoredPatient(dir / "lake"), patient);
  }
}

// ADT^A13 cancels a discharge: the stay is in progress again, in the ward it had ended in.
TEST(Hl7v2IngestTest, ACancelledDischargeReopensTheStayAndItsLastWard) {
  TempDir dir;
  testing::WriteText(dir / "in1/day1.hl7",
                     Adt("A01", "C1", "20240301101000", "4E^136^B^GHH", "") +
                         Adt("A03", "C2", "20240303120000", "4E^136^B^GHH", "", "20240303120000"));
  testing::WriteText(dir / "in2/day3.hl7", Adt("A13", "C3", "20240303130000", "4E^136^B^GHH", ""));
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in1"}, IngestOptions{}).ok());
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in2"}, IngestOptions{}).ok());
  std::string encounter = StoredEncounter(dir / "lake");
  EXPECT_NE(encounter.find(R"("status":"in-progress")"), std::string::npos) << encounter;
  EXPECT_EQ(encounter.find(R"("end")"), std::string::npos) << encounter;
  EXPECT_NE(encounter.find(R"("location":[{"location":{"reference":"Location/)"), std::string::npos)
      << encounter;
  EXPECT_NE(encounter.find(R"("status":"active","period":{"start":"2024-03-01T10:10:00Z"}}])"),
            std::string::npos)
      << "one 4E entry, open again: " << encounter;
}

// A time without an offset is in the sender's zone, which MSH-7's offset gives.
TEST(Hl7v2IngestTest, TimesWithoutAnOffsetTakeTheOffsetOfMsh7) {
  TempDir dir;
  testing::WriteText(dir / "in/lab.hl7",
                     "MSH|^~\\&|LAB|HOSP|LAKE|HOSP|202401011300+0100||ORU^R01|C2|P|2.5\r"
                     "PID|1||MRN123^^^HOSP^MR\r"
                     "OBR|1||LAB1|2823-3^Potassium^LN|||202401011230\r"
                     "OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L|||||F|||202401011230-0500\r"
                     "OBX|2|NM|2951-2^Sodium^LN||140|mmol/L|||||F|||202401011230\r");
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in"}, IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  std::string all;
  ASSERT_TRUE((*lake)
                  ->Scan(
                      "Observation", [&](const ResourceView& r) { all.append(r.json); }, nullptr)
                  .ok());
  EXPECT_NE(all.find(R"("effectiveDateTime":"2024-01-01T12:30:00-05:00")"), std::string::npos)
      << all;
  EXPECT_NE(all.find(R"("effectiveDateTime":"2024-01-01T12:30:00+01:00")"), std::string::npos)
      << all;
}

// Re-ingesting an ADT history over its own result: each message is older than the stay's
// last change, so none of them is merged again (an A08 replayed over the finished stay added
// an open ward entry, the next A02 closed it: a fourth, wrong entry, and versions stored on
// every re-run). The messages' time (MSH-7) is each resource's meta.lastUpdated.
TEST(Hl7v2IngestTest, ReingestingAnAdtHistoryChangesNothing) {
  TempDir dir;
  testing::WriteText(dir / "in/adt.hl7",
                     Adt("A01", "C1", "20240301101000", "4E^136^B^GHH", "") +
                         Adt("A08", "C2", "20240301111000", "4E^136^B^GHH", "") +
                         Adt("A02", "C3", "20240302075500", "ICU^1^1^GHH", "4E^136^B^GHH") +
                         Adt("A03", "C4", "20240303120000", "ICU^1^1^GHH", "", "20240303120000"));
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in"}, IngestOptions{}).ok());
  std::string first = StoredEncounter(dir / "lake");
  ExpectWholeHistory(first);
  EXPECT_NE(first.find(R"("meta":{"lastUpdated":"2024-03-03T12:00:00Z"})"), std::string::npos)
      << first;
  for (int run = 0; run < 2; ++run) {
    auto again = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->counters.stored, 0u);
    EXPECT_EQ(StoredEncounter(dir / "lake"), first);
  }
}

// A corrected result sent later wins whatever the order of the input: the versions of an
// Observation are ordered by their message's time, not by where they are read.
TEST(Hl7v2IngestTest, ALaterMessageWinsWhateverTheInputOrder) {
  TempDir dir;
  auto oru = [](const std::string& time, const std::string& value, const std::string& status) {
    return "MSH|^~\\&|LAB|HOSP|LAKE|HOSP|" + time + "||ORU^R01|C" + time + "|P|2.5\r" +
           "PID|1||MRN123^^^HOSP^MR\r" + "OBR|1||LAB1|2823-3^Potassium^LN|||202401011230\r" +
           "OBX|1|NM|2823-3^Potassium^LN||" + value + "|mmol/L|||||" + status + "|||202401011230\r";
  };
  // The correction (14:00) comes first in the input, the preliminary result (13:00) after it.
  testing::WriteText(dir / "in/a.hl7", oru("202401011400", "4.4", "C"));
  testing::WriteText(dir / "in/b.hl7", oru("202401011300", "9.9", "P"));
  ASSERT_TRUE(Ingest(dir / "lake", {dir / "in"}, IngestOptions{}).ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  std::string obs;
  ASSERT_TRUE(
      (*lake)
          ->Scan(
              "Observation", [&](const ResourceView& r) { obs = std::string(r.json); }, nullptr)
          .ok());
  EXPECT_NE(obs.find(R"("value":4.4)"), std::string::npos) << obs;
  EXPECT_NE(obs.find(R"("status":"corrected")"), std::string::npos) << obs;
}

}  // namespace
}  // namespace medlake::ingest
