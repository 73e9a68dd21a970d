// Writers for view rows: CSV (RFC 4180), TSV, NDJSON (one object per row, keys in column order,
// nulls explicit, collection columns as arrays). Values arrive as JSON text per column.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "medlake/status.h"
#include "views/view.h"

namespace medlake::query {

enum class TextFormat { kCsv, kTsv, kNdjson };

class RowWriter {
 public:
  // Writes to `out` (not owned; flushed, not closed, by Finish).
  RowWriter(TextFormat format, std::vector<views::Column> columns, FILE* out);
  ~RowWriter();
  Status WriteHeader();
  Status Write(const views::Row& row);
  Status Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The text of a JSON value for a CSV cell: strings unquoted and unescaped, "null" empty, other
// values (numbers, booleans, arrays, objects) as their JSON.
std::string CellText(const std::string& json_value);

}  // namespace medlake::query
