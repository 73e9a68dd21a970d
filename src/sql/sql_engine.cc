#include "sql/sql_engine.h"

#include <duckdb.h>

#include <cmath>
#include <cstdlib>

#include "common/string_util.h"
#include "json/json.h"

namespace medlake::sql {
namespace {

// DuckDB's error, without the data values it may quote: errors raised by a value (a cast
// that fails, an overflow) keep their kind only; others (syntax, unknown column) have the
// quoted parts that are not in the statement itself redacted.
Status DuckError(const char* what, const char* detail, std::string_view sql) {
  std::string text = detail ? detail : "unknown DuckDB error";
  for (std::string_view kind : {"Conversion Error", "Out of Range Error", "Invalid Input Error"}) {
    if (std::string_view(text).starts_with(kind)) {
      text = std::string(kind) + ": a value in the data could not be used (values are not shown)";
      return InvalidArgument(std::string(what) + ": " + text);
    }
  }
  return InvalidArgument(std::string(what) + ": " + RedactDataValues(text, sql));
}

std::string Quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "''";
    else
      out.push_back(c);
  }
  out += "'";
  return out;
}

}  // namespace

ColumnType FromFhirType(std::string_view t, bool collection) {
  if (collection) return ColumnType::kJson;
  if (t == "integer" || t == "positiveInt" || t == "unsignedInt" || t == "integer64") {
    return ColumnType::kBigint;
  }
  if (t == "decimal") return ColumnType::kDouble;
  if (t == "boolean") return ColumnType::kBoolean;
  return ColumnType::kVarchar;
}

std::string_view SqlTypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kVarchar:
      return "VARCHAR";
    case ColumnType::kBigint:
      return "BIGINT";
    case ColumnType::kDouble:
      return "DOUBLE";
    case ColumnType::kBoolean:
      return "BOOLEAN";
    case ColumnType::kJson:
      return "JSON";
  }
  return "VARCHAR";
}

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"')
      out += "\"\"";
    else
      out.push_back(c);
  }
  out += "\"";
  return out;
}

struct SqlEngine::Impl {
  duckdb_database db = nullptr;
  duckdb_connection con = nullptr;
  ~Impl() {
    if (con) duckdb_disconnect(&con);
    if (db) duckdb_close(&db);
  }
};

struct TableWriter::Impl {
  duckdb_appender appender = nullptr;
  std::vector<ColumnType> types;
  std::vector<std::string> names;
  std::string table;
  json::Parser parser;
  ~Impl() {
    if (appender) duckdb_appender_destroy(&appender);
  }
};

SqlEngine::~SqlEngine() = default;
TableWriter::~TableWriter() = default;

Result<std::unique_ptr<SqlEngine>> SqlEngine::Open() {
  std::unique_ptr<SqlEngine> e(new SqlEngine());
  e->impl_ = std::make_unique<Impl>();
  char* err = nullptr;
  if (duckdb_open_ext(nullptr, &e->impl_->db, nullptr, &err) == DuckDBError) {
    Status s = Internal(std::string("cannot open DuckDB: ") + (err ? err : ""));
    duckdb_free(err);
    return s;
  }
  if (duckdb_connect(e->impl_->db, &e->impl_->con) == DuckDBError) {
    return Internal("cannot connect to DuckDB");
  }
  return e;
}

Status SqlEngine::Execute(const std::string& sql) {
  duckdb_result result;
  if (duckdb_query(impl_->con, sql.c_str(), &result) == DuckDBError) {
    Status s = DuckError("SQL error", duckdb_result_error(&result), sql);
    duckdb_destroy_result(&result);
    return s;
  }
  duckdb_destroy_result(&result);
  return Status::Ok();
}

Result<QueryResult> SqlEngine::Query(const std::string& sql) {
  duckdb_result result;
  if (duckdb_query(impl_->con, sql.c_str(), &result) == DuckDBError) {
    Status s = DuckError("SQL error", duckdb_result_error(&result), sql);
    duckdb_destroy_result(&result);
    return s;
  }
  QueryResult out;
  idx_t cols = duckdb_column_count(&result);
  idx_t rows = duckdb_row_count(&result);
  for (idx_t c = 0; c < cols; ++c) {
    out.columns.emplace_back(duckdb_column_name(&result, c));
    duckdb_logical_type type = duckdb_column_logical_type(&result, c);
    char* alias = duckdb_logical_type_get_alias(type);
    std::string name;
    if (alias) {
      name = alias;
      duckdb_free(alias);
    } else {
      switch (duckdb_column_type(&result, c)) {
        case DUCKDB_TYPE_BOOLEAN:
          name = "BOOLEAN";
          break;
        case DUCKDB_TYPE_TINYINT:
        case DUCKDB_TYPE_SMALLINT:
        case DUCKDB_TYPE_INTEGER:
        case DUCKDB_TYPE_BIGINT:
        case DUCKDB_TYPE_UTINYINT:
        case DUCKDB_TYPE_USMALLINT:
        case DUCKDB_TYPE_UINTEGER:
        case DUCKDB_TYPE_UBIGINT:
        case DUCKDB_TYPE_HUGEINT:
          name = "INTEGER";
          break;
        case DUCKDB_TYPE_FLOAT:
        case DUCKDB_TYPE_DOUBLE:
        case DUCKDB_TYPE_DECIMAL:
          name = "DOUBLE";
          break;
        default:
          name = "VARCHAR";
      }
    }
    duckdb_destroy_logical_type(&type);
    out.column_types.push_back(std::move(name));
  }
  out.rows.resize(rows);
  out.nulls.resize(rows);
  for (idx_t r = 0; r < rows; ++r) {
    out.rows[r].resize(cols);
    out.nulls[r].resize(cols);
    for (idx_t c = 0; c < cols; ++c) {
      if (duckdb_value_is_null(&result, c, r)) {
        out.nulls[r][c] = true;
        continue;
      }
      char* v = duckdb_value_varchar(&result, c, r);
      if (v) {
        out.rows[r][c] = v;
        duckdb_free(v);
      }
    }
  }
  duckdb_destroy_result(&result);
  return out;
}

Status SqlEngine::CopyToParquet(const std::string& query, const std::string& path) {
  return Execute("COPY (" + query + ") TO " + Quote(path) + " (FORMAT PARQUET)");
}

Result<std::unique_ptr<TableWriter>> SqlEngine::CreateTable(
    const std::string& name, const std::vector<ColumnSpec>& columns) {
  if (columns.empty()) return InvalidArgument("table " + name + " has no columns");
  std::string ddl = "CREATE OR REPLACE TABLE " + QuoteIdentifier(name) + " (";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) ddl += ", ";
    ddl += QuoteIdentifier(columns[i].name) + " " + std::string(SqlTypeName(columns[i].type));
  }
  ddl += ")";
  MEDLAKE_RETURN_IF_ERROR(Execute(ddl));
  std::unique_ptr<TableWriter> w(new TableWriter());
  w->impl_ = std::make_unique<TableWriter::Impl>();
  w->impl_->table = name;
  for (const auto& c : columns) {
    w->impl_->types.push_back(c.type);
    w->impl_->names.push_back(c.name);
  }
  if (duckdb_appender_create(impl_->con, nullptr, name.c_str(), &w->impl_->appender) ==
      DuckDBError) {
    return DuckError("cannot append to table", duckdb_appender_error(w->impl_->appender), "");
  }
  return w;
}

namespace {

// Whether `node` is a value of a typed column (kBigint, kDouble, kBoolean): an integer for
// BIGINT (also a double without a fraction), a number for DOUBLE, true or false for BOOLEAN.
bool FitsColumn(ColumnType type, const json::Node& node) {
  switch (type) {
    case ColumnType::kBigint:
      if (node.kind() == json::Kind::kInt64) return true;
      return node.kind() == json::Kind::kDouble &&
             node.GetDouble() == std::trunc(node.GetDouble()) &&
             std::fabs(node.GetDouble()) < 9.2e18;
    case ColumnType::kDouble:
      return node.IsNumber();
    case ColumnType::kBoolean:
      return node.IsBool();
    default:
      return true;
  }
}

}  // namespace

Status TableWriter::AppendJsonRow(const std::vector<std::string>& values) {
  Impl& im = *impl_;
  if (values.size() != im.types.size()) {
    return InvalidArgument("row of " + std::to_string(values.size()) + " values for " +
                           std::to_string(im.types.size()) + " columns of " + im.table);
  }
  // The whole row is checked before any of it is appended: a value that is not of its column's
  // type is an error, not a NULL or a truncated number (the view's type does not fit the data).
  // The message names the column, never the value, which may be patient data.
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string& v = values[i];
    if (v == "null" || v.empty() || im.types[i] == ColumnType::kJson ||
        im.types[i] == ColumnType::kVarchar) {
      continue;
    }
    auto node = im.parser.Parse(v);
    if (!node.ok()) return InvalidArgument("column value is not JSON in table " + im.table);
    if (!FitsColumn(im.types[i], *node)) {
      return InvalidArgument("table " + im.table + ", column " + im.names[i] + ": a value is not " +
                             std::string(SqlTypeName(im.types[i])) +
                             " (the type the view gives the column)");
    }
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string& v = values[i];
    duckdb_state st = DuckDBSuccess;
    if (v == "null" || v.empty()) {
      st = duckdb_append_null(im.appender);
    } else if (im.types[i] == ColumnType::kJson) {
      st = duckdb_append_varchar_length(im.appender, v.data(), v.size());
    } else {
      auto node = im.parser.Parse(v);
      if (!node.ok()) return InvalidArgument("column value is not JSON in table " + im.table);
      switch (im.types[i]) {
        case ColumnType::kBigint:
          st = duckdb_append_int64(im.appender, node->kind() == json::Kind::kInt64
                                                    ? node->GetInt64()
                                                    : static_cast<int64_t>(node->GetDouble()));
          break;
        case ColumnType::kDouble:
          st = duckdb_append_double(im.appender, node->GetDouble());
          break;
        case ColumnType::kBoolean:
          st = duckdb_append_bool(im.appender, node->GetBool());
          break;
        default:
          if (node->IsString()) {
            std::string_view s = node->GetString();
            st = duckdb_append_varchar_length(im.appender, s.data(), s.size());
          } else {
            st = duckdb_append_varchar_length(im.appender, v.data(), v.size());
          }
      }
    }
    if (st == DuckDBError)
      return DuckError("cannot append", duckdb_appender_error(im.appender), "");
  }
  if (duckdb_appender_end_row(im.appender) == DuckDBError) {
    return DuckError("cannot append row", duckdb_appender_error(im.appender), "");
  }
  return Status::Ok();
}

Status TableWriter::Close() {
  if (!impl_->appender) return Status::Ok();
  duckdb_state st = duckdb_appender_close(impl_->appender);
  Status s = st == DuckDBError
                 ? DuckError("cannot close appender", duckdb_appender_error(impl_->appender), "")
                 : Status::Ok();
  duckdb_appender_destroy(&impl_->appender);
  impl_->appender = nullptr;
  return s;
}

}  // namespace medlake::sql
