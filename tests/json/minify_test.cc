// json::MinifyInto against a byte-at-a-time reference (random text where quotes, backslashes and
// whitespace fall on every position around the 64-byte blocks) and against simdjson::minify on
// the real FHIR files of ../shared/data.
#include "json/minify.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <optional>
#include <random>
#include <string>

namespace medlake::json {
namespace {

// JSON whitespace outside strings removed, strings copied as they are; nullopt when a string
// is not closed. The definition MinifyInto follows, one byte at a time. As in simdjson's
// stage 1, a backslash escapes the next byte wherever it is (outside a string it is invalid
// JSON, which the parser reports, and an escaped quote there does not open a string).
std::optional<std::string> ReferenceMinify(std::string_view text) {
  std::string out;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    bool literal = escaped;
    escaped = !literal && c == '\\';
    if (!in_string && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) continue;
    out.push_back(c);
    if (c == '"' && !literal) in_string = !in_string;
  }
  if (in_string) return std::nullopt;
  return out;
}

std::optional<std::string> Minified(std::string_view text) {
  std::string out(text.size() + kMinifySlack, '\0');
  auto len = MinifyInto(text, out.data());
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

TEST(Minify, RandomTextMatchesTheReference) {
  // An alphabet dense in the bytes that matter, so that every combination of escape runs,
  // quotes and whitespace lands on every position of a block and across blocks.
  const std::string alphabet = "\"\\\"\\  \n\t\r{}[]:,ab\xc3\xa9";
  std::mt19937_64 rng(20261129);
  for (int round = 0; round < 20000; ++round) {
    size_t len = rng() % 300;
    std::string text;
    for (size_t i = 0; i < len; ++i) text.push_back(alphabet[rng() % alphabet.size()]);
    auto expected = ReferenceMinify(text);
    auto got = Minified(text);
    ASSERT_EQ(got, expected) << "round " << round;
  }
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
