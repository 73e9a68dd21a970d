// A thin RAII wrapper over the SQLite C API, for the catalog (WAL: readers keep a consistent
// snapshot while a writer commits) and for the privacy module's files (rollback journal, so
// a file is self-contained and can be renamed into place; secure_delete, so deleted rows are
// overwritten). Built as its own library (medlake::sqlite) so that both can use it. Not
// thread-safe: one Db per thread. Errors name the file by its `what` and path; damaged
// files give kCorruption.
#pragma once

#include <cstdint>
#include <functional>
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
  Stmt(sqlite3_stmt* stmt, std::string sql, std::string what)
      : stmt_(stmt), sql_(std::move(sql)), what_(std::move(what)) {}
  Stmt(Stmt&& o) noexcept
      : stmt_(o.stmt_),
        sql_(std::move(o.sql_)),
        what_(std::move(o.what_)),
        bind_error_(o.bind_error_) {
    o.stmt_ = nullptr;
  }
  Stmt& operator=(Stmt&& o) noexcept;
  ~Stmt();

  // A value that cannot be bound (SQLITE_TOOBIG for one over SQLite's limit) makes the next
  // Step fail with that error.
  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, std::string_view v) { return BindBytes(i, v, false, true); }
  // Binds `v` without copying it: its bytes must stay alive and unchanged until the statement
  // is bound again or destroyed (a reset keeps bindings).
  Stmt& BindView(int i, std::string_view v) { return BindBytes(i, v, false, false); }
  Stmt& BindBlob(int i, std::string_view v) { return BindBytes(i, v, true, true); }
  // A blob bound without copying, as BindView binds text.
  Stmt& BindBlobView(int i, std::string_view v) { return BindBytes(i, v, true, false); }
  Stmt& BindNull(int i);
  // Steps once: true with a row, false when done; errors become kIoError (kCorruption for a
  // damaged file).
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
  std::string what_;
  int bind_error_ = 0;  // the first failed bind since the last reset (SQLITE_OK: none)
  // Binds `v` as a blob or as text, copied by SQLite or viewed (see BindView).
  Stmt& BindBytes(int i, std::string_view v, bool blob, bool copy);
  void Bound(int rc) {
    if (rc != 0 && bind_error_ == 0) bind_error_ = rc;
  }
};

struct DbOptions {
  bool create = false;
  bool read_only = false;
  bool rollback_journal = false;  // else WAL
  bool secure_delete = false;
  std::string what = "catalog";  // names the file in errors
};

class Db {
 public:
  // Opens the database at `path` with synchronous=FULL. kNotFound when it does not exist and
  // `create` is false.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, const DbOptions& options);
  // The catalog: WAL.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, bool create, bool read_only) {
    return Open(path, DbOptions{create, read_only});
  }
  ~Db();

  Status Exec(std::string_view sql);
  // Runs `body` in a write transaction (BEGIN IMMEDIATE): committed when it succeeds, rolled
  // back when it fails (its error is returned).
  Status Transaction(const std::function<Status()>& body);
  Result<Stmt> Prepare(std::string_view sql);
  // Folds the write-ahead log into the database file and empties it, when no reader of
  // another connection still needs it (without waiting for one: a reader keeps its frames,
  // which the next call folds). Committed transactions then live in the database file, whose
  // damage SQLite reports, rather than in the log, where a damaged frame silently ends
  // recovery: every transaction after it would be lost. Returns whether the log was emptied;
  // errors: kIoError.
  Result<bool> Checkpoint();
  int64_t LastInsertId() const;
  // Rows the last finished INSERT, UPDATE or DELETE changed (0 for an insert that DO NOTHING
  // skipped).
  int64_t Changes() const;
  const std::string& path() const { return path_; }

 private:
  Db() = default;
  Status Error(int rc, const std::string& message) const;
  sqlite3* db_ = nullptr;
  std::string path_;
  std::string what_;
};

}  // namespace medlake::store
