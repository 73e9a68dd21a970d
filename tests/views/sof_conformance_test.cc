// Runs the official SQL-on-FHIR v2 suite (sql-on-fhir-v2 tests/*.json) unchanged and writes
// the suite's test report (test-report.schema.json) to sql-on-fhir-v2-test-report.json in
// the working directory. Every case must pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "views/view.h"

namespace medlake::views {
namespace {

namespace fs = std::filesystem;

const fs::path kSuiteDir = fs::path(MEDLAKE_SHARED_DATA) / "sql-on-fhir-v2-tests" / "tests";

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Structural JSON equality; numbers compare by value.
bool JsonEqual(json::Node a, json::Node b) {
  if (a.IsNumber() && b.IsNumber()) return std::fabs(a.GetDouble() - b.GetDouble()) < 1e-9;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case json::Kind::kNull:
      return true;
    case json::Kind::kBool:
      return a.GetBool() == b.GetBool();
    case json::Kind::kString:
      return a.GetString() == b.GetString();
    case json::Kind::kArray: {
      if (a.Size() != b.Size()) return false;
      std::vector<json::Node> xs, ys;
      a.ForEachItem([&](json::Node n) {
        xs.push_back(n);
        return true;
      });
      b.ForEachItem([&](json::Node n) {
        ys.push_back(n);
        return true;
      });
      for (size_t i = 0; i < xs.size(); ++i) {
        if (!JsonEqual(xs[i], ys[i])) return false;
      }
      return true;
    }
    case json::Kind::kObject: {
      if (a.Size() != b.Size()) return false;
      bool equal = true;
      a.ForEachField([&](std::string_view key, json::Node v) {
        auto other = b.Find(key);
        equal = other && JsonEqual(v, *other);
        return equal;
      });
      return equal;
    }
    default:
      return false;
  }
}

// Rows of `view` over the test's resources as one JSON array of objects.
Result<std::string> RunView(const View& view, json::Node resources) {
  std::vector<Row> rows;
  Status st;
  resources.ForEachItem([&](json::Node r) {
    st = view.Evaluate(r, rows);
    return st.ok();
  });
  MEDLAKE_RETURN_IF_ERROR(st);
  std::string out = "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) out += ",";
    out += "{";
    for (size_t c = 0; c < rows[i].size(); ++c) {
      if (c > 0) out += ",";
      json::AppendQuoted(view.columns()[c].name, out);
      out += ":" + rows[i][c];
    }
    out += "}";
  }
  return out + "]";
}

// Returns "" when the case passes, else the reason.
std::string RunCase(json::Node test, json::Node resources) {
  auto view_node = test.Find("view");
  if (!view_node) return "no view";
  auto view = View::FromJson(*view_node);
  bool expect_error = test.Find("expectError").has_value();
  if (!view.ok()) return expect_error ? "" : "view rejected: " + view.status().message();
  auto actual = RunView(*view, resources);
  if (!actual.ok()) return expect_error ? "" : "evaluation error: " + actual.status().message();
  if (expect_error) return "expected an error, got rows " + *actual;
  if (auto columns = test.Find("expectColumns")) {
    std::vector<std::string> want;
    columns->ForEachItem([&](json::Node n) {
      want.emplace_back(n.GetString());
      return true;
    });
    std::vector<std::string> got;
    for (const Column& c : view->columns()) got.push_back(c.name);
    if (want != got) return "column names or order differ";
  }
  json::Parser parser;
  auto rows = parser.Parse(*actual);
  if (!rows.ok()) return "invalid row JSON: " + *actual;
  auto expect = test.Find("expect");
  if (!expect) return "no expectation";
  std::vector<json::Node> want, got;
  expect->ForEachItem([&](json::Node n) {
    want.push_back(n);
    return true;
  });
  rows->ForEachItem([&](json::Node n) {
    got.push_back(n);
    return true;
  });
  if (want.size() != got.size()) {
    return "expected " + std::to_string(want.size()) + " rows, got " + std::to_string(got.size()) +
           ": " + *actual;
  }
  // Row order is not significant: match each expected row with a distinct actual row.
  std::vector<bool> used(got.size(), false);
  for (json::Node w : want) {
    bool found = false;
    for (size_t i = 0; i < got.size() && !found; ++i) {
      if (!used[i] && JsonEqual(w, got[i])) found = used[i] = true;
    }
    if (!found) return "expected row " + w.ToJson() + " not found in " + *actual;
  }
  return "";
}

TEST(SqlOnFhirConformance, OfficialSuite) {
  if (!fs::exists(kSuiteDir))
    GTEST_SKIP() << "SQL-on-FHIR suite not found at " << kSuiteDir << " (needs ../shared/data)";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kSuiteDir)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::string report = "{";
  int total = 0, passed = 0;
  for (const fs::path& file : files) {
    json::Parser parser;
    parser.set_keep_number_text(true);
    std::string text = ReadFile(file);
    auto root = parser.Parse(text);
    ASSERT_TRUE(root.ok()) << file;
    auto resources = root->Find("resources");
    auto tests = root->Find("tests");
    ASSERT_TRUE(resources && tests) << file;
    if (total > 0) report += ",";
    json::AppendQuoted(file.filename().string(), report);
    report += ":{\"tests\":[";
    bool first = true;
    tests->ForEachItem([&](json::Node test) {
      ++total;
      std::string title(test.Find("title") ? test.Find("title")->GetString() : "");
      std::string failure = RunCase(test, *resources);
      if (failure.empty())
        ++passed;
      else
        ADD_FAILURE() << file.filename().string() << " / " << title << ": " << failure;
      if (!first) report += ",";
      first = false;
      report += "{\"name\":";
      json::AppendQuoted(title, report);
      report += ",\"result\":{\"passed\":";
      report += failure.empty() ? "true" : "false";
      if (!failure.empty()) {
        report += ",\"error\":";
        json::AppendQuoted(failure, report);
      }
      report += "}}";
      return true;
    });
    report += "]}";
  }
  report += "}\n";
  std::ofstream("sql-on-fhir-v2-test-report.json") << report;
  std::printf("SQL-on-FHIR v2 suite: %d/%d passed; report: %s\n", passed, total,
              (fs::current_path() / "sql-on-fhir-v2-test-report.json").c_str());
  EXPECT_EQ(passed, total);
}

}  // namespace
}  // namespace medlake::views
