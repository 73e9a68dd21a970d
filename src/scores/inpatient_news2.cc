#include "scores/inpatient_news2.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "common/fhir_time.h"
#include "fhir/resource_facts.h"
#include "json/json.h"
#include "scores/news2_batch.h"
#include "scores/vital_codes.h"

namespace medlake::scores {
namespace {

constexpr std::string_view kLoinc = "http://loinc.org";
constexpr std::string_view kBpPanel = "85354-9";
constexpr std::string_view kSystolic = "8480-6";

// Respiratory failure with hypercapnia: the 5th character of J96 is 2 in ICD-10-CM (J96.02
// acute, J96.12 chronic, J96.22 acute on chronic, J96.92 unspecified), 1 in ICD-10-GM (J96.01
// acute type II, J96.11 chronic type II, J96.91 unspecified type II). WHO ICD-10 stops at
// J96.x, which does not say.
bool IsHypercapnicFailure(const CodeView& c) {
  std::string_view system = c.system;
  bool gm = system.find("icd-10-gm") != std::string_view::npos;
  if (!gm && system.find("icd-10") == std::string_view::npos &&
      system.find("icd10") == std::string_view::npos) {
    return false;
  }
  std::string digits;
  for (char ch : c.code) {
    if (ch != '.') digits.push_back(ch);
  }
  if (digits.size() != 5 || !digits.starts_with("J96")) return false;
  char kind = digits[3], fifth = digits[4];
  if (gm) return (kind == '0' || kind == '1' || kind == '9') && fifth == '1';
  return (kind == '0' || kind == '1' || kind == '2' || kind == '9') && fifth == '2';
}

// A diagnosis that counts: its verificationStatus is absent or confirmed (not provisional,
// differential, unconfirmed, refuted or entered-in-error).
bool Confirmed(json::Node condition) {
  auto vs = condition.Find("verificationStatus");
  if (!vs) return true;
  bool confirmed = false;
  if (auto codings = vs->Find("coding")) {
    codings->ForEachItem([&](json::Node coding) {
      if (auto code = coding.Find("code"); code && code->IsString()) {
        confirmed |= code->GetString() == "confirmed";
      }
      return true;
    });
  }
  return confirmed;
}

bool Contains(int64_t start, int64_t end, int64_t at) {
  return start != kNoTime && start <= at && (end == kNoTime || end >= at);
}

// Encounter statuses of a stay going on (FHIR R4 encounter-status): arrived, triaged,
// in-progress, onleave.
bool IsOngoingStatus(std::string_view status) {
  return status == "in-progress" || status == "arrived" || status == "triaged" ||
         status == "onleave";
}

// The patients `wanted` with a confirmed hypercapnic respiratory failure known at `at_ms`
// (header comment): SpO2 scale 2.
Status ScanScaleTwo(Lake& lake, int64_t at_ms, const std::function<bool(uint32_t)>& wanted,
                    json::Parser& parser, std::unordered_set<uint32_t>& out,
                    std::vector<std::string>& damaged) {
  return lake.ScanHot(
      "Condition",
      [&](const HotRow& r) {
        if (r.patient == 0xFFFFFFFFu || out.count(r.patient) || !wanted(r.patient)) return;
        if (r.status == "resolved" || r.status == "inactive" || r.status == "remission" ||
            r.status == "refuted" || r.status == "entered-in-error") {
          return;
        }
        // Not yet diagnosed at T (its onset, else its recordedDate, is after T); one that is
        // over says so in its clinical status.
        if (r.effective_start != kNoTime && r.effective_start > at_ms) return;
        bool hypercapnic = false;
        for (size_t i = 0; i < r.code_count; ++i) hypercapnic |= IsHypercapnicFailure(r.codes[i]);
        if (!hypercapnic) return;
        auto text = r.json();
        if (!text.ok()) return;
        if (auto node = parser.Parse(*text); node.ok() && Confirmed(*node)) out.insert(r.patient);
      },
      &damaged);
}

struct Current {
  std::string encounter_id;
  std::string location;
  int64_t start = 0;
};

}  // namespace

bool IsInpatientClass(std::string_view code) {
  return code == "IMP" || code == "ACUTE" || code == "NONAC";
}

Result<std::vector<InpatientScore>> ScoreInpatients(Lake& lake, int64_t at_ms,
                                                    const News2Options& options) {
  json::Parser parser;
  std::vector<std::string> damaged;

  std::unordered_map<std::string, std::string> location_names;
  MEDLAKE_RETURN_IF_ERROR(lake.ScanHot(
      "Location",
      [&](const HotRow& r) {
        auto text = r.json();
        if (!text.ok()) return;
        auto node = parser.Parse(*text);
        if (!node.ok()) return;
        if (auto name = node->Find("name")) location_names[std::string(r.id)] = name->GetString();
      },
      &damaged));

  std::unordered_map<uint32_t, Current> current;
  MEDLAKE_RETURN_IF_ERROR(lake.ScanHot(
      "Encounter",
      [&](const HotRow& r) {
        if (r.patient == 0xFFFFFFFFu || r.status == "cancelled" || r.status == "entered-in-error" ||
            r.status == "planned") {
          return;
        }
        if (r.status == "finished" && r.effective_end == kNoTime) return;  // ended, but when?
        bool inpatient = false;
        for (size_t i = 0; i < r.code_count; ++i) inpatient |= IsInpatientClass(r.codes[i].code);
        if (!inpatient) return;
        const bool start_unknown =
            r.effective_start == kNoTime && r.effective_end == kNoTime && IsOngoingStatus(r.status);
        if (!start_unknown && !Contains(r.effective_start, r.effective_end, at_ms)) return;
        auto it = current.find(r.patient);
        if (it != current.end() && it->second.start >= r.effective_start) return;
        // A stay in progress whose start nobody sent (an A08 or A13 for a stay whose admission
        // the lake never received): ongoing since its last update at least, so current at any
        // time from then on; before it, there is no telling.
        if (start_unknown && r.last_updated > at_ms) return;
        auto text = r.json();
        std::optional<json::Node> node;
        if (text.ok()) {
          if (auto parsed = parser.Parse(*text); parsed.ok()) node = *parsed;
        }
        if (start_unknown && !node) return;
        Current cur{std::string(r.id), "", r.effective_start};
        // The locations whose period holds the time (without a start: until its end).
        if (node) {
          if (auto locations = node->Find("location")) {
            std::vector<std::string> names;
            locations->ForEachItem([&](json::Node loc) {
              int64_t start = kNoTime, end = kNoTime;
              if (auto period = loc.Find("period")) {
                if (auto s = period->Find("start")) {
                  if (auto t = ParseFhirTime(s->GetString())) start = t->start;
                }
                if (auto e = period->Find("end")) {
                  if (auto t = ParseFhirTime(e->GetString())) end = t->end;
                }
              }
              // Not where the patient was at the time: a place entered after it, or left
              // before it (an entry without a start, from an update that did not say since
              // when, still ends).
              if (start != kNoTime && start > at_ms) return true;
              if (end != kNoTime && end < at_ms) return true;
              auto ref = loc.Find("location");
              if (!ref) return true;
              // The reference's display first: it names the place as the sender shows it
              // ("4E / 7 / 7" for an HL7 v2 bed, whose Location is named "7"), else the
              // Location's name.
              std::string name;
              if (auto display = ref->Find("display"); display && display->IsString()) {
                name = display->GetString();
              }
              if (auto reference = ref->Find("reference"); name.empty() && reference) {
                std::string_view rv = reference->GetString();
                if (rv.starts_with("Location/")) {
                  auto n = location_names.find(std::string(rv.substr(9)));
                  if (n != location_names.end()) name = n->second;
                }
              }
              if (!name.empty()) names.push_back(std::move(name));
              return true;
            });
            // "Ward / Bed"; a bed named after its ward ("Ward 5 bed 7") stands alone.
            for (size_t i = 0; i < names.size(); ++i) {
              if (i + 1 < names.size() && names[i + 1].starts_with(names[i])) continue;
              cur.location += (cur.location.empty() ? "" : " / ") + names[i];
            }
          }
        }
        current[r.patient] = std::move(cur);
      },
      &damaged));

  std::unordered_set<uint32_t> scale2;
  MEDLAKE_RETURN_IF_ERROR(ScanScaleTwo(
      lake, at_ms, [&](uint32_t patient) { return current.count(patient) > 0; }, parser, scale2,
      damaged));

  std::unordered_map<uint32_t, PatientVitals> vitals;
  MEDLAKE_RETURN_IF_ERROR(lake.ScanHot(
      "Observation",
      [&](const HotRow& r) {
        if (r.effective_start == kNoTime || r.effective_start > at_ms) return;
        if (!current.count(r.patient) || r.status == "entered-in-error" || r.status == "cancelled")
          return;
        if (auto acvpu = AcvpuOf(std::span<const CodeView>(r.codes, r.code_count))) {
          vitals[r.patient].Add(Parameter::kConsciousness, r.effective_start,
                                static_cast<double>(*acvpu));
          return;
        }
        for (size_t i = 0; i < r.code_count; ++i) {
          const CodeView& c = r.codes[i];
          if (c.system != kLoinc) continue;
          if (c.code == kBpPanel) {
            auto text = r.json();
            if (!text.ok()) return;
            auto node = parser.Parse(*text);
            if (!node.ok()) return;
            if (auto components = node->Find("component")) {
              components->ForEachItem([&](json::Node comp) {
                auto codings = comp.Find("code");
                bool systolic = false;
                if (codings) {
                  if (auto list = codings->Find("coding")) {
                    list->ForEachItem([&](json::Node coding) {
                      if (auto code = coding.Find("code"))
                        systolic |= code->GetString() == kSystolic;
                      return true;
                    });
                  }
                }
                if (!systolic) return true;
                if (auto q = comp.Find("valueQuantity")) {
                  // A bound ("<91") is no reading: NEWS2 scores exact values only.
                  if (auto v = SystolicOfComponent(*q)) {
                    vitals[r.patient].Add(Parameter::kSystolicBp, r.effective_start, *v);
                  }
                }
                return false;
              });
            }
            return;
          }
          // Only a top-level value is a reading. A statistic over an interval (a day's maximum,
          // stored as FHIR R4's Observation $stats writes it) holds its value in a component
          // coded with the statistic: NEWS2 scores spot observations, not summaries.
          if (std::isnan(r.value)) continue;
          if (auto v = VitalFromQuantity(c.code, r.value, r.unit)) {
            vitals[r.patient].Add(v->parameter, r.effective_start, v->value);
            return;
          }
        }
      },
      &damaged));
  if (!damaged.empty()) return Corruption(damaged.front());

  std::vector<InpatientScore> out;
  for (const auto& [patient, cur] : current) {
    InpatientScore s;
    s.patient = patient;
    MEDLAKE_ASSIGN_OR_RETURN(s.patient_id, lake.PatientId(patient));
    s.encounter_id = cur.encounter_id;
    s.location = cur.location;
    PatientVitals empty;
    auto it = vitals.find(patient);
    const PatientVitals& v = it == vitals.end() ? empty : it->second;
    SpO2Scale scale = scale2.count(patient) ? SpO2Scale::kScale2 : SpO2Scale::kScale1;
    s.news2 = v.News2(at_ms, scale, options);
    s.qsofa = v.QSofa(at_ms, options);
    s.vitals = v;
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const InpatientScore& a, const InpatientScore& b) {
    if (a.news2.aggregate != b.news2.aggregate) return a.news2.aggregate > b.news2.aggregate;
    return a.patient_id < b.patient_id;
  });
  return out;
}

Result<std::vector<std::string>> ScaleTwoPatients(Lake& lake, int64_t at_ms) {
  json::Parser parser;
  std::vector<std::string> damaged;
  std::unordered_set<uint32_t> ordinals;
  MEDLAKE_RETURN_IF_ERROR(ScanScaleTwo(
      lake, at_ms, [](uint32_t) { return true; }, parser, ordinals, damaged));
  if (!damaged.empty()) return Corruption(damaged.front());
  std::vector<std::string> out;
  for (uint32_t ordinal : ordinals) {
    MEDLAKE_ASSIGN_OR_RETURN(std::string id, lake.PatientId(ordinal));
    out.push_back(std::move(id));
  }
  return out;
}

}  // namespace medlake::scores
