#include "cohort/units.h"

#include <array>
#include <string>

#include "fhirpath/value.h"

namespace medlake::cohort {

namespace {

constexpr std::string_view kLoinc = "http://loinc.org";

// Analytes whose mass and substance concentrations are related by a fixed molar mass (g/mol),
// by the LOINC codes of their mass and molar measurements (LOINC 2.7x parts; molar masses from
// the IUPAC atomic weights).
struct Analyte {
  double molar_mass;
  std::array<std::string_view, 9> loinc;
};
constexpr std::array<Analyte, 5> kAnalytes = {{
    // Glucose C6H12O6: serum/plasma, blood, capillary blood (mass and moles), and fasting
    // serum/plasma (1558-6 mass, 14771-0 moles; 1554-5 after a 12-hour fast).
    {180.156,
     {"2345-7", "14749-6", "2339-0", "15074-8", "41653-7", "14743-9", "1558-6", "14771-0",
      "1554-5"}},
    // Creatinine C4H7N3O: serum/plasma, blood.
    {113.12, {"2160-0", "14682-9", "38483-4", "59826-8"}},
    // Urea nitrogen (BUN, mg/dL) and urea (mmol/L): one urea molecule holds 2 N = 28.014 g/mol.
    {28.014, {"3094-0", "22664-7", "6299-2"}},
    // Total cholesterol C27H46O.
    {386.65, {"2093-3", "14647-2"}},
    // Haemoglobin as the Hb(Fe) monomer, the basis of SI reporting in mmol/L.
    {16'114.5, {"718-7", "59260-0"}},
}};

// Temperatures are on scales with different zeros: UCUM defines Cel as K - 273.15 and [degF]
// as 5/9 K with 32 [degF] = 0 Cel. An affine map, which a scaling (ConvertUnit) cannot give.
std::optional<Affine> TemperatureConversion(std::string_view from, std::string_view to) {
  auto to_kelvin = [](std::string_view u) -> std::optional<Affine> {
    if (u == "K") return Affine{1, 0};
    if (u == "Cel") return Affine{1, 273.15};
    if (u == "[degF]") return Affine{5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0};
    return std::nullopt;
  };
  auto f = to_kelvin(from), t = to_kelvin(to);
  if (!f || !t) return std::nullopt;
  // kelvin = f.scale * v + f.offset; v' = (kelvin - t.offset) / t.scale.
  return Affine{f->scale / t->scale, (f->offset - t->offset) / t->scale};
}

// HbA1c in NGSP/DCCT % and IFCC mmol/mol. The IFCC-NGSP master equation (Hoelzel W et al.,
// Clin Chem 2004;50:166-174): NGSP(%) = 0.09148 * IFCC(mmol/mol) + 2.152. The two scales have
// different reference methods, so the relation is affine, never the x10 of a UCUM scaling.
constexpr double kNgspSlope = 0.09148;
constexpr double kNgspIntercept = 2.152;

// The codes whose results are HbA1c as a fraction of total haemoglobin, and whether a result
// in % is on the NGSP/DCCT scale (the one the master equation relates to IFCC mmol/mol). LOINC
// meanings (LOINC 2.7x long common names):
//   4548-4  Hemoglobin A1c/Hemoglobin.total in Blood
//   4549-2  ... in Blood by Electrophoresis
//   17855-8 ... in Blood by calculation
//   17856-6 ... in Blood by HPLC
//   71875-9 Hemoglobin A1c/Hemoglobin.total [Pure mass fraction] in Blood
//   96595-4 Hemoglobin A1c/Hemoglobin.total in DBS (dried blood spot)
//   59261-8 Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol: mmol/mol; a % under it
//           would be the former IFCC % (mmol/mol / 10), not NGSP, so % does not convert.
// SNOMED CT 43396009 |Hemoglobin A1c measurement (procedure)| names no scale: a % result is
// taken as NGSP, as the consensus statement on the worldwide standardization of HbA1c
// (Diabetes Care 2007;30:2399) has % reported in NGSP units derived by the master equation.
// Not here: 41995-2 (Hemoglobin A1c [Mass/volume] in Blood, e.g. g/dL: converted by UCUM like
// any mass concentration) and 62388-4 (... by JDS/JSCC protocol: its % is the Japanese scale,
// which the NGSP master equation does not fit), whose % never becomes mmol/mol.
struct HbA1cCode {
  std::string_view system;
  std::string_view code;
  bool percent_is_ngsp;
};
constexpr std::string_view kSnomed = "http://snomed.info/sct";
constexpr std::array<HbA1cCode, 8> kHbA1c = {{
    {kLoinc, "4548-4", true},
    {kLoinc, "4549-2", true},
    {kLoinc, "17855-8", true},
    {kLoinc, "17856-6", true},
    {kLoinc, "71875-9", true},
    {kLoinc, "96595-4", true},
    {kLoinc, "59261-8", false},
    {kSnomed, "43396009", true},
}};

const HbA1cCode* FindHbA1c(std::string_view system, std::string_view code) {
  for (const HbA1cCode& h : kHbA1c)
    if (h.system == system && h.code == code) return &h;
  return nullptr;
}

// A UCUM unit without its annotations ("%{HbA1c}" is "%"): in UCUM, text in curly braces is
// an annotation that does not change the unit.
std::string Bare(std::string_view unit) {
  std::string out;
  int depth = 0;
  for (char c : unit) {
    if (c == '{') ++depth;
    if (depth == 0) out += c;
    if (c == '}' && depth > 0) --depth;
  }
  return out;
}

// In UCUM a substance fraction (mmol/mol: the moles cancel) and a plain ratio (%, 1) are both
// dimensionless, so a UCUM conversion scales one into the other: 6 % would be 60 mmol/mol. A
// mass or number fraction and a substance fraction are different kinds of quantity (LOINC MFr
// and SFr): only an analyte-specific relation converts between them, never a scaling.
// UCUM's equivalents (eq, meq) are moles too: 128 mmol/L of sodium is 128 meq/L.
bool NamesMol(std::string_view unit) {
  return unit.find("mol") != std::string_view::npos || unit.find("eq") != std::string_view::npos;
}

const Analyte* FindAnalyte(std::string_view system, std::string_view code) {
  if (system != kLoinc) return nullptr;
  for (const auto& a : kAnalytes)
    for (auto c : a.loinc)
      if (!c.empty() && c == code) return &a;
  return nullptr;
}

std::optional<double> Factor(std::string_view from, std::string_view to) {
  return fhirpath::ConvertUnit(1.0, from, to);
}

}  // namespace

std::optional<Affine> UnitConversion(std::string_view system, std::string_view code,
                                     std::string_view from, std::string_view to) {
  if (from == to) return Affine{};
  if (from.empty() || to.empty()) return std::nullopt;
  const std::string bare_from = Bare(from);
  const std::string bare_to = Bare(to);
  // Annotations do not change a unit: "%{HbA1c}" is "%".
  if (bare_from == bare_to) return Affine{};
  const HbA1cCode* hba1c = FindHbA1c(system, code);
  // The conversion is chosen by the pair of units, then the analyte: % <-> mmol/mol is the
  // master equation for a known HbA1c code and nothing for any other.
  if (bare_from == "mmol/mol" && bare_to == "%") {
    if (!hba1c) return std::nullopt;
    return Affine{kNgspSlope, kNgspIntercept};
  }
  if (bare_from == "%" && bare_to == "mmol/mol") {
    if (!hba1c || !hba1c->percent_is_ngsp) return std::nullopt;
    return Affine{1.0 / kNgspSlope, -kNgspIntercept / kNgspSlope};
  }
  // HbA1c fractions in other units (an NGSP "%" against a bare ratio "1", an IFCC fraction in
  // "mmol/mol" against "1") are ambiguous between the two scales.
  if (hba1c) return std::nullopt;
  if (NamesMol(bare_from) != NamesMol(bare_to) && Factor(from, to)) return std::nullopt;
  if (auto t = TemperatureConversion(from, to)) return t;
  if (auto f = Factor(from, to)) return Affine{*f, 0};
  if (const Analyte* a = FindAnalyte(system, code)) {
    // mass concentration -> g/L -> mol/L -> target, or the reverse.
    if (auto to_gl = Factor(from, "g/L")) {
      if (auto from_moll = Factor("mol/L", to))
        return Affine{*to_gl / a->molar_mass * *from_moll, 0};
    }
    if (auto to_moll = Factor(from, "mol/L")) {
      if (auto from_gl = Factor("g/L", to)) return Affine{*to_moll * a->molar_mass * *from_gl, 0};
    }
  }
  return std::nullopt;
}

}  // namespace medlake::cohort
