#include "store/segment.h"

#include <gtest/gtest.h>
#include <roaring/roaring.h>

#include <numeric>
#include <random>
#include <tuple>

#include "test_util.h"
#include "zstd_frames.h"

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
  EXPECT_TRUE((*reader)->VerifyAll().empty());
}

// Dictionaries of dozens of values, codes that a "system|code" key would confuse, and every
// row's dictionary entries read back.
// SortedOrder compares prefixes and type ranks: the same order as the definition, on rows that
// tie on patient, time, type and the first bytes of their ids, with types that share their
// first 8 bytes and ids that are prefixes of others or hold bytes past 0x7F.
TEST(SegmentTest, SortedOrderIsPatientTimeTypeId) {
  const std::vector<std::string> types = {"MedicationRequest",
                                          "MedicationAdministration",
                                          "Medication",
                                          "Observation",
                                          "Obs",
                                          "Patient"};
  const std::vector<std::string> ids = {"a",         "ab",          "abcdefgh",    "abcdefgh1",
                                        "abcdefgh0", "abcdefg\xff", "abcdefg",     "",
                                        "\x80",      "zz",          "abcdefgh\x01"};
  std::mt19937 rng(7);
  std::vector<Row> rows;
  for (int i = 0; i < 3000; ++i) {
    Row r;
    r.patient = rng() % 3 == 0 ? kNoPatient : static_cast<uint32_t>(rng() % 4);
    r.effective.start = rng() % 4 == 0 ? kNoTime : static_cast<int64_t>(rng() % 3);
    r.type = types[rng() % types.size()];
    r.id = ids[rng() % ids.size()] + (rng() % 2 ? std::to_string(rng() % 5) : "");
    rows.push_back(std::move(r));
  }
  std::vector<uint32_t> expected(rows.size());
  std::iota(expected.begin(), expected.end(), 0u);
  std::stable_sort(expected.begin(), expected.end(), [&rows](uint32_t a, uint32_t b) {
    const Row &x = rows[a], &y = rows[b];
    return std::tie(x.patient, x.effective.start, x.type, x.id) <
           std::tie(y.patient, y.effective.start, y.type, y.id);
  });
  const std::vector<uint32_t> order = SortedOrder(rows);
  ASSERT_EQ(order.size(), rows.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const Row &got = rows[order[i]], &want = rows[expected[i]];
    ASSERT_EQ(std::tie(got.patient, got.effective.start, got.type, got.id),
              std::tie(want.patient, want.effective.start, want.type, want.id))
        << "at " << i;
  }
}

TEST(SegmentTest, LargeDictionariesAndCodesRoundTrip) {
  testing::TempDir dir;
  std::vector<Row> rows;
  for (int i = 0; i < 3000; ++i) {
    std::vector<fhir::Coding> codes{{"http://s" + std::to_string(i % 50), std::to_string(i % 70)}};
    if (i % 2 == 0) codes.push_back({"a|b", "c"});
    if (i % 3 == 0) codes.push_back({"a", "b|c"});
    Row r = MakeRow("Type" + std::to_string(i % 40), "r" + std::to_string(i),
                    static_cast<uint32_t>(i % 11), i, std::move(codes));
    r.unit = i % 5 == 0 ? "" : "u" + std::to_string(i % 97);
    r.status = "s" + std::to_string(i % 33);
    rows.push_back(std::move(r));
  }
  SortRows(rows);
  ASSERT_TRUE(WriteSegment(dir / "s.mls", 0, rows).ok());
  auto reader = SegmentReader::Open(dir / "s.mls");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const Columns& c = (*reader)->columns();
  ASSERT_EQ(c.rows, rows.size());
  EXPECT_EQ(c.type_dict.size(), 40u);
  EXPECT_EQ(c.unit_dict.size(), 97u);  // "" is no entry
  EXPECT_EQ(c.status_dict.size(), 33u);
  for (uint32_t i = 0; i < c.rows; ++i) {
    const Row& r = rows[i];
    EXPECT_EQ(c.type_dict[c.type[i]], r.type);
    if (r.unit.empty()) {
      EXPECT_EQ(c.unit[i], 0xFFFF);
    } else {
      EXPECT_EQ(c.unit_dict[c.unit[i]], r.unit);
    }
    EXPECT_EQ(c.status_dict[c.status[i]], r.status);
    std::vector<fhir::Coding> read;
    for (uint32_t k = c.code_offsets[i]; k < c.code_offsets[i + 1]; ++k) {
      read.push_back(c.code_dict[c.code_ids[k]]);
    }
    EXPECT_EQ(read, r.codings) << i;
  }
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

std::vector<Row> ManyRows() {
  std::vector<Row> rows;
  for (int i = 0; i < 3000; ++i) {
    Row r = MakeRow("Observation", "obs-" + std::to_string(i), static_cast<uint32_t>(i % 5), i,
                    {{"http://loinc.org", "8867-4"}});
    r.json += std::string(80, ' ');  // several blocks
    rows.push_back(std::move(r));
  }
  SortRows(rows);
  return rows;
}

SegmentCipher TestCipher(uint8_t fill) {
  std::array<uint8_t, privacy::kKeyBytes> key;
  key.fill(fill);
  return SegmentCipher(privacy::SecretKey(key));
}

TEST(SegmentTest, EncryptedSegmentRoundTripsAndHidesItsContent) {
  testing::TempDir dir;
  std::vector<Row> rows = ManyRows();
  SegmentCipher cipher = TestCipher(7);
  ASSERT_TRUE(WriteSegment(dir / "enc.mls", 2, rows, &cipher).ok());
  ASSERT_TRUE(WriteSegment(dir / "plain.mls", 2, rows).ok());
  // The plain segment's column section and blocks compress ids and codes readably enough for
  // zstd literals to show them; the encrypted one shows none of it.
  std::string sealed = testing::ReadText(dir / "enc.mls");
  std::string plain_text = testing::ZstdFrameText(testing::ReadText(dir / "plain.mls"));
  std::string sealed_text = testing::ZstdFrameText(sealed);
  for (const char* needle : {"8867-4", "obs-1", "Observation"}) {
    EXPECT_NE(plain_text.find(needle), std::string::npos) << needle;
    EXPECT_EQ(sealed_text.find(needle), std::string::npos) << needle;
    EXPECT_EQ(sealed.find(needle), std::string::npos) << needle;
  }

  auto reader = SegmentReader::Open(dir / "enc.mls", &cipher);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_GT((*reader)->block_count(), 1u);
  const Columns& c = (*reader)->columns();
  ASSERT_EQ(c.rows, rows.size());
  EXPECT_EQ(c.shard, 2u);
  for (uint32_t i = 0; i < c.rows; ++i) {
    EXPECT_EQ(c.id[i], rows[i].id);
    auto json = (*reader)->Resource(i);
    ASSERT_TRUE(json.ok()) << json.status().ToString();
    EXPECT_EQ(*json, rows[i].json);
  }
  EXPECT_TRUE((*reader)->VerifyAll().empty());
  // Two segments with the same rows never share ciphertext (a fresh salt each).
  ASSERT_TRUE(WriteSegment(dir / "enc2.mls", 2, rows, &cipher).ok());
  std::string sealed2 = testing::ReadText(dir / "enc2.mls");
  EXPECT_EQ(sealed.size(), sealed2.size());
  EXPECT_NE(sealed.substr(16, 4096), sealed2.substr(16, 4096));
}

TEST(SegmentTest, EncryptedSegmentNeedsTheRightKey) {
  testing::TempDir dir;
  SegmentCipher cipher = TestCipher(7);
  ASSERT_TRUE(WriteSegment(dir / "enc.mls", 0, ManyRows(), &cipher).ok());
  auto keyless = SegmentReader::Open(dir / "enc.mls");
  ASSERT_FALSE(keyless.ok());
  EXPECT_EQ(keyless.status().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(keyless.status().message().find("enc.mls"), std::string::npos);
  SegmentCipher other = TestCipher(8);
  auto wrong = SegmentReader::Open(dir / "enc.mls", &other);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), ErrorCode::kCorruption);
  EXPECT_NE(wrong.status().message().find("enc.mls"), std::string::npos);
  // A plain segment reads with or without a cipher (lakes keep their older plain segments).
  ASSERT_TRUE(WriteSegment(dir / "plain.mls", 0, ManyRows()).ok());
  EXPECT_TRUE(SegmentReader::Open(dir / "plain.mls", &cipher).ok());
}

TEST(SegmentTest, SealedSectionsAreBoundToTheirPositionAndSegment) {
  SegmentCipher cipher = TestCipher(1);
  std::string salt_a(SegmentCipher::kSaltBytes, 'a'), salt_b(SegmentCipher::kSaltBytes, 'b');
  auto a = cipher.ForSegment(salt_a);
  auto b = cipher.ForSegment(salt_b);
  std::string sealed, out;
  a.Seal(3, "block three", sealed);
  EXPECT_EQ(sealed.size(), std::string("block three").size() + SegmentCipher::kTagBytes);
  ASSERT_TRUE(a.Open(3, sealed, out));
  EXPECT_EQ(out, "block three");
  EXPECT_FALSE(a.Open(4, sealed, out));  // moved to another block
  EXPECT_FALSE(b.Open(3, sealed, out));  // moved to another segment
  std::string flipped = sealed;
  flipped[2] ^= 1;
  EXPECT_FALSE(a.Open(3, flipped, out));  // tampered
  EXPECT_FALSE(a.Open(3, sealed.substr(0, 10), out));
}

}  // namespace
}  // namespace medlake::store
