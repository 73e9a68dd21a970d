#include "synth/bed_allocation.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <queue>
#include <set>
#include <utility>

namespace medlake::synth {
namespace {

// Bed periods are identified by (patient index, period number within the patient).
constexpr int kPeriodBits = 16;

int64_t PeriodKey(uint64_t patient, uint32_t period) {
  return static_cast<int64_t>((patient << kPeriodBits) | period);
}

struct StayRecord {
  int64_t end;
  int64_t key;
  uint8_t ward;
};

}  // namespace

void CollectBedStays(const PopulationModel& model, const PatientStory& story, RecordBuffer& out) {
  uint32_t period = 0;
  for (const EncounterRec& e : story.encounters) {
    for (const BedStay& b : e.beds) {
      StayRecord r{b.end, PeriodKey(story.index, period++),
                   static_cast<uint8_t>(model.WardOfBed(b.bed))};
      std::string& s = out.Begin(b.start);
      s.append(reinterpret_cast<const char*>(&r.end), 8);
      s.append(reinterpret_cast<const char*>(&r.key), 8);
      s.push_back(static_cast<char>(r.ward));
      out.Commit();
    }
  }
}

void ApplyBeds(const PopulationModel& model, const std::vector<uint32_t>& slots, size_t& next,
               PatientStory& story) {
  for (EncounterRec& e : story.encounters) {
    for (BedStay& b : e.beds) {
      const int ward = model.WardOfBed(b.bed);
      b.bed = model.FirstBed(ward) + static_cast<int>(slots[next++]);
    }
  }
  for (VitalSet& v : story.vitals) v.bed = story.encounters[v.encounter].beds[v.bed_stay].bed;
}

BedPlanner::BedPlanner(const PopulationModel& model, std::string tmp_prefix, size_t memory_budget) {
  for (int w = 0; w < kNumWards; ++w) ward_beds_[w] = model.BedsInWard(w);
  by_start_ = std::make_unique<ExternalSorter>(tmp_prefix + "-by-start.bin", memory_budget);
  by_patient_ = std::make_unique<ExternalSorter>(tmp_prefix + "-by-patient.bin", memory_budget);
}

Status BedPlanner::AddStays(std::string_view frames) {
  return by_start_->AddFrames(frames);
}

Status BedPlanner::Allocate() {
  MEDLAKE_RETURN_IF_ERROR(by_start_->Finish());
  // Per ward: occupied beds as a min-heap of (end, slot), free slots as an ordered set.
  using Busy = std::pair<int64_t, uint32_t>;
  std::array<std::priority_queue<Busy, std::vector<Busy>, std::greater<>>, kNumWards> busy;
  std::array<std::set<uint32_t>, kNumWards> free;
  std::array<uint32_t, kNumWards> opened{};  // slots handed out so far, per ward
  TimedRecord r;
  while (true) {
    MEDLAKE_ASSIGN_OR_RETURN(const bool more, by_start_->Next(r));
    if (!more) break;
    if (r.payload.size() != 17) return Corruption("bed stays: bad record");
    const int64_t start = r.key;
    int64_t end, key;
    std::memcpy(&end, r.payload.data(), 8);
    std::memcpy(&key, r.payload.data() + 8, 8);
    const uint8_t ward = static_cast<uint8_t>(r.payload[16]);
    if (ward >= kNumWards) return Corruption("bed stays: bad ward");
    // A bed is free again strictly after its period ends, so a patient moving at instant t
    // never gets back the bed they leave at t.
    while (!busy[ward].empty() && busy[ward].top().first < start) {
      free[ward].insert(busy[ward].top().second);
      busy[ward].pop();
    }
    uint32_t slot;
    if (!free[ward].empty()) {
      slot = *free[ward].begin();
      free[ward].erase(free[ward].begin());
    } else {
      slot = opened[ward]++;
    }
    busy[ward].push({end, slot});
    MEDLAKE_RETURN_IF_ERROR(
        by_patient_->Add(key, std::string_view(reinterpret_cast<const char*>(&slot), 4)));
  }
  by_start_.reset();
  for (int w = 0; w < kNumWards; ++w) {
    const int needed = static_cast<int>(opened[w]);
    if (needed > ward_beds_[w]) {
      surge_beds_ += static_cast<uint64_t>(needed - ward_beds_[w]);
      ward_beds_[w] = needed;
    }
  }
  return by_patient_->Finish();
}

Status BedPlanner::TakeSlots(uint64_t first, uint64_t count, std::vector<uint32_t>& slots) {
  slots.clear();
  const int64_t end_key = PeriodKey(first + count, 0);
  while (true) {
    if (!pending_) {
      MEDLAKE_ASSIGN_OR_RETURN(const bool more, by_patient_->Next(pending_record_));
      if (!more) return Status::Ok();
      pending_ = true;
    }
    if (pending_record_.key >= end_key) return Status::Ok();
    if (pending_record_.key < PeriodKey(first, 0) || pending_record_.payload.size() != 4) {
      return Corruption("bed slots out of order");
    }
    uint32_t slot;
    std::memcpy(&slot, pending_record_.payload.data(), 4);
    slots.push_back(slot);
    pending_ = false;
  }
}

}  // namespace medlake::synth
