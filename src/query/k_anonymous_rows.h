// k-anonymity for research extracts of a view (`medlake view --k-anonymity K --quasi COL=KIND`):
// the view's rows are held, the declared quasi-identifier columns generalized by
// privacy::MakeKAnonymous (age bands, sex, postcode prefixes, date precision) until every
// combination of their values is shared by at least K rows, and outlier rows withheld only up
// to the allowed fraction; otherwise the extract is refused with the reason (the smallest
// combination of quasi-identifiers that cannot reach K, never values).
//
// Memory: the rows are held until the check is done (research extracts, not whole lakes).
#pragma once

#include <string>
#include <vector>

#include "medlake/status.h"
#include "privacy/k_anonymity.h"
#include "views/view.h"

namespace medlake::query {

struct QuasiColumn {
  std::string column;
  privacy::QuasiKind kind = privacy::QuasiKind::kAge;
};

struct KAnonymitySpec {
  std::vector<QuasiColumn> columns;
  int k = 5;
  double max_suppression = 0.0;  // fraction of rows that may be withheld
};

// "COLUMN=KIND" with KIND one of age, sex, postcode, date.
Result<QuasiColumn> ParseQuasiColumn(const std::string& spec);

struct KAnonymitySummary {
  std::vector<std::string> generalizations;  // per quasi-identifier: "age: 5-year bands"
  size_t groups = 0;
  size_t smallest_group = 0;
  size_t withheld = 0;
};

// Generalizes `rows` in place (generalized values become JSON strings; withheld rows are
// removed). kInvalidArgument for an unknown column, kPermissionDenied when K is out of reach.
Result<KAnonymitySummary> MakeRowsKAnonymous(const std::vector<views::Column>& columns,
                                             std::vector<views::Row>& rows,
                                             const KAnonymitySpec& spec);

}  // namespace medlake::query
