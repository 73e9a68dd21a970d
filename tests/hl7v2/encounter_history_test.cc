// Location history of an Encounter across ADT versions (ingest/hl7v2/encounter_history.h).
#include "ingest/hl7v2/encounter_history.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace medlake::hl7v2 {
namespace {

using nlohmann::json;

const char* kA01 =
    R"({"resourceType":"Encounter","id":"enc-1","status":"in-progress","period":{"start":"2024-03-01T10:10:00Z"},"location":[{"location":{"reference":"Location/w4e","display":"4E"},"status":"active","period":{"start":"2024-03-01T10:10:00Z"}}]})";
const char* kA02 =
    R"({"resourceType":"Encounter","id":"enc-1","status":"in-progress","period":{"start":"2024-03-01T10:10:00Z"},"location":[{"location":{"reference":"Location/w4e","display":"4E"},"status":"completed","period":{"end":"2024-03-02T07:55:00Z"}},{"location":{"reference":"Location/icu","display":"ICU"},"status":"active","period":{"start":"2024-03-02T07:55:00Z"}}]})";
const char* kA03 =
    R"({"resourceType":"Encounter","id":"enc-1","status":"finished","period":{"end":"2024-03-03T12:00:00Z"},"location":[{"location":{"reference":"Location/icu","display":"ICU"},"status":"completed","period":{"end":"2024-03-03T12:00:00Z"}}]})";

TEST(EncounterHistoryTest, AdmissionTransferDischargeKeepsEveryWardWithItsPeriod) {
  EncounterHistory history;
  ASSERT_TRUE(history.Add("enc-1", kA01).ok());
  ASSERT_TRUE(history.Add("enc-1", kA02).ok());
  json e = json::parse(*history.Add("enc-1", kA03));
  EXPECT_EQ(e["status"], "finished");
  EXPECT_EQ(e["period"]["start"], "2024-03-01T10:10:00Z");  // kept from the admission
  EXPECT_EQ(e["period"]["end"], "2024-03-03T12:00:00Z");
  ASSERT_EQ(e["location"].size(), 2u) << e.dump();
  EXPECT_EQ(e["location"][0]["location"]["reference"], "Location/w4e");
  EXPECT_EQ(e["location"][0]["status"], "completed");
  EXPECT_EQ(e["location"][0]["period"]["start"], "2024-03-01T10:10:00Z");
  EXPECT_EQ(e["location"][0]["period"]["end"], "2024-03-02T07:55:00Z");
  EXPECT_EQ(e["location"][1]["location"]["reference"], "Location/icu");
  EXPECT_EQ(e["location"][1]["status"], "completed");
  EXPECT_EQ(e["location"][1]["period"]["start"], "2024-03-02T07:55:00Z");
  EXPECT_EQ(e["location"][1]["period"]["end"], "2024-03-03T12:00:00Z");
}

TEST(EncounterHistoryTest, ReplayedMessageChangesNothingAndReturnToAWardIsANewStay) {
  EncounterHistory history;
  ASSERT_TRUE(history.Add("enc-1", kA01).ok());
  std::string once = *history.Add("enc-1", kA02);
  EXPECT_EQ(*history.Add("enc-1", kA02), once);  // the same transfer again
  // Back to 4E: the first 4E stay is closed, so this is a third entry.
  const char* back =
      R"({"resourceType":"Encounter","id":"enc-1","status":"in-progress","location":[{"location":{"reference":"Location/icu"},"status":"completed","period":{"end":"2024-03-02T20:00:00Z"}},{"location":{"reference":"Location/w4e"},"status":"active","period":{"start":"2024-03-02T20:00:00Z"}}]})";
  json e = json::parse(*history.Add("enc-1", back));
  ASSERT_EQ(e["location"].size(), 3u) << e.dump();
  EXPECT_EQ(e["location"][1]["period"]["end"], "2024-03-02T20:00:00Z");
  EXPECT_EQ(e["location"][2]["location"]["reference"], "Location/w4e");
  EXPECT_EQ(e["location"][2]["status"], "active");
}

TEST(EncounterHistoryTest, FirstVersionComesFromTheLookupAndOthersAreSeparate) {
  int lookups = 0;
  EncounterHistory history([&](const std::string& id) -> Result<std::optional<std::string>> {
    ++lookups;
    if (id == "enc-1") return std::optional<std::string>(kA01);
    if (id == "enc-3") return Corruption("segment 7: checksum mismatch");
    return std::optional<std::string>();
  });
  json e = json::parse(*history.Add("enc-1", kA02));
  EXPECT_EQ(e["location"][0]["period"]["start"], "2024-03-01T10:10:00Z");
  std::string other = R"({"resourceType":"Encounter","id":"enc-2","status":"planned"})";
  EXPECT_EQ(*history.Add("enc-2", other), other);
  EXPECT_EQ(lookups, 2);
  ASSERT_TRUE(history.Add("enc-1", kA03).ok());
  EXPECT_EQ(lookups, 2);  // remembered, not looked up again
  // A lookup that fails is not "no earlier version": the error is returned, nothing merged.
  auto failed = history.Add("enc-3", other);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), ErrorCode::kCorruption);
  EXPECT_FALSE(MergeEncounterLocations("[]", kA01).ok());
}

}  // namespace
}  // namespace medlake::hl7v2
