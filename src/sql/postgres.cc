#include "sql/postgres.h"

#include <cctype>
#include <charconv>
#include <pqxx/pqxx>
#include <pqxx/tablewriter>
#include <string>

#include "common/string_util.h"
#include "json/json.h"

namespace medlake::sql {
namespace {

// COPY text format: backslash escapes, \N for NULL.
void AppendCopyField(std::string_view s, std::string& out) {
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out.push_back(c);
    }
  }
}

// PostgreSQL's context lines end with the data being read when the error came: "COPY t, line
// 5, column c: <the value>", "JSON data, line 1: <the text>". Quoted or not, and with quotes
// inside ("{"<a family name>"}" escaped the redaction of quoted parts), it is cut off.
std::string DropContextData(std::string_view message) {
  std::string out;
  size_t start = 0;
  while (start < message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(start, end - start);
    size_t at = line.find("line ");
    while (at != std::string_view::npos &&
           (at + 5 >= line.size() || !std::isdigit(static_cast<unsigned char>(line[at + 5])))) {
      at = line.find("line ", at + 1);
    }
    size_t data = at == std::string_view::npos ? std::string_view::npos : line.find(": ", at);
    if (data != std::string_view::npos) {
      out.append(line.substr(0, data));
      out += ": <redacted>";
    } else {
      out.append(line);
    }
    if (end < message.size()) out.push_back('\n');
    start = end + 1;
  }
  return out;
}

// PostgreSQL's errors quote the values that failed ("invalid input syntax for type bigint:
// \"<a family name>\""): quoted parts are redacted, and the data of context lines dropped.
Status LoadError(const std::string& table, const std::exception& e) {
  return IoError("PostgreSQL load of table " + table +
                 " failed: " + RedactDataValues(DropContextData(e.what()), QuoteIdentifier(table)));
}

}  // namespace

std::string_view PostgresTypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kVarchar:
      return "TEXT";
    case ColumnType::kBigint:
      return "BIGINT";
    case ColumnType::kDouble:
      return "DOUBLE PRECISION";
    case ColumnType::kBoolean:
      return "BOOLEAN";
    case ColumnType::kJson:
      return "JSONB";
  }
  return "TEXT";
}

struct PostgresLoader::Impl {
  std::unique_ptr<pqxx::connection> conn;
};

PostgresLoader::~PostgresLoader() = default;

Result<std::unique_ptr<PostgresLoader>> PostgresLoader::Connect(const std::string& url) {
  std::unique_ptr<PostgresLoader> loader(new PostgresLoader());
  loader->impl_ = std::make_unique<Impl>();
  try {
    loader->impl_->conn = std::make_unique<pqxx::connection>(url);
  } catch (const std::exception& e) {
    // libpq's message names the host and port; it carries no data.
    return IoError(std::string("cannot connect to PostgreSQL: ") + e.what());
  }
  return loader;
}

// Members are destroyed in reverse order: the COPY writer before its transaction.
struct TableLoad::Impl {
  std::string name;
  std::vector<ColumnSpec> columns;
  std::unique_ptr<pqxx::work> tx;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  // libpqxx 6.4 (Debian 12) takes preformatted COPY lines only through tablewriter; its
  // successor stream_to needs rows as compile-time tuples.
  std::unique_ptr<pqxx::tablewriter> writer;
#pragma GCC diagnostic pop
  json::Parser parser;
  std::string line;
  uint64_t rows = 0;
  bool failed = false;
};

TableLoad::~TableLoad() {
  if (!impl_) return;
  try {
    impl_->writer.reset();  // ends the COPY; the transaction then rolls back unless committed
    impl_->tx.reset();
  } catch (const std::exception&) {
    // The connection is broken; the server drops the transaction with it.
  }
}

Status TableLoad::Append(const std::vector<std::string>& row) {
  Impl& m = *impl_;
  if (m.failed || !m.writer) return InvalidArgument("load of table " + m.name + " has ended");
  if (row.size() != m.columns.size()) {
    m.failed = true;
    return InvalidArgument("row width does not match table " + m.name);
  }
  // Values are read by the rule `sql` uses (ReadCell): "000123" is not BIGINT (COPY read it
  // as 123) and 75.0 is 75 (COPY refused "75.0"). The row is read whole before it is sent.
  m.line.clear();
  for (size_t i = 0; i < row.size(); ++i) {
    if (i) m.line.push_back('\t');
    auto cell = ReadCell(m.columns[i].type, row[i], m.parser, m.name, m.columns[i].name);
    if (!cell.ok()) {
      m.failed = true;
      return cell.status();
    }
    switch (cell->kind) {
      case Cell::Kind::kNull:
        m.line += "\\N";
        break;
      case Cell::Kind::kInteger:
        m.line += std::to_string(cell->integer);
        break;
      case Cell::Kind::kDouble: {
        char buf[32];  // shortest text that reads back as the same double
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, cell->number);
        m.line.append(buf, end);
        break;
      }
      case Cell::Kind::kBoolean:
        m.line += cell->boolean ? "true" : "false";
        break;
      case Cell::Kind::kText:
        AppendCopyField(cell->Text(), m.line);
        break;
    }
  }
  try {
    m.writer->write_raw_line(m.line);
  } catch (const std::exception& e) {
    m.failed = true;
    return LoadError(m.name, e);
  }
  ++m.rows;
  return Status::Ok();
}

Result<uint64_t> TableLoad::Finish() {
  Impl& m = *impl_;
  if (m.failed || !m.writer) return InvalidArgument("load of table " + m.name + " has ended");
  try {
    m.writer->complete();
    m.writer.reset();
    m.tx->commit();
    m.tx.reset();
  } catch (const std::exception& e) {
    m.failed = true;
    return LoadError(m.name, e);
  }
  return m.rows;
}

Result<std::unique_ptr<TableLoad>> PostgresLoader::BeginLoad(
    const std::string& name, const std::vector<ColumnSpec>& columns) {
  if (columns.empty()) return InvalidArgument("table " + name + " has no columns");
  std::unique_ptr<TableLoad> load(new TableLoad());
  load->impl_ = std::make_unique<TableLoad::Impl>();
  TableLoad::Impl& m = *load->impl_;
  m.name = name;
  m.columns = columns;
  try {
    m.tx = std::make_unique<pqxx::work>(*impl_->conn);
    std::string ddl = "CREATE TABLE " + QuoteIdentifier(name) + " (";
    std::vector<std::string> names;
    for (size_t i = 0; i < columns.size(); ++i) {
      if (i) ddl += ", ";
      ddl +=
          QuoteIdentifier(columns[i].name) + " " + std::string(PostgresTypeName(columns[i].type));
      names.push_back(QuoteIdentifier(columns[i].name));
    }
    ddl += ")";
    m.tx->exec("DROP TABLE IF EXISTS " + QuoteIdentifier(name));
    m.tx->exec(ddl);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    m.writer = std::make_unique<pqxx::tablewriter>(*m.tx, QuoteIdentifier(name), names.begin(),
                                                   names.end());
#pragma GCC diagnostic pop
  } catch (const std::exception& e) {
    return LoadError(name, e);
  }
  return load;
}

Result<uint64_t> PostgresLoader::Load(const std::string& name,
                                      const std::vector<ColumnSpec>& columns,
                                      const std::vector<std::vector<std::string>>& rows) {
  MEDLAKE_ASSIGN_OR_RETURN(auto load, BeginLoad(name, columns));
  for (const auto& row : rows) MEDLAKE_RETURN_IF_ERROR(load->Append(row));
  return load->Finish();
}

Result<std::string> PostgresLoader::QueryValue(const std::string& sql) {
  try {
    pqxx::work tx(*impl_->conn);
    pqxx::result r = tx.exec(sql);
    tx.commit();
    if (r.empty() || r[0].empty() || r[0][0].is_null()) return std::string();
    return std::string(r[0][0].c_str());
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("PostgreSQL query failed: ") + e.what());
  }
}

}  // namespace medlake::sql
