// The scan of a document too large to parse whole: the members and items it finds are those a
// parse of the whole document finds, wherever the scan's reads end; and what is not one JSON
// object is refused.
#include "json/scanner.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "json/json.h"

namespace medlake::json {
namespace {

struct Scanned {
  Status status;
  std::vector<MemberExtent> members;
  std::vector<Extent> items;
};

Scanned Scan(const std::string& doc, size_t read_bytes, std::string_view items_of = "entry") {
  Scanned s;
  s.status =
      ScanObjectMembers(ReadAtMemory(doc), 0, doc.size(), s.members, items_of, s.items, read_bytes);
  return s;
}

std::string Text(const std::string& doc, Extent e) {
  return doc.substr(e.offset, e.size);
}

// Minified form of a JSON text, through a parse.
std::string Canonical(std::string_view text) {
  Parser parser;
  auto node = parser.Parse(text);
  EXPECT_TRUE(node.ok()) << text;
  return node.ok() ? node->ToJson() : "";
}

// Checks the scan of `doc` (valid JSON) against a parse of it whole, for reads of many sizes.
void ExpectScanMatchesParse(const std::string& doc) {
  Parser parser;
  auto root = parser.Parse(doc);
  ASSERT_TRUE(root.ok()) << doc;
  std::vector<std::pair<std::string, std::string>> fields;  // name, minified value
  std::vector<std::string> entry_items;
  bool entry_seen = false;
  root->ForEachField([&](std::string_view key, Node value) {
    fields.emplace_back(std::string(key), value.ToJson());
    if (key == "entry" && !entry_seen && value.IsArray()) {
      value.ForEachItem([&](Node item) {
        entry_items.push_back(item.ToJson());
        return true;
      });
    }
    entry_seen = entry_seen || key == "entry";
    return true;
  });
  // Reads of 32 bytes and more reach the scan's AVX2 blocks, and end inside one at every place.
  for (size_t read_bytes :
       std::vector<size_t>{1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,  13,
                           14, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, kScanReadBytes}) {
    SCOPED_TRACE("reads of " + std::to_string(read_bytes) + " bytes");
    Scanned s = Scan(doc, read_bytes);
    ASSERT_TRUE(s.status.ok()) << s.status.ToString();
    ASSERT_EQ(s.members.size(), fields.size());
    for (size_t i = 0; i < fields.size(); ++i) {
      EXPECT_EQ(s.members[i].key, fields[i].first);
      EXPECT_EQ(Canonical(Text(doc, s.members[i].value)), fields[i].second);
    }
    ASSERT_EQ(s.items.size(), entry_items.size());
    for (size_t i = 0; i < entry_items.size(); ++i) {
      EXPECT_EQ(Canonical(Text(doc, s.items[i])), entry_items[i]);
    }
  }
}

TEST(ScannerTest, MembersAndItemsAreThoseOfAParse) {
  ExpectScanMatchesParse(R"({"resourceType":"Bundle","type":"transaction","entry":[]})");
  ExpectScanMatchesParse(R"({})");
  ExpectScanMatchesParse(" \r\n\t{ \"a\" : 1 , \"b\":[ ] ,\"c\":{ } }\n\n ");
  ExpectScanMatchesParse(R"({"entry":[1,-2.5e3,true,false,null,"s",[],{}],"n":-0.0})");
  // Brackets, braces, quotes and backslashes inside strings, escapes in names, a name twice.
  ExpectScanMatchesParse(
      R"({"e\u006etry":[{"resource":{"text":"a } ] { [ \" \\ \\\" x","n":[1,[2,{"k":"]"}]]}},)"
      R"( "\\", "\"]}" ] ,"entry":{"x":"\\\\"},"t\"":"\u00e9\ud83d\ude00"})");
  // A value that is a number at the object's end, and strings of every escape.
  ExpectScanMatchesParse(R"({"s":"\b\f\n\r\t\/\\\"","z":12345678901234567890})");
}

TEST(ScannerTest, OnlyTheFirstArrayOfTheNameIsWalked) {
  const std::string doc = R"({"entry":5,"entry":[1,2]})";
  Scanned s = Scan(doc, kScanReadBytes);
  ASSERT_TRUE(s.status.ok());
  EXPECT_TRUE(s.items.empty());  // the first "entry" is no array
  const std::string other = R"({"entry":[1],"entry":[2,3]})";
  s = Scan(other, 3);
  ASSERT_TRUE(s.status.ok());
  ASSERT_EQ(s.items.size(), 1u);
  EXPECT_EQ(Text(other, s.items[0]), "1");
  EXPECT_EQ(Text(other, s.members[1].value), "[2,3]");
}

TEST(ScannerTest, GeneratedDocumentsMatchTheirParse) {
  std::mt19937 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  // A random JSON value, `depth` levels at most, with whitespace anywhere it may be.
  std::function<std::string(int)> value = [&](int depth) -> std::string {
    auto ws = [&] { return std::string(" \n\t\r").substr(0, static_cast<size_t>(pick(3))); };
    auto str = [&] {
      const std::vector<std::string> parts = {"a", "\\\"", "\\\\",    "]", "}",   "[",       "{",
                                              ",", ":",    "\\u005d", " ", "\\n", "\xc3\xa9"};
      std::string s = "\"";
      for (int i = pick(6); i > 0; --i) s += parts[static_cast<size_t>(pick(13))];
      return s + "\"";
    };
    switch (depth <= 0 ? pick(4) : pick(6)) {
      case 0:
        return str();
      case 1:
        return std::to_string(static_cast<int>(rng() % 2000) - 1000) + (pick(2) ? ".5e-1" : "");
      case 2:
        return pick(2) ? "true" : "null";
      case 3:
        return "false";
      case 4: {
        std::string s = "[" + ws();
        for (int i = pick(4); i > 0; --i) s += value(depth - 1) + ws() + (i > 1 ? "," + ws() : "");
        return s + "]";
      }
      default: {
        std::string s = "{" + ws();
        for (int i = pick(4); i > 0; --i) {
          s += str() + ws() + ":" + ws() + value(depth - 1) + ws() + (i > 1 ? "," + ws() : "");
        }
        return s + "}";
      }
    }
  };
  for (int n = 0; n < 200; ++n) {
    std::string doc = "{";
    for (int i = pick(5); i >= 0; --i) {
      const std::string key = pick(3) == 0 ? "\"entry\"" : "\"k" + std::to_string(i) + "\"";
      doc += key + ":" + (key == "\"entry\"" ? "[" + value(2) + "," + value(3) + "]" : value(3));
      if (i > 0) doc += ",";
    }
    doc += "}";
    SCOPED_TRACE(doc);
    ExpectScanMatchesParse(doc);
  }
}

TEST(ScannerTest, AnItemLargerThanAReadIsWhole) {
  const std::string big(3 * 1024 * 1024, 'x');
  const std::string doc = R"({"entry":[{"a":")" + big + R"("},"b"],"type":"batch"})";
  Scanned s = Scan(doc, 1 << 20);
  ASSERT_TRUE(s.status.ok());
  ASSERT_EQ(s.items.size(), 2u);
  EXPECT_EQ(s.items[0].size, big.size() + 8);
  EXPECT_EQ(Text(doc, s.items[1]), "\"b\"");
}

TEST(ScannerTest, WhatIsNotOneObjectIsRefusedWithItsByte) {
  const std::vector<std::string> bad = {
      "",
      "   ",
      "[1]",
      "\"s\"",
      "{",
      "{\"a\"",
      "{\"a\":",
      "{\"a\":1",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{a:1}",
      "{\"a\":1}{\"b\":2}",
      "{\"a\":1}\n{\"b\":2}\n",
      "{\"a\":1} x",
      "{\"a\":\"unclosed}",
      "{\"a\":[1,2}",  // the array never closes: its '}' is inside it for the scan
      "{\"entry\":[1 2]}",
      "{\"entry\":[1,]}",
      "{\"entry\":[,1]}",
      "{\"entry\":[1,2}",
      "{\"a\":,\"b\":1}",
      "{\"a\":}",
      "{\"\\x\":1}",  // a name with an escape JSON does not have
      "{\"a\":{\"b\":1}",
  };
  for (const std::string& doc : bad) {
    for (size_t read_bytes : {size_t{1}, size_t{4}, kScanReadBytes}) {
      Scanned s = Scan(doc, read_bytes);
      EXPECT_EQ(s.status.code(), ErrorCode::kParseError) << doc;
      EXPECT_TRUE(s.status.message().starts_with("invalid JSON: ")) << s.status.message();
      EXPECT_NE(s.status.message().find("(byte "), std::string::npos) << s.status.message();
    }
  }
}

TEST(ScannerTest, ASourceShorterThanSaidIsAnError) {
  const std::string doc = R"({"entry":[1,2,3]})";
  std::vector<MemberExtent> members;
  std::vector<Extent> items;
  // The source holds 10 bytes of the 17 it was said to hold (a file that shrank).
  Status s = ScanObjectMembers(ReadAtMemory(std::string_view(doc).substr(0, 10)), 0, doc.size(),
                               members, "entry", items, 4);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.code(), ErrorCode::kParseError);
  EXPECT_NE(s.message().find("changed while it was read"), std::string::npos);
  std::string out;
  EXPECT_FALSE(ReadExtent(ReadAtMemory("abc"), {1, 5}, out).ok());
  ASSERT_TRUE(ReadExtent(ReadAtMemory("abcdef"), {1, 3}, out, 2).ok());
  EXPECT_EQ(out, std::string("bcd\0\0", 5));
}

}  // namespace
}  // namespace medlake::json
