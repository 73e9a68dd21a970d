#include "sql/disclosure.h"

#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "privacy/pseudonymizer.h"
#include "privacy/suppression.h"

namespace medlake::sql {
namespace {

using nlohmann::json;

// DuckDB aggregate functions that summarise a group.
const std::set<std::string, std::less<>> kSummaries = {
    "count_star",    "count",         "sum",
    "avg",           "mean",          "min",
    "max",           "median",        "stddev",
    "stddev_samp",   "stddev_pop",    "variance",
    "var_samp",      "var_pop",       "quantile",
    "quantile_cont", "quantile_disc", "approx_quantile",
    "mad",           "fsum",          "sumkahan",
    "kahan_sum",     "product",       "entropy",
    "kurtosis",      "skewness",      "approx_count_distinct",
    "count_if",      "bool_and",      "bool_or",
    "corr",          "covar_pop",     "covar_samp",
    "regr_slope",    "regr_intercept"};
// Aggregates whose result is made of individual values rather than a summary.
const std::set<std::string, std::less<>> kRevealing = {
    "list",         "array_agg", "string_agg", "group_concat", "listagg", "first",
    "last",         "any_value", "arbitrary",  "arg_min",      "arg_max", "argmin",
    "argmax",       "min_by",    "max_by",     "histogram",    "mode",    "reservoir_quantile",
    "bitstring_agg"};

struct Walk {
  const std::set<std::string>* engine_aggregates = nullptr;  // every aggregate the engine has
  bool aggregate = false;                                    // holds an aggregate call
  bool free_column = false;                                  // reads a column outside any aggregate
  std::string refusal;
};

void Visit(const json& node, bool inside_aggregate, Walk& w) {
  if (node.is_array()) {
    for (const auto& child : node) Visit(child, inside_aggregate, w);
    return;
  }
  if (!node.is_object()) return;
  const std::string cls = node.value("class", "");
  if (cls == "WINDOW") {
    w.refusal = "window functions give one value per row";
    return;
  }
  if (cls == "SUBQUERY") {
    w.refusal = "subqueries in the select list can return a row's values";
    return;
  }
  if (cls == "STAR") {
    w.refusal = "SELECT * lists rows";
    return;
  }
  if (cls == "COLUMN_REF" && !inside_aggregate) w.free_column = true;
  if (cls == "FUNCTION") {
    std::string name = node.value("function_name", "");
    if (kRevealing.count(name)) {
      w.refusal = "the aggregate " + name + "() returns individual values";
      return;
    }
    // Any other aggregate of the engine is refused rather than mistaken for a scalar function
    // over a group key.
    if (!kSummaries.count(name) && w.engine_aggregates && w.engine_aggregates->count(name)) {
      w.refusal = "the aggregate " + name + "() is not one whose result can be suppressed";
      return;
    }
    if (kSummaries.count(name)) {
      w.aggregate = true;
      inside_aggregate = true;
    }
  }
  for (const auto& [key, child] : node.items()) {
    if (child.is_structured()) Visit(child, inside_aggregate, w);
  }
}

QueryShape NotAggregate(std::string reason) {
  QueryShape s;
  s.reason = std::move(reason);
  return s;
}

}  // namespace

QueryShape ShapeFromParseTree(std::string_view parse_tree_json,
                              const std::set<std::string>& engine_aggregates) {
  json tree = json::parse(parse_tree_json, nullptr, false);
  if (tree.is_discarded() || tree.value("error", true)) {
    return NotAggregate("the query does not parse");
  }
  const json& statements = tree["statements"];
  if (!statements.is_array() || statements.size() != 1) {
    return NotAggregate("give exactly one SELECT statement");
  }
  const json& node = statements[0]["node"];
  if (node.value("type", "") != "SELECT_NODE") {
    return NotAggregate("UNION, INTERSECT and EXCEPT results are not aggregated as a whole");
  }
  if (node.contains("having") && !node["having"].is_null()) {
    return NotAggregate("HAVING can select groups by their size; filter the result instead");
  }
  if (node.contains("qualify") && !node["qualify"].is_null()) {
    return NotAggregate("QUALIFY filters on window functions, which are per row");
  }
  if (node.contains("group_sets") && node["group_sets"].size() > 1) {
    return NotAggregate("GROUPING SETS, ROLLUP and CUBE publish linked tables");
  }
  QueryShape shape;
  const json& from = node.contains("from_table") ? node["from_table"] : json();
  const std::string from_type = from.is_object() ? from.value("type", "") : "";
  const json& ctes = node.contains("cte_map") ? node["cte_map"]["map"] : json();
  if (from_type != "BASE_TABLE" && from_type != "EMPTY") {
    shape.not_one_table = "it reads a " + (from_type.empty() ? std::string("?") : from_type) +
                          " in FROM, not one table";
  } else if (ctes.is_array() && !ctes.empty()) {
    shape.not_one_table = "it reads a WITH query, not one table";
  }
  bool any_aggregate = false;
  for (const auto& expr : node["select_list"]) {
    Walk w;
    w.engine_aggregates = &engine_aggregates;
    Visit(expr, false, w);
    if (!w.refusal.empty()) return NotAggregate(w.refusal);
    if (w.aggregate && w.free_column) {
      return NotAggregate("an output mixes a column with an aggregate of it");
    }
    if (!w.aggregate) {
      shape.outputs.push_back(OutputRole::kKey);
      continue;
    }
    any_aggregate = true;
    std::string fn = expr.value("class", "") == "FUNCTION" ? expr.value("function_name", "") : "";
    shape.outputs.push_back(fn == "count_star" || fn == "count" ? OutputRole::kCount
                                                                : OutputRole::kAggregate);
  }
  if (!any_aggregate) {
    return NotAggregate("the query lists rows; aggregate them (GROUP BY with count(*))");
  }
  shape.aggregate = true;
  return shape;
}

Result<QueryShape> AnalyzeQuery(SqlEngine& engine, std::string_view query) {
  std::string literal = "'";
  for (char c : query) {
    literal.push_back(c);
    if (c == '\'') literal.push_back('\'');
  }
  literal.push_back('\'');
  MEDLAKE_ASSIGN_OR_RETURN(QueryResult r,
                           engine.Query("SELECT json_serialize_sql(" + literal + ")"));
  if (r.rows.size() != 1 || r.rows[0].empty()) return Internal("json_serialize_sql gave no tree");
  MEDLAKE_ASSIGN_OR_RETURN(
      QueryResult functions,
      engine.Query("SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = "
                   "'aggregate'"));
  std::set<std::string> aggregates;
  for (const auto& row : functions.rows) aggregates.insert(row[0]);
  return ShapeFromParseTree(r.rows[0][0], aggregates);
}

namespace {

// Names a researcher's non-aggregate results still mask: n, patients, count*, n_*, *_count.
bool IsCountName(const std::string& name, const std::string& type) {
  if (type != "INTEGER") return false;
  return name == "n" || name == "patients" || name.starts_with("n_") || name.starts_with("count") ||
         name.ends_with("_count");
}

std::string LessThan(int64_t threshold) {
  return "<" + std::to_string(threshold);
}

// Masks the count column `col` of an aggregate result (primary and complementary suppression
// over the table of its group keys); sets masked[row] for the rows masked.
Status SuppressCountColumn(const QueryShape& shape, const QueryResult& r, size_t col,
                           int64_t threshold, std::vector<bool>& masked) {
  std::vector<size_t> keys;
  for (size_t c = 0; c < shape.outputs.size(); ++c) {
    if (shape.outputs[c] == OutputRole::kKey) keys.push_back(c);
  }
  auto label = [&](size_t row, size_t from, size_t to) {
    std::string s;
    for (size_t k = from; k < to; ++k) {
      s += r.nulls[row][keys[k]] ? std::string("\x01") : r.rows[row][keys[k]];
      s.push_back('\x1f');
    }
    return s;
  };
  // Cells: (row label, column label) per result row; one column when there are no keys or
  // when the key values repeat (a group key that is not shown): then every result row is its
  // own table row under one grand total.
  std::set<std::string> tuples;
  for (size_t i = 0; i < r.rows.size(); ++i) tuples.insert(label(i, 0, keys.size()));
  const bool two_way = keys.size() >= 1 && tuples.size() == r.rows.size();
  std::map<std::string, size_t> row_ids, col_ids;
  std::vector<std::pair<size_t, size_t>> at(r.rows.size());
  for (size_t i = 0; i < r.rows.size(); ++i) {
    std::string rl = two_way ? label(i, 0, keys.size() - 1) : std::to_string(i);
    std::string cl = two_way ? label(i, keys.size() - 1, keys.size()) : std::string();
    at[i] = {row_ids.try_emplace(rl, row_ids.size()).first->second,
             col_ids.try_emplace(cl, col_ids.size()).first->second};
  }
  privacy::CountTable table;
  table.rows = row_ids.size();
  table.cols = col_ids.size();
  table.cells.assign(table.rows * table.cols, 0);
  for (size_t i = 0; i < r.rows.size(); ++i) {
    if (r.nulls[i][col]) continue;
    table.cells[at[i].first * table.cols + at[i].second] = std::stoll(r.rows[i][col]);
  }
  MEDLAKE_ASSIGN_OR_RETURN(privacy::SuppressedTable out,
                           privacy::SuppressSmallCounts(table, {threshold, false}));
  for (size_t i = 0; i < r.rows.size(); ++i) {
    if (!out.at(at[i].first, at[i].second).has_value()) masked[i] = true;
  }
  return Status::Ok();
}

}  // namespace

Result<DisclosureReport> ControlResult(const QueryShape& shape, const DisclosurePolicy& policy,
                                       QueryResult& r) {
  DisclosureReport report;
  const std::string less = LessThan(policy.threshold);
  if (policy.aggregates_only) {
    if (!shape.aggregate) return PermissionDenied("role ops sees aggregates only: " + shape.reason);
    if (!shape.not_one_table.empty()) {
      return PermissionDenied("role ops sees counts of one view's rows: " + shape.not_one_table +
                              ", which can repeat rows (a group's count would not be its size)");
    }
    for (size_t c = 0; c < r.columns.size(); ++c) {
      for (size_t i = 0; i < r.rows.size(); ++i) {
        if (r.nulls[i][c]) continue;
        if (privacy::Pseudonymizer::LooksLikePseudonym(r.rows[i][c])) {
          return PermissionDenied("role ops sees aggregates only: column " + r.columns[c] +
                                  " holds patient-level ids");
        }
      }
    }
  }
  if (!shape.aggregate || shape.outputs.size() != r.columns.size()) {
    // Patient-level rows (researcher): mask count-named columns only.
    for (size_t c = 0; c < r.columns.size(); ++c) {
      if (!IsCountName(r.columns[c], r.column_types[c])) continue;
      for (size_t i = 0; i < r.rows.size(); ++i) {
        if (r.nulls[i][c]) continue;
        int64_t v = std::stoll(r.rows[i][c]);
        if (v > 0 && v < policy.threshold) {
          r.rows[i][c] = less;
          r.column_types[c] = "VARCHAR";
          ++report.primary;
        }
      }
    }
    return report;
  }
  bool has_count = false;
  std::vector<bool> masked(r.rows.size(), false);
  for (size_t c = 0; c < r.columns.size(); ++c) {
    if (shape.outputs[c] != OutputRole::kCount) continue;
    has_count = true;
    MEDLAKE_RETURN_IF_ERROR(SuppressCountColumn(shape, r, c, policy.threshold, masked));
  }
  if (!has_count && policy.aggregates_only) {
    return PermissionDenied(
        "role ops sees aggregates with their group sizes: add count(*) to the select list so "
        "that small groups can be suppressed");
  }
  // A masked count reads "<10" only when it is below the threshold; a count masked to protect
  // another (complementary), or because another count of its row is masked, reads
  // "suppressed", as in `medlake cohort`. Reported per shown count (the totals are not shown).
  // A statistic that is NULL is masked as well: "no one in the group has a death date" is
  // what it says of a small group.
  for (size_t i = 0; i < r.rows.size(); ++i) {
    if (!masked[i]) continue;
    for (size_t c = 0; c < r.columns.size(); ++c) {
      if (shape.outputs[c] == OutputRole::kKey) continue;
      if (shape.outputs[c] == OutputRole::kCount && !r.nulls[i][c]) {
        const int64_t v = std::stoll(r.rows[i][c]);
        const bool small = v > 0 && v < policy.threshold;
        ++(small ? report.primary : report.complementary);
        r.rows[i][c] = small ? less : "suppressed";
      } else {
        ++report.statistics;
        r.rows[i][c] = "suppressed";
        r.nulls[i][c] = false;
      }
      r.column_types[c] = "VARCHAR";
    }
  }
  return report;
}

}  // namespace medlake::sql
