#include "common/fhir_time.h"

#include <gtest/gtest.h>

namespace medlake {
namespace {

TEST(FhirTimeTest, PartialDatesCoverRanges) {
  auto y = ParseFhirTime("2020");
  ASSERT_TRUE(y);
  EXPECT_EQ(FormatUtc(y->start), "2020-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatUtc(y->end), "2020-12-31T23:59:59.999Z");
  auto m = ParseFhirTime("2020-02");
  ASSERT_TRUE(m);
  EXPECT_EQ(FormatUtc(m->end), "2020-02-29T23:59:59.999Z");  // leap year
  auto d = ParseFhirTime("1969-12-31");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->start, -86'400'000);
}

TEST(FhirTimeTest, DateTimesWithOffsets) {
  auto t = ParseFhirTime("2015-02-07T13:28:17.239+02:00");
  ASSERT_TRUE(t);
  EXPECT_EQ(FormatUtc(t->start), "2015-02-07T11:28:17.239Z");
  EXPECT_EQ(t->start, t->end);
  auto z = ParseFhirTime("2017-01-01T00:00:00Z");
  ASSERT_TRUE(z);
  EXPECT_EQ(FormatUtc(z->start), "2017-01-01T00:00:00.000Z");
}

// meta.lastUpdated, Bundle.timestamp, response.lastModified: a time of day, or nothing.
TEST(FhirTimeTest, InstantsHaveATimeOfDay) {
  EXPECT_EQ(ParseFhirInstant("2015-02-07T13:28:17.239+02:00"),
            ParseFhirTime("2015-02-07T11:28:17.239Z")->start);
  for (const char* not_instant : {"2024", "2024-06-01", "2024-06-01T10:00:00+0000", "June", ""}) {
    EXPECT_FALSE(ParseFhirInstant(not_instant)) << not_instant;
  }
}

TEST(FhirTimeTest, RejectsMalformed) {
  for (const char* bad : {"", "20", "2020-13", "2020-02-30", "2020-1-05", "2020-01-01T10:00",
                          "2020-01-01T10:00:00+2", "2020-01-01 10:00:00", "2020-01-01T10:00:00.Z",
                          // The R4 regex: hours 00-23 (no 24:00), zone offsets up to 14:00.
                          "2020-03-10T24:00:00Z", "2020-03-10T24:30:00Z",
                          "2020-01-01T10:00:00+14:30", "2020-01-01T10:00:00+15:00"}) {
    EXPECT_FALSE(ParseFhirTime(bad)) << bad;
  }
  EXPECT_TRUE(ParseFhirTime("2020-03-10T23:59:60Z"));  // a leap second
  EXPECT_TRUE(ParseFhirTime("2020-01-01T10:00:00+14:00"));
  EXPECT_TRUE(ParseFhirTime("2020-01-01T10:00:00-12:00"));
}

}  // namespace
}  // namespace medlake
