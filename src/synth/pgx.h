// Pharmacogene star alleles with approximate European allele frequencies (sources in
// docs/synth.md); their alleles at every PharmCAT position of the gene (GRCh38) are in
// pgx_positions.h. Haplotypes are drawn independently per gene (Hardy-Weinberg). Constant
// data and pure functions: thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "synth/pgx_positions.h"
#include "synth/rng.h"
#include "synth/story.h"

namespace medlake::synth {

inline constexpr std::array<std::string_view, 6> kPgxContigs = {"chr1",  "chr6",  "chr10",
                                                                "chr12", "chr13", "chr16"};

struct PgxAllele {
  std::string_view name;  // PharmCAT's named allele
  double frequency;       // European allele frequency; allele 0 takes the remainder
};

struct PgxGene {
  std::string_view name;
  int num_alleles;
  std::array<PgxAllele, 5> alleles;
};

// The alleles' variants are in pgx_positions.h (PharmCAT's definitions). SLCO1B1: haplotypes
// with c.521T>C are *15 (with c.388A>G, the commonest 521C haplotype in Europeans), the others
// *1 (c.388A>G alone, *37, is not drawn). DPYD HapB3 carries c.1129-5923C>G and c.1236G>A.
inline constexpr std::array<PgxGene, kNumPgxGenes> kPgxGenes = {{
    {"CYP2C19", 4, {{{"*1", 0}, {"*2", 0.150}, {"*3", 0.002}, {"*17", 0.210}}}},
    {"CYP2C9", 3, {{{"*1", 0}, {"*2", 0.127}, {"*3", 0.069}}}},
    {"VKORC1", 2, {{{"rs9923231 reference (C)", 0}, {"rs9923231 variant (T)", 0.390}}}},
    {"SLCO1B1", 2, {{{"*1", 0}, {"*15", 0.160}}}},
    {"TPMT", 4, {{{"*1", 0}, {"*3A", 0.034}, {"*3C", 0.004}, {"*2", 0.002}}}},
    {"NUDT15", 2, {{{"*1", 0}, {"*3", 0.002}}}},
    {"DPYD",
     5,
     {{{"Reference", 0},
       {"c.2846A>T", 0.004},
       {"c.1905+1G>A (*2A)", 0.008},
       {"c.1679T>G (*13)", 0.001},
       {"c.1129-5923C>G, c.1236G>A (HapB3)", 0.024}}}},
}};

// AlleleAt reads an allele's calls at the allele's index: the generated table must list the
// alleles of each gene as kPgxGenes does (checked by every build).
constexpr bool PgxTablesAgree() {
  for (size_t g = 0; g < kPgxGenes.size(); ++g) {
    for (int a = 0; a < kPgxGenes[g].num_alleles; ++a) {
      if (kPgxGenes[g].alleles[a].name != kPgxAlleleCalls[g][a].name) return false;
    }
  }
  return true;
}
static_assert(kPgxGenes.size() == kPgxAlleleCalls.size() && PgxTablesAgree(),
              "pgx_positions.h lists other alleles than kPgxGenes: run "
              "scripts/gen_synth_pgx_positions.py");

// Draws both haplotypes of every gene into story.haplotypes.
inline void DrawHaplotypes(Rng& rng, PatientStory& story) {
  for (int g = 0; g < kNumPgxGenes; ++g) {
    const PgxGene& gene = kPgxGenes[g];
    for (int h = 0; h < 2; ++h) {
      double x = rng.Uniform();
      uint8_t chosen = 0;
      for (int a = 1; a < gene.num_alleles; ++a) {
        if (x < gene.alleles[a].frequency) {
          chosen = static_cast<uint8_t>(a);
          break;
        }
        x -= gene.alleles[a].frequency;
      }
      story.haplotypes[g][h] = chosen;
    }
  }
}

// The VCF allele index (0 = REF) that haplotype `h` of `story` carries at position `v` of
// kPgxPositions.
inline int AlleleAt(const PatientStory& story, int v, int h) {
  const PgxPosition& p = kPgxPositions[v];
  return kPgxAlleleCalls[p.gene][story.haplotypes[p.gene][h]].gt[p.index] - '0';
}

}  // namespace medlake::synth
