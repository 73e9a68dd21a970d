// The privacy commands of the medlake binary, end to end.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "test_util.h"

namespace medlake::privacy {
namespace {

using testing::CliRun;

CliRun Medlake(const std::string& args, const std::string& env = "") {
  return testing::RunMedlake(args, env);
}

std::string TokenIn(const std::string& out) {
  size_t at = out.find("mlk_");
  return at == std::string::npos ? "" : out.substr(at, out.find('\n', at) - at);
}

// An init killed before its audit log took its first entry left keys that made every command
// refuse the folder, init included (a review: 15 of 25 kills). The next init begins again; one
// that finished, or a lake holding data, is still refused.
TEST(PrivacyCliTest, AnInitThatDidNotFinishBeginsAgain) {
  if (!std::filesystem::exists(MEDLAKE_BINARY)) GTEST_SKIP() << "medlake binary not built";
  testing::TempDir dir;
  const std::string lake = dir / "lake";
  ASSERT_EQ(Medlake("init --lake " + lake).exit_code, 0);
  // Where a kill leaves it: the keys written, the principals and the log not yet (or empty).
  std::filesystem::remove(lake + "/audit.sqlite");
  std::filesystem::remove(lake + "/principals.sqlite");
  CliRun again = Medlake("init --lake " + lake);
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_NE(again.out.find("did not finish"), std::string::npos) << again.out;
  const std::string admin = TokenIn(again.out);
  ASSERT_FALSE(admin.empty());
  testing::WriteText(dir / "in/p.ndjson", R"({"resourceType":"Patient","id":"p1"})"
                                          "\n");
  CliRun ingested = Medlake("ingest --lake " + lake + " " + (dir / "in") + " --token " + admin);
  EXPECT_EQ(ingested.exit_code, 0) << ingested.out;
  EXPECT_EQ(Medlake("audit verify --lake " + lake + " --token " + admin).exit_code, 0);
  // A log gone while users were added is no unfinished init: refused (bob's token stays).
  {
    const std::string other = dir / "other";
    CliRun first = Medlake("init --lake " + other);
    ASSERT_EQ(first.exit_code, 0) << first.out;
    ASSERT_EQ(
        Medlake("user add bob --role researcher --lake " + other + " --token " + TokenIn(first.out))
            .exit_code,
        0);
    std::filesystem::remove(other + "/audit.sqlite");
    EXPECT_NE(Medlake("init --lake " + other).exit_code, 0);
  }
  // Finished, and now holding data: refused, the keys kept.
  EXPECT_NE(Medlake("init --lake " + lake).exit_code, 0);
  std::filesystem::remove(lake + "/audit.sqlite");
  CliRun refused = Medlake("init --lake " + lake);
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  EXPECT_TRUE(std::filesystem::exists(lake + "/keys/key.check"));
}

TEST(PrivacyCliTest, InitUsersAuditAndRekey) {
  if (!std::filesystem::exists(MEDLAKE_BINARY)) GTEST_SKIP() << "medlake binary not built";
  testing::TempDir dir;
  std::string lake = dir / "lake";
  CliRun init = Medlake("init --lake " + lake);
  ASSERT_EQ(init.exit_code, 0) << init.out;
  std::string admin = TokenIn(init.out);
  ASSERT_FALSE(admin.empty()) << init.out;
  EXPECT_NE(Medlake("init --lake " + lake).exit_code, 0);

  CliRun add = Medlake("user add rita --role researcher --lake " + lake + " --token " + admin);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  std::string researcher = TokenIn(add.out);
  CliRun denied = Medlake("user add x --role admin --lake " + lake + " --token " + researcher);
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.out.find("permission_denied"), std::string::npos) << denied.out;
  CliRun bad = Medlake("audit list --lake " + lake + " --token mlk_nope.nope");
  EXPECT_NE(bad.out.find("unauthenticated"), std::string::npos) << bad.out;

  CliRun verify = Medlake("audit verify --lake " + lake);
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_NE(verify.out.find("chain intact"), std::string::npos);
  CliRun list = Medlake("audit list --json --lake " + lake);
  EXPECT_EQ(list.exit_code, 0) << list.out;
  EXPECT_NE(list.out.find("\"action\":\"denied\""), std::string::npos) << list.out;

  CliRun rekey = Medlake("rekey --lake " + lake);
  EXPECT_EQ(rekey.exit_code, 0) << rekey.out;
  EXPECT_EQ(Medlake("audit verify --lake " + lake + " --token " + admin).exit_code, 0);

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((lake + "/audit.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "UPDATE entry SET principal = 'x' WHERE idx = 2", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  CliRun broken = Medlake("audit verify --lake " + lake);
  EXPECT_NE(broken.exit_code, 0);
  EXPECT_NE(broken.out.find("chain broken at entry 2"), std::string::npos) << broken.out;

  std::filesystem::remove(lake + "/keys/lake.key");
  CliRun nokey = Medlake("audit verify --lake " + lake);
  EXPECT_NE(nokey.out.find("no lake key"), std::string::npos) << nokey.out;
}

}  // namespace
}  // namespace medlake::privacy
