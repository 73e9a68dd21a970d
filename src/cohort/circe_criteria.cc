// Circe criteria (domain criteria, correlated criteria, demographic criteria and criteria
// groups) as medlake criteria.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cohort/circe_internal.h"

namespace medlake::cohort::circe_internal {
namespace {

constexpr std::string_view kYearDifference =
    "Circe's age is YEAR(date) - year of birth; medlake's is completed years at the index "
    "date: they can differ by one year";

struct Domain {
  std::string_view circe;
  std::vector<std::string> types;
  std::string_view type_member;  // the OMOP type-concept filter, e.g. "ConditionType"
  bool has_value;                // ValueAsNumber and Unit apply
};

// OMOP CDM domain tables as FHIR R4 resource types. Drug exposures are every medication
// statement kind plus immunizations, which OMOP records as drug exposures (CVX, RxNorm).
const std::vector<Domain>& Domains() {
  static const std::vector<Domain> kDomains = {
      {"ConditionOccurrence", {"Condition"}, "ConditionType", false},
      {"DrugExposure",
       {"MedicationRequest", "MedicationStatement", "MedicationAdministration",
        "MedicationDispense", "Immunization"},
       "DrugType",
       false},
      {"Measurement", {"Observation"}, "MeasurementType", true},
      {"Observation", {"Observation"}, "ObservationType", true},
      {"ProcedureOccurrence", {"Procedure"}, "ProcedureType", false},
      {"VisitOccurrence", {"Encounter"}, "VisitType", false},
      {"Death", {}, "DeathType", false},
  };
  return kDomains;
}

// Members of domain criteria that medlake cannot say, with the reason.
struct KnownGap {
  std::string_view suffix;  // matched against the end of the member name
  std::string_view reason;
};

constexpr KnownGap kGaps[] = {
    {"OccurrenceEndDate",
     "the event's end date: medlake windows and dates apply to the effective start"},
    {"SourceConcept",
     "a code set on the OMOP source concept: medlake matches a resource's codings with one code "
     "set"},
    {"ProviderSpecialty", "the specialty of the event's provider: not in the format"},
    {"VisitType", "the kind of visit the event belongs to: not in the format"},
    {"ValueAsConcept",
     "a coded value together with the event's code: one medlake event criterion has one code "
     "set"},
    {"ValueAsString", "a text value: not in the format"},
    {"Operator", "the value's comparison operator concept: not in the format"},
    {"RangeLow", "the reference range of the measurement: not in the format"},
    {"RangeHigh", "the reference range of the measurement: not in the format"},
    {"Abnormal", "the abnormal flag of the measurement: not in the format"},
    {"Qualifier", "the observation's qualifier concept: not in the format"},
    {"StopReason", "the stop reason text: not in the format"},
    {"DaysSupply", "the drug's days of supply: not in the format"},
    {"Refills", "the drug's refills: not in the format"},
    {"Quantity", "the quantity dispensed or performed: not in the format"},
    {"RouteConcept", "the drug's route: not in the format"},
    {"EffectiveDrugDose", "the drug dose: not in the format"},
    {"DoseUnit", "the drug dose unit: not in the format"},
    {"LotNumber", "the lot number: not in the format"},
    {"Modifier", "the procedure modifier: not in the format"},
    {"ConditionStatus", "the condition status concept (OMOP): not in the format"},
    {"DateAdjustment", "shifted event dates: not in the format"},
    {"PlaceOfService", "the place of service: not in the format"},
};

const Domain* FindDomain(std::string_view name) {
  for (const Domain& d : Domains()) {
    if (d.circe == name) return &d;
  }
  return nullptr;
}

Value NumberOf(json::Node node) {
  std::string_view text = node.NumberText();
  if (!text.empty()) return Value::NumberText(std::string(text));
  if (node.kind() == json::Kind::kDouble) return Value::Number(node.GetDouble());
  return Value::Int(node.GetInt64());
}

Value Comparison(std::string_view op, Value number, const std::optional<std::string>& unit) {
  Value v = Value::Object();
  v.Set("op", Value::String(std::string(op)));
  v.Set("value", std::move(number));
  if (unit) v.Set("unit", Value::String(*unit));
  return v;
}

// "YYYY-MM-DD" (the start of `date`) shifted by `days`; nullopt when `date` does not start with
// such a date, or when the shifted date leaves FHIR's years 0001-9999 (FHIR R4 §2.24.0.1, date).
std::optional<std::string> ShiftDate(std::string_view date, int days) {
  auto digits = [&](size_t at, size_t n, unsigned& out) {
    out = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (date[i] < '0' || date[i] > '9') return false;
      out = out * 10 + static_cast<unsigned>(date[i] - '0');
    }
    return true;
  };
  unsigned y = 0;
  unsigned m = 0;
  unsigned d = 0;
  if (date.size() < 10 || date[4] != '-' || date[7] != '-' || !digits(0, 4, y) ||
      !digits(5, 2, m) || !digits(8, 2, d)) {
    return std::nullopt;
  }
  std::chrono::year_month_day ymd{std::chrono::year{static_cast<int>(y)}, std::chrono::month{m},
                                  std::chrono::day{d}};
  if (y == 0 || !ymd.ok()) return std::nullopt;
  std::chrono::year_month_day shifted{std::chrono::sys_days{ymd} + std::chrono::days{days}};
  int year = static_cast<int>(shifted.year());
  if (year < 1 || year > 9999) return std::nullopt;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", year, static_cast<unsigned>(shifted.month()),
                static_cast<unsigned>(shifted.day()));
  return std::string(buf);
}

// A Circe range ({"Value", "Op", "Extent"}), its members checked; nullopt when it is
// malformed (reported). `what` names it in the report of unknown members.
struct Range {
  std::optional<json::Node> value, extent;
  std::string_view op;
};

std::optional<Range> ReadRange(json::Node range, const std::string& path, Issues& issues,
                               std::string_view what) {
  Members m(range, path, issues);
  if (m.malformed()) return std::nullopt;
  Range r;
  r.value = m.Take("Value");
  auto op = m.Take("Op", Shape::kString);
  r.extent = m.Take("Extent");
  m.Finish("not translated: unknown member of " + std::string(what));
  if (m.malformed()) return std::nullopt;
  r.op = op ? op->GetString() : "";
  return r;
}

// Circe DateRange as inclusive date bounds of the event start.
bool ReadDateRange(json::Node range, const std::string& path, EventPart& part, Issues& issues) {
  std::optional<Range> r = ReadRange(range, path, issues, "a date range");
  if (!r) return false;
  const auto& [value, extent, o] = *r;
  std::optional<std::string> v = value ? ShiftDate(value->GetString(), 0) : std::nullopt;
  if (!v) {
    issues.Unsupported(path, "date range without a valid Value date: not translated");
    return false;
  }
  // "after the last day" or "before the first day" of FHIR's calendar: no bound to write.
  std::optional<std::string> shifted = o == "gt"   ? ShiftDate(*v, 1)
                                       : o == "lt" ? ShiftDate(*v, -1)
                                                   : v;
  if (!shifted) {
    issues.Unsupported(path, "date range beyond FHIR's years 0001-9999: not translated");
    return false;
  }
  if (o == "gt") {
    part.date_start = shifted;
  } else if (o == "gte") {
    part.date_start = v;
  } else if (o == "lt") {
    part.date_end = shifted;
  } else if (o == "lte") {
    part.date_end = v;
  } else if (o == "eq") {
    part.date_start = v;
    part.date_end = v;
  } else if (o == "bt") {
    auto e = extent ? ShiftDate(extent->GetString(), 0) : std::nullopt;
    if (!e) {
      issues.Unsupported(path, "'bt' date range without a valid Extent: not translated");
      return false;
    }
    part.date_start = v;
    part.date_end = e;
  } else {
    issues.Unsupported(Join(path, "Op"), "date comparison '" + std::string(o) +
                                             "' is not a window (medlake windows are one "
                                             "interval): not translated");
    return false;
  }
  return true;
}

// The UCUM codes of a Circe Unit list (unit concepts); the others are reported.
std::vector<std::string> ReadUnits(json::Node units, const std::string& path, Issues& issues) {
  std::vector<std::string> codes;
  size_t i = 0;
  units.ForEachItem([&](json::Node concept_node) {
    std::string item_path = Index(path, i++);
    Concept unit = ReadConcept(concept_node, item_path, issues);
    if (unit.code.empty() || unit.vocabulary != "UCUM") {
      issues.Unsupported(item_path, "unit concept that is not UCUM: not translated");
      return true;
    }
    codes.push_back(std::move(unit.code));
    return true;
  });
  return codes;
}

// Circe keeps the measurements whose unit_concept_id is one of the units and compares their
// value as recorded (MeasurementSqlBuilder: "C.unit_concept_id in (...)" beside the
// value_as_number range). A medlake comparison cannot restrict the recorded unit: it converts
// every value to its unit, the first listed.
void ReportUnits(const std::vector<std::string>& codes, const std::string& path, Issues& issues) {
  if (codes.size() == 1) {
    issues.Approximate(path, "Circe keeps only values recorded in '" + codes[0] +
                                 "' and compares them as recorded; medlake converts values "
                                 "recorded in other units to '" +
                                 codes[0] + "' and compares them too");
    return;
  }
  std::string list;
  for (const std::string& c : codes) list += (list.empty() ? "" : ", ") + c;
  issues.Approximate(path, "values in any of " + std::to_string(codes.size()) + " units (" + list +
                               ") compared as written: medlake converts them to '" + codes[0] +
                               "' first, values recorded in other units that convert match too, "
                               "and values whose unit does not convert do not match");
}

// Circe's VisitLength is DATEDIFF(d, visit_start_date, visit_end_date), whole calendar days,
// compared with Value and Extent truncated to integers (VisitOccurrenceSqlBuilder, with the
// integer BuilderUtils.buildNumericRangeClause: intValue()). medlake's length_of_stay is the
// stay to the second, a date-only end counting to its last second: D whole days between two
// dates measure D + 86399/86400. Hence D > N is a length >= N + 1, D >= N a length >= N,
// D < N a length < N, D <= N a length < N + 1, D = N both >= N and < N + 1, D between N and E
// >= N and < E + 1: exact for stays recorded with dates only; with times, the length can cross
// a whole day where the dates do not (or the reverse). "!eq" and "!bt" are two intervals.
std::optional<Value> VisitLengthComparison(json::Node range, const std::string& path,
                                           Issues& issues) {
  std::optional<Range> r = ReadRange(range, path, issues, "a numeric range");
  if (!r) return std::nullopt;
  const auto& [value, extent, o] = *r;
  auto days = [](json::Node n) -> std::optional<int64_t> {
    if (!n.IsNumber()) return std::nullopt;
    double d = std::trunc(n.GetDouble());
    if (!(d >= -1e9 && d <= 1e9)) return std::nullopt;
    return static_cast<int64_t>(d);
  };
  std::optional<int64_t> n = value ? days(*value) : std::nullopt;
  if (!n) {
    issues.Unsupported(path, "visit length without a Value in days: not translated");
    return std::nullopt;
  }
  auto length = [](std::string_view cmp, int64_t v) {
    return Comparison(cmp, Value::Int(v), std::nullopt);
  };
  std::optional<Value> out;
  if (o == "gt") {
    out = length(">=", *n + 1);
  } else if (o == "gte") {
    out = length(">=", *n);
  } else if (o == "lt") {
    out = length("<", *n);
  } else if (o == "lte") {
    out = length("<", *n + 1);
  } else if (o == "eq" || o == "bt") {
    std::optional<int64_t> e = o == "eq" ? n : (extent ? days(*extent) : std::nullopt);
    if (!e) {
      issues.Unsupported(path, "'bt' range without an Extent: not translated");
      return std::nullopt;
    }
    out = Value::Array();
    out->Push(length(">=", *n));
    out->Push(length("<", *e + 1));
  } else {
    issues.Unsupported(Join(path, "Op"),
                       "comparison '" + std::string(o) +
                           "' is not one interval: medlake value comparisons must all hold");
    return std::nullopt;
  }
  issues.Approximate(path,
                     "Circe counts whole days between the visit's start and end dates "
                     "(DATEDIFF); the length of stay is compared so that stays recorded with "
                     "dates only match exactly, and stays recorded with times can differ by a "
                     "day");
  return out;
}

}  // namespace

std::optional<Value> NumericComparison(json::Node range, const std::string& path,
                                       std::optional<std::string> unit, Issues& issues) {
  std::optional<Range> r = ReadRange(range, path, issues, "a numeric range");
  if (!r) return std::nullopt;
  const auto& [value, extent, o] = *r;
  if (!value || !value->IsNumber()) {
    issues.Unsupported(path, "numeric range without a Value: not translated");
    return std::nullopt;
  }
  static constexpr std::pair<std::string_view, std::string_view> kOps[] = {
      {"lt", "<"}, {"lte", "<="}, {"gt", ">"}, {"gte", ">="}, {"eq", "="}, {"!eq", "!="}};
  for (const auto& [circe, medlake] : kOps) {
    if (o == circe) return Comparison(medlake, NumberOf(*value), unit);
  }
  if (o == "bt") {
    if (!extent || !extent->IsNumber()) {
      issues.Unsupported(path, "'bt' range without an Extent: not translated");
      return std::nullopt;
    }
    Value both = Value::Array();
    both.Push(Comparison(">=", NumberOf(*value), unit));
    both.Push(Comparison("<=", NumberOf(*extent), unit));
    return both;
  }
  issues.Unsupported(Join(path, "Op"),
                     "comparison '" + std::string(o) +
                         "' is not one interval: medlake value comparisons must all hold");
  return std::nullopt;
}

std::optional<Value> AgeCriterion(json::Node range, const std::string& path, Issues& issues) {
  std::optional<Range> r = ReadRange(range, path, issues, "an age range");
  if (!r) return std::nullopt;
  const auto& [value, extent, o] = *r;
  std::optional<int64_t> years = value ? Integer(*value) : std::nullopt;
  std::optional<int64_t> extent_years = extent ? Integer(*extent) : std::nullopt;
  if (!years || (extent && !extent_years)) {
    issues.Unsupported(path, "age range without whole years: not translated");
    return std::nullopt;
  }
  int64_t v = *years;
  Value age = Value::Object();
  bool negate = false;
  if (o == "gt") {
    age.Set("min", Value::Int(v + 1));
  } else if (o == "gte") {
    age.Set("min", Value::Int(v));
  } else if (o == "lt") {
    age.Set("max", Value::Int(v - 1));
  } else if (o == "lte") {
    age.Set("max", Value::Int(v));
  } else if (o == "eq" || o == "!eq") {
    age.Set("min", Value::Int(v));
    age.Set("max", Value::Int(v));
    negate = o == "!eq";
  } else if ((o == "bt" || o == "!bt") && extent_years) {
    age.Set("min", Value::Int(v));
    age.Set("max", Value::Int(*extent_years));
    negate = o == "!bt";
  } else {
    issues.Unsupported(path, "age comparison '" + std::string(o) + "': not translated");
    return std::nullopt;
  }
  issues.Approximate(path, std::string(kYearDifference));
  Value criterion = Value::Object();
  criterion.Set("age", std::move(age));
  if (!negate) return criterion;
  Value n = Value::Object();
  n.Set("not", std::move(criterion));
  return n;
}

std::optional<Value> SexCriterion(json::Node concepts, const std::string& path, Issues& issues) {
  Value sexes = Value::Array();
  size_t i = 0;
  concepts.ForEachItem([&](json::Node concept_node) {
    std::string item_path = Index(path, i++);
    int64_t concept_id = ReadConcept(concept_node, item_path, issues).id;
    // OMOP Gender concepts as FHIR AdministrativeGender.
    std::string_view sex = concept_id == 8507   ? "male"
                           : concept_id == 8532 ? "female"
                           : concept_id == 8521 ? "other"
                           : concept_id == 8551 ? "unknown"
                                                : "";
    if (sex.empty()) {
      issues.Unsupported(item_path, "gender concept " + std::to_string(concept_id) +
                                        " has no FHIR AdministrativeGender: not translated");
      return true;
    }
    sexes.Push(Value::String(std::string(sex)));
    return true;
  });
  if (sexes.size() == 0) return std::nullopt;
  Value criterion = Value::Object();
  criterion.Set("sex", std::move(sexes));
  return criterion;
}

std::optional<EventPart> ReadDomainCriterion(json::Node wrapper, const std::string& path, Role role,
                                             Context& ctx) {
  Issues& issues = ctx.issues;
  if (!wrapper.IsObject() || wrapper.Size() != 1) {
    issues.Unsupported(path, "a criterion must name exactly one domain: not translated");
    return std::nullopt;
  }
  std::string domain_name;
  json::Node body;
  wrapper.ForEachField([&](std::string_view key, json::Node value) {
    domain_name = std::string(key);
    body = value;
    return false;
  });
  std::string body_path = Join(path, domain_name);
  const Domain* domain = FindDomain(domain_name);
  if (domain == nullptr) {
    issues.Unsupported(body_path, "criteria on the OMOP " + domain_name +
                                      " domain have no medlake equivalent: not translated");
    return std::nullopt;
  }

  EventPart part;
  part.types = domain->types;
  part.death = domain->circe == "Death";
  Members m(body, body_path, issues);
  if (m.malformed()) return std::nullopt;

  if (auto id = m.Take("CodesetId")) {
    if (part.death) {
      issues.Unsupported(m.PathOf("CodesetId"),
                         "cause of death code set: medlake's deceased criterion has no cause");
    } else {
      part.codeset_id = Integer(*id);
      part.codeset_path = m.PathOf("CodesetId");
      if (!part.codeset_id) {
        issues.Unsupported(part.codeset_path, "not an integer: the criterion is left out");
        m.Finish("not translated: no equivalent in the medlake format");
        return std::nullopt;
      }
    }
  }
  if (auto first = m.Take("First", Shape::kBool)) part.first = first->GetBool();
  if (auto range = m.Take("OccurrenceStartDate")) {
    if (part.death) {
      issues.Unsupported(m.PathOf("OccurrenceStartDate"), "date of death range: not in the format");
    } else {
      ReadDateRange(*range, m.PathOf("OccurrenceStartDate"), part, issues);
    }
  }
  // "Exclude" only inverts the type list; without a list it means nothing.
  m.Take(std::string(domain->type_member) + "Exclude");

  if (domain->has_value) {
    std::optional<std::string> unit;
    std::vector<std::string> units;
    if (auto list = m.Take("Unit", Shape::kArray))
      units = ReadUnits(*list, m.PathOf("Unit"), issues);
    if (!units.empty()) unit = units[0];
    if (auto number = m.Take("ValueAsNumber")) {
      part.value = NumericComparison(*number, m.PathOf("ValueAsNumber"), unit, issues);
      if (part.value && unit) ReportUnits(units, m.PathOf("Unit"), issues);
    } else if (unit) {
      issues.Unsupported(m.PathOf("Unit"),
                         "a unit without a value comparison: medlake filters units only "
                         "through values");
    }
  }
  if (domain->circe == "VisitOccurrence") {
    if (auto length = m.Take("VisitLength")) {
      part.length_of_stay = VisitLengthComparison(*length, m.PathOf("VisitLength"), issues);
    }
  }

  auto age = m.Take("Age");
  auto gender = m.Take("Gender", Shape::kArray);
  auto correlated = m.Take("CorrelatedCriteria");
  if (role == Role::kEntry) {
    if (age) {
      auto op = age->Find("Op");
      part.age_ops.emplace_back(op ? op->GetString() : "");
      if (auto c = AgeCriterion(*age, m.PathOf("Age"), issues)) {
        part.person_filters.push_back(std::move(*c));
      }
    }
    if (gender && gender->Size() > 0) {
      if (auto c = SexCriterion(*gender, m.PathOf("Gender"), issues)) {
        part.person_filters.push_back(std::move(*c));
      }
    }
    if (correlated && !IsEmptyValue(*correlated)) {
      part.correlated = correlated;
      part.correlated_path = m.PathOf("CorrelatedCriteria");
    }
  } else {
    if (age) {
      issues.Unsupported(m.PathOf("Age"),
                         "age at a correlated event: medlake ages are at the index date");
    }
    if (gender && gender->Size() > 0) {
      issues.Unsupported(m.PathOf("Gender"),
                         "gender on a correlated event: write it as a demographic criterion");
    }
    if (correlated && !IsEmptyValue(*correlated)) {
      issues.Unsupported(m.PathOf("CorrelatedCriteria"),
                         "criteria correlated to a correlated event: medlake windows are "
                         "relative to the index date only");
    }
  }

  // The remaining members: known gaps with their reason, then anything else.
  body.ForEachField([&](std::string_view key, json::Node value) {
    if (IsEmptyValue(value)) return true;
    if (key == domain->type_member) {
      m.Take(key);
      issues.Unsupported(m.PathOf(key),
                         "not translated: OMOP record-provenance type concepts have no FHIR "
                         "equivalent");
      return true;
    }
    for (const KnownGap& gap : kGaps) {
      if (key.ends_with(gap.suffix)) {
        m.Take(key);
        issues.Unsupported(m.PathOf(key), "not translated: " + std::string(gap.reason));
        return true;
      }
    }
    return true;
  });
  m.Finish("not translated: no equivalent in the medlake format");
  if (m.malformed()) return std::nullopt;
  return part;
}

Value EventBody(const EventPart& part, const std::string& codeset_name,
                std::optional<Value> window) {
  Value body = Value::Object();
  if (part.types.size() == 1) {
    body.Set("type", Value::String(part.types[0]));
  } else {
    Value& types = body.Set("type", Value::Array());
    for (const std::string& t : part.types) types.Push(Value::String(t));
  }
  if (!codeset_name.empty()) body.Set("codeset", Value::String(codeset_name));
  if (part.first) body.Set("select", Value::String("first"));
  if (!window && (part.date_start || part.date_end)) {
    window = Value::Object();
    if (part.date_start) {
      window->Set("start", Value::Object()).Set("date", Value::String(*part.date_start));
    }
    if (part.date_end) {
      window->Set("end", Value::Object()).Set("date", Value::String(*part.date_end));
    }
  }
  if (window) body.Set("window", std::move(*window));
  if (part.value) body.Set("value", *part.value);
  if (part.length_of_stay) body.Set("length_of_stay", *part.length_of_stay);
  return body;
}

}  // namespace medlake::cohort::circe_internal
