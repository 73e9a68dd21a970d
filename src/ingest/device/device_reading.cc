#include "ingest/device/device_reading.h"

#include <xxhash.h>

#include <cmath>
#include <cstdio>
#include <optional>

#include "common/fhir_time.h"
#include "fhir/resource_facts.h"
#include "json/json.h"

namespace medlake::ingest {
namespace {

struct Vital {
  std::string_view loinc;
  std::string_view display;
  std::string_view ucum;
};

constexpr Vital kHeartRate{"8867-4", "Heart rate", "/min"};
constexpr Vital kRespRate{"9279-1", "Respiratory rate", "/min"};
constexpr Vital kSpO2{"59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"};
constexpr Vital kTemperature{"8310-5", "Body temperature", "Cel"};
constexpr Vital kSystolic{"8480-6", "Systolic blood pressure", "mm[Hg]"};
constexpr Vital kDiastolic{"8462-4", "Diastolic blood pressure", "mm[Hg]"};
constexpr Vital kO2Flow{"3151-8", "Inhaled oxygen flow rate", "L/min"};

struct Value {
  const Vital* vital;
  double value;
};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

void AppendCoding(const Vital& v, std::string& out) {
  out += R"({"coding":[{"system":"http://loinc.org","code":")";
  out += v.loinc;
  out += R"(","display":)";
  json::AppendQuoted(v.display, out);
  out += "}]}";
}

void AppendQuantity(double value, const Vital& v, std::string& out) {
  out += R"({"value":)" + Num(value) + R"(,"unit":)";
  json::AppendQuoted(v.ucum, out);
  out += R"(,"system":"http://unitsofmeasure.org","code":)";
  json::AppendQuoted(v.ucum, out);
  out += "}";
}

// When an Open mHealth reading was taken: a point in time, or an interval (effectivePeriod).
struct Effective {
  std::string key;  // the time in the id: the point, else the interval's start, else its end
  std::string start, end;
  bool interval = false;
};

Effective PointInTime(std::string time) {
  Effective e;
  e.key = e.start = std::move(time);
  return e;
}

// An Open mHealth descriptive statistic (descriptive-statistic 1.0-1.2) and its code in FHIR
// R4's StatisticsCode system (valueset-observation-statistics, the codes of Observation's
// $stats operation). A dispersion is a difference of values (its temperature converts without
// the offset); a count is a number of measurements, no quantity of the vital. A sum or a
// variance of a vital has no unit medlake writes (a variance of Cel, a sum of temperatures):
// not mapped.
enum class StatisticKind { kValue, kDispersion, kCount, kNotMapped };
struct Statistic {
  std::string_view omh, code, display;
  StatisticKind kind;
};
constexpr Statistic kStatistics[] = {
    {"average", "average", "Average", StatisticKind::kValue},
    {"maximum", "maximum", "Maximum", StatisticKind::kValue},
    {"minimum", "minimum", "Minimum", StatisticKind::kValue},
    {"median", "median", "Median", StatisticKind::kValue},
    {"standard deviation", "std-dev", "Standard Deviation", StatisticKind::kDispersion},
    {"count", "count", "Count", StatisticKind::kCount},
    {"20th percentile", "20-percent", "20th Percentile", StatisticKind::kValue},
    {"80th percentile", "80-percent", "80th Percentile", StatisticKind::kValue},
    {"lower quartile", "4-lower", "Lower Quartile", StatisticKind::kValue},
    {"upper quartile", "4-upper", "Upper Quartile", StatisticKind::kValue},
    {"quartile deviation", "4-dev", "Quartile Deviation", StatisticKind::kDispersion},
    {"1st quintile", "5-1", "1st Quintile", StatisticKind::kValue},
    {"2nd quintile", "5-2", "2nd Quintile", StatisticKind::kValue},
    {"3rd quintile", "5-3", "3rd Quintile", StatisticKind::kValue},
    {"4th quintile", "5-4", "4th Quintile", StatisticKind::kValue},
    {"sum", "sum", "Sum", StatisticKind::kNotMapped},
    {"variance", "variance", "Variance", StatisticKind::kNotMapped},
};
constexpr std::string_view kStatisticsSystem =
    "http://terminology.hl7.org/CodeSystem/observation-statistics";

// One Observation: a single value, a blood-pressure panel of components, or a statistic of
// one vital over an interval. A statistic is written as FHIR R4's Observation $stats operation
// returns one: `code` the vital, `effectivePeriod` the interval, and the value in a component
// whose code is the statistic ("relative to the Observation.code and cannot be interpreted
// independently"), so that no reader takes a day's maximum for a measured value.
DeviceResource Build(const std::string& patient, const std::string& device, const Effective& when,
                     const std::vector<Value>& values, const Statistic* statistic = nullptr) {
  const bool panel = values.size() > 1;
  const Vital panel_code{"85354-9", "Blood pressure panel with all children optional", ""};
  const Vital& code = panel ? panel_code : *values[0].vital;
  std::string key = patient + "|" + device + "|" + std::string(code.loinc) + "|" + when.key;
  if (statistic) key += "|" + std::string(statistic->code) + "|" + when.end;
  char id[40];
  std::snprintf(id, sizeof id, "dev-%016llx",
                static_cast<unsigned long long>(XXH3_64bits(key.data(), key.size())));
  std::string j =
      R"({"resourceType":"Observation","id":")" + std::string(id) +
      R"(","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":)";
  AppendCoding(code, j);
  j += R"(,"subject":{"reference":"Patient/)" + patient + R"("},)";
  if (when.interval) {
    j += R"("effectivePeriod":{)";
    if (!when.start.empty()) {
      j += R"("start":)";
      json::AppendQuoted(when.start, j);
    }
    if (!when.end.empty()) {
      j += when.start.empty() ? R"("end":)" : R"(,"end":)";
      json::AppendQuoted(when.end, j);
    }
    j += "}";
  } else {
    j += R"("effectiveDateTime":)";
    json::AppendQuoted(when.start, j);
  }
  if (!device.empty()) {
    j += R"(,"device":{"display":)";
    json::AppendQuoted(device, j);
    j += "}";
  }
  if (statistic) {
    j += R"(,"component":[{"code":{"coding":[{"system":")" + std::string(kStatisticsSystem) +
         R"(","code":")" + std::string(statistic->code) + R"(","display":")" +
         std::string(statistic->display) + R"("}]},)";
    if (statistic->kind == StatisticKind::kCount) {
      j += R"("valueInteger":)" + Num(values[0].value);
    } else {
      j += R"("valueQuantity":)";
      AppendQuantity(values[0].value, *values[0].vital, j);
    }
    j += "}]";
  } else if (panel) {
    j += R"(,"component":[)";
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) j += ",";
      j += R"({"code":)";
      AppendCoding(*values[i].vital, j);
      j += R"(,"valueQuantity":)";
      AppendQuantity(values[i].value, *values[i].vital, j);
      j += "}";
    }
    j += "]";
  } else {
    j += R"(,"valueQuantity":)";
    AppendQuantity(values[0].value, *values[0].vital, j);
  }
  j += "}";
  return {id, std::move(j)};
}

// {"value": v, "unit": u} of an OMH unit-value, checked against the accepted units; the
// value is converted to the UCUM unit of the vital. Of a statistic (nullptr: a reading), a
// dispersion is a difference of two readings (a temperature converts without the offset) and a
// count is a whole number of readings, not converted at all.
Result<double> UnitValue(json::Node node, std::string_view field,
                         std::initializer_list<std::string_view> units,
                         const Statistic* statistic = nullptr) {
  auto uv = node.Find(field);
  if (!uv || !uv->IsObject()) return ParseError(std::string(field) + " missing or not an object");
  auto v = uv->Find("value");
  auto u = uv->Find("unit");
  if (!v || !v->IsNumber() || !std::isfinite(v->GetDouble()))
    return ParseError(std::string(field) + ".value is not a number");
  if (!u || !u->IsString()) return ParseError(std::string(field) + ".unit missing");
  const StatisticKind kind = statistic ? statistic->kind : StatisticKind::kValue;
  for (std::string_view ok : units) {
    if (u->GetString() != ok) continue;
    double x = v->GetDouble();
    if (kind == StatisticKind::kCount) {
      if (x != std::floor(x))
        return ParseError("descriptive_statistic count is not a whole number");
      return x;
    }
    const bool difference = kind == StatisticKind::kDispersion;
    if (ok == "F") x = (difference ? x : x - 32) * 5 / 9;
    if (ok == "K" && !difference) x -= 273.15;
    return x;
  }
  return ParseError(std::string(field) + ".unit not accepted");
}

// The length of an OMH duration-unit-value in ms; nullopt for months and years (no fixed
// length) or an invalid one.
std::optional<int64_t> DurationMs(json::Node duration) {
  auto v = duration.Find("value");
  auto u = duration.Find("unit");
  if (!v || !v->IsNumber() || !u || !u->IsString()) return std::nullopt;
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"ps", 1e-9}, {"ns", 1e-6}, {"us", 1e-3},  {"ms", 1},      {"sec", 1000},
      {"min", 6e4}, {"h", 3.6e6}, {"d", 8.64e7}, {"wk", 6.048e8}};
  for (const auto& [unit, ms] : kUnits) {
    double x = v->GetDouble() * ms;
    if (u->GetString() == unit && std::isfinite(x) && x >= 0 && x < 1e15) {
      return static_cast<int64_t>(std::llround(x));
    }
  }
  return std::nullopt;
}

// effective_time_frame: a date_time, or a time_interval (start and end, either with a
// duration, or a date with a part of the day) as a period. nullopt when absent; an error when
// present but not one of these.
Result<std::optional<Effective>> OmhEffective(json::Node body) {
  auto frame = body.Find("effective_time_frame");
  if (!frame) return std::optional<Effective>();
  auto valid = [](json::Node n) { return n.IsString() && ParseFhirTime(n.GetString()); };
  if (auto dt = frame->Find("date_time")) {
    if (!valid(*dt)) return ParseError("effective_time_frame is not an ISO 8601 date-time");
    return std::optional<Effective>(PointInTime(std::string(dt->GetString())));
  }
  auto interval = frame->Find("time_interval");
  if (!interval) return ParseError("effective_time_frame has no date_time or time_interval");
  Effective e;
  e.interval = true;
  auto start = interval->Find("start_date_time");
  auto end = interval->Find("end_date_time");
  auto date = interval->Find("date");
  for (auto node : {start, end, date}) {
    if (node && !valid(*node)) {
      return ParseError("effective_time_frame is not an ISO 8601 date-time");
    }
  }
  if (start) e.start = start->GetString();
  if (end) e.end = end->GetString();
  if (auto duration = interval->Find("duration"); duration && (!start || !end)) {
    if (auto ms = DurationMs(*duration)) {
      if (start && !end) e.end = FormatUtc(ParseFhirTime(e.start)->start + *ms);
      if (end && !start) e.start = FormatUtc(ParseFhirTime(e.end)->end - *ms);
    }
  }
  if (date && !start && !end) e.start = e.end = date->GetString();  // a day (a part of it)
  if (e.start.empty() && e.end.empty()) {
    return ParseError("effective_time_frame has no date_time or time_interval");
  }
  // A reading is placed (and scored) at its start: an interval whose start is neither given
  // nor follows from its end and a duration in fixed units (not months or years) has none.
  if (e.start.empty()) {
    return ParseError(
        "effective_time_frame's time_interval has no start_date_time and no "
        "duration in seconds to weeks to find it from its end");
  }
  if (!e.end.empty() && ParseFhirTime(e.start)->start > ParseFhirTime(e.end)->end) {
    return ParseError("effective_time_frame ends before it starts");
  }
  // The time in ids, as before intervals were kept: their start, else their end.
  e.key = !start && !end && date ? std::string(date->GetString())
          : start                ? std::string(start->GetString())
                                 : std::string(end->GetString());
  return std::optional<Effective>(std::move(e));
}

std::string TopicPatient(std::string_view topic) {
  size_t slash = topic.rfind('/');
  return std::string(slash == std::string_view::npos ? topic : topic.substr(slash + 1));
}

}  // namespace

Result<std::vector<DeviceResource>> DeviceReadingToFhir(std::string_view payload,
                                                        std::string_view topic,
                                                        int64_t received_ms) {
  json::Parser parser;
  auto root = parser.Parse(payload);
  if (!root.ok()) return root.status();
  if (!root->IsObject()) return ParseError("reading is not a JSON object");
  std::string patient;
  if (auto p = root->Find("patient"); p && p->IsString()) patient = p->GetString();
  std::string device;
  if (auto d = root->Find("device"); d && d->IsString()) device = d->GetString();

  std::vector<DeviceResource> out;
  if (auto vital = root->Find("vital")) {  // medlake monitor reading
    static const std::pair<std::string_view, const Vital*> kVitals[] = {
        {"heart_rate", &kHeartRate},
        {"respiratory_rate", &kRespRate},
        {"spo2", &kSpO2},
        {"temperature", &kTemperature},
        {"systolic_bp", &kSystolic},
        {"diastolic_bp", &kDiastolic}};
    const Vital* v = nullptr;
    for (const auto& [name, def] : kVitals) {
      if (vital->GetString() == name) v = def;
    }
    if (!v) return Unsupported("unknown vital in reading");
    auto value = root->Find("value");
    if (!value || !value->IsNumber() || !std::isfinite(value->GetDouble()))
      return ParseError("reading value is not a number");
    auto unit = root->Find("unit");
    if (!unit || unit->GetString() != v->ucum)
      return ParseError("reading unit does not match the vital");
    auto time = root->Find("time");
    if (!time || !ParseFhirTime(time->GetString()))
      return ParseError("reading time missing or not an ISO 8601 date-time");
    if (patient.empty()) patient = TopicPatient(topic);
    if (!fhir::IsValidId(patient)) return ParseError("reading has no valid patient id");
    out.push_back(Build(patient, device, PointInTime(std::string(time->GetString())),
                        {{v, value->GetDouble()}}));
    return out;
  }

  // Open mHealth: a data point with header and body, or a bare body.
  json::Node body = *root;
  std::string schema;
  if (auto header = root->Find("header")) {
    auto b = root->Find("body");
    if (!b || !b->IsObject()) return ParseError("Open mHealth data point without a body");
    body = *b;
    if (auto sid = header->Find("schema_id")) {
      if (auto name = sid->Find("name"); name && name->IsString()) schema = name->GetString();
    }
  }
  if (patient.empty()) patient = TopicPatient(topic);
  if (!fhir::IsValidId(patient)) return ParseError("reading has no valid patient id");
  MEDLAKE_ASSIGN_OR_RETURN(std::optional<Effective> effective, OmhEffective(body));
  Effective when;
  if (effective) {
    when = std::move(*effective);
  } else if (received_ms != kNoTime) {
    when = PointInTime(FormatUtc(received_ms));
  } else {
    return ParseError("reading has no effective_time_frame");
  }
  // A descriptive statistic (a day's maximum heart rate) summarises measurements over the
  // interval; without one the value is a single measurement (OMH descriptive-statistic).
  const Statistic* statistic = nullptr;
  if (auto d = body.Find("descriptive_statistic")) {
    for (const Statistic& st : kStatistics) {
      if (d->IsString() && d->GetString() == st.omh) statistic = &st;
    }
    if (!statistic) return ParseError("descriptive_statistic is not one Open mHealth defines");
    if (!when.interval) return ParseError("descriptive_statistic without a time_interval");
    if (statistic->kind == StatisticKind::kNotMapped) {
      return Unsupported("descriptive_statistic " + std::string(statistic->omh) + " is not mapped");
    }
  }
  const bool count = statistic && statistic->kind == StatisticKind::kCount;
  auto one = [&](const Vital& v, double value) {
    out.push_back(Build(patient, device, when, {{&v, value}}, statistic));
  };
  if (body.Find("heart_rate") || schema == "heart-rate") {
    MEDLAKE_ASSIGN_OR_RETURN(double v, UnitValue(body, "heart_rate", {"beats/min"}, statistic));
    one(kHeartRate, v);
  } else if (body.Find("respiratory_rate") || schema == "respiratory-rate") {
    MEDLAKE_ASSIGN_OR_RETURN(double v,
                             UnitValue(body, "respiratory_rate", {"breaths/min"}, statistic));
    one(kRespRate, v);
  } else if (body.Find("oxygen_saturation") || schema == "oxygen-saturation") {
    MEDLAKE_ASSIGN_OR_RETURN(double v, UnitValue(body, "oxygen_saturation", {"%"}, statistic));
    if (v < 0 || v > 100) return ParseError("oxygen_saturation out of range");
    one(kSpO2, v);
    if (body.Find("supplemental_oxygen_flow_rate")) {
      MEDLAKE_ASSIGN_OR_RETURN(
          double flow, UnitValue(body, "supplemental_oxygen_flow_rate", {"L/min"}, statistic));
      one(kO2Flow, flow);
    }
  } else if (body.Find("body_temperature") || schema == "body-temperature") {
    MEDLAKE_ASSIGN_OR_RETURN(double v,
                             UnitValue(body, "body_temperature", {"C", "F", "K"}, statistic));
    one(kTemperature, count ? v : std::round(v * 100) / 100);
  } else if (body.Find("systolic_blood_pressure") || schema == "blood-pressure") {
    MEDLAKE_ASSIGN_OR_RETURN(double sys,
                             UnitValue(body, "systolic_blood_pressure", {"mmHg"}, statistic));
    MEDLAKE_ASSIGN_OR_RETURN(double dia,
                             UnitValue(body, "diastolic_blood_pressure", {"mmHg"}, statistic));
    if (statistic) {  // one statistic per vital: $stats gives one Observation per code
      one(kSystolic, sys);
      one(kDiastolic, dia);
    } else {
      out.push_back(Build(patient, device, when, {{&kSystolic, sys}, {&kDiastolic, dia}}));
    }
  } else {
    return Unsupported(
        "not a supported reading (monitor reading or Open mHealth heart-rate, "
        "respiratory-rate, oxygen-saturation, body-temperature, blood-pressure)");
  }
  return out;
}

}  // namespace medlake::ingest
