// Disclosure control of SQL results (sql/disclosure.h) on a real DuckDB engine: the query
// classification from DuckDB's parse tree, and primary plus complementary suppression whose
// masked counts cannot be recovered from the totals (checked with privacy::DeterminedCells).
#include "sql/disclosure.h"

#include <gtest/gtest.h>

#include <map>

#include "privacy/suppression.h"

namespace medlake::sql {
namespace {

// A table `p` of patients: sex, ward and age, with the counts per (sex, ward) given.
std::unique_ptr<SqlEngine> Patients(const std::map<std::pair<std::string, std::string>, int>& n) {
  auto engine = SqlEngine::Open();
  EXPECT_TRUE(engine.ok());
  auto writer = (*engine)->CreateTable("p", {{"id", ColumnType::kVarchar},
                                             {"sex", ColumnType::kVarchar},
                                             {"ward", ColumnType::kVarchar},
                                             {"age", ColumnType::kBigint}});
  EXPECT_TRUE(writer.ok());
  int id = 0;
  for (const auto& [cell, count] : n) {
    for (int i = 0; i < count; ++i, ++id) {
      EXPECT_TRUE((*writer)
                      ->AppendJsonRow({"\"p" + std::to_string(id) + "\"", "\"" + cell.first + "\"",
                                       "\"" + cell.second + "\"", std::to_string(20 + id % 60)})
                      .ok());
    }
  }
  EXPECT_TRUE((*writer)->Close().ok());
  return std::move(*engine);
}

QueryShape Shape(SqlEngine& engine, const std::string& query) {
  auto shape = AnalyzeQuery(engine, query);
  EXPECT_TRUE(shape.ok()) << shape.status().ToString();
  return *shape;
}

TEST(DisclosureTest, ClassifiesQueriesFromTheParseTree) {
  auto engine = Patients({{{"F", "A"}, 3}});
  QueryShape s = Shape(*engine,
                       "SELECT sex, ward AS w, count(*) AS n, round(avg(age), 1) AS mean, "
                       "count(DISTINCT id) FROM p GROUP BY sex, ward");
  ASSERT_TRUE(s.aggregate) << s.reason;
  EXPECT_EQ(s.outputs,
            (std::vector<OutputRole>{OutputRole::kKey, OutputRole::kKey, OutputRole::kCount,
                                     OutputRole::kAggregate, OutputRole::kCount}));
  EXPECT_TRUE(Shape(*engine, "SELECT count(*) FROM p WHERE age > 40").aggregate);
  // Not aggregates, each with its reason.
  for (const auto& [query, reason] : std::vector<std::pair<std::string, std::string>>{
           {"SELECT sex, age FROM p", "lists rows"},
           {"SELECT sex, age AS n FROM p", "lists rows"},
           {"SELECT * FROM p", "SELECT *"},
           {"SELECT sex, count(*) FROM p GROUP BY sex HAVING count(*) = 1", "HAVING"},
           {"SELECT sex, count(*) OVER () FROM p", "window"},
           {"SELECT sex, list(age), count(*) FROM p GROUP BY sex", "list()"},
           {"SELECT sex, arg_max(id, age), count(*) FROM p GROUP BY sex", "arg_max()"},
           {"SELECT count(*) FROM p UNION ALL SELECT count(*) FROM p", "UNION"},
           {"SELECT sex, ward, count(*) FROM p GROUP BY ROLLUP(sex, ward)", "ROLLUP"},
           {"SELECT (SELECT id FROM p LIMIT 1), count(*) FROM p", "subquer"},
           {"SELECT age + count(*) FROM p GROUP BY age", "mixes"},
           {"SELECT sex, bit_or(age), count(*) FROM p GROUP BY sex", "bit_or()"}}) {
    QueryShape shape = Shape(*engine, query);
    EXPECT_FALSE(shape.aggregate) << query;
    EXPECT_NE(shape.reason.find(reason), std::string::npos) << query << ": " << shape.reason;
  }
}

TEST(DisclosureTest, OpsIsRefusedAnythingButAggregatesWithCounts) {
  auto engine = Patients({{{"F", "A"}, 30}});
  DisclosurePolicy ops{true, 10};
  for (const char* query : {"SELECT sex, age FROM p", "SELECT sex, avg(age) FROM p GROUP BY sex"}) {
    auto r = engine->Query(query);
    ASSERT_TRUE(r.ok());
    auto controlled = ControlResult(Shape(*engine, query), ops, *r);
    ASSERT_FALSE(controlled.ok()) << query;
    EXPECT_EQ(controlled.status().code(), ErrorCode::kPermissionDenied);
  }
  // The same results for a researcher (patient-level rows are theirs to see) pass.
  auto rows = engine->Query("SELECT sex, age FROM p");
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(ControlResult(Shape(*engine, "SELECT sex, age FROM p"), {false, 10}, *rows).ok());
}

// A 2 x 2 table with one small cell: every row and column then holds two masked cells, so all
// four are masked; the statistics of masked groups go too; big groups stay.
TEST(DisclosureTest, ComplementarySuppressionProtectsTheSmallCell) {
  auto engine = Patients({{{"F", "A"}, 4}, {{"F", "B"}, 20}, {{"M", "A"}, 30}, {{"M", "B"}, 40}});
  const std::string query =
      "SELECT sex, ward, count(*) AS n, avg(age) AS mean FROM p GROUP BY sex, ward ORDER BY ALL";
  auto r = engine->Query(query);
  ASSERT_TRUE(r.ok());
  auto report = ControlResult(Shape(*engine, query), {true, 10}, *r);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->primary, 1u);
  EXPECT_EQ(report->complementary, 3u);
  EXPECT_EQ(report->statistics, 4u);
  for (const auto& row : r->rows) {
    // Only the small cell reads "<10": its complements are not below 10.
    EXPECT_EQ(row[2], row[0] == "F" && row[1] == "A" ? "<10" : "suppressed") << row[0] << row[1];
    EXPECT_EQ(row[3], "suppressed");
  }
  // With a third ward of large counts the small cell's complements come from it.
  auto engine3 = Patients({{{"F", "A"}, 4},
                           {{"F", "B"}, 20},
                           {{"F", "C"}, 25},
                           {{"M", "A"}, 30},
                           {{"M", "B"}, 40},
                           {{"M", "C"}, 50}});
  auto r3 = engine3->Query(query);
  ASSERT_TRUE(r3.ok());
  ASSERT_TRUE(ControlResult(Shape(*engine3, query), {true, 10}, *r3).ok());
  // Rebuild the published table and check that no masked cell is determined by the totals.
  privacy::SuppressedTable published;
  published.rows = 2;
  published.cols = 3;
  published.grid.assign(12, std::nullopt);
  int64_t total = 0;
  std::vector<int64_t> row_sum(2, 0), col_sum(3, 0);
  size_t masked = 0;
  for (const auto& row : r3->rows) {
    size_t i = row[0] == "F" ? 0 : 1, j = static_cast<size_t>(row[1][0] - 'A');
    int64_t truth =
        (i == 0 ? std::vector<int64_t>{4, 20, 25} : std::vector<int64_t>{30, 40, 50})[j];
    row_sum[i] += truth;
    col_sum[j] += truth;
    total += truth;
    if (row[2] == "<10" || row[2] == "suppressed") {
      EXPECT_EQ(row[2], truth < 10 ? "<10" : "suppressed");
      ++masked;
      continue;
    }
    EXPECT_EQ(row[2], std::to_string(truth));
    published.grid[i * 4 + j] = truth;
  }
  for (size_t i = 0; i < 2; ++i) published.grid[i * 4 + 3] = row_sum[i];
  for (size_t j = 0; j < 3; ++j) published.grid[2 * 4 + j] = col_sum[j];
  published.grid[11] = total;
  EXPECT_EQ(masked, 4u);  // the small cell and three complements, a 2 x 2 rectangle
  EXPECT_TRUE(privacy::DeterminedCells(published).empty());
}

// ops reads counts of one view: a join, a subquery, a WITH query or a table function in FROM
// can repeat rows, so that a group of one patient counted 300 (a self-join) and passed the
// threshold. And a pseudonym in another letter case is still one.
TEST(DisclosureTest, OpsCountsComeFromOneTableAndSeeNoPseudonymInAnyCase) {
  auto engine = Patients({{{"F", "A"}, 3}, {{"M", "A"}, 50}});
  const DisclosurePolicy ops{true, 10};
  for (const char* query :
       {"SELECT p.sex, count(*) AS n FROM p, p AS q GROUP BY p.sex",
        "SELECT p.sex, count(*) AS n FROM p JOIN p AS q ON true GROUP BY p.sex",
        "SELECT sex, count(*) AS n FROM (SELECT * FROM p UNION ALL SELECT * FROM p) GROUP BY sex",
        "WITH x AS (SELECT * FROM p) SELECT sex, count(*) AS n FROM x GROUP BY sex",
        "SELECT count(*) AS n FROM range(100)"}) {
    SCOPED_TRACE(query);
    auto r = engine->Query(query);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto controlled = ControlResult(Shape(*engine, query), ops, *r);
    EXPECT_EQ(controlled.status().code(), ErrorCode::kPermissionDenied);
    EXPECT_NE(controlled.status().message().find("one view"), std::string::npos)
        << controlled.status().ToString();
  }
  const std::string one = "SELECT sex, count(*) AS n FROM p WHERE age > 0 GROUP BY sex";
  auto r = engine->Query(one);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(ControlResult(Shape(*engine, one), ops, *r).ok());

  const std::string pseudonym = "abcdefghijklmnopqrstuvwxyz234567";  // base32, 32 letters
  for (std::string shown : {pseudonym, std::string()}) {
    if (shown.empty()) {
      for (char c : pseudonym) shown.push_back(static_cast<char>(std::toupper(c)));
    }
    const std::string q = "SELECT '" + shown + "' AS pid, count(*) AS n FROM p GROUP BY 1";
    auto listed = engine->Query(q);
    ASSERT_TRUE(listed.ok());
    EXPECT_EQ(ControlResult(Shape(*engine, q), ops, *listed).status().code(),
              ErrorCode::kPermissionDenied)
        << shown;
  }
}

TEST(DisclosureTest, OneWayCountsGetAComplementToo) {
  auto engine = Patients({{{"F", "A"}, 3}, {{"M", "A"}, 50}, {{"X", "A"}, 12}});
  const std::string query = "SELECT sex, count(*) AS n FROM p GROUP BY sex ORDER BY sex";
  auto r = engine->Query(query);
  ASSERT_TRUE(r.ok());
  auto report = ControlResult(Shape(*engine, query), {false, 10}, *r);
  ASSERT_TRUE(report.ok());
  // F (3) is small; alone it would follow from the total (65 - 50 - 12), so the next smallest
  // (X, 12) is masked as well.
  EXPECT_EQ(r->rows[0][1], "<10");
  EXPECT_EQ(r->rows[1][1], "50");
  EXPECT_EQ(r->rows[2][1], "suppressed");
  EXPECT_EQ(report->complementary, 1u);
}

// A count masked to protect a small one is not small itself: it read "<10" (the audit's
// female 112, NULL 1, male 87 showed male as "<10"). It reads "suppressed", as in `medlake
// cohort`, in every count column of its row.
TEST(DisclosureTest, AComplementaryCountIsNotShownAsSmall) {
  auto engine = Patients({{{"F", "A"}, 112}, {{"M", "A"}, 87}, {{"X", "A"}, 1}});
  const std::string query =
      "SELECT sex, count(*) AS n, count(DISTINCT id) AS patients, avg(age) AS mean FROM p "
      "GROUP BY sex ORDER BY sex";
  auto r = engine->Query(query);
  ASSERT_TRUE(r.ok());
  auto report = ControlResult(Shape(*engine, query), {true, 10}, *r);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(r->rows.size(), 3u);
  EXPECT_EQ(r->rows[0][1], "112");
  EXPECT_EQ(r->rows[0][2], "112");
  EXPECT_EQ(r->rows[1], (std::vector<std::string>{"M", "suppressed", "suppressed", "suppressed"}));
  EXPECT_EQ(r->rows[2], (std::vector<std::string>{"X", "<10", "<10", "suppressed"}));
  EXPECT_EQ(report->primary, 2u);
  EXPECT_EQ(report->complementary, 2u);
  EXPECT_EQ(report->statistics, 2u);
}

// In a masked row a NULL statistic is masked too: left NULL it said that no one of the small
// group had the value (here: no woman among the one "X").
TEST(DisclosureTest, ANullStatisticOfAMaskedRowIsMaskedToo) {
  auto engine = Patients({{{"F", "A"}, 30}, {{"X", "A"}, 1}});
  const std::string query =
      "SELECT sex, count(*) AS n, max(CASE WHEN sex = 'F' THEN age END) AS oldest_woman FROM p "
      "GROUP BY sex ORDER BY sex";
  auto r = engine->Query(query);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->rows.size(), 2u);
  ASSERT_TRUE(r->nulls[1][2]);
  auto report = ControlResult(Shape(*engine, query), {true, 10}, *r);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(r->rows[1], (std::vector<std::string>{"X", "<10", "suppressed"}));
  EXPECT_FALSE(r->nulls[1][2]);
  EXPECT_FALSE(r->nulls[0][2]);
}

}  // namespace
}  // namespace medlake::sql
