// FHIR R4 JSON of one patient's story. Every string written here comes from constant tables
// or generated digits, so no JSON escaping is needed (checked by the tests, which parse
// every line).
#include "synth/fhir_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "synth/terminology.h"
#include "synth/text_util.h"
#include "synth/time_format.h"

namespace medlake::synth {
namespace {

constexpr std::string_view kObsCategory =
    "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr std::string_view kDicom = "http://dicom.nema.org/resources/ontology/DCM";

struct ModalityDef {
  std::string_view code;
  std::string_view display;
};
constexpr ModalityDef kModalities[] = {{"CR", "Computed Radiography"},
                                       {"CT", "Computed Tomography"},
                                       {"MR", "Magnetic Resonance"},
                                       {"US", "Ultrasound"}};
struct BodySiteDef {
  std::string_view snomed;
  std::string_view display;
};
constexpr BodySiteDef kBodySites[] = {{"51185008", "Thoracic structure"},
                                      {"69536005", "Head structure"},
                                      {"24136001", "Hip joint structure"},
                                      {"113345001", "Abdominal structure"}};

constexpr std::string_view kVitalSuffix[kNumVitals] = {"hr", "rr",    "spo2", "temp",
                                                       "bp", "acvpu", "fio2"};

template <typename... Args>
void Put(std::string& out, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(out), f, std::forward<Args>(args)...);
}

class Renderer {
 public:
  Renderer(const PopulationModel& model, const PatientStory& story, FhirChunk& out)
      : m_(model), s_(story), out_(out) {
    AppendPatientId(story.index, pid_);
  }

  void Patient();
  void Encounters();
  void Conditions();
  void Medications();
  void Labs();
  void Vitals();
  void Imaging();
  void Procedures();
  void Consent();

  // Spans (type, begin, end) of this patient's resources, for bundles.
  struct Span {
    FhirType type;
    size_t begin;
    size_t end;
  };
  std::vector<Span> spans;
  bool record_spans = false;

 private:
  std::string& Begin(FhirType type) {
    std::string& o = out_.ndjson[type];
    begin_ = o.size();
    return o;
  }
  void End(FhirType type) {
    std::string& o = out_.ndjson[type];
    if (record_spans) spans.push_back({type, begin_, o.size()});
    o.push_back('\n');
    ++out_.counts[type];
  }
  // The helpers below run for every Observation: plain appends, no format-string parsing.
  void Subject(std::string& o) { Cat(o, ",\"subject\":{\"reference\":\"Patient/", pid_, "\"}"); }
  void EncounterRef(std::string& o, int encounter) {
    if (encounter < 0) return;
    Cat(o, ",\"encounter\":{\"reference\":\"Encounter/", pid_, "-e");
    AppendInt(o, static_cast<uint64_t>(encounter));
    o.append("\"}");
  }
  void Time(std::string& o, std::string_view key, int64_t ms) {
    Cat(o, ",\"", key, "\":\"");
    AppendFhirDateTime(ms, o);
    o.push_back('"');
  }
  void Quantity(std::string& o, double value, int decimals, std::string_view unit) {
    o.append("{\"value\":");
    AppendFixed(o, value, decimals);
    Cat(o, ",\"unit\":\"", unit, "\",\"system\":\"", kUcum, "\",\"code\":\"", unit, "\"}");
  }
  void ObservationHead(std::string& o, std::string_view id_suffix, std::string_view category,
                       std::string_view category_display) {
    Cat(o, "{\"resourceType\":\"Observation\",\"id\":\"", pid_, "-", id_suffix,
        "\",\"status\":\"final\",\"category\":[{\"coding\":[{\"system\":\"", kObsCategory,
        "\",\"code\":\"", category, "\",\"display\":\"", category_display, "\"}]}]");
  }
  void LoincCode(std::string& o, std::string_view code, std::string_view display) {
    Cat(o, ",\"code\":{\"coding\":[{\"system\":\"", kLoinc, "\",\"code\":\"", code,
        "\",\"display\":\"", display, "\"}],\"text\":\"", display, "\"}");
  }

  const PopulationModel& m_;
  const PatientStory& s_;
  FhirChunk& out_;
  std::string pid_;
  std::string scratch_;
  size_t begin_ = 0;
};

void Renderer::Patient() {
  std::string& o = Begin(kFhirPatient);
  const bool female = s_.sex == Sex::kFemale;
  const CityDef& city = kCities[s_.city];
  Put(o,
      "{{\"resourceType\":\"Patient\",\"id\":\"{}\",\"identifier\":[{{\"use\":\"usual\",\"type\":"
      "{{\"coding\":[{{\"system\":\"http://terminology.hl7.org/CodeSystem/v2-0203\",\"code\":"
      "\"MR\",\"display\":\"Medical record number\"}}]}},\"system\":\"{}\",\"value\":\"",
      pid_, kMrnSystem);
  AppendMrn(s_.index, o);
  Put(o,
      "\"}},{{\"use\":\"official\",\"type\":{{\"coding\":[{{\"system\":\"http://"
      "terminology.hl7.org/CodeSystem/v2-0203\",\"code\":\"NI\",\"display\":\"National unique "
      "individual identifier\"}}]}},\"system\":\"{}\",\"value\":\"{}\"}}],\"active\":true,"
      "\"name\":[{{\"use\":\"official\",\"family\":\"{}\",\"given\":[\"{}\"]}}],\"telecom\":[{{"
      "\"system\":\"phone\",\"value\":\"+{}\",\"use\":\"mobile\"}}],\"gender\":\"{}\","
      "\"birthDate\":\"",
      kNationalIdSystem, s_.national_id, kFamilyNames[s_.family],
      female ? kFemaleNames[s_.given] : kMaleNames[s_.given], s_.phone, female ? "female" : "male");
  AppendFhirDate(s_.birth_day, o);
  o.push_back('"');
  if (s_.death != kNever) Time(o, "deceasedDateTime", s_.death);
  Put(o,
      ",\"address\":[{{\"use\":\"home\",\"line\":[\"{} {}\"],\"city\":\"{}\",\"postalCode\":"
      "\"{}\",\"country\":\"{}\"}}],\"managingOrganization\":{{\"reference\":"
      "\"Organization/{}\"}}}}",
      s_.house_number, kStreets[s_.street], city.name, city.postal_base + s_.postal_offset,
      city.country, kHospitalOrganizationId);
  End(kFhirPatient);
}

void Renderer::Encounters() {
  for (size_t k = 0; k < s_.encounters.size(); ++k) {
    const EncounterRec& e = s_.encounters[k];
    std::string& o = Begin(kFhirEncounter);
    std::string_view cls = "AMB", cls_display = "ambulatory";
    if (e.cls == EncounterClass::kEmergency) cls = "EMER", cls_display = "emergency";
    if (e.cls == EncounterClass::kInpatient) cls = "IMP", cls_display = "inpatient encounter";
    Put(o,
        "{{\"resourceType\":\"Encounter\",\"id\":\"{}-e{}\",\"identifier\":[{{\"use\":"
        "\"official\",\"system\":\"{}\",\"value\":\"",
        pid_, k, kVisitNumberSystem);
    AppendVisitNumber(s_.index, k, o);
    Put(o,
        "\"}}],\"status\":\"finished\",\"class\":{{\"system\":\"http://terminology.hl7.org/"
        "CodeSystem/v3-ActCode\",\"code\":\"{}\",\"display\":\"{}\"}}",
        cls, cls_display);
    Subject(o);
    o.append(",\"period\":{\"start\":\"");
    AppendFhirDateTime(e.start, o);
    o.append("\",\"end\":\"");
    AppendFhirDateTime(e.end, o);
    o.append("\"}");
    if (e.reason >= 0) {
      Put(o, ",\"reasonReference\":[{{\"reference\":\"Condition/{}-c{}\"}}]", pid_, e.reason);
    }
    if (e.cls != EncounterClass::kAmbulatory) {
      std::string_view code = "home", display = "Home";
      if (e.disposition == Disposition::kExpired) code = "exp", display = "Expired";
      if (e.disposition == Disposition::kAdmitted) code = "oth", display = "Other";
      if (e.disposition == Disposition::kOtherFacility) {
        code = "other-hcf", display = "Other healthcare facility";
      }
      Put(o,
          ",\"hospitalization\":{{\"dischargeDisposition\":{{\"coding\":[{{\"system\":\"http://"
          "terminology.hl7.org/CodeSystem/discharge-disposition\",\"code\":\"{}\",\"display\":"
          "\"{}\"}}]}}}}",
          code, display);
    }
    if (!e.beds.empty()) {
      o.append(",\"location\":[");
      // Each bed period is listed twice: the ward and the bed (physicalType wa / bd).
      for (size_t b = 0; b < e.beds.size(); ++b) {
        const int bed = e.beds[b].bed;
        for (int level = 0; level < 2; ++level) {
          if (b > 0 || level > 0) o.push_back(',');
          const std::string id =
              level == 0 ? PopulationModel::WardId(m_.WardOfBed(bed)) : m_.BedId(bed);
          Cat(o, "{\"location\":{\"reference\":\"Location/", id,
              "\"},\"status\":\"completed\",\"physicalType\":{\"coding\":[{\"system\":\"http://"
              "terminology.hl7.org/CodeSystem/location-physical-type\",\"code\":\"",
              level == 0 ? "wa" : "bd", "\"}]},\"period\":{\"start\":\"");
          AppendFhirDateTime(e.beds[b].start, o);
          o.append("\",\"end\":\"");
          AppendFhirDateTime(e.beds[b].end, o);
          o.append("\"}}");
        }
      }
      o.push_back(']');
    }
    Put(o, ",\"serviceProvider\":{{\"reference\":\"Organization/{}\"}}}}", kHospitalOrganizationId);
    End(kFhirEncounter);
  }
}

void Renderer::Conditions() {
  for (size_t k = 0; k < s_.conditions.size(); ++k) {
    const ConditionRec& c = s_.conditions[k];
    const ConditionDef& def = kConditions[c.condition];
    const bool resolved = c.abatement != kNever;
    std::string& o = Begin(kFhirCondition);
    Put(o,
        "{{\"resourceType\":\"Condition\",\"id\":\"{}-c{}\",\"clinicalStatus\":{{\"coding\":[{{"
        "\"system\":\"http://terminology.hl7.org/CodeSystem/condition-clinical\",\"code\":\"{}\"}}"
        "]}},\"verificationStatus\":{{\"coding\":[{{\"system\":\"http://terminology.hl7.org/"
        "CodeSystem/condition-ver-status\",\"code\":\"confirmed\"}}]}},\"category\":[{{\"coding\":"
        "[{{\"system\":\"http://terminology.hl7.org/CodeSystem/condition-category\",\"code\":"
        "\"{}\"}}]}}],\"code\":{{\"coding\":[{{\"system\":\"{}\",\"code\":\"{}\",\"display\":"
        "\"{}\"}},{{\"system\":\"{}\",\"code\":\"{}\",\"display\":\"{}\"}}],\"text\":\"{}\"}}",
        pid_, k, resolved ? "resolved" : "active",
        c.encounter >= 0 ? "encounter-diagnosis" : "problem-list-item", kSnomed, def.snomed,
        def.snomed_display, kIcd10, def.icd10, def.icd10_display, def.snomed_display);
    Subject(o);
    EncounterRef(o, c.encounter);
    Time(o, "onsetDateTime", c.onset);
    if (resolved) Time(o, "abatementDateTime", c.abatement);
    Time(o, "recordedDate", c.onset);
    o.push_back('}');
    End(kFhirCondition);
  }
}

void Renderer::Medications() {
  for (size_t k = 0; k < s_.medications.size(); ++k) {
    const MedicationRec& r = s_.medications[k];
    const MedicationDef& def = kMedications[r.medication];
    std::string_view status = "active";
    // Ended in the window, or at the death (which may end a stay after the window).
    if (r.stop != kNever && (r.stop <= m_.window_end() || s_.death != kNever)) {
      status = r.encounter >= 0 ? "completed" : "stopped";
    }
    std::string& o = Begin(kFhirMedicationRequest);
    Put(o,
        "{{\"resourceType\":\"MedicationRequest\",\"id\":\"{}-m{}\",\"status\":\"{}\",\"intent\":"
        "\"order\",\"medicationCodeableConcept\":{{\"coding\":[{{\"system\":\"{}\",\"code\":"
        "\"{}\",\"display\":\"{}\"}},{{\"system\":\"{}\",\"code\":\"{}\",\"display\":\"{}\"}}],"
        "\"text\":\"{}\"}}",
        pid_, k, status, kRxNorm, def.rxnorm, def.rxnorm_display, kAtc, def.atc, def.atc_display,
        def.rxnorm_display);
    Subject(o);
    EncounterRef(o, r.encounter);
    Time(o, "authoredOn", r.start);
    if (r.condition >= 0) {
      Put(o, ",\"reasonReference\":[{{\"reference\":\"Condition/{}-c{}\"}}]", pid_, r.condition);
    }
    Put(o,
        ",\"dosageInstruction\":[{{\"text\":\"{}\",\"timing\":{{\"repeat\":{{\"boundsPeriod\":"
        "{{\"start\":\"",
        DosageText(r.medication, static_cast<DoseBand>(r.dose_band)));
    AppendFhirDateTime(r.start, o);
    o.push_back('"');
    if (r.stop != kNever) {
      o.append(",\"end\":\"");
      AppendFhirDateTime(r.stop, o);
      o.push_back('"');
    }
    o.append("}}}}]}");
    End(kFhirMedicationRequest);
  }
}

void Renderer::Labs() {
  for (size_t k = 0; k < s_.labs.size(); ++k) {
    const LabRec& r = s_.labs[k];
    const LabDef& def = kLabs[r.lab];
    std::string& o = Begin(kFhirObservation);
    scratch_.assign("l");
    AppendInt(scratch_, k);
    ObservationHead(o, scratch_, "laboratory", "Laboratory");
    const bool alt = r.alt_unit;
    LoincCode(o, alt ? def.alt_loinc : def.loinc, alt ? def.alt_display : def.display);
    Subject(o);
    EncounterRef(o, r.encounter);
    Time(o, "effectiveDateTime", r.time);
    Time(o, "issued", r.time + kMsPerHour);
    const double f = alt ? def.alt_factor : 1, off = alt ? def.alt_offset : 0;
    const int dec = alt ? def.alt_decimals : def.decimals;
    const std::string_view unit = alt ? def.alt_unit : def.unit;
    o.append(",\"valueQuantity\":");
    Quantity(o, r.value * f + off, dec, unit);
    o.append(",\"referenceRange\":[{\"low\":");
    Quantity(o, def.ref_low * f + off, dec, unit);
    o.append(",\"high\":");
    Quantity(o, def.ref_high * f + off, dec, unit);
    o.append("}]}");
    End(kFhirObservation);
  }
}

void Renderer::Vitals() {
  for (size_t k = 0; k < s_.vitals.size(); ++k) {
    const VitalSet& v = s_.vitals[k];
    for (int vital = 0; vital < kNumVitals; ++vital) {
      const VitalDef& def = kVitals[vital];
      std::string& o = Begin(kFhirObservation);
      scratch_.assign("v");
      AppendInt(scratch_, k);
      Cat(scratch_, "-", kVitalSuffix[vital]);
      ObservationHead(o, scratch_, "vital-signs", "Vital Signs");
      if (vital == kSpO2) {
        Cat(o, ",\"code\":{\"coding\":[{\"system\":\"", kLoinc, "\",\"code\":\"", def.loinc,
            "\",\"display\":\"", def.display, "\"},{\"system\":\"", kLoinc,
            "\",\"code\":\"2708-6\",\"display\":\"Oxygen saturation in Arterial "
            "blood\"}],\"text\":\"SpO2\"}");
      } else {
        LoincCode(o, def.loinc, def.display);
      }
      Subject(o);
      EncounterRef(o, v.encounter);
      Time(o, "effectiveDateTime", v.time);
      switch (vital) {
        case kHeartRate:
          o.append(",\"valueQuantity\":");
          Quantity(o, v.heart_rate, 0, def.unit);
          break;
        case kRespiratoryRate:
          o.append(",\"valueQuantity\":");
          Quantity(o, v.respiratory_rate, 0, def.unit);
          break;
        case kSpO2:
          o.append(",\"valueQuantity\":");
          Quantity(o, v.spo2, 0, def.unit);
          break;
        case kTemperature:
          o.append(",\"valueQuantity\":");
          Quantity(o, v.temperature, 1, def.unit);
          break;
        case kBloodPressure:
          Cat(o, ",\"component\":[{\"code\":{\"coding\":[{\"system\":\"", kLoinc,
              "\",\"code\":\"8480-6\",\"display\":\"Systolic blood pressure\"}]},"
              "\"valueQuantity\":");
          Quantity(o, v.systolic, 0, def.unit);
          Cat(o, "},{\"code\":{\"coding\":[{\"system\":\"", kLoinc,
              "\",\"code\":\"8462-4\",\"display\":\"Diastolic blood pressure\"}]},"
              "\"valueQuantity\":");
          Quantity(o, v.diastolic, 0, def.unit);
          o.append("}]");
          break;
        case kConsciousness: {
          const AcvpuDef& a = kAcvpu[v.acvpu];
          const char letter[2] = {a.letter, '\0'};
          Cat(o, ",\"valueCodeableConcept\":{\"coding\":[{\"system\":\"", kSnomed, "\",\"code\":\"",
              a.snomed, "\",\"display\":\"", a.display, "\"}],\"text\":\"", letter, "\"}");
          break;
        }
        case kInspiredOxygen:
          o.append(",\"valueQuantity\":");
          Quantity(o, v.fio2, 0, def.unit);
          break;
        default:
          break;
      }
      o.push_back('}');
      End(kFhirObservation);
    }
  }
}

void Renderer::Imaging() {
  for (size_t k = 0; k < s_.imaging.size(); ++k) {
    const ImagingRec& r = s_.imaging[k];
    const ModalityDef& mod = kModalities[r.modality];
    const BodySiteDef& site = kBodySites[r.body_site];
    const uint64_t study_uid = Hash3(m_.config().seed, s_.index, k * 2 + 1);
    const uint64_t series_uid = Hash3(m_.config().seed, s_.index, k * 2 + 2);
    std::string& o = Begin(kFhirImagingStudy);
    Put(o,
        "{{\"resourceType\":\"ImagingStudy\",\"id\":\"{}-i{}\",\"identifier\":[{{\"system\":"
        "\"urn:dicom:uid\",\"value\":\"urn:oid:2.25.{}\"}}],\"status\":\"available\","
        "\"modality\":[{{\"system\":\"{}\",\"code\":\"{}\",\"display\":\"{}\"}}]",
        pid_, k, study_uid, kDicom, mod.code, mod.display);
    Subject(o);
    EncounterRef(o, r.encounter);
    Time(o, "started", r.time);
    // Imaging procedures come first in the story's procedures, in the order of the studies.
    Put(o, ",\"procedureReference\":{{\"reference\":\"Procedure/{}-pr{}\"}}", pid_, k);
    Put(o,
        ",\"numberOfSeries\":1,\"numberOfInstances\":{},\"series\":[{{\"uid\":\"2.25.{}\","
        "\"number\":1,\"modality\":{{\"system\":\"{}\",\"code\":\"{}\",\"display\":\"{}\"}},"
        "\"numberOfInstances\":{},\"bodySite\":{{\"system\":\"{}\",\"code\":\"{}\",\"display\":"
        "\"{}\"}}}}]}}",
        r.instances, series_uid, kDicom, mod.code, mod.display, r.instances, kSnomed, site.snomed,
        site.display);
    End(kFhirImagingStudy);
  }
}

void Renderer::Procedures() {
  for (size_t k = 0; k < s_.procedures.size(); ++k) {
    const ProcedureRec& r = s_.procedures[k];
    const ProcedureDef& def = kProcedures[r.procedure];
    std::string& o = Begin(kFhirProcedure);
    Put(o, "{{\"resourceType\":\"Procedure\",\"id\":\"{}-pr{}\",\"status\":\"completed\"", pid_, k);
    if (r.imaging >= 0 || r.procedure == kColonoscopy) {
      Cat(o, ",\"category\":{\"coding\":[{\"system\":\"", kSnomed,
          "\",\"code\":\"103693007\",\"display\":\"Diagnostic procedure\"}]}");
    }
    Cat(o, ",\"code\":{\"coding\":[{\"system\":\"", kSnomed, "\",\"code\":\"", def.snomed,
        "\",\"display\":\"", def.display, "\"}],\"text\":\"", def.display, "\"}");
    Subject(o);
    EncounterRef(o, r.encounter);
    o.append(",\"performedPeriod\":{\"start\":\"");
    AppendFhirDateTime(r.start, o);
    o.append("\",\"end\":\"");
    AppendFhirDateTime(r.end, o);
    o.append("\"}");
    if (r.condition >= 0) {
      Put(o, ",\"reasonReference\":[{{\"reference\":\"Condition/{}-c{}\"}}]", pid_, r.condition);
    } else if (r.procedure == kColonoscopy) {
      Cat(o, ",\"reasonCode\":[{\"coding\":[{\"system\":\"", kSnomed, "\",\"code\":\"",
          kColorectalScreeningSnomed, "\",\"display\":\"", kColorectalScreeningDisplay, "\"}]}]");
    }
    if (r.imaging >= 0) {
      const BodySiteDef& site = kBodySites[s_.imaging[r.imaging].body_site];
      Cat(o, ",\"bodySite\":[{\"coding\":[{\"system\":\"", kSnomed, "\",\"code\":\"", site.snomed,
          "\",\"display\":\"", site.display, "\"}]}]");
    }
    o.push_back('}');
    End(kFhirProcedure);
  }
}

void Renderer::Consent() {
  std::string& o = Begin(kFhirConsent);
  const bool out = s_.research_opt_out;
  Put(o,
      "{{\"resourceType\":\"Consent\",\"id\":\"{}-consent\",\"status\":\"active\",\"scope\":{{"
      "\"coding\":[{{\"system\":\"http://terminology.hl7.org/CodeSystem/consentscope\",\"code\":"
      "\"research\",\"display\":\"Research\"}}]}},\"category\":[{{\"coding\":[{{\"system\":\"{}\","
      "\"code\":\"59284-0\",\"display\":\"Patient Consent\"}}]}}],\"patient\":{{\"reference\":"
      "\"Patient/{}\"}}",
      pid_, kLoinc, pid_);
  // Recorded in the window's first four weeks; before the window for a patient who died
  // before that day (every death is at or after the window's start).
  int64_t recorded = m_.window_start() + static_cast<int64_t>(s_.index % 28) * kMsPerDay;
  if (s_.death != kNever && recorded >= s_.death) {
    recorded = m_.window_start() - static_cast<int64_t>(1 + s_.index % 28) * kMsPerDay;
  }
  Time(o, "dateTime", recorded);
  Put(o,
      ",\"organization\":[{{\"reference\":\"Organization/{}\"}}],\"policyRule\":{{\"coding\":[{{"
      "\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"{}\"}}]}},"
      "\"provision\":{{\"type\":\"{}\",\"purpose\":[{{\"system\":\"http://terminology.hl7.org/"
      "CodeSystem/v3-ActReason\",\"code\":\"HRESCH\",\"display\":\"healthcare research\"}}]}}}}",
      kHospitalOrganizationId, out ? "OPTOUT" : "OPTIN", out ? "deny" : "permit");
  End(kFhirConsent);
}

}  // namespace

void AppendMrn(uint64_t index, std::string& out) {
  fmt::format_to(std::back_inserter(out), "M{:08d}", index);
}

void AppendVisitNumber(uint64_t index, size_t k, std::string& out) {
  fmt::format_to(std::back_inserter(out), "V{:07d}-{}", index, k);
}

void RenderFhir(const PopulationModel& model, const PatientStory& story, bool bundles,
                FhirChunk& out) {
  Renderer r(model, story, out);
  r.record_spans = bundles;
  r.Patient();
  r.Encounters();
  r.Conditions();
  r.Medications();
  r.Labs();
  r.Vitals();
  r.Imaging();
  r.Procedures();
  r.Consent();
  if (!bundles) return;
  std::string& b = out.bundles;
  b.append("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[");
  bool first = true;
  auto entry = [&](std::string_view type, std::string_view rid, std::string_view text) {
    if (!first) b.push_back(',');
    first = false;
    Cat(b, "{\"fullUrl\":\"", kBundleBaseUrl, type, "/", rid, "\",\"resource\":");
    b.append(text);
    Cat(b, ",\"request\":{\"method\":\"PUT\",\"url\":\"", type, "/", rid, "\"}}");
  };
  // The shared resources the patient's resources refer to come first: the hospital, and the
  // wards and beds of the encounters. PUT again by every Bundle, they change nothing.
  std::string shared;
  AppendOrganization(shared);
  entry("Organization", kHospitalOrganizationId, shared);
  std::vector<int> beds;
  for (const EncounterRec& e : story.encounters) {
    for (const BedStay& stay : e.beds) beds.push_back(stay.bed);
  }
  std::sort(beds.begin(), beds.end());
  beds.erase(std::unique(beds.begin(), beds.end()), beds.end());
  int last_ward = -1;
  for (int bed : beds) {
    const int ward = model.WardOfBed(bed);
    if (ward != last_ward) {  // beds are numbered ward by ward
      shared.clear();
      AppendWardLocation(ward, shared);
      entry("Location", PopulationModel::WardId(ward), shared);
      last_ward = ward;
    }
    shared.clear();
    AppendBedLocation(model, bed, shared);
    entry("Location", model.BedId(bed), shared);
  }
  for (const Renderer::Span& span : r.spans) {
    const std::string_view text(out.ndjson[span.type].data() + span.begin, span.end - span.begin);
    // The id is the second field of every resource: {"resourceType":"X","id":"...".
    const size_t id_pos = text.find("\"id\":\"") + 6;
    entry(kFhirTypeNames[span.type], text.substr(id_pos, text.find('"', id_pos) - id_pos), text);
  }
  b.append("]}\n");
}

void AppendOrganization(std::string& out) {
  Put(out,
      "{{\"resourceType\":\"Organization\",\"id\":\"{}\",\"identifier\":[{{\"system\":"
      "\"urn:oid:2.999.1.4\",\"value\":\"HOSP1\"}}],\"active\":true,\"type\":[{{\"coding\":[{{"
      "\"system\":\"http://terminology.hl7.org/CodeSystem/organization-type\",\"code\":\"prov\","
      "\"display\":\"Healthcare Provider\"}}]}}],\"name\":\"Medlake General Hospital "
      "(synthetic)\",\"address\":[{{\"line\":[\"1 Hospital Lane\"],\"city\":\"Lyon\","
      "\"postalCode\":\"69003\",\"country\":\"FR\"}}]}}",
      kHospitalOrganizationId);
}

void AppendWardLocation(int ward, std::string& out) {
  Put(out,
      "{{\"resourceType\":\"Location\",\"id\":\"{}\",\"status\":\"active\",\"name\":\"{}\","
      "\"mode\":\"instance\",\"physicalType\":{{\"coding\":[{{\"system\":\"http://"
      "terminology.hl7.org/CodeSystem/location-physical-type\",\"code\":\"wa\",\"display\":"
      "\"Ward\"}}]}},\"managingOrganization\":{{\"reference\":\"Organization/{}\"}}}}",
      PopulationModel::WardId(ward), kWards[ward].name, kHospitalOrganizationId);
}

void AppendBedLocation(const PopulationModel& model, int bed, std::string& out) {
  const int w = model.WardOfBed(bed);
  Put(out,
      "{{\"resourceType\":\"Location\",\"id\":\"{}\",\"status\":\"active\",\"name\":\"{} bed "
      "{}\",\"mode\":\"instance\",\"physicalType\":{{\"coding\":[{{\"system\":\"http://"
      "terminology.hl7.org/CodeSystem/location-physical-type\",\"code\":\"bd\",\"display\":"
      "\"Bed\"}}]}},\"managingOrganization\":{{\"reference\":\"Organization/{}\"}},"
      "\"partOf\":{{\"reference\":\"Location/{}\"}}}}",
      model.BedId(bed), kWards[w].name, bed - model.FirstBed(w) + 1, kHospitalOrganizationId,
      PopulationModel::WardId(w));
}

std::string RenderOrganizations() {
  std::string o;
  AppendOrganization(o);
  o.push_back('\n');
  return o;
}

std::string RenderLocations(const PopulationModel& model) {
  std::string o;
  for (int w = 0; w < kNumWards; ++w) {
    AppendWardLocation(w, o);
    o.push_back('\n');
    for (int b = 0; b < model.BedsInWard(w); ++b) {
      AppendBedLocation(model, model.FirstBed(w) + b, o);
      o.push_back('\n');
    }
  }
  return o;
}

}  // namespace medlake::synth
