#include "sql/sql_engine.h"

#include <duckdb.h>
#include <sys/stat.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>
#include <string>

#include "common/string_util.h"
#include "json/json.h"
#include "sql/duckdb_calls.h"  // last: its macros rename the API's calls
#include "sql/query_reach.h"

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

namespace {

// A query's result is printed by DuckDB itself: every column is cast to VARCHAR by a second
// statement, `SELECT CAST(c0 AS VARCHAR), ... FROM medlake_result()`, whose table function
// hands back the chunks of the first result unchanged. So every type DuckDB has (TIMESTAMPTZ,
// LIST, STRUCT, MAP, UNION, UUID, ...) prints as DuckDB prints it, NULL stays NULL, and the
// user's statement runs once. (The deprecated duckdb_value_varchar printed such columns as ""
// and crashed on UUID.)
struct PendingResult {
  duckdb_result* result = nullptr;  // set while the second statement runs
};

// Scan state of medlake_result(): the chunk whose vectors the output references.
struct ResultScanState {
  duckdb_data_chunk chunk = nullptr;
  ~ResultScanState() {
    if (chunk) duckdb_destroy_data_chunk(&chunk);
  }
};

void ResultBind(duckdb_bind_info info) {
  auto* pending = static_cast<PendingResult*>(duckdb_bind_get_extra_info(info));
  if (pending->result == nullptr) {
    duckdb_bind_set_error(info, "medlake_result() reads a query's result and has none now");
    return;
  }
  for (idx_t c = 0; c < duckdb_column_count(pending->result); ++c) {
    duckdb_logical_type type = duckdb_column_logical_type(pending->result, c);
    duckdb_bind_add_result_column(info, ("c" + std::to_string(c)).c_str(), type);
    duckdb_destroy_logical_type(&type);
  }
}

void ResultInit(duckdb_init_info info) {
  duckdb_init_set_init_data(info, new ResultScanState(),
                            [](void* state) { delete static_cast<ResultScanState*>(state); });
  duckdb_init_set_max_threads(info, 1);  // the chunks in order, so the rows keep theirs
}

void ResultScan(duckdb_function_info info, duckdb_data_chunk output) {
  auto* pending = static_cast<PendingResult*>(duckdb_function_get_extra_info(info));
  auto* state = static_cast<ResultScanState*>(duckdb_function_get_init_data(info));
  if (state->chunk) duckdb_destroy_data_chunk(&state->chunk);
  state->chunk = duckdb_fetch_chunk(*pending->result);
  if (state->chunk == nullptr) {
    duckdb_data_chunk_set_size(output, 0);
    return;
  }
  for (idx_t c = 0; c < duckdb_data_chunk_get_column_count(state->chunk); ++c) {
    duckdb_vector_reference_vector(duckdb_data_chunk_get_vector(output, c),
                                   duckdb_data_chunk_get_vector(state->chunk, c));
  }
  duckdb_data_chunk_set_size(output, duckdb_data_chunk_get_size(state->chunk));
}

Status RegisterResultFunction(duckdb_connection con, PendingResult* pending) {
  duckdb_table_function f = duckdb_create_table_function();
  duckdb_table_function_set_name(f, "medlake_result");
  duckdb_table_function_set_extra_info(f, pending, nullptr);
  duckdb_table_function_set_bind(f, ResultBind);
  duckdb_table_function_set_init(f, ResultInit);
  duckdb_table_function_set_function(f, ResultScan);
  duckdb_state st = duckdb_register_table_function(con, f);
  duckdb_destroy_table_function(&f);
  return st == DuckDBError ? Internal("cannot register DuckDB table function medlake_result")
                           : Status::Ok();
}

// The name QueryResult::column_types gives a DuckDB column type.
std::string ColumnTypeName(duckdb_result* result, idx_t c) {
  duckdb_logical_type type = duckdb_column_logical_type(result, c);
  char* alias = duckdb_logical_type_get_alias(type);
  duckdb_destroy_logical_type(&type);
  if (alias) {
    std::string name = alias;
    duckdb_free(alias);
    return name;
  }
  switch (duckdb_column_type(result, c)) {
    case DUCKDB_TYPE_BOOLEAN:
      return "BOOLEAN";
    case DUCKDB_TYPE_TINYINT:
    case DUCKDB_TYPE_SMALLINT:
    case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_UTINYINT:
    case DUCKDB_TYPE_USMALLINT:
    case DUCKDB_TYPE_UINTEGER:
    case DUCKDB_TYPE_UBIGINT:
    case DUCKDB_TYPE_HUGEINT:
      return "INTEGER";
    case DUCKDB_TYPE_FLOAT:
    case DUCKDB_TYPE_DOUBLE:
    case DUCKDB_TYPE_DECIMAL:
      return "DOUBLE";
    default:
      return "VARCHAR";
  }
}

}  // namespace

struct SqlEngine::Impl {
  duckdb_database db = nullptr;
  duckdb_connection con = nullptr;
  PendingResult pending;
  std::set<std::string> tables;  // made by CreateTable, lower case (DuckDB's names are not cased)
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
  std::vector<Cell> cells;  // AppendJsonRow's, kept from row to row
  ~Impl() {
    if (appender) duckdb_appender_destroy(&appender);
  }
};

SqlEngine::~SqlEngine() = default;
TableWriter::~TableWriter() = default;

Result<std::unique_ptr<SqlEngine>> SqlEngine::Open() {
  MEDLAKE_RETURN_IF_ERROR(LoadDuckDb());
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
  MEDLAKE_RETURN_IF_ERROR(RegisterResultFunction(e->impl_->con, &e->impl_->pending));
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
  const idx_t cols = duckdb_column_count(&result);
  for (idx_t c = 0; c < cols; ++c) {
    out.columns.emplace_back(duckdb_column_name(&result, c));
    out.column_types.push_back(ColumnTypeName(&result, c));
  }
  if (cols == 0) {
    duckdb_destroy_result(&result);
    return out;
  }
  std::string print = "SELECT ";
  for (idx_t c = 0; c < cols; ++c) {
    if (c) print += ", ";
    print += "CAST(c" + std::to_string(c) + " AS VARCHAR)";
  }
  print += " FROM medlake_result()";
  duckdb_result text;
  impl_->pending.result = &result;
  const duckdb_state st = duckdb_query(impl_->con, print.c_str(), &text);
  impl_->pending.result = nullptr;
  duckdb_destroy_result(&result);
  if (st == DuckDBError) {
    Status s = DuckError("SQL error", duckdb_result_error(&text), sql);
    duckdb_destroy_result(&text);
    return s;
  }
  while (duckdb_data_chunk chunk = duckdb_fetch_chunk(text)) {
    const idx_t rows = duckdb_data_chunk_get_size(chunk);
    const size_t first = out.rows.size();
    out.rows.resize(first + rows, std::vector<std::string>(cols));
    out.nulls.resize(first + rows, std::vector<bool>(cols));
    for (idx_t c = 0; c < cols; ++c) {
      duckdb_vector vector = duckdb_data_chunk_get_vector(chunk, c);
      auto* strings = static_cast<duckdb_string_t*>(duckdb_vector_get_data(vector));
      uint64_t* validity = duckdb_vector_get_validity(vector);
      for (idx_t r = 0; r < rows; ++r) {
        if (validity && !duckdb_validity_row_is_valid(validity, r)) {
          out.nulls[first + r][c] = true;
          continue;
        }
        out.rows[first + r][c].assign(duckdb_string_t_data(&strings[r]),
                                      duckdb_string_t_length(strings[r]));
      }
    }
    duckdb_destroy_data_chunk(&chunk);
  }
  duckdb_destroy_result(&text);
  return out;
}

Status SqlEngine::CopyToParquet(const std::string& query, const std::string& path) {
  // Owner-only, as every output of patient data (DuckDB creates the file, or a temporary one
  // it renames): the process's file mode mask is narrowed while it writes.
  const mode_t mask = ::umask(077);
  Status s = Execute("COPY (" + query + ") TO " + Quote(path) + " (FORMAT PARQUET)");
  ::umask(mask);
  return s;
}

Status SqlEngine::Seal() {
  return Execute(
      "SET enable_external_access = false; SET autoinstall_known_extensions = false; "
      "SET autoload_known_extensions = false; SET lock_configuration = true;");
}

Status SqlEngine::CheckUserQuery(const std::string& sql) {
  duckdb_extracted_statements statements = nullptr;
  const idx_t count = duckdb_extract_statements(impl_->con, sql.c_str(), &statements);
  Status s = Status::Ok();
  if (count == 0) {
    s = DuckError("SQL error", duckdb_extract_statements_error(statements), sql);
  } else if (count > 1) {
    s = InvalidArgument("give one SELECT statement (this holds " + std::to_string(count) + ")");
  } else {
    duckdb_prepared_statement prepared = nullptr;
    if (duckdb_prepare_extracted_statement(impl_->con, statements, 0, &prepared) == DuckDBError) {
      s = DuckError("SQL error", duckdb_prepare_error(prepared), sql);
    } else if (duckdb_prepared_statement_type(prepared) != DUCKDB_STATEMENT_TYPE_SELECT) {
      s = InvalidArgument(
          "only a SELECT runs here (not PRAGMA, EXPLAIN, CALL, SET or a change to the tables)");
    }
    duckdb_destroy_prepare(&prepared);
  }
  duckdb_destroy_extracted(&statements);
  if (!s.ok()) return s;
  // A PRAGMA prepares as the SELECT it stands for (PRAGMA version reads pragma_version()), and
  // has no SELECT parse tree: CheckReach refuses it with the rest.
  MEDLAKE_ASSIGN_OR_RETURN(QueryResult tree,
                           Query("SELECT json_serialize_sql(" + Quote(sql) + ")"));
  if (tree.rows.size() != 1 || tree.nulls[0][0]) return Internal("json_serialize_sql gave no tree");
  return CheckReach(tree.rows[0][0], impl_->tables);
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
  impl_->tables.insert(AsciiLower(name));
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

Result<Cell> ReadCell(ColumnType type, std::string_view json_text, json::Parser& parser,
                      std::string_view table, std::string_view column) {
  Cell cell;
  if (json_text == "null" || json_text.empty()) return cell;
  if (type == ColumnType::kJson) {
    cell.kind = Cell::Kind::kText;
    cell.borrowed = json_text;
    cell.is_borrowed = true;
    return cell;
  }
  auto node = parser.Parse(json_text);
  if (!node.ok()) {
    return InvalidArgument("table " + std::string(table) + ", column " + std::string(column) +
                           ": a value is not JSON");
  }
  switch (type) {
    case ColumnType::kBigint:
      if (node->kind() == json::Kind::kInt64) {
        cell.kind = Cell::Kind::kInteger;
        cell.integer = node->GetInt64();
        return cell;
      }
      if (node->kind() == json::Kind::kDouble &&
          node->GetDouble() == std::trunc(node->GetDouble()) &&
          std::fabs(node->GetDouble()) < 9.2e18) {
        cell.kind = Cell::Kind::kInteger;
        cell.integer = static_cast<int64_t>(node->GetDouble());
        return cell;
      }
      break;
    case ColumnType::kDouble:
      if (node->IsNumber()) {
        cell.kind = Cell::Kind::kDouble;
        cell.number = node->GetDouble();
        return cell;
      }
      break;
    case ColumnType::kBoolean:
      if (node->IsBool()) {
        cell.kind = Cell::Kind::kBoolean;
        cell.boolean = node->GetBool();
        return cell;
      }
      break;
    default:
      cell.kind = Cell::Kind::kText;
      if (node->IsString()) {
        cell.owned = std::string(node->GetString());
      } else {
        cell.borrowed = json_text;
        cell.is_borrowed = true;
      }
      return cell;
  }
  return InvalidArgument("table " + std::string(table) + ", column " + std::string(column) +
                         ": a value is not " + std::string(SqlTypeName(type)) +
                         " (the type the view gives the column)");
}

Status TableWriter::AppendJsonRow(const std::vector<std::string>& values) {
  Impl& im = *impl_;
  if (values.size() != im.types.size()) {
    return InvalidArgument("row of " + std::to_string(values.size()) + " values for " +
                           std::to_string(im.types.size()) + " columns of " + im.table);
  }
  // The whole row is read before any of it is appended: a value that is not of its column's
  // type is an error, not a NULL or a truncated number (the view's type does not fit the data).
  std::vector<Cell>& cells = im.cells;  // kept from row to row
  cells.clear();
  for (size_t i = 0; i < values.size(); ++i) {
    MEDLAKE_ASSIGN_OR_RETURN(Cell cell,
                             ReadCell(im.types[i], values[i], im.parser, im.table, im.names[i]));
    cells.push_back(std::move(cell));
  }
  for (const Cell& cell : cells) {
    duckdb_state st = DuckDBSuccess;
    switch (cell.kind) {
      case Cell::Kind::kNull:
        st = duckdb_append_null(im.appender);
        break;
      case Cell::Kind::kInteger:
        st = duckdb_append_int64(im.appender, cell.integer);
        break;
      case Cell::Kind::kDouble:
        st = duckdb_append_double(im.appender, cell.number);
        break;
      case Cell::Kind::kBoolean:
        st = duckdb_append_bool(im.appender, cell.boolean);
        break;
      case Cell::Kind::kText:
        st = duckdb_append_varchar_length(im.appender, cell.Text().data(), cell.Text().size());
        break;
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
