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

}  // namespace
}  // namespace medlake
