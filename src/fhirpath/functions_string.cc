// String functions.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <regex>

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

MEDLAKE_FP_FN(IndexOf) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(sub, 0);
  size_t pos = s.find(sub);
  return One(Item::Integer(pos == std::string::npos ? -1 : int64_t(pos)));
}

MEDLAKE_FP_FN(Substring) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<int64_t> start, IntArg(ev, call, 0, scope));
  if (!start || *start < 0 || *start >= int64_t(s.size())) return Collection{};
  if (call.args.size() > 1) {
    MEDLAKE_ASSIGN_OR_RETURN(std::optional<int64_t> len, IntArg(ev, call, 1, scope));
    if (!len) return One(Item::String(s.substr(size_t(*start))));
    if (*len <= 0) return One(Item::String(""));
    return One(Item::String(s.substr(size_t(*start), size_t(*len))));
  }
  return One(Item::String(s.substr(size_t(*start))));
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
  std::string out = s;
  for (char& c : out) {
    c = char(kUpper ? std::toupper(static_cast<unsigned char>(c))
                    : std::tolower(static_cast<unsigned char>(c)));
  }
  return One(Item::String(out));
}

MEDLAKE_FP_FN(Replace) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(pattern, 0);
  MEDLAKE_FP_STRING_ARG(subst, 1);
  std::string out;
  if (pattern.empty()) {
    out = subst;
    for (char c : s) {
      out.push_back(c);
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

// FHIRPath regexes run in single-line mode: '.' also matches newlines.
std::string SingleLineMode(const std::string& pattern) {
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
    if (c == '.' && !in_class) {
      out += "[\\s\\S]";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<std::regex> CompileRegex(const std::string& pattern) {
  try {
    return std::regex(SingleLineMode(pattern), std::regex::ECMAScript);
  } catch (const std::regex_error&) {
    return InvalidArgument("FHIRPath: invalid regular expression");
  }
}

// std::regex reports catastrophic patterns (complexity, stack) by throwing at match time.
template <typename Fn>
Result<Collection> RegexCall(Fn&& fn) {
  try {
    return fn();
  } catch (const std::regex_error&) {
    return InvalidArgument("FHIRPath: regular expression too complex for this input");
  }
}

MEDLAKE_FP_FN(Matches) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(pattern, 0);
  MEDLAKE_ASSIGN_OR_RETURN(std::regex re, CompileRegex(pattern));
  return RegexCall([&] { return Bool(std::regex_search(s, re)); });
}

MEDLAKE_FP_FN(MatchesFull) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(pattern, 0);
  MEDLAKE_ASSIGN_OR_RETURN(std::regex re, CompileRegex(pattern));
  return RegexCall([&] { return Bool(std::regex_match(s, re)); });
}

MEDLAKE_FP_FN(ReplaceMatches) {
  MEDLAKE_FP_INPUT_STRING(s);
  MEDLAKE_FP_STRING_ARG(pattern, 0);
  MEDLAKE_FP_STRING_ARG(subst, 1);
  if (pattern.empty()) return One(Item::String(s));
  MEDLAKE_ASSIGN_OR_RETURN(std::regex re, CompileRegex(pattern));
  return RegexCall([&] { return One(Item::String(std::regex_replace(s, re, subst))); });
}

MEDLAKE_FP_FN(Length) {
  MEDLAKE_FP_INPUT_STRING(s);
  return One(Item::Integer(int64_t(s.size())));
}

MEDLAKE_FP_FN(ToChars) {
  MEDLAKE_FP_INPUT_STRING(s);
  Collection out;
  for (char c : s) out.push_back(Item::String(std::string(1, c)));
  return out;
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
  Collection out;
  if (sep.empty()) {
    for (char c : s) out.push_back(Item::String(std::string(1, c)));
    return out;
  }
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
  if (format == "base64" || format == "urlbase64") {
    auto d = Base64Decode(s, format == "urlbase64");
    return d ? One(Item::String(*d)) : Collection{};
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
    return One(Item::String(out));
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
