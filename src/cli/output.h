// What the commands print: errors, and JSON.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "medlake/status.h"

namespace medlake::cli {

// `text` as one shell word: unchanged when it holds only safe characters, else in single
// quotes (a path with a space in a printed command that the user may paste).
inline std::string ShellQuoted(const std::string& text) {
  bool safe = !text.empty();
  for (char c : text) {
    safe &= std::isalnum(static_cast<unsigned char>(c)) || std::strchr("/._-+:,@=%", c) != nullptr;
  }
  if (safe) return text;
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// `text` for a terminal line: control bytes (a newline or an escape sequence in a file name)
// and bytes that are no UTF-8 as \xNN; the control and format characters that split lines or
// reorder what a terminal shows (C1, U+0080-U+009F; U+061C, U+200E-U+200F, U+2028-U+202E,
// U+2066-U+2069) as \u{NNNN}. Other text, in any script, as it is.
inline std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char escaped[16];
  for (size_t i = 0; i < text.size();) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x80) {
      if (u < 0x20 || u == 0x7f) {
        std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
        out += escaped;
      } else {
        out += text[i];
      }
      ++i;
      continue;
    }
    // A UTF-8 sequence: its length from the lead byte, its continuation bytes checked.
    const size_t length = u >= 0xF0 && u <= 0xF4  ? 4
                          : u >= 0xE0             ? 3
                          : u >= 0xC2 && u < 0xE0 ? 2
                                                  : 0;
    uint32_t code = length == 2 ? u & 0x1F : length == 3 ? u & 0x0F : u & 0x07;
    bool valid = length > 0 && i + length <= text.size();
    for (size_t k = 1; valid && k < length; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      valid = (c & 0xC0) == 0x80;
      code = (code << 6) | (c & 0x3F);
    }
    if (!valid) {
      std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
      out += escaped;
      ++i;
      continue;
    }
    const bool control = (code >= 0x80 && code <= 0x9F) || code == 0x61C ||
                         (code >= 0x200E && code <= 0x200F) || (code >= 0x2028 && code <= 0x202E) ||
                         (code >= 0x2066 && code <= 0x2069);
    if (control) {
      std::snprintf(escaped, sizeof escaped, "\\u{%04X}", static_cast<unsigned>(code));
      out += escaped;
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  return out;
}

// Prints `s` on stderr and returns the exit status of its error code.
inline int Fail(const Status& s) {
  std::fprintf(stderr, "medlake: %s\n", Printable(s.ToString()).c_str());
  return InfoFor(s.code()).exit_code;
}

// Text from the lake or the input (file names, quarantine reasons, query values) may hold
// bytes that are not UTF-8: they print as U+FFFD instead of aborting the command with a
// serializer exception.
inline std::string JsonText(const nlohmann::ordered_json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace medlake::cli
