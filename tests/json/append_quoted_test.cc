// json::AppendQuoted against itself a character at a time, on random text where the bytes that
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

// The same text quoted a character at a time: each call is shorter than a word, so only the
// byte-at-a-time loop runs (the escapes themselves are checked in WritesTheEscapesOfRfc8259).
std::string ReferenceQuoted(std::string_view s) {
  std::string out = "\"";
  std::string one;
  for (size_t i = 0; i < s.size();) {
    size_t len = static_cast<unsigned char>(s[i]) >= 0x80 ? Utf8CharLength(s, i) : 1;
    if (len == 0) len = 1;  // a byte that starts no valid sequence
    one.clear();
    AppendQuoted(s.substr(i, len), one);
    out.append(one, 1, one.size() - 2);
    i += len;
  }
  return out + "\"";
}

// RFC 8259 §7: quote, backslash and controls escaped (the short forms where there is one),
// valid UTF-8 copied, a byte that starts no valid sequence replaced by U+FFFD.
TEST(AppendQuotedTest, WritesTheEscapesOfRfc8259) {
  const std::pair<std::string, std::string> cases[] = {
      {"\"", R"("\"")"},
      {"\\", R"("\\")"},
      {"\n\r\t\b\f", R"("\n\r\t\b\f")"},
      {std::string(1, '\0') + "\x01\x1f", R"("\u0000\u0001\u001f")"},
      {"\x7f ~", "\"\x7f ~\""},
      {"caf\xC3\xA9 \xF0\x9F\x98\x80", "\"caf\xC3\xA9 \xF0\x9F\x98\x80\""},
      {"\xFF\x80\xC3", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
  };
  for (const auto& [in, expected] : cases) {
    std::string out;
    AppendQuoted(in, out);
    EXPECT_EQ(out, expected);
  }
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
