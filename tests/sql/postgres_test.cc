// Loads tables into a real PostgreSQL server that the test starts on loopback.
#include "sql/postgres.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "test_util.h"

namespace medlake::sql {
namespace {

namespace fs = std::filesystem;

std::string PgBin() {
  for (const char* v : {"17", "16", "15", "14", "13"}) {
    std::string dir = std::string("/usr/lib/postgresql/") + v + "/bin";
    if (fs::exists(dir + "/pg_ctl")) return dir;
  }
  return "";
}

// A throwaway PostgreSQL cluster on 127.0.0.1; as root it runs as the postgres user (initdb
// refuses root).
class PostgresServer {
 public:
  bool Start() {
    bin_ = PgBin();
    if (bin_.empty()) return false;
    dir_ = (fs::temp_directory_path() / ("medlake-pg-" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    port_ = 20000 + ::getpid() % 20000;
    if (::geteuid() == 0) {
      struct passwd* pw = ::getpwnam("postgres");
      if (!pw) return false;
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) return false;
      as_ = "runuser -u postgres -- ";
    }
    if (!Run(bin_ + "/initdb -D " + dir_ + "/data -A trust -U postgres > " + dir_ + "/initdb.log 2>&1")) return false;
    std::string opts = "-p " + std::to_string(port_) + " -k " + dir_ + " -c listen_addresses=127.0.0.1";
    started_ = Run(bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/server.log -w -o '" + opts + "' start > /dev/null 2>&1");
    return started_;
  }
  ~PostgresServer() {
    if (started_) Run(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate stop > /dev/null 2>&1");
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string Url() const { return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres"; }

 private:
  bool Run(const std::string& cmd) { return std::system((as_ + cmd).c_str()) == 0; }
  std::string bin_, dir_, as_;
  int port_ = 0;
  bool started_ = false;
};

TEST(PostgresTest, CreatesTypedTablesAndCopiesRows) {
  PostgresServer server;
  if (!server.Start()) GTEST_SKIP() << "PostgreSQL server binaries not available (scripts/setup.sh installs them)";
  auto loader = PostgresLoader::Connect(server.Url());
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  std::vector<ColumnSpec> cols = {{"id", ColumnType::kVarchar}, {"value", ColumnType::kDouble},
                                  {"n", ColumnType::kBigint},   {"ok", ColumnType::kBoolean},
                                  {"codes", ColumnType::kJson}};
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < 1000; ++i) {
    rows.push_back({"\"id\\t" + std::to_string(i) + "\"", std::to_string(i) + ".5", std::to_string(i),
                    i % 2 ? "true" : "false", i % 3 ? "[\"a\"]" : "null"});
  }
  auto n = (*loader)->Load("obs", cols, rows);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1000u);
  EXPECT_EQ(*(*loader)->QueryValue("SELECT count(*) FROM obs"), "1000");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT sum(n) FROM obs"), "499500");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT count(*) FROM obs WHERE ok"), "500");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT count(*) FROM obs WHERE codes IS NULL"), "334");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT id FROM obs WHERE n = 7"), "id\t7");
  EXPECT_EQ(*(*loader)->QueryValue("SELECT data_type FROM information_schema.columns WHERE table_name='obs' AND column_name='value'"),
            "double precision");
  // Loading again replaces the table.
  ASSERT_TRUE((*loader)->Load("obs", cols, {rows[0]}).ok());
  EXPECT_EQ(*(*loader)->QueryValue("SELECT count(*) FROM obs"), "1");
}

TEST(PostgresTest, ConnectionErrorIsAValue) {
  auto loader = PostgresLoader::Connect("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(loader.ok());
  EXPECT_EQ(loader.status().code(), ErrorCode::kIoError);
}

}  // namespace
}  // namespace medlake::sql
