#include "sql/postgres.h"

#include <pqxx/pqxx>
#include <pqxx/tablewriter>

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

Result<uint64_t> PostgresLoader::Load(const std::string& name,
                                      const std::vector<ColumnSpec>& columns,
                                      const std::vector<std::vector<std::string>>& rows) {
  if (columns.empty()) return InvalidArgument("table " + name + " has no columns");
  json::Parser parser;
  try {
    pqxx::work tx(*impl_->conn);
    std::string ddl = "CREATE TABLE " + QuoteIdentifier(name) + " (";
    std::vector<std::string> names;
    for (size_t i = 0; i < columns.size(); ++i) {
      if (i) ddl += ", ";
      ddl +=
          QuoteIdentifier(columns[i].name) + " " + std::string(PostgresTypeName(columns[i].type));
      names.push_back(columns[i].name);
    }
    ddl += ")";
    tx.exec("DROP TABLE IF EXISTS " + QuoteIdentifier(name));
    tx.exec(ddl);
    {
      // libpqxx 6.4 (Debian 12) takes preformatted COPY lines only through tablewriter;
      // its successor stream_to needs rows as compile-time tuples.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      pqxx::tablewriter writer(tx, name, names.begin(), names.end());
#pragma GCC diagnostic pop
      std::string line;
      for (const auto& row : rows) {
        if (row.size() != columns.size())
          return InvalidArgument("row width does not match table " + name);
        line.clear();
        for (size_t i = 0; i < row.size(); ++i) {
          if (i) line.push_back('\t');
          const std::string& v = row[i];
          if (v == "null" || v.empty()) {
            line += "\\N";
            continue;
          }
          if (columns[i].type != ColumnType::kJson) {
            auto node = parser.Parse(v);
            if (node.ok() && node->IsString()) {
              AppendCopyField(node->GetString(), line);
              continue;
            }
          }
          AppendCopyField(v, line);
        }
        writer.write_raw_line(line);
      }
      writer.complete();
    }
    tx.commit();
  } catch (const std::exception& e) {
    return IoError("PostgreSQL load of table " + name + " failed: " + e.what());
  }
  return static_cast<uint64_t>(rows.size());
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
