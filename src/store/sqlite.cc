#include "store/sqlite.h"

#include <sqlite3.h>

#include <cstdio>
#include <filesystem>

#include "common/file_util.h"

namespace medlake::store {

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    stmt_ = o.stmt_;
    sql_ = std::move(o.sql_);
    what_ = std::move(o.what_);
    bind_error_ = o.bind_error_;
    o.stmt_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Stmt& Stmt::Bind(int i, int64_t v) {
  Bound(sqlite3_bind_int64(stmt_, i, v));
  return *this;
}
Stmt& Stmt::BindBytes(int i, std::string_view v, bool blob, bool copy) {
  // (SQLite takes an int length: a longer value is refused, not cut.)
  if (v.size() > static_cast<size_t>(INT32_MAX)) {
    Bound(SQLITE_TOOBIG);
    return *this;
  }
  const auto n = static_cast<int>(v.size());
  const sqlite3_destructor_type keep = copy ? SQLITE_TRANSIENT : SQLITE_STATIC;
  Bound(blob ? sqlite3_bind_blob(stmt_, i, v.data(), n, keep)
             : sqlite3_bind_text(stmt_, i, v.data(), n, keep));
  return *this;
}
Stmt& Stmt::BindNull(int i) {
  Bound(sqlite3_bind_null(stmt_, i));
  return *this;
}

Result<bool> Stmt::Step() {
  int rc;
  if (bind_error_ != SQLITE_OK) {  // reported once; the statement is ready for new values
    rc = bind_error_;
    Reset();
  } else {
    rc = sqlite3_step(stmt_);
  }
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string message = what_ + ": " + sqlite3_errstr(rc) + " in: " + sql_.substr(0, 60);
  if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) return Corruption(message);
  return IoError(message);
}

Status Stmt::Run() {
  for (;;) {
    auto r = Step();
    if (!r.ok()) {
      Reset();
      return r.status();
    }
    if (!*r) break;
  }
  Reset();
  return Status::Ok();
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = SQLITE_OK;
}

int64_t Stmt::Int(int col) const {
  return sqlite3_column_int64(stmt_, col);
}
std::string_view Stmt::Text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
           : std::string_view();
}
std::string_view Stmt::Blob(int col) const {
  auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
           : std::string_view();
}
bool Stmt::IsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

namespace {

// How long a statement waits for another connection's lock before it fails with SQLITE_BUSY.
constexpr int kBusyTimeoutMs = 10'000;

// Whether a first read fails for want of write access to the WAL's shared-memory file: a
// read-only folder, or a full disk (it cannot be created or grown).
bool ProbeFails(sqlite3* db) {
  int rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  const int primary = rc & 0xff;
  return primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY || primary == SQLITE_IOERR ||
         primary == SQLITE_FULL;
}

// "file:PATH?immutable=1" with the characters a URI path may not hold escaped (an absolute
// path as "file://" + path, so that one starting with "//" is not read as an authority).
std::string ImmutableUri(const std::string& path) {
  std::string uri = path.starts_with('/') ? "file://" : "file:";
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c <= ' ' || c >= 0x7f) {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      uri += hex;
    } else {
      uri += static_cast<char>(c);
    }
  }
  return uri + "?immutable=1";
}

}  // namespace

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, const DbOptions& options) {
  // No memory statistics: with them every allocation SQLite makes takes a process-wide mutex
  // (a commit of a million identifiers made millions). Only possible before SQLite starts;
  // SQLITE_MISUSE (something started it first) leaves them on, which changes nothing else.
  static const int kNoMemoryStatus = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)kNoMemoryStatus;
  if (std::error_code ec; !options.create && !std::filesystem::exists(path, ec) && !ec) {
    return NotFound("no " + options.what + " at " + path);
  }
  std::unique_ptr<Db> db(new Db());
  db->path_ = path;
  db->what_ = options.what;
  int flags = options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (options.create) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &db->db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_CANTOPEN) return NotFound("no " + options.what + " at " + path);
    return IoError("cannot open " + options.what + " " + path + ": " + sqlite3_errstr(rc));
  }
  sqlite3_busy_timeout(db->db_, kBusyTimeoutMs);
  if (options.read_only &&
      ProbeFails(db->db_)) {  // in WAL mode a reader needs the -shm file beside the database
    // Without write access to the folder (a read-only mount, another user's lake) it cannot
    // create it; the catalog is then read as immutable. That read ignores a write-ahead log
    // left beside the file (committed transactions not yet folded in), and cannot see a
    // writer's changes: refuse both cases rather than read a stale or torn state.
    sqlite3_close_v2(db->db_);
    db->db_ = nullptr;
    std::error_code ec;
    if (std::filesystem::file_size(path + "-wal", ec) > 0 && !ec) {
      return IoError(options.what + " " + path +
                     " has a write-ahead log to fold in, which needs write access to its folder "
                     "(any medlake command run once by its owner does it)");
    }
    const std::string folder = std::filesystem::path(path).parent_path().string();
    if (FolderLock::IsHeld(folder.empty() ? "." : folder)) {  // the lake's writer lock
      return Busy(options.what + " " + path +
                  " is being written; without write access to its folder it cannot be read "
                  "meanwhile");
    }
    rc = sqlite3_open_v2(ImmutableUri(path).c_str(), &db->db_,
                         SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      return IoError("cannot open " + options.what + " " + path + ": " + sqlite3_errstr(rc));
    }
  }
  if (!options.read_only) {
    MEDLAKE_RETURN_IF_ERROR(db->Exec(options.rollback_journal ? "PRAGMA journal_mode=DELETE"
                                                              : "PRAGMA journal_mode=WAL"));
    MEDLAKE_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL"));
    if (options.secure_delete) MEDLAKE_RETURN_IF_ERROR(db->Exec("PRAGMA secure_delete=ON"));
  }
  return db;
}

Status Db::Error(int rc, const std::string& message) const {
  std::string text = what_ + " " + path_ + ": " + message;
  if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) return Corruption(text);
  return IoError(text);
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

Status Db::Exec(std::string_view sql) {
  char* err = nullptr;
  std::string s(sql);
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Error(rc, msg);
  }
  return Status::Ok();
}

Status Db::Transaction(const std::function<Status()>& body) {
  MEDLAKE_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = body();
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  return Exec("COMMIT");
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) return Error(rc, "damaged");
  // A statement medlake wrote that SQLite refuses is a bug; a file it cannot read is not.
  if (rc == SQLITE_ERROR)
    return Internal(what_ + " " + path_ + ": cannot prepare: " + sqlite3_errmsg(db_));
  if (rc != SQLITE_OK) return Error(rc, std::string("cannot prepare: ") + sqlite3_errmsg(db_));
  return Stmt(stmt, std::string(sql), what_ + " " + path_);
}

Result<bool> Db::Checkpoint() {
  sqlite3_busy_timeout(db_, 0);
  const int rc =
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return false;
  if (rc != SQLITE_OK) return Error(rc, std::string("checkpoint: ") + sqlite3_errmsg(db_));
  return true;
}

int64_t Db::LastInsertId() const {
  return sqlite3_last_insert_rowid(db_);
}

int64_t Db::Changes() const {
  return sqlite3_changes64(db_);
}

}  // namespace medlake::store
