// End to end: an HL7 v2 ORU^R01 vital-signs message → FHIR Observations → NEWS2 readings →
// the score the RCP chart gives by hand.
#include <gtest/gtest.h>

#include <string>

#include "common/fhir_time.h"
#include "ingest/hl7v2/fhir_mapper.h"
#include "json/json.h"
#include "scores/news2_batch.h"
#include "scores/vital_codes.h"

namespace medlake::hl7v2 {
namespace {

using scores::Parameter;

std::string CodeOf(json::Node cc) {
  std::string code;
  if (auto coding = cc.Find("coding")) {
    coding->ForEachItem([&](json::Node c) {
      code = std::string(c.Find("code")->GetString());
      return false;
    });
  }
  return code;
}

TEST(VitalsToNews2, OruVitalSignsScoreAsTheChartSays) {
  constexpr char kOru[] =
      "MSH|^~\\&|MONITOR|WARD4|LAKE|LAKE|20240301101000||ORU^R01^ORU_R01|VIT-1|P|2.5\r"
      "PID|1||MRN55^^^HOSP1^MR\r"
      "PV1|1|I|W4^^007^HOSP1||||||||||||||||V55\r"
      "OBR|1||V55-v1|85353-1^Vital signs panel^LN|||20240301100000\r"
      "OBX|1|NM|8867-4^Heart rate^LN||112|/min^/min^UCUM|||||F|||20240301100000\r"
      "OBX|2|NM|9279-1^Respiratory rate^LN||23|/min^/min^UCUM|||||F|||20240301100000\r"
      "OBX|3|NM|59408-5^SpO2^LN||95|%^%^UCUM|||||F|||20240301100000\r"
      "OBX|4|NM|8310-5^Body temperature^LN||38.4|Cel^Cel^UCUM|||||F|||20240301100000\r"
      "OBX|5|NM|8480-6^Systolic blood pressure^LN||98|mm[Hg]^mm[Hg]^UCUM|||||F|||20240301100000\r"
      "OBX|6|CWE|67775-7^Level of responsiveness^LN||248234008^Mentally alert^SCT||||||F|||"
      "20240301100000\r"
      "OBX|7|NM|3150-0^Inhaled oxygen concentration^LN||28|%^%^UCUM|||||F|||20240301100000\r";
  auto message = Message::Parse(kOru);
  ASSERT_TRUE(message.ok());
  auto mapped = MapToFhir(*message);
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();

  json::Parser parser;
  scores::PatientVitals vitals;
  int64_t latest = kNoTime;
  int readings = 0;
  for (const MappedResource& r : mapped->resources) {
    if (r.resource_type != "Observation") continue;
    auto obs = parser.Parse(r.json);
    ASSERT_TRUE(obs.ok());
    std::string code = CodeOf(*obs->Find("code"));
    int64_t t = ParseFhirTime(obs->Find("effectiveDateTime")->GetString())->start;
    latest = std::max(latest, t);
    if (auto q = obs->Find("valueQuantity")) {
      auto unit = q->Find("code");
      auto v = scores::VitalFromQuantity(code, q->Find("value")->GetDouble(),
                                         unit ? unit->GetString() : "");
      ASSERT_TRUE(v.has_value()) << code;
      EXPECT_TRUE(vitals.Add(v->parameter, t, v->value));
      ++readings;
    } else if (code == "67775-7") {
      auto level = scores::AcvpuFromCode(CodeOf(*obs->Find("valueCodeableConcept")));
      ASSERT_TRUE(level.has_value());
      EXPECT_TRUE(vitals.Add(Parameter::kConsciousness, t, static_cast<double>(*level)));
      ++readings;
    }
  }
  EXPECT_EQ(readings, 7);
  scores::News2Result r = vitals.News2(latest, scores::SpO2Scale::kScale1);
  // Chart 1: pulse 112 → 2, RR 23 → 2, SpO2 95 → 1, temperature 38.4 → 1, SBP 98 → 2,
  // alert → 0, FiO2 28 % (oxygen) → 2.
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.subscores[static_cast<size_t>(Parameter::kPulse)], 2);
  EXPECT_EQ(r.subscores[static_cast<size_t>(Parameter::kRespirationRate)], 2);
  EXPECT_EQ(r.subscores[static_cast<size_t>(Parameter::kSpO2)], 1);
  EXPECT_EQ(r.subscores[static_cast<size_t>(Parameter::kTemperature)], 1);
  EXPECT_EQ(r.subscores[static_cast<size_t>(Parameter::kSystolicBp)], 2);
  EXPECT_EQ(r.subscores[static_cast<size_t>(Parameter::kConsciousness)], 0);
  EXPECT_EQ(r.subscores[static_cast<size_t>(Parameter::kSupplementalOxygen)], 2);
  EXPECT_EQ(r.aggregate, 10);
  EXPECT_EQ(r.band, scores::RiskBand::kHigh);
  EXPECT_EQ(vitals.QSofa(latest).score, 2);  // RR >= 22 and SBP <= 100
}

}  // namespace
}  // namespace medlake::hl7v2
