#include "synth/truth_vcf.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "synth/fhir_writer.h"
#include "synth/terminology.h"
#include "synth/time_format.h"

namespace medlake::synth {
namespace {

template <typename... Args>
void Put(std::string& out, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(out), f, std::forward<Args>(args)...);
}

void AppendTime(int64_t ms, std::string& out) {
  if (ms == kNever) {
    out.append("null");
    return;
  }
  out.push_back('"');
  AppendFhirDateTime(ms, out);
  out.push_back('"');
}

}  // namespace

std::string RenderTruthHeader(const PopulationModel& model) {
  const SynthConfig& c = model.config();
  nlohmann::ordered_json params = {
      {"patients", c.patients},
      {"seed", c.seed},
      {"window_start",
       [&] {
         std::string s;
         AppendFhirDateTime(model.window_start(), s);
         return s;
       }()},
      {"window_end",
       [&] {
         std::string s;
         AppendFhirDateTime(model.window_end(), s);
         return s;
       }()},
      {"years", c.years},
      {"alt_unit_share", c.alt_unit_share},
      {"research_opt_out_share", c.opt_out_share},
      {"formats",
       {{"fhir", c.formats.fhir},
        {"hl7v2", c.formats.hl7v2},
        {"vcf", c.formats.vcf},
        {"device", c.formats.device}}},
      {"hospital_beds", model.total_beds()},
  };
  nlohmann::ordered_json prevalence = nlohmann::ordered_json::object();
  nlohmann::ordered_json min_onset = nlohmann::ordered_json::object();
  for (int cond = 0; cond < kNumChronic; ++cond) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (int band = 0; band < kNumAgeBands; ++band) {
      rows.push_back(
          {BandPrevalence(cond, band, Sex::kFemale), BandPrevalence(cond, band, Sex::kMale)});
    }
    prevalence[std::string(kConditions[cond].key)] = rows;
    min_onset[std::string(kConditions[cond].key)] = MinOnsetAge(cond);
  }
  nlohmann::ordered_json model_doc = {
      {"description",
       "Liability-threshold model: latent frailty z ~ N(0,1); chronic condition c present when "
       "0.45 z + sqrt(1 - 0.45^2) e_c > Phi^-1(1 - prevalence(c, age band, sex)). Emergency "
       "visits are a Poisson process; stays draw deterioration, death and readmission from "
       "logistic models of age, comorbidity count n, z and the acute reason (docs/synth.md)."},
      {"liability_loading", kLiabilityLoading},
      {"age_bands", {"0-17", "18-39", "40-59", "60-79", "80+"}},
      {"prevalence_female_male", prevalence},
      {"min_onset_age", min_onset},
      {"emergency_visits_per_year", "0.08 + 0.12 exp(0.025 (age - 50) + 0.18 n + 0.35 z)"},
      {"p_deterioration", "logistic(-3.1 + 0.035 (age - 65) + 0.25 n + 0.55 z + severity(reason))"},
      {"p_death_if_deteriorated", "logistic(-1.5 + 0.045 (age - 70) + 0.3 z + 0.15 n)"},
      {"p_death_otherwise", "logistic(-6.2 + 0.06 (age - 65) + 0.3 n + 0.4 z)"},
      {"p_readmission_30d",
       "logistic(-2.9 + 0.25 n + 0.4 z + 0.01 (age - 65) + 0.35 min(prior_admissions_365d, 3) "
       "+ 0.4 [los > 7 d] + 0.2 [discharged to other facility])"},
  };
  std::string out = "{\"generator\":\"medlake synth 0.1.0\",\"parameters\":";
  out += params.dump();
  out += ",\"latent_model\":";
  out += model_doc.dump();
  out += ",\"patients\":[\n";
  return out;
}

void RenderTruthPatient(const PatientStory& s, std::string& out) {
  out.append("{\"patient\":\"");
  AppendPatientId(s.index, out);
  Put(out, "\",\"sex\":\"{}\",\"age_at_start\":{:.2f},\"latent_frailty\":{:.4f},\"chronic\":[",
      s.sex == Sex::kFemale ? "female" : "male", s.age_at_start, s.latent);
  bool first = true;
  for (const ConditionRec& c : s.conditions) {
    if (c.condition >= kNumChronic) continue;
    Put(out, "{}\"{}\"", first ? "" : ",", kConditions[c.condition].key);
    first = false;
  }
  Put(out,
      "],\"emergency_visits_per_year\":{:.4f},\"research_opt_out\":{},\"death\":", s.admission_rate,
      s.research_opt_out);
  AppendTime(s.death, out);
  Put(out, ",\"died_in_hospital\":{},\"pgx\":{{", s.died_in_hospital);
  for (int g = 0; g < kNumPgxGenes; ++g) {
    const PgxGene& gene = kPgxGenes[g];
    Put(out, "{}\"{}\":\"{}/{}\"", g ? "," : "", gene.name, gene.alleles[s.haplotypes[g][0]].name,
        gene.alleles[s.haplotypes[g][1]].name);
  }
  out.append("},\"stays\":[");
  first = true;
  for (size_t k = 0; k < s.encounters.size(); ++k) {
    const EncounterRec& e = s.encounters[k];
    if (e.cls != EncounterClass::kInpatient) continue;
    out.append(first ? "{\"encounter\":\"" : ",{\"encounter\":\"");
    first = false;
    AppendPatientId(s.index, out);
    Put(out, "-e{}\",\"reason\":\"{}\",\"admit\":", k,
        kConditions[s.conditions[e.reason].condition].key);
    AppendTime(e.start, out);
    out.append(",\"discharge\":");
    AppendTime(e.end, out);
    Put(out,
        ",\"p_deterioration\":{:.4f},\"p_death\":{:.4f},\"p_readmission_30d\":{:.4f},"
        "\"deteriorated\":{},\"deterioration_start\":",
        e.p_deterioration, e.p_death, e.p_readmission, e.deteriorated);
    AppendTime(e.deterioration_start, out);
    Put(out, ",\"icu\":{},\"died\":{},\"readmitted_30d\":{}}}", e.icu, e.died, e.readmitted_30d);
  }
  out.append("]}");
}

std::string RenderVcfMeta() {
  std::string o =
      "##fileformat=VCFv4.2\n##source=medlake-synth-0.1.0\n##reference=GRCh38\n"
      "##phasing=full\n";
  // GRCh38 primary assembly lengths of the chromosomes used.
  const std::pair<std::string_view, int64_t> contigs[] = {
      {"chr1", 248956422},  {"chr6", 170805979},  {"chr10", 133797422},
      {"chr12", 133275309}, {"chr13", 114364328}, {"chr16", 90338345}};
  for (const auto& [name, length] : contigs) {
    fmt::format_to(std::back_inserter(o), "##contig=<ID={},length={},assembly=GRCh38>\n", name,
                   length);
  }
  o += "##INFO=<ID=PX,Number=.,Type=String,Description=\"Pharmacogene\">\n";
  o += "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n";
  return o;
}

std::string RenderVcfFixedColumns(int v) {
  const PgxPosition& p = kPgxPositions[v];
  return fmt::format("{}\t{}\t{}\t{}\t{}\t.\tPASS\tPX={}\tGT", p.chrom, p.pos, p.id, p.ref, p.alt,
                     kPgxGenes[p.gene].name);
}

void AppendVcfGenotype(const PatientStory& story, int v, std::string& out) {
  out.push_back('\t');
  out.push_back(static_cast<char>('0' + AlleleAt(story, v, 0)));
  out.push_back('|');
  out.push_back(static_cast<char>('0' + AlleleAt(story, v, 1)));
}

}  // namespace medlake::synth
