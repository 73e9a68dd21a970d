// Loading tables into PostgreSQL (libpqxx): CREATE TABLE with typed columns, then COPY.
// A PostgresLoader holds one connection; not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "medlake/status.h"
#include "sql/sql_engine.h"

namespace medlake::sql {

class PostgresLoader {
 public:
  // `url` is a libpq connection string or URI ("postgresql://user@host:port/db").
  static Result<std::unique_ptr<PostgresLoader>> Connect(const std::string& url);
  ~PostgresLoader();

  // Creates (replacing) table `name` and copies `rows` into it in one transaction. Rows hold
  // JSON text per column as TableWriter takes them. Returns the number of rows loaded.
  Result<uint64_t> Load(const std::string& name, const std::vector<ColumnSpec>& columns,
                        const std::vector<std::vector<std::string>>& rows);
  // Runs a query and returns the first column of the first row as text ("" when none).
  Result<std::string> QueryValue(const std::string& sql);

 private:
  struct Impl;
  PostgresLoader() = default;
  std::unique_ptr<Impl> impl_;
};

// PostgreSQL type of a column: TEXT, BIGINT, DOUBLE PRECISION, BOOLEAN or JSONB.
std::string_view PostgresTypeName(ColumnType type);

}  // namespace medlake::sql
