// Time-stamped records (HL7 v2 messages, device readings) sorted into per-day buckets, so a
// run can write day files in time order without holding more than one day in memory.
//
// A DayBuckets belongs to one chunk of patients and one thread. Records are framed as
// [int64 time][uint32 length][payload] inside each day's string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake::synth {

class DayBuckets {
 public:
  // Days [first_day, first_day + num_days); times outside are clamped to the ends.
  DayBuckets(int64_t first_day, int num_days) : first_day_(first_day), days_(num_days) {}

  // Starts a record at `time_ms`; append the payload to the returned string, then Commit().
  std::string& Begin(int64_t time_ms);
  void Commit();

  int num_days() const { return static_cast<int>(days_.size()); }
  int64_t first_day() const { return first_day_; }
  const std::string& day(int i) const { return days_[i]; }
  // Days with at least one record, in first-use order.
  const std::vector<int>& touched() const { return touched_; }
  void Clear();

 private:
  int64_t first_day_;
  std::vector<std::string> days_;
  std::vector<int> touched_;
  int open_day_ = -1;
  size_t open_header_ = 0;
};

// One decoded record of a bucket file.
struct TimedRecord {
  int64_t time;
  std::string_view payload;
};

// Decodes the framed records of `data` and stable-sorts them by time. Fails with kCorruption
// on a truncated frame.
Result<std::vector<TimedRecord>> DecodeSorted(std::string_view data);

}  // namespace medlake::synth
