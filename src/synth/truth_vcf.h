// Ground truth (truth.json) and genotype (VCF 4.2) rendering. Pure functions of the story and
// configuration; thread-safe.
#pragma once

#include <string>

#include "synth/pgx.h"
#include "synth/population.h"
#include "synth/story.h"

namespace medlake::synth {

// The opening of truth.json up to and including `"patients":[`: generation parameters and the
// latent model's description and coefficients.
std::string RenderTruthHeader(const PopulationModel& model);
inline constexpr std::string_view kTruthFooter = "\n]}\n";

// One patient's truth object (no trailing separator): latent frailty, chronic conditions,
// pharmacogene diplotypes, death, and per-stay latent risks and outcomes.
void RenderTruthPatient(const PatientStory& story, std::string& out);

// VCF 4.2 meta-information lines (contigs, INFO, FORMAT), ending before the #CHROM line.
std::string RenderVcfMeta();
// The fixed columns (CHROM..FORMAT) of variant row `v` (no trailing tab).
std::string RenderVcfFixedColumns(int v);
// Appends "\t<a>|<b>" for variant `v` of `story` to `out`.
void AppendVcfGenotype(const PatientStory& story, int v, std::string& out);

}  // namespace medlake::synth
