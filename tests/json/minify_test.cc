// json::MinifyInto against a byte-at-a-time reference (random text where quotes, backslashes and
// whitespace fall on every position around the 64-byte blocks) and against simdjson::minify on
// the real FHIR files of ../shared/data.
#include "json/minify.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cctype>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

namespace medlake::json {
namespace {

// JSON whitespace outside strings removed, strings copied as they are; nullopt when a string
// is not closed, or when whitespace outside strings separates two bytes of numbers or literals
// (digits, letters, '+', '-', '.'). The definition MinifyInto follows, one byte at a time. As
// in simdjson's stage 1, a backslash escapes the next byte wherever it is (outside a string it
// is invalid JSON, which the parser reports, and an escaped quote there does not open a
// string).
std::optional<std::string> ReferenceMinify(std::string_view text) {
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

std::optional<std::string> Minified(std::string_view text, bool portable = false) {
  std::string out(text.size() + kMinifySlack, '\0');
  auto len = portable ? MinifyPortable(text, out.data()) : MinifyInto(text, out.data());
  if (!len.ok()) {
    EXPECT_EQ(len.status().code(), ErrorCode::kParseError);
    return std::nullopt;
  }
  out.resize(*len);
  return out;
}

TEST(Minify, EmptyAndTiny) {
  EXPECT_EQ(Minified(""), "");
  EXPECT_EQ(Minified(" \n\t\r"), "");
  EXPECT_EQ(Minified("{ \"a\" : 1 }"), "{\"a\":1}");
  EXPECT_EQ(Minified("\"a b\""), "\"a b\"");
  EXPECT_EQ(Minified("\"unclosed"), std::nullopt);
  EXPECT_EQ(Minified("\"escaped quote \\\" still open"), std::nullopt);
  EXPECT_EQ(Minified("\"two backslashes \\\\\" closed"), "\"two backslashes \\\\\"closed");
}

TEST(Minify, WhitespaceInsideANumberOrLiteralIsAnError) {
  // Removing it would store "1000" or true for invalid JSON (the parser reads the result).
  for (bool portable : {false, true}) {
    EXPECT_EQ(Minified("{\"value\": 1 000}", portable), std::nullopt);
    EXPECT_EQ(Minified("{\"active\":t rue}", portable), std::nullopt);
    EXPECT_EQ(Minified("[1,\n2, - 3]", portable), std::nullopt);
    EXPECT_EQ(Minified("[1.\t5]", portable), std::nullopt);
    EXPECT_EQ(Minified("[1 ,\n 2 ]", portable), "[1,2]");
    EXPECT_EQ(Minified("{\"a\": \"1 000\" , \"b\" : null }", portable),
              "{\"a\":\"1 000\",\"b\":null}");
    EXPECT_EQ(Minified("[\"x\\\" 1\" ,true]", portable), "[\"x\\\" 1\",true]");
  }
  // The gap on every position around the 64-byte boundaries, and gaps longer than a block.
  for (size_t start = 50; start < 140; ++start) {
    for (size_t gap : {1, 2, 63, 64, 65, 130}) {
      std::string split = "[" + std::string(start, ' ') + "12" + std::string(gap, ' ') + "34]";
      std::string spaced = "[" + std::string(start, ' ') + "12" + std::string(gap, ' ') + ",34]";
      EXPECT_EQ(Minified(split), std::nullopt) << start << " " << gap;
      EXPECT_EQ(Minified(spaced), "[12,34]") << start << " " << gap;
    }
  }
}

TEST(Minify, BackslashRunsAcrossBlockBoundaries) {
  // A string whose closing quote follows a run of n backslashes, placed so that the run
  // straddles the first 64-byte boundary at every offset: odd runs escape the quote.
  for (size_t start = 40; start < 70; ++start) {
    for (size_t run = 0; run < 9; ++run) {
      std::string text(start, ' ');
      text += "\"x" + std::string(run, '\\') + "\"  ,  \"y\"   ";
      EXPECT_EQ(Minified(text), ReferenceMinify(text)) << "start " << start << " run " << run;
    }
  }
}

// 20,000 random texts of up to 300 bytes of `alphabet`: MinifyInto gives the reference's
// result, and the portable path the same verdict. Returns how many of them a split value (and
// nothing else) makes invalid.
size_t ExpectRandomTextsMatchTheReference(const std::string& alphabet, uint64_t seed) {
  std::mt19937_64 rng(seed);
  size_t splits = 0;
  for (int round = 0; round < 20000; ++round) {
    size_t len = rng() % 300;
    std::string text;
    for (size_t i = 0; i < len; ++i) text.push_back(alphabet[rng() % alphabet.size()]);
    auto expected = ReferenceMinify(text);
    EXPECT_EQ(Minified(text), expected) << "round " << round;
    EXPECT_EQ(Minified(text, true).has_value(), expected.has_value()) << "round " << round;
    std::string unspaced = text;
    std::erase_if(unspaced, [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; });
    if (!expected && ReferenceMinify(unspaced)) ++splits;  // strings closed: a split value
  }
  return splits;
}

TEST(Minify, RandomTextMatchesTheReference) {
  // An alphabet dense in the bytes that matter, so that every combination of escape runs,
  // quotes and whitespace lands on every position of a block and across blocks.
  ExpectRandomTextsMatchTheReference("\"\\\"\\  \n\t\r{}[]:,ab\xc3\xa9", 20261129);
}

TEST(Minify, RandomValuesMatchTheReference) {
  // Numbers and literals cut by whitespace, next to strings and structure.
  EXPECT_GT(ExpectRandomTextsMatchTheReference("0123456789tru-+.e  \n\t\r\"\\,:[]{}", 20261130),
            1000u);
}

TEST(Minify, RealFilesMatchSimdjson) {
  const std::filesystem::path root = MEDLAKE_SHARED_DATA;
  const std::filesystem::path dirs[] = {root / "synthea-r4-dev-100",
                                        root / "fhir-r4-spec-examples"};
  size_t files = 0;
  for (const auto& dir : dirs) {
    if (!std::filesystem::exists(dir)) continue;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
      if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
      auto text = simdjson::padded_string::load(entry.path().string());
      ASSERT_FALSE(text.error()) << entry.path();
      std::string_view view(text.value().data(), text.value().size());
      std::string expected(view.size(), '\0');
      size_t expected_len = 0;
      ASSERT_FALSE(simdjson::minify(view.data(), view.size(), expected.data(), expected_len));
      expected.resize(expected_len);
      EXPECT_EQ(Minified(view), expected) << entry.path();
      ++files;
    }
  }
  if (files == 0) GTEST_SKIP() << "../shared/data not present";
  EXPECT_GT(files, 150u);
}

TEST(MinifyBuffer, ReusedAcrossSizes) {
  MinifyBuffer buffer;
  std::string big = "[" + std::string(10000, ' ') + "1]";
  auto a = buffer.Minify(big);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "[1]");
  auto b = buffer.Minify("{ }");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, "{}");
  EXPECT_FALSE(buffer.Minify("\"").ok());
}

}  // namespace
}  // namespace medlake::json
