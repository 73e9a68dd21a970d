// medlake watch end to end: readings arriving by replay file, through a real mosquitto broker
// and over real MLLP TCP connections are stored, scored live, and raise exactly the alerts of
// the bands they enter (RCP NEWS2 2017, chart 2), as NDJSON, as MQTT messages and as stored
// RiskAssessments that validate against the FHIR R4 schema.
#include <gtest/gtest.h>
#include <mosquitto.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fhir_time.h"
#include "medlake/lake.h"
#include "mosquitto_broker.h"
#include "server/mllp_server.h"
#include "server/mqtt_publisher.h"
#include "server/mqtt_subscriber.h"
#include "test_util.h"
#include "watch/replay.h"
#include "watch/watcher.h"

namespace medlake::watch {
namespace {

using nlohmann::json;

struct Vital {
  const char* name;
  const char* unit;
  double value;
};

std::string MonitorReading(const std::string& patient, int minute, const Vital& v) {
  char time[32];
  std::snprintf(time, sizeof time, "2024-03-01T10:%02d:00Z", minute);
  json j = {{"time", time},    {"device", "mon-1"}, {"patient", patient},
            {"vital", v.name}, {"value", v.value},  {"unit", v.unit}};
  return j.dump();
}

constexpr Vital Rr(double v) {
  return {"respiratory_rate", "/min", v};
}
constexpr Vital Spo2(double v) {
  return {"spo2", "%", v};
}
constexpr Vital Hr(double v) {
  return {"heart_rate", "/min", v};
}
constexpr Vital Temp(double v) {
  return {"temperature", "Cel", v};
}
constexpr Vital Sbp(double v) {
  return {"systolic_bp", "mm[Hg]", v};
}

// A patient walked from low to high, down to low and up again, one reading per record:
// low (all normal) -> RR 26 low-medium -> HR 85 stays -> SpO2 93 medium (5) -> HR 120 high
// (7) -> RR 16 low (4) -> RR 26 high (7).
std::vector<std::string> Walk(const std::string& patient) {
  std::vector<std::pair<int, Vital>> steps = {
      {0, Rr(16)}, {0, Spo2(97)}, {0, Hr(80)},  {0, Temp(37.0)}, {0, Sbp(120)}, {1, Rr(26)},
      {2, Hr(85)}, {3, Spo2(93)}, {4, Hr(120)}, {5, Rr(16)},     {6, Rr(26)},
  };
  std::vector<std::string> out;
  for (const auto& [minute, v] : steps) out.push_back(MonitorReading(patient, minute, v));
  return out;
}

const std::vector<std::string> kExpectedBands = {"low-medium", "medium", "high", "high"};
const std::vector<std::string> kExpectedPrevious = {"low", "low-medium", "medium", "low"};

std::vector<json> ReadAlerts(const std::string& path) {
  std::vector<json> out;
  std::string text = testing::ReadText(path);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) out.push_back(json::parse(text.substr(pos, end - pos)));
    pos = end + 1;
  }
  return out;
}

void ExpectWalkAlerts(const std::vector<json>& alerts, const std::string& patient_prefix) {
  ASSERT_EQ(alerts.size(), kExpectedBands.size());
  for (size_t i = 0; i < alerts.size(); ++i) {
    const json& a = alerts[i];
    EXPECT_EQ(a["band"], kExpectedBands[i]) << a.dump();
    EXPECT_EQ(a["previous_band"], kExpectedPrevious[i]) << a.dump();
    EXPECT_EQ(a["patient"].get<std::string>().rfind(patient_prefix, 0), 0u) << a.dump();
    EXPECT_FALSE(a["complete"].get<bool>());  // oxygen and consciousness never recorded
    EXPECT_EQ(a["missing"], json({"supplemental_oxygen", "consciousness"}));
    EXPECT_GE(a["latency_ms"].get<double>(), 0.0);
    for (const char* key : {"time", "score", "subscores", "stale", "single_parameter_red",
                            "monitoring", "response", "qsofa", "location", "reading_time"}) {
      EXPECT_TRUE(a.contains(key)) << key;
    }
  }
  EXPECT_EQ(alerts[0]["score"], 3);
  EXPECT_TRUE(alerts[0]["single_parameter_red"].get<bool>());
  EXPECT_EQ(alerts[1]["score"], 5);
  EXPECT_EQ(alerts[2]["score"], 7);
  EXPECT_EQ(alerts[3]["score"], 7);
  EXPECT_EQ(alerts[3]["reading_time"], "2024-03-01T10:06:00.000Z");
}

// The stored RiskAssessments, one JSON per line, and their count.
std::vector<json> StoredRiskAssessments(const std::string& lake_dir) {
  std::vector<json> out;
  auto lake = Lake::Open(lake_dir);
  EXPECT_TRUE(lake.ok());
  if (!lake.ok()) return out;
  std::vector<std::string> damaged;
  EXPECT_TRUE((*lake)
                  ->Scan(
                      "RiskAssessment",
                      [&](const ResourceView& r) { out.push_back(json::parse(r.json)); }, &damaged)
                  .ok());
  return out;
}

// Validates resources against the official FHIR R4 JSON schema with the script the HL7 v2
// tests use; skipped (returns true) when python3-jsonschema or the schema is absent.
void ExpectValidFhir(const std::vector<json>& resources, const std::string& dir) {
  std::string file = dir + "/resources.ndjson";
  std::string text;
  for (const auto& r : resources) text += r.dump() + "\n";
  testing::WriteText(file, text);
  std::string cmd = std::string("python3 ") + MEDLAKE_SOURCE_DIR +
                    "/tests/hl7v2/validate_fhir_schema.py " +
                    testing::SharedData("fhir-r4-definitions/fhir.schema.json") + " -- cat " +
                    file + " > " + dir + "/validate.log 2>&1";
  int rc = std::system(cmd.c_str());
  int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  if (code == 77) return;
  EXPECT_EQ(code, 0) << testing::ReadText(dir + "/validate.log");
}

// Writes `lines` as `dir`/readings.ndjson and replays them through `ingestor`; the number of
// readings replayed.
Result<uint64_t> ReplayLines(ingest::StreamIngestor& ingestor, const std::string& dir,
                             const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  testing::WriteText(dir + "/readings.ndjson", text);
  std::FILE* in = std::fopen((dir + "/readings.ndjson").c_str(), "r");
  if (in == nullptr) return IoError("cannot open readings.ndjson");
  auto n = ReplayReadings(ingestor, in, "readings.ndjson");
  std::fclose(in);
  return n;
}

// One reading timed in the future (a device clock a year ahead) made every real reading of
// its patient look stale, so the walk raised no alert: such a reading is not scored.
TEST(WatchTest, AReadingFromTheFutureDoesNotSilenceThePatient) {
  testing::TempDir dir;
  std::vector<std::string> lines = {
      R"({"time":"2099-03-01T10:00:00Z","device":"mon-1","patient":"p1","vital":"temperature","value":37.0,"unit":"Cel"})"};
  for (const auto& l : Walk("p1")) lines.push_back(l);
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
  std::FILE* alerts = std::fopen((dir / "alerts.ndjson").c_str(), "w");
  WatchOptions options;
  options.alerts = alerts;
  options.store_risk_assessments = false;
  Watcher watcher(**ingestor, options);
  ASSERT_TRUE(ReplayLines(**ingestor, dir.path(), lines).ok());
  watcher.Stop();
  std::fclose(alerts);
  EXPECT_EQ(watcher.stats().future_readings, 1u);
  ExpectWalkAlerts(ReadAlerts(dir / "alerts.ndjson"), "p1");
}

// Open mHealth statistics over a day (a maximum heart rate of 150, a minimum SpO2 of 88) are
// stored, but they are not spot readings: nothing is scored, no alert is raised. A single
// measurement over an interval is a reading.
TEST(WatchTest, StatisticsOverAnIntervalAreNotScored) {
  testing::TempDir dir;
  std::vector<std::string> lines = {
      R"({"patient":"P6","header":{"schema_id":{"namespace":"omh","name":"heart-rate","version":"2.0"}},"body":{"heart_rate":{"value":150,"unit":"beats/min"},"effective_time_frame":{"time_interval":{"start_date_time":"2024-03-01T00:00:00Z","end_date_time":"2024-03-02T00:00:00Z"}},"descriptive_statistic":"maximum"}})",
      R"({"patient":"P6","header":{"schema_id":{"namespace":"omh","name":"oxygen-saturation","version":"2.0"}},"body":{"oxygen_saturation":{"value":88,"unit":"%"},"effective_time_frame":{"time_interval":{"start_date_time":"2024-03-01T00:00:00Z","end_date_time":"2024-03-02T00:00:00Z"}},"descriptive_statistic":"minimum"}})"};
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
  std::FILE* alerts = std::fopen((dir / "alerts.ndjson").c_str(), "w");
  WatchOptions options;
  options.alerts = alerts;
  options.store_risk_assessments = false;
  Watcher watcher(**ingestor, options);
  ASSERT_TRUE(ReplayLines(**ingestor, dir.path(), lines).ok());
  EXPECT_EQ(watcher.stats().readings, 0u);
  // A heart rate of 140 measured over one minute scores 3.
  ASSERT_TRUE(
      ReplayLines(
          **ingestor, dir.path(),
          {R"({"patient":"P6","heart_rate":{"value":140,"unit":"beats/min"},"effective_time_frame":{"time_interval":{"start_date_time":"2024-03-01T10:00:00Z","end_date_time":"2024-03-01T10:01:00Z"}}})"})
          .ok());
  watcher.Stop();
  std::fclose(alerts);
  EXPECT_EQ(watcher.stats().readings, 1u);
  auto raised = ReadAlerts(dir / "alerts.ndjson");
  ASSERT_EQ(raised.size(), 1u);
  EXPECT_EQ(raised[0]["subscores"], json({{"pulse", 3}}));
  ingestor->reset();
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->resources["Observation"], 3u);
}

TEST(WatchTest, ReplayWalkRaisesExactlyTheExpectedAlertsAndStoresRiskAssessments) {
  testing::TempDir dir;
  std::vector<std::string> lines = Walk("p1");
  // An invalid reading on line 3: quarantined with its file and line, the rest goes on.
  lines.insert(
      lines.begin() + 2,
      R"({"time":"2024-03-01T10:00:00Z","patient":"p1","vital":"heart_rate","value":"fast","unit":"/min"})");
  {
    auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
    ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
    std::FILE* alerts = std::fopen((dir / "alerts.ndjson").c_str(), "w");
    WatchOptions options;
    options.alerts = alerts;
    Watcher watcher(**ingestor, options);
    ASSERT_TRUE(watcher.Seed(dir / "lake", 0).ok());
    auto n = ReplayLines(**ingestor, dir.path(), lines);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, lines.size());
    watcher.Stop();
    std::fclose(alerts);
    auto s = watcher.stats();
    EXPECT_EQ(s.readings, 11u);
    EXPECT_EQ(s.alerts, 4u);
    EXPECT_EQ(s.risk_assessments, 4u);
  }
  ExpectWalkAlerts(ReadAlerts(dir / "alerts.ndjson"), "p1");

  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto q = (*lake)->Quarantine(10);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].source, "readings.ndjson");
  EXPECT_EQ((*q)[0].line, 3);
  EXPECT_NE((*q)[0].reason.find("not a number"), std::string::npos) << (*q)[0].reason;
  EXPECT_EQ((*lake)->Status()->resources["Observation"], 11u);

  auto risks = StoredRiskAssessments(dir / "lake");
  ASSERT_EQ(risks.size(), 4u);
  for (const auto& r : risks) {
    EXPECT_EQ(r["status"], "final");
    EXPECT_EQ(r["subject"]["reference"], "Patient/p1");
    EXPECT_TRUE(r.contains("occurrenceDateTime"));
    EXPECT_EQ(r["prediction"][0]["qualitativeRisk"]["coding"][0]["system"],
              "http://terminology.hl7.org/CodeSystem/risk-probability");
    EXPECT_FALSE(r["basis"].empty());
    for (const auto& b : r["basis"]) {
      std::string ref = b["reference"];
      ASSERT_EQ(ref.rfind("Observation/", 0), 0u);
      EXPECT_TRUE((*lake)->Get("Observation", ref.substr(12)).ok()) << ref;
    }
  }
  ExpectValidFhir(risks, dir.path());
}

// A patient admitted while watch runs: was scored on scale 1 (their stored hypercapnic
// failure unknown) without stay or bed; after a transfer and a discharge, alerts named the
// bed of the start. The stream's Encounters now update the stay, and a patient first seen
// in the stream starts on their scale.
TEST(WatchTest, AdmissionsAndDischargesInTheStreamUpdateTheStayAndScale) {
  testing::TempDir dir;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  {  // Known hypercapnic failure (confirmed, ICD-10-CM J96.12); no stay at start.
    auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
    ASSERT_TRUE(ingestor.ok());
    auto stored = (*ingestor)->AcceptResources({
        R"({"resourceType":"Patient","id":"h3"})",
        R"({"resourceType":"Condition","id":"c3","subject":{"reference":"Patient/h3"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"J96.12"}]}})",
    });
    ASSERT_TRUE(stored.ok());
  }
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok());
  std::FILE* alerts = std::fopen((dir / "alerts.ndjson").c_str(), "w");
  WatchOptions options;
  options.alerts = alerts;
  options.store_risk_assessments = false;
  Watcher watcher(**ingestor, options);
  ASSERT_EQ(*watcher.Seed(dir / "lake", now), 0u);
  auto encounter = [&](const char* status, const char* bed) {
    return std::string(R"({"resourceType":"Encounter","id":"e3","status":")") + status +
           R"(","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/h3"},"period":{"start":")" +
           FormatUtc(now - 7'200'000) + R"("},"location":[{"location":{"display":")" + bed +
           R"("},"status":"active"}]})";
  };
  auto omh = [&](const std::string& body) {
    return ingest::StreamIngestor::Reading{
        "medlake/devices/omh/h3", "{" + body + R"(,"effective_time_frame":{"date_time":")" +
                                      FormatUtc(now - 60'000) + R"("}})"};
  };
  ASSERT_TRUE((*ingestor)->AcceptResources({encounter("in-progress", "Ward 9 / Bed 1")}).ok());
  // SpO2 97 % on 2 L/min: on scale 2, 3 + 2 for the oxygen = 5, medium (on scale 1: 2).
  ASSERT_TRUE((*ingestor)
                  ->AcceptDeviceReadings({omh(R"("oxygen_saturation":{"value":97,"unit":"%"})")})
                  .ok());
  ASSERT_TRUE(
      (*ingestor)
          ->AcceptResources(
              {R"({"resourceType":"Observation","id":"flow","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"3151-8"}]},"subject":{"reference":"Patient/h3"},"effectiveDateTime":")" +
               FormatUtc(now - 60'000) +
               R"(","valueQuantity":{"value":2,"system":"http://unitsofmeasure.org","code":"L/min"}})"})
          .ok());
  ASSERT_TRUE((*ingestor)->AcceptResources({encounter("in-progress", "ICU / Bed 4")}).ok());
  ASSERT_TRUE(
      (*ingestor)
          ->AcceptDeviceReadings({omh(R"("respiratory_rate":{"value":26,"unit":"breaths/min"})")})
          .ok());
  watcher.Stop();
  std::fclose(alerts);
  auto got = ReadAlerts(dir / "alerts.ndjson");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["scale"], 2);
  EXPECT_EQ(got[0]["band"], "medium");
  EXPECT_EQ(got[0]["encounter"], "e3");
  EXPECT_EQ(got[0]["location"], "Ward 9 / Bed 1");
  EXPECT_EQ(got[1]["band"], "high");  // + RR 26 (3): 8
  EXPECT_EQ(got[1]["location"], "ICU / Bed 4");
}

TEST(WatchTest, SeededInpatientAlertsFromItsStoredBandWithLocation) {
  testing::TempDir dir;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::string start = FormatUtc(now - 3'600'000);
  {  // A stored inpatient stay with a respiration rate of 26 (3: low-medium).
    auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
    ASSERT_TRUE(ingestor.ok());
    auto stored = (*ingestor)->AcceptResources({
        R"({"resourceType":"Patient","id":"p9"})",
        R"({"resourceType":"Encounter","id":"e9","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p9"},"period":{"start":")" +
            start +
            R"("},"location":[{"location":{"display":"Ward 7"}},{"location":{"display":"Ward 7 bed 3"}}]})",
        R"({"resourceType":"Observation","id":"o9","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"9279-1"}]},"subject":{"reference":"Patient/p9"},"effectiveDateTime":")" +
            start +
            R"(","valueQuantity":{"value":26,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}})",
    });
    ASSERT_TRUE(stored.ok());
    for (const auto& s : *stored) ASSERT_TRUE(s.ok()) << s.ToString();
  }
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok());
  std::FILE* alerts = std::fopen((dir / "alerts.ndjson").c_str(), "w");
  WatchOptions options;
  options.alerts = alerts;
  Watcher watcher(**ingestor, options);
  auto seeded = watcher.Seed(dir / "lake", now);
  ASSERT_TRUE(seeded.ok()) << seeded.status().ToString();
  EXPECT_EQ(*seeded, 1u);
  // Pulse 115 (2) and SpO2 95 (1) on top of the stored respiration rate: 6, medium.
  ingest::StreamIngestor::Reading pulse{
      "medlake/devices/omh/p9",
      R"({"heart_rate":{"value":115,"unit":"beats/min"},"effective_time_frame":{"date_time":")" +
          FormatUtc(now - 60'000) + R"("}})"};
  ingest::StreamIngestor::Reading spo2{
      "medlake/devices/omh/p9",
      R"({"oxygen_saturation":{"value":95,"unit":"%"},"effective_time_frame":{"date_time":")" +
          FormatUtc(now - 60'000) + R"("}})"};
  ASSERT_TRUE((*ingestor)->AcceptDeviceReadings({pulse}).ok());
  ASSERT_TRUE((*ingestor)->AcceptDeviceReadings({spo2}).ok());
  watcher.Stop();
  std::fclose(alerts);
  auto got = ReadAlerts(dir / "alerts.ndjson");
  // The stored RR 26 was never alerted (no RiskAssessment): a standing low-medium alert at
  // start. Then pulse alone: 5, medium -> alert; SpO2 then: 6, stays medium.
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["band"], "low-medium");
  EXPECT_TRUE(got[0]["previous_band"].is_null());
  EXPECT_EQ(got[1]["patient"], "p9");
  EXPECT_EQ(got[1]["encounter"], "e9");
  EXPECT_EQ(got[1]["location"], "Ward 7 bed 3");
  EXPECT_EQ(got[1]["band"], "medium");
  EXPECT_EQ(got[1]["previous_band"], "low-medium");
  EXPECT_EQ(got[1]["score"], 5);
}

// A crash after a reading was made durable and before its alert was written: at restart the
// reading is in the lake, and the band loaded was taken as the reference, so the alert was
// never raised. Watch alerts at start a band above the last one it stored; a restart without
// a change alerts nothing.
TEST(WatchTest, ARestartAlertsWhatACrashLeftUnalertedAndNothingElse) {
  testing::TempDir dir;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto omh = [&](const std::string& body) {
    return ingest::StreamIngestor::Reading{
        "medlake/devices/omh/p9", "{" + body + R"(,"effective_time_frame":{"date_time":")" +
                                      FormatUtc(now - 60'000) + R"("}})"};
  };
  auto run_watch = [&](const std::vector<ingest::StreamIngestor::Reading>& readings) {
    auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
    EXPECT_TRUE(ingestor.ok());
    std::FILE* alerts = std::fopen((dir / "alerts.ndjson").c_str(), "w");
    WatchOptions options;
    options.alerts = alerts;
    Watcher watcher(**ingestor, options);
    EXPECT_TRUE(watcher.Seed(dir / "lake", now).ok());
    for (const auto& r : readings) EXPECT_TRUE((*ingestor)->AcceptDeviceReadings({r}).ok());
    watcher.Stop();
    std::fclose(alerts);
    return ReadAlerts(dir / "alerts.ndjson");
  };
  {
    auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
    ASSERT_TRUE(ingestor.ok());
    ASSERT_TRUE(
        (*ingestor)
            ->AcceptResources(
                {R"({"resourceType":"Encounter","id":"e9","status":"in-progress","class":{"code":"IMP"},"subject":{"reference":"Patient/p9"},"period":{"start":")" +
                 FormatUtc(now - 3'600'000) + R"("}})"})
            .ok());
  }
  // RR 26 (3): low-medium, alerted and stored.
  auto first = run_watch({omh(R"("respiratory_rate":{"value":26,"unit":"breaths/min"})")});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["band"], "low-medium");
  // Restarted with nothing new: nothing to alert.
  EXPECT_TRUE(run_watch({}).empty());
  {  // The "crash": pulse 135 (3) and SpO2 91 (3) made durable, no watch to alert them.
    auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
    ASSERT_TRUE(ingestor.ok());
    ASSERT_TRUE((*ingestor)
                    ->AcceptDeviceReadings({omh(R"("heart_rate":{"value":135,"unit":"beats/min"})"),
                                            omh(R"("oxygen_saturation":{"value":91,"unit":"%"})")})
                    .ok());
  }
  auto after = run_watch({});
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]["band"], "high");  // 3 + 3 + 3 = 9
  EXPECT_EQ(after[0]["previous_band"], "low-medium");
  EXPECT_TRUE(run_watch({}).empty());
}

TEST(WatchTest, MqttReadingsRaiseAlertsOnTheAlertTopic) {
  testing::TempDir dir;
  testing::MosquittoBroker broker;
  MEDLAKE_START_OR_SKIP(broker, dir.path());
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok());
  server::MqttSubscriber sub(**ingestor);
  std::FILE* alerts = std::fopen((dir / "alerts.ndjson").c_str(), "w");
  WatchOptions options;
  options.alerts = alerts;
  server::MqttPublisher publisher;
  ASSERT_TRUE(publisher.Start("127.0.0.1", broker.port()).ok());
  options.publish = [&publisher](std::string_view line) {
    return publisher.Publish("medlake/alerts/news2", line).ok();
  };
  Watcher watcher(**ingestor, options);
  ASSERT_TRUE(sub.Start("127.0.0.1", broker.port(), "medlake/devices/#").ok());

  // A second client: publishes the readings and listens on the alert topic.
  mosquitto_lib_init();
  struct Received {
    std::mutex mu;
    std::vector<std::string> alerts;
  } received;
  mosquitto* client = mosquitto_new(nullptr, true, &received);
  mosquitto_message_callback_set(client, [](mosquitto*, void* self, const mosquitto_message* m) {
    auto* r = static_cast<Received*>(self);
    std::lock_guard lock(r->mu);
    r->alerts.emplace_back(static_cast<const char*>(m->payload), m->payloadlen);
  });
  ASSERT_EQ(mosquitto_connect(client, "127.0.0.1", broker.port(), 30), MOSQ_ERR_SUCCESS);
  ASSERT_EQ(mosquitto_subscribe(client, nullptr, "medlake/alerts/#", 1), MOSQ_ERR_SUCCESS);
  ASSERT_EQ(mosquitto_loop_start(client), MOSQ_ERR_SUCCESS);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // subscriptions in place
  std::vector<std::string> readings = Walk("m1");
  readings.insert(
      readings.begin() + 3,
      R"({"time":"2024-03-01T10:00:00Z","patient":"m1","vital":"pulse","value":80,"unit":"/min"})");
  for (const auto& reading : readings) {
    ASSERT_EQ(mosquitto_publish(client, nullptr, "medlake/devices/mon-1",
                                static_cast<int>(reading.size()), reading.data(), 1, false),
              MOSQ_ERR_SUCCESS);
    // One reading at a time, as a monitor sends them: MQTT does not order across batches
    // of the subscriber, and each must be scored after the one before.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    uint64_t before = sub.stats().stored;
    while (sub.stats().stored == before && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    {
      std::lock_guard lock(received.mu);
      if (received.alerts.size() >= kExpectedBands.size()) break;
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // no extra alert arrives
  mosquitto_disconnect(client);
  mosquitto_loop_stop(client, false);
  mosquitto_destroy(client);
  mosquitto_lib_cleanup();
  sub.Stop();
  watcher.Stop();
  publisher.Stop();
  std::fclose(alerts);

  ExpectWalkAlerts(ReadAlerts(dir / "alerts.ndjson"), "m1");
  std::vector<json> over_mqtt;
  for (const auto& a : received.alerts) over_mqtt.push_back(json::parse(a));
  ExpectWalkAlerts(over_mqtt, "m1");
  EXPECT_EQ(watcher.stats().risk_assessments, 4u);
  ingestor->reset();
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto q = (*lake)->Quarantine(10);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 1u);  // the unknown vital, with its topic
  EXPECT_TRUE((*q)[0].location.starts_with("topic medlake/devices/+ received 20"))
      << (*q)[0].location;
  EXPECT_NE((*q)[0].reason.find("unknown vital"), std::string::npos) << (*q)[0].reason;
}

std::string Oru(int n, const std::string& obx) {
  return "MSH|^~\\&|MON|WARD7|LAKE|HOSP|20240301120000||ORU^R01|W" + std::to_string(n) +
         "|P|2.5\rPID|1||MRN77^^^HOSP^MR\rPV1|1|I|W7^1^3\rOBR|1||R" + std::to_string(n) +
         "|85353-1^Vital signs^LN|||2024030112" + (n < 10 ? "0" : "") + std::to_string(n) + "00\r" +
         obx;
}

std::string Obx(int set, const std::string& code, double value, const std::string& unit,
                int minute) {
  char v[32];
  std::snprintf(v, sizeof v, "%g", value);
  return "OBX|" + std::to_string(set) + "|NM|" + code + "^^LN||" + v + "|" + unit +
         "|||||F|||2024030112" + (minute < 10 ? "0" : "") + std::to_string(minute) + "00\r";
}

TEST(WatchTest, MllpOruMessagesRaiseAlertsOnePerBandEntered) {
  testing::TempDir dir;
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok());
  std::FILE* alerts = std::fopen((dir / "alerts.ndjson").c_str(), "w");
  WatchOptions options;
  options.alerts = alerts;
  Watcher watcher(**ingestor, options);
  server::MllpServer server(**ingestor);
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  // One message per observation set: all normal (low), then RR 26 and SpO2 93 in one message
  // (3 + 2 = 5: medium, one alert), then pulse 120 (7: high), then the same again (stays).
  std::vector<std::string> messages = {
      Oru(0, Obx(1, "9279-1", 16, "/min", 0) + Obx(2, "59408-5", 97, "%", 0) +
                 Obx(3, "8867-4", 80, "/min", 0) + Obx(4, "8310-5", 37, "Cel", 0) +
                 Obx(5, "8480-6", 120, "mm[Hg]", 0)),
      Oru(1, Obx(1, "9279-1", 26, "/min", 1) + Obx(2, "59408-5", 93, "%", 1)),
      Oru(2, Obx(1, "8867-4", 120, "/min", 2)),
      Oru(3, Obx(1, "8867-4", 125, "/min", 3)),
      // Not a supported message: answered AR, quarantined with its control id.
      "MSH|^~\\&|MON|WARD7|LAKE|HOSP|20240301120000||ZZZ^Z01|BAD1|P|2.5\rPID|1||MRN77^^^HOSP^MR\r",
  };
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), *port});
  for (const auto& m : messages) {
    std::string frame = "\x0b" + m + "\x1c\r";
    boost::asio::write(socket, boost::asio::buffer(frame));
    std::string reply;
    char buf[4096];
    while (reply.size() < 2 || reply[reply.size() - 2] != '\x1c') {
      size_t n = socket.read_some(boost::asio::buffer(buf));
      reply.append(buf, n);
    }
    bool bad = m.find("ZZZ^Z01") != std::string::npos;
    EXPECT_NE(reply.find(bad ? "MSA|AR|BAD1" : "MSA|AA"), std::string::npos) << reply;
  }
  socket.close();
  server.Stop();
  watcher.Stop();
  std::fclose(alerts);
  auto got = ReadAlerts(dir / "alerts.ndjson");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["band"], "medium");
  EXPECT_EQ(got[0]["previous_band"], "low");
  EXPECT_EQ(got[0]["score"], 5);
  EXPECT_EQ(got[1]["band"], "high");
  EXPECT_EQ(got[1]["previous_band"], "medium");
  EXPECT_EQ(got[1]["score"], 7);
  EXPECT_EQ(got[1]["reading_time"], "2024-03-01T12:02:00.000Z");
  EXPECT_EQ(watcher.stats().risk_assessments, 2u);
  ingestor->reset();
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto q = (*lake)->Quarantine(10);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].source, "mllp");
  EXPECT_EQ((*q)[0].location, "control id BAD1");
}

}  // namespace
}  // namespace medlake::watch
