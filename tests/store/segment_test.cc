#include "store/segment.h"

#include <gtest/gtest.h>
#include <roaring/roaring.h>

#include "test_util.h"

namespace medlake::store {
namespace {

Row MakeRow(const std::string& type, const std::string& id, uint32_t patient, int64_t start,
            std::vector<fhir::Coding> codes) {
  Row r;
  r.type = type;
  r.id = id;
  r.patient = patient;
  r.effective = {start, start + 1000};
  r.codings = std::move(codes);
  r.json = R"({"resourceType":")" + type + R"(","id":")" + id + R"("})";
  r.key = ResourceKey(type, id);
  r.content_hash = ContentHash(r.json);
  r.status = "final";
  return r;
}

TEST(SegmentTest, RoundTripsColumnsAndResources) {
  testing::TempDir dir;
  std::vector<Row> rows;
  const fhir::Coding hr{"http://loinc.org", "8867-4"};
  const fhir::Coding rr{"http://loinc.org", "9279-1"};
  // Enough rows to span several 128 KiB blocks.
  for (int i = 0; i < 5000; ++i) {
    Row r = MakeRow("Observation", "o" + std::to_string(i), static_cast<uint32_t>(i % 7), 1000 - i,
                    {i % 2 ? hr : rr});
    r.json += std::string(64, ' ');  // make blocks fill faster
    r.has_value = i % 3 == 0;
    r.value = i;
    r.unit = "/min";
    rows.push_back(std::move(r));
  }
  rows.push_back(MakeRow("Organization", "org1", kNoPatient, kNoTime, {}));
  SortRows(rows);
  auto bytes = WriteSegment(dir / "s.mls", 3, rows);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();

  auto reader = SegmentReader::Open(dir / "s.mls");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const Columns& c = (*reader)->columns();
  EXPECT_EQ(c.shard, 3u);
  ASSERT_EQ(c.rows, rows.size());
  EXPECT_GT((*reader)->block_count(), 1u);
  for (uint32_t i = 0; i < c.rows; ++i) {
    EXPECT_EQ(c.id[i], rows[i].id);
    EXPECT_EQ(c.patient[i], rows[i].patient);
    EXPECT_EQ(c.key[i], rows[i].key);
    EXPECT_EQ(c.eff_start[i], rows[i].effective.start);
    if (i > 0) {  // sorted by patient, then time
      EXPECT_TRUE(c.patient[i - 1] < c.patient[i] ||
                  (c.patient[i - 1] == c.patient[i] && c.eff_start[i - 1] <= c.eff_start[i]));
    }
    EXPECT_EQ(std::isnan(c.value[i]), !rows[i].has_value);
    auto json = (*reader)->Resource(i);
    ASSERT_TRUE(json.ok());
    EXPECT_EQ(*json, rows[i].json);
  }
  // The per-code patient bitmaps.
  ASSERT_EQ(c.code_dict.size(), 2u);
  for (size_t k = 0; k < c.code_dict.size(); ++k) {
    roaring_bitmap_t* bm = roaring_bitmap_portable_deserialize_safe(c.code_patients[k].data(),
                                                                    c.code_patients[k].size());
    ASSERT_NE(bm, nullptr);
    EXPECT_EQ(roaring_bitmap_get_cardinality(bm), 7u);
    roaring_bitmap_free(bm);
  }
  EXPECT_TRUE((*reader)->VerifyAll().ok());
}

TEST(SegmentTest, RejectsTruncatedAndForeignFiles) {
  testing::TempDir dir;
  std::vector<Row> rows = {MakeRow("Patient", "p1", 0, 0, {})};
  ASSERT_TRUE(WriteSegment(dir / "s.mls", 0, rows).ok());
  std::string bytes = testing::ReadText(dir / "s.mls");
  testing::WriteText(dir / "short.mls", bytes.substr(0, bytes.size() - 5));
  auto r = SegmentReader::Open(dir / "short.mls");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kCorruption);
  EXPECT_NE(r.status().message().find("short.mls"), std::string::npos);
  testing::WriteText(dir / "text.mls", std::string(100, 'x'));
  EXPECT_EQ(SegmentReader::Open(dir / "text.mls").status().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace medlake::store
