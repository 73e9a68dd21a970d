// Cohort definitions: the JSON format of docs/cohorts.md (version 1), parsed and checked into a
// tree the evaluator runs. Parsing is strict: unknown members and malformed values are errors
// naming the JSON path of the offending member.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake::cohort {

inline constexpr int kFormatVersion = 1;

// Codings matched by system and exact code or code prefix.
struct CodeSetEntry {
  std::string system;
  std::vector<std::string> codes;
  std::vector<std::string> prefixes;
};
using CodeSet = std::vector<CodeSetEntry>;

enum class Op { kLt, kLe, kGt, kGe, kEq, kNe };
std::string_view OpText(Op op);
bool Compare(double lhs, Op op, double rhs);

struct Comparison {
  Op op = Op::kEq;
  double value = 0;
  std::string unit;  // UCUM; empty: compared as recorded
};

// One end of a time window: days relative to the index date, or a fixed date.
struct Bound {
  bool present = false;
  bool relative = true;
  double days = 0;       // relative: offset from the index, negative = before
  int64_t fixed_ms = 0;  // fixed: first (start bound) or last (end bound) ms of the date
  bool inclusive = true;

  // The bound in ms for an index date (relative bounds), or the fixed value.
  int64_t At(int64_t index_ms) const;
};

struct Window {
  Bound start;
  Bound end;
  bool empty() const { return !start.present && !end.present; }
  bool relative() const {
    return (start.present && start.relative) || (end.present && end.relative);
  }
  bool Contains(int64_t t, int64_t index_ms) const;
};

enum class Select { kAll, kFirst, kLast };

struct EventCriterion {
  std::vector<std::string> types;  // empty: any type
  bool any_code = true;            // no codeset/codes given
  CodeSet codes;
  std::vector<std::string> statuses;  // empty: any (entered-in-error never matches)
  Select select = Select::kAll;
  Window window;
  std::vector<Comparison> values;
  std::vector<Comparison> length_of_stay;  // days
  uint32_t count_min = 1;
  std::optional<uint32_t> count_max;

  // True when the criterion is "has at least one such resource, ever": a bitmap lookup.
  bool IsCodeSetOnly() const;
};

struct Criterion {
  enum class Kind { kAge, kSex, kDeceased, kEvent, kAll, kAny, kNot, kFhirPath };
  Kind kind = Kind::kAll;
  std::optional<double> age_min, age_max;
  std::vector<std::string> sexes;
  bool deceased = false;
  EventCriterion event;
  std::vector<Criterion> children;  // all / any / not (one child)
  std::string fhirpath_type;
  std::string fhirpath_expression;
  Window fhirpath_window;
};

struct Rule {
  std::string name;
  Criterion criterion;
};

struct IndexSpec {
  enum class Kind { kDefault, kFixed, kEvent };
  Kind kind = Kind::kDefault;
  int64_t fixed_ms = 0;
  std::string fixed_text;
  EventCriterion event;
  Select select = Select::kFirst;
};

struct CohortDefinition {
  int version = kFormatVersion;
  std::string name;
  std::string description;
  IndexSpec index;
  std::vector<Rule> inclusion;
  std::vector<Rule> exclusion;
};

// Parses and checks a cohort document. Errors (kInvalidArgument) name the JSON path, e.g.
// "inclusion[2].criterion.event.value.op: unknown operator '=>'".
Result<CohortDefinition> ParseCohort(std::string_view json);

}  // namespace medlake::cohort
