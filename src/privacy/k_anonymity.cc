#include "privacy/k_anonymity.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>

namespace medlake::privacy {
namespace {

std::optional<int> ParseInt(std::string_view s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string Band(int v, int width) {
  int lo = v / width * width;
  return std::to_string(lo) + "-" + std::to_string(lo + width - 1);
}

int EffectiveMax(const QuasiIdentifier& q) {
  int top = MaxLevel(q.kind);
  return q.max_level < 0 ? top : std::min(q.max_level, top);
}

struct Grouping {
  size_t small_records = 0;  // records in groups smaller than k
  size_t groups = 0;
  size_t smallest = 0;
};

// Groups `gen` (generalized rows) restricted to the columns in `use`.
Grouping Group(const std::vector<std::vector<std::string>>& gen, const std::vector<bool>& use,
               int k) {
  std::map<std::vector<std::string>, size_t> counts;
  for (const auto& row : gen) {
    std::vector<std::string> key;
    for (size_t j = 0; j < row.size(); ++j) {
      if (use[j]) key.push_back(row[j]);
    }
    counts[key]++;
  }
  Grouping g;
  g.groups = counts.size();
  g.smallest = counts.empty() ? 0 : SIZE_MAX;
  for (const auto& [key, n] : counts) {
    if (n < static_cast<size_t>(k)) g.small_records += n;
    g.smallest = std::min(g.smallest, n);
  }
  return g;
}

Result<std::vector<std::vector<std::string>>> GeneralizeAll(
    const std::vector<QuasiIdentifier>& qis, const std::vector<std::vector<std::string>>& records,
    const std::vector<int>& levels) {
  std::vector<std::vector<std::string>> out(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    out[i].reserve(qis.size());
    for (size_t j = 0; j < qis.size(); ++j) {
      auto g = Generalize(qis[j].kind, records[i][j], levels[j]);
      if (!g.ok()) {
        return InvalidArgument("record " + std::to_string(i) + ", quasi-identifier " + qis[j].name +
                               ": " + g.status().message());
      }
      out[i].push_back(std::move(*g));
    }
  }
  return out;
}

}  // namespace

int MaxLevel(QuasiKind kind) {
  switch (kind) {
    case QuasiKind::kAge:
      return 4;
    case QuasiKind::kSex:
      return 1;
    case QuasiKind::kPostcode:
      return 5;
    case QuasiKind::kDate:
      return 4;
  }
  return 0;
}

std::string LevelName(QuasiKind kind, int level) {
  if (level >= MaxLevel(kind)) return "suppressed";
  switch (kind) {
    case QuasiKind::kAge: {
      static const char* kNames[] = {"years", "5-year band", "10-year band", "20-year band"};
      return kNames[level];
    }
    case QuasiKind::kSex:
      return "as recorded";
    case QuasiKind::kPostcode:
      return level == 0 ? "full" : "without last " + std::to_string(level) + " characters";
    case QuasiKind::kDate: {
      static const char* kNames[] = {"day", "month", "year", "5-year period"};
      return kNames[level];
    }
  }
  return "";
}

Result<std::string> Generalize(QuasiKind kind, std::string_view value, int level) {
  if (level < 0 || level > MaxLevel(kind))
    return InvalidArgument("generalization level out of range");
  if (level == MaxLevel(kind)) return std::string("*");
  if (value.empty()) return std::string();
  switch (kind) {
    case QuasiKind::kAge: {
      auto age = ParseInt(value);
      if (!age || *age < 0 || *age > 150) return InvalidArgument("not an age in years");
      if (level == 0) return std::to_string(*age);
      if (*age >= 90) return std::string("90+");
      static const int kWidths[] = {0, 5, 10, 20};
      return Band(*age, kWidths[level]);
    }
    case QuasiKind::kSex:
      return std::string(value);
    case QuasiKind::kPostcode: {
      std::string code;
      for (char c : value) {
        if (c != ' ')
          code.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      }
      size_t keep = code.size() > static_cast<size_t>(level) ? code.size() - level : 0;
      return code.substr(0, keep) + (level > 0 ? "*" : "");
    }
    case QuasiKind::kDate: {
      if (value.size() < 4) return InvalidArgument("not a date");
      auto year = ParseInt(value.substr(0, 4));
      if (!year) return InvalidArgument("not a date");
      bool has_month = value.size() >= 7 && value[4] == '-';
      bool has_day = value.size() >= 10 && value[7] == '-';
      if (level == 0 && has_day) return std::string(value.substr(0, 10));
      if (level <= 1 && has_month) return std::string(value.substr(0, 7));
      if (level <= 2) return std::string(value.substr(0, 4));
      return Band(*year, 5);
    }
  }
  return Internal("unknown quasi-identifier kind");
}

Result<KAnonymityResult> MakeKAnonymous(const std::vector<QuasiIdentifier>& qis,
                                        const std::vector<std::vector<std::string>>& records,
                                        const KAnonymityOptions& options) {
  if (options.k < 1) return InvalidArgument("k must be at least 1");
  if (qis.size() > 12) return InvalidArgument("k-anonymity: at most 12 quasi-identifiers");
  for (const auto& r : records) {
    if (r.size() != qis.size())
      return InvalidArgument("a record does not have one value per quasi-identifier");
  }
  const size_t budget = static_cast<size_t>(
      std::floor(options.max_suppression * static_cast<double>(records.size())));
  // Every node of the lattice, least generalized first.
  std::vector<std::vector<int>> nodes{{}};
  for (const auto& q : qis) {
    std::vector<std::vector<int>> next;
    for (const auto& n : nodes) {
      for (int l = 0; l <= EffectiveMax(q); ++l) {
        next.push_back(n);
        next.back().push_back(l);
      }
    }
    nodes = std::move(next);
  }
  auto height = [](const std::vector<int>& n) {
    int s = 0;
    for (int l : n) s += l;
    return s;
  };
  std::stable_sort(nodes.begin(), nodes.end(),
                   [&](const auto& a, const auto& b) { return height(a) < height(b); });
  std::vector<bool> all(qis.size(), true);
  std::optional<int> found_height;
  std::optional<KAnonymityResult> best;
  for (const auto& node : nodes) {
    if (found_height && height(node) > *found_height) break;
    MEDLAKE_ASSIGN_OR_RETURN(auto gen, GeneralizeAll(qis, records, node));
    Grouping g = Group(gen, all, options.k);
    if (g.small_records > budget) continue;
    if (best && best->withheld.size() <= g.small_records) continue;
    found_height = height(node);
    KAnonymityResult r;
    r.levels = node;
    std::map<std::vector<std::string>, size_t> counts;
    for (const auto& row : gen) counts[row]++;
    for (size_t i = 0; i < gen.size(); ++i) {
      if (counts[gen[i]] < static_cast<size_t>(options.k)) {
        r.withheld.push_back(i);
      } else {
        r.records.push_back(gen[i]);
      }
    }
    r.smallest_group = SIZE_MAX;
    for (const auto& [key, n] : counts) {
      if (n >= static_cast<size_t>(options.k)) {
        r.groups++;
        r.smallest_group = std::min(r.smallest_group, n);
      }
    }
    if (r.groups == 0) r.smallest_group = 0;
    best = std::move(r);
  }
  if (best && !(best->records.empty() && !records.empty())) return std::move(*best);

  // Refusal: the smallest combination of quasi-identifiers failing at its coarsest levels.
  if (records.size() < static_cast<size_t>(options.k)) {
    return PermissionDenied("k-anonymity: only " + std::to_string(records.size()) +
                            " records, fewer than k=" + std::to_string(options.k));
  }
  std::vector<int> coarsest;
  for (const auto& q : qis) coarsest.push_back(EffectiveMax(q));
  MEDLAKE_ASSIGN_OR_RETURN(auto gen, GeneralizeAll(qis, records, coarsest));
  const size_t n = qis.size();
  for (size_t size = 1; size <= n; ++size) {
    for (uint32_t mask = 1; mask < (1u << n); ++mask) {
      if (static_cast<size_t>(__builtin_popcount(mask)) != size) continue;
      std::vector<bool> use(n);
      for (size_t j = 0; j < n; ++j) use[j] = (mask >> j) & 1u;
      Grouping g = Group(gen, use, options.k);
      if (g.small_records <= budget) continue;
      std::string names, levels;
      for (size_t j = 0; j < n; ++j) {
        if (!use[j]) continue;
        names += (names.empty() ? "" : ", ") + qis[j].name;
        levels += (levels.empty() ? "" : ", ") + LevelName(qis[j].kind, coarsest[j]);
      }
      return PermissionDenied(
          "k-anonymity: k=" + std::to_string(options.k) +
          " cannot be reached within the allowed generalization: the combination (" + names +
          ") at its coarsest allowed levels (" + levels + ") leaves " +
          std::to_string(g.small_records) + " records in groups smaller than k (smallest group " +
          std::to_string(g.smallest) + ")");
    }
  }
  return PermissionDenied("k-anonymity: k=" + std::to_string(options.k) + " cannot be reached");
}

}  // namespace medlake::privacy
