// Loading tables into PostgreSQL (libpqxx): CREATE TABLE with typed columns, then COPY.
// A PostgresLoader holds one connection; not thread-safe (calls from different threads must
// not overlap). Rows are streamed: a TableLoad sends each row into the COPY stream as it is
// appended, so memory does not grow with the table.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "medlake/status.h"
#include "sql/sql_engine.h"

namespace medlake::sql {

class PostgresLoader;

// One table being loaded, inside one transaction: the table is (re)created when the load
// begins and becomes visible, replacing any previous table of that name, only at Finish().
// Destroying a TableLoad without Finish() (or after an error) rolls the transaction back and
// leaves the previous table as it was. A TableLoad must not outlive its PostgresLoader, and a
// loader runs one TableLoad at a time.
class TableLoad {
 public:
  ~TableLoad();
  TableLoad(const TableLoad&) = delete;
  TableLoad& operator=(const TableLoad&) = delete;

  // Sends one row (JSON text per column, as TableWriter takes them; "null" or "" for NULL)
  // into the COPY stream. Errors: kInvalidArgument for a row of the wrong width, kIoError when
  // the server fails; after an error the load can only be destroyed.
  [[nodiscard]] Status Append(const std::vector<std::string>& row);
  // Ends the COPY and commits. Returns the number of rows loaded.
  Result<uint64_t> Finish();

 private:
  friend class PostgresLoader;
  struct Impl;
  TableLoad() = default;
  std::unique_ptr<Impl> impl_;
};

class PostgresLoader {
 public:
  // `url` is a libpq connection string or URI ("postgresql://user@host:port/db").
  static Result<std::unique_ptr<PostgresLoader>> Connect(const std::string& url);
  ~PostgresLoader();

  // Starts loading table `name`: opens a transaction, drops and creates the table, and opens
  // the COPY stream. Errors: kInvalidArgument without columns, kIoError from the server.
  Result<std::unique_ptr<TableLoad>> BeginLoad(const std::string& name,
                                               const std::vector<ColumnSpec>& columns);
  // BeginLoad, Append of every row, Finish: for tables already in memory.
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
