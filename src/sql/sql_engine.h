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

// Quotes an identifier for SQL ("a""b").
std::string QuoteIdentifier(std::string_view name);

}  // namespace medlake::sql
