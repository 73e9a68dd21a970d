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

TEST(NumberTextTest, EmptyWithoutKeepingNumberText) {
  Parser parser;
  auto root = parser.Parse(R"({"a":1.0})");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->Find("a")->NumberText(), "");
}

}  // namespace
}  // namespace medlake::json
