// Whitespace removal for JSON text, at memory speed.
//
// Ingest stores every resource minified, and FHIR inputs are mostly pretty-printed Bundles
// (half their bytes are indentation), so removing whitespace is on the hot path of every byte
// read. simdjson::minify runs at about 0.7 GB/s here; the AVX-512 kernel of minify.cc, which
// finds strings the way simdjson's stage 1 does (backslash runs, quote prefix XOR) and drops
// whitespace outside them with one compress per 64 bytes, at several GB/s. Machines without
// AVX-512 VBMI2 use simdjson::minify.
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
// The same, one byte at a time (then simdjson::minify): what MinifyInto does on machines
// without AVX-512 VBMI2.
Result<size_t> MinifyPortable(std::string_view text, char* out);

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
