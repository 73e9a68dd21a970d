#include "fhir/r4_model.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>
#include <unordered_map>

#include "json/json.h"

namespace medlake::fhir {
namespace {

struct TypeEntry {
  std::string_view name;
  std::vector<std::string_view> compartment_paths;
};

#define MEDLAKE_R4_TYPE(name, ...) TypeEntry{name, std::vector<std::string_view> __VA_ARGS__},
const std::vector<TypeEntry>& Types() {
  static const std::vector<TypeEntry> kTypes = {
#include "fhir/r4_model_table.inc"
  };
  return kTypes;
}
#undef MEDLAKE_R4_TYPE

using Table = std::unordered_map<std::string_view, std::vector<std::string_view>>;

// Effective time per type: the element that says when the event happened for the patient.
// Choice types ([x]) are listed per concrete type, the most precise first; a path of two steps
// ("collection.collectedDateTime") names an element of a backbone element.
const Table& TimeTable() {
  static const Table kTable = {
      {"Observation", {"effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"}},
      {"Condition", {"onsetDateTime", "onsetPeriod", "recordedDate"}},
      {"Encounter", {"period"}},
      {"MedicationRequest", {"authoredOn"}},
      {"MedicationAdministration", {"effectiveDateTime", "effectivePeriod"}},
      {"MedicationStatement", {"effectiveDateTime", "effectivePeriod", "dateAsserted"}},
      {"MedicationDispense", {"whenHandedOver", "whenPrepared"}},
      {"Procedure", {"performedDateTime", "performedPeriod"}},
      {"Immunization", {"occurrenceDateTime", "recorded"}},
      {"DiagnosticReport", {"effectiveDateTime", "effectivePeriod", "issued"}},
      {"AllergyIntolerance", {"onsetDateTime", "onsetPeriod", "recordedDate"}},
      {"ImagingStudy", {"started"}},
      {"CarePlan", {"period", "created"}},
      {"CareTeam", {"period"}},
      {"Claim", {"billablePeriod", "created"}},
      {"ExplanationOfBenefit", {"billablePeriod", "created"}},
      {"Patient", {"birthDate"}},
      {"Goal", {"startDate"}},
      {"ServiceRequest", {"occurrenceDateTime", "occurrencePeriod", "authoredOn"}},
      {"DocumentReference", {"date"}},
      {"Consent", {"dateTime"}},
      {"RiskAssessment", {"occurrenceDateTime", "occurrencePeriod"}},
      {"Coverage", {"period"}},
      {"Provenance", {"occurredDateTime", "occurredPeriod", "recorded"}},
      {"Composition", {"date"}},
      {"EpisodeOfCare", {"period"}},
      {"Flag", {"period"}},
      {"FamilyMemberHistory", {"date"}},
      {"Communication", {"sent"}},
      {"Appointment", {"start/end"}},
      {"DeviceUseStatement", {"timingDateTime", "timingPeriod", "recordedOn"}},
      {"ClinicalImpression", {"effectiveDateTime", "effectivePeriod", "date"}},
      {"NutritionOrder", {"dateTime"}},
      {"QuestionnaireResponse", {"authored"}},
      {"Specimen", {"collection.collectedDateTime", "collection.collectedPeriod", "receivedTime"}},
      {"Media", {"createdDateTime", "createdPeriod"}},
      {"DeviceRequest", {"occurrenceDateTime", "occurrencePeriod", "authoredOn"}},
      {"SupplyRequest", {"occurrenceDateTime", "occurrencePeriod", "authoredOn"}},
      {"SupplyDelivery", {"occurrenceDateTime", "occurrencePeriod"}},
      {"CommunicationRequest", {"occurrenceDateTime", "occurrencePeriod", "authoredOn"}},
      {"RequestGroup", {"authoredOn"}},
      {"Task", {"executionPeriod", "authoredOn"}},
      {"AdverseEvent", {"date", "detected", "recordedDate"}},
      {"DetectedIssue", {"identifiedDateTime", "identifiedPeriod"}},
      {"List", {"date"}},
      {"ChargeItem", {"occurrenceDateTime", "occurrencePeriod", "enteredDate"}},
      {"ClaimResponse", {"created"}},
      {"Invoice", {"date"}},
      {"Account", {"servicePeriod"}},
      {"CoverageEligibilityRequest", {"servicedDate", "servicedPeriod", "created"}},
      {"CoverageEligibilityResponse", {"servicedDate", "servicedPeriod", "created"}},
      {"EnrollmentRequest", {"created"}},
      {"MeasureReport", {"date", "period"}},
      {"VisionPrescription", {"dateWritten", "created"}},
      {"ImmunizationRecommendation", {"date"}},
      {"ImmunizationEvaluation", {"date"}},
      {"AppointmentResponse", {"start/end"}},
      {"GuidanceResponse", {"occurrenceDateTime"}},
      {"ResearchSubject", {"period"}},
      {"Basic", {"created"}},
  };
  return kTable;
}

const Table& CodeTable() {
  static const Table kTable = {
      {"Observation", {"code"}},
      {"Condition", {"code"}},
      {"Procedure", {"code"}},
      {"DiagnosticReport", {"code"}},
      {"AllergyIntolerance", {"code"}},
      {"MedicationRequest", {"medicationCodeableConcept"}},
      {"MedicationAdministration", {"medicationCodeableConcept"}},
      {"MedicationStatement", {"medicationCodeableConcept"}},
      {"MedicationDispense", {"medicationCodeableConcept"}},
      {"Medication", {"code"}},
      {"Immunization", {"vaccineCode"}},
      {"Encounter", {"class", "type"}},
      {"ImagingStudy", {"procedureCode"}},
      {"ServiceRequest", {"code"}},
      {"DocumentReference", {"type"}},
      {"CarePlan", {"category"}},
      {"CareTeam", {"category"}},
      {"Goal", {"description"}},
      {"Device", {"type"}},
      {"Consent", {"scope", "category"}},
      {"FamilyMemberHistory", {"condition"}},
      {"Claim", {"type"}},
      {"ExplanationOfBenefit", {"type"}},
      {"RiskAssessment", {"code"}},
      {"Specimen", {"type"}},
      {"Flag", {"code"}},
  };
  return kTable;
}

std::span<const std::string_view> Lookup(const Table& table, std::string_view type) {
  auto it = table.find(type);
  if (it == table.end()) return {};
  return it->second;
}

// A table by type index (ingest asks per resource: no name hashing).
std::vector<std::span<const std::string_view>> ByIndex(const Table& table) {
  std::vector<std::span<const std::string_view>> out(Types().size());
  for (size_t i = 0; i < Types().size(); ++i) out[i] = Lookup(table, Types()[i].name);
  return out;
}

std::span<const std::string_view> At(const std::vector<std::span<const std::string_view>>& v,
                                     int index) {
  if (index < 0 || static_cast<size_t>(index) >= v.size()) return {};
  return v[static_cast<size_t>(index)];
}

}  // namespace

size_t ResourceTypeCount() {
  return Types().size();
}

int ResourceTypeIndex(std::string_view type) {
  // Ingest asks several times per resource and reference: one probe of a table hashed from a
  // name's length and three of its bytes (json::FieldSet), not a binary search of 146 names
  // or a hash of every byte (std::unordered_map).
  static const json::FieldSet kIndex = [] {
    std::vector<std::string_view> names;
    for (const auto& t : Types()) names.push_back(t.name);
    return json::FieldSet(std::move(names));
  }();
  return kIndex.IndexOf(type);
}

std::string_view ResourceTypeName(int index) {
  if (index < 0 || static_cast<size_t>(index) >= Types().size()) return {};
  return Types()[static_cast<size_t>(index)].name;
}

std::span<const std::string_view> PatientCompartmentPaths(std::string_view type) {
  return PatientCompartmentPaths(ResourceTypeIndex(type));
}

std::span<const std::string_view> PatientCompartmentPaths(int type_index) {
  if (type_index < 0 || static_cast<size_t>(type_index) >= Types().size()) return {};
  return Types()[static_cast<size_t>(type_index)].compartment_paths;
}

std::span<const std::string_view> EffectiveTimeElements(std::string_view type) {
  return Lookup(TimeTable(), type);
}

std::span<const std::string_view> EffectiveTimeElements(int type_index) {
  static const auto kByIndex = ByIndex(TimeTable());
  return At(kByIndex, type_index);
}

std::span<const std::string_view> CodeElements(std::string_view type) {
  return Lookup(CodeTable(), type);
}

std::span<const std::string_view> CodeElements(int type_index) {
  static const auto kByIndex = ByIndex(CodeTable());
  return At(kByIndex, type_index);
}

}  // namespace medlake::fhir
