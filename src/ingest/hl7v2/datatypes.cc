// HL7 v2 datatypes (DTM, NM, CWE, CX, XPN, XAD, XTN, HD) written as FHIR R4 datatypes.
#include <array>
#include <cctype>
#include <string>
#include <utility>

#include "ingest/hl7v2/mapping_context.h"

namespace medlake::hl7v2 {
namespace {

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

int ToInt(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

int DaysInMonth(int year, int month) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

struct DtmParts {
  std::string_view digits;    // YYYY[MM[DD[HH[MM[SS]]]]]
  std::string_view fraction;  // digits after '.'
  std::string_view offset;    // "+HHMM" / "-HHMM"
};

std::optional<DtmParts> SplitDtm(std::string_view s) {
  DtmParts p;
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  p.digits = s.substr(0, i);
  if (i < s.size() && s[i] == '.') {
    size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    p.fraction = s.substr(start, i - start);
    if (p.fraction.empty()) return std::nullopt;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    p.offset = s.substr(i);
    if (p.offset.size() != 5 || !AllDigits(p.offset.substr(1))) return std::nullopt;
    i = s.size();
  }
  if (i != s.size()) return std::nullopt;
  size_t n = p.digits.size();
  if (n != 4 && n != 6 && n != 8 && n != 10 && n != 12 && n != 14) return std::nullopt;
  if (!p.fraction.empty() && n != 14) return std::nullopt;
  int year = ToInt(p.digits.substr(0, 4));
  if (year < 1) return std::nullopt;
  if (n >= 6) {
    int month = ToInt(p.digits.substr(4, 2));
    if (month < 1 || month > 12) return std::nullopt;
    if (n >= 8) {
      int day = ToInt(p.digits.substr(6, 2));
      if (day < 1 || day > DaysInMonth(year, month)) return std::nullopt;
    }
  }
  if (n >= 10 && ToInt(p.digits.substr(8, 2)) > 23) return std::nullopt;
  if (n >= 12 && ToInt(p.digits.substr(10, 2)) > 59) return std::nullopt;
  if (n >= 14 && ToInt(p.digits.substr(12, 2)) > 59) return std::nullopt;
  if (!p.offset.empty()) {
    int oh = ToInt(p.offset.substr(1, 2));
    int om = ToInt(p.offset.substr(3, 2));
    if (oh > 14 || om > 59 || (oh == 14 && om != 0)) return std::nullopt;
  }
  return p;
}

std::string DatePart(std::string_view digits) {
  std::string out(digits.substr(0, 4));
  if (digits.size() >= 6) out += "-" + std::string(digits.substr(4, 2));
  if (digits.size() >= 8) out += "-" + std::string(digits.substr(6, 2));
  return out;
}

std::string FullTime(const DtmParts& p, std::string_view default_offset) {
  std::string out = DatePart(p.digits);
  std::string_view d = p.digits;
  out += "T" + std::string(d.substr(8, 2)) + ":";
  out += d.size() >= 12 ? std::string(d.substr(10, 2)) : "00";
  out += ":";
  out += d.size() >= 14 ? std::string(d.substr(12, 2)) : "00";
  if (!p.fraction.empty()) out += "." + std::string(p.fraction);
  if (p.offset.empty()) {
    out += default_offset;
  } else {
    out += std::string(p.offset.substr(0, 3)) + ":" + std::string(p.offset.substr(3, 2));
  }
  return out;
}

std::string Sanitized(std::string_view s) {
  std::string out;
  for (char c : s) {
    out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_');
  }
  return out;
}

}  // namespace

std::optional<std::string> ToFhirDateTime(const Value& v, std::string_view default_offset) {
  std::optional<DtmParts> p = SplitDtm(v.Component(1).raw());
  if (!p) return std::nullopt;
  if (p->digits.size() <= 8) return DatePart(p->digits);
  return FullTime(*p, default_offset);
}

std::optional<std::string> FhirOffsetOf(const Value& v) {
  std::optional<DtmParts> p = SplitDtm(v.Component(1).raw());
  if (!p || p->offset.empty()) return std::nullopt;
  return std::string(p->offset.substr(0, 3)) + ":" + std::string(p->offset.substr(3, 2));
}

std::optional<std::string> ToFhirDate(const Value& v) {
  std::optional<DtmParts> p = SplitDtm(v.Component(1).raw());
  if (!p) return std::nullopt;
  return DatePart(p->digits.substr(0, std::min<size_t>(8, p->digits.size())));
}

std::optional<std::string> ToFhirInstant(const Value& v, std::string_view default_offset) {
  std::optional<DtmParts> p = SplitDtm(v.Component(1).raw());
  if (!p || p->digits.size() < 10) return std::nullopt;
  return FullTime(*p, default_offset);
}

std::optional<std::string> ToFhirDecimal(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  std::string out;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    if (s[0] == '-') out.push_back('-');
    s.remove_prefix(1);
  }
  size_t dot = s.find('.');
  std::string_view int_part = s.substr(0, dot);
  std::string_view frac_part = dot == std::string_view::npos ? "" : s.substr(dot + 1);
  if (int_part.empty() && frac_part.empty()) return std::nullopt;
  if ((!int_part.empty() && !AllDigits(int_part)) ||
      (!frac_part.empty() && !AllDigits(frac_part))) {
    return std::nullopt;
  }
  while (int_part.size() > 1 && int_part[0] == '0') int_part.remove_prefix(1);
  // At most 18 integer digits, as FHIR's decimal pattern allows since R4B
  // (-?(0|[1-9][0-9]{0,17})...): a longer integer is past what a 64-bit JSON reader takes
  // (medlake's own included), so such a value stays text (the caller's valueString).
  if (int_part.size() > 18) return std::nullopt;
  out += int_part.empty() ? "0" : std::string(int_part);
  if (!frac_part.empty()) out += "." + std::string(frac_part);
  return out;
}

std::string CodeSystemUri(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kSystems[] = {
      {"LN", "http://loinc.org"},
      {"LOINC", "http://loinc.org"},
      {"SCT", "http://snomed.info/sct"},
      {"SNM", "http://snomed.info/sct"},
      {"SNOMED", "http://snomed.info/sct"},
      {"SNOMEDCT", "http://snomed.info/sct"},
      {"I10", "http://hl7.org/fhir/sid/icd-10"},
      {"ICD10", "http://hl7.org/fhir/sid/icd-10"},
      {"I10C", "http://hl7.org/fhir/sid/icd-10-cm"},
      {"ICD10CM", "http://hl7.org/fhir/sid/icd-10-cm"},
      {"I9", "http://hl7.org/fhir/sid/icd-9-cm"},
      {"I9C", "http://hl7.org/fhir/sid/icd-9-cm"},
      {"CVX", "http://hl7.org/fhir/sid/cvx"},
      {"NDC", "http://hl7.org/fhir/sid/ndc"},
      {"UCUM", "http://unitsofmeasure.org"},
      {"RXNORM", "http://www.nlm.nih.gov/research/umls/rxnorm"},
      {"RXN", "http://www.nlm.nih.gov/research/umls/rxnorm"},
      {"C4", "http://www.ama-assn.org/go/cpt"},
      {"CPT", "http://www.ama-assn.org/go/cpt"},
      {"MVX", "http://terminology.hl7.org/CodeSystem/MVX"},
      {"NCI", "http://ncimeta.nci.nih.gov"},
      {"ISO3166_1", "urn:iso:std:iso:3166"},
  };
  for (const auto& [key, uri] : kSystems) {
    if (name == key) return std::string(uri);
  }
  // HL7 tables: "HL70078" → v2-0078.
  if (name.size() == 7 && name.substr(0, 3) == "HL7" && AllDigits(name.substr(3))) {
    return "http://terminology.hl7.org/CodeSystem/v2-" + std::string(name.substr(3));
  }
  if (name.empty()) return {};
  return "urn:medlake:hl7v2:codesystem:" + Sanitized(name);
}

std::string AuthoritySystem(const Value& hd) {
  std::string ns = hd.Subcomponent(1).Text();
  std::string universal = hd.Subcomponent(2).Text();
  std::string type = hd.Subcomponent(3).Text();
  if (!universal.empty()) {
    if (type == "ISO") return "urn:oid:" + Sanitized(universal);
    if (type == "UUID") return "urn:uuid:" + Sanitized(universal);
    if (type == "URI") return universal;
  }
  if (!ns.empty()) return "urn:medlake:hl7v2:authority:" + Sanitized(ns);
  if (!universal.empty()) return "urn:medlake:hl7v2:authority:" + Sanitized(universal);
  return {};
}

std::string_view UcumCode(std::string_view unit) {
  // Units as HL7 v2 senders commonly write them; exact UCUM codes pass through unchanged.
  static constexpr std::pair<std::string_view, std::string_view> kUnits[] = {
      {"%", "%"},
      {"/min", "/min"},
      {"beats/min", "/min"},
      {"bpm", "/min"},
      {"breaths/min", "/min"},
      {"/MIN", "/min"},
      {"mmHg", "mm[Hg]"},
      {"mm[Hg]", "mm[Hg]"},
      {"MMHG", "mm[Hg]"},
      {"Cel", "Cel"},
      {"C", "Cel"},
      {"degC", "Cel"},
      {"DEGC", "Cel"},
      {"\xC2\xB0"
       "C",
       "Cel"},
      {"[degF]", "[degF]"},
      {"F", "[degF]"},
      {"degF", "[degF]"},
      {"kg", "kg"},
      {"g", "g"},
      {"lb", "[lb_av]"},
      {"[lb_av]", "[lb_av]"},
      {"cm", "cm"},
      {"m", "m"},
      {"[in_i]", "[in_i]"},
      {"in", "[in_i]"},
      {"kg/m2", "kg/m2"},
      {"mg/dl", "mg/dL"},
      {"mg/dL", "mg/dL"},
      {"MG/DL", "mg/dL"},
      {"g/dl", "g/dL"},
      {"g/dL", "g/dL"},
      {"G/DL", "g/dL"},
      {"g/l", "g/L"},
      {"g/L", "g/L"},
      {"mg/l", "mg/L"},
      {"mg/L", "mg/L"},
      {"mmol/l", "mmol/L"},
      {"mmol/L", "mmol/L"},
      {"MMOL/L", "mmol/L"},
      {"umol/l", "umol/L"},
      {"umol/L", "umol/L"},
      {"mEq/l", "meq/L"},
      {"mEq/L", "meq/L"},
      {"meq/L", "meq/L"},
      {"MEQ/L", "meq/L"},
      {"U/L", "U/L"},
      {"IU/L", "[IU]/L"},
      {"fL", "fL"},
      {"fl", "fL"},
      {"pg", "pg"},
      {"10*3/uL", "10*3/uL"},
      {"10^3/uL", "10*3/uL"},
      {"K/uL", "10*3/uL"},
      {"10*6/uL", "10*6/uL"},
      {"10^6/uL", "10*6/uL"},
      {"M/uL", "10*6/uL"},
      {"10*9/L", "10*9/L"},
      {"10^9/L", "10*9/L"},
      {"10*12/L", "10*12/L"},
      {"mL", "mL"},
      {"ml", "mL"},
      {"L", "L"},
      {"L/min", "L/min"},
      {"mL/min", "mL/min"},
      {"s", "s"},
      {"sec", "s"},
      {"min", "min"},
      {"h", "h"},
      {"hr", "h"},
      {"d", "d"},
      {"wk", "wk"},
      {"mo", "mo"},
      {"a", "a"},
      {"yr", "a"},
      {"ng/mL", "ng/mL"},
      {"ng/ml", "ng/mL"},
      {"pg/mL", "pg/mL"},
      {"ug/L", "ug/L"},
      {"mIU/L", "m[IU]/L"},
      {"uIU/mL", "u[IU]/mL"},
      {"mm/h", "mm/h"},
      {"mm/hr", "mm/h"},
      {"ratio", "{ratio}"},
  };
  for (const auto& [key, code] : kUnits) {
    if (unit == key) return code;
  }
  return {};
}

void WriteCoding(JsonBuilder& json, std::string_view code, std::string_view system,
                 std::string_view display) {
  json.BeginObject();
  json.String("system", system);
  json.String("code", code);
  json.String("display", display);
  json.EndObject();
}

void WriteCodeableConcept(JsonBuilder& json, std::string_view key, const Value& cwe) {
  if (cwe.empty() || cwe.IsNull()) return;
  json.BeginObject(key);
  json.BeginArray("coding");
  // Primary (CWE.1-3) and alternate (CWE.4-6) codings.
  for (size_t base : {size_t{1}, size_t{4}}) {
    std::string code = cwe.Component(base).Text();
    if (code.empty()) continue;
    WriteCoding(json, code, CodeSystemUri(cwe.Component(base + 2).Text()),
                cwe.Component(base + 1).Text());
  }
  json.EndArray();
  std::string text = cwe.Component(9).Text();  // CWE.9 original text
  if (text.empty()) text = cwe.Component(2).Text();
  if (text.empty() && !json.HasMembers()) text = cwe.Component(1).Text();
  json.String("text", text);
  json.EndObject();
}

void WriteIdentifier(JsonBuilder& json, const Value& cx, std::string_view type_code) {
  std::string value = cx.Component(1).Text();
  if (value.empty()) return;
  json.BeginObject();
  std::string type = cx.Component(5).Text();
  if (type.empty()) type = std::string(type_code);
  if (!type.empty()) {
    json.BeginObject("type");
    json.BeginArray("coding");
    WriteCoding(json, type, "http://terminology.hl7.org/CodeSystem/v2-0203", {});
    json.EndArray();
    json.EndObject();
  }
  json.String("system", AuthoritySystem(cx.Component(4)));
  json.String("value", value);
  json.EndObject();
}

void WriteEntityIdentifier(JsonBuilder& json, const Value& ei, std::string_view type_code) {
  std::string value = ei.Component(1).Text();
  if (value.empty()) return;
  json.BeginObject();
  json.BeginObject("type");
  json.BeginArray("coding");
  WriteCoding(json, type_code, "http://terminology.hl7.org/CodeSystem/v2-0203", {});
  json.EndArray();
  json.EndObject();
  if (std::string system = EntitySystem(ei); !system.empty()) json.String("system", system);
  json.String("value", value);
  json.EndObject();
}

std::string EntitySystem(const Value& ei) {
  std::string ns = ei.Component(2).Text();
  std::string universal = ei.Component(3).Text();
  std::string type = ei.Component(4).Text();
  if (!universal.empty() && type == "ISO") return "urn:oid:" + Sanitized(universal);
  if (!ns.empty()) return "urn:medlake:hl7v2:authority:" + Sanitized(ns);
  return {};
}

std::string EntityKey(const Value& ei) {
  std::string value = ei.Component(1).Text();
  if (value.empty()) return {};
  return value + "|" + ei.Component(2).Text() + "|" + ei.Component(3).Text();
}

void WriteHumanName(JsonBuilder& json, const Value& xpn) {
  json.BeginObject();
  // XPN.7 name type (HL7 table 0200) -> name-use, as FHIR R4's ConceptMap cm-name-use-v2:
  // C (adopted) and A (alias or assigned) have no equivalent and get none.
  static constexpr std::pair<std::string_view, std::string_view> kUses[] = {
      {"L", "official"},  {"D", "usual"},   {"M", "maiden"},  {"N", "nickname"},
      {"S", "anonymous"}, {"TEMP", "temp"}, {"NOUSE", "old"}, {"BAD", "old"},
  };
  std::string use = xpn.Component(7).Text();
  for (const auto& [code, fhir] : kUses) {
    if (use == code) json.String("use", fhir);
  }
  json.String("family", xpn.Component(1).Subcomponent(1).Text());
  json.BeginArray("given");
  json.String("", xpn.Component(2).Text());
  json.String("", xpn.Component(3).Text());
  json.EndArray();
  json.BeginArray("prefix");
  json.String("", xpn.Component(5).Text());
  json.EndArray();
  json.BeginArray("suffix");
  json.String("", xpn.Component(4).Text());
  json.String("", xpn.Component(6).Text());
  json.EndArray();
  json.EndObject();
}

void WriteAddress(JsonBuilder& json, const Value& xad) {
  json.BeginObject();
  std::string type = xad.Component(7).Text();
  if (type == "H") json.String("use", "home");
  if (type == "B" || type == "O") json.String("use", "work");
  if (type == "C") json.String("use", "temp");
  if (type == "BA") json.String("use", "old");
  json.BeginArray("line");
  // SAD: street or mailing address & street name & dwelling number. Senders that split a
  // house number from the street name put the number in the first subcomponent.
  std::string street = xad.Component(1).Subcomponent(1).Text();
  std::string street_name = xad.Component(1).Subcomponent(2).Text();
  if (!street_name.empty() && street.find_first_not_of("0123456789") == std::string::npos) {
    street = street.empty() ? street_name : street + " " + street_name;
  }
  json.String("", street);
  json.String("", xad.Component(2).Text());
  json.EndArray();
  json.String("city", xad.Component(3).Text());
  json.String("state", xad.Component(4).Text());
  json.String("postalCode", xad.Component(5).Text());
  json.String("country", xad.Component(6).Text());
  json.EndObject();
}

void WriteContactPoint(JsonBuilder& json, const Value& xtn, std::string_view default_use) {
  std::string email = xtn.Component(4).Text();
  std::string equipment_code = xtn.Component(3).Text();
  if (equipment_code != "Internet" && equipment_code != "X.400" &&
      email.find('@') == std::string::npos) {
    email.clear();  // XTN.4 is only an e-mail address for Internet equipment
  }
  std::string number = xtn.Component(1).Text();
  std::string equipment = xtn.Component(3).Text();
  if (number.empty()) {
    // XTN.5 country, .6 area/city, .7 local number, .8 extension.
    std::string area = xtn.Component(6).Text();
    std::string local = xtn.Component(7).Text();
    if (!local.empty()) number = area.empty() ? local : "(" + area + ")" + local;
  }
  if (number.empty() && email.empty()) return;
  json.BeginObject();
  if (!email.empty() || equipment == "Internet" || equipment == "X.400") {
    json.String("system", "email");
    json.String("value", email.empty() ? number : email);
  } else {
    json.String("system", equipment == "FX" ? "fax" : equipment == "BP" ? "pager" : "phone");
    json.String("value", number);
  }
  std::string use = xtn.Component(2).Text();
  if (equipment == "CP") {
    json.String("use", "mobile");
  } else if (use == "WPN") {
    json.String("use", "work");
  } else if (use == "PRN" || use == "ORN" || use == "VHN") {
    json.String("use", "home");
  } else {
    json.String("use", default_use);
  }
  json.EndObject();
}

void WriteReference(JsonBuilder& json, std::string_view key, std::string_view type,
                    std::string_view id) {
  if (id.empty()) return;
  json.BeginObject(key);
  json.String("reference", std::string(type) + "/" + std::string(id));
  json.EndObject();
}

void WritePeriod(JsonBuilder& json, std::string_view key, const Value& start, const Value& end,
                 std::string_view default_offset) {
  json.BeginObject(key);
  if (auto s = ToFhirDateTime(start, default_offset)) json.String("start", *s);
  if (auto e = ToFhirDateTime(end, default_offset)) json.String("end", *e);
  json.EndObject();
}

}  // namespace medlake::hl7v2
