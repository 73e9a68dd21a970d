#include "fhirpath/lexer.h"

#include <cctype>
#include <optional>

#include "common/string_util.h"

namespace medlake::fhirpath {
namespace {

bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}
bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status SyntaxError(int column, std::string_view what) {
  return InvalidArgument("FHIRPath syntax error at column " + std::to_string(column) + ": " +
                         std::string(what));
}

// Reads a quoted string or delimited identifier starting at s[pos] (the quote).
Result<std::string> ReadQuoted(std::string_view s, size_t& pos, int column) {
  char quote = s[pos++];
  std::string out;
  while (pos < s.size() && s[pos] != quote) {
    char c = s[pos++];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (pos >= s.size()) break;
    char e = s[pos++];
    switch (e) {
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'u': {
        auto hex4 = [&](size_t at) -> std::optional<uint32_t> {
          uint32_t v = 0;
          for (size_t k = at; k < at + 4; ++k) {
            int digit = k < s.size() ? HexValue(s[k]) : -1;
            if (digit < 0) return std::nullopt;
            v = v * 16 + uint32_t(digit);
          }
          return v;
        };
        std::optional<uint32_t> cp = hex4(pos);
        if (!cp) return SyntaxError(column, "bad \\u escape");
        pos += 4;
        // A character beyond U+FFFF is written as a surrogate pair, "\uD83D\uDE00" (JSON, RFC
        // 8259 §7): one character, not two replacement ones.
        if (*cp >= 0xD800 && *cp <= 0xDBFF && pos + 6 <= s.size() && s[pos] == '\\' &&
            s[pos + 1] == 'u') {
          std::optional<uint32_t> low = hex4(pos + 2);
          if (low && *low >= 0xDC00 && *low <= 0xDFFF) {
            cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
            pos += 6;
          }
        }
        AppendUtf8(*cp, out);
        break;
      }
      default:
        out.push_back(e);  // \' \" \` \\ \/
    }
  }
  if (pos >= s.size()) return SyntaxError(column, "unterminated quoted text");
  ++pos;
  return out;
}

// Scans the text of a date/time literal after '@'.
size_t ScanTemporal(std::string_view s, size_t pos) {
  size_t start = pos;
  int colons = 0;
  bool has_time = false;
  while (pos < s.size()) {
    char c = s[pos];
    if (IsDigit(c) || c == '-' || c == ':') {
      if (c == ':') ++colons;
      ++pos;
    } else if (c == 'T') {
      has_time = true;
      ++pos;
    } else if (c == '.' && colons == 2 && pos + 1 < s.size() && IsDigit(s[pos + 1])) {
      ++pos;
    } else {
      break;
    }
  }
  if (pos < s.size() && s[pos] == 'Z') return pos + 1;
  if (has_time && pos < s.size() && pos > start && (s[pos] == '+')) {
    size_t p = pos + 1;
    while (p < s.size() && (IsDigit(s[p]) || s[p] == ':')) ++p;
    return p;
  }
  return pos;
}

}  // namespace

Result<std::vector<Token>> Tokenize(std::string_view s) {
  std::vector<Token> tokens;
  size_t pos = 0;
  while (true) {
    // Whitespace and comments.
    while (pos < s.size()) {
      if (std::isspace(static_cast<unsigned char>(s[pos]))) {
        ++pos;
      } else if (s.substr(pos, 2) == "//") {
        while (pos < s.size() && s[pos] != '\n') ++pos;
      } else if (s.substr(pos, 2) == "/*") {
        size_t end = s.find("*/", pos + 2);
        if (end == std::string_view::npos) return SyntaxError(int(pos) + 1, "unterminated comment");
        pos = end + 2;
      } else {
        break;
      }
    }
    int column = int(pos) + 1;
    if (pos >= s.size()) {
      tokens.push_back({TokenKind::kEnd, "", column});
      return tokens;
    }
    char c = s[pos];
    if (IsIdentStart(c)) {
      size_t start = pos;
      while (pos < s.size() && IsIdentChar(s[pos])) ++pos;
      tokens.push_back({TokenKind::kIdentifier, std::string(s.substr(start, pos - start)), column});
    } else if (c == '`' || c == '\'') {
      MEDLAKE_ASSIGN_OR_RETURN(std::string text, ReadQuoted(s, pos, column));
      tokens.push_back({c == '`' ? TokenKind::kDelimited : TokenKind::kString, text, column});
    } else if (IsDigit(c)) {
      size_t start = pos;
      while (pos < s.size() && IsDigit(s[pos])) ++pos;
      if (pos + 1 < s.size() && s[pos] == '.' && IsDigit(s[pos + 1])) {
        ++pos;
        while (pos < s.size() && IsDigit(s[pos])) ++pos;
      }
      tokens.push_back({TokenKind::kNumber, std::string(s.substr(start, pos - start)), column});
    } else if (c == '@') {
      size_t end = ScanTemporal(s, pos + 1);
      if (end == pos + 1) return SyntaxError(column, "empty date/time literal");
      tokens.push_back(
          {TokenKind::kTemporal, std::string(s.substr(pos + 1, end - pos - 1)), column});
      pos = end;
    } else if (c == '%') {
      ++pos;
      if (pos < s.size() && (s[pos] == '`' || s[pos] == '\'')) {
        MEDLAKE_ASSIGN_OR_RETURN(std::string text, ReadQuoted(s, pos, column));
        tokens.push_back({TokenKind::kVariable, text, column});
      } else {
        size_t start = pos;
        while (pos < s.size() && (IsIdentChar(s[pos]) || s[pos] == '-')) ++pos;
        if (pos == start) return SyntaxError(column, "'%' without a name");
        tokens.push_back({TokenKind::kVariable, std::string(s.substr(start, pos - start)), column});
      }
    } else if (c == '$') {
      size_t start = ++pos;
      while (pos < s.size() && IsIdentChar(s[pos])) ++pos;
      tokens.push_back({TokenKind::kSpecial, std::string(s.substr(start, pos - start)), column});
    } else {
      static constexpr std::string_view kTwo[] = {"<=", ">=", "!=", "!~"};
      std::string sym(1, c);
      for (std::string_view two : kTwo) {
        if (s.substr(pos, 2) == two) sym = std::string(two);
      }
      static constexpr std::string_view kOne = ".,()[]{}+-*/&|<>=~";
      if (sym.size() == 1 && kOne.find(c) == std::string_view::npos) {
        return SyntaxError(column, std::string("unexpected character '") + c + "'");
      }
      pos += sym.size();
      tokens.push_back({TokenKind::kSymbol, sym, column});
    }
  }
}

}  // namespace medlake::fhirpath
