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
// as \xNN, so that they neither split a line nor drive the terminal.
inline std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
      out += escaped;
    } else {
      out += c;
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
