// Which bytes of a 64-byte block are inside JSON strings, from the block's quotes and
// backslashes, with no loop over them: the construction of simdjson's stage 1 (Langdale and
// Lemire, "Parsing Gigabytes of JSON per Second", 2019). Shared by the minifier (minify.cc) and
// the scan of large documents (scanner.cc). x86-64 only; callers check for carry-less
// multiplication (pclmul) at run time.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include <cstdint>

#define MEDLAKE_STRING_MASKS 1
// The mask arithmetic needs only carry-less multiplication; each caller adds its own vector
// instructions (a callee's target must be a subset of its caller's).
#define MEDLAKE_CLMUL_TARGET __attribute__((target("pclmul,popcnt")))
#define MEDLAKE_AVX2_TARGET __attribute__((target("avx2,pclmul,popcnt,bmi")))

namespace medlake::json {

// State carried from one 64-byte block to the next.
struct StringCarry {
  uint64_t escaped = 0;    // bit 0: the next block's first byte is escaped by a backslash
  uint64_t in_string = 0;  // all ones when the previous block ended inside a string
};

// Bytes escaped by a backslash, for a block whose backslashes are `backslash`. A run of
// backslashes escapes its 2nd, 4th, ... and, when its length is odd, the byte after it. The run's
// start parity decides: adding the run's start bit to the run carries to the byte after the run,
// and that byte is escaped when run start and run end differ in parity. A backslash escapes the
// next byte wherever it is (outside a string it is not JSON).
MEDLAKE_CLMUL_TARGET inline uint64_t EscapedBytes(uint64_t backslash, StringCarry& carry) {
  constexpr uint64_t kEvenBits = 0x5555555555555555ULL;
  constexpr uint64_t kOddBits = ~kEvenBits;
  uint64_t escaped_in = carry.escaped;
  if (backslash == 0) {
    carry.escaped = 0;
    return escaped_in;
  }
  // A backslash escaped by the previous block is a literal, not the start of a run.
  uint64_t escapers = backslash & ~escaped_in;
  uint64_t starts = escapers & ~(escapers << 1);
  uint64_t even_carries = escapers + (starts & kEvenBits);
  uint64_t odd_carries;
  // A run from an odd position that reaches bit 63 has an odd length: it escapes the next
  // block's first byte (a run from an even position reaching it is even).
  bool odd_run_to_end = __builtin_add_overflow(escapers, starts & kOddBits, &odd_carries);
  uint64_t escaped = ((even_carries & ~escapers) & kOddBits) |
                     ((odd_carries & ~escapers) & kEvenBits) | escaped_in;
  carry.escaped = odd_run_to_end ? 1 : 0;
  return escaped;
}

// Bit i set when byte i is inside a string (opening quote included, closing quote not), for a
// block whose unescaped quotes are `quotes`.
MEDLAKE_CLMUL_TARGET inline uint64_t InString(uint64_t quotes, StringCarry& carry) {
  __m128i prefix = _mm_clmulepi64_si128(_mm_set_epi64x(0, static_cast<int64_t>(quotes)),
                                        _mm_set1_epi8(static_cast<char>(0xFF)), 0);
  uint64_t inside = static_cast<uint64_t>(_mm_cvtsi128_si64(prefix)) ^ carry.in_string;
  carry.in_string = static_cast<uint64_t>(static_cast<int64_t>(inside) >> 63);
  return inside;
}

// Whether the CPU runs MEDLAKE_AVX2_TARGET code.
inline bool HasAvx2Masks() {
  static const bool supported = __builtin_cpu_supports("avx2") &&
                                __builtin_cpu_supports("pclmul") &&
                                __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("bmi");
  return supported;
}

// The bytes of v equal to c.
MEDLAKE_AVX2_TARGET inline __m256i Is256(__m256i v, char c) {
  return _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c));
}

// The 64 bits of two 32-byte comparisons, lo's first.
MEDLAKE_AVX2_TARGET inline uint64_t Bits256(__m256i lo, __m256i hi) {
  return static_cast<uint32_t>(_mm256_movemask_epi8(lo)) |
         (static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(hi))) << 32);
}

}  // namespace medlake::json

#endif  // x86-64
