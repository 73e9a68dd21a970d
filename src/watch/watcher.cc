#include "watch/watcher.h"

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/fhir_time.h"
#include "json/json.h"
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

namespace {

std::optional<scores::RiskBand> BandNamed(std::string_view name) {
  for (auto band : {scores::RiskBand::kLow, scores::RiskBand::kLowMedium, scores::RiskBand::kMedium,
                    scores::RiskBand::kHigh}) {
    if (scores::BandName(band) == name) return band;
  }
  return std::nullopt;
}

// The band of each patient's latest stored NEWS2 RiskAssessment (risk_assessment.h): the last
// alert watch raised for them, by patient ordinal.
Result<std::unordered_map<uint32_t, std::pair<int64_t, scores::RiskBand>>> LastAlerted(Lake& lake) {
  std::unordered_map<uint32_t, std::pair<int64_t, scores::RiskBand>> out;
  json::Parser parser;
  std::vector<std::string> damaged;
  MEDLAKE_RETURN_IF_ERROR(lake.ScanHot(
      "RiskAssessment",
      [&](const HotRow& r) {
        auto it = out.find(r.patient);
        if (it != out.end() && it->second.first > r.effective_start) return;
        auto text = r.json();
        if (!text.ok()) return;
        auto node = parser.Parse(*text);
        if (!node.ok()) return;
        auto method = node->Find("method");
        auto method_text = method ? method->Find("text") : std::nullopt;
        if (!method_text || !method_text->IsString() ||
            !method_text->GetString().starts_with("NEWS2")) {
          return;
        }
        std::optional<scores::RiskBand> band;
        if (auto prediction = node->Find("prediction")) {
          prediction->ForEachItem([&](json::Node p) {
            auto risk = p.Find("qualitativeRisk");
            auto name = risk ? risk->Find("text") : std::nullopt;
            if (name && name->IsString()) band = BandNamed(name->GetString());
            return false;
          });
        }
        if (band) out[r.patient] = {r.effective_start, *band};
      },
      &damaged));
  if (!damaged.empty()) return Corruption(damaged.front());
  return out;
}

}  // namespace

Result<size_t> Watcher::Seed(const std::string& lake_dir, int64_t at_ms) {
  MEDLAKE_ASSIGN_OR_RETURN(auto lake, Lake::Open(lake_dir));
  MEDLAKE_ASSIGN_OR_RETURN(auto inpatients,
                           scores::ScoreInpatients(*lake, at_ms, impl_->options.news2));
  // Patients admitted later (an ADT in the stream) start on their scale too.
  MEDLAKE_ASSIGN_OR_RETURN(auto scale_two, scores::ScaleTwoPatients(*lake, at_ms));
  // What watch last alerted for each patient, when it stores its alerts: a band above it is
  // alerted now. A crash after a reading was made durable and before its alert was written
  // would otherwise lose the alert for good (the reading is in the lake at restart, so the
  // band loaded is already the raised one).
  std::unordered_map<uint32_t, std::pair<int64_t, scores::RiskBand>> alerted;
  if (impl_->options.store_risk_assessments) {
    MEDLAKE_ASSIGN_OR_RETURN(alerted, LastAlerted(*lake));
  }
  Impl& im = *impl_;
  std::lock_guard lock(im.mu);
  im.live.SetScaleTwo(std::move(scale_two));
  for (const auto& p : inpatients) {
    im.live.Seed(p.patient_id, p.vitals, p.news2.scale, at_ms, p.encounter_id, p.location);
    if (!im.options.store_risk_assessments) continue;
    auto last = alerted.find(p.patient);
    auto rank = [](scores::RiskBand b) { return static_cast<int>(b); };
    int before = last == alerted.end() ? rank(scores::RiskBand::kLow) : rank(last->second.second);
    if (rank(p.news2.band) <= before) continue;
    Alert a;
    a.patient_id = p.patient_id;
    a.encounter_id = p.encounter_id;
    a.location = p.location;
    a.news2 = p.news2;
    a.qsofa = p.qsofa;
    if (last != alerted.end()) a.previous_band = last->second.second;
    a.reading_ms = INT64_MIN;
    for (size_t i = 0; i < scores::kParameterCount; ++i) {
      a.reading_ms = std::max(a.reading_ms, p.vitals.time_of(static_cast<scores::Parameter>(i)));
    }
    ++im.stats.standing_alerts;
    im.Emit(a, ingest::StreamClock::now());
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
    if (ended) {
      im.live.EndStay(facts.patient_id, facts.id);
    } else {
      im.live.UpdateStay(facts.patient_id, facts.id, CurrentLocation(resource));
    }
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
