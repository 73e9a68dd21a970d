// Watcher: live NEWS2 scoring of the readings a StreamIngestor stores (`medlake watch`).
//
// The Watcher observes the ingestor (ingest/stream_ingest.h): every Observation stored from an
// MQTT reading, an MLLP ORU message or a replayed file is turned into NEWS2 readings
// (observation_vitals.h) and fed to LiveNews2, after the record is durable. At the end of
// each record the patients it touched are scored; each one that entered a higher band raises
// an alert, emitted at once:
//   (a) one NDJSON line on `alerts`: the `score news2 --json` object plus "previous_band",
//       "reading_time" and "latency_ms" (docs/news2.md);
//   (b) the same line through `publish` (the MQTT alert topic), when set;
//   (c) a FHIR R4 RiskAssessment (risk_assessment.h), stored durably through the same
//       ingestor by a background thread, when store_risk_assessments is set.
// Latency is measured from the record's receipt (MQTT callback, MLLP frame, replay line read)
// to the alert's emission, and from receipt to scoring for every record with a reading.
//
// Thread safety: the observer callbacks run on the ingestor's accepting threads, serialized by
// it; Seed, Stop and stats may be called from any thread. Seed before readings flow.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ingest/stream_ingest.h"
#include "medlake/status.h"
#include "scores/news2.h"

namespace medlake::watch {

// How far after the clock a reading's time may be (device clocks drift): a reading timed
// later is not scored and counted in WatchStats::future_readings.
inline constexpr int64_t kFutureToleranceMs = 5 * 60 * 1000;

struct WatchOptions {
  scores::News2Options news2;
  std::FILE* alerts = nullptr;  // NDJSON sink, not owned; null: none
  // e.g. an MQTT publish; false counts a failure. Empty: none.
  std::function<bool(std::string_view line)> publish;
  bool store_risk_assessments = true;
};

struct WatchStats {
  uint64_t readings = 0;  // NEWS2 readings taken from their Observations
  // Readings timed more than kFutureToleranceMs after the clock when received: not scored (one
  // would make every other reading of its patient look stale).
  uint64_t future_readings = 0;
  uint64_t retracted = 0;  // Observations entered in error whose values were taken back
  // Alerts raised at Seed: loaded patients whose band is above the last one watch alerted
  // (stored RiskAssessments), e.g. after a crash between a reading and its alert.
  uint64_t standing_alerts = 0;
  uint64_t alerts = 0;
  uint64_t risk_assessments = 0;  // stored (made durable)
  uint64_t write_failures = 0;    // alerts that could not be written to `alerts`
  uint64_t publish_failures = 0;  // alerts the publish callback could not send
  uint64_t store_failures = 0;    // RiskAssessment batches that could not be made durable
  size_t patients = 0;            // patients held in memory
  double alert_p50_ms = 0, alert_p99_ms = 0, alert_max_ms = 0;  // reading receipt → alert
  double score_p50_ms = 0, score_p99_ms = 0;                    // reading receipt → scored
};

class Watcher final : public ingest::StreamObserver {
 public:
  // Observes `ingestor` (which must outlive the Watcher) until Stop.
  Watcher(ingest::StreamIngestor& ingestor, WatchOptions options);
  ~Watcher() override;

  // Loads the current inpatients of the lake at `at_ms` (scores/inpatient_news2.h) with their
  // latest readings, encounter and location, and their band as the reference for alerts.
  // With store_risk_assessments, a patient whose band is above the band of their last stored
  // NEWS2 RiskAssessment (low when none) is alerted now. Returns how many were loaded.
  Result<size_t> Seed(const std::string& lake_dir, int64_t at_ms);

  // Stops observing and stores the RiskAssessments still queued. Idempotent.
  void Stop();
  WatchStats stats() const;

  void OnResource(const fhir::ResourceFacts& facts, json::Node resource,
                  ingest::StreamClock::time_point received) override;
  void OnRecordEnd(ingest::StreamClock::time_point received) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medlake::watch
