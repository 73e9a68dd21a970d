#include "privacy/suppression.h"

#include <gtest/gtest.h>

#include <random>

namespace medlake::privacy {
namespace {

// Independent recoverability check: a masked cell is recoverable from the published values
// iff its unit vector lies in the row space of the line equations over the masked cells,
// i.e. rank([A; e_k]) == rank(A). Ranks over GF(p), p = 2^61 - 1 (exact for these small
// integer systems).
constexpr uint64_t kP = (uint64_t{1} << 61) - 1;

uint64_t MulMod(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>((__uint128_t)a * b % kP);
}
uint64_t PowMod(uint64_t a, uint64_t e) {
  uint64_t r = 1;
  for (; e; e >>= 1, a = MulMod(a, a)) {
    if (e & 1) r = MulMod(r, a);
  }
  return r;
}

size_t Rank(std::vector<std::vector<uint64_t>> m) {
  size_t rank = 0, cols = m.empty() ? 0 : m[0].size();
  for (size_t c = 0; c < cols && rank < m.size(); ++c) {
    size_t piv = rank;
    while (piv < m.size() && m[piv][c] == 0) ++piv;
    if (piv == m.size()) continue;
    std::swap(m[piv], m[rank]);
    uint64_t inv = PowMod(m[rank][c], kP - 2);
    for (auto& x : m[rank]) x = MulMod(x, inv);
    for (size_t r = 0; r < m.size(); ++r) {
      if (r == rank || m[r][c] == 0) continue;
      uint64_t f = m[r][c];
      for (size_t j = 0; j < cols; ++j) m[r][j] = (m[r][j] + kP - MulMod(f, m[rank][j])) % kP;
    }
    ++rank;
  }
  return rank;
}

std::vector<std::pair<size_t, size_t>> Recoverable(const SuppressedTable& t) {
  size_t w = t.cols + 1;
  std::vector<size_t> vars;
  for (size_t i = 0; i < t.grid.size(); ++i) {
    if (!t.grid[i]) vars.push_back(i);
  }
  std::vector<std::vector<uint64_t>> a;
  auto coef = [&](size_t pos, uint64_t v, std::vector<uint64_t>& eq) {
    for (size_t k = 0; k < vars.size(); ++k) {
      if (vars[k] == pos) eq[k] = v;
    }
  };
  for (size_t r = 0; r <= t.rows; ++r) {
    std::vector<uint64_t> eq(vars.size(), 0);
    for (size_t c = 0; c < t.cols; ++c) coef(r * w + c, 1, eq);
    coef(r * w + t.cols, kP - 1, eq);
    a.push_back(eq);
  }
  for (size_t c = 0; c <= t.cols; ++c) {
    std::vector<uint64_t> eq(vars.size(), 0);
    for (size_t r = 0; r < t.rows; ++r) coef(r * w + c, 1, eq);
    coef(t.rows * w + c, kP - 1, eq);
    a.push_back(eq);
  }
  size_t base = Rank(a);
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t k = 0; k < vars.size(); ++k) {
    auto b = a;
    b.emplace_back(vars.size(), 0);
    b.back()[k] = 1;
    if (Rank(b) == base) out.emplace_back(vars[k] / w, vars[k] % w);
  }
  return out;
}

void ExpectProtected(const CountTable& in, const SuppressedTable& out, int64_t threshold) {
  size_t w = in.cols + 1;
  // Every small non-zero value, inner or total, is masked.
  for (size_t i = 0; i < out.grid.size(); ++i) {
    if (out.grid[i]) {
      EXPECT_TRUE(*out.grid[i] == 0 || *out.grid[i] >= threshold) << i;
    }
  }
  // Published values are the true ones.
  for (size_t r = 0; r < in.rows; ++r) {
    for (size_t c = 0; c < in.cols; ++c) {
      if (out.at(r, c)) {
        EXPECT_EQ(*out.at(r, c), in.at(r, c));
      }
    }
  }
  // No line has exactly one masked cell.
  for (size_t r = 0; r <= in.rows; ++r) {
    int n = 0;
    for (size_t c = 0; c <= in.cols; ++c) n += !out.grid[r * w + c];
    EXPECT_NE(n, 1) << "row " << r;
  }
  for (size_t c = 0; c <= in.cols; ++c) {
    int n = 0;
    for (size_t r = 0; r <= in.rows; ++r) n += !out.grid[r * w + c];
    EXPECT_NE(n, 1) << "column " << c;
  }
  EXPECT_TRUE(Recoverable(out).empty());
  EXPECT_TRUE(DeterminedCells(out).empty());
}

TEST(SuppressionTest, SingleSmallCellGetsComplementaryCells) {
  CountTable t{3, 3, {50, 3, 40, 60, 70, 80, 25, 35, 45}};
  auto out = SuppressSmallCounts(t);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->Text(0, 1), "<10");
  EXPECT_EQ(out->primary, 1u);
  EXPECT_GE(out->complementary, 3u);  // a rectangle at least
  ExpectProtected(t, *out, 10);
  EXPECT_EQ(*out->GrandTotal(), 408);
}

TEST(SuppressionTest, PrimaryOnlyWouldBeRecoverable) {
  // The checker itself: masking just the small cell leaves it computable from its row total.
  SuppressedTable naive;
  naive.rows = 2;
  naive.cols = 2;
  naive.grid = {std::nullopt, 12, 17, 30, 40, 70, 35, 52, 87};  // 5 masked
  EXPECT_EQ(Recoverable(naive).size(), 1u);
  EXPECT_EQ(DeterminedCells(naive).size(), 1u);
}

TEST(SuppressionTest, SmallTotalsAreMasked) {
  CountTable t{2, 3, {2, 3, 1, 40, 50, 60}};
  auto out = SuppressSmallCounts(t);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->RowTotal(0).has_value());
  ExpectProtected(t, *out, 10);
}

TEST(SuppressionTest, ZerosStayVisibleByDefault) {
  CountTable t{2, 2, {0, 40, 30, 50}};
  auto out = SuppressSmallCounts(t);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->Text(0, 0), "0");
  EXPECT_EQ(out->complementary, 0u);
  auto zeros = SuppressSmallCounts(t, {.threshold = 10, .suppress_zeros = true});
  ASSERT_TRUE(zeros.ok());
  EXPECT_EQ(zeros->Text(0, 0), "<10");
  ExpectProtected(t, *zeros, 10);
}

TEST(SuppressionTest, RandomTablesAreProtected) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 150; ++round) {
    size_t rows = 2 + rng() % 5, cols = 2 + rng() % 5;
    CountTable t{rows, cols, {}};
    for (size_t i = 0; i < rows * cols; ++i) {
      int kind = static_cast<int>(rng() % 10);
      t.cells.push_back(kind < 3 ? 1 + rng() % 9 : kind == 3 ? 0 : 10 + rng() % 200);
    }
    auto out = SuppressSmallCounts(t);
    ASSERT_TRUE(out.ok());
    SCOPED_TRACE("round " + std::to_string(round));
    ExpectProtected(t, *out, 10);
  }
}

TEST(SuppressionTest, ThresholdIsConfigurable) {
  CountTable t{2, 2, {4, 40, 30, 50}};
  auto out = SuppressSmallCounts(t, {.threshold = 3});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->primary, 0u);
  EXPECT_EQ(out->Text(0, 0), "4");
}

TEST(SuppressionTest, RejectsMalformedTables) {
  EXPECT_FALSE(SuppressSmallCounts(CountTable{2, 2, {1, 2, 3}}).ok());
  EXPECT_FALSE(SuppressSmallCounts(CountTable{1, 2, {1, -2}}).ok());
  EXPECT_FALSE(SuppressSmallCounts(CountTable{1, 1, {1}}, {.threshold = 0}).ok());
}

}  // namespace
}  // namespace medlake::privacy
