// json::Node::RepeatedName, which walks simdjson's tape: it finds a name given twice in any
// object of a value, at any depth, past numbers (two tape words), strings and nested arrays,
// in objects of any size (compared one by one up to 16 names, sorted past that), and only there.
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "json/json.h"

namespace medlake::json {
namespace {

// The names given twice in some object of `node`, by a walk of the Node API.
void RepeatedNames(Node node, std::set<std::string>& out) {
  std::set<std::string> seen;
  for (Cursor c = node.Children(); c.Next();) {
    if (node.IsObject() && !seen.insert(std::string(c.key())).second) {
      out.insert(std::string(c.key()));
    }
    RepeatedNames(c.value(), out);
  }
}

void ExpectAsTheWalk(const std::string& text) {
  SCOPED_TRACE(text);
  Parser parser;
  auto root = parser.Parse(text);
  ASSERT_TRUE(root.ok());
  std::set<std::string> repeated;
  RepeatedNames(*root, repeated);
  const std::optional<std::string_view> found = root->RepeatedName();
  ASSERT_EQ(found.has_value(), !repeated.empty());
  if (found) {
    EXPECT_TRUE(repeated.contains(std::string(*found))) << *found;
  }
  // Each member and item on its own too (an element inside the document's tape).
  for (Cursor c = root->Children(); c.Next();) {
    std::set<std::string> below;
    RepeatedNames(c.value(), below);
    EXPECT_EQ(c.value().RepeatedName().has_value(), !below.empty());
  }
}

TEST(RepeatedNameTest, FoundWhereverItIs) {
  ExpectAsTheWalk(R"({})");
  ExpectAsTheWalk(R"([])");
  ExpectAsTheWalk(R"({"a":1,"a":2})");
  ExpectAsTheWalk(R"({"a":1,"b":{"a":2}})");  // the same name in two objects: not repeated
  ExpectAsTheWalk(R"({"a":1.5,"b":[1,2,{"c":-3,"d":[{}],"c":"x"}],"e":true})");
  ExpectAsTheWalk(R"([1,2.5,"s",null,[[{"x":[],"x":{}}]]])");
  ExpectAsTheWalk(R"({"ab":1,"ba":2,"a\u0062":3})");  // decoded: "ab" twice
  ExpectAsTheWalk(R"({"":1,"":2})");
  ExpectAsTheWalk(R"({"x":18446744073709551615,"y":-9223372036854775808,"z":1e308,"x":0})");
  // Same length and tag bytes, other names: "abXcd" and "abYcd" differ in one middle byte.
  ExpectAsTheWalk(R"({"abcde":1,"abXde":2,"abYde":3})");
}

TEST(RepeatedNameTest, GeneratedValues) {
  std::mt19937 rng(5);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  // Objects of up to 40 names drawn from `names` distinct ones: repeats come often when few.
  std::function<std::string(int, int)> value = [&](int depth, int names) -> std::string {
    switch (depth <= 0 ? pick(4) : pick(7)) {
      case 0:
        return "\"v" + std::to_string(pick(100)) + "\"";
      case 1:
        return pick(2) ? std::to_string(pick(1000)) : "-2.5e" + std::to_string(pick(300));
      case 2:
        return "null";
      case 3:
        return "true";
      case 4: {
        std::string s = "[";
        for (int i = pick(5); i > 0; --i) s += value(depth - 1, names) + (i > 1 ? "," : "");
        return s + "]";
      }
      default: {
        std::string s = "{";
        for (int i = pick(2) ? pick(5) : pick(40); i > 0; --i) {
          s += "\"n" + std::to_string(pick(names)) + "\":" + value(depth - 1, names) +
               (i > 1 ? "," : "");
        }
        return s + "}";
      }
    }
  };
  int with = 0, without = 0;
  for (int n = 0; n < 2000; ++n) {
    const std::string text = value(4, n % 2 ? 1000000 : 8 + pick(30));
    ExpectAsTheWalk(text);
    Parser parser;
    auto root = parser.Parse(text);
    ASSERT_TRUE(root.ok());
    (root->RepeatedName() ? with : without)++;
  }
  EXPECT_GT(with, 100);
  EXPECT_GT(without, 100);
}

// RepeatsAny walks the same tape for one object's own names: those below it do not count, nor
// values equal to a name.
TEST(RepeatedNameTest, RepeatsAnyLooksAtTheObjectsOwnNames) {
  Parser parser;
  auto root = parser.Parse(
      R"({"id":1.5,"x":{"a":2,"a":3},"y":[{"b":3},"b"],"i\u0064":-7,"z":"x","idx":1,"c":null})");
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->RepeatsAny({"id"}));  // once written with an escape
  EXPECT_TRUE(root->RepeatsAny({"x", "id"}));
  EXPECT_FALSE(root->RepeatsAny({"x", "idx", "c", "y"}));
  EXPECT_FALSE(root->RepeatsAny({"a", "b", "i"}));  // "a" is repeated one level down only
  EXPECT_TRUE(root->Find("x")->RepeatsAny({"a"}));
  EXPECT_FALSE(root->Find("y")->RepeatsAny({"b"}));  // an array
  EXPECT_FALSE(root->Find("z")->RepeatsAny({"x"}));  // a string
  EXPECT_FALSE(root->RepeatsAny({}));
  auto empty = parser.Parse("{}");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->RepeatsAny({""}));
  auto blank = parser.Parse(R"({"":1,"":[2]})");
  ASSERT_TRUE(blank.ok());
  EXPECT_TRUE(blank->RepeatsAny({"", "x"}));
}

}  // namespace
}  // namespace medlake::json
