#include "query/view_runner.h"

#include <gtest/gtest.h>

#include "ingest/ingest.h"
#include "query/table_output.h"
#include "test_util.h"

namespace medlake::query {
namespace {

constexpr char kView[] =
    R"v({"resourceType":"ViewDefinition","name":"obs","status":"active","resource":"Observation",
  "select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"patient","path":"subject.getReferenceKey(Patient)"},
  {"name":"value","path":"value.ofType(Quantity).value","type":"decimal"},
  {"name":"codes","path":"code.coding.code","collection":true}]}]})v";

std::string Obs(int i) {
  return R"({"resourceType":"Observation","id":"o)" + std::to_string(i) +
         R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"},{"code":"x"}]},)"
         R"("subject":{"reference":"Patient/p)" +
         std::to_string(i % 23) + R"("},"valueQuantity":{"value":)" + std::to_string(i) + "}}";
}

TEST(ViewRunnerTest, LakeAndFilesGiveTheSameRows) {
  testing::TempDir dir;
  std::string lines;
  for (int i = 0; i < 2000; ++i) lines += Obs(i) + "\n";
  lines += R"({"resourceType":"Patient","id":"p1"})"
           "\n";
  testing::WriteText(dir / "in/data.ndjson", lines);
  ASSERT_TRUE(ingest::Ingest(dir / "lake", {dir / "in"}, ingest::IngestOptions{}).ok());
  auto view = views::View::Parse(kView);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());

  std::multiset<std::vector<std::string>> from_lake, from_files;
  auto a = RunViewOverLake(
      **lake, *view,
      [&](const views::Row& r) {
        from_lake.insert(r);
        return Status::Ok();
      },
      2);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = RunViewOverFiles({dir / "in/data.ndjson"}, *view, [&](const views::Row& r) {
    from_files.insert(r);
    return Status::Ok();
  });
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(a->resources, 2000u);
  EXPECT_EQ(a->rows, 2000u);
  EXPECT_EQ(from_lake, from_files);
  EXPECT_EQ(from_lake.count({"\"o7\"", "\"p7\"", "7", "[\"8867-4\",\"x\"]"}), 1u);

  // Row order over the lake is deterministic (segment order, then row order).
  std::vector<views::Row> first, second;
  ASSERT_TRUE(RunViewOverLake(
                  **lake, *view,
                  [&](const views::Row& r) {
                    first.push_back(r);
                    return Status::Ok();
                  },
                  2)
                  .ok());
  ASSERT_TRUE(RunViewOverLake(
                  **lake, *view,
                  [&](const views::Row& r) {
                    second.push_back(r);
                    return Status::Ok();
                  },
                  1)
                  .ok());
  EXPECT_EQ(first, second);
}

TEST(TableOutputTest, CsvQuotingAndCellText) {
  EXPECT_EQ(CellText("null"), "");
  EXPECT_EQ(CellText("\"a\\\"b\""), "a\"b");
  EXPECT_EQ(CellText("12.5"), "12.5");
  char* buf = nullptr;
  size_t size = 0;
  FILE* mem = open_memstream(&buf, &size);
  RowWriter w(TextFormat::kCsv, {{"a", "", false}, {"b", "", false}}, mem);
  ASSERT_TRUE(w.WriteHeader().ok());
  ASSERT_TRUE(w.Write({"\"x,y\"", "\"say \\\"hi\\\"\""}).ok());
  ASSERT_TRUE(w.Write({"null", "3"}).ok());
  ASSERT_TRUE(w.Finish().ok());
  std::fclose(mem);
  EXPECT_EQ(std::string(buf, size), "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n,3\n");
  std::free(buf);
}

}  // namespace
}  // namespace medlake::query
