#include "query/table_output.h"

#include "json/json.h"

namespace medlake::query {

std::string CellText(const std::string& v) {
  if (v == "null" || v.empty()) return "";
  if (v.front() != '"') return v;
  if (v.find('\\') == std::string::npos) return v.substr(1, v.size() - 2);
  thread_local json::Parser parser;
  auto node = parser.Parse(v);
  return node.ok() ? std::string(node->GetString()) : v;
}

struct RowWriter::Impl {
  TextFormat format;
  std::vector<views::Column> columns;
  FILE* out;
  std::string line;
  std::vector<std::string> keys;  // quoted JSON keys, for NDJSON
};

RowWriter::RowWriter(TextFormat format, std::vector<views::Column> columns, FILE* out)
    : impl_(std::make_unique<Impl>()) {
  impl_->format = format;
  impl_->columns = std::move(columns);
  impl_->out = out;
  for (const auto& c : impl_->columns) {
    std::string k;
    json::AppendQuoted(c.name, k);
    impl_->keys.push_back(std::move(k));
  }
}
RowWriter::~RowWriter() = default;

namespace {

void AppendCsvField(const std::string& text, std::string& line) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) {
    line += text;
    return;
  }
  line.push_back('"');
  for (char c : text) {
    if (c == '"') line.push_back('"');
    line.push_back(c);
  }
  line.push_back('"');
}

void AppendTsvField(const std::string& text, std::string& line) {
  for (char c : text) {
    switch (c) {
      case '\t':
        line += "\\t";
        break;
      case '\n':
        line += "\\n";
        break;
      case '\r':
        line += "\\r";
        break;
      case '\\':
        line += "\\\\";
        break;
      default:
        line.push_back(c);
    }
  }
}

}  // namespace

Status RowWriter::WriteHeader() {
  Impl& im = *impl_;
  if (im.format == TextFormat::kNdjson) return Status::Ok();
  im.line.clear();
  for (size_t i = 0; i < im.columns.size(); ++i) {
    if (i) im.line.push_back(im.format == TextFormat::kCsv ? ',' : '\t');
    if (im.format == TextFormat::kCsv)
      AppendCsvField(im.columns[i].name, im.line);
    else
      AppendTsvField(im.columns[i].name, im.line);
  }
  im.line.push_back('\n');
  if (std::fwrite(im.line.data(), 1, im.line.size(), im.out) != im.line.size())
    return IoError("cannot write output");
  return Status::Ok();
}

Status RowWriter::Write(const views::Row& row) {
  Impl& im = *impl_;
  im.line.clear();
  if (im.format == TextFormat::kNdjson) {
    im.line.push_back('{');
    for (size_t i = 0; i < row.size() && i < im.keys.size(); ++i) {
      if (i) im.line.push_back(',');
      im.line += im.keys[i];
      im.line.push_back(':');
      im.line += row[i].empty() ? "null" : row[i];
    }
    im.line += "}\n";
  } else {
    for (size_t i = 0; i < row.size(); ++i) {
      if (i) im.line.push_back(im.format == TextFormat::kCsv ? ',' : '\t');
      std::string text = CellText(row[i]);
      if (im.format == TextFormat::kCsv)
        AppendCsvField(text, im.line);
      else
        AppendTsvField(text, im.line);
    }
    im.line.push_back('\n');
  }
  if (std::fwrite(im.line.data(), 1, im.line.size(), im.out) != im.line.size())
    return IoError("cannot write output");
  return Status::Ok();
}

Status RowWriter::Finish() {
  if (std::fflush(impl_->out) != 0) return IoError("cannot write output");
  return Status::Ok();
}

}  // namespace medlake::query
