#include "json/minify.h"

#include <simdjson.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "json/string_masks.h"

#ifdef MEDLAKE_STRING_MASKS
#define MEDLAKE_MINIFY_SIMD 1
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

Result<size_t> MinifyPortable(std::string_view text, char* out) {
  if (SplitsAValue(text)) return SplitValue();
  size_t len = 0;
  if (auto error = simdjson::minify(text.data(), text.size(), out, len)) {
    return ParseError(std::string("invalid JSON: ") + simdjson::error_message(error));
  }
  return len;
}

#ifdef MEDLAKE_MINIFY_SIMD

#define MEDLAKE_AVX512_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vbmi2,pclmul,popcnt,bmi,bmi2")))

// State carried from one 64-byte block to the next.
struct Carry {
  StringCarry strings;
  uint64_t last_scalar = 0;  // bit 0: the previous block ended with a scalar byte
  uint64_t open_gap = 0;     // bit 0: it ended in whitespace that follows a scalar byte
  bool split = false;        // whitespace separated two scalar bytes (SplitsAValue)
};

// What a kernel finds in one 64-byte block, bit i for byte i, inside strings or not.
struct BlockBits {
  uint64_t backslash;
  uint64_t quote;
  uint64_t white;   // space, tab, line feed, carriage return
  uint64_t scalar;  // IsScalarByte
};

// The bytes of a block to keep: all but the whitespace outside strings. Notes in `carry`
// whitespace that separates two scalar bytes (SplitsAValue): the gaps that start after a scalar
// byte, each carried by an addition to the byte after it, which must not be scalar.
MEDLAKE_CLMUL_TARGET inline uint64_t KeptBytes(const BlockBits& bits, Carry& carry) {
  uint64_t quotes = bits.quote & ~EscapedBytes(bits.backslash, carry.strings);
  uint64_t inside = InString(quotes, carry.strings);
  uint64_t white = bits.white & ~inside;
  uint64_t scalar = bits.scalar & ~inside;
  uint64_t gap_starts = white & ((scalar << 1) | carry.last_scalar | carry.open_gap);
  uint64_t after_gaps;
  bool gap_to_end = __builtin_add_overflow(gap_starts, white, &after_gaps);
  after_gaps &= ~white;
  if (carry.open_gap != 0 && (white & 1) == 0) after_gaps |= 1;  // a gap ended at the boundary
  carry.split = carry.split || (after_gaps & scalar) != 0;
  carry.open_gap = gap_to_end ? 1 : 0;
  carry.last_scalar = scalar >> 63;
  return ~white;
}

// The end of a text: how a kernel reports what its carry saw.
Result<size_t> Finish(const Carry& carry, size_t written) {
  if (carry.strings.in_string != 0) return UnclosedString();
  if (carry.split) return SplitValue();
  return written;
}

// --- AVX-512 VBMI2: one compress per block (Intel since Ice Lake, AMD since Zen 4).

MEDLAKE_AVX512_TARGET inline uint64_t Is512(__m512i block, char c) {
  return _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8(c));
}

// Minifies one 64-byte block into out (64 bytes writable); returns the bytes kept.
MEDLAKE_AVX512_TARGET inline size_t MinifyBlock512(__m512i block, Carry& carry, char* out) {
  const __m512i lower = _mm512_or_si512(block, _mm512_set1_epi8(0x20));
  const uint64_t scalar =
      _mm512_cmple_epu8_mask(_mm512_sub_epi8(block, _mm512_set1_epi8('0')), _mm512_set1_epi8(9)) |
      _mm512_cmple_epu8_mask(_mm512_sub_epi8(lower, _mm512_set1_epi8('a')), _mm512_set1_epi8(25)) |
      Is512(block, '+') | Is512(block, '-') | Is512(block, '.');
  BlockBits bits;
  bits.backslash = Is512(block, '\\');
  bits.quote = Is512(block, '"');
  bits.white = Is512(block, ' ') | Is512(block, '\t') | Is512(block, '\n') | Is512(block, '\r');
  bits.scalar = scalar;
  uint64_t keep = KeptBytes(bits, carry);
  _mm512_storeu_si512(out, _mm512_maskz_compress_epi8(keep, block));
  return static_cast<size_t>(__builtin_popcountll(keep));
}

MEDLAKE_AVX512_TARGET Result<size_t> MinifyAvx512(std::string_view text, char* out) {
  const char* in = text.data();
  size_t size = text.size();
  Carry carry;
  char* write = out;
  size_t i = 0;
  for (; i + 64 <= size; i += 64) {
    write += MinifyBlock512(_mm512_loadu_si512(in + i), carry, write);
  }
  if (i < size) {
    // The tail, padded with spaces (dropped outside strings; inside one it is unclosed anyway).
    __m512i tail =
        _mm512_mask_loadu_epi8(_mm512_set1_epi8(' '), ~0ULL >> (64 - (size - i)), in + i);
    write += MinifyBlock512(tail, carry, write);
  }
  return Finish(carry, static_cast<size_t>(write - out));
}

bool HasAvx512Vbmi2() {
  static const bool supported = __builtin_cpu_supports("avx512f") &&
                                __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vbmi2") &&
                                __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("bmi2");
  return supported;
}

// --- AVX2: the same bits from two 32-byte halves; no compress instruction, so the kept bytes
// of each 8-byte group are gathered by one byte shuffle whose pattern a table holds per group
// mask (as simdjson's haswell minify does). Blocks with nothing to drop, most of an NDJSON
// line's, are copied whole.

// kGather[m]: the byte indices 0..7 whose bit is set in m, in order, packed into a uint64_t.
constexpr std::array<uint64_t, 256> MakeGatherTable() {
  std::array<uint64_t, 256> table{};
  for (unsigned mask = 0; mask < 256; ++mask) {
    uint64_t pattern = 0;
    unsigned kept = 0;
    for (unsigned byte = 0; byte < 8; ++byte) {
      if (mask & (1u << byte)) pattern |= static_cast<uint64_t>(byte) << (8 * kept++);
    }
    table[mask] = pattern;
  }
  return table;
}
constexpr std::array<uint64_t, 256> kGather = MakeGatherTable();

// Bytes with (v - base) <= span, unsigned.
MEDLAKE_AVX2_TARGET inline __m256i InRange256(__m256i v, char base, char span) {
  const __m256i offset = _mm256_sub_epi8(v, _mm256_set1_epi8(base));
  return _mm256_cmpeq_epi8(_mm256_min_epu8(offset, _mm256_set1_epi8(span)), offset);
}

// Whitespace by one table lookup on the low nibble: the table holds the whitespace byte with
// that nibble (0x20, 0x09, 0x0A, 0x0D) and 0x80 elsewhere, which no byte below 0x80 equals; a
// byte from 0x80 up looks up zero, which it does not equal either.
MEDLAKE_AVX2_TARGET inline __m256i IsWhite256(__m256i v) {
  const __m256i table =
      _mm256_setr_epi8(0x20, -128, -128, -128, -128, -128, -128, -128, -128, 0x09, 0x0A, -128, -128,
                       0x0D, -128, -128, 0x20, -128, -128, -128, -128, -128, -128, -128, -128, 0x09,
                       0x0A, -128, -128, 0x0D, -128, -128);
  return _mm256_cmpeq_epi8(_mm256_shuffle_epi8(table, v), v);
}

MEDLAKE_AVX2_TARGET inline __m256i IsScalar256(__m256i v) {
  const __m256i lower = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
  return _mm256_or_si256(
      _mm256_or_si256(InRange256(v, '0', 9), InRange256(lower, 'a', 25)),
      _mm256_or_si256(Is256(v, '+'), _mm256_or_si256(Is256(v, '-'), Is256(v, '.'))));
}

// Minifies the 64 bytes at in into out (64 bytes writable); returns the bytes kept.
MEDLAKE_AVX2_TARGET inline size_t MinifyBlock256(const char* in, Carry& carry, char* out) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in));
  const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 32));
  BlockBits bits;
  bits.backslash = Bits256(Is256(lo, '\\'), Is256(hi, '\\'));
  bits.quote = Bits256(Is256(lo, '"'), Is256(hi, '"'));
  bits.white = Bits256(IsWhite256(lo), IsWhite256(hi));
  bits.scalar = Bits256(IsScalar256(lo), IsScalar256(hi));
  const uint64_t keep = KeptBytes(bits, carry);
  if (keep == ~0ULL) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32), hi);
    return 64;
  }
  size_t written = 0;
  for (size_t group = 0; group < 8; ++group) {
    const auto mask = static_cast<uint8_t>(keep >> (8 * group));
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in + 8 * group));
    const __m128i pattern = _mm_cvtsi64_si128(static_cast<int64_t>(kGather[mask]));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + written), _mm_shuffle_epi8(bytes, pattern));
    written += static_cast<size_t>(__builtin_popcount(mask));
  }
  return written;
}

MEDLAKE_AVX2_TARGET Result<size_t> MinifyAvx2(std::string_view text, char* out) {
  const char* in = text.data();
  size_t size = text.size();
  Carry carry;
  char* write = out;
  size_t i = 0;
  for (; i + 64 <= size; i += 64) write += MinifyBlock256(in + i, carry, write);
  if (i < size) {
    // The tail, padded with spaces (dropped outside strings; inside one it is unclosed anyway).
    char tail[64];
    std::memset(tail, ' ', sizeof tail);
    std::memcpy(tail, in + i, size - i);
    write += MinifyBlock256(tail, carry, write);
  }
  return Finish(carry, static_cast<size_t>(write - out));
}

#endif  // MEDLAKE_MINIFY_SIMD

}  // namespace

bool MinifyKernelSupported(MinifyKernel kernel) {
  switch (kernel) {
    case MinifyKernel::kPortable:
      return true;
#ifdef MEDLAKE_MINIFY_SIMD
    case MinifyKernel::kAvx2:
      return HasAvx2Masks();
    case MinifyKernel::kAvx512:
      return HasAvx512Vbmi2();
#else
    case MinifyKernel::kAvx2:
    case MinifyKernel::kAvx512:
      return false;
#endif
  }
  return false;
}

Result<size_t> MinifyWith(MinifyKernel kernel, std::string_view text, char* out) {
  if (!MinifyKernelSupported(kernel)) kernel = MinifyKernel::kPortable;
  switch (kernel) {
#ifdef MEDLAKE_MINIFY_SIMD
    case MinifyKernel::kAvx512:
      return MinifyAvx512(text, out);
    case MinifyKernel::kAvx2:
      return MinifyAvx2(text, out);
#endif
    default:
      return MinifyPortable(text, out);
  }
}

Result<size_t> MinifyInto(std::string_view text, char* out) {
#ifdef MEDLAKE_MINIFY_SIMD
  if (HasAvx512Vbmi2()) return MinifyAvx512(text, out);
  if (HasAvx2Masks()) return MinifyAvx2(text, out);
#endif
  return MinifyPortable(text, out);
}

Result<std::string_view> MinifyBuffer::Minify(std::string_view text) {
  char* out = buffer_.Reserve(text.size() + kMinifySlack);
  MEDLAKE_ASSIGN_OR_RETURN(size_t len, MinifyInto(text, out));
  return std::string_view(out, len);
}

}  // namespace medlake::json
