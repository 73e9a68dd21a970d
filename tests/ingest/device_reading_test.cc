// Device readings (medlake monitor NDJSON, Open mHealth) to vital-sign Observations.
#include "ingest/device/device_reading.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "json/json.h"
#include "test_util.h"

namespace medlake::ingest {
namespace {

TEST(DeviceReadingTest, MonitorReading) {
  auto r = DeviceReadingToFhir(
      R"({"time":"2022-02-07T01:49:47Z","device":"mon-1","patient":"p7","vital":"spo2","value":93,"unit":"%"})",
      "icu/beds", 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  const std::string& j = (*r)[0].json;
  EXPECT_NE(j.find(R"("code":"59408-5")"), std::string::npos);
  EXPECT_NE(j.find(R"("subject":{"reference":"Patient/p7"})"), std::string::npos);
  EXPECT_NE(j.find(R"("effectiveDateTime":"2022-02-07T01:49:47Z")"), std::string::npos);
  EXPECT_NE(j.find(R"("valueQuantity":{"value":93,"unit":"%")"), std::string::npos);
  json::Parser p;
  EXPECT_TRUE(p.Parse(j).ok());
  // Same reading, same id (a replay is a duplicate).
  auto again = DeviceReadingToFhir(
      R"({"time":"2022-02-07T01:49:47Z","device":"mon-1","patient":"p7","vital":"spo2","value":93,"unit":"%"})",
      "x", 5);
  EXPECT_EQ((*again)[0].id, (*r)[0].id);
}

TEST(DeviceReadingTest, InvalidReadingsAreRejectedWithoutValues) {
  for (const char* bad :
       {R"({"time":"2022-02-07T01:49:47Z","patient":"p7","vital":"spo2","value":"93","unit":"%"})",
        R"({"time":"yesterday","patient":"p7","vital":"spo2","value":93,"unit":"%"})",
        R"({"time":"2022-02-07T01:49:47Z","patient":"p7","vital":"spo2","value":93,"unit":"mmHg"})",
        R"({"time":"2022-02-07T01:49:47Z","patient":"p 7","vital":"spo2","value":93,"unit":"%"})",
        R"({"time":"2022-02-07T01:49:47Z","patient":"p7","vital":"mood","value":93,"unit":"%"})",
        R"({"heart_rate":{"value":50,"unit":"beats/sec"}})", R"({"steps":12})", "[1]", "{"}) {
    auto r = DeviceReadingToFhir(bad, "devices/p7", 0);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message().find("93"), std::string::npos);
  }
}

TEST(DeviceReadingTest, OpenMHealthShouldPassExamplesMap) {
  const std::string root = testing::SharedData("openmhealth-device-data/test-data/omh");
  if (!std::filesystem::exists(root))
    GTEST_SKIP() << "../shared/data/openmhealth-device-data not present";
  size_t mapped = 0;
  for (const char* schema : {"heart-rate", "respiratory-rate", "oxygen-saturation",
                             "body-temperature", "blood-pressure"}) {
    for (auto& version : std::filesystem::directory_iterator(root + "/" + schema)) {
      std::string pass = version.path().string() + "/shouldPass";
      if (!std::filesystem::exists(pass)) continue;
      for (auto& f : std::filesystem::directory_iterator(pass)) {
        auto r = DeviceReadingToFhir(testing::ReadText(f.path().string()), "devices/omh/p0001",
                                     1700000000000);
        EXPECT_TRUE(r.ok()) << f.path() << ": " << r.status().ToString();
        if (r.ok()) mapped += r->size();
      }
    }
  }
  EXPECT_GT(mapped, 20u);
}

TEST(DeviceReadingTest, OpenMHealthDataPointAndUnits) {
  auto r = DeviceReadingToFhir(
      R"({"header":{"id":"x","schema_id":{"namespace":"omh","name":"body-temperature","version":"4.0"}},
    "body":{"body_temperature":{"value":101.3,"unit":"F"},"effective_time_frame":{"date_time":"2024-01-01T10:00:00Z"}}})",
      "devices/omh/p9", 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE((*r)[0].json.find(R"("valueQuantity":{"value":38.5,"unit":"Cel")"), std::string::npos)
      << (*r)[0].json;
  EXPECT_NE((*r)[0].json.find("Patient/p9"), std::string::npos);
  auto bp = DeviceReadingToFhir(
      R"({"systolic_blood_pressure":{"value":160,"unit":"mmHg"},"diastolic_blood_pressure":{"value":60,"unit":"mmHg"}})",
      "devices/omh/p9", 1700000000000);
  ASSERT_TRUE(bp.ok());
  EXPECT_NE((*bp)[0].json.find(R"("code":"85354-9")"), std::string::npos);
  EXPECT_NE((*bp)[0].json.find(R"("code":"8480-6")"), std::string::npos);
  EXPECT_NE((*bp)[0].json.find("2023-11-14T22:13:20.000Z"), std::string::npos);  // time of receipt
}

}  // namespace
}  // namespace medlake::ingest

#include "ingest/ingest.h"
#include "medlake/lake.h"

namespace medlake::ingest {
namespace {

TEST(DeviceReadingTest, DeviceNdjsonFilesReplayIntoTheLake) {
  testing::TempDir dir;
  testing::WriteText(
      dir / "in/readings.ndjson",
      R"({"time":"2024-01-01T10:00:00Z","device":"m1","patient":"p1","vital":"heart_rate","value":80,"unit":"/min"})"
      "\n"
      R"({"time":"2024-01-01T10:00:02Z","device":"m1","patient":"p1","vital":"spo2","value":"low","unit":"%"})"
      "\n"
      R"({"time":"2024-01-01T10:00:04Z","device":"m1","patient":"p1","vital":"temperature","value":38.2,"unit":"Cel"})"
      "\n");
  auto r = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->counters.records_read, 3u);
  EXPECT_EQ(r->counters.stored, 2u);
  EXPECT_EQ(r->counters.quarantined, 1u);
  auto lake = Lake::Open(dir / "lake");
  auto q = (*lake)->Quarantine(10);
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].line, 2);
  EXPECT_EQ((*lake)->Status()->resources["Observation"], 2u);
  auto again = Ingest(dir / "lake", {dir / "in"}, IngestOptions{});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->counters.stored, 0u);
}

}  // namespace
}  // namespace medlake::ingest
