// The cohort index: what cohort criteria need from a lake, laid out for answering them fast.
//
// For every (code, resource type) pair present in the lake, an Entry holds the patients having
// it (a roaring bitmap) and its events (effective start/end, value, unit, status) grouped by
// patient in CSR form and sorted by time, so that "does patient p have such an event in this
// window" is a rank() and a short scan. Per patient it keeps birth, sex and death.
// It is built from the segments' hot columns (no resource is parsed except Patients), one task
// per segment; live rows only; entered-in-error resources are left out.
#pragma once

#include <cstdint>
#include <memory>
#include <roaring/roaring.hh>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "cohort/definition.h"
#include "common/fhir_time.h"
#include "medlake/lake.h"
#include "medlake/status.h"

namespace medlake::cohort {

inline constexpr uint16_t kNoUnit = 0xFFFF;

struct Event {
  int64_t start;    // effective start, ms (kNoTime when absent)
  int64_t end;      // effective end, ms (kNoTime when absent)
  double value;     // valueQuantity.value, NaN when absent
  uint32_t row;     // the resource, numbered over the lake (one resource may be in several entries)
  uint16_t unit;    // index into units(), kNoUnit when absent
  uint16_t status;  // index into statuses(), kNoUnit when absent
};

struct Entry {
  uint32_t code = 0;  // index into codes()
  uint16_t type = 0;  // index into types()
  Roaring patients;
  std::vector<uint32_t> patient_list;  // the same patients, ascending
  std::vector<uint32_t> offsets;  // events of patient_list[k]: events[offsets[k], offsets[k+1])
  std::vector<Event> events;      // by patient, then start, then row
  std::vector<uint16_t> units;    // the distinct units of its events

  std::span<const Event> EventsOf(uint32_t patient) const;
  // EventsOf for callers visiting patients in ascending order: `cursor` (start at 0) remembers
  // the position, and the search gallops forward from it.
  std::span<const Event> EventsOf(uint32_t patient, uint32_t& cursor) const;
};

enum class Sex : uint8_t { kAbsent, kMale, kFemale, kOther, kUnknown };
// An R4 administrative gender code ("male", "female", "other", "unknown"); kAbsent otherwise.
Sex SexFromGender(std::string_view gender);

struct PatientFacts {
  int64_t birth_ms = kNoTime;
  int64_t deceased_ms = kNoTime;  // deceasedDateTime start; kDeceasedUndated for deceasedBoolean
  Sex sex = Sex::kAbsent;
};
inline constexpr int64_t kDeceasedUndated = INT64_MIN + 1;
inline constexpr int32_t kNoBirthDay = INT32_MIN;

struct Coded {
  std::string system;
  std::string code;
};

class CohortIndex {
 public:
  // Reads every live row of the lake's segments, `threads` at a time (0: all cores). Damaged
  // segments are skipped and named in `damaged`.
  static Result<std::unique_ptr<CohortIndex>> Build(const Lake& lake, int threads,
                                                    std::vector<std::string>* damaged);

  // Patients with a Patient resource.
  const Roaring& patients() const { return patients_; }
  const PatientFacts& facts(uint32_t patient) const { return facts_[patient]; }
  // Patients (with a Patient resource) of one sex, and those recorded as deceased at any time.
  const Roaring& with_sex(Sex sex) const { return by_sex_[static_cast<int>(sex)]; }
  const Roaring& ever_deceased() const { return ever_deceased_; }
  // Birth date as days since 1970-01-01 (UTC), kNoBirthDay when unknown: age tests are two
  // integer comparisons.
  int32_t birth_day(uint32_t patient) const { return birth_day_[patient]; }
  uint32_t patient_capacity() const { return static_cast<uint32_t>(facts_.size()); }

  const std::vector<Entry>& entries() const { return entries_; }
  const std::vector<Coded>& codes() const { return codes_; }
  const std::vector<std::string>& types() const { return types_; }
  const std::vector<std::string>& units() const { return units_; }
  const std::vector<std::string>& statuses() const { return statuses_; }

  // The entries whose code is in `c`'s code set (any code when it has none) and whose type is
  // one of `c`'s types (any when none), in increasing entry order.
  std::vector<uint32_t> Match(const EventCriterion& c) const;

  uint64_t event_count() const;
  uint64_t memory_bytes() const;

 private:
  friend class IndexBuilder;
  friend class IndexFile;
  Roaring patients_;
  std::vector<PatientFacts> facts_;
  Roaring by_sex_[5];
  Roaring ever_deceased_;
  std::vector<int32_t> birth_day_;
  // The lookup state derived from the rest, after a build or a load: the code lookups, each
  // entry's patient list, sex and death bitmaps, birth days.
  void Derive();
  std::vector<Entry> entries_;
  std::vector<Coded> codes_;
  std::vector<std::string> types_, units_, statuses_;
  // system -> (code, code index) sorted by code, for exact and prefix lookups.
  std::unordered_map<std::string, std::vector<std::pair<std::string, uint32_t>>> by_system_;
  std::vector<std::vector<uint32_t>> entries_of_code_;
};

}  // namespace medlake::cohort
