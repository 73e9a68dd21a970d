#include "watch/watcher.h"

#include <mutex>
#include <thread>
#include <vector>

#include "common/fhir_time.h"
#include "medlake/lake.h"
#include "scores/inpatient_news2.h"
#include "scores/news2_json.h"
#include "server/group_commit.h"
#include "watch/latency.h"
#include "watch/live_news2.h"
#include "watch/observation_vitals.h"
#include "watch/risk_assessment.h"

namespace medlake::watch {

struct Watcher::Impl {
  ingest::StreamIngestor& ingestor;
  WatchOptions options;
  mutable std::mutex mu;  // live, stats, histograms
  LiveNews2 live;
  WatchStats stats;
  LatencyHistogram alert_latency, score_latency;
  std::vector<scores::VitalValue> vitals;
  std::vector<Alert> alerts;
  bool record_has_reading = false;
  server::GroupCommitQueue<std::string> risk_queue;
  std::thread risk_thread;
  bool stopped = false;

  Impl(ingest::StreamIngestor& i, WatchOptions o)
      : ingestor(i), options(std::move(o)), live(options.news2) {}

  void StoreRiskAssessments() {
    risk_queue.Run(
        1024,
        [&](std::vector<std::string>& batch) {
          auto outcomes = ingestor.AcceptResources(batch);
          std::lock_guard lock(mu);
          if (!outcomes.ok()) {
            ++stats.store_failures;
            return;
          }
          for (const auto& o : *outcomes) stats.risk_assessments += o.ok();
        },
        // At most one RiskAssessment batch (one inbox sync) per 20 ms, so that alert storms
        // take few syncs from the readings, which share the inbox.
        [] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); });
  }

  void Emit(Alert& a, ingest::StreamClock::time_point received) {
    double latency =
        std::chrono::duration<double, std::milli>(ingest::StreamClock::now() - received).count();
    char extra[256];
    std::snprintf(
        extra, sizeof extra, R"("previous_band":%s%s%s,"reading_time":"%s","latency_ms":%.3f)",
        a.previous_band ? "\"" : "",
        a.previous_band ? std::string(scores::BandName(*a.previous_band)).c_str() : "null",
        a.previous_band ? "\"" : "", FormatUtc(a.reading_ms).c_str(), latency);
    std::string line =
        scores::News2Json({a.patient_id, a.encounter_id, a.location, a.news2, a.qsofa}, extra);
    if (options.alerts) {
      line.push_back('\n');
      bool written = std::fwrite(line.data(), 1, line.size(), options.alerts) == line.size();
      if (std::fflush(options.alerts) != 0 || !written) ++stats.write_failures;
      line.pop_back();
    }
    if (options.publish && !options.publish(line)) ++stats.publish_failures;
    ++stats.alerts;
    alert_latency.Add(latency);
    if (options.store_risk_assessments) risk_queue.Push(RiskAssessmentJson(a));
  }
};

Watcher::Watcher(ingest::StreamIngestor& ingestor, WatchOptions options)
    : impl_(std::make_unique<Impl>(ingestor, std::move(options))) {
  impl_->risk_thread = std::thread([im = impl_.get()] { im->StoreRiskAssessments(); });
  ingestor.SetObserver(this);
}

Watcher::~Watcher() {
  Stop();
}

Result<size_t> Watcher::Seed(const std::string& lake_dir, int64_t at_ms) {
  MEDLAKE_ASSIGN_OR_RETURN(auto lake, Lake::Open(lake_dir));
  MEDLAKE_ASSIGN_OR_RETURN(auto inpatients,
                           scores::ScoreInpatients(*lake, at_ms, impl_->options.news2));
  // Patients admitted later (an ADT in the stream) start on their scale too.
  MEDLAKE_ASSIGN_OR_RETURN(auto scale_two, scores::ScaleTwoPatients(*lake, at_ms));
  std::lock_guard lock(impl_->mu);
  impl_->live.SetScaleTwo(std::move(scale_two));
  for (const auto& p : inpatients) {
    impl_->live.Seed(p.patient_id, p.vitals, p.news2.scale, at_ms, p.encounter_id, p.location);
  }
  return inpatients.size();
}

void Watcher::Stop() {
  Impl& im = *impl_;
  {
    std::lock_guard lock(im.mu);
    if (im.stopped) return;
    im.stopped = true;
  }
  im.ingestor.SetObserver(nullptr);
  im.risk_queue.Stop();
  if (im.risk_thread.joinable()) im.risk_thread.join();
}

WatchStats Watcher::stats() const {
  std::lock_guard lock(impl_->mu);
  WatchStats s = impl_->stats;
  s.patients = impl_->live.patients();
  s.alert_p50_ms = impl_->alert_latency.Percentile(0.50);
  s.alert_p99_ms = impl_->alert_latency.Percentile(0.99);
  s.alert_max_ms = impl_->alert_latency.max_ms();
  s.score_p50_ms = impl_->score_latency.Percentile(0.50);
  s.score_p99_ms = impl_->score_latency.Percentile(0.99);
  return s;
}

namespace {

// The display of the Encounter's current location: its last entry without an end.
std::string CurrentLocation(json::Node encounter) {
  std::string out;
  if (auto list = encounter.Find("location")) {
    list->ForEachItem([&](json::Node entry) {
      auto period = entry.Find("period");
      if (period && period->Find("end")) return true;
      if (auto location = entry.Find("location")) {
        if (auto display = location->Find("display"); display && display->IsString()) {
          out = std::string(display->GetString());
        }
      }
      return true;
    });
  }
  return out;
}

}  // namespace

void Watcher::OnResource(const fhir::ResourceFacts& facts, json::Node resource,
                         ingest::StreamClock::time_point) {
  Impl& im = *impl_;
  if (facts.type == "Encounter" && !facts.patient_id.empty()) {
    // An admission, a transfer or a discharge in the stream: later alerts name the stay and
    // the bed as they are now (they named those watch loaded at start, or none).
    bool inpatient = false;
    for (const auto& c : facts.codings) inpatient |= scores::IsInpatientClass(c.code);
    if (!inpatient) return;
    bool ended = facts.status == "finished" || facts.status == "cancelled" ||
                 facts.status == "entered-in-error";
    std::lock_guard lock(im.mu);
    im.live.UpdateStay(facts.patient_id, ended ? "" : facts.id,
                       ended ? "" : CurrentLocation(resource));
    return;
  }
  if (facts.type != "Observation") return;
  if (facts.status == "entered-in-error" || facts.status == "cancelled") {
    // The values it gave are taken back, and the patient scored again.
    std::lock_guard lock(im.mu);
    if (im.live.Retract(facts.patient_id, facts.id)) {
      ++im.stats.retracted;
      im.record_has_reading = true;
    }
    return;
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  if (facts.effective.start != kNoTime && facts.effective.start > now_ms + kFutureToleranceMs) {
    std::lock_guard lock(im.mu);
    ++im.stats.future_readings;
    return;
  }
  im.vitals.clear();
  VitalsFromObservation(facts, resource, im.vitals);
  if (im.vitals.empty()) return;
  std::lock_guard lock(im.mu);
  for (const auto& v : im.vitals) {
    if (im.live.Add(facts.patient_id, v.parameter, facts.effective.start, v.value, facts.id)) {
      ++im.stats.readings;
      im.record_has_reading = true;
    }
  }
}

void Watcher::OnRecordEnd(ingest::StreamClock::time_point received) {
  Impl& im = *impl_;
  std::lock_guard lock(im.mu);
  if (!im.record_has_reading) return;
  im.record_has_reading = false;
  im.alerts.clear();
  im.live.Evaluate(im.alerts);
  im.score_latency.Add(
      std::chrono::duration<double, std::milli>(ingest::StreamClock::now() - received).count());
  for (Alert& a : im.alerts) im.Emit(a, received);
}

}  // namespace medlake::watch
