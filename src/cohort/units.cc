#include "cohort/units.h"

#include <array>

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
// Clin Chem 2004;50:166-174): NGSP(%) = 0.09148 * IFCC(mmol/mol) + 2.152.
constexpr std::array<std::string_view, 5> kHbA1c = {"4548-4", "17856-6", "59261-8", "4549-2",
                                                    "41995-2"};
constexpr double kNgspSlope = 0.09148;
constexpr double kNgspIntercept = 2.152;

bool IsHbA1c(std::string_view system, std::string_view code) {
  if (system != kLoinc) return false;
  for (auto c : kHbA1c)
    if (c == code) return true;
  return false;
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
  if (IsHbA1c(system, code)) {
    // % and mmol/mol are both dimensionless in UCUM, but not a scaling of one another here.
    if (from == "mmol/mol" && to == "%") return Affine{kNgspSlope, kNgspIntercept};
    if (from == "%" && to == "mmol/mol")
      return Affine{1.0 / kNgspSlope, -kNgspIntercept / kNgspSlope};
    return std::nullopt;
  }
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
