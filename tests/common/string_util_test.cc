#include "common/string_util.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace medlake
