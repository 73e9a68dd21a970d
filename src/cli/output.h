// What the commands print: errors, and JSON.
#pragma once

#include <cctype>
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
// as \xNN, and the control characters of UTF-8 (C1, U+0080-U+009F; the bidirectional
// overrides and marks, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069) as \u{NNNN}, so that they
// neither split a line, drive the terminal, nor reorder what it shows.
inline std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    char escaped[16];
    if (u < 0x20 || u == 0x7f) {
      std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
      out += escaped;
      continue;
    }
    unsigned code = 0;
    size_t length = 0;
    if (u == 0xC2 && i + 1 < text.size()) {
      code = static_cast<unsigned char>(text[i + 1]);
      length = code >= 0x80 && code <= 0x9F ? 2 : 0;
    } else if (u == 0xE2 && i + 2 < text.size()) {
      code = 0x2000 | ((static_cast<unsigned char>(text[i + 1]) & 0x3F) << 6) |
             (static_cast<unsigned char>(text[i + 2]) & 0x3F);
      const bool bidi = (code >= 0x200E && code <= 0x200F) || (code >= 0x202A && code <= 0x202E) ||
                        (code >= 0x2066 && code <= 0x2069);
      length = bidi && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80 ? 3 : 0;
    }
    if (length > 0) {
      std::snprintf(escaped, sizeof escaped, "\\u{%04X}", code);
      out += escaped;
      i += length - 1;
    } else {
      out += text[i];
    }
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
