// The privacy module's own SQLite files (vault, principals, audit) through the shared wrapper
// (store/sqlite.h): rollback journal, so that a file is self-contained and can be renamed
// into place by a rekey, and secure_delete, so that deleted rows are overwritten with zeros.
#pragma once

#include <memory>
#include <string>

#include "store/sqlite.h"

namespace medlake::privacy {

using SqliteFile = store::Db;
using SqliteStmt = store::Stmt;

// Opens `path` (creating it when `create`); `what` names the file in errors.
inline Result<std::unique_ptr<SqliteFile>> OpenSqliteFile(const std::string& path, bool create,
                                                          std::string what) {
  store::DbOptions options;
  options.create = create;
  options.rollback_journal = true;
  options.secure_delete = true;
  options.what = std::move(what);
  return store::Db::Open(path, options);
}

}  // namespace medlake::privacy
