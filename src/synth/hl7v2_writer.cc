// HL7 v2.5 messages of one patient's hospital encounters.
#include <fmt/format.h>

#include "synth/fhir_writer.h"
#include "synth/rng.h"
#include "synth/stream_writers.h"
#include "synth/terminology.h"
#include "synth/text_util.h"
#include "synth/time_format.h"

namespace medlake::synth {
namespace {

// Appends fields to one segment: Field(n) moves to field n (adding separators).
class Segment {
 public:
  Segment(std::string& out, std::string_view name) : out_(out) { out_.append(name); }
  ~Segment() { out_.push_back('\r'); }
  std::string& Field(int n) {
    for (; field_ < n; ++field_) out_.push_back('|');
    return out_;
  }

 private:
  std::string& out_;
  int field_ = 0;
};

class Hl7Renderer {
 public:
  Hl7Renderer(const PopulationModel& m, const PatientStory& s, RecordBuffer& out)
      : m_(m), s_(s), out_(out) {
    AppendPatientId(s.index, pid_);
    BuildPid(pid_segment_, false);
    BuildPid(pid_segment_death_, true);
  }

  void Run();

 private:
  std::string& Msh(int64_t t, std::string_view type, std::string_view event,
                   std::string_view structure);
  void Evn(std::string& o, std::string_view event, int64_t t) {
    Segment seg(o, "EVN");
    seg.Field(1).append(event);
    AppendHl7Time(t, seg.Field(2));
  }
  // PID is the same in every message of the patient (with or without the death fields).
  void BuildPid(std::string& o, bool with_death);
  void Pid(std::string& o, bool with_death) {
    o.append(with_death ? pid_segment_death_ : pid_segment_);
  }
  void Pv1(std::string& o, size_t k, int bed, int prior_bed, bool discharged);
  void Location(std::string& o, int bed) {
    const int w = m_.WardOfBed(bed);
    fmt::format_to(std::back_inserter(o), "{}^^{:03d}^HOSP1", kWards[w].code,
                   bed - m_.FirstBed(w) + 1);
  }
  void Adt(size_t k, std::string_view event, std::string_view structure, int64_t t, int bed,
           int prior_bed, bool discharged);
  void LabResults(size_t k, size_t first, size_t last);
  void VitalResults(size_t k, size_t v);
  void Obx(std::string& o, int set_id, std::string_view type, std::string_view code,
           std::string_view display, std::string_view value, std::string_view unit,
           std::string_view range, int64_t t);

  const PopulationModel& m_;
  const PatientStory& s_;
  RecordBuffer& out_;
  std::string pid_;
  std::string value_;
  std::string pid_segment_;
  std::string pid_segment_death_;
  int control_ = 0;
};

std::string& Hl7Renderer::Msh(int64_t t, std::string_view type, std::string_view event,
                              std::string_view structure) {
  std::string& o = out_.Begin(t);
  o.append("MSH|^~\\&|MEDLAKE-SYNTH|HOSP1|MEDLAKE|HOSP1|");
  AppendHl7Time(t, o);
  // MSH-10, unique per message (ST, at most 20 characters in v2.5) and not derived from the
  // patient's ids, which quarantine reasons and ACKs would then carry.
  fmt::format_to(std::back_inserter(o), "||{}^{}^{}|{:016X}|P|2.5\r", type, event, structure,
                 Hash3(s_.national_id, s_.index, static_cast<uint64_t>(control_++)));
  return o;
}

void Hl7Renderer::BuildPid(std::string& o, bool with_death) {
  const bool female = s_.sex == Sex::kFemale;
  const CityDef& city = kCities[s_.city];
  Segment seg(o, "PID");
  seg.Field(1).append("1");
  std::string& f3 = seg.Field(3);
  AppendMrn(s_.index, f3);
  // CX.4 assigning authority with its ISO OID (HD.2, HD.3 = ISO): the same registers as the
  // FHIR identifier systems urn:oid:2.999.1.1 and 2.999.1.2, which is how an HL7 v2 mapper
  // (medlake's included, docs/hl7v2.md) names them.
  fmt::format_to(std::back_inserter(f3), "^^^HOSP1&{}&ISO^MR~{}^^^NATION&{}&ISO^NI",
                 kMrnSystem.substr(8), s_.national_id, kNationalIdSystem.substr(8));
  fmt::format_to(std::back_inserter(seg.Field(5)), "{}^{}", kFamilyNames[s_.family],
                 female ? kFemaleNames[s_.given] : kMaleNames[s_.given]);
  AppendHl7Date(s_.birth_day, seg.Field(7));
  seg.Field(8).push_back(female ? 'F' : 'M');
  fmt::format_to(std::back_inserter(seg.Field(11)), "{} {}^^{}^^{}^{}", s_.house_number,
                 kStreets[s_.street], city.name, city.postal_base + s_.postal_offset, city.country);
  // XTN.2 PRN (primary residence number, table 0201), XTN.3 CP (cellular phone, table 0202):
  // the FHIR Patient's mobile phone.
  fmt::format_to(std::back_inserter(seg.Field(13)), "+{}^PRN^CP", s_.phone);
  if (with_death && s_.death != kNever) {
    AppendHl7Time(s_.death, seg.Field(29));
    seg.Field(30).push_back('Y');
  }
}

void Hl7Renderer::Pv1(std::string& o, size_t k, int bed, int prior_bed, bool discharged) {
  const EncounterRec& e = s_.encounters[k];
  Segment seg(o, "PV1");
  seg.Field(1).append("1");
  const char cls = e.cls == EncounterClass::kInpatient   ? 'I'
                   : e.cls == EncounterClass::kEmergency ? 'E'
                                                         : 'O';
  seg.Field(2).push_back(cls);
  if (bed >= 0) Location(seg.Field(3), bed);
  if (prior_bed >= 0) Location(seg.Field(6), prior_bed);
  AppendVisitNumber(s_.index, k, seg.Field(19));
  if (discharged && e.cls != EncounterClass::kAmbulatory) {
    std::string_view code = "01";
    if (e.disposition == Disposition::kExpired) code = "20";
    if (e.disposition == Disposition::kOtherFacility) code = "02";
    if (e.disposition == Disposition::kAdmitted) code = "09";
    seg.Field(36).append(code);
  }
  AppendHl7Time(e.start, seg.Field(44));
  if (discharged) AppendHl7Time(e.end, seg.Field(45));
}

void Hl7Renderer::Adt(size_t k, std::string_view event, std::string_view structure, int64_t t,
                      int bed, int prior_bed, bool discharged) {
  std::string& o = Msh(t, "ADT", event, structure);
  Evn(o, event, t);
  Pid(o, discharged && s_.death != kNever && s_.death <= t);
  Pv1(o, k, bed, prior_bed, discharged);
  out_.Commit();
}

void Hl7Renderer::Obx(std::string& o, int set_id, std::string_view type, std::string_view code,
                      std::string_view display, std::string_view value, std::string_view unit,
                      std::string_view range, int64_t t) {
  Segment seg(o, "OBX");
  AppendInt(seg.Field(1), static_cast<uint64_t>(set_id));
  seg.Field(2).append(type);
  Cat(seg.Field(3), code, "^", display, "^LN");
  seg.Field(5).append(value);
  if (!unit.empty()) Cat(seg.Field(6), unit, "^", unit, "^UCUM");
  seg.Field(7).append(range);
  seg.Field(11).push_back('F');
  AppendHl7Time(t, seg.Field(14));
}

// One ORU^R01 for labs [first, last) drawn together: one OBR per test.
void Hl7Renderer::LabResults(size_t k, size_t first, size_t last) {
  const int64_t t = s_.labs[first].time;
  std::string& o = Msh(t + kMsPerHour, "ORU", "R01", "ORU_R01");
  Pid(o, false);
  Pv1(o, k, -1, -1, false);
  for (size_t i = first; i < last; ++i) {
    const LabRec& r = s_.labs[i];
    const LabDef& def = kLabs[r.lab];
    const bool alt = r.alt_unit;
    const std::string_view loinc = alt ? def.alt_loinc : def.loinc;
    const std::string_view display = alt ? def.alt_display : def.display;
    {
      Segment seg(o, "OBR");
      fmt::format_to(std::back_inserter(seg.Field(1)), "{}", i - first + 1);
      fmt::format_to(std::back_inserter(seg.Field(3)), "{}-l{}", pid_, i);
      fmt::format_to(std::back_inserter(seg.Field(4)), "{}^{}^LN", loinc, display);
      AppendHl7Time(r.time, seg.Field(7));
      AppendHl7Time(r.time + kMsPerHour, seg.Field(22));
      seg.Field(25).push_back('F');
    }
    const double f = alt ? def.alt_factor : 1, off = alt ? def.alt_offset : 0;
    const int dec = alt ? def.alt_decimals : def.decimals;
    value_.clear();
    AppendFixed(value_, r.value * f + off, dec);
    const size_t value_end = value_.size();
    AppendFixed(value_, def.ref_low * f + off, dec);
    value_.push_back('-');
    AppendFixed(value_, def.ref_high * f + off, dec);
    const std::string_view all(value_);
    Obx(o, 1, "NM", loinc, display, all.substr(0, value_end), alt ? def.alt_unit : def.unit,
        all.substr(value_end), r.time);
  }
  out_.Commit();
}

void Hl7Renderer::VitalResults(size_t k, size_t vi) {
  const VitalSet& v = s_.vitals[vi];
  std::string& o = Msh(v.time + 5 * 60'000, "ORU", "R01", "ORU_R01");
  Pid(o, false);
  Pv1(o, k, v.bed, -1, false);
  {
    Segment seg(o, "OBR");
    seg.Field(1).append("1");
    fmt::format_to(std::back_inserter(seg.Field(3)), "{}-v{}", pid_, vi);
    seg.Field(4).append("85353-1^Vital signs panel^LN");
    AppendHl7Time(v.time, seg.Field(7));
    seg.Field(25).push_back('F');
  }
  int n = 1;
  auto num = [&](std::string_view code, std::string_view display, double value, int dec,
                 std::string_view unit) {
    value_.clear();
    AppendFixed(value_, value, dec);
    Obx(o, n++, "NM", code, display, value_, unit, "", v.time);
  };
  num(kVitals[kHeartRate].loinc, kVitals[kHeartRate].display, v.heart_rate, 0, "/min");
  num(kVitals[kRespiratoryRate].loinc, kVitals[kRespiratoryRate].display, v.respiratory_rate, 0,
      "/min");
  num(kVitals[kSpO2].loinc, kVitals[kSpO2].display, v.spo2, 0, "%");
  num(kVitals[kTemperature].loinc, kVitals[kTemperature].display, v.temperature, 1, "Cel");
  num("8480-6", "Systolic blood pressure", v.systolic, 0, "mm[Hg]");
  num("8462-4", "Diastolic blood pressure", v.diastolic, 0, "mm[Hg]");
  const AcvpuDef& a = kAcvpu[v.acvpu];
  value_.clear();
  fmt::format_to(std::back_inserter(value_), "{}^{}^SCT", a.snomed, a.display);
  Obx(o, n++, "CWE", kVitals[kConsciousness].loinc, kVitals[kConsciousness].display, value_, "", "",
      v.time);
  num(kVitals[kInspiredOxygen].loinc, kVitals[kInspiredOxygen].display, v.fio2, 0, "%");
  out_.Commit();
}

void Hl7Renderer::Run() {
  for (size_t k = 0; k < s_.encounters.size(); ++k) {
    const EncounterRec& e = s_.encounters[k];
    if (e.cls == EncounterClass::kAmbulatory) continue;
    const bool inpatient = e.cls == EncounterClass::kInpatient;
    const int first_bed = e.beds.empty() ? -1 : e.beds.front().bed;
    if (inpatient) {
      Adt(k, "A01", "ADT_A01", e.start, first_bed, -1, false);
      Adt(k, "A08", "ADT_A01", std::min(e.start + kMsPerHour, e.end), first_bed, -1, false);
      for (size_t b = 1; b < e.beds.size(); ++b) {
        Adt(k, "A02", "ADT_A02", e.beds[b].start, e.beds[b].bed, e.beds[b - 1].bed, false);
      }
    } else {
      Adt(k, "A04", "ADT_A01", e.start, first_bed, -1, false);
    }
    const int last_bed = e.beds.empty() ? -1 : e.beds.back().bed;
    Adt(k, "A03", "ADT_A03", e.end, last_bed, -1, true);
  }
  // Labs of hospital and ambulatory encounters, one message per draw (same time).
  size_t i = 0;
  while (i < s_.labs.size()) {
    size_t j = i + 1;
    while (j < s_.labs.size() && s_.labs[j].time == s_.labs[i].time &&
           s_.labs[j].encounter == s_.labs[i].encounter) {
      ++j;
    }
    if (s_.labs[i].encounter >= 0) LabResults(s_.labs[i].encounter, i, j);
    i = j;
  }
  for (size_t v = 0; v < s_.vitals.size(); ++v) VitalResults(s_.vitals[v].encounter, v);
}

}  // namespace

void RenderHl7v2(const PopulationModel& model, const PatientStory& story, RecordBuffer& out) {
  Hl7Renderer(model, story, out).Run();
}

void RenderDeviceReadings(const PopulationModel& model, const PatientStory& story,
                          RecordBuffer& out) {
  std::string pid;
  AppendPatientId(story.index, pid);
  for (const VitalSet& v : story.vitals) {
    const std::string device = "mon-" + model.BedId(v.bed);
    struct Reading {
      std::string_view vital;
      double value;
      int decimals;
      std::string_view unit;
    };
    const Reading readings[] = {{"heart_rate", v.heart_rate, 0, "/min"},
                                {"respiratory_rate", v.respiratory_rate, 0, "/min"},
                                {"spo2", v.spo2, 0, "%"},
                                {"temperature", v.temperature, 1, "Cel"},
                                {"systolic_bp", v.systolic, 0, "mm[Hg]"}};
    // The monitor stamps each reading a few seconds apart.
    int64_t t = v.time - 60'000;
    for (const Reading& r : readings) {
      std::string& o = out.Begin(t);
      o.append("{\"time\":\"");
      AppendFhirDateTime(t, o);
      Cat(o, "\",\"device\":\"", device, "\",\"patient\":\"", pid, "\",\"vital\":\"", r.vital,
          "\",\"value\":");
      AppendFixed(o, r.value, r.decimals);
      Cat(o, ",\"unit\":\"", r.unit, "\"}\n");
      out.Commit();
      t += 2000;
    }
  }
}

}  // namespace medlake::synth
