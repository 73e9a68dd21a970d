#include "privacy/k_anonymity.h"

#include <gtest/gtest.h>

#include <map>

namespace medlake::privacy {
namespace {

std::vector<QuasiIdentifier> Qis() {
  return {{"age", QuasiKind::kAge, -1},
          {"sex", QuasiKind::kSex, -1},
          {"postcode", QuasiKind::kPostcode, -1}};
}

void ExpectKAnonymous(const KAnonymityResult& r, int k) {
  std::map<std::vector<std::string>, int> groups;
  for (const auto& row : r.records) groups[row]++;
  for (const auto& [key, n] : groups) EXPECT_GE(n, k);
}

TEST(KAnonymityTest, GeneralizationHierarchies) {
  EXPECT_EQ(*Generalize(QuasiKind::kAge, "47", 0), "47");
  EXPECT_EQ(*Generalize(QuasiKind::kAge, "47", 1), "45-49");
  EXPECT_EQ(*Generalize(QuasiKind::kAge, "47", 2), "40-49");
  EXPECT_EQ(*Generalize(QuasiKind::kAge, "47", 3), "40-59");
  EXPECT_EQ(*Generalize(QuasiKind::kAge, "47", 4), "*");
  EXPECT_EQ(*Generalize(QuasiKind::kAge, "93", 1), "90+");
  EXPECT_EQ(*Generalize(QuasiKind::kPostcode, "sw1a 2aa", 0), "SW1A2AA");
  EXPECT_EQ(*Generalize(QuasiKind::kPostcode, "SW1A 2AA", 3), "SW1A*");
  EXPECT_EQ(*Generalize(QuasiKind::kDate, "1961-03-14", 0), "1961-03-14");
  EXPECT_EQ(*Generalize(QuasiKind::kDate, "1961-03-14", 1), "1961-03");
  EXPECT_EQ(*Generalize(QuasiKind::kDate, "1961-03-14", 2), "1961");
  EXPECT_EQ(*Generalize(QuasiKind::kDate, "1961-03-14", 3), "1960-1964");
  EXPECT_EQ(*Generalize(QuasiKind::kSex, "female", 1), "*");
  EXPECT_FALSE(Generalize(QuasiKind::kAge, "forty", 1).ok());
}

TEST(KAnonymityTest, AlreadyAnonymousNeedsNoGeneralization) {
  std::vector<std::vector<std::string>> recs;
  for (int i = 0; i < 6; ++i) recs.push_back({"40", i % 2 ? "male" : "female", "AB1"});
  auto r = MakeKAnonymous(Qis(), recs, {.k = 3});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->levels, (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(r->groups, 2u);
}

TEST(KAnonymityTest, FindsTheLeastGeneralization) {
  // Ages 40..49 and postcodes sharing a 3-character prefix: 10-year bands reach k=5 with
  // sex and postcode kept, or a coarser postcode.
  std::vector<std::vector<std::string>> recs;
  for (int i = 0; i < 20; ++i) {
    recs.push_back({std::to_string(40 + i % 10), i % 2 ? "male" : "female",
                    "AB1 " + std::to_string(i % 4) + "CD"});
  }
  auto r = MakeKAnonymous(Qis(), recs, {.k = 5});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectKAnonymous(*r, 5);
  EXPECT_TRUE(r->withheld.empty());
  EXPECT_EQ(r->records.size(), 20u);
  // Minimality: no node of lower total height reaches k.
  int height = r->levels[0] + r->levels[1] + r->levels[2];
  for (int a = 0; a <= 4; ++a) {
    for (int s = 0; s <= 1; ++s) {
      for (int p = 0; p <= 5; ++p) {
        if (a + s + p >= height) continue;
        std::map<std::vector<std::string>, int> groups;
        for (const auto& rec : recs) {
          groups[{*Generalize(QuasiKind::kAge, rec[0], a), *Generalize(QuasiKind::kSex, rec[1], s),
                  *Generalize(QuasiKind::kPostcode, rec[2], p)}]++;
        }
        bool ok = true;
        for (const auto& [key, n] : groups) ok &= n >= 5;
        EXPECT_FALSE(ok) << a << s << p;
      }
    }
  }
}

TEST(KAnonymityTest, OutliersMayBeWithheldWithinBudget) {
  std::vector<std::vector<std::string>> recs;
  for (int i = 0; i < 19; ++i) recs.push_back({"30", "female", "ZZ9"});
  recs.push_back({"101", "male", "QQ1"});
  auto strict = MakeKAnonymous(Qis(), recs, {.k = 5});
  ASSERT_TRUE(strict.ok());
  EXPECT_GT(strict->levels[0] + strict->levels[1] + strict->levels[2], 0);
  auto lenient = MakeKAnonymous(Qis(), recs, {.k = 5, .max_suppression = 0.05});
  ASSERT_TRUE(lenient.ok());
  EXPECT_EQ(lenient->levels, (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(lenient->withheld, (std::vector<size_t>{19}));
  ExpectKAnonymous(*lenient, 5);
}

TEST(KAnonymityTest, RefusalNamesTheFailingCombination) {
  // Sex may not be generalized and postcode only by one character: a lone male cannot hide.
  std::vector<QuasiIdentifier> qis = {{"age", QuasiKind::kAge, 2},
                                      {"sex", QuasiKind::kSex, 0},
                                      {"postcode", QuasiKind::kPostcode, 1}};
  std::vector<std::vector<std::string>> recs;
  for (int i = 0; i < 10; ++i) recs.push_back({"50", "female", "AB12"});
  recs.push_back({"51", "male", "AB13"});
  auto r = MakeKAnonymous(qis, recs, {.k = 3});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("(sex)"), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find("male"), std::string::npos);  // never values
}

TEST(KAnonymityTest, TooFewRecordsIsRefused) {
  std::vector<std::vector<std::string>> recs = {{"40", "f", "A1"}, {"41", "f", "A1"}};
  auto r = MakeKAnonymous(Qis(), recs, {.k = 5});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kPermissionDenied);
}

TEST(KAnonymityTest, BadValueNamesRecordAndColumnOnly) {
  std::vector<std::vector<std::string>> recs = {{"forty", "f", "A1"}};
  auto r = MakeKAnonymous(Qis(), recs, {.k = 1});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().find("forty"), std::string::npos);
}

}  // namespace
}  // namespace medlake::privacy
