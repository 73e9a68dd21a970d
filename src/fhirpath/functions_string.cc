// String functions.
#include <locale.h>
#include <re2/re2.h>
#include <wctype.h>

#include <algorithm>
#include <cctype>
#include <clocale>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cwctype>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/string_util.h"
#include "fhirpath/function_util.h"

namespace medlake::fhirpath {
namespace {

// The input as a string; empty input gives nullopt; non-string input is an error.
Result<std::optional<std::string>> InputString(const Collection& in, const Ast& call) {
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> v, Input(in, call));
  if (!v) return std::optional<std::string>();
  if (v->kind != ValueKind::kString) {
    if (v->kind == ValueKind::kNode) {
      return InvalidArgument("FHIRPath: " + call.name + "() needs a String input");
    }
    return std::optional<std::string>(ItemToString(*v));
  }
  return std::optional<std::string>(v->Text());
}

#define MEDLAKE_FP_INPUT_STRING(var)                                                     \
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<std::string> var##_opt, InputString(in, call)); \
  if (!var##_opt) return Collection{};                                                   \
  const std::string& var = *var##_opt

#define MEDLAKE_FP_STRING_ARG(var, i)                                                            \
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<std::string> var##_opt, StringArg(ev, call, i, scope)); \
  if (!var##_opt) return Collection{};                                                           \
  const std::string& var = *var##_opt

// Strings are text (N1 §2.1.2: "Unicode characters"): the functions that index, count or
// split characters work on code points of the UTF-8 text, not on bytes ('Béa'.length() is 3;
// counting bytes, substring() and toChars() cut characters in two and emitted broken UTF-8).

// Byte offset of each character of `s`, then s.size().
std::vector<size_t> CharOffsets(std::string_view s) {
  std::vector<size_t> out;
  out.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);  // not a continuation
  }
  out.push_back(s.size());
  return out;
}

// Byte offset of character `n` of s (s.size() from its length on).
size_t ByteOffset(std::string_view s, int64_t n) {
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && n-- == 0) return i;
  }
  return s.size();
}

// Number of characters in s[0, bytes).
int64_t CharCount(std::string_view s, size_t bytes) {
  int64_t n = 0;
  for (size_t i = 0; i < bytes && i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;
  }
  return n;
}

// The code point of the well-formed character at s[i, i + n) (n from Utf8CharLength).
char32_t DecodeChar(std::string_view s, size_t i, size_t n) {
  static constexpr unsigned char kLeadMask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  char32_t c = static_cast<unsigned char>(s[i]) & kLeadMask[n];
  for (size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return c;
}

// Upper- or lower-cases every character with the Unicode simple case mappings of glibc's
// C.UTF-8 locale (towupper_l: 'müller' -> 'MÜLLER'; one character to one, so 'ß' stays),
// ASCII only when that locale is missing. Invalid sequences are copied unchanged.
std::string ChangeCaseUtf8(std::string_view s, bool upper) {
  static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t(0));
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8CharLength(s, i);
    if (n <= 1 || utf8 == locale_t(0)) {
      const auto c = static_cast<unsigned char>(s[i]);
      out.push_back(c < 0x80 ? char(upper ? std::toupper(c) : std::tolower(c)) : char(c));
      ++i;
      continue;
    }
    const auto c = static_cast<wint_t>(DecodeChar(s, i, n));
    AppendUtf8(static_cast<char32_t>(upper ? towupper_l(c, utf8) : towlower_l(c, utf8)), out);
    i += n;
  }
  return out;
}

MEDLAKE_FP_FN(IndexOf) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(sub, 0);
  size_t pos = s.find(sub);
  return One(Item::Integer(pos == std::string::npos ? -1 : CharCount(s, pos)));
}

MEDLAKE_FP_FN(Substring) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<int64_t> start, IntArg(ev, call, 0, scope));
  const int64_t length = CharCount(s, s.size());
  if (!start || *start < 0 || *start >= length) return Collection{};
  int64_t end = length;
  if (call.args.size() > 1) {
    MEDLAKE_ASSIGN_OR_RETURN(std::optional<int64_t> len, IntArg(ev, call, 1, scope));
    if (len) end = *len <= 0 ? *start : *start + std::min(*len, length - *start);
  }
  const size_t from = ByteOffset(s, *start);
  return One(Item::String(s.substr(from, ByteOffset(s, end) - from)));
}

MEDLAKE_FP_FN(StartsWith) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(p, 0);
  return Bool(s.compare(0, p.size(), p) == 0);
}

MEDLAKE_FP_FN(EndsWith) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(p, 0);
  return Bool(s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0);
}

MEDLAKE_FP_FN(ContainsFn) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(p, 0);
  return Bool(s.find(p) != std::string::npos);
}

template <bool kUpper>
MEDLAKE_FP_FN(ChangeCase) {
  MEDLAKE_FP_INPUT_STRING(s);
  return One(Item::String(ChangeCaseUtf8(s, kUpper)));
}

MEDLAKE_FP_FN(Replace) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(pattern, 0);
  MEDLAKE_FP_STRING_ARG(subst, 1);
  std::string out;
  if (pattern.empty()) {  // the substitution around every character
    const std::vector<size_t> chars = CharOffsets(s);
    out = subst;
    for (size_t i = 0; i + 1 < chars.size(); ++i) {
      out.append(s, chars[i], chars[i + 1] - chars[i]);
      out += subst;
    }
    return One(Item::String(out));
  }
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(pattern, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += subst;
    pos = hit + pattern.size();
  }
  out.append(s, pos, std::string::npos);
  return One(Item::String(out));
}

// FHIRPath regular expressions (N1 §5.6.9 matches(): "case-sensitive, use 'single line' mode
// and allow Unicode characters") run on RE2, whose matching time is linear in the input:
// std::regex (libstdc++) recursed per character, overflowing the stack on inputs of some
// 30 KB, and backtracked exponentially on patterns such as (a|aa)+b. RE2 matches UTF-8 code
// points ('ÄB'.matches('^.B$') is true) and has no backreferences or lookaround, which are
// compile errors. It names groups (?P<name>...): the (?<name>...) of N1's examples is
// rewritten to that.
std::string ToRe2Syntax(const std::string& pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      out.push_back(c);
      out.push_back(pattern[++i]);
      continue;
    }
    if (c == '[') in_class = true;
    if (c == ']') in_class = false;
    out.push_back(c);
    if (!in_class && c == '(' && pattern.compare(i + 1, 2, "?<") == 0 && i + 3 < pattern.size() &&
        pattern[i + 3] != '=' && pattern[i + 3] != '!') {
      out += "?P<";
      i += 2;
    }
  }
  return out;
}

// The compiled pattern, from a small per-thread cache: a view evaluates the same few patterns
// on every resource.
Result<std::shared_ptr<const re2::RE2>> CompileRegex(const std::string& pattern) {
  thread_local std::unordered_map<std::string, std::shared_ptr<const re2::RE2>> cache;
  if (auto it = cache.find(pattern); it != cache.end()) return it->second;
  re2::RE2::Options options;
  options.set_encoding(re2::RE2::Options::EncodingUTF8);
  options.set_dot_nl(true);
  options.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(ToRe2Syntax(pattern), options);
  if (!re->ok()) {
    // RE2's message quotes the pattern, which an expression may take from the data.
    return InvalidArgument(
        "FHIRPath: invalid regular expression (RE2 syntax: no backreferences or lookaround)");
  }
  if (cache.size() >= 64) cache.clear();
  cache.emplace(pattern, re);
  return re;
}

// Appends a replaceMatches() substitution with its references expanded: $1 .. $99 and ${n}
// or ${name} (a group), $& (the match), $$ (a dollar sign); anything else as written.
void AppendSubstitution(std::string_view subst, const re2::RE2& re,
                        const std::vector<re2::StringPiece>& groups, std::string& out) {
  auto group = [&](size_t n) {
    if (n < groups.size() && groups[n].data() != nullptr)
      out.append(groups[n].data(), groups[n].size());
  };
  for (size_t i = 0; i < subst.size(); ++i) {
    if (subst[i] != '$' || i + 1 >= subst.size()) {
      out.push_back(subst[i]);
      continue;
    }
    char next = subst[i + 1];
    if (next == '$') {
      out.push_back('$');
      ++i;
    } else if (next == '&') {
      group(0);
      ++i;
    } else if (std::isdigit(static_cast<unsigned char>(next))) {
      size_t n = size_t(next - '0');
      ++i;
      if (i + 1 < subst.size() && std::isdigit(static_cast<unsigned char>(subst[i + 1])) &&
          n * 10 + size_t(subst[i + 1] - '0') < groups.size()) {
        n = n * 10 + size_t(subst[++i] - '0');
      }
      group(n);
    } else if (next == '{' && subst.find('}', i + 2) != std::string_view::npos) {
      size_t close = subst.find('}', i + 2);
      std::string name(subst.substr(i + 2, close - i - 2));
      const auto& named = re.NamedCapturingGroups();
      if (auto it = named.find(name); it != named.end()) {
        group(size_t(it->second));
      } else if (!name.empty() && std::all_of(name.begin(), name.end(), [](char d) {
                   return std::isdigit(static_cast<unsigned char>(d));
                 })) {
        group(size_t(std::strtoul(name.c_str(), nullptr, 10)));
      }
      i = close;
    } else {
      out.push_back('$');
    }
  }
}

MEDLAKE_FP_FN(Matches) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(pattern, 0);
  MEDLAKE_ASSIGN_OR_RETURN(std::shared_ptr<const re2::RE2> re, CompileRegex(pattern));
  return Bool(re2::RE2::PartialMatch(s, *re));
}

MEDLAKE_FP_FN(MatchesFull) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(pattern, 0);
  MEDLAKE_ASSIGN_OR_RETURN(std::shared_ptr<const re2::RE2> re, CompileRegex(pattern));
  return Bool(re2::RE2::FullMatch(s, *re));
}

MEDLAKE_FP_FN(ReplaceMatches) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(pattern, 0);
  MEDLAKE_FP_STRING_ARG(subst, 1);
  if (pattern.empty()) return One(Item::String(s));
  MEDLAKE_ASSIGN_OR_RETURN(std::shared_ptr<const re2::RE2> re, CompileRegex(pattern));
  std::vector<re2::StringPiece> groups(size_t(re->NumberOfCapturingGroups()) + 1);
  std::string out;
  size_t copied = 0;  // bytes of `s` written to `out`
  size_t from = 0;    // where the next match is searched
  while (from <= s.size() &&
         re->Match(s, from, s.size(), re2::RE2::UNANCHORED, groups.data(), int(groups.size()))) {
    const size_t start = size_t(groups[0].data() - s.data());
    const size_t end = start + groups[0].size();
    out.append(s, copied, start - copied);
    AppendSubstitution(subst, *re, groups, out);
    copied = from = end;
    if (end == start) {
      // An empty match: the next search starts after the following character, kept whole.
      if (end >= s.size()) break;
      from = end + std::max<size_t>(Utf8CharLength(s, end), 1);
      out.append(s, end, from - end);
      copied = from;
    }
  }
  out.append(s, copied, std::string::npos);
  return One(Item::String(out));
}

MEDLAKE_FP_FN(Length) {
  MEDLAKE_FP_INPUT_STRING(s);
  return One(Item::Integer(CharCount(s, s.size())));
}

// Each character of `s` as a String.
Collection Chars(const std::string& s) {
  const std::vector<size_t> chars = CharOffsets(s);
  Collection out;
  for (size_t i = 0; i + 1 < chars.size(); ++i) {
    out.push_back(Item::String(s.substr(chars[i], chars[i + 1] - chars[i])));
  }
  return out;
}

MEDLAKE_FP_FN(ToChars) {
  MEDLAKE_FP_INPUT_STRING(s);
  return Chars(s);
}

MEDLAKE_FP_FN(Trim) {
  MEDLAKE_FP_INPUT_STRING(s);
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return One(Item::String(s.substr(b, e - b)));
}

MEDLAKE_FP_FN(Split) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(sep, 0);
  if (sep.empty()) return Chars(s);
  Collection out;
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(sep, pos);
    out.push_back(
        Item::String(s.substr(pos, hit == std::string::npos ? std::string::npos : hit - pos)));
    if (hit == std::string::npos) break;
    pos = hit + sep.size();
  }
  return out;
}

MEDLAKE_FP_FN(Join) {
  std::string sep;
  if (!call.args.empty()) {
    MEDLAKE_ASSIGN_OR_RETURN(std::optional<std::string> s, StringArg(ev, call, 0, scope));
    sep = s.value_or("");
  }
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].kind != ValueKind::kString) return InvalidArgument("FHIRPath: join() needs strings");
    if (i > 0) out += sep;
    out += in[i].Text();
  }
  return One(Item::String(out));
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(const std::string& s, bool url) {
  std::string out;
  size_t i = 0;
  while (i + 2 < s.size() + 2 && i < s.size()) {
    uint32_t n = uint32_t(uint8_t(s[i])) << 16;
    if (i + 1 < s.size()) n |= uint32_t(uint8_t(s[i + 1])) << 8;
    if (i + 2 < s.size()) n |= uint8_t(s[i + 2]);
    out.push_back(kBase64[(n >> 18) & 63]);
    out.push_back(kBase64[(n >> 12) & 63]);
    out.push_back(i + 1 < s.size() ? kBase64[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < s.size() ? kBase64[n & 63] : '=');
    i += 3;
  }
  if (url) {
    for (char& c : out) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string s, bool url) {
  if (url) {
    for (char& c : s) c = c == '-' ? '+' : (c == '_' ? '/' : c);
  }
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const char* p = std::strchr(kBase64, c);
    if (p == nullptr || c == '\0') return std::nullopt;
    buf = (buf << 6) | uint32_t(p - kBase64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((buf >> bits) & 0xFF));
    }
  }
  return out;
}

MEDLAKE_FP_FN(Encode) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(format, 0);
  if (format == "base64" || format == "urlbase64")
    return One(Item::String(Base64Encode(s, format == "urlbase64")));
  if (format == "hex") {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
    return One(Item::String(out));
  }
  return Collection{};
}

MEDLAKE_FP_FN(Decode) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(format, 0);
  // A String is text: decoded bytes that are not UTF-8 (an image, Latin-1) give empty.
  if (format == "base64" || format == "urlbase64") {
    auto d = Base64Decode(s, format == "urlbase64");
    return d && IsValidUtf8(*d) ? One(Item::String(*d)) : Collection{};
  }
  if (format == "hex") {
    if (s.size() % 2 != 0) return Collection{};
    std::string out;
    auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    for (size_t i = 0; i < s.size(); i += 2) {
      int hi = hex(s[i]), lo = hex(s[i + 1]);
      if (hi < 0 || lo < 0) return Collection{};
      out.push_back(char(hi * 16 + lo));
    }
    return IsValidUtf8(out) ? One(Item::String(out)) : Collection{};
  }
  return Collection{};
}

MEDLAKE_FP_FN(Escape) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(format, 0);
  std::string out;
  if (format == "html") {
    for (char c : s) {
      switch (c) {
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '&':
          out += "&amp;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out.push_back(c);
      }
    }
    return One(Item::String(out));
  }
  if (format == "json") {
    json::AppendQuoted(s, out);
    return One(Item::String(out.substr(1, out.size() - 2)));
  }
  return Collection{};
}

MEDLAKE_FP_FN(Unescape) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(format, 0);
  std::string out;
  if (format == "html") {
    static const std::pair<std::string_view, char> kEntities[] = {
        {"&lt;", '<'},   {"&gt;", '>'},   {"&amp;", '&'},
        {"&quot;", '"'}, {"&#39;", '\''}, {"&apos;", '\''}};
    for (size_t i = 0; i < s.size();) {
      bool hit = false;
      for (const auto& [entity, c] : kEntities) {
        if (s.compare(i, entity.size(), entity) == 0) {
          out.push_back(c);
          i += entity.size();
          hit = true;
          break;
        }
      }
      if (!hit) out.push_back(s[i++]);
    }
    return One(Item::String(out));
  }
  if (format == "json") {
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\' || i + 1 >= s.size()) {
        out.push_back(s[i]);
        continue;
      }
      char e = s[++i];
      out.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
    }
    return One(Item::String(out));
  }
  return Collection{};
}

}  // namespace

void AddStringFunctions(std::vector<FunctionDef>& t) {
  t.push_back({"indexOf", 1, 1, IndexOf});
  t.push_back({"substring", 1, 2, Substring});
  t.push_back({"startsWith", 1, 1, StartsWith});
  t.push_back({"endsWith", 1, 1, EndsWith});
  t.push_back({"contains", 1, 1, ContainsFn});
  t.push_back({"upper", 0, 0, ChangeCase<true>});
  t.push_back({"lower", 0, 0, ChangeCase<false>});
  t.push_back({"replace", 2, 2, Replace});
  t.push_back({"matches", 1, 1, Matches});
  t.push_back({"matchesFull", 1, 1, MatchesFull});
  t.push_back({"replaceMatches", 2, 2, ReplaceMatches});
  t.push_back({"length", 0, 0, Length});
  t.push_back({"toChars", 0, 0, ToChars});
  t.push_back({"trim", 0, 0, Trim});
  t.push_back({"split", 1, 1, Split});
  t.push_back({"join", 0, 1, Join});
  t.push_back({"encode", 1, 1, Encode});
  t.push_back({"decode", 1, 1, Decode});
  t.push_back({"escape", 1, 1, Escape});
  t.push_back({"unescape", 1, 1, Unescape});
}

}  // namespace medlake::fhirpath
