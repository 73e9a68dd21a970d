// SqlEngine: embedded SQL over tables that medlake fills (DuckDB, through its C API only;
// this module is the only one that includes duckdb.h).
//
// An engine is an in-memory database. Tables are created with typed columns and filled row by
// row; queries return a materialized result. Parquet files are written with DuckDB's COPY.
// Not thread-safe: use one engine from one thread (fill tables from a single appender).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "json/json.h"
#include "medlake/status.h"

namespace medlake::sql {

enum class ColumnType { kVarchar, kBigint, kDouble, kBoolean, kJson };

struct ColumnSpec {
  std::string name;
  ColumnType type = ColumnType::kVarchar;
};

// Maps a FHIR primitive type name (a ViewDefinition column type) to a SQL type:
// integer/positiveInt/unsignedInt/integer64 -> BIGINT, decimal -> DOUBLE, boolean -> BOOLEAN,
// everything else (strings, codes, dates kept with their FHIR precision) -> VARCHAR.
ColumnType FromFhirType(std::string_view fhir_type, bool collection);
std::string_view SqlTypeName(ColumnType type);

// A query result, every cell as text; nulls are flagged.
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::string> column_types;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<bool>> nulls;
};

class TableWriter;

class SqlEngine {
 public:
  static Result<std::unique_ptr<SqlEngine>> Open();
  ~SqlEngine();

  // Creates table `name` (replacing one of that name) and returns a writer to fill it.
  Result<std::unique_ptr<TableWriter>> CreateTable(const std::string& name,
                                                   const std::vector<ColumnSpec>& columns);
  Result<QueryResult> Query(const std::string& sql);
  // Runs a statement that returns nothing of interest (DDL, COPY).
  Status Execute(const std::string& sql);
  // Writes the rows of `query` to a Parquet file.
  Status CopyToParquet(const std::string& query, const std::string& path);
  // Closes the engine to everything but its tables, for statements a user wrote: no file,
  // network or extension (read_text('…/keys/lake.key') read the lake key), and no setting
  // changed back. For good: CopyToParquet fails after it.
  Status Seal();
  // OK when `sql`, a query a user wrote, is one SELECT (WITH, FROM-first, VALUES...) that
  // reads the engine's tables and nothing else (sql/query_reach.h): not a PRAGMA of any kind
  // (enable_profiling printed every operator's row count, under disclosure control; version,
  // database_list, table_info described the engine), an EXPLAIN ANALYZE (the same counts as
  // its result), a CALL (enable_logging aborted the process) or several statements, and no
  // catalogue or settings function (duckdb_settings(), duckdb_tables, current_setting).
  // kInvalidArgument otherwise; DuckDB's parse errors as Query gives them.
  Status CheckUserQuery(const std::string& sql);

 private:
  struct Impl;
  SqlEngine() = default;
  std::unique_ptr<Impl> impl_;
};

// Appends rows to one table. Values are given as JSON text (a ViewDefinition's output):
// "null" is NULL, strings are unquoted, numbers and booleans converted to the column type.
class TableWriter {
 public:
  ~TableWriter();
  Status AppendJsonRow(const std::vector<std::string>& json_values);
  // Flushes and closes; the table is complete after this.
  Status Close();

 private:
  friend class SqlEngine;
  struct Impl;
  TableWriter() = default;
  std::unique_ptr<Impl> impl_;
};

// A view's value (its JSON text) as a typed column stores it. One rule for both SQL targets,
// DuckDB (`sql`) and PostgreSQL (`load-postgres`), which took different values: "null" or ""
// is NULL; BIGINT takes an integer, or a number without a fraction below 2^63 (75.0 is 75);
// DOUBLE a number; BOOLEAN true or false; VARCHAR a string's text, or the JSON text of any
// other value; JSON the text as it is. A string is never converted to a number or a Boolean
// ("000123" is not BIGINT).
struct Cell {
  enum class Kind { kNull, kInteger, kDouble, kBoolean, kText };
  Kind kind = Kind::kNull;
  int64_t integer = 0;
  double number = 0;
  bool boolean = false;
  // kText: a decoded JSON string (owned), or the value's JSON text itself (borrowed: valid as
  // long as the text given to ReadCell).
  std::string owned;
  std::string_view borrowed;
  bool is_borrowed = false;
  std::string_view Text() const { return is_borrowed ? borrowed : std::string_view(owned); }
};

// The cell of `json_text` in a column of `type`; kInvalidArgument when the value is not of the
// type, naming `table` and `column` but never the value (it may be patient data).
Result<Cell> ReadCell(ColumnType type, std::string_view json_text, json::Parser& parser,
                      std::string_view table, std::string_view column);

// Quotes an identifier for SQL ("a""b").
std::string QuoteIdentifier(std::string_view name);

}  // namespace medlake::sql
