#include "json/minify.h"

#include <simdjson.h>

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MEDLAKE_MINIFY_AVX512 1
#endif

namespace medlake::json {
namespace {

Status UnclosedString() {
  return ParseError("invalid JSON: a string is not closed");
}

Status SplitValue() {
  return ParseError("invalid JSON: whitespace inside a number or literal");
}

// The bytes of numbers and of true, false and null (and of the invalid words a parser rejects).
constexpr bool IsScalarByte(unsigned char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '+' ||
         c == '-' || c == '.';
}

// Whether whitespace outside strings separates two scalar bytes ("1 000", "t rue"): removing
// it would turn invalid JSON into a valid, different value. One byte at a time, with strings
// found as MinifyInto finds them (a backslash escapes the next byte wherever it is).
bool SplitsAValue(std::string_view text) {
  bool in_string = false, escaped = false, last_scalar = false, gap_after_scalar = false;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool literal = escaped;
    escaped = !literal && c == '\\';
    if (in_string) {
      if (c == '"' && !literal) in_string = false;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      gap_after_scalar = gap_after_scalar || last_scalar;
      last_scalar = false;
      continue;
    }
    last_scalar = IsScalarByte(c);
    if (last_scalar && gap_after_scalar) return true;
    gap_after_scalar = false;
    if (c == '"' && !literal) in_string = true;
  }
  return false;
}

}  // namespace

Result<size_t> MinifyPortable(std::string_view text, char* out) {
  if (SplitsAValue(text)) return SplitValue();
  size_t len = 0;
  if (auto error = simdjson::minify(text.data(), text.size(), out, len)) {
    return ParseError(std::string("invalid JSON: ") + simdjson::error_message(error));
  }
  return len;
}

namespace {

#ifdef MEDLAKE_MINIFY_AVX512

constexpr uint64_t kEvenBits = 0x5555555555555555ULL;
constexpr uint64_t kOddBits = ~kEvenBits;

#define MEDLAKE_AVX512_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vbmi2,pclmul,popcnt,bmi,bmi2")))

// State carried from one 64-byte block to the next.
struct Carry {
  uint64_t escaped = 0;      // bit 0: the next block's first byte is escaped by a backslash
  uint64_t in_string = 0;    // all ones when the previous block ended inside a string
  uint64_t last_scalar = 0;  // bit 0: the previous block ended with a scalar byte
  uint64_t open_gap = 0;     // bit 0: it ended in whitespace that follows a scalar byte
  bool split = false;        // whitespace separated two scalar bytes (SplitsAValue)
};

// Bytes escaped by a backslash, for a block whose backslashes are `backslash`. A run of
// backslashes escapes its 2nd, 4th, ... and, when its length is odd, the byte after it. The run's
// start parity decides: adding the run's start bit to the run carries to the byte after the run,
// and that byte is escaped when run start and run end differ in parity (the classic construction
// of simdjson's stage 1, Langdale and Lemire, "Parsing Gigabytes of JSON per Second", 2019).
MEDLAKE_AVX512_TARGET inline uint64_t EscapedBytes(uint64_t backslash, Carry& carry) {
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

// Bit i set when byte i is inside a string (opening quote included, closing quote not).
MEDLAKE_AVX512_TARGET inline uint64_t InString(uint64_t quotes, Carry& carry) {
  __m128i prefix = _mm_clmulepi64_si128(_mm_set_epi64x(0, static_cast<int64_t>(quotes)),
                                        _mm_set1_epi8(static_cast<char>(0xFF)), 0);
  uint64_t inside = static_cast<uint64_t>(_mm_cvtsi128_si64(prefix)) ^ carry.in_string;
  carry.in_string = static_cast<uint64_t>(static_cast<int64_t>(inside) >> 63);
  return inside;
}

// Minifies one 64-byte block into out (64 bytes writable); returns the bytes kept.
MEDLAKE_AVX512_TARGET inline size_t MinifyBlock(__m512i block, Carry& carry, char* out) {
  uint64_t backslash = _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('\\'));
  uint64_t quotes = _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('"'));
  quotes &= ~EscapedBytes(backslash, carry);
  uint64_t inside = InString(quotes, carry);
  // Whitespace is space, tab, LF and CR: the bytes <= 0x20 among which only these four are
  // valid outside strings (any other is an error the parser reports, so it is kept).
  uint64_t space = _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8(' '));
  uint64_t tab = _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('\t'));
  uint64_t lf = _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('\n'));
  uint64_t cr = _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('\r'));
  uint64_t white = (space | tab | lf | cr) & ~inside;
  uint64_t keep = ~white;
  _mm512_storeu_si512(out, _mm512_maskz_compress_epi8(keep, block));
  // Whitespace between two scalar bytes (SplitsAValue): the gaps that start after a scalar
  // byte, each carried by an addition to the byte after it, which must not be scalar.
  const __m512i lower = _mm512_or_si512(block, _mm512_set1_epi8(0x20));
  uint64_t scalar =
      (_mm512_cmple_epu8_mask(_mm512_sub_epi8(block, _mm512_set1_epi8('0')), _mm512_set1_epi8(9)) |
       _mm512_cmple_epu8_mask(_mm512_sub_epi8(lower, _mm512_set1_epi8('a')), _mm512_set1_epi8(25)) |
       _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('+')) |
       _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('-')) |
       _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('.'))) &
      ~inside;
  uint64_t gap_starts = white & ((scalar << 1) | carry.last_scalar | carry.open_gap);
  uint64_t after_gaps;
  bool gap_to_end = __builtin_add_overflow(gap_starts, white, &after_gaps);
  after_gaps &= ~white;
  if (carry.open_gap != 0 && (white & 1) == 0) after_gaps |= 1;  // a gap ended at the boundary
  carry.split = carry.split || (after_gaps & scalar) != 0;
  carry.open_gap = gap_to_end ? 1 : 0;
  carry.last_scalar = scalar >> 63;
  return static_cast<size_t>(__builtin_popcountll(keep));
}

MEDLAKE_AVX512_TARGET Result<size_t> MinifyAvx512(std::string_view text, char* out) {
  const char* in = text.data();
  size_t size = text.size();
  Carry carry;
  char* write = out;
  size_t i = 0;
  for (; i + 64 <= size; i += 64) {
    write += MinifyBlock(_mm512_loadu_si512(in + i), carry, write);
  }
  if (i < size) {
    // The tail, padded with spaces (dropped outside strings; inside one it is unclosed anyway).
    __m512i tail =
        _mm512_mask_loadu_epi8(_mm512_set1_epi8(' '), ~0ULL >> (64 - (size - i)), in + i);
    write += MinifyBlock(tail, carry, write);
  }
  if (carry.in_string != 0) return UnclosedString();
  if (carry.split) return SplitValue();
  return static_cast<size_t>(write - out);
}

bool HasAvx512Vbmi2() {
  static const bool supported = __builtin_cpu_supports("avx512f") &&
                                __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vbmi2") &&
                                __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("bmi2");
  return supported;
}

#endif  // MEDLAKE_MINIFY_AVX512

}  // namespace

Result<size_t> MinifyInto(std::string_view text, char* out) {
#ifdef MEDLAKE_MINIFY_AVX512
  if (HasAvx512Vbmi2()) return MinifyAvx512(text, out);
#endif
  return MinifyPortable(text, out);
}

Result<std::string_view> MinifyBuffer::Minify(std::string_view text) {
  char* out = buffer_.Reserve(text.size() + kMinifySlack);
  MEDLAKE_ASSIGN_OR_RETURN(size_t len, MinifyInto(text, out));
  return std::string_view(out, len);
}

}  // namespace medlake::json
