#include "query/k_anonymous_rows.h"

#include <nlohmann/json.hpp>

#include "query/table_output.h"

namespace medlake::query {

Result<QuasiColumn> ParseQuasiColumn(const std::string& spec) {
  auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) {
    return InvalidArgument("--quasi expects COLUMN=KIND (age, sex, postcode or date), got " + spec);
  }
  std::string kind = spec.substr(eq + 1);
  QuasiColumn q{spec.substr(0, eq)};
  if (kind == "age") {
    q.kind = privacy::QuasiKind::kAge;
  } else if (kind == "sex") {
    q.kind = privacy::QuasiKind::kSex;
  } else if (kind == "postcode") {
    q.kind = privacy::QuasiKind::kPostcode;
  } else if (kind == "date") {
    q.kind = privacy::QuasiKind::kDate;
  } else {
    return InvalidArgument("unknown quasi-identifier kind " + kind +
                           " (age, sex, postcode or date)");
  }
  return q;
}

Result<KAnonymitySummary> MakeRowsKAnonymous(const std::vector<views::Column>& columns,
                                             std::vector<views::Row>& rows,
                                             const KAnonymitySpec& spec) {
  if (spec.columns.empty()) return InvalidArgument("declare at least one quasi-identifier");
  std::vector<size_t> at;
  std::vector<privacy::QuasiIdentifier> qis;
  for (const auto& q : spec.columns) {
    size_t c = 0;
    while (c < columns.size() && columns[c].name != q.column) ++c;
    if (c == columns.size()) {
      return InvalidArgument("quasi-identifier " + q.column + " is not a column of the view");
    }
    if (columns[c].collection) {
      return InvalidArgument("quasi-identifier " + q.column + " is a collection column");
    }
    at.push_back(c);
    qis.push_back({q.column, q.kind, -1});
  }
  std::vector<std::vector<std::string>> records;
  records.reserve(rows.size());
  for (const auto& row : rows) {
    std::vector<std::string> values;
    for (size_t c : at) values.push_back(CellText(row[c]));
    records.push_back(std::move(values));
  }
  privacy::KAnonymityOptions options{spec.k, spec.max_suppression};
  MEDLAKE_ASSIGN_OR_RETURN(privacy::KAnonymityResult result,
                           privacy::MakeKAnonymous(qis, records, options));
  std::vector<bool> withheld(rows.size(), false);
  for (size_t i : result.withheld) withheld[i] = true;
  std::vector<views::Row> kept;
  kept.reserve(rows.size() - result.withheld.size());
  size_t next = 0;  // result.records skips withheld rows
  for (size_t i = 0; i < rows.size(); ++i) {
    if (withheld[i]) continue;
    views::Row row = std::move(rows[i]);
    for (size_t j = 0; j < at.size(); ++j) {
      const std::string& value = result.records[next][j];
      row[at[j]] = value.empty() ? "null" : nlohmann::json(value).dump();
    }
    ++next;
    kept.push_back(std::move(row));
  }
  rows = std::move(kept);
  KAnonymitySummary summary;
  for (size_t j = 0; j < qis.size(); ++j) {
    summary.generalizations.push_back(qis[j].name + ": " +
                                      privacy::LevelName(qis[j].kind, result.levels[j]));
  }
  summary.groups = result.groups;
  summary.smallest_group = result.smallest_group;
  summary.withheld = result.withheld.size();
  return summary;
}

}  // namespace medlake::query
