// Code tables of the synthetic population: conditions (SNOMED CT + ICD-10), medications
// (RxNorm + ATC), laboratory tests and vital signs (LOINC + UCUM), wards, and name lists.
// Constant data, safe to read from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace medlake::synth {

inline constexpr std::string_view kSnomed = "http://snomed.info/sct";
inline constexpr std::string_view kIcd10 = "http://hl7.org/fhir/sid/icd-10";
inline constexpr std::string_view kLoinc = "http://loinc.org";
inline constexpr std::string_view kUcum = "http://unitsofmeasure.org";
inline constexpr std::string_view kRxNorm = "http://www.nlm.nih.gov/research/umls/rxnorm";
inline constexpr std::string_view kAtc = "http://www.whocc.no/atc";

struct ConditionDef {
  std::string_view key;
  std::string_view snomed;
  std::string_view snomed_display;
  std::string_view icd10;
  std::string_view icd10_display;
};

// Chronic conditions come first (indices < kNumChronic), acute episodes after.
enum ConditionId : uint8_t {
  kHypertension,
  kType2Diabetes,
  kChronicKidneyDisease,
  kCopd,
  kAsthma,
  kHeartFailure,
  kAtrialFibrillation,
  kDepression,
  kBreastCancer,
  kProstateCancer,
  kColorectalCancer,
  kLungCancer,
  kPneumonia,
  kSepsis,
  kMyocardialInfarction,
  kStroke,
  kHipFracture,
  kUrinaryTractInfection,
  kCopdExacerbation,
  kNumConditions,
};
inline constexpr int kNumChronic = kPneumonia;

inline constexpr std::array<ConditionDef, kNumConditions> kConditions = {{
    {"hypertension", "38341003", "Hypertensive disorder, systemic arterial", "I10",
     "Essential (primary) hypertension"},
    {"type2_diabetes", "44054006", "Diabetes mellitus type 2", "E11.9",
     "Type 2 diabetes mellitus without complications"},
    {"ckd", "709044004", "Chronic kidney disease", "N18.9", "Chronic kidney disease, unspecified"},
    {"copd", "13645005", "Chronic obstructive lung disease", "J44.9",
     "Chronic obstructive pulmonary disease, unspecified"},
    {"asthma", "195967001", "Asthma", "J45.9", "Asthma, unspecified"},
    {"heart_failure", "84114007", "Heart failure", "I50.9", "Heart failure, unspecified"},
    {"atrial_fibrillation", "49436004", "Atrial fibrillation", "I48.9",
     "Atrial fibrillation and atrial flutter, unspecified"},
    {"depression", "35489007", "Depressive disorder", "F32.9", "Depressive episode, unspecified"},
    {"breast_cancer", "254837009", "Malignant neoplasm of breast", "C50.9",
     "Malignant neoplasm of breast, unspecified"},
    {"prostate_cancer", "399068003", "Malignant tumor of prostate", "C61",
     "Malignant neoplasm of prostate"},
    {"colorectal_cancer", "363406005", "Malignant tumor of colon", "C18.9",
     "Malignant neoplasm of colon, unspecified"},
    {"lung_cancer", "363358000", "Malignant tumor of lung", "C34.9",
     "Malignant neoplasm of bronchus or lung, unspecified"},
    {"pneumonia", "233604007", "Pneumonia", "J18.9", "Pneumonia, unspecified"},
    {"sepsis", "91302008", "Sepsis", "A41.9", "Sepsis, unspecified"},
    {"myocardial_infarction", "22298006", "Myocardial infarction", "I21.9",
     "Acute myocardial infarction, unspecified"},
    {"stroke", "230690007", "Cerebrovascular accident", "I63.9",
     "Cerebral infarction, unspecified"},
    {"hip_fracture", "5913000", "Fracture of neck of femur", "S72.0", "Fracture of neck of femur"},
    {"uti", "68566005", "Urinary tract infectious disease", "N39.0",
     "Urinary tract infection, site not specified"},
    {"copd_exacerbation", "195951007", "Acute exacerbation of chronic obstructive airways disease",
     "J44.1", "Chronic obstructive pulmonary disease with acute exacerbation, unspecified"},
}};

struct MedicationDef {
  std::string_view rxnorm;
  std::string_view rxnorm_display;
  std::string_view atc;
  std::string_view atc_display;
  std::string_view dosage;
};

enum MedicationId : uint8_t {
  kAmlodipine,
  kRamipril,
  kMetformin,
  kSimvastatin,
  kTiotropium,
  kSalbutamol,
  kBisoprolol,
  kFurosemide,
  kApixaban,
  kWarfarin,
  kSertraline,
  kCitalopram,
  kClopidogrel,
  kCapecitabine,
  kAmoxicillin,
  kCeftriaxone,
  kNumMedications,
};

inline constexpr std::array<MedicationDef, kNumMedications> kMedications = {{
    {"17767", "amlodipine", "C08CA01", "amlodipine", "5 mg orally once daily"},
    {"35296", "ramipril", "C09AA05", "ramipril", "5 mg orally once daily"},
    {"6809", "metformin", "A10BA02", "metformin", "1000 mg orally twice daily"},
    {"36567", "simvastatin", "C10AA01", "simvastatin", "40 mg orally at night"},
    {"69120", "tiotropium", "R03BB04", "tiotropium bromide", "18 ug inhaled once daily"},
    {"435", "albuterol", "R03AC02", "salbutamol", "100 ug inhaled as needed"},
    {"19484", "bisoprolol", "C07AB07", "bisoprolol", "2.5 mg orally once daily"},
    {"4603", "furosemide", "C03CA01", "furosemide", "40 mg orally once daily"},
    {"1364430", "apixaban", "B01AF02", "apixaban", "5 mg orally twice daily"},
    {"11289", "warfarin", "B01AA03", "warfarin", "dose adjusted to INR, orally once daily"},
    {"36437", "sertraline", "N06AB06", "sertraline", "50 mg orally once daily"},
    {"2556", "citalopram", "N06AB04", "citalopram", "20 mg orally once daily"},
    {"32968", "clopidogrel", "B01AC04", "clopidogrel", "75 mg orally once daily"},
    {"194000", "capecitabine", "L01BC06", "capecitabine", "1250 mg/m2 orally twice daily"},
    {"723", "amoxicillin", "J01CA04", "amoxicillin", "1 g orally three times daily"},
    {"2193", "ceftriaxone", "J01DD04", "ceftriaxone", "2 g intravenously once daily"},
}};

// Age band of a prescription's dose: adults (18 and over) take MedicationDef::dosage.
enum class DoseBand : uint8_t { kAdult, kInfant, kYoungChild, kChild };

// Dose band at `age` years: infants 1-11 months, young children 1-4 years, children 5-17.
inline DoseBand DoseBandAt(double age) {
  if (age >= 18) return DoseBand::kAdult;
  if (age >= 5) return DoseBand::kChild;
  if (age >= 1) return DoseBand::kYoungChild;
  return DoseBand::kInfant;
}

// Whether the model prescribes `med` at `age` years. Drugs whose doses are adult doses
// (antihypertensives, metformin, statins, anticoagulants, antiplatelets, SSRIs, tiotropium,
// capecitabine) are not prescribed to children: no dose is better than an adult dose.
// Salbutamol's 100 ug as needed is also the children's dose (BNF for Children: 100-200 ug as
// needed, from 1 month; BTS/SIGN 158); amoxicillin and ceftriaxone have children's doses from
// 1 month of age (below). Neonates (under 28 days) are treated for infection with
// benzylpenicillin and gentamicin (NICE NG195), which the model does not have: no antibiotic
// is prescribed to them.
inline bool PrescribedAt(uint8_t med, double age) {
  constexpr double kNeonatal = 28 / 365.2425;
  if (med == kSalbutamol) return true;
  if (med == kAmoxicillin || med == kCeftriaxone) return age >= kNeonatal;
  return age >= 18;
}

// The dosage text of a prescription.
inline std::string_view DosageText(uint8_t med, DoseBand band) {
  if (band == DoseBand::kAdult) return kMedications[med].dosage;
  if (med == kAmoxicillin) {
    // NICE NG138 (community-acquired pneumonia, 2019) and NG109 (lower urinary tract
    // infection, 2018), children: 1-11 months 125 mg, 1-4 years 250 mg, 5-17 years 500 mg,
    // three times a day.
    if (band == DoseBand::kInfant) return "125 mg orally three times daily";
    if (band == DoseBand::kYoungChild) return "250 mg orally three times daily";
    return "500 mg orally three times daily";
  }
  // NICE NG51 (sepsis, 2016): children, ceftriaxone 80 mg/kg once a day, at most 4 g a day.
  if (med == kCeftriaxone) return "80 mg/kg (max 4 g) intravenously once daily";
  return kMedications[med].dosage;  // salbutamol: the same dose
}

// A laboratory test. Values are generated in the primary unit; a configurable share is
// reported in the alternative unit: alt_value = value * alt_factor + alt_offset.
struct LabDef {
  std::string_view key;
  std::string_view loinc;
  std::string_view display;
  std::string_view unit;
  int decimals;
  std::string_view alt_loinc;  // empty: no alternative unit
  std::string_view alt_display;
  std::string_view alt_unit;
  double alt_factor;
  double alt_offset;
  int alt_decimals;
  double ref_low;
  double ref_high;
};

enum LabId : uint8_t {
  kHbA1c,
  kGlucose,
  kCreatinine,
  kEgfr,
  kPotassium,
  kSodium,
  kHaemoglobin,
  kLeukocytes,
  kCrp,
  kLactate,
  kTroponin,
  kNumLabs,
};

inline constexpr std::array<LabDef, kNumLabs> kLabs = {{
    {"hba1c", "59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol", "mmol/mol", 0,
     "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 0.09150, 2.15, 1, 20, 42},
    {"glucose", "14749-6", "Glucose [Moles/volume] in Serum or Plasma", "mmol/L", 1, "2345-7",
     "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 18.016, 0, 0, 3.9, 7.8},
    {"creatinine", "14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L", 0, "2160-0",
     "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 1.0 / 88.42, 0, 2, 45, 110},
    // LOINC 98979-8 is the term of the race-free CKD-EPI 2021 creatinine equation the model
    // computes (62238-1 is the 2009 equation's).
    {"egfr", "98979-8",
     "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood "
     "by Creatinine-based formula (CKD-EPI 2021)",
     "mL/min/{1.73_m2}", 0, "", "", "", 1, 0, 0, 60, 120},
    {"potassium", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 1, "", "", "",
     1, 0, 1, 3.5, 5.1},
    {"sodium", "2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 0, "", "", "", 1, 0,
     0, 135, 145},
    {"haemoglobin", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/L", 0, "718-7",
     "Hemoglobin [Mass/volume] in Blood", "g/dL", 0.1, 0, 1, 120, 170},
    {"leukocytes", "6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*9/L", 1,
     "6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 1, 0, 1, 4, 11},
    {"crp", "1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L", 0, "1988-5",
     "C reactive protein [Mass/volume] in Serum or Plasma", "mg/dL", 0.1, 0, 1, 0, 5},
    {"lactate", "2524-7", "Lactate [Moles/volume] in Serum or Plasma", "mmol/L", 1, "", "", "", 1,
     0, 1, 0.5, 2.2},
    {"troponin", "89579-7",
     "Troponin I.cardiac [Mass/volume] in Serum or Plasma by High sensitivity method", "ng/L", 0,
     "", "", "", 1, 0, 0, 0, 34},
}};

// Vital signs recorded on inpatient stays (one Observation each; blood pressure as a panel).
enum VitalId : uint8_t {
  kHeartRate,
  kRespiratoryRate,
  kSpO2,
  kTemperature,
  kBloodPressure,
  kConsciousness,
  kInspiredOxygen,
  kNumVitals,
};

struct VitalDef {
  std::string_view key;  // device stream name
  std::string_view loinc;
  std::string_view display;
  std::string_view unit;
};

inline constexpr std::array<VitalDef, kNumVitals> kVitals = {{
    {"heart_rate", "8867-4", "Heart rate", "/min"},
    {"respiratory_rate", "9279-1", "Respiratory rate", "/min"},
    {"spo2", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"},
    {"temperature", "8310-5", "Body temperature", "Cel"},
    {"blood_pressure", "85354-9", "Blood pressure panel with all children optional", "mm[Hg]"},
    {"consciousness", "67775-7", "Level of responsiveness", ""},
    {"inspired_oxygen", "3150-0", "Inhaled oxygen concentration", "%"},
}};

// ACVPU levels (SNOMED CT), index 0 = Alert.
struct AcvpuDef {
  char letter;
  std::string_view snomed;
  std::string_view display;
};
inline constexpr std::array<AcvpuDef, 5> kAcvpu = {{
    {'A', "248234008", "Mentally alert"},
    {'C', "130987000", "Acute confusion"},
    {'V', "300202002", "Responds to voice"},
    {'P', "450847001", "Responds to pain"},
    {'U', "422768004", "Unresponsive"},
}};

struct ProcedureDef {
  std::string_view key;
  std::string_view snomed;
  std::string_view display;
};

// The imaging procedures come first, in the order of the modalities (CR, CT, MR, US).
enum ProcedureId : uint8_t {
  kRadiography,
  kComputedTomography,
  kMagneticResonance,
  kUltrasonography,
  kPercutaneousCoronaryIntervention,
  kHaemodialysis,
  kColonoscopy,
  kNumProcedures,
};

inline constexpr std::array<ProcedureDef, kNumProcedures> kProcedures = {{
    {"radiography", "363680008", "Radiographic imaging procedure"},
    {"computed_tomography", "77477000", "Computerized axial tomography"},
    {"magnetic_resonance", "113091000", "Magnetic resonance imaging"},
    {"ultrasonography", "16310003", "Diagnostic ultrasonography"},
    {"pci", "415070008", "Percutaneous coronary intervention"},
    {"haemodialysis", "302497006", "Hemodialysis"},
    {"colonoscopy", "73761001", "Colonoscopy"},
}};

// Reason of a screening colonoscopy (no condition).
inline constexpr std::string_view kColorectalScreeningSnomed = "275978004";
inline constexpr std::string_view kColorectalScreeningDisplay =
    "Screening for malignant neoplasm of colon";

enum WardId : uint8_t {
  kWardEmergency,
  kWardMedicine,
  kWardCardiology,
  kWardRespiratory,
  kWardNeurology,
  kWardSurgery,
  kWardIcu,
  kNumWards,
};

struct WardDef {
  std::string_view code;  // part of Location ids and HL7 PV1-3
  std::string_view name;
  double bed_share;  // share of the hospital's beds
};

inline constexpr std::array<WardDef, kNumWards> kWards = {{
    {"ed", "Emergency department", 0.08},
    {"med", "General medicine ward", 0.30},
    {"car", "Cardiology ward", 0.14},
    {"res", "Respiratory ward", 0.14},
    {"neu", "Neurology and stroke unit", 0.10},
    {"sur", "Trauma and orthopaedic surgery ward", 0.16},
    {"icu", "Intensive care unit", 0.08},
}};

inline constexpr std::array<std::string_view, 32> kFemaleNames = {
    "Anna",  "Maria", "Sofia", "Emma",  "Laura",  "Julia",  "Elena",    "Sara",
    "Eva",   "Lena",  "Clara", "Ines",  "Marta",  "Chiara", "Camille",  "Louise",
    "Hanna", "Ida",   "Freya", "Alice", "Olivia", "Zofia",  "Katarina", "Agnes",
    "Lucia", "Paula", "Noemi", "Aoife", "Ingrid", "Helena", "Mila",     "Rosa"};
inline constexpr std::array<std::string_view, 32> kMaleNames = {
    "Jan",    "Lukas",  "Marco", "Luca",  "Paul",  "Pierre", "Jonas",   "David",
    "Mateo",  "Hugo",   "Erik",  "Lars",  "Piotr", "Tomas",  "Andrei",  "Nikos",
    "Javier", "Miguel", "Johan", "Felix", "Oskar", "Matteo", "Filip",   "Sean",
    "Henrik", "Karel",  "Bruno", "Dario", "Emil",  "Viktor", "Antoine", "Rui"};
inline constexpr std::array<std::string_view, 40> kFamilyNames = {
    "Muller",    "Schmidt",   "Rossi",     "Russo",     "Garcia",       "Martinez", "Martin",
    "Bernard",   "Dubois",    "Jansen",    "de Vries",  "Nowak",        "Kowalski", "Novak",
    "Horvat",    "Nagy",      "Popescu",   "Ionescu",   "Papadopoulos", "Silva",    "Santos",
    "Ferreira",  "Johansson", "Andersson", "Nielsen",   "Hansen",       "Virtanen", "Murphy",
    "Kelly",     "Peeters",   "Maes",      "Gruber",    "Huber",        "Bauer",    "Lopez",
    "Fernandez", "Bianchi",   "Romano",    "Lindqvist", "Dvorak"};

struct CityDef {
  std::string_view name;
  std::string_view country;  // ISO 3166-1 alpha-2
  int postal_base;
};
inline constexpr std::array<CityDef, 16> kCities = {{
    {"Lyon", "FR", 69000},
    {"Toulouse", "FR", 31000},
    {"Munich", "DE", 80331},
    {"Cologne", "DE", 50667},
    {"Milan", "IT", 20121},
    {"Turin", "IT", 10121},
    {"Valencia", "ES", 46001},
    {"Seville", "ES", 41001},
    {"Utrecht", "NL", 3511},
    {"Krakow", "PL", 30001},
    {"Porto", "PT", 4000},
    {"Gothenburg", "SE", 41101},
    {"Aarhus", "DK", 8000},
    {"Brno", "CZ", 60200},
    {"Ghent", "BE", 9000},
    {"Graz", "AT", 8010},
}};
inline constexpr std::array<std::string_view, 16> kStreets = {
    "Main Street",  "Station Road",  "Church Lane", "Market Square", "Park Avenue",  "Mill Road",
    "River Walk",   "School Street", "Garden Row",  "Castle Hill",   "Harbour Road", "Oak Avenue",
    "Linden Allee", "Bridge Street", "North Road",  "Hospital Lane"};

}  // namespace medlake::synth
