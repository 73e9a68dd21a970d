// LatencyHistogram: durations in log-spaced buckets (2 % wide, from 1 µs), so percentiles of
// any number of samples take fixed memory. Not thread-safe.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace medlake::watch {

class LatencyHistogram {
 public:
  void Add(double ms) {
    double us = ms * 1000.0;
    size_t b = us <= 1.0 ? 0 : static_cast<size_t>(std::log(us) / kLogBase) + 1;
    ++buckets_[b < kBuckets ? b : kBuckets - 1];
    ++count_;
    if (ms > max_ms_) max_ms_ = ms;
  }
  uint64_t count() const { return count_; }
  double max_ms() const { return max_ms_; }
  // The upper edge of the bucket holding the q-quantile (0 < q <= 1), in ms; 0 when empty.
  double Percentile(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
    uint64_t seen = 0;
    for (size_t b = 0; b < kBuckets; ++b) {
      seen += buckets_[b];
      if (seen >= rank && buckets_[b] > 0) {
        double edge_ms = std::exp(kLogBase * static_cast<double>(b)) / 1000.0;
        return edge_ms < max_ms_ ? edge_ms : max_ms_;
      }
    }
    return max_ms_;
  }

 private:
  static constexpr size_t kBuckets = 1200;                // 1.02^1200 µs: far beyond any latency
  static constexpr double kLogBase = 0.0198026272961797;  // ln(1.02)
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  double max_ms_ = 0;
};

}  // namespace medlake::watch
