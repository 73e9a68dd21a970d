// ORM/OML → ServiceRequest, VXU → Immunization, MDM → DocumentReference.
#include <array>
#include <string>
#include <vector>

#include "ingest/hl7v2/mapping_context.h"

namespace medlake::hl7v2 {
namespace {

using CodeMap = std::pair<std::string_view, std::string_view>;

std::string_view Lookup(std::string_view code, std::initializer_list<CodeMap> table,
                        std::string_view fallback) {
  for (const auto& [v2, fhir] : table) {
    if (code == v2) return fhir;
  }
  return fallback;
}

// ORC-5 order status (table 0038), else ORC-1 order control (table 0119).
std::string_view RequestStatus(const Segment& orc) {
  std::string_view status = orc.Field(5).Component(1).raw();
  if (!status.empty()) {
    return Lookup(status,
                  {{"A", "active"},
                   {"CA", "revoked"},
                   {"CM", "completed"},
                   {"DC", "revoked"},
                   {"ER", "entered-in-error"},
                   {"HD", "on-hold"},
                   {"IP", "active"},
                   {"RP", "revoked"},
                   {"SC", "active"}},
                  "unknown");
  }
  return Lookup(orc.Field(1).Component(1).raw(),
                {{"NW", "active"},
                 {"OK", "active"},
                 {"SC", "active"},
                 {"XO", "active"},
                 {"RL", "active"},
                 {"CA", "revoked"},
                 {"OC", "revoked"},
                 {"CR", "revoked"},
                 {"DC", "revoked"},
                 {"OD", "revoked"},
                 {"DR", "revoked"},
                 {"HD", "on-hold"},
                 {"OH", "on-hold"},
                 {"RE", "completed"}},
                "unknown");
}

constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8) |
                 static_cast<unsigned char>(data[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kBase64[(v >> shift) & 63]);
  }
  if (i < data.size()) {
    uint32_t v = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out.push_back(kBase64[(v >> 18) & 63]);
    out.push_back(kBase64[(v >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kBase64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// ED.5 data declared Base64, with whitespace removed; empty when it is not base64 text.
std::string CleanBase64(std::string_view data) {
  std::string out;
  for (char c : data) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (kBase64.find(c) == std::string_view::npos && c != '=') return {};
    out.push_back(c);
  }
  return out.size() % 4 == 0 ? out : std::string();
}

std::string MimeType(std::string_view type, std::string_view subtype) {
  // Senders that write MIME media types directly ("application^pdf").
  for (std::string_view media : {"application", "audio", "image", "text", "video"}) {
    if (type == media && !subtype.empty()) return std::string(type) + "/" + std::string(subtype);
  }
  if (subtype == "PDF") return "application/pdf";
  if (subtype == "JPEG" || subtype == "JPG") return "image/jpeg";
  if (subtype == "PNG") return "image/png";
  if (subtype == "TIFF") return "image/tiff";
  if (subtype == "RTF") return "application/rtf";
  if (subtype == "HTML") return "text/html";
  if (subtype == "XML") return "application/xml";
  if (type == "TEXT" || subtype == "PLAIN") return "text/plain";
  return "application/octet-stream";
}

void WriteAttachment(JsonBuilder& json, std::string_view content_type, std::string_view data,
                     std::string_view title) {
  json.BeginObject();
  json.BeginObject("attachment");
  if (!data.empty()) json.String("contentType", content_type);
  json.String("data", data);
  json.String("title", title);
  json.EndObject();
  json.EndObject();
}

struct Order {
  size_t orc = 0;
  size_t obr = 0;
};

}  // namespace

Status MapOrders(MappingContext& ctx) {
  const Message& m = ctx.message;
  const size_t none = m.SegmentCount();
  std::vector<Order> orders;
  for (size_t i = 1; i < m.SegmentCount(); ++i) {
    std::string_view id = m.segment(i).Id();
    if (id == "ORC") {
      orders.push_back({i, none});
    } else if (id == "OBR") {
      if (!orders.empty() && orders.back().obr == none) {
        orders.back().obr = i;
      } else {
        orders.push_back({none, i});
      }
    }
  }
  if (orders.empty()) return ParseError(m.Describe() + ": order message without ORC or OBR");

  for (const Order& order : orders) {
    Segment orc = order.orc != none ? m.segment(order.orc) : Segment();
    Segment obr = order.obr != none ? m.segment(order.obr) : Segment();
    Value placer = !orc.Field(2).empty() ? orc.Field(2) : obr.Field(2);
    Value filler = !orc.Field(3).empty() ? orc.Field(3) : obr.Field(3);
    // Not scoped by sender (an order's messages come from the placer and the filler alike,
    // and the placer number is the placer's in both), but by patient: two clinics' order
    // 1001 are two orders, which one must never update with the other's patient.
    std::string key = EntityKey(placer);
    if (key.empty()) key = EntityKey(filler);
    if (key.empty()) {
      key = "message|" + ctx.scope + "|" + std::to_string(order.orc) + "|" +
            std::to_string(order.obr);
    } else {
      key += "|patient|" + ctx.patient_id;
    }
    std::string id = MakeId("sr", key);
    JsonBuilder json = ctx.NewResource("ServiceRequest", id);
    json.BeginArray("identifier");
    WriteEntityIdentifier(json, placer, "PLAC");
    WriteEntityIdentifier(json, filler, "FILL");
    json.EndArray();
    json.String("status", order.orc != none ? RequestStatus(orc) : "active");
    json.String("intent", "order");
    std::string_view priority = orc.Field(7).Component(6).raw();
    if (priority.empty()) priority = obr.Field(27).Component(6).raw();
    // The order's own TQ1: before the next ORC, not a later order's.
    const size_t first = order.orc != none ? order.orc : order.obr;
    size_t tq1 = m.Find("TQ1", first);
    if (size_t next = m.Find("ORC", first + 1); next < tq1) tq1 = none;
    if (priority.empty() && tq1 != none) priority = m.segment(tq1).Field(9).Component(1).raw();
    json.String("priority", Lookup(priority, {{"S", "stat"}, {"A", "asap"}, {"R", "routine"}}, {}));
    WriteCodeableConcept(json, "code", obr.Field(4));
    WriteReference(json, "subject", "Patient", ctx.patient_id);
    WriteReference(json, "encounter", "Encounter", ctx.encounter_id);
    if (auto t = ToFhirDateTime(orc.Field(9), ctx.default_offset)) {
      json.String("authoredOn", *t);
    }
    json.BeginArray("reasonCode");
    Value reasons = obr.Field(31);
    for (size_t r = 0; r < reasons.RepetitionCount(); ++r) {
      WriteCodeableConcept(json, "", reasons.Repetition(r));
    }
    json.EndArray();
    json.EndObject();
    ctx.Add("ServiceRequest", id, json.Take());
  }
  return Status::Ok();
}

Status MapImmunizations(MappingContext& ctx) {
  const Message& m = ctx.message;
  size_t last_orc = m.SegmentCount();
  size_t rxa_under_orc = 0;  // before v2.5 one ORC may head several RXAs
  bool any = false;
  for (size_t i = 1; i < m.SegmentCount(); ++i) {
    Segment seg = m.segment(i);
    if (seg.Id() == "ORC") {
      last_orc = i;
      rxa_under_orc = 0;
    }
    if (seg.Id() != "RXA") continue;
    any = true;
    const size_t dose_under_orc = rxa_under_orc++;
    Segment orc = last_orc != m.SegmentCount() ? m.segment(last_orc) : Segment();
    std::string key = EntityKey(orc.Field(3));
    if (key.empty()) key = EntityKey(orc.Field(2));
    if (key.empty()) {
      key = "message|" + ctx.scope + "|" + std::to_string(i);
    } else {
      // An order number names one patient's dose. The CDC's placeholder for historical
      // doses, 9999^CDC (CDC HL7 v2.5.1 Immunization IG, ORC-3), names none: there the vaccine
      // (RXA-5) and the date (RXA-3) do. A real filler number keeps the dose when an update
      // corrects its date or vaccine.
      key += "|patient|" + ctx.patient_id;
      if (dose_under_orc > 0) key += "|dose|" + std::to_string(dose_under_orc);
      Value filler = orc.Field(3);
      if (filler.Component(1).raw() == "9999" && filler.Component(2).raw() == "CDC") {
        key += "|" + std::string(seg.Field(5).Component(1).raw()) + "^" +
               std::string(seg.Field(5).Component(3).raw()) + "|" +
               std::string(seg.Field(3).Component(1).raw());
      }
    }
    std::string id = MakeId("imm", key);

    std::optional<std::string> when = ToFhirDateTime(seg.Field(3), ctx.default_offset);
    if (!when) {
      return ParseError(ctx.Where(i, 3) +
                        ": administration date/time missing or malformed (Immunization "
                        "needs occurrence)");
    }
    std::string_view completion = seg.Field(20).Component(1).raw();
    std::string_view status =
        Lookup(completion,
               {{"CP", "completed"}, {"PA", "completed"}, {"RE", "not-done"}, {"NA", "not-done"}},
               "completed");
    if (seg.Field(21).Component(1).raw() == "D") status = "entered-in-error";

    JsonBuilder json = ctx.NewResource("Immunization", id);
    json.BeginArray("identifier");
    WriteEntityIdentifier(json, orc.Field(2), "PLAC");
    WriteEntityIdentifier(json, orc.Field(3), "FILL");
    json.EndArray();
    json.String("status", status);
    if (status == "not-done") WriteCodeableConcept(json, "statusReason", seg.Field(18));
    Value vaccine = seg.Field(5);
    if (vaccine.Component(1).empty() && vaccine.Component(2).empty()) {
      json.BeginObject("vaccineCode");
      json.BeginArray("coding");
      WriteCoding(json, "unknown", "http://terminology.hl7.org/CodeSystem/data-absent-reason", {});
      json.EndArray();
      json.EndObject();
    } else {
      WriteCodeableConcept(json, "vaccineCode", vaccine);
    }
    WriteReference(json, "patient", "Patient", ctx.patient_id);
    WriteReference(json, "encounter", "Encounter", ctx.encounter_id);
    json.String("occurrenceDateTime", *when);
    std::string_view source = seg.Field(9).Component(1).raw();
    if (!source.empty()) json.Bool("primarySource", source == "00");
    std::string manufacturer = seg.Field(17).Component(2).Text();
    if (!manufacturer.empty()) {
      json.BeginObject("manufacturer");
      json.String("display", manufacturer);
      json.EndObject();
    }
    json.String("lotNumber", seg.Field(15).Repetition(0).Text());
    if (auto expiry = ToFhirDate(seg.Field(16))) json.String("expirationDate", *expiry);
    size_t rxr = i + 1 < m.SegmentCount() && m.segment(i + 1).Id() == "RXR" ? i + 1 : 0;
    if (rxr != 0) {
      WriteCodeableConcept(json, "site", m.segment(rxr).Field(2));
      WriteCodeableConcept(json, "route", m.segment(rxr).Field(1));
    }
    std::optional<std::string> amount = ToFhirDecimal(seg.Field(6).raw());
    if (amount && seg.Field(6).raw() != "999") {
      json.BeginObject("doseQuantity");
      json.Raw("value", *amount);
      Value unit = seg.Field(7);
      json.String("unit", unit.Component(1).Text());
      std::string_view ucum = unit.Component(3).raw() == "UCUM" ? unit.Component(1).raw()
                                                                : UcumCode(unit.Component(1).raw());
      if (!ucum.empty()) {
        json.String("system", "http://unitsofmeasure.org");
        json.String("code", ucum);
      }
      json.EndObject();
    }
    json.EndObject();
    ctx.Add("Immunization", id, json.Take());
  }
  if (!any) return ParseError(m.Describe() + ": VXU message without an RXA segment");
  return Status::Ok();
}

Status MapDocument(MappingContext& ctx, std::string_view trigger) {
  const Message& m = ctx.message;
  size_t index = m.Find("TXA");
  if (index == m.SegmentCount()) return ParseError(m.Describe() + ": MDM message without TXA");
  Segment txa = m.segment(index);
  // A document number (TXA-12) is one patient's document: by patient too (two clinics'
  // document 1 are two documents).
  std::string key = EntityKey(txa.Field(12));
  key = key.empty() ? "message|" + ctx.scope : key + "|patient|" + ctx.patient_id;
  std::string id = MakeId("doc", key);

  JsonBuilder json = ctx.NewResource("DocumentReference", id);
  Value number = txa.Field(12);
  if (!number.Component(1).empty()) {
    json.BeginObject("masterIdentifier");
    if (std::string system = EntitySystem(number); !system.empty()) {
      json.String("system", system);
    }
    json.String("value", number.Component(1).Text());
    json.EndObject();
  }
  json.String("status", trigger == "T11" ? "entered-in-error" : "current");
  json.String("docStatus", Lookup(txa.Field(17).Component(1).raw(),
                                  {{"AU", "final"},
                                   {"LA", "final"},
                                   {"DI", "preliminary"},
                                   {"DO", "preliminary"},
                                   {"IP", "preliminary"},
                                   {"IN", "preliminary"},
                                   {"PA", "preliminary"}},
                                  {}));
  Value type = txa.Field(2);
  if (!type.Component(1).empty() && type.Component(3).empty()) {
    json.BeginObject("type");
    json.BeginArray("coding");
    WriteCoding(json, type.Component(1).Text(), "http://terminology.hl7.org/CodeSystem/v2-0270",
                type.Component(2).Text());
    json.EndArray();
    json.EndObject();
  } else {
    WriteCodeableConcept(json, "type", type);
  }
  WriteReference(json, "subject", "Patient", ctx.patient_id);
  if (auto t = ToFhirInstant(txa.Field(4), ctx.default_offset)) json.String("date", *t);
  // Replacements (T09/T10) and addenda (T05/T06) point at the parent document (TXA-13).
  std::string parent = EntityKey(txa.Field(13));
  if (!parent.empty()) parent += "|patient|" + ctx.patient_id;
  if (!parent.empty() &&
      (trigger == "T05" || trigger == "T06" || trigger == "T09" || trigger == "T10")) {
    json.BeginArray("relatesTo");
    json.BeginObject();
    json.String("code", trigger == "T05" || trigger == "T06" ? "appends" : "replaces");
    WriteReference(json, "target", "DocumentReference", MakeId("doc", parent));
    json.EndObject();
    json.EndArray();
  }

  std::string title = type.Component(2).Text();
  json.BeginArray("content");
  std::string text;
  bool any_content = false;
  for (size_t i = index + 1; i < m.SegmentCount(); ++i) {
    Segment obx = m.segment(i);
    if (obx.Id() != "OBX") continue;
    std::string_view value_type = obx.Field(2).Component(1).raw();
    Value value = obx.Field(5);
    if (value_type == "ED") {
      std::string encoding = value.Component(4).Text();
      std::string data = value.Component(5).Text();
      std::string base64 = encoding == "Base64" ? CleanBase64(data)
                           : encoding == "A"    ? Base64(data)
                                                : std::string();
      if (!base64.empty()) {
        WriteAttachment(json, MimeType(value.Component(2).raw(), value.Component(3).raw()), base64,
                        title);
        any_content = true;
      }
      continue;
    }
    if (value_type != "TX" && value_type != "FT" && value_type != "ST") continue;
    for (size_t r = 0; r < value.RepetitionCount(); ++r) {
      if (!text.empty()) text.push_back('\n');
      value.Repetition(r).AppendText(text);
    }
  }
  if (!text.empty()) {
    WriteAttachment(json, "text/plain", Base64(ToUtf8(text, ctx.encoding)), title);
    any_content = true;
  }
  if (!any_content) WriteAttachment(json, {}, {}, title.empty() ? "document" : title);
  json.EndArray();
  json.BeginObject("context");
  json.BeginArray("encounter");
  WriteReference(json, "", "Encounter", ctx.encounter_id);
  json.EndArray();
  json.EndObject();
  json.EndObject();
  ctx.Add("DocumentReference", id, json.Take());
  return Status::Ok();
}

}  // namespace medlake::hl7v2
