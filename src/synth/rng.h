// Small, fast, deterministic pseudo-random numbers for the synthetic population generator.
//
// Rng is xoshiro256** seeded through splitmix64 from (seed, stream, index): every patient gets
// its own independent stream, so patients can be generated in any order, on any thread, and
// still give the same bytes. Not cryptographic. Not thread-safe: one Rng per thread or patient.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace medlake::synth {

// One step of splitmix64 (Steele, Lea and Flood 2014): advances `state`, returns the output.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A 64-bit hash of three words, for derived identifiers (UIDs) and per-stream seeds.
inline uint64_t Hash3(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t s = a;
  uint64_t h = SplitMix64(s);
  s = h ^ b;
  h = SplitMix64(s);
  s = h ^ c;
  return SplitMix64(s);
}

__extension__ typedef unsigned __int128 Uint128;

// Independent streams of one patient.
enum class Stream : uint64_t { kStory = 1, kGenotype = 2, kNames = 3, kProcedures = 4 };

class Rng {
 public:
  Rng(uint64_t seed, Stream stream, uint64_t index) {
    uint64_t s = Hash3(seed, static_cast<uint64_t>(stream), index);
    for (uint64_t& w : s_) w = SplitMix64(s);
  }

  // xoshiro256** 1.0 (Blackman and Vigna 2018).
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [lo, hi] (inclusive); Lemire's multiply-shift, bias below 2^-32.
  int64_t UniformInt(int64_t lo, int64_t hi) {
    const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
    const Uint128 m = static_cast<Uint128>(Next()) * range;
    return lo + static_cast<int64_t>(m >> 64);
  }
  bool Bernoulli(double p) { return Uniform() < p; }
  // Standard normal (Box-Muller, one value per call).
  double Normal() {
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  double Normal(double mean, double sd) { return mean + sd * Normal(); }
  // Exponential waiting time with the given rate (events per unit).
  double Exponential(double rate) { return -std::log(1.0 - Uniform()) / rate; }
  // Index drawn from cumulative weights cum[0..n) (cum[n-1] is the total).
  size_t Weighted(const double* cum, size_t n) {
    const double x = Uniform() * cum[n - 1];
    for (size_t i = 0; i < n; ++i) {
      if (x < cum[i]) return i;
    }
    return n - 1;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

inline double Logistic(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

}  // namespace medlake::synth
