#include "privacy/sqlite_file.h"

#include <sqlite3.h>

#include <filesystem>

namespace medlake::privacy {

SqliteStmt& SqliteStmt::operator=(SqliteStmt&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}

SqliteStmt::~SqliteStmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}

SqliteStmt& SqliteStmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}

SqliteStmt& SqliteStmt::BindText(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

SqliteStmt& SqliteStmt::BindBlob(int i, std::string_view v) {
  sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Result<bool> SqliteStmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
    return Corruption(std::string("privacy store: ") + sqlite3_errstr(rc));
  }
  return IoError(std::string("privacy store: ") + sqlite3_errstr(rc));
}

Status SqliteStmt::Run() {
  for (;;) {
    auto r = Step();
    if (!r.ok()) {
      sqlite3_reset(stmt_);
      return r.status();
    }
    if (!*r) break;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return Status::Ok();
}

int64_t SqliteStmt::Int(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

std::string SqliteStmt::Text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
}

std::string SqliteStmt::Blob(int col) const {
  auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
}

Result<std::unique_ptr<SqliteFile>> SqliteFile::Open(const std::string& path, bool create,
                                                     std::string what) {
  if (!create && !std::filesystem::exists(path)) return NotFound("no " + what + " at " + path);
  std::unique_ptr<SqliteFile> f(new SqliteFile());
  f->path_ = path;
  f->what_ = std::move(what);
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &f->db_, flags, nullptr);
  if (rc != SQLITE_OK)
    return IoError("cannot open " + f->what_ + " " + path + ": " + sqlite3_errstr(rc));
  sqlite3_busy_timeout(f->db_, 10'000);
  MEDLAKE_RETURN_IF_ERROR(f->Exec("PRAGMA journal_mode=DELETE"));
  MEDLAKE_RETURN_IF_ERROR(f->Exec("PRAGMA synchronous=FULL"));
  MEDLAKE_RETURN_IF_ERROR(f->Exec("PRAGMA secure_delete=ON"));
  return f;
}

SqliteFile::~SqliteFile() {
  if (db_) sqlite3_close_v2(db_);
}

Status SqliteFile::Exec(std::string_view sql) {
  char* err = nullptr;
  std::string s(sql);
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
      return Corruption(what_ + " " + path_ + ": " + msg);
    return IoError(what_ + " " + path_ + ": " + msg);
  }
  return Status::Ok();
}

Result<SqliteStmt> SqliteFile::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
      return Corruption(what_ + " " + path_ + " is damaged");
    return Internal(what_ + ": cannot prepare: " + sqlite3_errmsg(db_));
  }
  return SqliteStmt(stmt);
}

}  // namespace medlake::privacy
