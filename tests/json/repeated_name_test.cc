// json::Node::RepeatedName, which walks simdjson's tape: it finds a name given twice in any
// object of a value, at any depth, past numbers (two tape words), strings and nested arrays,
// in objects of any size (filtered and compared up to 32 names, sorted past that), and only
// there. A document's root found to repeat no name answers for every Node of the document.
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

// Objects past the 32 names compared as they come: a repeat among the first names, the last,
// or across the two, with objects inside the large one (their names are set aside while they
// are open) and large objects inside large objects.
TEST(RepeatedNameTest, LargeObjects) {
  auto object = [](int names, int repeat_of, int repeat_at, const std::string& inner) {
    std::string s = "{";
    for (int i = 0; i < names; ++i) {
      if (i > 0) s += ',';
      const int n = i == repeat_at ? repeat_of : i;
      s += "\"m" + std::to_string(n) + "\":" + (i % 7 == 3 ? inner : std::to_string(i));
    }
    return s + "}";
  };
  for (int names : {31, 32, 33, 34, 100}) {
    for (auto [of, at] : {std::pair{-1, -1},
                          {0, 1},
                          {0, 31},
                          {0, 32},
                          {5, names - 1},
                          {names - 2, names - 1},
                          {31, 32},
                          {32, 33}}) {
      if (at >= names) continue;
      ExpectAsTheWalk(object(names, of, at, "{\"a\":1,\"b\":[{\"a\":2}]}"));
      ExpectAsTheWalk(object(names, of, at, object(40, -1, -1, "[]")));
      ExpectAsTheWalk(object(names, -1, -1, object(40, of, at, "{}")));
      ExpectAsTheWalk("[" + object(names, of, at, "null") + "," + object(names, -1, -1, "1") + "]");
    }
  }
}

// What the root's walk found is kept for its document only: a later parse by the same Parser
// is walked again, and a node below the root that repeats no name says nothing of the rest.
TEST(RepeatedNameTest, TheRootsAnswerHoldsForItsDocumentOnly) {
  Parser parser;
  auto clean = parser.Parse(R"({"a":{"b":1,"c":[{"d":2}]},"e":3})");
  ASSERT_TRUE(clean.ok());
  EXPECT_FALSE(clean->RepeatedName());
  EXPECT_FALSE(clean->Find("a")->RepeatedName());
  EXPECT_FALSE(clean->RepeatsAny({"a", "e"}));

  const std::string text = R"({"a":{"b":1,"c":[{"d":2,"d":3}]},"e":3,"e":4})";
  auto repeats = parser.Parse(text);
  ASSERT_TRUE(repeats.ok());
  const Node inner = *repeats->Find("a")->Find("c");
  EXPECT_TRUE(repeats->RepeatsAny({"e"}));
  EXPECT_EQ(inner.RepeatedName(), "d");
  EXPECT_TRUE(repeats->RepeatedName());  // the root, after a clean document's
  EXPECT_EQ(inner.RepeatedName(), "d");  // and its answer did not clear the others
  EXPECT_TRUE(repeats->RepeatsAny({"e"}));

  // A member that repeats nothing does not vouch for its document.
  auto member_first = parser.Parse(text);
  ASSERT_TRUE(member_first.ok());
  EXPECT_FALSE(member_first->Find("a")->Find("b")->RepeatedName());
  EXPECT_FALSE(member_first->Find("a")->RepeatsAny({"b", "c"}));
  EXPECT_TRUE(member_first->RepeatsAny({"e"}));
  EXPECT_EQ(member_first->Find("a")->Find("c")->RepeatedName(), "d");

  // The same through ParsePadded, and a clean document after one that repeats.
  std::string padded = R"({"x":[{"y":1},{"y":2}]})";
  padded.append(kPadding, ' ');
  auto second = parser.ParsePadded(padded.data(), padded.size() - kPadding);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->RepeatedName());
  EXPECT_FALSE(second->Find("x")->RepeatedName());
  auto fourth = parser.Parse(text);
  ASSERT_TRUE(fourth.ok());
  EXPECT_TRUE(fourth->RepeatsAny({"e"}));
}

}  // namespace
}  // namespace medlake::json
