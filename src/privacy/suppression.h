// Small-count suppression for aggregate outputs (researcher and ops roles).
//
// A table of counts with its row totals, column totals and grand total is published with
// every cell below the threshold (default 10) masked as "<10" (primary suppression), then
// more cells masked (complementary suppression) until no masked value can be computed from
// the published ones: every row and column, totals included, holds zero or at least two
// masked cells, and no masked cell is determined by the linear system of row and column
// sums (checked exactly with Gaussian elimination, see DeterminedCells). Totals below the
// threshold are masked too. Zero cells stay visible unless suppress_zeros is set.
//
// Complementary cells are chosen greedily by cost: smallest non-zero inner counts first,
// totals last. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "medlake/status.h"

namespace medlake::privacy {

struct CountTable {
  size_t rows = 0;
  size_t cols = 0;
  std::vector<int64_t> cells;  // row-major, rows * cols, each >= 0
  int64_t at(size_t r, size_t c) const { return cells[r * cols + c]; }
};

struct SuppressionOptions {
  int64_t threshold = 10;
  bool suppress_zeros = false;
};

// The publishable table. Positions use the extended grid: row `rows` is the column totals,
// column `cols` the row totals, (rows, cols) the grand total. nullopt means masked.
struct SuppressedTable {
  size_t rows = 0;
  size_t cols = 0;
  int64_t threshold = 10;
  std::vector<std::optional<int64_t>> grid;  // (rows + 1) * (cols + 1), row-major
  size_t primary = 0;                        // cells masked because they are small
  size_t complementary = 0;                  // cells masked to protect them

  const std::optional<int64_t>& at(size_t r, size_t c) const { return grid[r * (cols + 1) + c]; }
  const std::optional<int64_t>& RowTotal(size_t r) const { return at(r, cols); }
  const std::optional<int64_t>& ColTotal(size_t c) const { return at(rows, c); }
  const std::optional<int64_t>& GrandTotal() const { return at(rows, cols); }
  // The cell as text: its value, or "<threshold" when masked.
  std::string Text(size_t r, size_t c) const;
};

Result<SuppressedTable> SuppressSmallCounts(const CountTable& table,
                                            const SuppressionOptions& options = {});

// Masked positions of `table` (extended grid coordinates) whose value is uniquely determined
// by the published values through the row and column sums. Empty for a SuppressSmallCounts
// output.
std::vector<std::pair<size_t, size_t>> DeterminedCells(const SuppressedTable& table);

}  // namespace medlake::privacy
