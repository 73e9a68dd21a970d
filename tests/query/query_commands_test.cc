// The view, sql and load-postgres commands, run as a user runs them.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>

#include "ingest/ingest.h"
#include "postgres_server.h"
#include "test_util.h"

namespace medlake {
namespace {

struct Output {
  int status;
  std::string out;
};

Output RunMedlake(const std::string& args) {
  std::string cmd = std::string(MEDLAKE_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (p && fgets(buf.data(), buf.size(), p)) out += buf.data();
  int rc = p ? pclose(p) : -1;
  return {WEXITSTATUS(rc), out};
}

class QueryCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string lines;
    for (int i = 0; i < 50; ++i) {
      lines += R"({"resourceType":"Observation","id":"o)" + std::to_string(i) +
               R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":")" +
               (i % 2 ? "8867-4" : "9279-1") + R"("}]},"subject":{"reference":"Patient/p)" +
               std::to_string(i % 5) +
               R"("},"effectiveDateTime":"2024-01-01T10:00:00Z","valueQuantity":{"value":)" +
               std::to_string(60 + i) + "}}\n";
    }
    testing::WriteText(dir_ / "in/obs.ndjson", lines);
    ASSERT_TRUE(ingest::Ingest(dir_ / "lake", {dir_ / "in"}, ingest::IngestOptions{}).ok());
    testing::WriteText(
        dir_ / "obs.json",
        R"v({"resourceType":"ViewDefinition","name":"obs","status":"active","resource":"Observation",
      "select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"code","path":"code.coding.code.first()"},
      {"name":"value","path":"value.ofType(Quantity).value","type":"decimal"},{"name":"missing","path":"issued"}]}]})v");
  }
  testing::TempDir dir_;
};

TEST_F(QueryCommandsTest, ViewAsNdjsonKeepsColumnOrderAndNulls) {
  auto r =
      RunMedlake("view " + (dir_ / "obs.json") + " --lake " + (dir_ / "lake") + " --format ndjson");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(R"({"id":"o3","code":"8867-4","value":63,"missing":null})"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 50);
}

// Output that cannot be written (a full disk: /dev/full) fails the command; before, status,
// view and sql exited 0 with a cut or empty output.
TEST_F(QueryCommandsTest, AnUnwritableStandardOutputFailsTheCommand) {
  const std::string lake = " --lake " + (dir_ / "lake");
  for (const std::string& command :
       {"status --json" + lake, "view " + (dir_ / "obs.json") + lake,
        "sql" + lake + " --view obs=" + (dir_ / "obs.json") + " \"SELECT count(*) FROM obs\""}) {
    EXPECT_EQ(RunMedlake(command).status, 0) << command;
    EXPECT_EQ(RunMedlake(command + " >/dev/full").status, 7) << command;
  }
}

// An export that runs out of disk leaves nothing under the names ingest reads: before, cut
// Type.ndjson files stayed and ingested as a smaller lake. A new output folder is written as a
// staging folder next to it: neither is left. (A 64 KiB tmpfs; needs root.)
TEST_F(QueryCommandsTest, AnExportThatRunsOutOfDiskLeavesNoFile) {
  const std::string small = dir_ / "small";
  std::filesystem::create_directories(small);
  testing::ScopedTmpfs disk(small, "64k");
  if (!disk.ok()) GTEST_SKIP() << "needs root to mount a small tmpfs";
  std::string lines;
  for (int i = 0; i < 2000; ++i) {
    lines += R"({"resourceType":"Observation","id":"big)" + std::to_string(i) +
             R"(","status":"final","code":{"text":")" + std::string(100, 'x') + "\"}}\n";
  }
  testing::WriteText(dir_ / "in2/obs.ndjson", lines);
  ASSERT_TRUE(ingest::Ingest(dir_ / "lake", {dir_ / "in2"}, ingest::IngestOptions{}).ok());
  auto r = RunMedlake("export --lake " + (dir_ / "lake") + " --out " + small + "/exp");
  EXPECT_EQ(r.status, 7) << r.out;
  EXPECT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  size_t left = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(small)) {
    ++left;
    ADD_FAILURE() << "left behind: " << e.path();
  }
  EXPECT_EQ(left, 0u);
  // Into a folder that holds a file already, the files are written in place: none is left.
  testing::WriteText(small + "/held/notes.txt", "x");
  r = RunMedlake("export --lake " + (dir_ / "lake") + " --out " + small + "/held");
  EXPECT_EQ(r.status, 7) << r.out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(small)) {
    if (e.path().filename() != "notes.txt" && !e.is_directory()) {
      ADD_FAILURE() << "left behind: " << e.path();
    }
  }
}

// Numbers out of their range are refused on the command line (exit 2, the option named):
// a negative --max-suppression withheld every row it liked, --k-anonymity 0 blamed --quasi,
// and negative thread counts and limits passed silently.
TEST_F(QueryCommandsTest, OutOfRangeOptionsAreRefused) {
  const std::string lake = " --lake " + (dir_ / "lake");
  const std::string view = "view " + (dir_ / "obs.json") + lake;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {view + " --k-anonymity 5 --quasi code=sex --max-suppression -0.5", "--max-suppression"},
      {view + " --k-anonymity 5 --quasi code=sex --max-suppression nan", "--max-suppression"},
      {view + " --k-anonymity 5 --quasi code=sex --max-suppression 1", "--max-suppression"},
      {view + " --k-anonymity 0 --quasi code=sex", "--k-anonymity"},
      {view + " --jobs -2", "--jobs"},
      {"ingest" + lake + " --jobs -3 " + (dir_ / "in"), "--jobs"},
      {"ingest" + lake + " --checkpoint-mb 0 " + (dir_ / "in"), "--checkpoint-mb"},
      {"quarantine" + lake + " --limit -1", "--limit"},
      {"cohort x.json" + lake + " --threads -5", "--threads"},
      {"audit list" + lake + " --from -3", "--from"}};
  for (const auto& [command, option] : cases) {
    auto r = RunMedlake(command);
    EXPECT_EQ(r.status, 2) << command << "\n" << r.out;
    EXPECT_NE(r.out.find(option), std::string::npos) << command << "\n" << r.out;
  }
}

// Inputs: a lake or files, not both (the files were ignored); --type filters files too;
// gzipped files are named as such (they failed as invalid JSON); a replay file that does not
// exist is not_found, before any lake is created.
TEST_F(QueryCommandsTest, InputsAreOneKindAndSayWhatTheyCannotRead) {
  const std::string lake = " --lake " + (dir_ / "lake");
  const std::string file = " " + (dir_ / "in/obs.ndjson");
  auto view = RunMedlake("view " + (dir_ / "obs.json") + lake + file);
  EXPECT_EQ(view.status, 2) << view.out;
  EXPECT_EQ(view.out.find("id,code"), std::string::npos) << "no header before the error";
  EXPECT_EQ(RunMedlake("fhirpath id" + lake + file).status, 2);
  EXPECT_EQ(RunMedlake("fhirpath id").status, 2);
  auto typed = RunMedlake("fhirpath id --type Patient" + file);
  EXPECT_EQ(typed.status, 0) << typed.out;
  EXPECT_EQ(typed.out, "") << "no Patient in the file";
  ASSERT_EQ(std::system(("gzip -kc" + file + " > " + (dir_ / "obs.ndjson.gz")).c_str()), 0);
  auto gz = RunMedlake("fhirpath id " + (dir_ / "obs.ndjson.gz"));
  EXPECT_EQ(gz.status, 8) << gz.out;
  EXPECT_NE(gz.out.find("gzip-compressed"), std::string::npos) << gz.out;
  auto replay = RunMedlake("watch --lake " + (dir_ / "new_lake") + " --replay " +
                           (dir_ / "none.ndjson") + " --alerts " + (dir_ / "alerts.ndjson"));
  EXPECT_EQ(replay.status, 4) << replay.out;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "new_lake"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "alerts.ndjson"));
}

TEST_F(QueryCommandsTest, ViewOverFilesAsCsv) {
  auto r =
      RunMedlake("view " + (dir_ / "obs.json") + " " + (dir_ / "in/obs.ndjson") + " --format csv");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "id,code,value,missing");
  EXPECT_NE(r.out.find("\no0,9279-1,60,\n"), std::string::npos);
}

TEST_F(QueryCommandsTest, InvalidViewExitsWithTheReason) {
  testing::WriteText(
      dir_ / "bad.json",
      R"v({"resourceType":"ViewDefinition","status":"active","resource":"Observation","select":[{"column":[{"path":"id"}]}]})v");
  auto r = RunMedlake("view " + (dir_ / "bad.json") + " --lake " + (dir_ / "lake"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("bad.json"), std::string::npos) << r.out;
}

TEST_F(QueryCommandsTest, SqlOverNamedViews) {
  auto r = RunMedlake("sql --lake " + (dir_ / "lake") + " --view obs=" + (dir_ / "obs.json") +
                      " --format json \"SELECT code, count(*) AS n, sum(value) AS total FROM obs "
                      "GROUP BY code ORDER BY code\"");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(R"({"code":"8867-4","n":25,"total":2125.0})"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"({"code":"9279-1","n":25,"total":2100.0})"), std::string::npos) << r.out;
}

// --view and --quasi take one value per occurrence: `--view p=F "SELECT ..." --format csv` made
// the query a second view ("query is required"), and `--quasi COL=KIND FILE` took the file.
TEST_F(QueryCommandsTest, RepeatableOptionsTakeOneValueEach) {
  const std::string lake = " --lake " + (dir_ / "lake");
  const std::string obs = " --view obs=" + (dir_ / "obs.json");
  auto after = RunMedlake("sql" + lake + obs + " \"SELECT count(*) AS n FROM obs\" --format csv");
  ASSERT_EQ(after.status, 0) << after.out;
  EXPECT_EQ(after.out, "n\n50\n");
  auto two = RunMedlake("sql" + lake + obs + " --view o2=" + (dir_ / "obs.json") +
                        " \"SELECT count(*) AS n FROM obs JOIN o2 USING (id)\" --format json");
  ASSERT_EQ(two.status, 0) << two.out;
  EXPECT_EQ(two.out, "{\"n\":50}\n");
  // Several values after one --view are refused, not read as views.
  auto listed = RunMedlake("sql" + lake + obs + " o2=" + (dir_ / "obs.json") +
                           " \"SELECT count(*) AS n FROM obs\"");
  EXPECT_EQ(listed.status, 2) << listed.out;
  // A view without its table name says what --view takes.
  auto unnamed =
      RunMedlake("sql" + lake + " --view " + (dir_ / "obs.json") + " \"SELECT 1 AS one\"");
  EXPECT_EQ(unnamed.status, 2) << unnamed.out;
  EXPECT_NE(unnamed.out.find("--view takes NAME=VIEW.json"), std::string::npos) << unnamed.out;
  EXPECT_NE(unnamed.out.find("once per view"), std::string::npos) << unnamed.out;
  auto kanon = RunMedlake("view " + (dir_ / "obs.json") + " --k-anonymity 2 --quasi code=sex " +
                          (dir_ / "in/obs.ndjson") + " --format csv");
  ASSERT_EQ(kanon.status, 0) << kanon.out;
  EXPECT_NE(kanon.out.find("k-anonymity (k=2)"), std::string::npos) << kanon.out;
}

// A collection column is a JSON array in `sql --format json`, as in `view --format ndjson`
// (it was a string holding the array's text); an unknown --format is refused.
TEST_F(QueryCommandsTest, SqlJsonWritesCollectionsAsArraysAndRefusesUnknownFormats) {
  testing::WriteText(
      dir_ / "codes.json",
      R"v({"resourceType":"ViewDefinition","name":"codes","status":"active","resource":"Observation",
      "select":[{"column":[{"name":"id","path":"id"},{"name":"codes","path":"code.coding.code","collection":true}]}]})v");
  auto r = RunMedlake("sql --lake " + (dir_ / "lake") + " --view c=" + (dir_ / "codes.json") +
                      " --format json \"SELECT codes FROM c WHERE id = 'o3'\"");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "{\"codes\":[\"8867-4\"]}\n");
  auto bad = RunMedlake("sql --lake " + (dir_ / "lake") + " --format xml \"SELECT 1\"");
  EXPECT_EQ(bad.status, 2) << bad.out;
}

// A query reaches the views' tables and nothing else: DuckDB's file functions read any file
// the process could (a researcher read the lake key with read_text), COPY wrote files, and a
// setting could turn that back on.
TEST_F(QueryCommandsTest, SqlReachesNoFileNorSetting) {
  testing::WriteText(dir_ / "secret.txt", "s3cr3t-value\n");
  const std::string secret = (dir_ / "secret.txt");
  for (const std::string& query :
       {"SELECT content FROM read_text('" + secret + "')",
        "SELECT * FROM read_csv('" + secret + "')",
        "COPY (SELECT 1) TO '" + (dir_ / "written.csv") + "'",
        "SET enable_external_access = true; SELECT content FROM read_text('" + secret + "')",
        "ATTACH '" + (dir_ / "other.db") + "' AS o", std::string("INSTALL httpfs")}) {
    auto r = RunMedlake("sql --lake " + (dir_ / "lake") + " \"" + query + "\"");
    EXPECT_NE(r.status, 0) << query << "\n" << r.out;
    EXPECT_EQ(r.out.find("s3cr3t"), std::string::npos) << query << "\n" << r.out;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "written.csv"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "other.db"));
  // One SELECT only: a PRAGMA printed every operator's row count past disclosure control,
  // EXPLAIN ANALYZE gave them as its result, a CALL aborted the process (a review).
  const std::string obs = " --view obs=" + (dir_ / "obs.json");
  for (const std::string& query :
       {std::string("PRAGMA enable_profiling; SELECT count(*) FROM obs"),
        std::string("EXPLAIN ANALYZE SELECT count(*) FROM obs"),
        std::string("CALL enable_logging(level='debug')"), std::string("SELECT 1; SELECT 2"),
        std::string("CREATE TABLE t AS SELECT 1")}) {
    auto r = RunMedlake("sql --lake " + (dir_ / "lake") + obs + " \"" + query + "\"");
    EXPECT_EQ(r.status, 2) << query << "\n" << r.out;  // invalid_argument
    EXPECT_NE(r.out.find("SELECT"), std::string::npos) << query << "\n" << r.out;
    EXPECT_EQ(r.out.find("rows"), std::string::npos) << query << "\n" << r.out;
  }
  // Nor the engine's own description: PRAGMA of every kind and the catalogue's functions and
  // tables ran and printed the version, platform, databases, tables and settings (an audit).
  for (const std::string& query :
       {std::string("PRAGMA version"), std::string("PRAGMA platform"),
        std::string("PRAGMA database_list"), std::string("PRAGMA show_tables"),
        std::string("PRAGMA table_info('obs')"), std::string("SELECT * FROM duckdb_settings()"),
        std::string("SELECT * FROM duckdb_tables()"), std::string("SELECT * FROM duckdb_tables"),
        std::string("SELECT * FROM duckdb_databases()"),
        std::string("SELECT * FROM duckdb_extensions()"),
        std::string("SELECT * FROM information_schema.tables"), std::string("SHOW TABLES"),
        std::string("SELECT current_setting('threads') AS t")}) {
    auto r = RunMedlake("sql --lake " + (dir_ / "lake") + obs + " --format csv \"" + query + "\"");
    EXPECT_EQ(r.status, 2) << query << "\n" << r.out;  // invalid_argument
    EXPECT_EQ(r.out.find("v1."), std::string::npos) << query << "\n" << r.out;
    EXPECT_EQ(r.out.find("linux"), std::string::npos) << query << "\n" << r.out;
    EXPECT_EQ(r.out.find("memory"), std::string::npos) << query << "\n" << r.out;
  }
  auto with = RunMedlake("sql --lake " + (dir_ / "lake") + obs +
                         " \"WITH o AS (SELECT * FROM obs) FROM o SELECT count(*) AS n\"");
  EXPECT_EQ(with.status, 0) << with.out;
  // In-memory SQL still runs.
  auto ok = RunMedlake("sql --lake " + (dir_ / "lake") + " --view obs=" + (dir_ / "obs.json") +
                       " --format csv \"SELECT count(*) AS n FROM obs\"");
  EXPECT_EQ(ok.status, 0) << ok.out;
}

// sql --format json: a value beyond 64-bit signed (a hash) aborted the command; a repeated
// column name kept only the last column.
TEST_F(QueryCommandsTest, SqlJsonKeepsWideIntegersAndRepeatedColumns) {
  auto r = RunMedlake("sql --lake " + (dir_ / "lake") +
                      " --format json \"SELECT hash('a') AS h, 1 AS s, 2 AS s\"");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "{\"h\":12561829011207016135,\"s\":1,\"s_2\":2}\n");
}

// The shipped patients view gave two values for deceasedBoolean true (true | false).
TEST_F(QueryCommandsTest, ThePatientsViewReadsEveryFormOfDeceased) {
  testing::WriteText(dir_ / "p.ndjson",
                     std::string(R"({"resourceType":"Patient","id":"a","deceasedBoolean":true})") +
                         "\n" + R"({"resourceType":"Patient","id":"b","deceasedDateTime":"2020"})" +
                         "\n" + R"({"resourceType":"Patient","id":"c"})" + "\n");
  auto r = RunMedlake("view " + std::string(MEDLAKE_SOURCE_DIR) + "/views/patients.json " +
                      (dir_ / "p.ndjson") + " --format csv");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\na,,,true,,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nb,,,true,2020,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nc,,,false,,"), std::string::npos) << r.out;
}

TEST_F(QueryCommandsTest, ParquetOutput) {
  auto r = RunMedlake("view " + (dir_ / "obs.json") + " --lake " + (dir_ / "lake") +
                      " --format parquet --out " + (dir_ / "obs.parquet"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "obs.parquet"));
  // Owner-only whatever the umask, as every output of patient data (DuckDB writes it).
  EXPECT_EQ(std::filesystem::status(dir_ / "obs.parquet").permissions(),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto csv = RunMedlake("view " + (dir_ / "obs.json") + " --lake " + (dir_ / "lake") + " --out " +
                        (dir_ / "obs.csv"));
  ASSERT_EQ(csv.status, 0) << csv.out;
  EXPECT_EQ(std::filesystem::status(dir_ / "obs.csv").permissions(),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST_F(QueryCommandsTest, FhirPathOverTheLake) {
  auto r = RunMedlake("fhirpath \"value.ofType(Quantity).value\" --lake " + (dir_ / "lake") +
                      " --type Observation");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 50);
  EXPECT_NE(r.out.find(R"({"resource":"Observation/o7","result":[67]})"), std::string::npos)
      << r.out;
  auto bad = RunMedlake("fhirpath \"value.where(\" --lake " + (dir_ / "lake"));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("column"), std::string::npos) << bad.out;
}

// Decimals read from a lake keep the precision they were written with, as read from files.
TEST_F(QueryCommandsTest, DecimalsFromTheLakeKeepTheirPrecision) {
  testing::WriteText(dir_ / "dec/obs.ndjson",
                     R"({"resourceType":"Observation","id":"d1","status":"final",)"
                     R"("code":{"text":"x"},"valueQuantity":{"value":72.50}})"
                     "\n");
  ASSERT_TRUE(ingest::Ingest(dir_ / "declake", {dir_ / "dec"}, ingest::IngestOptions{}).ok());
  auto fp = RunMedlake("fhirpath \"value.value.toString()\" --lake " + (dir_ / "declake") +
                       " --type Observation");
  ASSERT_EQ(fp.status, 0) << fp.out;
  EXPECT_NE(fp.out.find(R"("72.50")"), std::string::npos) << fp.out;
  auto precision = RunMedlake("fhirpath \"value.value.precision()\" --lake " + (dir_ / "declake") +
                              " --type Observation");
  EXPECT_NE(precision.out.find("[2]"), std::string::npos) << precision.out;
}

// Rows missing from a result make the command fail, after it printed what it could: a view
// that cannot be evaluated on some resources (exit 2) and a damaged segment (exit 6), for view
// and sql alike (sql printed the partial count with exit 0).
TEST_F(QueryCommandsTest, MissingRowsMakeTheCommandFail) {
  testing::WriteText(
      dir_ / "multi.json",
      R"v({"resourceType":"ViewDefinition","name":"m","status":"active","resource":"Observation",
      "select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"code","path":"code.coding.code"}]}]})v");
  testing::WriteText(dir_ / "two/obs.ndjson",
                     R"({"resourceType":"Observation","id":"one","status":"final",)"
                     R"("code":{"coding":[{"code":"a"}]}})"
                     "\n"
                     R"({"resourceType":"Observation","id":"two","status":"final",)"
                     R"("code":{"coding":[{"code":"a"},{"code":"b"}]}})"
                     "\n");
  ASSERT_TRUE(ingest::Ingest(dir_ / "twolake", {dir_ / "two"}, ingest::IngestOptions{}).ok());
  auto view = RunMedlake("view " + (dir_ / "multi.json") + " --lake " + (dir_ / "twolake"));
  EXPECT_EQ(view.status, 2) << view.out;
  EXPECT_NE(view.out.find("one,a"), std::string::npos) << view.out;
  auto sql = RunMedlake("sql --lake " + (dir_ / "twolake") + " --view m=" + (dir_ / "multi.json") +
                        " \"SELECT count(*) AS n FROM m\"");
  EXPECT_EQ(sql.status, 2) << sql.out;

  // A flipped byte in the lake's data: view and sql name the file and exit 6.
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir_ / "lake/segments")) {
    if (f.path().extension() != ".mls") continue;
    std::string bytes = testing::ReadText(f.path());
    bytes[20] ^= 0x01;
    testing::WriteText(f.path(), bytes);
    break;
  }
  auto damaged = RunMedlake("sql --lake " + (dir_ / "lake") + " --view obs=" + (dir_ / "obs.json") +
                            " \"SELECT count(*) FROM obs\"");
  EXPECT_EQ(damaged.status, 6) << damaged.out;
  EXPECT_NE(damaged.out.find(".mls"), std::string::npos) << damaged.out;
  // The cohort reads the hot columns only: damage to the segment's footer (the last byte
  // before the 32-byte trailer) hides its rows from it.
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir_ / "lake/segments")) {
    if (f.path().extension() != ".mls") continue;
    std::string bytes = testing::ReadText(f.path());
    bytes[bytes.size() - 33] ^= 0x01;
    testing::WriteText(f.path(), bytes);
    break;
  }
  auto cohort = RunMedlake("cohort " + std::string(MEDLAKE_SOURCE_DIR) +
                           "/examples/cohorts/t2dm_trial.json --lake " + (dir_ / "lake"));
  EXPECT_EQ(cohort.status, 6) << cohort.out;
}

TEST_F(QueryCommandsTest, LoadPostgres) {
  testing::PostgresServer server;
  MEDLAKE_START_OR_SKIP(server);
  auto r = RunMedlake("load-postgres --lake " + (dir_ / "lake") + " --url " + server.Url() +
                      " --view obs=" + (dir_ / "obs.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("obs: 50 rows"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace medlake
