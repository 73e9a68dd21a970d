// A small RAII wrapper over SQLite for the privacy module's own files (vault, principals,
// audit). Independent of the store's catalog wrapper so the module stands alone.
//
// The files use the rollback journal (journal_mode=DELETE) and secure_delete=ON, so that a
// file is self-contained (it can be renamed into place) and deleted rows are overwritten with
// zeros. Not thread-safe: one SqliteFile per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "medlake/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace medlake::privacy {

class SqliteStmt {
 public:
  SqliteStmt() = default;
  explicit SqliteStmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
  SqliteStmt(SqliteStmt&& o) noexcept : stmt_(o.stmt_) { o.stmt_ = nullptr; }
  SqliteStmt& operator=(SqliteStmt&& o) noexcept;
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;
  ~SqliteStmt();

  SqliteStmt& Bind(int i, int64_t v);
  SqliteStmt& BindText(int i, std::string_view v);
  SqliteStmt& BindBlob(int i, std::string_view v);
  // true with a row, false when done.
  Result<bool> Step();
  Status Run();

  int64_t Int(int col) const;
  std::string Text(int col) const;
  std::string Blob(int col) const;

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteFile {
 public:
  // Opens `path`; creates it when `create`. `what` names the file in error messages.
  static Result<std::unique_ptr<SqliteFile>> Open(const std::string& path, bool create,
                                                  std::string what);
  ~SqliteFile();

  Status Exec(std::string_view sql);
  Result<SqliteStmt> Prepare(std::string_view sql);
  const std::string& path() const { return path_; }

 private:
  SqliteFile() = default;
  sqlite3* db_ = nullptr;
  std::string path_;
  std::string what_;
};

}  // namespace medlake::privacy
