#include "synth/day_buckets.h"

#include <algorithm>
#include <cstring>

#include "synth/time_format.h"

namespace medlake::synth {

std::string& DayBuckets::Begin(int64_t time_ms) {
  int64_t d = DayOf(time_ms) - first_day_;
  d = std::clamp<int64_t>(d, 0, static_cast<int64_t>(days_.size()) - 1);
  open_day_ = static_cast<int>(d);
  std::string& s = days_[open_day_];
  if (s.empty()) touched_.push_back(open_day_);
  open_header_ = s.size();
  char header[12] = {};
  std::memcpy(header, &time_ms, 8);
  s.append(header, sizeof(header));
  return s;
}

void DayBuckets::Commit() {
  std::string& s = days_[open_day_];
  const uint32_t len = static_cast<uint32_t>(s.size() - open_header_ - 12);
  std::memcpy(s.data() + open_header_ + 8, &len, 4);
  open_day_ = -1;
}

void DayBuckets::Clear() {
  // Release, not just clear: keeping every day's high-water capacity would grow with the
  // number of chunks seen.
  for (int d : touched_) std::string().swap(days_[d]);
  touched_.clear();
}

Result<std::vector<TimedRecord>> DecodeSorted(std::string_view data) {
  std::vector<TimedRecord> records;
  size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < 12) return Corruption("day bucket: truncated record header");
    int64_t time;
    uint32_t len;
    std::memcpy(&time, data.data() + pos, 8);
    std::memcpy(&len, data.data() + pos + 8, 4);
    pos += 12;
    if (data.size() - pos < len) return Corruption("day bucket: truncated record");
    records.push_back({time, data.substr(pos, len)});
    pos += len;
  }
  std::stable_sort(records.begin(), records.end(),
                   [](const TimedRecord& a, const TimedRecord& b) { return a.time < b.time; });
  return records;
}

}  // namespace medlake::synth
