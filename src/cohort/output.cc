#include "cohort/output.h"

#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/fhir_time.h"

namespace medlake::cohort {

namespace {

const std::string& IdOf(const OutputContext& out, uint32_t ordinal) {
  static const std::string kEmpty;
  const auto* ids = out.patient_ids;
  return ids && ordinal < ids->size() ? (*ids)[ordinal] : kEmpty;
}

// A count as the caller may see it: small counts as "<10"; `masked` ones (complementary) as
// "suppressed".
std::string CountText(const OutputContext& out, uint64_t n, bool masked = false) {
  if (out.suppress_below > 0 && n > 0 && n < static_cast<uint64_t>(out.suppress_below))
    return "<" + std::to_string(out.suppress_below);
  return masked ? "suppressed" : std::to_string(n);
}

// A count of measurements or resources in a note: "some" under suppression.
std::string NoteCount(const OutputContext& out, uint64_t n) {
  return out.suppress_below > 0 ? std::string("some") : std::to_string(n);
}

nlohmann::ordered_json CountJson(const OutputContext& out, uint64_t n, bool masked = false) {
  std::string text = CountText(out, n, masked);
  if (!std::isdigit(static_cast<unsigned char>(text[0]))) return text;
  return n;
}

// Which attrition counts to mask (see AttritionMask in output.h).
std::vector<bool> MaskOf(const OutputContext& out) {
  std::vector<uint64_t> remaining;
  for (const auto& row : out.result->attrition) remaining.push_back(row.remaining);
  return AttritionMask(remaining, out.suppress_below);
}

std::string Name(const OutputContext& out) {
  return out.definition->name.empty() ? std::string("(unnamed cohort)") : out.definition->name;
}

}  // namespace

std::vector<bool> AttritionMask(const std::vector<uint64_t>& remaining, int64_t threshold) {
  std::vector<bool> masked(remaining.size(), false);
  if (threshold <= 0) return masked;
  const uint64_t t = static_cast<uint64_t>(threshold);
  auto small = [&](uint64_t n) { return n > 0 && n < t; };
  // Walk the steps, comparing each with the last count left visible: a step whose count is
  // small, or whose difference to that count is, is masked (the difference then carries on
  // to the next step until it is zero or large).
  size_t shown = remaining.size();  // index of the last visible count; none yet
  for (size_t i = 0; i < remaining.size(); ++i) {
    if (small(remaining[i]) ||
        (shown < remaining.size() && small(remaining[shown] - remaining[i]))) {
      masked[i] = true;
    } else {
      shown = i;
    }
  }
  return masked;
}

std::string SummaryText(const OutputContext& out) {
  const CohortResult& r = *out.result;
  const std::vector<bool> masked = MaskOf(out);
  std::string s = "cohort  " + Name(out) + "\n";
  s += "index   " + out.index_text + "\n\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-4s %-56s %-10s %12s\n", "step", "rule", "kind", "patients");
  s += line;
  for (size_t i = 0; i < r.attrition.size(); ++i) {
    const auto& row = r.attrition[i];
    std::string name = row.rule.size() > 56 ? row.rule.substr(0, 53) + "..." : row.rule;
    std::snprintf(line, sizeof line, "%-4zu %-56s %-10s %12s\n", i, name.c_str(), row.kind.c_str(),
                  CountText(out, row.remaining, masked[i]).c_str());
    s += line;
  }
  std::snprintf(line, sizeof line, "\ncount   %s patients\n",
                CountText(out, r.count, !masked.empty() && masked.back()).c_str());
  s += line;
  // Under suppression these counts are not shown: a criterion built to fail on a group's
  // members (a wrong unit, an expression that errs) gave the group's exact size beside its
  // "<10".
  if (r.unconvertible_values > 0) {
    std::snprintf(line, sizeof line,
                  "note    %s measurements had a unit that could not be converted to the "
                  "criterion's unit and did not match\n",
                  NoteCount(out, r.unconvertible_values).c_str());
    s += line;
  }
  if (r.fhirpath_errors > 0) {
    std::snprintf(line, sizeof line,
                  "note    the fhirpath expression failed on %s resources, which did not "
                  "match\n",
                  NoteCount(out, r.fhirpath_errors).c_str());
    s += line;
  }
  std::snprintf(line, sizeof line, "time    %.1f ms (cohort index %s in %.1f ms)\n", out.elapsed_ms,
                out.index_built ? "built" : "loaded", out.index_ms);
  s += line;
  return s;
}

std::string SummaryJson(const OutputContext& out, bool with_members) {
  const CohortResult& r = *out.result;
  nlohmann::ordered_json j;
  j["cohort"] = Name(out);
  j["format"] = kFormatVersion;
  j["index"] = out.index_text;
  j["attrition"] = nlohmann::ordered_json::array();
  const std::vector<bool> masked = MaskOf(out);
  for (size_t i = 0; i < r.attrition.size(); ++i) {
    const auto& row = r.attrition[i];
    j["attrition"].push_back({{"rule", row.rule},
                              {"kind", row.kind},
                              {"remaining", CountJson(out, row.remaining, masked[i])}});
  }
  j["count"] = CountJson(out, r.count, !masked.empty() && masked.back());
  if (out.suppress_below > 0) {
    auto masked_note = [](uint64_t n) {
      return n > 0 ? nlohmann::ordered_json("suppressed") : nlohmann::ordered_json(0);
    };
    j["unconvertible_values"] = masked_note(r.unconvertible_values);
    j["fhirpath_errors"] = masked_note(r.fhirpath_errors);
  } else {
    j["unconvertible_values"] = r.unconvertible_values;
    j["fhirpath_errors"] = r.fhirpath_errors;
  }
  j["elapsed_ms"] = out.elapsed_ms;
  j["index_ms"] = out.index_ms;
  j["index_built"] = out.index_built;
  if (with_members) {
    j["members"] = nlohmann::ordered_json::array();
    for (const auto& m : r.members)
      j["members"].push_back({{"patient", IdOf(out, m.patient)}, {"index", FormatUtc(m.index_ms)}});
  }
  return j.dump(2) + "\n";
}

std::string MembersCsv(const OutputContext& out) {
  std::string s = "patient,index\n";
  for (const auto& m : out.result->members) {
    s += IdOf(out, m.patient);  // FHIR ids: [A-Za-z0-9.-], never need quoting
    s += ',';
    s += FormatUtc(m.index_ms);
    s += '\n';
  }
  return s;
}

std::string MembersGroup(const OutputContext& out, const std::string& id) {
  nlohmann::ordered_json g;
  g["resourceType"] = "Group";
  g["id"] = id;
  g["type"] = "person";
  g["actual"] = true;
  g["name"] = Name(out);
  g["quantity"] = out.result->count;
  // FHIR R4 has no empty arrays (ele-1): a cohort without members has no `member`.
  if (!out.result->members.empty()) g["member"] = nlohmann::ordered_json::array();
  for (const auto& m : out.result->members) {
    g["member"].push_back({{"entity", {{"reference", "Patient/" + IdOf(out, m.patient)}}},
                           {"period", {{"start", FormatUtc(m.index_ms)}}}});
  }
  return g.dump(1) + "\n";
}

}  // namespace medlake::cohort
