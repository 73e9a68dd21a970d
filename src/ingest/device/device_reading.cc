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

// One Observation: a single value, or a blood-pressure panel of components.
DeviceResource Build(const std::string& patient, const std::string& device, const std::string& time,
                     const std::vector<Value>& values) {
  const bool panel = values.size() > 1;
  const Vital panel_code{"85354-9", "Blood pressure panel with all children optional", ""};
  const Vital& code = panel ? panel_code : *values[0].vital;
  std::string key = patient + "|" + device + "|" + std::string(code.loinc) + "|" + time;
  char id[40];
  std::snprintf(id, sizeof id, "dev-%016llx",
                static_cast<unsigned long long>(XXH3_64bits(key.data(), key.size())));
  std::string j =
      R"({"resourceType":"Observation","id":")" + std::string(id) +
      R"(","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":)";
  AppendCoding(code, j);
  j += R"(,"subject":{"reference":"Patient/)" + patient + R"("},"effectiveDateTime":)";
  json::AppendQuoted(time, j);
  if (!device.empty()) {
    j += R"(,"device":{"display":)";
    json::AppendQuoted(device, j);
    j += "}";
  }
  if (panel) {
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
// value is converted to the UCUM unit of the vital.
Result<double> UnitValue(json::Node node, std::string_view field,
                         std::initializer_list<std::string_view> units) {
  auto uv = node.Find(field);
  if (!uv || !uv->IsObject()) return ParseError(std::string(field) + " missing or not an object");
  auto v = uv->Find("value");
  auto u = uv->Find("unit");
  if (!v || !v->IsNumber() || !std::isfinite(v->GetDouble()))
    return ParseError(std::string(field) + ".value is not a number");
  if (!u || !u->IsString()) return ParseError(std::string(field) + ".unit missing");
  for (std::string_view ok : units) {
    if (u->GetString() != ok) continue;
    double x = v->GetDouble();
    if (ok == "F") x = (x - 32) * 5 / 9;
    if (ok == "K") x -= 273.15;
    return x;
  }
  return ParseError(std::string(field) + ".unit not accepted");
}

std::optional<std::string> OmhTime(json::Node body) {
  auto frame = body.Find("effective_time_frame");
  if (!frame) return std::nullopt;
  if (auto dt = frame->Find("date_time"); dt && dt->IsString()) return std::string(dt->GetString());
  if (auto interval = frame->Find("time_interval")) {
    if (auto start = interval->Find("start_date_time"); start && start->IsString())
      return std::string(start->GetString());
    if (auto end = interval->Find("end_date_time"); end && end->IsString())
      return std::string(end->GetString());
    // A day, with part_of_day: the date (an effectiveDateTime may be a date).
    if (auto date = interval->Find("date"); date && date->IsString())
      return std::string(date->GetString());
  }
  return std::nullopt;
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
    out.push_back(
        Build(patient, device, std::string(time->GetString()), {{v, value->GetDouble()}}));
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
  std::string time;
  if (auto t = OmhTime(body)) {
    if (!ParseFhirTime(*t)) return ParseError("effective_time_frame is not an ISO 8601 date-time");
    time = *t;
  } else if (body.Find("effective_time_frame")) {
    return ParseError("effective_time_frame has no date_time or time_interval");
  } else if (received_ms != kNoTime) {
    time = FormatUtc(received_ms);
  } else {
    return ParseError("reading has no effective_time_frame");
  }
  auto one = [&](const Vital& v, double value) {
    out.push_back(Build(patient, device, time, {{&v, value}}));
  };
  if (body.Find("heart_rate") || schema == "heart-rate") {
    MEDLAKE_ASSIGN_OR_RETURN(double v, UnitValue(body, "heart_rate", {"beats/min"}));
    one(kHeartRate, v);
  } else if (body.Find("respiratory_rate") || schema == "respiratory-rate") {
    MEDLAKE_ASSIGN_OR_RETURN(double v, UnitValue(body, "respiratory_rate", {"breaths/min"}));
    one(kRespRate, v);
  } else if (body.Find("oxygen_saturation") || schema == "oxygen-saturation") {
    MEDLAKE_ASSIGN_OR_RETURN(double v, UnitValue(body, "oxygen_saturation", {"%"}));
    if (v < 0 || v > 100) return ParseError("oxygen_saturation out of range");
    one(kSpO2, v);
    if (body.Find("supplemental_oxygen_flow_rate")) {
      MEDLAKE_ASSIGN_OR_RETURN(double flow,
                               UnitValue(body, "supplemental_oxygen_flow_rate", {"L/min"}));
      one(kO2Flow, flow);
    }
  } else if (body.Find("body_temperature") || schema == "body-temperature") {
    MEDLAKE_ASSIGN_OR_RETURN(double v, UnitValue(body, "body_temperature", {"C", "F", "K"}));
    one(kTemperature, std::round(v * 100) / 100);
  } else if (body.Find("systolic_blood_pressure") || schema == "blood-pressure") {
    MEDLAKE_ASSIGN_OR_RETURN(double sys, UnitValue(body, "systolic_blood_pressure", {"mmHg"}));
    MEDLAKE_ASSIGN_OR_RETURN(double dia, UnitValue(body, "diastolic_blood_pressure", {"mmHg"}));
    out.push_back(Build(patient, device, time, {{&kSystolic, sys}, {&kDiastolic, dia}}));
  } else {
    return Unsupported(
        "not a supported reading (monitor reading or Open mHealth heart-rate, "
        "respiratory-rate, oxygen-saturation, body-temperature, blood-pressure)");
  }
  return out;
}

}  // namespace medlake::ingest
