// Bed allocation across patients: at any instant a bed holds at most one patient.
//
// Patients are generated independently and in parallel, so the run allocates beds in a first
// pass over the stories: CollectBedStays (parallel, per chunk) lists every bed period with its
// ward, BedPlanner (serial) sorts them by start time with an external sort and gives each the
// lowest-numbered bed of its ward that is free, opening a surge bed when the ward is full.
// The second pass regenerates each story and ApplyBeds writes the allocated beds into it.
// The allocation is a pure function of the stories in patient order, so the output stays
// independent of the thread count. Memory: the sort's budget plus the occupied beds.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "medlake/status.h"
#include "synth/external_sort.h"
#include "synth/population.h"
#include "synth/story.h"

namespace medlake::synth {

// Appends one record per bed period of `story` (beds as drawn by the story generator).
void CollectBedStays(const PopulationModel& model, const PatientStory& story, RecordBuffer& out);

// Replaces the story's beds with `slots` (the slot in its ward of every bed period, in story
// order, as BedPlanner::TakeSlots returns them), beginning at slots[next]; advances `next`.
// The model must have the planner's layout (PopulationModel::SetWardBeds).
void ApplyBeds(const PopulationModel& model, const std::vector<uint32_t>& slots, size_t& next,
               PatientStory& story);

class BedPlanner {
 public:
  // `tmp_prefix`: path prefix of the sorts' temporary files. `model`: the configured layout.
  BedPlanner(const PopulationModel& model, std::string tmp_prefix, size_t memory_budget);

  // First pass, in patient order: the frames of CollectBedStays.
  Status AddStays(std::string_view frames);
  // Allocates every bed period. Errors: kIoError, kCorruption.
  Status Allocate();
  // Beds per ward after allocation: the configured number, or more when the ward needed
  // surge beds.
  const std::array<int, kNumWards>& ward_beds() const { return ward_beds_; }
  uint64_t surge_beds() const { return surge_beds_; }

  // Second pass, in patient order: the slots of patients [first, first + count), appended to
  // `slots` (cleared first). Errors: kIoError, kCorruption.
  Status TakeSlots(uint64_t first, uint64_t count, std::vector<uint32_t>& slots);

 private:
  std::array<int, kNumWards> ward_beds_{};
  uint64_t surge_beds_ = 0;
  std::unique_ptr<ExternalSorter> by_start_;
  std::unique_ptr<ExternalSorter> by_patient_;
  bool pending_ = false;  // by_patient_ record read ahead of TakeSlots's range
  TimedRecord pending_record_{};
};

}  // namespace medlake::synth
