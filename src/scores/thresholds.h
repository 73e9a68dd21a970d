// Internal: the NEWS2 chart 1 threshold tables (RCP, National Early Warning Score (NEWS) 2,
// December 2017, chart 1), written so a sub-score is a branch-free count of the lower bounds
// a value reaches, used as an index into the scores of the bands.
#pragma once

#include <array>
#include <climits>
#include <cstdint>

namespace medlake::scores {

struct ThresholdTable {
  // Lowest value of each band after the first, ascending; unused slots hold INT32_MAX.
  std::array<int32_t, 6> lower_bounds;
  // Score of band 0 (below lower_bounds[0]), band 1, ...
  std::array<int8_t, 7> scores;

  constexpr int Score(int32_t v) const {
    int band = 0;
    for (int32_t bound : lower_bounds) band += v >= bound;
    return scores[band];
  }
};

inline constexpr int32_t kUnused = INT32_MAX;

// Respiration rate: <=8 → 3, 9-11 → 1, 12-20 → 0, 21-24 → 2, >=25 → 3.
inline constexpr ThresholdTable kRespirationTable = {{9, 12, 21, 25, kUnused, kUnused},
                                                     {3, 1, 0, 2, 3, 0, 0}};
// SpO2 scale 1: <=91 → 3, 92-93 → 2, 94-95 → 1, >=96 → 0.
inline constexpr ThresholdTable kSpO2Scale1Table = {{92, 94, 96, kUnused, kUnused, kUnused},
                                                    {3, 2, 1, 0, 0, 0, 0}};
// SpO2 scale 2 on air: <=83 → 3, 84-85 → 2, 86-87 → 1, 88-92 and >=93 on air → 0.
inline constexpr ThresholdTable kSpO2Scale2AirTable = {{84, 86, 88, kUnused, kUnused, kUnused},
                                                       {3, 2, 1, 0, 0, 0, 0}};
// SpO2 scale 2 on oxygen: as on air up to 92, then 93-94 → 1, 95-96 → 2, >=97 → 3.
inline constexpr ThresholdTable kSpO2Scale2OxygenTable = {{84, 86, 88, 93, 95, 97},
                                                          {3, 2, 1, 0, 1, 2, 3}};
// Systolic blood pressure: <=90 → 3, 91-100 → 2, 101-110 → 1, 111-219 → 0, >=220 → 3.
inline constexpr ThresholdTable kSystolicTable = {{91, 101, 111, 220, kUnused, kUnused},
                                                  {3, 2, 1, 0, 3, 0, 0}};
// Pulse: <=40 → 3, 41-50 → 1, 51-90 → 0, 91-110 → 1, 111-130 → 2, >=131 → 3.
inline constexpr ThresholdTable kPulseTable = {{41, 51, 91, 111, 131, kUnused},
                                               {3, 1, 0, 1, 2, 3, 0}};
// Temperature in tenths of °C: <=35.0 → 3, 35.1-36.0 → 1, 36.1-38.0 → 0, 38.1-39.0 → 1,
// >=39.1 → 2.
inline constexpr ThresholdTable kTemperatureTable = {{351, 361, 381, 391, kUnused, kUnused},
                                                     {3, 1, 0, 1, 2, 0, 0}};

// Round half up for the non-negative, bounded values IsValidReading accepts.
inline int32_t RoundToInt(double v) {
  return static_cast<int32_t>(v + 0.5);
}

}  // namespace medlake::scores
