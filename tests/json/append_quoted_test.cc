// json::AppendQuoted against a byte-at-a-time reference, on random text where the bytes that
// must be escaped or checked (quotes, backslashes, controls, UTF-8 sequences valid and not) fall
// on every position around the eight-byte words it scans; and the output is JSON that reads back
// as the input (with U+FFFD for bytes that are not UTF-8).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <string>
#include <vector>

#include "common/string_util.h"
#include "json/json.h"

namespace medlake::json {
namespace {

// RFC 8259 §7: quote, backslash and controls escaped (the short forms where there is one),
// valid UTF-8 copied, a byte that starts no valid sequence replaced by U+FFFD.
std::string ReferenceQuoted(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = Utf8CharLength(s, i);
      out += len == 0 ? std::string("\xEF\xBF\xBD") : std::string(s.substr(i, len));
      i += len == 0 ? 1 : len;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  return out + "\"";
}

TEST(AppendQuotedTest, MatchesTheReferenceAtEveryPosition) {
  const std::vector<std::string> pieces = {"a",
                                           "Z",
                                           " ",
                                           "~",
                                           "\"",
                                           "\\",
                                           "\n",
                                           "\t",
                                           "\x01",
                                           "\x1f",
                                           "\x7f",
                                           "\xC3\xA9",
                                           "\xE2\x82\xAC",
                                           "\xF0\x9F\x98\x80",
                                           "\xFF",
                                           "\x80",
                                           "\xC3",
                                           "!",
                                           "#",
                                           "]"};
  std::mt19937 rng(7);
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    const int plain = static_cast<int>(rng() % 20);  // a plain prefix moves the rest
    s.append(plain, 'x');
    const int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) {
      // Mostly plain bytes, so that runs of every length end at every offset of a word.
      s += rng() % 3 == 0 ? pieces[rng() % pieces.size()] : std::string(rng() % 9, 'p');
    }
    std::string out = "prefix";
    AppendQuoted(s, out);
    ASSERT_EQ(out, "prefix" + ReferenceQuoted(s)) << "round " << round;
  }
}

TEST(AppendQuotedTest, ReadsBackAsTheInput) {
  simdjson::dom::parser parser;
  for (std::string s :
       {std::string(""), std::string("plain text of more than eight bytes"),
        std::string("quote \" backslash \\ newline \n tab \t nul ") + std::string(1, '\0') + " end",
        std::string("caf\xC3\xA9 \xE2\x82\xAC 12345678 \x7f")}) {
    std::string out;
    AppendQuoted(s, out);
    simdjson::padded_string padded(out);
    std::string_view back;
    ASSERT_EQ(parser.parse(padded).get_string().get(back), simdjson::SUCCESS) << out;
    EXPECT_EQ(back, s);
  }
}

}  // namespace
}  // namespace medlake::json
