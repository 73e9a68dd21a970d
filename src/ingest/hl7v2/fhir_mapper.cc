// Dispatch by message type and the resources every family shares: Patient (PID) and
// Encounter with its Locations (PV1).
#include "ingest/hl7v2/fhir_mapper.h"

#include <array>
#include <chrono>
#include <string>
#include <utility>

#include "common/fhir_time.h"
#include "ingest/hl7v2/mapping_context.h"

namespace medlake::hl7v2 {
namespace {

// Printable, bounded form of a header value for error messages (message types, not data).
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 16)) {
    out.push_back(static_cast<unsigned char>(c) > 0x20 && c != 0x7F ? c : '?');
  }
  return out;
}

TextEncoding EncodingOf(const Message& m) {
  std::string charset = m.segment(0).Field(18).Repetition(0).Text();
  if (charset == "8859/1" || charset == "ISO-8859-1" || charset == "ISO IR100") {
    return TextEncoding::kLatin1;
  }
  return TextEncoding::kUtf8;
}

// Patient identity: first PID-3 identifier with its authority, else PID-2, else PID-4.
std::string PatientKey(const Segment& pid, const std::string& scope) {
  for (size_t field : {3, 2, 4}) {
    Value cx = pid.Field(field).Repetition(0);
    std::string value = cx.Component(1).Text();
    if (!value.empty()) return value + "|" + std::string(cx.Component(4).raw());
  }
  return "message|" + scope;
}

std::string_view PatientGender(std::string_view code) {
  if (code == "M") return "male";
  if (code == "F") return "female";
  if (code == "O" || code == "A") return "other";
  if (code == "U" || code == "N") return "unknown";
  return {};
}

struct ClassCode {
  std::string_view v2;
  std::string_view code;
  std::string_view display;
};

// PV1-2 patient class (HL7 table 0004) → v3 ActCode encounter class.
constexpr std::array<ClassCode, 7> kClasses = {{
    {"E", "EMER", "emergency"},
    {"I", "IMP", "inpatient encounter"},
    {"O", "AMB", "ambulatory"},
    {"P", "PRENC", "pre-admission"},
    {"R", "AMB", "ambulatory"},
    {"B", "IMP", "inpatient encounter"},
    {"C", "AMB", "ambulatory"},
}};

std::string_view EncounterStatus(std::string_view trigger, bool discharged) {
  if (trigger == "A03") return "finished";
  if (trigger == "A04") return "arrived";
  if (trigger == "A11") return "cancelled";
  if (trigger == "A08") return discharged ? "finished" : "in-progress";
  return "in-progress";  // A01, A02, A13
}

struct LocationLevel {
  std::string_view physical_type;  // location-physical-type code
  std::string_view display;
  std::string name;
  std::string id;
};

// Location resources for ward, room and bed of a PL (PL.1/.2/.3, facility PL.4), each part of
// the one above; returns the most specific id and a "ward / room / bed" display.
std::pair<std::string, std::string> MapLocation(MappingContext& ctx, const Value& pl) {
  std::string facility = pl.Component(4).Subcomponent(1).Text();
  std::array<LocationLevel, 3> levels = {{
      {"wa", "Ward", pl.Component(1).Subcomponent(1).Text(), {}},
      {"ro", "Room", pl.Component(2).Text(), {}},
      {"bd", "Bed", pl.Component(3).Text(), {}},
  }};
  std::string key = "location|" + facility;
  std::string parent_id;
  std::string display;
  for (LocationLevel& level : levels) {
    key += "|" + level.name;
    if (level.name.empty()) continue;
    level.id = MakeId("loc", key);
    JsonBuilder json = ctx.NewResource("Location", level.id);
    json.String("status", "active");
    json.String("name", level.name);
    json.String("mode", "instance");
    json.BeginObject("physicalType");
    json.BeginArray("coding");
    WriteCoding(json, level.physical_type,
                "http://terminology.hl7.org/CodeSystem/location-physical-type", level.display);
    json.EndArray();
    json.EndObject();
    WriteReference(json, "partOf", "Location", parent_id);
    json.EndObject();
    ctx.Add("Location", level.id, json.Take());
    parent_id = level.id;
    if (!display.empty()) display += " / ";
    display += level.name;
  }
  return {parent_id, display};
}

void WriteEncounterLocation(JsonBuilder& json, const std::pair<std::string, std::string>& loc,
                            std::string_view status, const std::optional<std::string>& start,
                            const std::optional<std::string>& end) {
  if (loc.first.empty()) return;
  json.BeginObject();
  json.BeginObject("location");
  json.String("reference", "Location/" + loc.first);
  json.String("display", loc.second);
  json.EndObject();
  json.String("status", status);
  json.BeginObject("period");
  if (start) json.String("start", *start);
  if (end) json.String("end", *end);
  json.EndObject();
  json.EndObject();
}

}  // namespace

std::string MappingContext::Where(size_t segment_index, size_t field) const {
  std::string out = message.Describe() + ": segment " + std::to_string(segment_index + 1);
  if (segment_index < message.SegmentCount()) {
    std::string_view id = message.segment(segment_index).Id();
    out += " (" + std::string(id) + ")";
    if (field != 0) out += " field " + std::string(id) + "-" + std::to_string(field);
  }
  return out;
}

std::string MappingContext::EntityKeyOf(const Value& ei) const {
  std::string key = EntityKey(ei);
  if (!key.empty() && ei.Component(2).empty() && ei.Component(3).empty()) {
    key += "|sender|" + sender;
  }
  return key;
}

void MappingContext::Add(std::string_view type, std::string id, std::string json) {
  out.resources.push_back({std::string(type), std::move(id), std::move(json)});
}

JsonBuilder MappingContext::NewResource(std::string_view type, std::string_view id) const {
  JsonBuilder json(encoding);
  json.BeginObject();
  json.String("resourceType", type);
  json.String("id", id);
  // The message's time orders the versions of what it says (a correction sent later wins,
  // a replayed or late message does not undo a newer one). Not on Locations: every message
  // names them, and they do not change with it.
  if (last_updated && type != "Location") {
    json.BeginObject("meta");
    json.String("lastUpdated", *last_updated);
    json.EndObject();
  }
  return json;
}

// How far ahead of this machine's clock a message's MSH-7 may be and still order versions.
constexpr int64_t kMaxClockAheadMs = 24 * 3600 * 1000;

bool IsSupported(std::string_view code, std::string_view trigger) {
  if (code == "ADT") {
    for (std::string_view t : {"A01", "A02", "A03", "A04", "A08", "A11", "A13"}) {
      if (trigger == t) return true;
    }
    return false;
  }
  if (code == "ORU") return trigger == "R01";
  if (code == "ORM") return trigger == "O01";
  if (code == "OML") return !trigger.empty();
  if (code == "VXU") return trigger == "V04";
  if (code == "MDM") {
    return trigger.size() == 3 && trigger[0] == 'T' && trigger >= "T01" && trigger <= "T11";
  }
  return false;
}

// A CodeableConcept from a field coded with an HL7 table: a code without a coding system (CWE.3
// empty, or a plain IS value) is of that table.
void WriteTableCoded(JsonBuilder& json, std::string_view key, const Value& field,
                     std::string_view table_uri) {
  if (field.IsNull()) return;  // "": nothing to write (the merge deletes the element)
  if (!field.Component(1).empty() && field.Component(3).empty()) {
    json.BeginObject(key);
    json.BeginArray("coding");
    WriteCoding(json, field.Component(1).Text(), table_uri, field.Component(2).Text());
    json.EndArray();
    json.EndObject();
  } else {
    WriteCodeableConcept(json, key, field);
  }
}

Status MapPatient(MappingContext& ctx) {
  size_t index = ctx.message.Find("PID");
  if (index == ctx.message.SegmentCount()) {
    return ParseError(ctx.message.Describe() + ": no PID segment; the resources need a subject");
  }
  // A message whose patient groups repeat (ORU^R01 allows several patients) would have every
  // result filed under the first one: it is quarantined whole instead (docs/hl7v2.md).
  if (size_t second = ctx.message.Find("PID", index + 1); second != ctx.message.SegmentCount()) {
    return Unsupported(ctx.message.Describe() +
                       ": the message holds several patients (PID segments " +
                       std::to_string(index + 1) + " and " + std::to_string(second + 1) +
                       "); send one patient per message");
  }
  Segment pid = ctx.message.segment(index);
  ctx.patient_id = MakeId("pat", PatientKey(pid, ctx.scope));
  JsonBuilder json = ctx.NewResource("Patient", ctx.patient_id);
  json.BeginArray("identifier");
  Value ids = pid.Field(3);
  for (size_t i = 0; i < ids.RepetitionCount(); ++i) WriteIdentifier(json, ids.Repetition(i));
  WriteIdentifier(json, pid.Field(2).Repetition(0));
  json.EndArray();
  json.BeginArray("name");
  Value names = pid.Field(5);
  for (size_t i = 0; i < names.RepetitionCount(); ++i) WriteHumanName(json, names.Repetition(i));
  json.EndArray();
  json.BeginArray("telecom");
  for (auto [field, use] : {std::pair<size_t, std::string_view>{13, "home"}, {14, "work"}}) {
    Value phones = pid.Field(field);
    for (size_t i = 0; i < phones.RepetitionCount(); ++i) {
      WriteContactPoint(json, phones.Repetition(i), use);
    }
  }
  json.EndArray();
  json.String("gender", PatientGender(pid.Field(8).Component(1).raw()));
  if (auto birth = ToFhirDate(pid.Field(7))) json.String("birthDate", *birth);
  if (auto death = ToFhirDateTime(pid.Field(29), ctx.default_offset)) {
    json.String("deceasedDateTime", *death);
  } else if (pid.Field(30).raw() == "Y" || pid.Field(30).raw() == "N") {
    json.Bool("deceasedBoolean", pid.Field(30).raw() == "Y");
  }
  json.BeginArray("address");
  Value addresses = pid.Field(11);
  for (size_t i = 0; i < addresses.RepetitionCount(); ++i) {
    WriteAddress(json, addresses.Repetition(i));
  }
  json.EndArray();
  WriteTableCoded(json, "maritalStatus", pid.Field(16),
                  "http://terminology.hl7.org/CodeSystem/v2-0002");
  json.EndObject();
  ctx.Add("Patient", ctx.patient_id, json.Take());
  // HL7 v2.5 section 2.5.3: a field left empty changes nothing in the receiver's record (the
  // merge with the stored Patient keeps it); the null value "" deletes it. An element filled
  // from several fields is deleted when one of them is null and none has a value.
  struct ElementFields {
    std::string_view element;
    size_t fields[2];  // PID field numbers; 0: none
  };
  static constexpr ElementFields kElements[] = {{"identifier", {2, 3}},     {"name", {5, 0}},
                                                {"telecom", {13, 14}},      {"gender", {8, 0}},
                                                {"birthDate", {7, 0}},      {"address", {11, 0}},
                                                {"maritalStatus", {16, 0}}, {"deceased", {29, 30}}};
  for (const ElementFields& e : kElements) {
    bool null = false, valued = false;
    for (size_t f : e.fields) {
      if (f == 0) continue;
      null |= pid.Field(f).IsNull();
      valued |= !pid.Field(f).empty() && !pid.Field(f).IsNull();
    }
    if (null && !valued) ctx.out.resources.back().cleared.emplace_back(e.element);
  }
  return Status::Ok();
}

// The Encounter id of visit number `visit` (PV1-19, a CX) in the message of `ctx`; empty when
// the message gives none. A CX is unique within its assigning authority (CX.4): with one, the
// number alone names the visit. Without one, two hospitals may both use 1001: the number is
// scoped by the sending facility (MSH-4), which the admission, the monitors' results and the
// lab's orders for one stay share whichever application (MSH-3) sends them; without a
// facility, by the patient (whose id follows PID-3's first repetition: a sender that orders
// the repetitions differently names another patient, and so another stay).
std::string EncounterId(Value visit, const MappingContext& ctx) {
  std::string visit_number = visit.Component(1).Text();
  if (visit_number.empty()) return {};
  std::string_view authority = visit.Component(4).raw();
  if (!authority.empty()) return MakeId("enc", visit_number + "|" + std::string(authority));
  if (!ctx.facility.empty()) return MakeId("enc", visit_number + "||facility|" + ctx.facility);
  return MakeId("enc", visit_number + "||" + ctx.patient_id);
}

Status MapEncounter(MappingContext& ctx, std::string_view trigger) {
  size_t index = ctx.message.Find("PV1");
  if (index == ctx.message.SegmentCount()) {
    return ParseError(ctx.message.Describe() + ": no PV1 segment in an ADT message");
  }
  Segment pv1 = ctx.message.segment(index);
  const std::string& offset = ctx.default_offset;
  Value visit = pv1.Field(19);
  ctx.encounter_id = EncounterId(visit, ctx);
  if (ctx.encounter_id.empty()) ctx.encounter_id = MakeId("enc", "message|" + ctx.scope);
  const std::optional<std::string> discharge = ToFhirDateTime(pv1.Field(45), offset);
  std::string_view status = EncounterStatus(trigger, discharge.has_value());

  auto current = MapLocation(ctx, pv1.Field(3));
  auto prior =
      trigger == "A02" ? MapLocation(ctx, pv1.Field(6)) : std::pair<std::string, std::string>{};

  JsonBuilder json = ctx.NewResource("Encounter", ctx.encounter_id);
  json.BeginArray("identifier");
  WriteIdentifier(json, visit, "VN");
  json.EndArray();
  json.String("status", status);
  std::string patient_class = pv1.Field(2).Component(1).Text();
  json.BeginObject("class");
  bool known_class = false;
  for (const ClassCode& c : kClasses) {
    if (patient_class == c.v2) {
      json.String("system", "http://terminology.hl7.org/CodeSystem/v3-ActCode");
      json.String("code", c.code);
      json.String("display", c.display);
      known_class = true;
    }
  }
  if (!known_class) {
    json.String("system", patient_class.empty()
                              ? "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
                              : "http://terminology.hl7.org/CodeSystem/v2-0004");
    json.String("code", patient_class.empty() ? "UNK" : patient_class);
  }
  json.EndObject();
  WriteTableCoded(json, "serviceType", pv1.Field(10),
                  "http://terminology.hl7.org/CodeSystem/v2-0069");
  WriteReference(json, "subject", "Patient", ctx.patient_id);
  // EVN-6 (event occurred; else EVN-2, recorded date/time, which v2.5 requires): when the
  // trigger event happened (HL7 v2.5 section 3.4.1). A02's event is the transfer.
  size_t evn = ctx.message.Find("EVN");
  Value event_time;
  if (evn != ctx.message.SegmentCount()) {
    Segment e = ctx.message.segment(evn);
    event_time = e.Field(6).empty() ? e.Field(2) : e.Field(6);
  }
  std::optional<std::string> event = ToFhirDateTime(event_time, offset);
  // The admission time is PV1-44. An A01 (admit/visit notification) or A04 (register a
  // patient) without it: its event is the admission or registration itself (HL7 v2.5 sections
  // 3.3.1, 3.3.4), so the event time stands in; other events (A08 update, A02 transfer, ...)
  // happen during the stay and say nothing of its start. Not when the event follows the
  // discharge (PV1-45) the message gives: a period starts before it ends.
  std::optional<std::string> admitted = ToFhirDateTime(pv1.Field(44), offset);
  if (!admitted && event && (trigger == "A01" || trigger == "A04")) {
    auto from = ParseFhirTime(*event);
    auto to = discharge ? ParseFhirTime(*discharge) : std::nullopt;
    if (from && (!to || from->start <= to->end)) admitted = event;
  }
  json.BeginObject("period");
  if (admitted) json.String("start", *admitted);
  if (trigger != "A13" && trigger != "A11") {
    if (discharge) json.String("end", *discharge);
  }
  json.EndObject();
  json.BeginObject("hospitalization");
  WriteTableCoded(json, "admitSource", pv1.Field(14),
                  "http://terminology.hl7.org/CodeSystem/v2-0023");
  WriteTableCoded(json, "dischargeDisposition", pv1.Field(36),
                  "http://terminology.hl7.org/CodeSystem/v2-0112");
  json.EndObject();

  // Location history as far as this message knows it: the prior location (A02) ends when the
  // transfer happens and the current one starts then; on admission or registration the
  // location starts with the stay; on discharge it ends with it. Updates (A08, A13) do not
  // say since when the patient is where they are, so no start is claimed.
  json.BeginArray("location");
  if (trigger == "A02") {  // the event is the transfer
    WriteEncounterLocation(json, prior, "completed", std::nullopt, event);
    WriteEncounterLocation(json, current, "active", event, std::nullopt);
  } else if (status == "finished") {
    WriteEncounterLocation(json, current, "completed", std::nullopt, discharge);
  } else if (status == "cancelled") {
    WriteEncounterLocation(json, current, "completed", std::nullopt, std::nullopt);
  } else if (trigger == "A01" || trigger == "A04") {
    WriteEncounterLocation(json, current, "active", admitted, std::nullopt);
  } else {
    WriteEncounterLocation(json, current, "active", std::nullopt, std::nullopt);
  }
  json.EndArray();
  json.EndObject();
  ctx.Add("Encounter", ctx.encounter_id, json.Take());
  return Status::Ok();
}

Result<MappedMessage> MapToFhir(const Message& message, const MapOptions& options) {
  std::string_view code = message.MessageCode();
  std::string_view trigger = message.TriggerEvent();
  std::string type = Printable(code) + "^" + Printable(trigger);
  if (!IsSupported(code, trigger)) {
    return Unsupported("unsupported message type " + type + " (" + message.Describe() + ")");
  }
  MappingContext ctx{message, options};
  ctx.encoding = EncodingOf(message);
  Segment msh = message.segment(0);
  ctx.sender = std::string(msh.Field(3).raw()) + "|" + std::string(msh.Field(4).raw());
  ctx.facility = std::string(msh.Field(4).raw());
  ctx.scope = std::string(msh.Field(3).raw()) + "|" + std::string(msh.Field(4).raw()) + "|" +
              std::string(message.ControlId());
  if (message.ControlId().empty()) ctx.scope += "|" + std::string(message.raw());
  ctx.out.message_type = type;
  ctx.out.trigger = std::string(trigger);
  ctx.out.control_id = std::string(message.ControlId());
  ctx.default_offset = FhirOffsetOf(msh.Field(7)).value_or(options.default_offset);
  ctx.last_updated = ToFhirInstant(msh.Field(7), ctx.default_offset);
  // A sender's clock far ahead (MSH-7 in 2099) would make its message outrank every later one
  // for good: such a time orders nothing.
  if (ctx.last_updated) {
    auto t = ParseFhirTime(*ctx.last_updated);
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    if (!t || t->start > now + kMaxClockAheadMs) ctx.last_updated.reset();
  }

  MEDLAKE_RETURN_IF_ERROR(MapPatient(ctx));
  if (code == "ADT") {
    MEDLAKE_RETURN_IF_ERROR(MapEncounter(ctx, trigger));
  } else {
    // Other families reference the visit; only ADT messages author the Encounter itself, so
    // a lab message never replaces the admission's richer version of it.
    size_t pv1 = message.Find("PV1");
    if (pv1 != message.SegmentCount()) {
      ctx.encounter_id = EncounterId(message.segment(pv1).Field(19), ctx);
    }
    if (code == "ORU") {
      MEDLAKE_RETURN_IF_ERROR(MapResults(ctx));
    } else if (code == "ORM" || code == "OML") {
      MEDLAKE_RETURN_IF_ERROR(MapOrders(ctx));
    } else if (code == "VXU") {
      MEDLAKE_RETURN_IF_ERROR(MapImmunizations(ctx));
    } else {
      MEDLAKE_RETURN_IF_ERROR(MapDocument(ctx, trigger));
    }
  }
  return std::move(ctx.out);
}

}  // namespace medlake::hl7v2
