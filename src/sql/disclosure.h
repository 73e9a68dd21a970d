// Disclosure control for SQL results shown to the researcher and ops roles (docs/privacy.md,
// "Disclosure control"), applied by `medlake sql` (and later the server) after a query runs.
//
// The query is classified from DuckDB's own parse tree (json_serialize_sql), not from column
// names: an aggregate query is one SELECT whose every output is either a group key (no
// aggregate inside) or an aggregate (every column it reads is inside an aggregate function),
// with one grouping set and no HAVING, QUALIFY, window function, set operation, star or
// subquery in the select list, and no aggregate that returns individual values (list,
// string_agg, first, arg_max, mode, ...). `count(*)` and `count(x)` outputs are the group
// sizes.
//
// On an aggregate result, every count below the threshold is masked as "<10" (primary), then
// more counts are masked as "suppressed" (complementary, privacy::SuppressSmallCounts: such a
// count is not below the threshold, so it does not read "<10") so that no masked count
// can be recovered from the totals a caller could query separately: the counts are laid out
// as a table whose rows are the values of all group keys but the last and whose columns are
// the values of the last key (one column without keys), and its row, column and grand totals
// count as published. In a row whose count is masked, every other aggregate (sum, avg, min,
// max, ...) is masked too, so no statistic of a group below the threshold is shown.
//
// Role policy (ControlResult): ops sees aggregate queries over one table only (anything else
// is refused, with the reason, and so is a result holding a pseudonym or resource id, in any
// letter case, or an aggregate query without a count). A researcher's non-aggregate results
// are patient-level rows that the role may see, with count-named columns still masked below
// the threshold.
//
// Not covered: differencing between separate queries beyond the published totals (e.g. two
// WHERE clauses that differ by one patient); counts of rows rather than patients (a group of
// one patient with ten observations has count 10; count DISTINCT a patient column instead).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"
#include "sql/sql_engine.h"

namespace medlake::sql {

enum class OutputRole { kKey, kCount, kAggregate };

struct QueryShape {
  bool aggregate = false;           // an aggregate query as defined above
  std::string reason;               // why it is not one, for refusals
  std::vector<OutputRole> outputs;  // per select-list entry, when aggregate
  // Why its counts may not be group sizes (empty when they are): it reads something else than
  // one table (a join, a subquery, a CTE or a table function in FROM can repeat rows, so that
  // a group of one counts 300). Refused for ops.
  std::string not_one_table;
};

// The shape of a query from the JSON of DuckDB's json_serialize_sql, given the names of every
// aggregate function of the engine (an aggregate that is neither a known summary nor a known
// revealing one is refused). Pure; exposed for tests.
QueryShape ShapeFromParseTree(std::string_view parse_tree_json,
                              const std::set<std::string>& engine_aggregates);
// The shape of `query`, parsed by `engine` (which does not run it).
Result<QueryShape> AnalyzeQuery(SqlEngine& engine, std::string_view query);

struct DisclosurePolicy {
  bool aggregates_only = false;  // ops
  int64_t threshold = 10;
};

struct DisclosureReport {
  size_t primary = 0;        // counts masked because they are small, shown as "<10"
  size_t complementary = 0;  // counts masked to protect them, shown as "suppressed"
  size_t statistics = 0;     // other aggregates masked in rows of masked counts
};

// Masks `result` in place as described above; kPermissionDenied when the policy refuses it.
Result<DisclosureReport> ControlResult(const QueryShape& shape, const DisclosurePolicy& policy,
                                       QueryResult& result);

}  // namespace medlake::sql
