// k-anonymity for research exports over declared quasi-identifiers.
//
// Each quasi-identifier has a generalization hierarchy:
//   kAge       0 years "47" · 1 five-year band "45-49" · 2 ten-year "40-49" · 3 twenty-year
//              "40-59" · 4 "*"; ages of 90 and over are "90+" at levels 1 to 3
//   kSex       0 as given · 1 "*"
//   kPostcode  0 full (upper case, no spaces) · 1..4 drop that many trailing characters · 5 "*"
//   kDate      0 "YYYY-MM-DD" · 1 "YYYY-MM" · 2 "YYYY" · 3 five-year "1990-1994" · 4 "*"
// An empty value stays "" (its own group) up to the top level.
//
// MakeKAnonymous searches the full lattice of levels (small: at most a few hundred nodes) for
// the least generalization, by total level, that makes every group of identical generalized
// records at least k large, allowing an optional fraction of outlier records to be withheld.
// When none exists within the allowed levels it refuses with kPermissionDenied and a reason
// naming the smallest combination of quasi-identifiers that cannot reach k. Messages hold
// names, levels and counts, never values. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake::privacy {

enum class QuasiKind { kAge, kSex, kPostcode, kDate };

struct QuasiIdentifier {
  std::string name;  // column name, used in reasons
  QuasiKind kind = QuasiKind::kAge;
  int max_level = -1;  // the coarsest level allowed; -1 for the kind's top ("*")
};

struct KAnonymityOptions {
  int k = 5;
  double max_suppression = 0.0;  // fraction of records that may be withheld as outliers
};

struct KAnonymityResult {
  std::vector<int> levels;                        // per quasi-identifier
  std::vector<std::vector<std::string>> records;  // generalized; withheld records removed
  std::vector<size_t> withheld;                   // input indices of withheld records
  size_t groups = 0;
  size_t smallest_group = 0;
};

int MaxLevel(QuasiKind kind);
std::string LevelName(QuasiKind kind, int level);
// The generalization of `value` at `level`; kInvalidArgument for an unparseable age or date.
Result<std::string> Generalize(QuasiKind kind, std::string_view value, int level);

// `records[i][j]` is the value of quasi-identifier j for record i.
Result<KAnonymityResult> MakeKAnonymous(const std::vector<QuasiIdentifier>& quasi_identifiers,
                                        const std::vector<std::vector<std::string>>& records,
                                        const KAnonymityOptions& options = {});

}  // namespace medlake::privacy
