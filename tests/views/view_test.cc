#include "views/view.h"

#include <gtest/gtest.h>

namespace medlake::views {
namespace {

constexpr std::string_view kPatient = R"({"resourceType": "Patient", "id": "p1",
  "name": [{"family": "A", "given": ["x", "y"]}, {"family": "B"}]})";

std::vector<Row> RunView(std::string_view view_json, std::string_view resource) {
  auto view = View::Parse(view_json);
  EXPECT_TRUE(view.ok()) << view.status().ToString();
  json::Parser parser;
  auto root = parser.Parse(resource);
  EXPECT_TRUE(root.ok());
  std::vector<Row> rows;
  EXPECT_TRUE(view->Evaluate(*root, rows).ok());
  return rows;
}

TEST(View, ForEachProducesOneRowPerItem) {
  auto rows =
      RunView(R"({"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]},
      {"forEach": "name", "column": [{"name": "family", "path": "family"},
       {"name": "given", "path": "given", "collection": true}]}]})",
              kPatient);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (Row{"\"p1\"", "\"A\"", "[\"x\",\"y\"]"}));
  EXPECT_EQ(rows[1], (Row{"\"p1\"", "\"B\"", "[]"}));
}

TEST(View, OtherResourceTypesYieldNoRows) {
  auto rows = RunView(
      R"({"resource": "Observation", "select": [{"column": [{"name": "id", "path": "id"}]}]})",
      kPatient);
  EXPECT_TRUE(rows.empty());
}

TEST(View, InvalidViewsNameTheProblem) {
  auto no_resource = View::Parse(R"({"select": [{"column": [{"name": "id", "path": "id"}]}]})");
  ASSERT_FALSE(no_resource.ok());
  EXPECT_NE(no_resource.status().message().find("resource"), std::string::npos);
  auto bad_path = View::Parse(
      R"({"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id +"}]}]})");
  ASSERT_FALSE(bad_path.ok());
  EXPECT_NE(bad_path.status().message().find("select[0].column[0].path"), std::string::npos)
      << bad_path.status().message();
}

TEST(View, MultipleValuesNeedCollection) {
  auto view = View::Parse(
      R"({"resource": "Patient", "select": [{"column": [{"name": "f", "path": "name.family"}]}]})");
  ASSERT_TRUE(view.ok());
  json::Parser parser;
  auto root = parser.Parse(kPatient);
  std::vector<Row> rows;
  EXPECT_FALSE(view->Evaluate(*root, rows).ok());
}

TEST(View, RepeatUnionAllConstantsAndWhere) {
  constexpr std::string_view kResponse = R"({"resourceType": "QuestionnaireResponse", "id": "q",
    "status": "completed",
    "item": [{"linkId": "1", "item": [{"linkId": "1.1"}]}, {"linkId": "2"}]})";
  auto rows = RunView(R"({"resource": "QuestionnaireResponse",
      "constant": [{"name": "wanted", "valueCode": "completed"}],
      "where": [{"path": "status = %wanted"}],
      "select": [{"column": [{"name": "id", "path": "id"}]},
                 {"unionAll": [{"repeat": ["item"], "column": [{"name": "link", "path": "linkId"},
                                                               {"name": "n", "path": "%rowIndex"}]},
                               {"column": [{"name": "link", "path": "'none'"},
                                           {"name": "n", "path": "-1"}]}]}]})",
                      kResponse);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], (Row{"\"q\"", "\"1\"", "0"}));
  EXPECT_EQ(rows[1], (Row{"\"q\"", "\"1.1\"", "1"}));
  EXPECT_EQ(rows[2], (Row{"\"q\"", "\"2\"", "2"}));
  EXPECT_EQ(rows[3], (Row{"\"q\"", "\"none\"", "-1"}));
  auto filtered = RunView(R"({"resource": "QuestionnaireResponse",
      "constant": [{"name": "wanted", "valueCode": "draft"}], "where": [{"path": "status = %wanted"}],
      "select": [{"column": [{"name": "id", "path": "id"}]}]})",
                          kResponse);
  EXPECT_TRUE(filtered.empty());
}

// Organizations partOf each other: repeat over partOf.resolve() recursed until the stack
// overflowed. Each Organization is reached once (N1 repeat: only items not yet reached).
TEST(View, RepeatStopsAtItemsAlreadyReached) {
  constexpr std::string_view kBundle = R"({"resourceType": "Bundle", "type": "collection",
    "entry": [{"fullUrl": "http://x/Organization/a", "resource": {"resourceType": "Organization",
                 "id": "a", "partOf": {"reference": "Organization/b"}}},
              {"fullUrl": "http://x/Organization/b", "resource": {"resourceType": "Organization",
                 "id": "b", "partOf": {"reference": "Organization/a"}}}]})";
  auto view = View::Parse(R"v({"resource": "Organization", "select": [
      {"column": [{"name": "id", "path": "getResourceKey()"}]},
      {"repeat": ["partOf.resolve()"], "column": [{"name": "ancestor", "path": "getResourceKey()"},
                                                  {"name": "n", "path": "%rowIndex"}]}]})v");
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  json::Parser parser;
  auto bundle = parser.Parse(kBundle);
  ASSERT_TRUE(bundle.ok());
  std::vector<Row> rows;
  for (json::Cursor entry = bundle->Find("entry")->Children(); entry.Next();) {
    ASSERT_TRUE(view->Evaluate(*entry.value().Find("resource"), rows, *bundle).ok());
  }
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], (Row{"\"a\"", "\"b\"", "0"}));
  EXPECT_EQ(rows[1], (Row{"\"a\"", "\"a\"", "1"}));
  EXPECT_EQ(rows[2], (Row{"\"b\"", "\"a\"", "0"}));
  EXPECT_EQ(rows[3], (Row{"\"b\"", "\"b\"", "1"}));
}

// A repeat path that yields a new value at every level is stopped with an error that names
// the path, not a stack overflow.
TEST(View, RepeatDepthIsBounded) {
  auto view = View::Parse(R"v({"resource": "Patient", "name": "chain", "select": [
      {"repeat": ["iif($this is Integer, $this + 1, 0)"],
       "column": [{"name": "n", "path": "$this"}]}]})v");
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  json::Parser parser;
  auto root = parser.Parse(kPatient);
  ASSERT_TRUE(root.ok());
  std::vector<Row> rows;
  Status s = view->Evaluate(*root, rows);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("repeat path 'iif($this is Integer, $this + 1, 0)' of view chain"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("1000 levels"), std::string::npos) << s.message();
}

// Decimal columns are written as the resource has them when the parser keeps number texts, as
// the view runner's does (they were cut to 15 digits and lost trailing zeros).
TEST(View, DecimalColumnsKeepTheirText) {
  auto view = View::Parse(R"v({"resource": "Observation", "select": [{"column": [
      {"name": "v", "path": "value.ofType(Quantity).value", "type": "decimal"},
      {"name": "e", "path": "extension.value.ofType(decimal)", "type": "decimal"}]}]})v");
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  json::Parser parser;
  parser.set_keep_number_text(true);
  auto root = parser.Parse(R"({"resourceType": "Observation", "id": "d1", "status": "final",
      "code": {"text": "x"}, "valueQuantity": {"value": 1234567.123456789},
      "extension": [{"url": "http://x/d", "valueDecimal": 1.50}]})");
  ASSERT_TRUE(root.ok());
  std::vector<Row> rows;
  ASSERT_TRUE(view->Evaluate(*root, rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (Row{"1234567.123456789", "1.50"}));
}

TEST(View, ForEachOrNullKeepsTheResource) {
  auto rows =
      RunView(R"({"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]},
      {"forEachOrNull": "contact", "column": [{"name": "contact", "path": "name.family"}]}]})",
              kPatient);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (Row{"\"p1\"", "null"}));
}

TEST(View, UnionAllBranchesMustAgree) {
  auto view = View::Parse(R"({"resource": "Patient", "select": [{"unionAll": [
      {"column": [{"name": "a", "path": "id"}, {"name": "b", "path": "id"}]},
      {"column": [{"name": "b", "path": "id"}, {"name": "a", "path": "id"}]}]}]})");
  ASSERT_FALSE(view.ok());
  EXPECT_NE(view.status().message().find("select[0].unionAll[1]"), std::string::npos)
      << view.status().message();
  // Columns of one name but different types or collection flags (the rows of one table).
  auto types = View::Parse(R"({"resource": "Patient", "select": [{"unionAll": [
      {"forEach": "name", "column": [{"name": "v", "path": "given", "type": "string",
                                      "collection": true}]},
      {"column": [{"name": "v", "path": "id", "type": "integer"}]}]}]})");
  ASSERT_FALSE(types.ok());
  EXPECT_NE(types.status().message().find("select[0].unionAll[1]: column 'v' has type 'integer' "
                                          "here but 'string' in select[0].unionAll[0]"),
            std::string::npos)
      << types.status().message();
  auto collection = View::Parse(R"({"resource": "Patient", "select": [{"unionAll": [
      {"column": [{"name": "v", "path": "name.given", "type": "string", "collection": true}]},
      {"column": [{"name": "v", "path": "id", "type": "string"}]}]}]})");
  ASSERT_FALSE(collection.ok());
  EXPECT_NE(collection.status().message().find("column 'v' has collection false here but true in "
                                               "select[0].unionAll[0]"),
            std::string::npos)
      << collection.status().message();
  auto agree = View::Parse(R"({"resource": "Patient", "select": [{"unionAll": [
      {"column": [{"name": "v", "path": "id", "type": "string"}]},
      {"column": [{"name": "v", "path": "gender", "type": "string"}]}]}]})");
  EXPECT_TRUE(agree.ok()) << agree.status().ToString();
  auto undefined = View::Parse(
      R"({"resource": "Patient", "select": [{"column": [{"name": "a", "path": "%missing"}]}]})");
  ASSERT_FALSE(undefined.ok());
  EXPECT_NE(undefined.status().message().find("%missing"), std::string::npos);
}

}  // namespace
}  // namespace medlake::views
