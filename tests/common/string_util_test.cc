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

TEST(StringUtilTest, RedactDataValuesKeepsOnlyWhatTheStatementSays) {
  EXPECT_EQ(RedactDataValues(R"(invalid input syntax for type bigint: "Wintheiser")", ""),
            R"(invalid input syntax for type bigint: "<redacted>")");
  EXPECT_EQ(RedactDataValues("column 'end' near 'Smith'", "SELECT end FROM t"),
            "column 'end' near '<redacted>'");
  EXPECT_EQ(RedactDataValues("no quotes at all", ""), "no quotes at all");
  EXPECT_EQ(RedactDataValues("an unmatched ' quote", ""), "an unmatched ' quote");
}

// Against std::map on keys that collide in their low bits and keys that are prefixes of others,
// values set again, the empty key, growth from nothing and after Reserve.
TEST(StringUtilTest, ViewMapFindsWhatWasSetLast) {
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; ++i) keys.push_back("urn:uuid:" + std::to_string(i * 7919 % 1000));
  keys.push_back("");
  keys.push_back("urn");
  keys.push_back("urn:uuid:1");
  std::vector<std::string> values;
  for (int i = 0; i < 50; ++i) values.push_back("Patient/p" + std::to_string(i));
  // One Set at a time, or SetAll of runs of every length up to 40 (its slots fetched ahead,
  // 16 keys on: runs shorter and longer than that), or of all at once.
  for (size_t run :
       {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{40}, keys.size()}) {
    for (size_t reserved : {size_t{0}, size_t{5000}}) {
      SCOPED_TRACE("runs of " + std::to_string(run) + ", reserved " + std::to_string(reserved));
      ViewMap map;
      map.Reserve(reserved);
      std::map<std::string, std::string> expected;
      EXPECT_EQ(map.Find("urn:uuid:1"), nullptr);
      std::vector<std::pair<std::string_view, std::string_view>> pending;
      for (size_t i = 0; i < keys.size(); ++i) {
        const std::string& value = values[i % values.size()];
        if (run == 0) {
          map.Set(keys[i], value);
        } else {
          pending.emplace_back(keys[i], value);
          if (pending.size() == run || i + 1 == keys.size()) {
            map.SetAll(pending);
            pending.clear();
          }
        }
        expected[keys[i]] = value;
      }
      EXPECT_EQ(map.size(), expected.size());
      for (const auto& [key, value] : expected) {
        const std::string_view* found = map.Find(key);
        ASSERT_NE(found, nullptr) << key;
        EXPECT_EQ(*found, value) << key;
      }
      EXPECT_EQ(map.Find("urn:uuid:1000"), nullptr);
      EXPECT_EQ(map.Find("urn:"), nullptr);
    }
  }
  ViewMap empty;
  empty.SetAll({});
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.Find(""), nullptr);
}

}  // namespace
}  // namespace medlake
