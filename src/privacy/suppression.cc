#include "privacy/suppression.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace medlake::privacy {
namespace {

// Which positions of the extended (rows + 1) x (cols + 1) grid are masked.
struct Mask {
  size_t rows, cols;
  std::vector<bool> masked;
  size_t Width() const { return cols + 1; }
  bool at(size_t r, size_t c) const { return masked[r * Width() + c]; }
};

// Indices (into the mask) of masked positions determined by the row and column equations.
std::vector<size_t> Determined(const Mask& m) {
  std::vector<size_t> vars;
  std::vector<int> var_of(m.masked.size(), -1);
  for (size_t i = 0; i < m.masked.size(); ++i) {
    if (m.masked[i]) {
      var_of[i] = static_cast<int>(vars.size());
      vars.push_back(i);
    }
  }
  if (vars.empty()) return {};
  // One equation per line: sum of its inner entries minus its total entry is zero.
  std::vector<std::vector<double>> a;
  auto add_line = [&](bool is_row, size_t k) {
    std::vector<double> eq(vars.size(), 0.0);
    bool any = false;
    size_t n = is_row ? m.cols : m.rows;
    for (size_t j = 0; j <= n; ++j) {
      size_t pos = is_row ? k * m.Width() + j : j * m.Width() + k;
      if (var_of[pos] >= 0) {
        eq[var_of[pos]] = j == n ? -1.0 : 1.0;
        any = true;
      }
    }
    if (any) a.push_back(std::move(eq));
  };
  for (size_t r = 0; r <= m.rows; ++r) add_line(true, r);
  for (size_t c = 0; c <= m.cols; ++c) add_line(false, c);
  // Reduced row echelon form with partial pivoting; entries stay small rationals.
  constexpr double kEps = 1e-9;
  std::vector<int> pivot_row_of(vars.size(), -1);
  size_t row = 0;
  for (size_t col = 0; col < vars.size() && row < a.size(); ++col) {
    size_t best = row;
    for (size_t i = row + 1; i < a.size(); ++i) {
      if (std::fabs(a[i][col]) > std::fabs(a[best][col])) best = i;
    }
    if (std::fabs(a[best][col]) < kEps) continue;
    std::swap(a[row], a[best]);
    double p = a[row][col];
    for (double& x : a[row]) x /= p;
    for (size_t i = 0; i < a.size(); ++i) {
      if (i == row || std::fabs(a[i][col]) < kEps) continue;
      double f = a[i][col];
      for (size_t j = 0; j < vars.size(); ++j) a[i][j] -= f * a[row][j];
    }
    pivot_row_of[col] = static_cast<int>(row);
    ++row;
  }
  std::vector<size_t> out;
  for (size_t v = 0; v < vars.size(); ++v) {
    if (pivot_row_of[v] < 0) continue;  // a free variable is never determined
    const auto& eq = a[pivot_row_of[v]];
    bool alone = true;
    for (size_t j = 0; j < vars.size() && alone; ++j) {
      if (j != v && std::fabs(eq[j]) > kEps) alone = false;
    }
    if (alone) out.push_back(vars[v]);
  }
  return out;
}

}  // namespace

std::string SuppressedTable::Text(size_t r, size_t c) const {
  const auto& v = at(r, c);
  return v ? std::to_string(*v) : "<" + std::to_string(threshold);
}

Result<SuppressedTable> SuppressSmallCounts(const CountTable& table,
                                            const SuppressionOptions& options) {
  if (table.cells.size() != table.rows * table.cols) {
    return InvalidArgument("count table: cells do not match rows x cols");
  }
  if (options.threshold < 1) return InvalidArgument("suppression threshold must be at least 1");
  for (int64_t v : table.cells) {
    if (v < 0) return InvalidArgument("count table: a count is negative");
  }
  const size_t rows = table.rows, cols = table.cols, width = cols + 1;
  std::vector<int64_t> full((rows + 1) * width, 0);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) {
      int64_t v = table.at(r, c);
      full[r * width + c] = v;
      full[r * width + cols] += v;
      full[rows * width + c] += v;
      full[rows * width + cols] += v;
    }
  }
  Mask m{rows, cols, std::vector<bool>(full.size(), false)};
  SuppressedTable out;
  out.rows = rows;
  out.cols = cols;
  out.threshold = options.threshold;
  for (size_t i = 0; i < full.size(); ++i) {
    if (full[i] < options.threshold && (full[i] > 0 || options.suppress_zeros)) {
      m.masked[i] = true;
      out.primary++;
    }
  }
  // Cost of masking a position: small inner counts first, zeros and totals last.
  auto cost = [&](size_t i) {
    size_t r = i / width, c = i % width;
    double v = static_cast<double>(full[i]);
    if (full[i] == 0) v += 1e15;
    if (r == rows || c == cols) v += 1e12;
    return v;
  };
  auto cheapest = [&](const std::vector<size_t>& candidates) -> std::optional<size_t> {
    std::optional<size_t> best;
    for (size_t i : candidates) {
      if (!m.masked[i] && (!best || cost(i) < cost(*best))) best = i;
    }
    return best;
  };
  auto line = [&](bool is_row, size_t k) {
    std::vector<size_t> positions;
    size_t n = is_row ? cols : rows;
    for (size_t j = 0; j <= n; ++j) positions.push_back(is_row ? k * width + j : j * width + k);
    return positions;
  };
  auto mask = [&](size_t i) {
    m.masked[i] = true;
    out.complementary++;
  };
  for (;;) {
    bool changed = false;
    for (int pass = 0; pass < 2; ++pass) {
      size_t n = pass == 0 ? rows : cols;
      for (size_t k = 0; k <= n; ++k) {
        auto positions = line(pass == 0, k);
        size_t count = 0;
        for (size_t i : positions) count += m.masked[i];
        if (count != 1) continue;
        if (auto pick = cheapest(positions)) {
          mask(*pick);
          changed = true;
        }
      }
    }
    if (changed) continue;
    std::vector<size_t> determined = Determined(m);
    if (determined.empty()) break;
    size_t target = determined.front();
    std::vector<size_t> order;
    for (size_t i = 0; i < full.size(); ++i) {
      if (!m.masked[i]) order.push_back(i);
    }
    if (order.empty()) break;
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return cost(x) < cost(y); });
    bool fixed = false;
    for (size_t i : order) {
      m.masked[i] = true;
      auto still = Determined(m);
      if (std::find(still.begin(), still.end(), target) == still.end()) {
        m.masked[i] = false;
        mask(i);
        fixed = true;
        break;
      }
      m.masked[i] = false;
    }
    if (!fixed) {
      // No single cell helps: mask the cheapest remaining cell of the target's row and column.
      auto in_row = cheapest(line(true, target / width));
      auto in_col = cheapest(line(false, target % width));
      if (!in_row && !in_col) mask(order.front());
      if (in_row) mask(*in_row);
      if (in_col && !m.masked[*in_col]) mask(*in_col);
    }
  }
  out.grid.resize(full.size());
  for (size_t i = 0; i < full.size(); ++i) {
    if (!m.masked[i]) out.grid[i] = full[i];
  }
  return out;
}

std::vector<std::pair<size_t, size_t>> DeterminedCells(const SuppressedTable& table) {
  Mask m{table.rows, table.cols, std::vector<bool>(table.grid.size(), false)};
  for (size_t i = 0; i < table.grid.size(); ++i) m.masked[i] = !table.grid[i].has_value();
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i : Determined(m)) out.emplace_back(i / (table.cols + 1), i % (table.cols + 1));
  return out;
}

}  // namespace medlake::privacy
