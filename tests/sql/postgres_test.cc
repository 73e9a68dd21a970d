// Loads tables into a real PostgreSQL server that the test starts on loopback.
#include "sql/postgres.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "postgres_server.h"
#include "test_util.h"

namespace medlake::sql {
namespace {

TEST(PostgresTest, CreatesTypedTablesAndCopiesRows) {
  testing::PostgresServer server;
  MEDLAKE_START_OR_SKIP(server);
  auto loader = PostgresLoader::Connect(server.Url());
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  std::vector<ColumnSpec> cols = {{"id", ColumnType::kVarchar},
                                  {"value", ColumnType::kDouble},
                                  {"n", ColumnType::kBigint},
                                  {"ok", ColumnType::kBoolean},
                                  {"codes", ColumnType::kJson}};
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < 1000; ++i) {
    rows.push_back({"\"id\\t" + std::to_string(i) + "\"", std::to_string(i) + ".5",
                    std::to_string(i), i % 2 ? "true" : "false", i % 3 ? "[\"a\"]" : "null"});
  }
  auto n = (*loader)->Load("obs", cols, rows);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1000u);
  EXPECT_EQ(*(*loader)->QueryValue("SELECT count(*) FROM obs"), "1000");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT sum(n) FROM obs"), "499500");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT count(*) FROM obs WHERE ok"), "500");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT count(*) FROM obs WHERE codes IS NULL"), "334");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT id FROM obs WHERE n = 7"), "id\t7");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT data_type FROM information_schema.columns WHERE "
                                   "table_name='obs' AND column_name='value'"),
            "double precision");
  // Loading again replaces the table.
  ASSERT_TRUE((*loader)->Load("obs", cols, {rows[0]}).ok());
  EXPECT_EQ(*(*loader)->QueryValue("SELECT count(*) FROM obs"), "1");
}

TEST(PostgresTest, StreamsRowsAndRollsBackAnUnfinishedLoad) {
  testing::PostgresServer server;
  MEDLAKE_START_OR_SKIP(server);
  auto loader = PostgresLoader::Connect(server.Url());
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  std::vector<ColumnSpec> cols = {{"id", ColumnType::kVarchar}, {"n", ColumnType::kBigint}};
  auto row = [](int i) {
    return std::vector<std::string>{"\"r" + std::to_string(i) + "\"", std::to_string(i)};
  };
  ASSERT_TRUE((*loader)->Load("t", cols, {row(1)}).ok());
  {
    // Destroyed without Finish: the previous table stays.
    auto load = (*loader)->BeginLoad("t", cols);
    ASSERT_TRUE(load.ok()) << load.status().ToString();
    for (int i = 0; i < 20000; ++i) ASSERT_TRUE((*load)->Append(row(i)).ok());
  }
  EXPECT_EQ(*(*loader)->QueryValue("SELECT count(*) FROM t"), "1");
  {
    // A bad row ends the load; nothing of it is committed.
    auto load = (*loader)->BeginLoad("t", cols);
    ASSERT_TRUE(load.ok());
    ASSERT_TRUE((*load)->Append(row(5)).ok());
    Status bad = (*load)->Append({"\"only one column\""});
    EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE((*load)->Append(row(6)).ok());
    EXPECT_FALSE((*load)->Finish().ok());
  }
  EXPECT_EQ(*(*loader)->QueryValue("SELECT count(*) FROM t"), "1");
  auto load = (*loader)->BeginLoad("t", cols);
  ASSERT_TRUE(load.ok());
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE((*load)->Append(row(i)).ok());
  auto n = (*load)->Finish();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 20000u);
  EXPECT_EQ(*(*loader)->QueryValue("SELECT count(*) FROM t"), "20000");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT sum(n) FROM t"), "199990000");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT n FROM t WHERE id = 'r777'"), "777");
}

TEST(PostgresTest, ConnectionErrorIsAValue) {
  auto loader = PostgresLoader::Connect("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(loader.ok());
  EXPECT_EQ(loader.status().code(), ErrorCode::kIoError);
}

// Column names that are SQL keywords ("end", "order": the ready-made encounters and
// medications views) were quoted in CREATE TABLE but not in COPY, which failed; and a value
// PostgreSQL refuses is not printed in the error (it named a family name).
TEST(PostgresTest, KeywordColumnsLoadAndErrorsHideTheValue) {
  testing::PostgresServer server;
  MEDLAKE_START_OR_SKIP(server);
  auto loader = PostgresLoader::Connect(server.Url());
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  std::vector<ColumnSpec> cols = {{"start", ColumnType::kVarchar},
                                  {"end", ColumnType::kVarchar},
                                  {"order", ColumnType::kBigint}};
  auto n = (*loader)->Load("Encounters", cols, {{"\"2024-01-01\"", "\"2024-01-02\"", "1"}});
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*(*loader)->QueryValue(R"(SELECT "end" FROM "Encounters")"), "2024-01-02");
  // A value PostgreSQL refuses (JSON it cannot parse): its error is redacted, and its
  // context lines, which quote the value with its own quotes inside
  // (COPY t, line 1, column n: "{"Wintheiser"}"), lose their data.
  auto bad = (*loader)->Load("t", {{"n", ColumnType::kJson}}, {{"{\"Wintheiser\"}"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("Wintheiser"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("<redacted>"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("COPY t, line 1, column n: <redacted>"), std::string::npos)
      << bad.status().message();
  // A value not of the column's type is refused before PostgreSQL sees it.
  auto text = (*loader)->Load("t", {{"n", ColumnType::kBigint}}, {{"\"Wintheiser\""}});
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message().find("Wintheiser"), std::string::npos)
      << text.status().message();
  EXPECT_NE(text.status().message().find("column n"), std::string::npos) << text.status().message();
}

// load-postgres and sql took different values: an integer column loaded the string "000123"
// as 123 (sql refused it) and refused 75.0 (sql took it as 75). Both now read values by one
// rule (ReadCell).
TEST(PostgresTest, ColumnValuesFollowTheRuleSqlUses) {
  testing::PostgresServer server;
  MEDLAKE_START_OR_SKIP(server);
  auto loader = PostgresLoader::Connect(server.Url());
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  auto engine = SqlEngine::Open();
  ASSERT_TRUE(engine.ok());
  const std::vector<ColumnSpec> cols = {{"id", ColumnType::kVarchar},
                                        {"mrn", ColumnType::kBigint},
                                        {"v", ColumnType::kDouble},
                                        {"ok", ColumnType::kBoolean}};
  const std::vector<std::string> good = {"\"m1\"", "75.0", "1e20", "true"};
  auto n = (*loader)->Load("t", cols, {good});
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*(*loader)->QueryValue("SELECT mrn FROM t"), "75");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT v = 1e20 FROM t"), "t");
  auto writer = (*engine)->CreateTable("t", cols);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->AppendJsonRow(good).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_EQ((*engine)->Query("SELECT mrn FROM t")->rows[0][0], "75");
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{"\"m2\"", "\"000123\"", "1", "true"},
                                             {"\"m2\"", "1", "\"1.5\"", "true"},
                                             {"\"m2\"", "1", "1", "\"true\""},
                                             {"\"m2\"", "75.5", "1", "true"}}) {
    auto pg = (*loader)->Load("u", cols, {bad});
    auto writer2 = (*engine)->CreateTable("u", cols);
    ASSERT_TRUE(writer2.ok());
    Status duck = (*writer2)->AppendJsonRow(bad);
    EXPECT_FALSE(pg.ok()) << bad[1] << bad[2] << bad[3];
    EXPECT_FALSE(duck.ok()) << bad[1] << bad[2] << bad[3];
    EXPECT_EQ(pg.status().message(), duck.message());
  }
}

}  // namespace
}  // namespace medlake::sql
