#include "cohort/cohort_index.h"

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <thread>

#include "common/fhir_time.h"
#include "common/string_util.h"
#include "json/json.h"

namespace medlake::cohort {

namespace {

constexpr uint32_t kNoPatientOrdinal = 0xFFFFFFFFu;  // the shared area
constexpr uint32_t kUnmappedCode = 0xFFFFFFFFu;

// Interns strings into dense ids, shared by the segment tasks.
class Interner {
 public:
  uint32_t Id(std::string_view key) {
    std::lock_guard lock(mu_);
    auto it = ids_.find(key);
    if (it != ids_.end()) return it->second;
    uint32_t id = static_cast<uint32_t>(names_.size());
    names_.emplace_back(key);
    ids_.emplace(names_.back(), id);
    return id;
  }
  std::vector<std::string> Take() { return std::move(names_); }
  size_t size() const { return names_.size(); }

 private:
  std::mutex mu_;
  std::vector<std::string> names_;
  StringMap<uint32_t> ids_;
};

struct RawEvent {
  uint32_t entry;
  uint32_t patient;
  Event event;
};

}  // namespace

Sex SexFromGender(std::string_view g) {
  if (g == "male") return Sex::kMale;
  if (g == "female") return Sex::kFemale;
  if (g == "other") return Sex::kOther;
  if (g == "unknown") return Sex::kUnknown;
  return Sex::kAbsent;
}

std::span<const Event> Entry::EventsOf(uint32_t patient) const {
  uint32_t cursor = 0;
  return EventsOf(patient, cursor);
}

std::span<const Event> Entry::EventsOf(uint32_t patient, uint32_t& cursor) const {
  const uint32_t n = static_cast<uint32_t>(patient_list.size());
  if (cursor > 0 && (cursor > n || patient_list[cursor - 1] >= patient)) cursor = 0;
  // Gallop: find a window [lo, hi) that holds the patient's position, then binary search it.
  uint32_t lo = cursor;
  uint32_t step = 1;
  uint32_t hi = lo;
  while (hi < n && patient_list[hi] < patient) {
    lo = hi + 1;
    hi = std::min<uint64_t>(n, uint64_t{hi} + step);
    step *= 2;
  }
  auto it = std::lower_bound(patient_list.begin() + lo, patient_list.begin() + std::min(hi + 1, n),
                             patient);
  cursor = static_cast<uint32_t>(it - patient_list.begin());
  if (cursor == n || patient_list[cursor] != patient) return {};
  return {events.data() + offsets[cursor], events.data() + offsets[cursor + 1]};
}

class IndexBuilder {
 public:
  IndexBuilder(const Lake& lake, CohortIndex& index) : lake_(lake), index_(index) {}

  Status Run(int threads, std::vector<std::string>* damaged) {
    const auto& segments = lake_.segments();
    std::vector<uint32_t> base(segments.size() + 1, 0);
    for (size_t i = 0; i < segments.size(); ++i)
      base[i + 1] = base[i] + static_cast<uint32_t>(segments[i].rows);
    std::vector<std::vector<RawEvent>> raw(segments.size());
    std::vector<std::vector<std::string>> seg_damaged(segments.size());
    std::vector<Status> statuses(segments.size(), Status::Ok());
    std::vector<Roaring> seg_patients(segments.size());
    std::vector<std::vector<std::pair<uint32_t, PatientFacts>>> seg_facts(segments.size());

    int n = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
    tbb::task_arena arena(std::max(1, n));
    arena.execute([&] {
      tbb::parallel_for(size_t{0}, segments.size(), [&](size_t i) {
        statuses[i] =
            ScanSegment(i, base[i], raw[i], seg_patients[i], seg_facts[i], seg_damaged[i]);
      });
    });
    for (size_t i = 0; i < segments.size(); ++i) {
      MEDLAKE_RETURN_IF_ERROR(statuses[i]);
      if (damaged) damaged->insert(damaged->end(), seg_damaged[i].begin(), seg_damaged[i].end());
      index_.patients_ |= seg_patients[i];
      for (const auto& [ordinal, facts] : seg_facts[i]) {
        if (ordinal >= index_.facts_.size()) index_.facts_.resize(ordinal + 1);
        index_.facts_[ordinal] = facts;
      }
    }
    index_.patients_.runOptimize();

    // Codes, types, units, statuses.
    auto code_keys = codes_.Take();
    index_.codes_.reserve(code_keys.size());
    for (const auto& key : code_keys) {
      size_t bar = key.find('\x1f');
      index_.codes_.push_back({key.substr(0, bar), key.substr(bar + 1)});
    }
    index_.types_ = types_.Take();
    index_.units_ = units_.Take();
    index_.statuses_ = statuses_.Take();
    if (index_.units_.size() >= kNoUnit || index_.statuses_.size() >= kNoUnit ||
        index_.types_.size() >= kNoUnit)
      return Unsupported("cohort index: more than 65,534 distinct units, statuses or types");

    // Entries: counting sort of the raw events by entry, then by patient and time.
    std::vector<std::pair<uint32_t, uint16_t>> entry_keys = entry_keys_;
    index_.entries_.resize(entry_keys.size());
    std::vector<uint64_t> counts(entry_keys.size(), 0);
    for (const auto& seg : raw)
      for (const auto& r : seg) ++counts[r.entry];
    std::vector<std::vector<std::pair<uint32_t, Event>>> grouped(entry_keys.size());
    for (size_t e = 0; e < grouped.size(); ++e) grouped[e].reserve(counts[e]);
    for (auto& seg : raw) {
      for (const auto& r : seg) grouped[r.entry].emplace_back(r.patient, r.event);
      std::vector<RawEvent>().swap(seg);
    }
    arena.execute([&] {
      tbb::parallel_for(size_t{0}, grouped.size(), [&](size_t e) {
        FinishEntry(grouped[e], entry_keys[e], index_.entries_[e]);
        std::vector<std::pair<uint32_t, Event>>().swap(grouped[e]);
      });
    });
    return Status::Ok();
  }

 private:
  Status ScanSegment(size_t segment, uint32_t base, std::vector<RawEvent>& out, Roaring& patients,
                     std::vector<std::pair<uint32_t, PatientFacts>>& facts,
                     std::vector<std::string>& damaged) {
    // Per-segment caches of the shared dictionaries (the segment's code ids are dense).
    std::vector<uint32_t> code_of_local;
    std::map<std::pair<uint32_t, uint16_t>, uint32_t> entry_of;
    std::unordered_map<std::string_view, uint16_t> type_of, unit_of, status_of;
    auto small_id = [](std::unordered_map<std::string_view, uint16_t>& cache, Interner& interner,
                       std::string_view key) -> uint16_t {
      auto it = cache.find(key);
      if (it != cache.end()) return it->second;
      auto id = static_cast<uint16_t>(std::min<uint32_t>(interner.Id(key), kNoUnit - 1));
      cache.emplace(key, id);
      return id;
    };
    std::string key;
    json::Parser parser;
    MEDLAKE_RETURN_IF_ERROR(lake_.ScanHotSegment(
        segment, "",
        [&](const HotRow& hot, uint32_t row) {
          if (hot.patient == kNoPatientOrdinal) return;
          // Recorded in error or ruled out (a refuted diagnosis): no event of the patient.
          if (hot.status == "entered-in-error" || hot.status == "refuted") return;
          uint16_t type = small_id(type_of, types_, hot.type);
          if (hot.type == "Patient") {
            patients.add(hot.patient);
            facts.emplace_back(hot.patient, ReadPatient(hot, parser));
          }
          if (hot.code_count == 0) return;
          Event ev{hot.effective_start,
                   hot.effective_end,
                   hot.value,
                   base + row,
                   hot.unit.empty() ? kNoUnit : small_id(unit_of, units_, hot.unit),
                   hot.status.empty() ? kNoUnit : small_id(status_of, statuses_, hot.status)};
          for (size_t k = 0; k < hot.code_count; ++k) {
            const CodeView& cv = hot.codes[k];
            if (cv.local_id >= code_of_local.size())
              code_of_local.resize(cv.local_id + 1, kUnmappedCode);
            uint32_t& code = code_of_local[cv.local_id];
            if (code == kUnmappedCode) {
              key.assign(cv.system);
              key += '\x1f';
              key += cv.code;
              code = codes_.Id(key);
            }
            auto [it, fresh] = entry_of.try_emplace({code, type}, 0);
            if (fresh) it->second = EntryId(code, type);
            out.push_back({it->second, hot.patient, ev});
          }
        },
        &damaged));
    return Status::Ok();
  }

  static PatientFacts ReadPatient(const HotRow& hot, json::Parser& parser) {
    PatientFacts f;
    f.birth_ms = hot.effective_start;
    auto json = hot.json();
    if (!json.ok()) return f;  // damaged block: reported by the scan; sex and death stay absent
    auto root = parser.Parse(*json);
    if (!root.ok()) return f;
    if (auto g = root->Find("gender"); g && g->IsString()) f.sex = SexFromGender(g->GetString());
    if (auto d = root->Find("deceasedBoolean"); d && d->IsBool() && d->GetBool())
      f.deceased_ms = kDeceasedUndated;
    if (auto d = root->Find("deceasedDateTime"); d && d->IsString()) {
      auto t = ParseFhirTime(d->GetString());
      f.deceased_ms = t ? t->start : kDeceasedUndated;
    }
    return f;
  }

  uint32_t EntryId(uint32_t code, uint16_t type) {
    std::lock_guard lock(entry_mu_);
    auto [it, fresh] = entry_ids_.try_emplace((uint64_t{code} << 16) | type,
                                              static_cast<uint32_t>(entry_keys_.size()));
    if (fresh) entry_keys_.emplace_back(code, type);
    return it->second;
  }

  static void FinishEntry(std::vector<std::pair<uint32_t, Event>>& events,
                          std::pair<uint32_t, uint16_t> key, Entry& entry) {
    entry.code = key.first;
    entry.type = key.second;
    std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first < b.first;
      if (a.second.start != b.second.start) return a.second.start < b.second.start;
      return a.second.row < b.second.row;
    });
    entry.events.reserve(events.size());
    std::vector<uint32_t> patients;
    for (size_t i = 0; i < events.size(); ++i) {
      if (i == 0 || events[i].first != events[i - 1].first) {
        patients.push_back(events[i].first);
        entry.offsets.push_back(static_cast<uint32_t>(i));
      }
      entry.events.push_back(events[i].second);
      uint16_t unit = events[i].second.unit;
      if (unit != kNoUnit &&
          std::find(entry.units.begin(), entry.units.end(), unit) == entry.units.end())
        entry.units.push_back(unit);
    }
    entry.offsets.push_back(static_cast<uint32_t>(events.size()));
    entry.patients.addMany(patients.size(), patients.data());
    entry.patients.runOptimize();
  }

  const Lake& lake_;
  CohortIndex& index_;
  Interner codes_, types_, units_, statuses_;
  std::mutex entry_mu_;
  std::unordered_map<uint64_t, uint32_t> entry_ids_;
  std::vector<std::pair<uint32_t, uint16_t>> entry_keys_;
};

Result<std::unique_ptr<CohortIndex>> CohortIndex::Build(const Lake& lake, int threads,
                                                        std::vector<std::string>* damaged) {
  auto index = std::make_unique<CohortIndex>();
  IndexBuilder builder(lake, *index);
  MEDLAKE_RETURN_IF_ERROR(builder.Run(threads, damaged));
  uint32_t max_patient = index->patients_.isEmpty() ? 0 : index->patients_.maximum() + 1;
  if (index->facts_.size() < max_patient) index->facts_.resize(max_patient);
  index->Derive();
  return index;
}

void CohortIndex::Derive() {
  by_system_.clear();
  for (uint32_t i = 0; i < codes_.size(); ++i)
    by_system_[codes_[i].system].emplace_back(codes_[i].code, i);
  for (auto& [system, codes] : by_system_) std::sort(codes.begin(), codes.end());
  entries_of_code_.assign(codes_.size(), {});
  for (uint32_t e = 0; e < entries_.size(); ++e) {
    Entry& entry = entries_[e];
    entries_of_code_[entry.code].push_back(e);
    entry.patient_list.resize(entry.patients.cardinality());
    entry.patients.toUint32Array(entry.patient_list.data());
  }

  birth_day_.assign(facts_.size(), kNoBirthDay);
  for (size_t p = 0; p < facts_.size(); ++p) {
    int64_t ms = facts_[p].birth_ms;
    if (ms == kNoTime) continue;
    int64_t day = DayOfMs(ms);
    if (day > INT32_MIN && day <= INT32_MAX) birth_day_[p] = static_cast<int32_t>(day);
  }
  std::vector<uint32_t> sex[5], dead;
  for (uint32_t p : patients_) {
    const PatientFacts& f = facts_[p];
    sex[static_cast<int>(f.sex)].push_back(p);
    if (f.deceased_ms != kNoTime) dead.push_back(p);
  }
  for (int i = 0; i < 5; ++i) {
    by_sex_[i] = Roaring();
    by_sex_[i].addMany(sex[i].size(), sex[i].data());
    by_sex_[i].runOptimize();
  }
  ever_deceased_ = Roaring();
  ever_deceased_.addMany(dead.size(), dead.data());
}

std::vector<uint32_t> CohortIndex::Match(const EventCriterion& c) const {
  std::vector<uint32_t> types;
  for (const auto& t : c.types) {
    auto it = std::find(types_.begin(), types_.end(), t);
    if (it != types_.end()) types.push_back(static_cast<uint32_t>(it - types_.begin()));
  }
  bool any_type = c.types.empty();
  auto type_ok = [&](uint16_t t) {
    return any_type || std::find(types.begin(), types.end(), t) != types.end();
  };
  std::vector<uint32_t> out;
  if (c.any_code) {
    for (uint32_t e = 0; e < entries_.size(); ++e)
      if (type_ok(entries_[e].type)) out.push_back(e);
    return out;
  }
  auto add_code = [&](uint32_t code) {
    for (uint32_t e : entries_of_code_[code])
      if (type_ok(entries_[e].type)) out.push_back(e);
  };
  for (const auto& set_entry : c.codes) {
    auto it = by_system_.find(set_entry.system);
    if (it == by_system_.end()) continue;
    const auto& codes = it->second;
    for (const auto& code : set_entry.codes) {
      auto lo = std::lower_bound(codes.begin(), codes.end(), code,
                                 [](const auto& p, const std::string& v) { return p.first < v; });
      if (lo != codes.end() && lo->first == code) add_code(lo->second);
    }
    for (const auto& prefix : set_entry.prefixes) {
      auto lo = std::lower_bound(codes.begin(), codes.end(), prefix,
                                 [](const auto& p, const std::string& v) { return p.first < v; });
      for (; lo != codes.end() && lo->first.compare(0, prefix.size(), prefix) == 0; ++lo)
        add_code(lo->second);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

uint64_t CohortIndex::event_count() const {
  uint64_t n = 0;
  for (const auto& e : entries_) n += e.events.size();
  return n;
}

uint64_t CohortIndex::memory_bytes() const {
  uint64_t n = facts_.size() * sizeof(PatientFacts) + patients_.getSizeInBytes();
  for (const auto& e : entries_) {
    n += e.events.capacity() * sizeof(Event) + e.offsets.capacity() * sizeof(uint32_t) +
         e.patient_list.capacity() * sizeof(uint32_t) + e.patients.getSizeInBytes();
  }
  return n;
}

}  // namespace medlake::cohort
