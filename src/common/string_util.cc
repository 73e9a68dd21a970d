#include "common/string_util.h"

namespace medlake {

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

std::string RedactDataValues(std::string_view message, std::string_view known) {
  std::string out;
  size_t i = 0;
  while (i < message.size()) {
    char q = message[i];
    size_t close = q == '\'' || q == '"' ? message.find(q, i + 1) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out.push_back(message[i++]);
      continue;
    }
    std::string_view inside = message.substr(i + 1, close - i - 1);
    out.push_back(q);
    out += known.find(inside) != std::string_view::npos ? std::string(inside) : "<redacted>";
    out.push_back(q);
    i = close + 1;
  }
  return out;
}

void AppendUtf8(char32_t cp, std::string& out) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace medlake
