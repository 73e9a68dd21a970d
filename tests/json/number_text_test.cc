// json::Node::NumberText: every number of a document answers its text as written, wherever it
// is (nested arrays and objects, after strings holding digits, quotes and backslashes), and
// whatever its value: the second tape word of 1e175 and of 7782220156096217088 starts with
// the byte that marks a number ('d', 'l').
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "json/json.h"

namespace medlake::json {
namespace {

// The number texts of `node`, depth first in document order.
void Numbers(Node node, std::vector<std::string>& out) {
  if (node.IsNumber()) out.emplace_back(node.NumberText());
  for (Cursor c = node.Children(); c.Next();) Numbers(c.value(), out);
}

TEST(NumberTextTest, EveryNumberAnswersItsText) {
  const std::string text =
      R"({"a":1.0,"s":"12 \"3\" \\","b":[2.50,-0,[1e3,{"c":-1.25E-2}],"4"],)"
      R"("d":{"e":18446744073709551615,"f":-9223372036854775808,"g":true,"h":null},"i":0.10,)"
      R"("j":[1e175,7782220156096217088]})";
  Parser parser;
  parser.set_keep_number_text(true);
  auto root = parser.Parse(text);
  ASSERT_TRUE(root.ok());
  std::vector<std::string> numbers;
  Numbers(*root, numbers);
  EXPECT_EQ(numbers, (std::vector<std::string>{"1.0", "2.50", "-0", "1e3", "-1.25E-2",
                                               "18446744073709551615", "-9223372036854775808",
                                               "0.10", "1e175", "7782220156096217088"}));
}

// Numbers JSON allows but no 64-bit integer or double holds are refused with a reason that
// says so (simdjson's "Problem while parsing a number" read as if the text were no number).
TEST(NumberTextTest, ANumberOutOfRangeIsRefusedAsSuch) {
  Parser parser;
  for (const char* text : {R"({"v":1e400})", R"({"v":18446744073709551616})",
                           R"({"v":-9223372036854775809})", R"({"v":1.2.3})"}) {
    auto root = parser.Parse(text);
    ASSERT_FALSE(root.ok()) << text;
    EXPECT_NE(root.status().message().find("beyond a 64-bit integer and a double"),
              std::string::npos)
        << root.status().message();
  }
  EXPECT_TRUE(parser.Parse(R"({"v":1e-400})").ok());
  EXPECT_TRUE(parser.Parse(R"({"v":18446744073709551615})").ok());
}

TEST(NumberTextTest, ATopLevelNumberAndANewDocument) {
  Parser parser;
  parser.set_keep_number_text(true);
  auto first = parser.Parse("3.140");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->NumberText(), "3.140");
  auto second = parser.Parse(R"([7.0, "x", 8.00])");
  ASSERT_TRUE(second.ok());
  std::vector<std::string> numbers;
  Numbers(*second, numbers);
  EXPECT_EQ(numbers, (std::vector<std::string>{"7.0", "8.00"}));
}

// The numbers are found 64 bytes at a time where the CPU can (json.cc, NumberTokensAvx2): a
// number, a string, a run of backslashes or a literal may start or end at any byte of a block,
// or cross into the next.
TEST(NumberTextTest, NumbersAndStringsAtEveryPlaceOfABlock) {
  Parser parser;
  parser.set_keep_number_text(true);
  const std::vector<std::string> numbers = {"-12.50e+3", "0", "7", "1.0", "-0.000125E-7"};
  for (size_t shift = 0; shift < 140; ++shift) {
    // Strings hold digits, escaped quotes and runs of backslashes; literals hold an 'e'.
    std::string text = "[\"" + std::string(shift, 'x') + "\"";
    std::vector<std::string> expected;
    for (size_t i = 0; i < 12; ++i) {
      const std::string& n = numbers[(i + shift) % numbers.size()];
      text += ",";
      text += n;
      expected.push_back(n);
      text += i % 3 == 0   ? R"(,"1 \"2\" 3\\\\",true)"
              : i % 3 == 1 ? R"(,{"k\\":false,"v":null},"\\\"")"
                           : std::string(",\"") + std::string(shift % 7 + 60, '5') + "\"";
    }
    if (shift % 2 == 0) {  // the document ends with a number
      text += "," + numbers[shift % numbers.size()];
      expected.push_back(numbers[shift % numbers.size()]);
    }
    text += "]";
    auto root = parser.Parse(text);
    ASSERT_TRUE(root.ok()) << text;
    std::vector<std::string> found;
    Numbers(*root, found);
    EXPECT_EQ(found, expected) << text;
  }
  // Documents that are a number, of up to three blocks and more, some ending at a block's end.
  for (size_t digits = 1; digits < 200; ++digits) {
    const std::string number = "1." + std::string(digits, '5');
    auto root = parser.Parse(number);
    ASSERT_TRUE(root.ok()) << number;
    EXPECT_EQ(root->NumberText(), number);
  }
}

TEST(NumberTextTest, EmptyWithoutKeepingNumberText) {
  Parser parser;
  auto root = parser.Parse(R"({"a":1.0})");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->Find("a")->NumberText(), "");
}

}  // namespace
}  // namespace medlake::json
