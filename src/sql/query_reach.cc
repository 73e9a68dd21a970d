#include "sql/query_reach.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/string_util.h"

namespace medlake::sql {
namespace {

using nlohmann::json;

// Table functions that compute rows from their arguments alone.
const std::set<std::string, std::less<>> kTableFunctions = {"range", "generate_series", "unnest",
                                                            "json_each", "json_tree"};

// Scalar functions (and macros) that read the engine's settings, session or catalogue.
const std::set<std::string, std::less<>> kEngineFunctions = {"current_setting",
                                                             "getvariable",
                                                             "version",
                                                             "current_database",
                                                             "current_catalog",
                                                             "current_schema",
                                                             "current_schemas",
                                                             "current_query",
                                                             "current_query_id",
                                                             "current_role",
                                                             "current_user",
                                                             "session_user",
                                                             "user",
                                                             "current_connection_id",
                                                             "current_transaction_id",
                                                             "txid_current",
                                                             "in_search_path",
                                                             "get_block_size",
                                                             "col_description",
                                                             "obj_description",
                                                             "shobj_description",
                                                             "format_type",
                                                             "pg_get_viewdef",
                                                             "pg_get_constraintdef",
                                                             "pg_get_expr",
                                                             "pg_has_role",
                                                             "pg_my_temp_schema",
                                                             "pg_is_other_temp_schema",
                                                             "pg_conf_load_time",
                                                             "pg_postmaster_start_time",
                                                             "currval",
                                                             "nextval",
                                                             "stats",
                                                             "write_log",
                                                             "json_serialize_plan"};

bool ReadsTheEngine(std::string_view name) {
  if (kEngineFunctions.count(name) > 0) return true;
  if (name.starts_with("duckdb_") || name.starts_with("pragma_")) return true;
  if (name.starts_with("has_") && name.ends_with("_privilege")) return true;
  return name.starts_with("pg_") && name.ends_with("_is_visible");
}

std::string Text(const json& node, const char* key) {
  auto it = node.find(key);
  return it != node.end() && it->is_string() ? AsciiLower(it->get<std::string>()) : std::string();
}

class Walk {
 public:
  explicit Walk(const std::set<std::string>& tables) : tables_(tables) {}

  // `scope`: the names of the WITH queries visible here.
  Status Visit(const json& node, std::vector<std::string>& scope) {
    if (node.is_array()) {
      for (const auto& child : node) MEDLAKE_RETURN_IF_ERROR(Visit(child, scope));
      return Status::Ok();
    }
    if (!node.is_object()) return Status::Ok();
    const size_t outer = scope.size();
    // A WITH query sees those before it; the query, all of them.
    if (auto ctes = node.find("cte_map");
        ctes != node.end() && ctes->is_object() && ctes->contains("map")) {
      for (const auto& entry : (*ctes)["map"]) {
        MEDLAKE_RETURN_IF_ERROR(Visit(entry.value("value", json()), scope));
        scope.push_back(Text(entry, "key"));
      }
    }
    Status s = VisitOwn(node, scope);
    scope.resize(outer);
    return s;
  }

 private:
  Status VisitOwn(const json& node, std::vector<std::string>& scope) {
    const std::string type = Text(node, "type");
    const bool expression = node.contains("class");
    if (!expression && type == "base_table") MEDLAKE_RETURN_IF_ERROR(Table(node, scope));
    if (!expression && type == "show_ref") {
      return InvalidArgument(
          "DESCRIBE, SHOW and SUMMARIZE read the engine's catalogue: a query reaches the views' "
          "tables and nothing else (their columns are in the view definitions)");
    }
    if (!expression && type == "table_function") {
      const json& call = node.value("function", json());
      const std::string name = Text(call, "function_name");
      if (!call.is_object() || kTableFunctions.count(name) == 0) {
        return InvalidArgument("the table function " + name +
                               "() is not run here: a query reaches the views' tables and "
                               "nothing else (FROM takes range, generate_series, unnest, "
                               "json_each and json_tree)");
      }
    }
    if (expression && Text(node, "class") == "function") {
      const std::string name = Text(node, "function_name");
      if (ReadsTheEngine(name)) {
        return InvalidArgument(name +
                               "() reads the engine's settings or catalogue: a query reaches the "
                               "views' tables and nothing else");
      }
    }
    // A recursive WITH query names itself in its recursive part only: in its first part the
    // name is the catalogue's (WITH RECURSIVE duckdb_tables AS (SELECT ... FROM duckdb_tables
    // UNION ALL ...) read DuckDB's list of tables).
    const bool recursive = !expression && type == "recursive_cte_node";
    for (const auto& [key, child] : node.items()) {
      if (key == "cte_map" || !child.is_structured()) continue;
      const size_t outer = scope.size();
      if (recursive && key == "right") scope.push_back(Text(node, "cte_name"));
      Status s = Visit(child, scope);
      scope.resize(outer);
      MEDLAKE_RETURN_IF_ERROR(s);
    }
    return Status::Ok();
  }

  Status Table(const json& node, const std::vector<std::string>& scope) const {
    const std::string name = Text(node, "table_name");
    const std::string schema = Text(node, "schema_name");
    const std::string catalog = Text(node, "catalog_name");
    if (schema.empty() && catalog.empty() &&
        std::find(scope.begin(), scope.end(), name) != scope.end()) {
      return Status::Ok();
    }
    if ((schema.empty() || schema == "main") && (catalog.empty() || catalog == "memory") &&
        tables_.count(name) > 0) {
      return Status::Ok();
    }
    std::string known;
    for (const auto& t : tables_) known += (known.empty() ? "" : ", ") + t;
    std::string qualified = catalog.empty() ? "" : catalog + ".";
    qualified += schema.empty() ? "" : schema + ".";
    return InvalidArgument(
        "the query reads " + qualified + name + ", which is not one of the views' tables (" +
        (known.empty() ? std::string("none") : known) + "): a query reaches them and nothing else");
  }

  const std::set<std::string>& tables_;
};

}  // namespace

Status CheckReach(std::string_view parse_tree_json, const std::set<std::string>& tables) {
  json tree = json::parse(parse_tree_json, nullptr, false);
  if (tree.is_discarded() || !tree.is_object()) return Internal("json_serialize_sql gave no tree");
  if (tree.value("error", false)) {
    return InvalidArgument(
        "only a SELECT runs here (not PRAGMA, EXPLAIN, CALL, SET or a change to the tables)");
  }
  const json& statements = tree.value("statements", json());
  if (!statements.is_array() || statements.size() != 1) {
    return InvalidArgument("give one SELECT statement");
  }
  std::vector<std::string> scope;
  return Walk(tables).Visit(statements, scope);
}

}  // namespace medlake::sql
