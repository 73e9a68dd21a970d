// A thin RAII wrapper over the SQLite C API used by the catalog. Not thread-safe: one Db per
// thread (SQLite WAL mode gives readers a consistent snapshot while a writer commits).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "medlake/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace medlake::store {

class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3_stmt* stmt, std::string sql) : stmt_(stmt), sql_(std::move(sql)) {}
  Stmt(Stmt&& o) noexcept : stmt_(o.stmt_), sql_(std::move(o.sql_)) { o.stmt_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  ~Stmt();

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, std::string_view v);
  Stmt& BindBlob(int i, std::string_view v);
  Stmt& BindNull(int i);
  // Steps once: true with a row, false when done; errors become kIoError.
  Result<bool> Step();
  // Steps to completion and resets for reuse.
  Status Run();
  void Reset();

  int64_t Int(int col) const;
  std::string_view Text(int col) const;
  std::string_view Blob(int col) const;
  bool IsNull(int col) const;

 private:
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class Db {
 public:
  // Opens (creating if `create`) the database at `path` in WAL mode with synchronous=FULL.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, bool create, bool read_only);
  ~Db();

  Status Exec(std::string_view sql);
  Result<Stmt> Prepare(std::string_view sql);
  int64_t LastInsertId() const;

 private:
  Db() = default;
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace medlake::store
