#include "medlake/status.h"

#include <gtest/gtest.h>

namespace medlake {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return InvalidArgument("odd value");
  return v / 2;
}

Result<int> Quarter(int v) {
  MEDLAKE_ASSIGN_OR_RETURN(int h, Half(v));
  return Half(h);
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = Corruption("seg-1.mls block 3: checksum mismatch");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "corruption: seg-1.mls block 3: checksum mismatch");
  EXPECT_EQ(InfoFor(ErrorCode::kNotFound).http_status, 404);
  EXPECT_EQ(InfoFor(ErrorCode::kUnauthenticated).fhir_issue, "login");
  EXPECT_EQ(InfoFor(ErrorCode::kBusy).exit_code, 75);  // sysexits.h EX_TEMPFAIL
  EXPECT_EQ(InfoFor(ErrorCode::kBusy).fhir_issue, "lock-error");
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace medlake
