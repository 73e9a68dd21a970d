#include "common/string_util.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace medlake {
namespace {

TEST(StringUtilTest, ReplaceAll) {
  struct Case {
    std::string text, from, to, want;
  };
  const std::vector<Case> cases = {
      {"\"Patient/abc\" and \"Patient/abc\"", "\"Patient/abc\"", "\"Patient/p1\"",
       "\"Patient/p1\" and \"Patient/p1\""},
      {"aXa", "a", "aa", "aaXaa"},  // inserted text is not searched again
      {"unchanged", "zz", "y", "unchanged"},
      {"unchanged", "", "y", "unchanged"},  // an empty pattern replaces nothing
  };
  for (const Case& c : cases) {
    std::string s = c.text;
    ReplaceAll(s, c.from, c.to);
    EXPECT_EQ(s, c.want) << "in \"" << c.text << "\" replacing \"" << c.from << "\"";
  }
}

TEST(StringUtilTest, AsciiCaseOnly) {
  EXPECT_EQ(AsciiLower("URN:UUID:Ab-\xC3\x89"), "urn:uuid:ab-\xC3\x89");  // "É" stays
  EXPECT_TRUE(StartsWithAnyCase("URN:uuid:1", "urn:uuid:"));
  EXPECT_TRUE(StartsWithAnyCase("urn:uuid:", "urn:uuid:"));
  EXPECT_FALSE(StartsWithAnyCase("urn:uuid", "urn:uuid:"));
  EXPECT_FALSE(StartsWithAnyCase("urn:oid:1", "urn:uuid:"));
}

TEST(StringUtilTest, RedactDataValuesKeepsOnlyWhatTheStatementSays) {
  EXPECT_EQ(RedactDataValues(R"(invalid input syntax for type bigint: "Wintheiser")", ""),
            R"(invalid input syntax for type bigint: "<redacted>")");
  EXPECT_EQ(RedactDataValues("column 'end' near 'Smith'", "SELECT end FROM t"),
            "column 'end' near '<redacted>'");
  EXPECT_EQ(RedactDataValues("no quotes at all", ""), "no quotes at all");
  EXPECT_EQ(RedactDataValues("an unmatched ' quote", ""), "an unmatched ' quote");
}

// Against std::map on keys that are prefixes of others, values set again, the empty key, growth
// from nothing and after Reserve, and a table filled to its limit, where probes wrap around.
TEST(StringUtilTest, HashIndexFindsWhatWasSetLast) {
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; ++i) keys.push_back("urn:uuid:" + std::to_string(i * 7919 % 1000));
  keys.push_back("");
  keys.push_back("urn");
  keys.push_back("urn:uuid:1");
  // One Set at a time, or SetAll of runs of every length up to 40 (its slots fetched ahead,
  // 16 keys on: runs shorter and longer than that), or of all at once.
  for (size_t run :
       {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{40}, keys.size()}) {
    for (size_t reserved : {size_t{0}, size_t{5000}}) {
      SCOPED_TRACE("runs of " + std::to_string(run) + ", reserved " + std::to_string(reserved));
      HashIndex map;
      map.Reserve(reserved);
      std::map<std::string, uint32_t> expected;
      EXPECT_EQ(map.Find("urn:uuid:1"), std::nullopt);
      std::vector<std::pair<HashIndex::Hash, uint32_t>> pending;
      for (size_t i = 0; i < keys.size(); ++i) {
        const auto value = static_cast<uint32_t>(i % 50);
        if (run == 0) {
          map.Set(HashIndex::HashOf(keys[i]), value);
        } else {
          pending.emplace_back(HashIndex::HashOf(keys[i]), value);
          if (pending.size() == run || i + 1 == keys.size()) {
            map.SetAll(pending);
            pending.clear();
          }
        }
        expected[keys[i]] = value;
      }
      EXPECT_EQ(map.size(), expected.size());
      EXPECT_LE(map.size() * 10, map.capacity() * 7);  // at most 70 % full
      for (const auto& [key, value] : expected) EXPECT_EQ(map.Find(key), value) << key;
      EXPECT_EQ(map.Find("urn:uuid:1000"), std::nullopt);
      EXPECT_EQ(map.Find("urn:"), std::nullopt);
    }
  }
  // Reserved for 11 keys: 16 slots, all but 5 of them then taken, where probes run long and
  // may go on past the last slot at the first.
  HashIndex full;
  full.Reserve(11);
  ASSERT_EQ(full.capacity(), 16u);
  for (uint32_t i = 0; i < 11; ++i) full.Set(HashIndex::HashOf("k" + std::to_string(i)), i);
  EXPECT_EQ(full.capacity(), 16u);
  for (uint32_t i = 0; i < 11; ++i) EXPECT_EQ(full.Find("k" + std::to_string(i)), i);
  for (int i = 11; i < 100; ++i) EXPECT_EQ(full.Find("k" + std::to_string(i)), std::nullopt);
  HashIndex empty;
  empty.SetAll({});
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.Find(""), std::nullopt);
}

}  // namespace
}  // namespace medlake
