#include "synth/external_sort.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

namespace medlake::synth {
namespace {

constexpr size_t kHeader = 12;
constexpr size_t kMinReadBuffer = 16 << 10;

void ReadHeader(const char* p, int64_t& key, uint32_t& length) {
  std::memcpy(&key, p, 8);
  std::memcpy(&length, p + 8, 4);
}

// Min-heap order on (key, run): among equal keys the earlier run, which holds earlier records.
bool HeapAfter(const std::pair<int64_t, size_t>& a, const std::pair<int64_t, size_t>& b) {
  return a > b;
}

}  // namespace

std::string& RecordBuffer::Begin(int64_t key) {
  open_header_ = data_.size();
  char header[kHeader] = {};
  std::memcpy(header, &key, 8);
  data_.append(header, kHeader);
  return data_;
}

void RecordBuffer::Commit() {
  const uint32_t len = static_cast<uint32_t>(data_.size() - open_header_ - kHeader);
  std::memcpy(data_.data() + open_header_ + 8, &len, 4);
  ++count_;
}

ExternalSorter::ExternalSorter(std::string tmp_path, size_t memory_budget)
    : tmp_path_(std::move(tmp_path)), budget_(std::max<size_t>(memory_budget, 1 << 16)) {}

ExternalSorter::~ExternalSorter() {
  if (fd_ >= 0) ::close(fd_);
}

Status ExternalSorter::AddFrames(std::string_view frames) {
  size_t pos = 0;
  uint64_t n = 0;
  while (pos < frames.size()) {
    if (frames.size() - pos < kHeader) return Corruption("record frames: truncated header");
    int64_t key;
    uint32_t len;
    ReadHeader(frames.data() + pos, key, len);
    if (frames.size() - pos - kHeader < len) return Corruption("record frames: truncated record");
    pos += kHeader + len;
    ++n;
  }
  // Spill before the buffer would outgrow the budget, so its capacity stays within it.
  if (!buffer_.empty() && buffer_.size() + frames.size() > budget_) {
    MEDLAKE_RETURN_IF_ERROR(SpillRun());
  }
  if (buffer_.capacity() < budget_) buffer_.reserve(std::max(budget_, frames.size()));
  buffer_.append(frames);
  records_ += n;
  return Status::Ok();
}

Status ExternalSorter::Add(int64_t key, std::string_view payload) {
  char header[kHeader];
  const uint32_t len = static_cast<uint32_t>(payload.size());
  std::memcpy(header, &key, 8);
  std::memcpy(header + 8, &len, 4);
  if (!buffer_.empty() && buffer_.size() + kHeader + payload.size() > budget_) {
    MEDLAKE_RETURN_IF_ERROR(SpillRun());
  }
  if (buffer_.capacity() < budget_) buffer_.reserve(budget_);
  buffer_.append(header, kHeader);
  buffer_.append(payload);
  ++records_;
  return Status::Ok();
}

Status ExternalSorter::SortBuffer() {
  entries_.clear();
  size_t pos = 0;
  while (pos < buffer_.size()) {
    int64_t key;
    uint32_t len;
    ReadHeader(buffer_.data() + pos, key, len);
    entries_.push_back({key, pos + kHeader, len});
    pos += kHeader + len;
  }
  std::stable_sort(entries_.begin(), entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.key < b.key; });
  return Status::Ok();
}

Status ExternalSorter::AppendToFile(std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done,
                               static_cast<off_t>(file_size_ + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(fmt::format("{}: write failed: {}", tmp_path_, std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  file_size_ += data.size();
  data.clear();
  return Status::Ok();
}

Status ExternalSorter::SpillRun() {
  if (buffer_.empty()) return Status::Ok();
  MEDLAKE_RETURN_IF_ERROR(SortBuffer());
  if (fd_ < 0) {
    fd_ = ::open(tmp_path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0) return IoError(fmt::format("{}: {}", tmp_path_, std::strerror(errno)));
    ::unlink(tmp_path_.c_str());
  }
  RunReader run;
  run.pos = file_size_;
  std::string out;
  out.reserve(std::min<size_t>(buffer_.size(), 1 << 20) + kHeader);
  for (const Entry& e : entries_) {
    out.append(buffer_, e.offset - kHeader, kHeader + e.length);
    if (out.size() >= (1 << 20)) MEDLAKE_RETURN_IF_ERROR(AppendToFile(out));
  }
  MEDLAKE_RETURN_IF_ERROR(AppendToFile(out));
  run.end = file_size_;
  runs_.push_back(std::move(run));
  buffer_.clear();
  entries_.clear();
  return Status::Ok();
}

Status ExternalSorter::Fill(RunReader& r, bool& has) {
  // Drop the frame returned last, then make sure a whole frame is buffered.
  auto buffered = [&r] { return r.hi - r.lo; };
  auto need = [&]() -> size_t {
    if (buffered() < kHeader) return kHeader;
    int64_t key;
    uint32_t len;
    ReadHeader(r.buf.data() + r.lo, key, len);
    return kHeader + len;
  };
  while (buffered() < need()) {
    if (r.pos >= r.end) {
      if (buffered() != 0) return Corruption(fmt::format("{}: truncated run", tmp_path_));
      has = false;
      return Status::Ok();
    }
    const size_t want = need();
    if (r.lo > 0) {
      std::memmove(r.buf.data(), r.buf.data() + r.lo, buffered());
      r.hi -= r.lo;
      r.lo = 0;
    }
    if (r.buf.size() < want) r.buf.resize(want);
    const size_t room = std::min<uint64_t>(r.buf.size() - r.hi, r.end - r.pos);
    const ssize_t n = ::pread(fd_, r.buf.data() + r.hi, room, static_cast<off_t>(r.pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(fmt::format("{}: read failed: {}", tmp_path_, std::strerror(errno)));
    }
    if (n == 0) return Corruption(fmt::format("{}: run ends early", tmp_path_));
    r.hi += static_cast<size_t>(n);
    r.pos += static_cast<uint64_t>(n);
  }
  ReadHeader(r.buf.data() + r.lo, r.key, r.length);
  has = true;
  return Status::Ok();
}

Status ExternalSorter::MergePrefix(size_t ways) {
  std::vector<RunReader> group(std::make_move_iterator(runs_.begin()),
                               std::make_move_iterator(runs_.begin() + ways));
  std::vector<std::pair<int64_t, size_t>> heap;
  const size_t per_run = std::max(kMinReadBuffer, budget_ / ways);
  std::vector<std::pair<uint64_t, uint64_t>> extents;  // of the runs merged, to free
  for (size_t i = 0; i < ways; ++i) {
    RunReader& r = group[i];
    extents.push_back({r.pos, r.end - r.pos});
    r.buf.resize(per_run);
    bool has;
    MEDLAKE_RETURN_IF_ERROR(Fill(r, has));
    if (has) heap.push_back({r.key, i});
  }
  std::make_heap(heap.begin(), heap.end(), HeapAfter);
  RunReader merged;
  merged.pos = file_size_;
  std::string out;
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), HeapAfter);
    const size_t i = heap.back().second;
    heap.pop_back();
    RunReader& r = group[i];
    out.append(r.buf, r.lo, kHeader + r.length);
    if (out.size() >= (1 << 20)) MEDLAKE_RETURN_IF_ERROR(AppendToFile(out));
    r.lo += kHeader + r.length;
    bool has;
    MEDLAKE_RETURN_IF_ERROR(Fill(r, has));
    if (has) {
      heap.push_back({r.key, i});
      std::push_heap(heap.begin(), heap.end(), HeapAfter);
    }
  }
  MEDLAKE_RETURN_IF_ERROR(AppendToFile(out));
  merged.end = file_size_;
  // Give the merged runs' disk space back; failure (a file system without holes) only costs
  // space.
  for (const auto& [offset, length] : extents) {
    ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(length));
  }
  // The merged run holds the earliest records, so it takes the first place: ties still go to
  // the record added first.
  runs_.erase(runs_.begin(), runs_.begin() + ways);
  runs_.insert(runs_.begin(), std::move(merged));
  return Status::Ok();
}

Status ExternalSorter::Finish() {
  finished_ = true;
  if (runs_.empty()) return SortBuffer();
  MEDLAKE_RETURN_IF_ERROR(SpillRun());
  std::string().swap(buffer_);
  std::vector<Entry>().swap(entries_);
  // More runs than read buffers of kMinReadBuffer fit in the budget: merge the oldest ones
  // first, so the final merge stays within the budget whatever the input size.
  const size_t max_ways = std::max<size_t>(2, budget_ / kMinReadBuffer);
  while (runs_.size() > max_ways) MEDLAKE_RETURN_IF_ERROR(MergePrefix(max_ways));
  const size_t per_run = std::max(kMinReadBuffer, budget_ / runs_.size());
  for (size_t i = 0; i < runs_.size(); ++i) {
    RunReader& r = runs_[i];
    r.buf.resize(per_run);
    bool has;
    MEDLAKE_RETURN_IF_ERROR(Fill(r, has));
    if (has) heap_.push_back({r.key, i});
  }
  std::make_heap(heap_.begin(), heap_.end(), HeapAfter);
  return Status::Ok();
}

Result<bool> ExternalSorter::Next(TimedRecord& out) {
  if (!finished_) return Internal("ExternalSorter::Next before Finish");
  if (runs_.empty()) {
    if (next_entry_ >= entries_.size()) return false;
    const Entry& e = entries_[next_entry_++];
    out = {e.key, std::string_view(buffer_).substr(e.offset, e.length)};
    return true;
  }
  if (last_run_ != SIZE_MAX) {
    RunReader& r = runs_[last_run_];
    r.lo += kHeader + r.length;
    bool has;
    MEDLAKE_RETURN_IF_ERROR(Fill(r, has));
    if (has) {
      heap_.push_back({r.key, last_run_});
      std::push_heap(heap_.begin(), heap_.end(), HeapAfter);
    }
    last_run_ = SIZE_MAX;
  }
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), HeapAfter);
  last_run_ = heap_.back().second;
  heap_.pop_back();
  const RunReader& r = runs_[last_run_];
  out = {r.key, std::string_view(r.buf).substr(r.lo + kHeader, r.length)};
  return true;
}

}  // namespace medlake::synth
