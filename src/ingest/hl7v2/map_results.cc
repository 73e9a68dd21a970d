// ORU^R01: OBR → DiagnosticReport, OBX → Observation.
#include <array>
#include <map>
#include <string>
#include <vector>

#include "ingest/hl7v2/mapping_context.h"

namespace medlake::hl7v2 {
namespace {

constexpr std::string_view kDataAbsent = "http://terminology.hl7.org/CodeSystem/data-absent-reason";

// OBX-11 (HL7 table 0085) → Observation.status.
std::string_view ObservationStatus(std::string_view code) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kMap = {{
      {"F", "final"},
      {"C", "corrected"},
      {"A", "amended"},
      {"P", "preliminary"},
      {"R", "preliminary"},
      {"S", "preliminary"},
      {"I", "registered"},
      {"U", "final"},
      {"D", "entered-in-error"},
      {"W", "entered-in-error"},
      {"X", "cancelled"},
  }};
  for (const auto& [v2, fhir] : kMap) {
    if (code == v2) return fhir;
  }
  return "unknown";
}

// OBR-25 (HL7 table 0123) → DiagnosticReport.status.
std::string_view ReportStatus(std::string_view code) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kMap = {{
      {"O", "registered"},
      {"I", "registered"},
      {"S", "registered"},
      {"A", "partial"},
      {"R", "partial"},
      {"P", "preliminary"},
      {"C", "corrected"},
      {"F", "final"},
      {"X", "cancelled"},
  }};
  for (const auto& [v2, fhir] : kMap) {
    if (code == v2) return fhir;
  }
  return "unknown";
}

// OBX-8 codes (HL7 table 0078) that v3 ObservationInterpretation defines with the same code.
bool IsV3Interpretation(std::string_view code) {
  static constexpr std::string_view kCodes[] = {
      "L", "H", "LL", "HH",  "N",   "A",   "AA", "<",  ">",  "I",  "R",   "S",  "MS", "VS", "B",
      "U", "D", "W",  "IND", "NEG", "POS", "NR", "HX", "LX", "EX", "SDD", "ND", "HU", "LU"};
  for (std::string_view c : kCodes) {
    if (code == c) return true;
  }
  return false;
}

// LOINC codes of the FHIR vital-signs profile, so these Observations get that category.
bool IsVitalSign(std::string_view loinc) {
  static constexpr std::string_view kCodes[] = {"85353-1", "9279-1", "8867-4", "2708-6",  "59408-5",
                                                "8310-5",  "8302-2", "9843-4", "29463-7", "39156-5",
                                                "85354-9", "8480-6", "8462-4", "8478-0"};
  for (std::string_view c : kCodes) {
    if (loinc == c) return true;
  }
  return false;
}

void WriteDataAbsent(JsonBuilder& json, std::string_view key, std::string_view code) {
  json.BeginObject(key);
  json.BeginArray("coding");
  WriteCoding(json, code, kDataAbsent, {});
  json.EndArray();
  json.EndObject();
}

struct Unit {
  std::string text;
  std::string ucum;
};

Unit UnitOf(const Value& cwe) {
  Unit unit;
  std::string code = cwe.Component(1).Text();
  std::string display = cwe.Component(2).Text();
  unit.text = display.empty() ? code : display;
  if (cwe.Component(3).Text() == "UCUM") {
    unit.ucum = code;
  } else {
    unit.ucum = std::string(UcumCode(code));
    if (unit.ucum.empty()) unit.ucum = std::string(UcumCode(display));
  }
  return unit;
}

void WriteQuantityMembers(JsonBuilder& json, const std::string& decimal, const Unit& unit,
                          std::string_view comparator = {}) {
  json.Raw("value", decimal);
  json.String("comparator", comparator);
  json.String("unit", unit.text);
  if (!unit.ucum.empty()) {
    json.String("system", "http://unitsofmeasure.org");
    json.String("code", unit.ucum);
  }
}

// OBX-7: "3.5-5.0", "<5", ">=10", else the text as given.
void WriteReferenceRange(JsonBuilder& json, const std::string& range, const Unit& unit) {
  if (range.empty()) return;
  json.BeginArray("referenceRange");
  json.BeginObject();
  auto bound = [&](std::string_view key, std::string_view number) {
    std::optional<std::string> d = ToFhirDecimal(number);
    if (!d) return false;
    json.BeginObject(key);
    WriteQuantityMembers(json, *d, unit);
    json.EndObject();
    return true;
  };
  std::string_view r = range;
  bool structured = false;
  if (r.starts_with("<=") || r.starts_with(">=")) {
    structured = bound(r[0] == '<' ? "high" : "low", r.substr(2));
  } else if (r.starts_with("<") || r.starts_with(">")) {
    structured = bound(r[0] == '<' ? "high" : "low", r.substr(1));
  } else {
    size_t dash = r.find('-', 1);  // a leading '-' is the sign of the low bound
    if (dash != std::string_view::npos && ToFhirDecimal(r.substr(0, dash)) &&
        ToFhirDecimal(r.substr(dash + 1))) {
      structured = bound("low", r.substr(0, dash)) && bound("high", r.substr(dash + 1));
    }
  }
  if (!structured) json.String("text", range);
  json.EndObject();
  json.EndArray();
}

// OBX-5 by OBX-2 value type. Returns false when no value[x] was written.
bool WriteValue(MappingContext& ctx, JsonBuilder& json, std::string_view type, const Value& v,
                const Unit& unit) {
  Value first = v.Repetition(0);
  if (v.empty() || v.IsNull()) return false;
  if (type == "NM") {
    std::string text = first.Text();
    if (std::optional<std::string> d = ToFhirDecimal(text)) {
      json.BeginObject("valueQuantity");
      WriteQuantityMembers(json, *d, unit);
      json.EndObject();
    } else {
      json.String("valueString", text);
    }
    return true;
  }
  if (type == "SN") {
    std::string comparator = first.Component(1).Text();
    std::optional<std::string> n1 = ToFhirDecimal(first.Component(2).Text());
    std::string separator = first.Component(3).Text();
    std::optional<std::string> n2 = ToFhirDecimal(first.Component(4).Text());
    if (n1 && separator.empty() && first.Component(4).empty() &&
        (comparator.empty() || comparator == "=" || comparator == "<" || comparator == ">" ||
         comparator == "<=" || comparator == ">=")) {
      json.BeginObject("valueQuantity");
      WriteQuantityMembers(json, *n1, unit, comparator == "=" ? "" : comparator);
      json.EndObject();
      return true;
    }
    if (n1 && n2 && comparator.empty() && separator == "-") {
      json.BeginObject("valueRange");
      json.BeginObject("low");
      WriteQuantityMembers(json, *n1, unit);
      json.EndObject();
      json.BeginObject("high");
      WriteQuantityMembers(json, *n2, unit);
      json.EndObject();
      json.EndObject();
      return true;
    }
    if (n1 && n2 && comparator.empty() && (separator == ":" || separator == "/")) {
      json.BeginObject("valueRatio");
      json.BeginObject("numerator");
      json.Raw("value", *n1);
      json.EndObject();
      json.BeginObject("denominator");
      json.Raw("value", *n2);
      json.EndObject();
      json.EndObject();
      return true;
    }
    std::string text =
        comparator + first.Component(2).Text() + separator + first.Component(4).Text();
    json.String("valueString", text);
    return !text.empty();
  }
  if (type == "ST" || type == "TX" || type == "FT" || type == "TM") {
    std::string text;
    for (size_t i = 0; i < v.RepetitionCount(); ++i) {
      if (i > 0) text.push_back('\n');
      v.Repetition(i).AppendText(text);
    }
    if (text.find_first_not_of(" \n\t\r") == std::string::npos) return false;
    json.String("valueString", text);
    return true;
  }
  if (type == "CE" || type == "CWE" || type == "CNE" || type == "CF") {
    WriteCodeableConcept(json, "valueCodeableConcept", first);
    return true;
  }
  if (type == "DT" || type == "TS" || type == "DTM") {
    if (auto t = ToFhirDateTime(first, ctx.default_offset)) {
      json.String("valueDateTime", *t);
      return true;
    }
    return false;
  }
  return false;
}

struct ReportInfo {
  size_t obr = 0;  // segment index; SegmentCount() for OBX outside any OBR
  std::string id;
  std::string key;
  std::vector<std::string> results;
};

}  // namespace

Status MapResults(MappingContext& ctx) {
  const Message& m = ctx.message;
  const std::string& offset = ctx.default_offset;
  std::vector<ReportInfo> reports;
  std::map<std::string, int> occurrences;
  ReportInfo loose{m.SegmentCount(), {}, "message|" + ctx.scope, {}};
  ReportInfo* current = &loose;
  reports.reserve(m.SegmentCount());

  for (size_t i = 1; i < m.SegmentCount(); ++i) {
    Segment seg = m.segment(i);
    std::string_view id = seg.Id();
    if (id == "OBR") {
      ReportInfo report;
      report.obr = i;
      // The filler number is the sending laboratory's (scoped by sender when it names no
      // assigner: two laboratories may both send 1001); the placer number the placer's.
      report.key = ctx.EntityKeyOf(seg.Field(3));
      if (report.key.empty()) report.key = EntityKey(seg.Field(2));
      if (!report.key.empty()) report.key += "|patient|" + ctx.patient_id;
      if (report.key.empty()) report.key = "message|" + ctx.scope + "|" + std::to_string(i);
      report.id = MakeId("dr", report.key);
      reports.push_back(std::move(report));
      current = &reports.back();
      continue;
    }
    if (id != "OBX") continue;

    Value code = seg.Field(3);
    std::string obs_key = current->key + "|OBX|" + std::string(code.Component(1).raw()) + "^" +
                          std::string(code.Component(3).raw()) + "|" +
                          std::string(seg.Field(4).raw());
    int occurrence = occurrences[obs_key]++;
    std::string obs_id = MakeId("obs", obs_key + "|" + std::to_string(occurrence));
    current->results.push_back(obs_id);

    JsonBuilder json = ctx.NewResource("Observation", obs_id);
    json.String("status", ObservationStatus(seg.Field(11).Component(1).raw()));
    std::string code_value = code.Component(1).Text();
    if (code.Component(3).raw() == "LN" && IsVitalSign(code_value)) {
      json.BeginArray("category");
      json.BeginObject();
      json.BeginArray("coding");
      WriteCoding(json, "vital-signs", "http://terminology.hl7.org/CodeSystem/observation-category",
                  "Vital Signs");
      json.EndArray();
      json.EndObject();
      json.EndArray();
    }
    if (code.Component(1).empty() && code.Component(2).empty()) {
      WriteDataAbsent(json, "code", "unknown");
    } else {
      WriteCodeableConcept(json, "code", code);
    }
    WriteReference(json, "subject", "Patient", ctx.patient_id);
    WriteReference(json, "encounter", "Encounter", ctx.encounter_id);
    std::optional<std::string> effective = ToFhirDateTime(seg.Field(14), offset);
    if (!effective && current->obr != m.SegmentCount()) {
      effective = ToFhirDateTime(m.segment(current->obr).Field(7), offset);
    }
    if (effective) json.String("effectiveDateTime", *effective);
    Unit unit = UnitOf(seg.Field(6));
    std::string type = seg.Field(2).Component(1).Text();
    bool known_type = type == "NM" || type == "SN" || type == "ST" || type == "TX" ||
                      type == "FT" || type == "TM" || type == "CE" || type == "CWE" ||
                      type == "CNE" || type == "CF" || type == "DT" || type == "TS" ||
                      type == "DTM";
    if (!WriteValue(ctx, json, type, seg.Field(5), unit)) {
      WriteDataAbsent(json, "dataAbsentReason",
                      known_type || seg.Field(5).empty() ? "unknown" : "unsupported");
    }
    json.BeginArray("interpretation");
    Value flags = seg.Field(8);
    for (size_t r = 0; r < flags.RepetitionCount(); ++r) {
      std::string flag = flags.Repetition(r).Component(1).Text();
      if (flag.empty()) continue;
      json.BeginObject();
      json.BeginArray("coding");
      WriteCoding(json, flag,
                  IsV3Interpretation(flag)
                      ? "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
                      : "http://terminology.hl7.org/CodeSystem/v2-0078",
                  {});
      json.EndArray();
      json.EndObject();
    }
    json.EndArray();
    WriteReferenceRange(json, seg.Field(7).Text(), unit);
    // NTE segments right after the OBX are its comments (NTE-3, repetitions as lines).
    json.BeginArray("note");
    for (size_t n = i + 1; n < m.SegmentCount() && m.segment(n).Id() == "NTE"; ++n) {
      Value comment = m.segment(n).Field(3);
      std::string text;
      for (size_t r = 0; r < comment.RepetitionCount(); ++r) {
        if (r > 0) text.push_back('\n');
        comment.Repetition(r).AppendText(text);
      }
      json.BeginObject();
      json.String("text", text);
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
    ctx.Add("Observation", obs_id, json.Take());
  }

  for (const ReportInfo& report : reports) {
    Segment obr = m.segment(report.obr);
    JsonBuilder json = ctx.NewResource("DiagnosticReport", report.id);
    json.BeginArray("identifier");
    WriteEntityIdentifier(json, obr.Field(2), "PLAC");
    WriteEntityIdentifier(json, obr.Field(3), "FILL");
    json.EndArray();
    json.String("status", ReportStatus(obr.Field(25).Component(1).raw()));
    Value code = obr.Field(4);
    if (code.Component(1).empty() && code.Component(2).empty()) {
      WriteDataAbsent(json, "code", "unknown");
    } else {
      WriteCodeableConcept(json, "code", code);
    }
    WriteReference(json, "subject", "Patient", ctx.patient_id);
    WriteReference(json, "encounter", "Encounter", ctx.encounter_id);
    if (auto t = ToFhirDateTime(obr.Field(7), offset)) json.String("effectiveDateTime", *t);
    if (auto t = ToFhirInstant(obr.Field(22), offset)) json.String("issued", *t);
    json.BeginArray("result");
    for (const std::string& obs : report.results) WriteReference(json, "", "Observation", obs);
    json.EndArray();
    json.EndObject();
    ctx.Add("DiagnosticReport", report.id, json.Take());
  }
  return Status::Ok();
}

}  // namespace medlake::hl7v2
