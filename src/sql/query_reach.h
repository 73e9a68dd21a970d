// What a query that a user wrote may read (`medlake sql`): the engine's tables (the views),
// its own WITH queries, and functions of its values. Checked on DuckDB's parse tree
// (json_serialize_sql), before the query runs, for every role.
//
// Allowed, by allow-list: table references that name one of the engine's tables (optionally
// as main.T or memory.main.T) or a WITH query in scope (a WITH query does not see itself, or
// those after it, unless recursive: a self-reference named the catalogue's table of that
// name); table functions in FROM that compute from their arguments (range, generate_series,
// unnest, json_each, json_tree). Refused: every other table or view (duckdb_tables,
// information_schema.*, pg_catalog.*, sqlite_master), every other table function
// (duckdb_settings(), pragma_version(), query(), read_csv(), ...), DESCRIBE, SHOW and
// SUMMARIZE, and the scalar functions that read the engine's settings, session or catalogue
// (current_setting, version, current_database, pg_get_viewdef, has_*_privilege, ...; a
// deny-list: the other scalar functions, several hundred, compute from their arguments).
// A statement that is not one SELECT (PRAGMA, EXPLAIN, CALL, SET, ...) has no such tree and
// is refused by the caller.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "medlake/status.h"

namespace medlake::sql {

// OK when the query of `parse_tree_json` (json_serialize_sql's output for one statement)
// reads nothing but `tables` (lower-case names) and what the query itself makes;
// kInvalidArgument naming what it reaches otherwise. Pure; exposed for tests.
Status CheckReach(std::string_view parse_tree_json, const std::set<std::string>& tables);

}  // namespace medlake::sql
