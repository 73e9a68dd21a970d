// The scan of a document too large to parse whole: the members and items it finds are those a
// parse of the whole document finds, wherever the scan's reads end; and what is not one JSON
// object is refused.
#include "json/scanner.h"

#include <gtest/gtest.h>

#include <cstring>
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

// Reads of 32 bytes and more reach the scan's AVX2 blocks, and end inside one at every place.
const std::vector<size_t> kReadSizes = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,  13,
    14, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, kScanReadBytes};

// Checks the scan of `doc` (valid JSON) against a parse of it whole, for reads of many sizes.
void ExpectScanMatchesParse(const std::string& doc,
                            const std::vector<size_t>& read_sizes = kReadSizes) {
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
  for (size_t read_bytes : read_sizes) {
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

// A random JSON value, `depth` levels at most, with whitespace anywhere it may be; its member
// names are any string, `names` when given.
std::string GeneratedValue(std::mt19937& rng, int depth,
                           const std::vector<std::string>& names = {}) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto ws = [&] { return std::string(" \n\t\r").substr(0, static_cast<size_t>(pick(3))); };
  auto str = [&] {
    const std::vector<std::string> parts = {"a", "\\\"", "\\\\",    "]", "}",   "[",       "{",
                                            ",", ":",    "\\u005d", " ", "\\n", "\xc3\xa9"};
    std::string s = "\"";
    for (int i = pick(6); i > 0; --i) s += parts[static_cast<size_t>(pick(13))];
    return s + "\"";
  };
  auto name = [&] {
    return names.empty() ? str()
                         : "\"" + names[static_cast<size_t>(pick(int(names.size())))] + "\"";
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
      for (int i = pick(4); i > 0; --i) {
        s += GeneratedValue(rng, depth - 1, names) + ws() + (i > 1 ? "," + ws() : "");
      }
      return s + "]";
    }
    default: {
      std::string s = "{" + ws();
      for (int i = pick(4); i > 0; --i) {
        s += name() + ws() + ":" + ws() + GeneratedValue(rng, depth - 1, names) + ws() +
             (i > 1 ? "," + ws() : "");
      }
      return s + "}";
    }
  }
}

TEST(ScannerTest, GeneratedDocumentsMatchTheirParse) {
  std::mt19937 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  for (int n = 0; n < 200; ++n) {
    std::string doc = "{";
    for (int i = pick(5); i >= 0; --i) {
      const std::string key = pick(3) == 0 ? "\"entry\"" : "\"k" + std::to_string(i) + "\"";
      doc += key + ":" +
             (key == "\"entry\"" ? "[" + GeneratedValue(rng, 2) + "," + GeneratedValue(rng, 3) + "]"
                                 : GeneratedValue(rng, 3));
      if (i > 0) doc += ",";
    }
    doc += "}";
    SCOPED_TRACE(doc);
    ExpectScanMatchesParse(doc);
  }
}

// MemberSlices of `doc` (valid JSON) against a parse of it: for each item of the first
// "entry", its first "resource" as a parse reads it.
void ExpectSlicesMatchParse(const std::string& doc) {
  const std::string padded = doc + std::string(kPadding, '\0');
  const std::string_view text(padded.data(), doc.size());
  Parser parser;
  auto root = parser.Parse(doc);
  ASSERT_TRUE(root.ok()) << doc;
  const bool has_entry = root->Find("entry").has_value();
  std::vector<std::string_view> slices;
  Status s = MemberSlices(text, "entry", "resource", slices);
  // The expectation comes from the scan of the whole (checked above against a parse), which
  // lists every member in order: the first "entry" is the one sliced.
  std::vector<MemberExtent> members;
  std::vector<Extent> items;
  ASSERT_TRUE(ScanObjectMembers(ReadAtMemory(doc), 0, doc.size(), members, "entry", items).ok());
  const MemberExtent* first_entry = nullptr;
  int entries = 0;
  for (const MemberExtent& m : members) {
    if (m.key == "entry" && entries++ == 0) first_entry = &m;
  }
  // A name twice, once with escapes: which one is read is the reader's (a Bundle reader
  // refuses the member twice before it slices).
  if (entries > 1 && doc.find("\\u") != std::string::npos) return;
  if (first_entry == nullptr) {
    EXPECT_FALSE(has_entry);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(slices.empty());
    return;
  }
  if (doc[first_entry->value.offset] != '[') {
    EXPECT_EQ(s.code(), ErrorCode::kParseError);
    return;
  }
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(slices.size(), items.size());
  std::vector<bool> ambiguous(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string item = Text(doc, items[i]);
    std::string want;
    if (item[0] == '{') {
      std::vector<MemberExtent> item_members;
      std::vector<Extent> none;
      ASSERT_TRUE(
          ScanObjectMembers(ReadAtMemory(item), 0, item.size(), item_members, "", none).ok());
      int found = 0;
      for (const MemberExtent& m : item_members) {
        if (m.key == "resource" && found++ == 0) want = Text(item, m.value);
      }
      ambiguous[i] = found > 1 && item.find("\\u") != std::string::npos;  // as above
      if (ambiguous[i]) continue;
    }
    EXPECT_EQ(std::string(slices[i]), want) << "item " << i;
    if (!slices[i].empty()) {
      // A view of the text, at the member's value.
      EXPECT_GE(slices[i].data(), text.data());
      EXPECT_LE(slices[i].data() + slices[i].size(), text.data() + text.size());
      EXPECT_EQ(Canonical(slices[i]), Canonical(want));
    }
  }
  // The single-member form, on each item, gives the same.
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string item = Text(doc, items[i]) + std::string(kPadding, '\0');
    if (ambiguous[i]) continue;
    std::string_view one;
    ASSERT_TRUE(MemberSlice(std::string_view(item.data(), items[i].size), "resource", one).ok());
    EXPECT_EQ(one, slices[i]) << "item " << i;
  }
}

TEST(ScannerTest, MemberSlicesAreTheMembersAParseFinds) {
  ExpectSlicesMatchParse(R"({"resourceType":"Bundle","entry":[]})");
  ExpectSlicesMatchParse(R"({"resourceType":"Bundle"})");
  ExpectSlicesMatchParse(R"({"entry":{"resource":1}})");  // no array: refused
  ExpectSlicesMatchParse(
      R"({"entry":[{"resource":{"a":"}]\"["}},{"fullUrl":"x"},5,"s",[],{"resource":[1, 2] },)"
      R"({"resource": 7 ,"resource":8},{"request":{"resource":1},"resource":"r"}],"entry":[1]})");
  // Names with escapes (decoded, so "resourc\u0065" is "resource").
  ExpectSlicesMatchParse(R"({"entr\u0079":[{"resourc\u0065":{"id":"1"}},{"resource":true}]})");
  ExpectSlicesMatchParse(R"({"entry":[{"x\"":1,"resource":{"id":"2"}}]})");
  std::mt19937 rng(11);
  const std::vector<std::string> names = {"resource", "entry",          "fullUrl",
                                          "a",        "resourc\\u0065", "entr\\u0079"};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  for (int n = 0; n < 300; ++n) {
    std::string doc = "{";
    for (int i = pick(4); i >= 0; --i) {
      const std::string key = pick(2) == 0 ? "\"entry\"" : "\"k" + std::to_string(i) + "\"";
      std::string value;
      if (key == "\"entry\"" && pick(5) != 0) {
        value = "[";
        for (int j = pick(5); j > 0; --j) {
          value += pick(4) == 0 ? GeneratedValue(rng, 2, names)
                                : "{\"resource\":" + GeneratedValue(rng, 3, names) + "}";
          if (j > 1) value += " , ";
        }
        value += "]";
      } else {
        value = GeneratedValue(rng, 3, names);
      }
      doc += key + " : " + value;
      if (i > 0) doc += ",";
    }
    doc += "}";
    SCOPED_TRACE(doc);
    ExpectSlicesMatchParse(doc);
    std::string minified;
    ASSERT_TRUE(Minify(doc, minified).ok());
    ExpectSlicesMatchParse(minified);
  }
}

// What the scan finds, or the error it gives, does not depend on how the text comes: reads of
// one byte go through its byte loop only, larger ones through its 64-byte blocks too. Texts
// with stray quotes, backslashes and brackets anywhere (most of them not JSON).
TEST(ScannerTest, MutatedTextsScanAlikeInBytesAndInBlocks) {
  std::mt19937 rng(23);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  int valid = 0;
  for (int n = 0; n < 400; ++n) {
    std::string doc = "{\"entry\":[";
    for (int i = pick(4) + 1; i > 0; --i) {
      doc += GeneratedValue(rng, 4) + (i > 1 ? "," : "");
    }
    doc += "],\"type\":" + GeneratedValue(rng, 3) + "}";
    for (int m = pick(4); m > 0; --m) {
      const std::string stray[] = {"\\", "\"", "[", "]", "{", "}", "\\\\", "\\\""};
      doc.insert(static_cast<size_t>(pick(static_cast<int>(doc.size()))), stray[pick(8)]);
    }
    SCOPED_TRACE(doc);
    const Scanned bytes = Scan(doc, 1);
    valid += bytes.status.ok();
    for (size_t read_bytes : {size_t{63}, size_t{64}, size_t{200}, kScanReadBytes}) {
      const Scanned blocks = Scan(doc, read_bytes);
      ASSERT_EQ(blocks.status.ToString(), bytes.status.ToString()) << read_bytes;
      ASSERT_EQ(blocks.members.size(), bytes.members.size());
      for (size_t i = 0; i < bytes.members.size(); ++i) {
        EXPECT_EQ(blocks.members[i].key, bytes.members[i].key);
        EXPECT_EQ(blocks.members[i].value.offset, bytes.members[i].value.offset);
        EXPECT_EQ(blocks.members[i].value.size, bytes.members[i].value.size);
      }
      ASSERT_EQ(blocks.items.size(), bytes.items.size());
      for (size_t i = 0; i < bytes.items.size(); ++i) {
        EXPECT_EQ(blocks.items[i].offset, bytes.items[i].offset);
        EXPECT_EQ(blocks.items[i].size, bytes.items[i].size);
      }
    }
  }
  EXPECT_GT(valid, 20);  // some scans succeed, so their extents are compared
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

TEST(ScannerTest, NamesThatSpanReadsAreKeptWhateverTheirSize) {
  // A name is kept whole across reads; the read made ahead leaves room for 4 KiB of it, and a
  // longer one is read again in line. Names of either kind, around the items and among them.
  const std::string n1(5000, 'n'), n2(9000, 'm'), n3(4000, 'k'), n4(4100, 'j');
  const std::string doc = "{\"" + n1 + R"(":1,"entry":[{")" + n2 + R"(":2},3,{")" + n3 +
                          R"(":[4]}],")" + n3 + R"(":5,")" + n4 + R"(":6,"z":7})";
  ExpectScanMatchesParse(doc, {100, 1000, 4095, 4096, 4097, 5000, 12000, kScanReadBytes});
}

TEST(ScannerTest, AReadErrorStopsTheScanWithItsReason) {
  std::string doc = R"({"resourceType":"Bundle","entry":[)";
  for (int i = 0; i < 200; ++i) doc += R"({"resource":{"resourceType":"Patient","id":"p"}},)";
  doc += R"(1]})";
  // The source fails from a byte on, wherever the scan's reads (in line or ahead) reach it.
  for (size_t fails_at : {size_t{0}, size_t{1}, size_t{700}, doc.size() - 1}) {
    for (size_t read_bytes : {size_t{64}, size_t{500}, kScanReadBytes}) {
      const ReadAt failing = [&](uint64_t offset, char* out, size_t n) -> Result<size_t> {
        if (offset + n > fails_at) return IoError("cannot read the test's source");
        std::memcpy(out, doc.data() + offset, n);
        return n;
      };
      std::vector<MemberExtent> members;
      std::vector<Extent> items;
      Status s = ScanObjectMembers(failing, 0, doc.size(), members, "entry", items, read_bytes);
      EXPECT_EQ(s.code(), ErrorCode::kIoError) << fails_at << " " << read_bytes;
      EXPECT_EQ(s.message(), "cannot read the test's source");
    }
  }
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
