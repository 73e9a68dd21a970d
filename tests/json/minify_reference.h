// The definition json::MinifyInto follows, one byte at a time: the reference its tests and its
// fuzz target compare every kernel against.
#pragma once

#include <cctype>
#include <optional>
#include <string>
#include <string_view>

namespace medlake::json {

// JSON whitespace outside strings removed, strings copied as they are; nullopt when a string
// is not closed, or when whitespace outside strings separates two bytes of numbers or literals
// (digits, letters, '+', '-', '.'). The definition MinifyInto follows, one byte at a time. As
// in simdjson's stage 1, a backslash escapes the next byte wherever it is (outside a string it
// is invalid JSON, which the parser reports, and an escaped quote there does not open a
// string).
inline std::optional<std::string> ReferenceMinify(std::string_view text) {
  auto scalar = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  };
  std::string out;
  bool in_string = false;
  bool escaped = false;
  bool white_since_kept = false;
  for (char c : text) {
    bool literal = escaped;
    escaped = !literal && c == '\\';
    if (!in_string && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
      white_since_kept = true;
      continue;
    }
    // The byte kept before, and this one, are both outside strings here when not quotes.
    if (!in_string && white_since_kept && !out.empty() && scalar(out.back()) && scalar(c)) {
      return std::nullopt;
    }
    white_since_kept = false;
    out.push_back(c);
    if (c == '"' && !literal) in_string = !in_string;
  }
  if (in_string) return std::nullopt;
  return out;
}

}  // namespace medlake::json
