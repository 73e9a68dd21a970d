#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "json/json.h"

namespace medlake::json {
namespace {

TEST(FieldSetTest, IndexesEveryNameAndNothingElse) {
  // More names than the smallest table has buckets, so that buckets hold several.
  std::vector<std::string> owned;
  for (int i = 0; i < 200; ++i) owned.push_back("field" + std::to_string(i));
  owned.push_back("");
  std::vector<std::string_view> names(owned.begin(), owned.end());
  FieldSet set(names);
  ASSERT_EQ(set.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(set.IndexOf(names[i]), static_cast<int>(i));
  EXPECT_EQ(set.IndexOf("field200"), -1);
  EXPECT_EQ(set.IndexOf("Field1"), -1);
  EXPECT_EQ(set.IndexOf("field"), -1);
}

TEST(FieldSetTest, FindFieldsMatchesFind) {
  Parser parser;
  auto doc = parser.Parse(
      R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},)"
      R"("status":"amended","subject":{"reference":"Patient/p"},"valueQuantity":{"value":1}})");
  ASSERT_TRUE(doc.ok());
  FieldSet set({"status", "code", "missing", "subject", "id", "effectiveDateTime"});
  std::array<std::optional<Node>, 8> out;
  out[2] = *doc;  // stale values are cleared
  doc->FindFields(set, out);
  for (size_t i = 0; i < set.size(); ++i) {
    auto expected = doc->Find(set.names()[i]);
    ASSERT_EQ(out[i].has_value(), expected.has_value()) << set.names()[i];
    if (expected) {
      EXPECT_EQ(out[i]->ToJson(), expected->ToJson());
    }
  }
  // A repeated key: the first one counts, as for Find.
  EXPECT_EQ(out[0]->GetString(), "final");
  EXPECT_FALSE(out[2].has_value());

  // Not an object: nothing found.
  auto array = parser.Parse(R"([{"status":"final"}])");
  ASSERT_TRUE(array.ok());
  array->FindFields(set, out);
  for (size_t i = 0; i < set.size(); ++i) EXPECT_FALSE(out[i].has_value());
}

}  // namespace
}  // namespace medlake::json
