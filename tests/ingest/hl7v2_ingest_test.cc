// `medlake ingest` reads HL7 v2 files: mapped resources are stored, unsupported or broken
// messages are quarantined with their location, and counts reconcile.
#include <gtest/gtest.h>

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
  EXPECT_EQ(c.records_read, c.stored + c.duplicates + c.quarantined);
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
  EXPECT_EQ(c.records_read, c.stored + c.duplicates + c.quarantined);
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

}  // namespace
}  // namespace medlake::ingest
