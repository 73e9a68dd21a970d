// Circe CriteriaGroup, CorelatedCriteria and DemographicCriteria as medlake criteria.
#include <cctype>
#include <cstdlib>
#include <optional>
#include <string>

#include "cohort/circe_internal.h"

namespace medlake::cohort::circe_internal {
namespace {

// Combinations beyond this many are not expanded (AT_LEAST k of n as ANY of ALLs).
constexpr size_t kMaxCombinations = 64;

// The largest occurrence count translated (the format's counts are 32-bit).
constexpr int64_t kMaxCount = 1'000'000'000;

// Circe Occurrence types.
constexpr int64_t kExactly = 0;
constexpr int64_t kAtMost = 1;
constexpr int64_t kAtLeast = 2;

struct Bounds {
  std::optional<int64_t> start;  // days relative to the index start; absent: open
  std::optional<int64_t> end;
};

// The largest window offset translated, in days (Circe multiplies Days by Coeff).
constexpr int64_t kMaxWindowDays = 3'660'000;

// A Circe Window {Start {Days, Coeff}, End {Days, Coeff}, UseIndexEnd, UseEventEnd}.
// `end_window`: an EndWindow, whose event date is the event's end unless UseEventEnd is false.
// `check_observation`: IgnoreObservationPeriod is false. nullopt (reported) when the window is
// malformed or not on the event start relative to the index start.
//
// As CohortExpressionQueryBuilder.getWindowedCriteriaQuery (circe-be): an endpoint with Days is
// the index date plus Coeff * Days days, where Coeff defaults to 0 (Window.Endpoint's `int
// coeff`: {"Days": 30} without Coeff is day 0). An endpoint without Days is no bound when the
// observation period is ignored, else the observation period's start when Coeff is -1 and its
// end otherwise: a start at the period's end, or an end at its start, keeps one day of the
// period, which medlake (without observation periods) cannot say. Circe dereferences Start and
// End: a window without them builds no query.
std::optional<Bounds> ReadWindow(json::Node window, const std::string& path, bool end_window,
                                 bool check_observation, Issues& issues) {
  Members m(window, path, issues);
  if (m.malformed()) return std::nullopt;
  Bounds bounds;
  bool ok = true;
  auto endpoint = [&](std::string_view key, bool is_end, std::optional<int64_t>& out) {
    auto node = m.Take(key);
    if (!node) {
      issues.Unsupported(m.PathOf(key), "a window without " + std::string(key) +
                                            ", which Circe requires: not translated");
      ok = false;
      return;
    }
    Members e(*node, m.PathOf(key), issues);
    auto days = e.Take("Days");
    auto coeff = e.Take("Coeff");
    e.Finish("not translated: unknown member of a window endpoint");
    if (e.malformed()) {
      ok = false;
      return;
    }
    const std::optional<int64_t> c = coeff ? Integer(*coeff) : std::optional<int64_t>(0);
    const std::optional<int64_t> d = days ? Integer(*days) : std::optional<int64_t>(0);
    if (!d || !c) {
      issues.Unsupported(m.PathOf(key), "Days and Coeff must be integers");
      ok = false;
      return;
    }
    if (!days) {
      bool period_edge = is_end ? *c == -1 : *c != -1;
      if (check_observation && period_edge) {
        issues.Unsupported(m.PathOf(key),
                           std::string("a window ") +
                               (is_end ? "ending at the start" : "starting at the end") +
                               " of the observation period (no Days, Coeff " + std::to_string(*c) +
                               "): FHIR has no observation periods");
        ok = false;
      }
      return;
    }
    // Each factor bounded first: the product cannot overflow (nor std::abs meet INT64_MIN).
    if (*d > kMaxWindowDays || *d < -kMaxWindowDays || *c > kMaxWindowDays ||
        *c < -kMaxWindowDays || std::abs(*d * *c) > kMaxWindowDays) {
      issues.Unsupported(m.PathOf(key), "a window bound beyond 10,000 years: not translated");
      ok = false;
      return;
    }
    out = *d * *c;
  };
  endpoint("Start", false, bounds.start);
  endpoint("End", true, bounds.end);
  auto use_index_end = m.Take("UseIndexEnd", Shape::kBool);
  auto use_event_end = m.Take("UseEventEnd", Shape::kBool);
  m.Finish("not translated: unknown member of a window");
  if (m.malformed()) return std::nullopt;
  if (use_index_end && use_index_end->GetBool()) {
    issues.Unsupported(Join(path, "UseIndexEnd"),
                       "a window relative to the index event's end: medlake windows are "
                       "relative to the index date");
    ok = false;
  }
  bool event_end = end_window ? (!use_event_end || use_event_end->GetBool())
                              : (use_event_end && use_event_end->GetBool());
  if (event_end) {
    issues.Unsupported(end_window ? path : Join(path, "UseEventEnd"),
                       "a window on the event's end date: medlake windows apply to the "
                       "event's effective start");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return bounds;
}

// A window bound. Circe compares calendar dates: "day N" is the whole day, from the index
// date's midnight plus N days. medlake windows are instants relative to the index's instant,
// so a relative bound widens to the exclusive neighbour day: exact for records with dates
// only, at most a day wider for records with times (never narrower).
Value Bound(std::optional<int64_t> days, const std::optional<std::string>& date, bool is_end) {
  Value bound = Value::Object();
  if (days) {
    bound.Set("days", Value::Int(is_end ? *days + 1 : *days - 1));
    bound.Set("inclusive", Value::Bool(false));
  } else {
    bound.Set("date", Value::String(*date));
  }
  return bound;
}

std::optional<Value> TranslateDeath(const EventPart& part, const Bounds& bounds,
                                    int64_t occurrence_type, int64_t count, const std::string& path,
                                    Issues& issues) {
  bool open_start = !bounds.start;
  bool up_to_index = bounds.end && *bounds.end == 0;
  bool present =
      (occurrence_type == kAtLeast && count == 1) || (occurrence_type == kExactly && count == 1);
  bool absent = (occurrence_type == kExactly || occurrence_type == kAtMost) && count == 0;
  if (!open_start || !up_to_index || (!present && !absent) || part.date_start || part.date_end) {
    issues.Unsupported(path,
                       "a death criterion other than \"died at or before the index date\" "
                       "(window from any time to day 0): medlake's deceased criterion has no "
                       "window");
    return std::nullopt;
  }
  Value v = Value::Object();
  v.Set("deceased", Value::Bool(present));
  return v;
}

std::optional<Value> TranslateCorrelated(json::Node node, const std::string& path, Context& ctx) {
  Issues& issues = ctx.issues;
  Members m(node, path, issues);
  if (m.malformed()) return std::nullopt;
  auto criteria = m.Take("Criteria", Shape::kObject);
  auto start_window = m.Take("StartWindow", Shape::kObject);
  auto end_window = m.Take("EndWindow", Shape::kObject);
  auto restrict_visit = m.Take("RestrictVisit", Shape::kBool);
  auto ignore_op = m.Take("IgnoreObservationPeriod", Shape::kBool);
  auto occurrence = m.Take("Occurrence", Shape::kObject);
  m.Finish("not translated: unknown member of a correlated criterion");
  if (m.malformed()) return std::nullopt;
  if (!criteria) {
    issues.Unsupported(path, "correlated criterion without Criteria: not translated");
    return std::nullopt;
  }
  // Circe dereferences both (CohortExpressionQueryBuilder.getCorelatedlCriteriaQuery): without
  // them it builds no query at all.
  if (!start_window || !occurrence) {
    issues.Unsupported(path, std::string("correlated criterion without ") +
                                 (start_window ? "Occurrence" : "StartWindow") +
                                 ", which Circe requires: not translated");
    return std::nullopt;
  }
  auto part = ReadDomainCriterion(*criteria, Join(path, "Criteria"), Role::kCorrelated, ctx);
  if (!part) return std::nullopt;

  bool check_observation = !ignore_op || !ignore_op->GetBool();
  Bounds bounds;
  {
    auto b = ReadWindow(*start_window, Join(path, "StartWindow"), false, check_observation, issues);
    if (!b) return std::nullopt;
    bounds = *b;
  }
  if (end_window) {
    auto b = ReadWindow(*end_window, Join(path, "EndWindow"), true, check_observation, issues);
    if (!b) return std::nullopt;
    // Both windows are on the event start: their intersection.
    if (b->start) bounds.start = bounds.start ? std::max(*bounds.start, *b->start) : *b->start;
    if (b->end) bounds.end = bounds.end ? std::min(*bounds.end, *b->end) : *b->end;
  }
  if (restrict_visit && restrict_visit->GetBool()) {
    issues.Unsupported(Join(path, "RestrictVisit"),
                       "restricting to the index event's visit: not in the format; events of "
                       "any visit count");
  }
  if (check_observation) {
    issues.Approximate(path,
                       "Circe counts only events in the index's observation period; FHIR has "
                       "no observation periods, so medlake counts the whole record");
  }

  // Circe's Occurrence has `int type` and `int count`: both 0 when absent, "exactly 0".
  int64_t type = kExactly;
  int64_t count = 0;
  {
    std::string occ_path = Join(path, "Occurrence");
    Members o(*occurrence, occ_path, issues);
    if (o.malformed()) return std::nullopt;
    auto type_node = o.Take("Type");
    auto count_node = o.Take("Count");
    if (type_node) type = Integer(*type_node).value_or(-1);
    if (count_node) count = Integer(*count_node).value_or(-1);
    auto distinct = o.Take("IsDistinct", Shape::kBool);
    auto column = o.Take("CountColumn", Shape::kString);
    o.Finish("not translated: unknown member of an occurrence");
    if (o.malformed()) return std::nullopt;
    if (distinct && distinct->GetBool()) {
      std::string what = column ? std::string(column->GetString()) : "DOMAIN_CONCEPT";
      issues.Unsupported(Join(occ_path, "IsDistinct"),
                         "counting distinct " + what +
                             " values: medlake counts distinct resources (the count is "
                             "translated over resources)");
    }
    if (count < 0 || count > kMaxCount) {
      issues.Unsupported(Join(occ_path, "Count"),
                         "not a count from 0 to " + std::to_string(kMaxCount) + ": not translated");
      return std::nullopt;
    }
    if (type != kExactly && type != kAtMost && type != kAtLeast) {
      issues.Unsupported(Join(occ_path, "Type"),
                         "unknown occurrence type " + std::to_string(type) + ": not translated");
      return std::nullopt;
    }
  }

  if (part->death) return TranslateDeath(*part, bounds, type, count, path, issues);

  std::string codeset;
  if (part->codeset_id) {
    auto name = ctx.codesets.Use(*part->codeset_id, part->codeset_path);
    if (!name) return std::nullopt;
    codeset = *name;
  }
  std::optional<std::string> date_start = part->date_start;
  std::optional<std::string> date_end = part->date_end;
  if ((bounds.start && date_start) || (bounds.end && date_end)) {
    issues.Unsupported(Join(path, "Criteria"),
                       "an occurrence date range and a window bound on the same side: one "
                       "medlake window bound is either relative or a date; the date range is "
                       "left out");
    if (bounds.start) date_start.reset();
    if (bounds.end) date_end.reset();
  }
  if (bounds.start || bounds.end) {
    issues.Approximate(Join(path, "StartWindow"),
                       "Circe compares calendar dates; the window is widened to the exclusive "
                       "neighbour days (exact for records with dates only, up to a day wider "
                       "for records with times)");
  }
  std::optional<Value> window;
  if (bounds.start || bounds.end || date_start || date_end) {
    window = Value::Object();
    if (bounds.start || date_start) window->Set("start", Bound(bounds.start, date_start, false));
    if (bounds.end || date_end) window->Set("end", Bound(bounds.end, date_end, true));
  }
  Value event = EventBody(*part, codeset, std::move(window));
  if (!(type == kAtLeast && count == 1)) {
    Value c = Value::Object();
    if (type == kExactly) {
      c.Set("min", Value::Int(count));
      c.Set("max", Value::Int(count));
    } else if (type == kAtMost) {
      c.Set("min", Value::Int(0));
      c.Set("max", Value::Int(count));
    } else {
      c.Set("min", Value::Int(count));
    }
    event.Set("count", std::move(c));
  }
  Value criterion = Value::Object();
  criterion.Set("event", std::move(event));
  return criterion;
}

std::optional<Value> TranslateDemographic(json::Node node, const std::string& path, Context& ctx) {
  Issues& issues = ctx.issues;
  Members m(node, path, issues);
  if (m.malformed()) return std::nullopt;
  Value all = Value::Array();
  if (auto age = m.Take("Age")) {
    if (auto c = AgeCriterion(*age, m.PathOf("Age"), issues)) all.Push(std::move(*c));
  }
  if (auto gender = m.Take("Gender", Shape::kArray); gender && gender->Size() > 0) {
    if (auto c = SexCriterion(*gender, m.PathOf("Gender"), issues)) all.Push(std::move(*c));
  }
  node.ForEachField([&](std::string_view key, json::Node value) {
    if (IsEmptyValue(value)) return true;
    if (key == "Race" || key == "Ethnicity") {
      m.Take(key);
      issues.Unsupported(m.PathOf(key),
                         "not translated: race and ethnicity are US Core "
                         "extensions that medlake criteria do not read");
    } else if (key == "OccurrenceStartDate" || key == "OccurrenceEndDate") {
      m.Take(key);
      issues.Unsupported(m.PathOf(key),
                         "not translated: a range of the index date itself is not a medlake "
                         "criterion");
    }
    return true;
  });
  m.Finish("not translated: unknown member of a demographic criterion");
  if (all.size() == 0) return std::nullopt;
  if (all.size() == 1) return all.items()[0];
  Value v = Value::Object();
  v.Set("all", std::move(all));
  return v;
}

Value Combine(std::string_view op, Value children) {
  if (children.size() == 1 && (op == "all" || op == "any")) return children.items()[0];
  Value v = Value::Object();
  v.Set(op, std::move(children));
  return v;
}

// ANY of the ALLs of every k-subset of `children`.
std::optional<Value> AtLeast(const std::vector<Value>& children, size_t k) {
  size_t n = children.size();
  if (k == 0) return Combine("all", Value::Array());
  if (k > n) return Combine("any", Value::Array());
  if (k == 1) {
    Value list = Value::Array();
    for (const Value& c : children) list.Push(c);
    return Combine("any", std::move(list));
  }
  if (k == n) {
    Value list = Value::Array();
    for (const Value& c : children) list.Push(c);
    return Combine("all", std::move(list));
  }
  std::vector<size_t> pick(k);
  for (size_t i = 0; i < k; ++i) pick[i] = i;
  Value any = Value::Array();
  while (true) {
    if (any.size() >= kMaxCombinations) return std::nullopt;
    Value all = Value::Array();
    for (size_t i : pick) all.Push(children[i]);
    any.Push(Combine("all", std::move(all)));
    size_t i = k;
    while (i > 0 && pick[i - 1] == n - k + i - 1) --i;
    if (i == 0) break;
    ++pick[i - 1];
    for (size_t j = i; j < k; ++j) pick[j] = pick[j - 1] + 1;
  }
  return Combine("any", std::move(any));
}

}  // namespace

std::optional<Value> TranslateGroup(json::Node group, const std::string& path, Context& ctx) {
  Issues& issues = ctx.issues;
  Members m(group, path, issues);
  if (m.malformed()) return std::nullopt;
  auto type_node = m.Take("Type", Shape::kString);
  auto count_node = m.Take("Count");
  // Circe compares group types without case (equalsIgnoreCase "ALL" and "ANY", "AT_" and
  // "LEAST" on the upper-cased type).
  std::string type = "ALL";
  if (type_node) {
    type.clear();
    for (char c : type_node->GetString())
      type += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  std::vector<Value> children;
  size_t total = 0;
  auto each = [&](std::string_view key, auto translate) {
    auto list = m.Take(key, Shape::kArray);
    if (!list) return;
    size_t i = 0;
    list->ForEachItem([&](json::Node item) {
      ++total;
      if (auto c = translate(item, Index(m.PathOf(key), i++), ctx)) children.push_back(*c);
      return true;
    });
  };
  each("CriteriaList", TranslateCorrelated);
  each("DemographicCriteriaList", TranslateDemographic);
  each("Groups", TranslateGroup);
  m.Finish("not translated: unknown member of a criteria group");
  // A list that is not a list (reported): what the group holds is unknown.
  if (m.malformed() && children.empty()) return std::nullopt;

  // Circe lets every event through an empty group, whatever its type.
  if (total == 0) return Combine("all", Value::Array());
  if (children.empty()) return std::nullopt;
  if (children.size() < total) {
    issues.Unsupported(
        path, "group of type " + type + " evaluated over " + std::to_string(children.size()) +
                  " of its " + std::to_string(total) + " members (the others are reported above)");
  }
  // CriteriaGroup.count is an Integer: without it Circe writes "COUNT(index_id) >= null".
  std::optional<int64_t> count_value = count_node ? Integer(*count_node) : std::nullopt;
  if ((type == "AT_LEAST" || type == "AT_MOST") && !count_value) {
    issues.Unsupported(m.PathOf("Count"),
                       "group " + type + " without an integer Count: not translated");
    return std::nullopt;
  }
  int64_t count = count_value.value_or(0);
  std::optional<Value> result;
  if (type == "ALL") {
    result = AtLeast(children, children.size());
  } else if (type == "ANY") {
    result = AtLeast(children, 1);
  } else if (type == "AT_LEAST") {
    result = AtLeast(children, count < 0 ? 0 : static_cast<size_t>(count));
  } else if (type == "AT_MOST") {
    if (count < 0) count = 0;
    if (static_cast<size_t>(count) >= children.size()) {
      result = Combine("all", Value::Array());
    } else if (auto more = AtLeast(children, static_cast<size_t>(count) + 1)) {
      Value v = Value::Object();
      v.Set("not", std::move(*more));
      result = std::move(v);
    }
  } else {
    issues.Unsupported(m.PathOf("Type"), "unknown group type '" + type + "': not translated");
    return std::nullopt;
  }
  if (!result) {
    issues.Unsupported(m.PathOf("Type"), "group " + type + " " + std::to_string(count) + " of " +
                                             std::to_string(children.size()) +
                                             ": too many combinations to expand");
  }
  return result;
}

}  // namespace medlake::cohort::circe_internal
