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

#include "minify_reference.h"

namespace medlake::json {
namespace {

std::optional<std::string> MinifiedWith(MinifyKernel kernel, std::string_view text) {
  std::string out(text.size() + kMinifySlack, '\0');
  auto len = MinifyWith(kernel, text, out.data());
  if (!len.ok()) {
    EXPECT_EQ(len.status().code(), ErrorCode::kParseError);
    return std::nullopt;
  }
  out.resize(*len);
  return out;
}

// MinifyInto's result, after checking that every vector kernel this machine runs gives the
// same (the portable kernel is compared by the tests that name it).
std::optional<std::string> Minified(std::string_view text) {
  std::string out(text.size() + kMinifySlack, '\0');
  auto len = MinifyInto(text, out.data());
  std::optional<std::string> result;
  if (len.ok()) {
    out.resize(*len);
    result = out;
  } else {
    EXPECT_EQ(len.status().code(), ErrorCode::kParseError);
  }
  for (MinifyKernel kernel : {MinifyKernel::kAvx512, MinifyKernel::kAvx2}) {
    if (MinifyKernelSupported(kernel)) {
      EXPECT_EQ(MinifiedWith(kernel, text), result) << "kernel " << static_cast<int>(kernel);
    }
  }
  return result;
}

std::optional<std::string> MinifiedPortably(std::string_view text) {
  return MinifiedWith(MinifyKernel::kPortable, text);
}

TEST(Minify, EveryKernelCanBeAskedForAndFallsBackWhereItCannotRun) {
  // A kernel this machine lacks runs the portable one (it would stop on an illegal
  // instruction); the others are the vector kernels the tests below compare.
  for (MinifyKernel kernel :
       {MinifyKernel::kAvx512, MinifyKernel::kAvx2, MinifyKernel::kPortable}) {
    EXPECT_EQ(MinifiedWith(kernel, "{ \"a\" : [1, true] }"), "{\"a\":[1,true]}");
    EXPECT_EQ(MinifiedWith(kernel, "[1 000]"), std::nullopt);
    EXPECT_EQ(MinifiedWith(kernel, "\"open"), std::nullopt);
  }
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
  for (auto minified : {Minified, MinifiedPortably}) {
    EXPECT_EQ(minified("{\"value\": 1 000}"), std::nullopt);
    EXPECT_EQ(minified("{\"active\":t rue}"), std::nullopt);
    EXPECT_EQ(minified("[1,\n2, - 3]"), std::nullopt);
    EXPECT_EQ(minified("[1.\t5]"), std::nullopt);
    EXPECT_EQ(minified("[1 ,\n 2 ]"), "[1,2]");
    EXPECT_EQ(minified("{\"a\": \"1 000\" , \"b\" : null }"), "{\"a\":\"1 000\",\"b\":null}");
    EXPECT_EQ(minified("[\"x\\\" 1\" ,true]"), "[\"x\\\" 1\",true]");
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

// 20,000 random texts of up to 300 bytes of `alphabet`: MinifyInto (and each vector kernel)
// gives the reference's result, and the portable kernel the same verdict. Returns how many of them
// a split value (and nothing else) makes invalid.
size_t ExpectRandomTextsMatchTheReference(const std::string& alphabet, uint64_t seed) {
  std::mt19937_64 rng(seed);
  size_t splits = 0;
  for (int round = 0; round < 20000; ++round) {
    size_t len = rng() % 300;
    std::string text;
    for (size_t i = 0; i < len; ++i) text.push_back(alphabet[rng() % alphabet.size()]);
    auto expected = ReferenceMinify(text);
    EXPECT_EQ(Minified(text), expected) << "round " << round;
    EXPECT_EQ(MinifiedPortably(text).has_value(), expected.has_value()) << "round " << round;
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
