#include "sql/sql_engine.h"

#include <gtest/gtest.h>
#include <link.h>

#include <filesystem>
#include <string_view>

#include "test_util.h"

namespace medlake::sql {
namespace {

// Whether libduckdb.so is mapped into this process.
bool DuckDbMapped() {
  return ::dl_iterate_phdr(
             [](dl_phdr_info* info, size_t, void*) {
               return std::string_view(info->dlpi_name).find("libduckdb") != std::string_view::npos
                          ? 1
                          : 0;
             },
             nullptr) != 0;
}

// DuckDB is loaded by the first engine opened, not with the program: a command that runs no
// SQL does not pay for it (sql/duckdb_api.h).
TEST(SqlEngineTest, DuckDbIsLoadedByTheFirstEngine) {
  const testing::CliRun version = testing::RunMedlake("--version", "LD_DEBUG=files");
  ASSERT_EQ(version.exit_code, 0) << version.out;
  EXPECT_NE(version.out.find("libsqlite3"), std::string::npos) << version.out;  // LD_DEBUG works
  EXPECT_EQ(version.out.find("libduckdb"), std::string::npos) << version.out;
  auto engine = SqlEngine::Open();
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_TRUE(DuckDbMapped());
  auto one = (*engine)->Query("SELECT 41 + 1 AS answer");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->rows.size(), 1u);
  EXPECT_EQ(one->rows[0][0], "42");
}

TEST(SqlEngineTest, TypedTableFromJsonValues) {
  auto engine = SqlEngine::Open();
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto writer = (*engine)->CreateTable("obs", {{"id", ColumnType::kVarchar},
                                               {"value", ColumnType::kDouble},
                                               {"count", ColumnType::kBigint},
                                               {"final", ColumnType::kBoolean},
                                               {"codes", ColumnType::kJson}});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->AppendJsonRow({"\"o1\"", "72.5", "3", "true", "[\"a\",\"b\"]"}).ok());
  ASSERT_TRUE((*writer)->AppendJsonRow({"\"o\\\"2\"", "null", "4", "false", "null"}).ok());
  EXPECT_FALSE((*writer)->AppendJsonRow({"\"too few\""}).ok());
  // A value not of the column's type fails the row (it was truncated, 72.5 -> 72, or NULL);
  // the error names the column, not the value.
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{"\"o3\"", "1", "72.5", "true", "null"},
                                             {"\"o3\"", "\"2020-01-01\"", "1", "true", "null"},
                                             {"\"o3\"", "1", "1", "\"final\"", "null"}}) {
    auto s = (*writer)->AppendJsonRow(bad);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.message().find("72.5"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("final\""), std::string::npos) << s.message();
  }
  ASSERT_TRUE((*writer)->Close().ok());
  auto r = (*engine)->Query(
      "SELECT id, value, count * 2 AS twice, final, json_array_length(codes) AS n FROM obs ORDER "
      "BY count");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 2u);
  EXPECT_EQ(r->columns, (std::vector<std::string>{"id", "value", "twice", "final", "n"}));
  EXPECT_EQ(r->rows[0][0], "o1");
  EXPECT_EQ(r->rows[0][1], "72.5");
  EXPECT_EQ(r->rows[0][2], "6");
  EXPECT_EQ(r->rows[0][3], "true");
  EXPECT_EQ(r->rows[0][4], "2");
  EXPECT_EQ(r->rows[1][0], "o\"2");
  EXPECT_TRUE(r->nulls[1][1]);
}

TEST(SqlEngineTest, ErrorsAreValues) {
  auto engine = SqlEngine::Open();
  ASSERT_TRUE(engine.ok());
  auto r = (*engine)->Query("SELECT * FROM no_such_table");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("no_such_table"), std::string::npos);
}

// An error raised by a value of the data printed the value ("Could not convert string
// 'Smith ...' to INT32"): such errors keep their kind only, and quoted parts of other errors
// that are not in the statement are redacted.
TEST(SqlEngineTest, ErrorsDoNotPrintValuesOfTheData) {
  auto engine = SqlEngine::Open();
  ASSERT_TRUE(engine.ok());
  ASSERT_TRUE((*engine)->Execute("CREATE TABLE p AS SELECT 'Smith' AS family, 4.5 AS v").ok());
  for (const char* sql : {"SELECT CAST(family AS INTEGER) FROM p",
                          "SELECT CAST(family || ' ' || v::VARCHAR AS INTEGER) FROM p",
                          "SELECT CAST(v * 1e300 * 1e300 AS INTEGER) FROM p"}) {
    auto r = (*engine)->Query(sql);
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_EQ(r.status().message().find("Smith"), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find("4.5"), std::string::npos) << r.status().message();
  }
  // An error about the statement keeps what the user wrote.
  auto r = (*engine)->Query("SELECT nosuchcolumn FROM p");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nosuchcolumn"), std::string::npos) << r.status().message();
}

TEST(SqlEngineTest, WritesParquetThatReadsBack) {
  testing::TempDir dir;
  auto engine = SqlEngine::Open();
  ASSERT_TRUE(engine.ok());
  auto w = (*engine)->CreateTable("t", {{"a", ColumnType::kBigint}, {"b", ColumnType::kVarchar}});
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*w)->AppendJsonRow({std::to_string(i), "\"x\""}).ok());
  ASSERT_TRUE((*w)->Close().ok());
  ASSERT_TRUE((*engine)->CopyToParquet("SELECT * FROM t", dir / "t.parquet").ok());
  EXPECT_GT(std::filesystem::file_size(dir / "t.parquet"), 0u);
  auto r =
      (*engine)->Query("SELECT count(*), sum(a) FROM read_parquet('" + (dir / "t.parquet") + "')");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows[0][0], "100");
  EXPECT_EQ(r->rows[0][1], "4950");
}

// Columns of types beyond the scalars printed as "" (TIMESTAMPTZ, LIST, STRUCT, ...) and a
// UUID column crashed the process: every type is printed as DuckDB casts it to VARCHAR.
TEST(SqlEngineTest, PrintsEveryDuckDbType) {
  auto engine = SqlEngine::Open();
  ASSERT_TRUE(engine.ok());
  ASSERT_TRUE((*engine)->Execute("SET TimeZone = 'UTC'").ok());
  ASSERT_TRUE((*engine)->Execute("CREATE TYPE mood AS ENUM ('sad', 'happy')").ok());
  auto r = (*engine)->Query(
      "SELECT '6f9619ff-8b86-d011-b42d-00c04fc964ff'::UUID AS id, 1 AS b, "
      "TIMESTAMPTZ '2020-01-02 10:00:00+00' AS tz, [1, 2, NULL] AS list, "
      "{'k': 'v', 'n': 2} AS struct, MAP {'a': 1} AS map, 'happy'::mood AS mood, "
      "union_value(num := 2)::UNION(num INTEGER, str VARCHAR) AS u, '0101'::BIT AS bits, "
      "TIMESTAMP_NS '2020-01-02 10:00:00.123456789' AS ns, TIMESTAMP_S '2020-01-02 10:00:00' AS s, "
      "TIMESTAMP_MS '2020-01-02 10:00:00.5' AS ms, TIMETZ '10:00:00+02' AS ttz, "
      "[1, 2]::INTEGER[2] AS arr, INTERVAL 3 DAY AS iv, 12.50::DECIMAL(5, 2) AS dec, "
      "NULL::UUID AS no_id, NULL::INTEGER[] AS no_list");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 1u);
  const std::vector<std::string> expected = {"6f9619ff-8b86-d011-b42d-00c04fc964ff",
                                             "1",
                                             "2020-01-02 10:00:00+00",
                                             "[1, 2, NULL]",
                                             "{'k': v, 'n': 2}",
                                             "{a=1}",
                                             "happy",
                                             "2",
                                             "0101",
                                             "2020-01-02 10:00:00.123456789",
                                             "2020-01-02 10:00:00",
                                             "2020-01-02 10:00:00.5",
                                             "10:00:00+02",
                                             "[1, 2]",
                                             "3 days",
                                             "12.50",
                                             "",
                                             ""};
  ASSERT_EQ(r->columns.size(), expected.size());
  for (size_t c = 0; c < expected.size(); ++c) {
    EXPECT_EQ(r->rows[0][c], expected[c]) << r->columns[c];
    EXPECT_EQ(r->nulls[0][c], c >= 16) << r->columns[c];
  }
  EXPECT_EQ(r->column_types[1], "INTEGER");
  EXPECT_EQ(r->column_types[0], "VARCHAR");
  // A generated UUID (the reported crash) and rows over many chunks, in the query's order.
  r = (*engine)->Query("SELECT uuid() AS a, 1 AS b");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows[0][0].size(), 36u);
  EXPECT_EQ(r->rows[0][1], "1");
  r = (*engine)->Query("SELECT i, [i] AS l FROM range(10000) t(i) ORDER BY i DESC");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 10000u);
  for (size_t i = 0; i < r->rows.size(); ++i) {
    ASSERT_EQ(r->rows[i][0], std::to_string(9999 - i));
    ASSERT_EQ(r->rows[i][1], "[" + std::to_string(9999 - i) + "]");
  }
  // Statements without rows, and several statements (the last one's result).
  r = (*engine)->Query("CREATE TABLE t2 (a INTEGER)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  r = (*engine)->Query("INSERT INTO t2 VALUES (1), (2); SELECT list(a ORDER BY a) FROM t2");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows[0][0], "[1, 2]");
}

// A user's query reaches the engine's tables and nothing else (sql/query_reach.h): not the
// engine's description (PRAGMA, catalogue and settings functions and views, DESCRIBE), not a
// table function that runs other SQL, and not a catalogue view through a WITH query of its
// name that reads itself (the self-reference named the catalogue's view).
TEST(SqlEngineTest, UserQueriesReachTheirTablesAndNothingElse) {
  auto engine = SqlEngine::Open();
  ASSERT_TRUE(engine.ok());
  auto writer = (*engine)->CreateTable("Obs", {{"id", ColumnType::kVarchar}});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->AppendJsonRow({"\"o1\""}).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  ASSERT_TRUE((*engine)->Seal().ok());
  for (const char* query :
       {"PRAGMA version",
        "PRAGMA platform",
        "PRAGMA database_list",
        "PRAGMA show_tables",
        "PRAGMA table_info('obs')",
        "PRAGMA enable_profiling",
        "CALL pragma_version()",
        "EXPLAIN SELECT 1",
        "SELECT * FROM duckdb_settings()",
        "FROM duckdb_tables()",
        "SELECT * FROM duckdb_databases()",
        "SELECT * FROM main.duckdb_extensions()",
        "SELECT * FROM pragma_version()",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM duckdb_tables",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM pg_catalog.pg_tables",
        "FROM sqlite_master",
        "SHOW TABLES",
        "DESCRIBE obs",
        "SUMMARIZE obs",
        "SELECT current_setting('threads')",
        "SELECT version()",
        "SELECT pg_get_viewdef(1)",
        "SELECT has_table_privilege('obs', 'x')",
        "SELECT (SELECT count(*) FROM duckdb_functions()) AS n",
        "SELECT id FROM obs WHERE id IN (SELECT table_name FROM duckdb_tables())",
        "WITH duckdb_tables AS (SELECT * FROM duckdb_tables) SELECT * FROM duckdb_tables",
        "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",
        "WITH RECURSIVE duckdb_tables(n) AS (SELECT count(*) FROM duckdb_tables UNION ALL "
        "SELECT n + 1 FROM duckdb_tables WHERE n < 3) SELECT * FROM duckdb_tables",
        "SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x), x"}) {
    Status s = (*engine)->CheckUserQuery(query);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << query << ": " << s.ToString();
  }
  for (const char* query :
       {"SELECT count(*) FROM obs", "FROM OBS SELECT id", "SELECT count(*) FROM main.obs",
        "SELECT count(*) FROM memory.main.obs",
        "WITH a AS (SELECT * FROM obs), b AS (SELECT * FROM a) SELECT count(*) FROM b",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
        "SELECT sum(n) FROM r",
        "VALUES (1), (2)", "SELECT count(*) FROM range(3), unnest([1, 2])",
        "SELECT count(*) FROM generate_series(1, 3), json_each('[1]')",
        "SELECT * FROM (PIVOT obs ON id IN ('o1') USING count(*))",
        "SELECT id FROM obs WHERE id IN (SELECT id FROM obs) UNION SELECT 'x'",
        "SELECT upper(id), now() IS NOT NULL FROM obs"}) {
    Status s = (*engine)->CheckUserQuery(query);
    EXPECT_TRUE(s.ok()) << query << ": " << s.ToString();
    EXPECT_TRUE((*engine)->Query(query).ok()) << query;
  }
}

}  // namespace
}  // namespace medlake::sql
