// Runs the official FHIRPath R4 suite (fhir-test-cases r4/fhirpath/tests-fhir-r4.xml)
// unchanged. XML inputs are converted to FHIR JSON at test time (xml_to_json.h). Every case
// runs in strict mode (Environment::strict), the semantics the suite's reference engine
// applies: names that the R4 model does not define for the input's type are errors. Failures listed
// in expected_failures.txt (with a reason) are tolerated; any other failure fails the test, and
// expected failures that now pass are reported.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fhirpath/fhirpath.h"
#include "mini_xml.h"
#include "xml_to_json.h"

namespace medlake::fhirpath {
namespace {

namespace fs = std::filesystem;
using testing::XmlElement;

const fs::path kSuiteDir = fs::path(MEDLAKE_SHARED_DATA) / "fhirpath-r4-tests";

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct LoadedInput {
  std::unique_ptr<json::Parser> parser = [] {
    auto p = std::make_unique<json::Parser>();
    p->set_keep_number_text(true);
    return p;
  }();
  json::Node root;
};

// JSON text of a suite input: JSON inputs as they are, XML inputs (the exact files the
// reference runner loads) converted with the R4 type model.
std::optional<std::string> InputJson(const std::string& name) {
  fs::path p = kSuiteDir / "input" / name;
  if (!fs::exists(p)) return std::nullopt;
  if (p.extension() == ".json") return ReadFile(p);
  return testing::FhirXmlToJson(ReadFile(p));
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool OutputMatches(const Item& item, const std::string& type, const std::string& expected) {
  if (type == "boolean")
    return item.kind == ValueKind::kBoolean && (item.boolean ? "true" : "false") == expected;
  if (type == "integer")
    return item.kind == ValueKind::kInteger && std::to_string(item.integer) == expected;
  if (type == "decimal") {
    return item.IsNumber() &&
           std::fabs(item.AsDouble() - std::strtod(expected.c_str(), nullptr)) < 1e-9;
  }
  if (type == "date" || type == "dateTime" || type == "time") {
    if (!item.IsTemporal()) return false;
    std::string text = expected.substr(expected[0] == '@' ? 1 : 0);
    if (type == "time" && text[0] != 'T') text = "T" + text;
    return FormatTemporal(item.dt, item.kind) == text;
  }
  if (type == "Quantity") {
    if (item.kind != ValueKind::kQuantity) return false;
    size_t q = expected.find(' ');
    double v = std::strtod(expected.substr(0, q).c_str(), nullptr);
    std::string unit = expected.substr(q + 1);
    if (unit.size() >= 2 && unit.front() == '\'') unit = unit.substr(1, unit.size() - 2);
    return std::fabs(item.decimal - v) < 1e-9 && item.str == unit;
  }
  if (type.empty() && !expected.empty() && expected[0] == '@') {
    return item.IsTemporal() && "@" + FormatTemporal(item.dt, item.kind) == expected;
  }
  if (type.empty() && item.kind == ValueKind::kDecimal) {
    return std::fabs(item.decimal - std::strtod(expected.c_str(), nullptr)) < 1e-9;
  }
  // string, code, id, uri, ...
  return item.kind != ValueKind::kNode && ItemToString(item) == expected;
}

std::string Describe(const Collection& c) {
  std::string out = "[";
  for (size_t i = 0; i < c.size(); ++i) {
    if (i) out += ", ";
    out += ItemTypeName(c[i]) + ":" + ItemToString(c[i]);
  }
  return out + "]";
}

// Runs one <test>; returns "" on pass or the reason of the failure.
std::string RunCase(const XmlElement& test, std::map<std::string, LoadedInput>& inputs) {
  const XmlElement* expr_el = nullptr;
  std::vector<const XmlElement*> outputs;
  for (const auto& child : test.children) {
    if (child->name == "expression") expr_el = child.get();
    if (child->name == "output") outputs.push_back(child.get());
  }
  if (expr_el == nullptr) return "no expression";
  std::string invalid = expr_el->Attr("invalid");
  Collection root;
  Environment env;
  env.strict = true;  // see the file comment
  std::string input = test.Attr("inputfile");
  if (!input.empty()) {
    auto it = inputs.find(input);
    if (it == inputs.end()) {
      auto text = InputJson(input);
      if (!text) return "input " + input + " cannot be read";
      LoadedInput loaded;
      auto node = loaded.parser->Parse(*text);
      if (!node.ok()) return "input " + input + ": " + node.status().ToString();
      loaded.root = *node;
      it = inputs.emplace(input, std::move(loaded)).first;
    }
    root.push_back(ResourceItem(it->second.root));
    if (auto rt = it->second.root.Find("resourceType"); rt && rt->GetString() == "Bundle") {
      env.bundle = it->second.root;
    }
  }
  auto expr = Expression::Compile(expr_el->text);
  if (!expr.ok()) {
    return invalid.empty() ? "compile error: " + expr.status().message() : "";
  }
  auto result = expr->Evaluate(root, root, env);
  if (!result.ok()) {
    return invalid.empty() ? "evaluation error: " + result.status().message() : "";
  }
  if (!invalid.empty()) return "expected a " + invalid + " error, got " + Describe(*result);
  Collection values = *result;
  if (test.Attr("predicate") == "true") {
    values = Collection{Item::Boolean(!values.empty())};
  }
  if (values.size() != outputs.size()) {
    return "expected " + std::to_string(outputs.size()) + " items, got " + Describe(values);
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::string type = outputs[i]->Attr("type");
    std::string text = Trim(outputs[i]->text);
    if (!OutputMatches(values[i], type, text)) {
      return "item " + std::to_string(i) + ": expected " + type + " " + text + ", got " +
             Describe(values);
    }
  }
  return "";
}

std::map<std::string, std::string> LoadExpectedFailures() {
  std::map<std::string, std::string> out;
  std::ifstream in(fs::path(MEDLAKE_SOURCE_DIR) / "tests/fhirpath/expected_failures.txt");
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.find_first_of(" \t");
    std::string name = line.substr(0, space);
    out[name] = space == std::string::npos ? "" : Trim(line.substr(space));
  }
  return out;
}

TEST(FhirPathConformance, OfficialR4Suite) {
  fs::path suite = kSuiteDir / "tests-fhir-r4.xml";
  if (!fs::exists(suite))
    GTEST_SKIP() << "FHIRPath suite not found at " << suite << " (needs ../shared/data)";
  auto doc = testing::ParseXml(ReadFile(suite));
  ASSERT_NE(doc, nullptr) << "cannot parse " << suite;
  auto expected_failures = LoadExpectedFailures();
  std::map<std::string, LoadedInput> inputs;
  int total = 0, passed = 0;
  std::set<std::string> seen;
  for (const auto& group : doc->children) {
    for (const auto& test : group->children) {
      if (test->name != "test") continue;  // modeTest cases target other modes
      ++total;
      std::string name = test->Attr("name");
      seen.insert(name);
      std::string failure = RunCase(*test, inputs);
      bool expected = expected_failures.count(name) > 0;
      if (failure.empty()) {
        ++passed;
        if (expected)
          std::printf("now passing (remove from expected_failures.txt): %s\n", name.c_str());
      } else if (!expected) {
        ADD_FAILURE() << group->Attr("name") << "/" << name << ": " << failure;
      }
    }
  }
  std::printf("FHIRPath R4 suite: %d/%d passed (%.1f%%)\n", passed, total, 100.0 * passed / total);
  EXPECT_GE(passed * 100, total * 95) << "below the 95% conformance floor";
}

}  // namespace
}  // namespace medlake::fhirpath
