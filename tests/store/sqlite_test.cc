#include "store/sqlite.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace medlake::store {
namespace {

// A value SQLite refuses to bind (here a parameter index out of range; in ingest a record over
// SQLite's length limit) fails the statement instead of running it with a NULL, and once
// reported the statement runs again with good values.
TEST(SqliteTest, AFailedBindFailsTheStatement) {
  testing::TempDir dir;
  auto db = Db::Open(dir / "t.sqlite", true, false);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t(a INTEGER NOT NULL)").ok());
  auto insert = (*db)->Prepare("INSERT INTO t VALUES(?)");
  ASSERT_TRUE(insert.ok());
  Status bad = insert->Bind(1, int64_t{1}).Bind(2, int64_t{2}).Run();
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(insert->Bind(1, int64_t{3}).Run().ok());
  auto count = (*db)->Prepare("SELECT count(*), sum(a) FROM t");
  ASSERT_TRUE(count.ok());
  ASSERT_TRUE(*count->Step());
  EXPECT_EQ(count->Int(0), 1);
  EXPECT_EQ(count->Int(1), 3);
}

}  // namespace
}  // namespace medlake::store
