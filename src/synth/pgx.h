// Pharmacogene star alleles and their defining variants (GRCh38), with approximate European
// allele frequencies (sources in docs/synth.md). Haplotypes are drawn independently per gene
// (Hardy-Weinberg); each star allele sets one or more variants in cis. Constant data and pure
// functions: thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "synth/rng.h"
#include "synth/story.h"

namespace medlake::synth {

struct PgxVariant {
  std::string_view chrom;
  int64_t pos;  // GRCh38, 1-based
  std::string_view rsid;
  std::string_view ref;
  std::string_view alt;
  uint8_t gene;  // index into kPgxGenes
};

// Sorted by chromosome (in kPgxContigs order) and position, as VCF requires.
inline constexpr std::array<PgxVariant, 15> kPgxVariants = {{
    {"chr1", 97082391, "rs67376798", "T", "A", 6},
    {"chr1", 97450058, "rs3918290", "C", "T", 6},
    {"chr1", 97515787, "rs55886062", "A", "C", 6},
    {"chr1", 97579893, "rs75017182", "G", "C", 6},
    {"chr6", 18130687, "rs1142345", "T", "C", 4},
    {"chr6", 18138997, "rs1800460", "C", "T", 4},
    {"chr6", 18143724, "rs1800462", "C", "G", 4},
    {"chr10", 94761900, "rs12248560", "C", "T", 0},
    {"chr10", 94780653, "rs4986893", "G", "A", 0},
    {"chr10", 94781859, "rs4244285", "G", "A", 0},
    {"chr10", 94942290, "rs1799853", "C", "T", 1},
    {"chr10", 94981296, "rs1057910", "A", "C", 1},
    {"chr12", 21178615, "rs4149056", "T", "C", 3},
    {"chr13", 48045719, "rs116855232", "C", "T", 5},
    {"chr16", 31096368, "rs9923231", "C", "T", 2},
}};

inline constexpr std::array<std::string_view, 6> kPgxContigs = {"chr1",  "chr6",  "chr10",
                                                                "chr12", "chr13", "chr16"};

struct PgxAllele {
  std::string_view name;
  double frequency;       // European allele frequency; allele 0 takes the remainder
  uint32_t variant_mask;  // bits over kPgxVariants set by this haplotype
};

struct PgxGene {
  std::string_view name;
  int num_alleles;
  std::array<PgxAllele, 5> alleles;
};

inline constexpr uint32_t Bit(int i) {
  return 1u << i;
}

inline constexpr std::array<PgxGene, kNumPgxGenes> kPgxGenes = {{
    {"CYP2C19",
     4,
     {{{"*1", 0, 0}, {"*2", 0.150, Bit(9)}, {"*3", 0.002, Bit(8)}, {"*17", 0.210, Bit(7)}}}},
    {"CYP2C9", 3, {{{"*1", 0, 0}, {"*2", 0.127, Bit(10)}, {"*3", 0.069, Bit(11)}}}},
    {"VKORC1", 2, {{{"-1639G", 0, 0}, {"-1639A", 0.390, Bit(14)}}}},
    {"SLCO1B1", 2, {{{"521T", 0, 0}, {"521C", 0.160, Bit(12)}}}},
    {"TPMT",
     4,
     {{{"*1", 0, 0},
       {"*3A", 0.034, Bit(4) | Bit(5)},
       {"*3C", 0.004, Bit(4)},
       {"*2", 0.002, Bit(6)}}}},
    {"NUDT15", 2, {{{"*1", 0, 0}, {"*3", 0.002, Bit(13)}}}},
    {"DPYD",
     5,
     {{{"Reference", 0, 0},
       {"c.2846A>T", 0.004, Bit(0)},
       {"c.1905+1G>A (*2A)", 0.008, Bit(1)},
       {"c.1679T>G (*13)", 0.001, Bit(2)},
       {"c.1129-5923C>G (HapB3)", 0.024, Bit(3)}}}},
}};

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

// 0 or 1: the allele that haplotype `h` of `story` carries at variant `v`.
inline int AlleleAt(const PatientStory& story, int v, int h) {
  const PgxVariant& var = kPgxVariants[v];
  const PgxGene& gene = kPgxGenes[var.gene];
  return (gene.alleles[story.haplotypes[var.gene][h]].variant_mask & Bit(v)) != 0 ? 1 : 0;
}

}  // namespace medlake::synth
