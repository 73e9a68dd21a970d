// Whitespace removal for JSON text, at memory speed.
//
// Ingest stores every resource minified, and FHIR inputs are mostly pretty-printed Bundles
// (half their bytes are indentation), so removing whitespace is on the hot path of every byte
// read. simdjson::minify alone does not refuse whitespace inside a number ("1 000") nor an
// unclosed string; the kernels of minify.cc check both in the same pass: they find strings the
// way simdjson's stage 1 does (backslash runs, quote prefix XOR) 64 bytes at a time and drop
// the whitespace outside them, with one compress per block (AVX-512 VBMI2) or one byte shuffle
// per 8 bytes (AVX2), at several GB/s (bench/ingest/minify_bench.cc). Other machines check one
// byte at a time, then call simdjson::minify, at about a tenth of that.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/file_util.h"
#include "medlake/status.h"

namespace medlake::json {

// Bytes MinifyInto may write past the end of the minified text.
inline constexpr size_t kMinifySlack = 64;

// Writes `text` without the whitespace (space, tab, line feed, carriage return) outside its
// strings to `out`, which must hold text.size() + kMinifySlack bytes; returns the length
// written. A kParseError when a string is not closed, or when whitespace separates two bytes
// of numbers or literals ("1 000", "t rue": removing it would make a valid, different value of
// invalid JSON); everything else is left to the parser that reads the result.
Result<size_t> MinifyInto(std::string_view text, char* out);

// The implementations MinifyInto chooses from, fastest first on the machine it runs on; tests
// run each the machine supports. kPortable checks one byte at a time, then calls
// simdjson::minify (its output may differ from the others' on invalid JSON, never its verdict).
enum class MinifyKernel { kAvx512, kAvx2, kPortable };
bool MinifyKernelSupported(MinifyKernel kernel);
// MinifyInto with `kernel`; with kPortable when this machine cannot run it.
Result<size_t> MinifyWith(MinifyKernel kernel, std::string_view text, char* out);

// A reusable output buffer for MinifyInto: grows, never shrinks, never zero-fills.
class MinifyBuffer {
 public:
  // Minifies `text`; the result stays valid until the next call, and is followed by at least
  // kMinifySlack bytes that may be read (json::kPadding for the parser).
  Result<std::string_view> Minify(std::string_view text);

 private:
  GrowBuffer buffer_;
};

}  // namespace medlake::json
