// Cohort evaluation vs the same cohorts as SQL over equivalent flat tables in DuckDB.
//
// Usage: medlake_bench_cohort LAKE [REPEAT]
// Builds the cohort index of LAKE, loads the same facts into DuckDB (in memory) as two flat
// tables, patients(patient, sex, birth_ms, deceased_ms, deceased_undated) and events(patient,
// row_id, type, system, code, start_ms, end_ms, value, unit), one row per coding as a
// SQL-on-FHIR flattening gives them, then times five representative cohorts both ways (median
// of REPEAT warm runs) and checks that both give the same count.
#include <duckdb.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cohort/cohort_index.h"
#include "cohort/definition.h"
#include "cohort/evaluator.h"
#include "common/fhir_time.h"
#include "median.h"

namespace {

using medlake::bench::Median;

using medlake::cohort::CohortIndex;

double Ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

struct Duck {
  duckdb_database db = nullptr;
  duckdb_connection con = nullptr;
  ~Duck() {
    if (con) duckdb_disconnect(&con);
    if (db) duckdb_close(&db);
  }
  void Exec(const std::string& sql) {
    duckdb_result r;
    if (duckdb_query(con, sql.c_str(), &r) == DuckDBError) {
      std::fprintf(stderr, "duckdb: %s\n", duckdb_result_error(&r));
      std::exit(1);
    }
    duckdb_destroy_result(&r);
  }
  int64_t Count(const std::string& sql) {
    duckdb_result r;
    if (duckdb_query(con, sql.c_str(), &r) == DuckDBError) {
      std::fprintf(stderr, "duckdb: %s\n", duckdb_result_error(&r));
      std::exit(1);
    }
    int64_t n = duckdb_value_int64(&r, 0, 0);
    duckdb_destroy_result(&r);
    return n;
  }
};

void Load(const CohortIndex& index, Duck& duck) {
  duck.Exec(
      "CREATE TABLE patients(patient UINTEGER, sex VARCHAR, birth_ms BIGINT, deceased_ms BIGINT, "
      "deceased_undated BOOLEAN)");
  duck.Exec(
      "CREATE TABLE events(patient UINTEGER, row_id UINTEGER, type VARCHAR, system VARCHAR, code "
      "VARCHAR, start_ms BIGINT, end_ms BIGINT, value DOUBLE, unit VARCHAR)");
  duckdb_appender a;
  duckdb_appender_create(duck.con, nullptr, "patients", &a);
  static const char* kSex[] = {nullptr, "male", "female", "other", "unknown"};
  for (uint32_t p : index.patients()) {
    const auto& f = index.facts(p);
    duckdb_append_uint32(a, p);
    const char* sex = kSex[static_cast<int>(f.sex)];
    sex ? duckdb_append_varchar(a, sex) : duckdb_append_null(a);
    f.birth_ms == medlake::kNoTime ? duckdb_append_null(a) : duckdb_append_int64(a, f.birth_ms);
    bool undated = f.deceased_ms == medlake::cohort::kDeceasedUndated;
    f.deceased_ms == medlake::kNoTime || undated ? duckdb_append_null(a)
                                                 : duckdb_append_int64(a, f.deceased_ms);
    duckdb_append_bool(a, undated);
    duckdb_appender_end_row(a);
  }
  duckdb_appender_destroy(&a);
  duckdb_appender_create(duck.con, nullptr, "events", &a);
  for (const auto& e : index.entries()) {
    const auto& code = index.codes()[e.code];
    const std::string& type = index.types()[e.type];
    size_t k = 0;
    for (uint32_t p : e.patients) {
      for (uint32_t i = e.offsets[k]; i < e.offsets[k + 1]; ++i) {
        const auto& ev = e.events[i];
        duckdb_append_uint32(a, p);
        duckdb_append_uint32(a, ev.row);
        duckdb_append_varchar_length(a, type.data(), type.size());
        duckdb_append_varchar_length(a, code.system.data(), code.system.size());
        duckdb_append_varchar_length(a, code.code.data(), code.code.size());
        ev.start == medlake::kNoTime ? duckdb_append_null(a) : duckdb_append_int64(a, ev.start);
        ev.end == medlake::kNoTime ? duckdb_append_null(a) : duckdb_append_int64(a, ev.end);
        std::isnan(ev.value) ? duckdb_append_null(a) : duckdb_append_double(a, ev.value);
        if (ev.unit == medlake::cohort::kNoUnit) {
          duckdb_append_null(a);
        } else {
          const auto& u = index.units()[ev.unit];
          duckdb_append_varchar_length(a, u.data(), u.size());
        }
        duckdb_appender_end_row(a);
      }
      ++k;
    }
  }
  duckdb_appender_destroy(&a);
}

struct Cohort {
  const char* name;
  const char* kind;
  std::string json;
  std::string sql;
};

const std::string kCodesets = R"("codesets": {
  "t2dm": [{"system": "http://snomed.info/sct", "codes": ["44054006"]}, {"system": "http://hl7.org/fhir/sid/icd-10", "prefix": ["E11"]}],
  "htn": [{"system": "http://snomed.info/sct", "codes": ["38341003"]}, {"system": "http://hl7.org/fhir/sid/icd-10", "prefix": ["I10"]}],
  "hf": [{"system": "http://snomed.info/sct", "codes": ["84114007"]}, {"system": "http://hl7.org/fhir/sid/icd-10", "prefix": ["I50"]}],
  "mi": [{"system": "http://snomed.info/sct", "codes": ["22298006"]}, {"system": "http://hl7.org/fhir/sid/icd-10", "prefix": ["I21"]}],
  "hba1c": [{"system": "http://loinc.org", "codes": ["4548-4", "17856-6", "59261-8"]}],
  "metformin": [{"system": "http://www.whocc.no/atc", "prefix": ["A10BA02"]}, {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "codes": ["6809", "860975"]}],
  "insulin": [{"system": "http://www.whocc.no/atc", "prefix": ["A10A"]}],
  "egfr": [{"system": "http://loinc.org", "codes": ["98979-8", "62238-1"]}]
})";

// SQL predicates of the same code sets.
const std::string kT2dm =
    "((system = 'http://snomed.info/sct' AND code = '44054006') OR (system = "
    "'http://hl7.org/fhir/sid/icd-10' AND code LIKE 'E11%'))";
const std::string kHtn =
    "((system = 'http://snomed.info/sct' AND code = '38341003') OR (system = "
    "'http://hl7.org/fhir/sid/icd-10' AND code LIKE 'I10%'))";
const std::string kHf =
    "((system = 'http://snomed.info/sct' AND code = '84114007') OR (system = "
    "'http://hl7.org/fhir/sid/icd-10' AND code LIKE 'I50%'))";
const std::string kMi =
    "((system = 'http://snomed.info/sct' AND code = '22298006') OR (system = "
    "'http://hl7.org/fhir/sid/icd-10' AND code LIKE 'I21%'))";

std::vector<Cohort> Cohorts() {
  const int64_t index = medlake::ParseFhirTime("2023-07-01")->start;
  const int64_t day = 86'400'000;
  const std::string I = std::to_string(index);
  const std::string D = std::to_string(day);
  const std::string Y = std::to_string(365 * day);
  const std::string H = std::to_string(182 * day);
  std::vector<Cohort> c;
  c.push_back({"C1 T2DM and hypertension, no heart failure", "code sets",
               R"({"medlake_cohort": 1, )" + kCodesets + R"(, "index": {"date": "2023-07-01"},
        "inclusion": [{"criterion": {"event": {"codeset": "t2dm"}}}, {"criterion": {"event": {"codeset": "htn"}}}],
        "exclusion": [{"criterion": {"event": {"codeset": "hf"}}}]})",
               "SELECT count(*) FROM patients WHERE patient IN (SELECT patient FROM events WHERE " +
                   kT2dm + ") AND patient IN (SELECT patient FROM events WHERE " + kHtn +
                   ") AND patient NOT IN (SELECT patient FROM events WHERE " + kHf + ")"});
  c.push_back(
      {"C2 cardiometabolic drug or I* diagnosis, no antidepressant", "code sets",
       R"({"medlake_cohort": 1, "index": {"date": "2023-07-01"},
        "inclusion": [{"criterion": {"any": [
            {"event": {"codes": [{"system": "http://www.whocc.no/atc", "prefix": ["C", "A10"]}]}},
            {"event": {"codes": [{"system": "http://hl7.org/fhir/sid/icd-10", "prefix": ["I"]}]}}]}}],
        "exclusion": [{"criterion": {"event": {"codes": [{"system": "http://www.whocc.no/atc", "prefix": ["N06A"]}]}}}]})",
       "SELECT count(*) FROM patients WHERE patient IN (SELECT patient FROM events WHERE (system = "
       "'http://www.whocc.no/atc' AND (code LIKE 'C%' OR code LIKE 'A10%')) OR (system = "
       "'http://hl7.org/fhir/sid/icd-10' AND code LIKE 'I%')) AND patient NOT IN (SELECT patient "
       "FROM events WHERE system = 'http://www.whocc.no/atc' AND code LIKE 'N06A%')"});
  std::string age_40_75 =
      "birth_ms IS NOT NULL AND date_sub('year', epoch_ms(birth_ms)::DATE, DATE '2023-07-01') "
      "BETWEEN 40 AND 75";
  std::string t2dm_year =
      "patient IN (SELECT patient FROM events WHERE type = 'Condition' AND " + kT2dm +
      " AND start_ms IS NOT NULL GROUP BY patient HAVING min(start_ms) <= " + I + " - " + Y + ")";
  c.push_back({"C3 women 40-75 with T2DM for a year", "temporal",
               R"({"medlake_cohort": 1, )" + kCodesets + R"(, "index": {"date": "2023-07-01"},
        "inclusion": [{"criterion": {"sex": ["female"]}}, {"criterion": {"age": {"min": 40, "max": 75}}},
          {"criterion": {"event": {"type": "Condition", "codeset": "t2dm", "select": "first", "window": {"end": {"days": -365}}}}}]})",
               "SELECT count(*) FROM patients WHERE sex = 'female' AND " + age_40_75 + " AND " +
                   t2dm_year});
  c.push_back(
      {"C4 the T2DM trial (examples/cohorts)", "temporal + values",
       R"({"medlake_cohort": 1, )" + kCodesets + R"(, "index": {"date": "2023-07-01"},
        "inclusion": [{"criterion": {"age": {"min": 40, "max": 75}}}, {"criterion": {"deceased": false}},
          {"criterion": {"event": {"type": "Condition", "codeset": "t2dm", "select": "first", "window": {"end": {"days": -365}}}}},
          {"criterion": {"event": {"type": "Observation", "codeset": "hba1c", "select": "last",
             "window": {"start": {"days": -182}, "end": {"days": 0}}, "value": {"op": ">", "value": 7.5, "unit": "%"}}}},
          {"criterion": {"event": {"type": ["MedicationRequest", "MedicationStatement"], "codeset": "metformin", "window": {"end": {"days": 0}}}}}],
        "exclusion": [
          {"criterion": {"event": {"type": ["MedicationRequest", "MedicationStatement"], "codeset": "insulin", "window": {"end": {"days": 0}}}}},
          {"criterion": {"event": {"type": "Observation", "codeset": "egfr", "window": {"start": {"days": -365}, "end": {"days": 0}},
             "value": {"op": "<", "value": 30, "unit": "mL/min/{1.73_m2}"}}}}]})",
       "WITH last_a1c AS (SELECT patient, start_ms, CASE unit WHEN '%' THEN value WHEN 'mmol/mol' "
       "THEN 0.09148 * value + 2.152 END AS pct, row_number() OVER (PARTITION BY patient ORDER BY "
       "start_ms DESC, row_id DESC) AS rn FROM events WHERE type = 'Observation' AND system = "
       "'http://loinc.org' AND code IN ('4548-4', '17856-6', '59261-8') AND start_ms IS NOT NULL "
       "AND start_ms <= " +
           I + ") SELECT count(*) FROM patients WHERE " + age_40_75 +
           " AND NOT (deceased_undated OR coalesce(deceased_ms <= " + I + " + " + D +
           " - 1, false)) AND " + t2dm_year +
           " AND patient IN (SELECT patient FROM last_a1c WHERE rn = 1 AND start_ms >= " + I +
           " - " + H +
           " AND pct > 7.5) AND patient IN (SELECT patient FROM events WHERE type IN "
           "('MedicationRequest', 'MedicationStatement') AND ((system = 'http://www.whocc.no/atc' "
           "AND code LIKE 'A10BA02%') OR (system = "
           "'http://www.nlm.nih.gov/research/umls/rxnorm' AND code IN ('6809', '860975'))) AND "
           "start_ms <= " +
           I +
           ") AND patient NOT IN (SELECT patient FROM events WHERE type IN ('MedicationRequest', "
           "'MedicationStatement') AND system = 'http://www.whocc.no/atc' AND code LIKE 'A10A%' "
           "AND start_ms <= " +
           I +
           ") AND patient NOT IN (SELECT patient FROM events WHERE type = 'Observation' AND system "
           "= 'http://loinc.org' AND code IN ('98979-8', '62238-1') AND start_ms BETWEEN " +
           I + " - " + Y + " AND " + I + " AND unit = 'mL/min/{1.73_m2}' AND value < 30)"});
  const int64_t y0 = medlake::ParseFhirTime("2022-01-01")->start;
  const int64_t y1 = medlake::ParseFhirTime("2022-12-31")->end;
  c.push_back(
      {"C5 first 2022 admission, 65+, heart failure, no MI in the year before", "index event",
       R"({"medlake_cohort": 1, )" + kCodesets + R"(,
        "index": {"event": {"type": "Encounter", "codes": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "codes": ["IMP"]}],
                            "window": {"start": {"date": "2022-01-01"}, "end": {"date": "2022-12-31"}}}, "select": "first"},
        "inclusion": [{"criterion": {"age": {"min": 65}}},
          {"criterion": {"event": {"codeset": "hf", "window": {"end": {"days": 0}}}}}],
        "exclusion": [{"criterion": {"event": {"codeset": "mi", "window": {"start": {"days": -365}, "end": {"days": 0}}}}}]})",
       "WITH idx AS (SELECT e.patient, min(e.start_ms) AS i FROM events e JOIN patients p ON "
       "p.patient = e.patient WHERE e.type = 'Encounter' AND e.system = "
       "'http://terminology.hl7.org/CodeSystem/v3-ActCode' AND e.code = 'IMP' AND e.start_ms "
       "BETWEEN " +
           std::to_string(y0) + " AND " + std::to_string(y1) +
           " GROUP BY e.patient) SELECT count(*) FROM idx JOIN patients p ON p.patient = "
           "idx.patient WHERE p.birth_ms IS NOT NULL AND date_sub('year', "
           "epoch_ms(p.birth_ms)::DATE, epoch_ms(idx.i)::DATE) >= 65 AND EXISTS (SELECT 1 FROM "
           "events e WHERE e.patient = idx.patient AND " +
           kHf +
           " AND e.start_ms <= idx.i) AND NOT EXISTS (SELECT 1 FROM events e WHERE e.patient = "
           "idx.patient AND " +
           kMi + " AND e.start_ms BETWEEN idx.i - " + Y + " AND idx.i)"});
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s LAKE [REPEAT]\n", argv[0]);
    return 2;
  }
  int repeat = argc > 2 ? std::atoi(argv[2]) : 5;
  auto lake = medlake::Lake::Open(argv[1]);
  if (!lake.ok()) {
    std::fprintf(stderr, "%s\n", lake.status().message().c_str());
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto index = CohortIndex::Build(**lake, 0, nullptr);
  if (!index.ok()) {
    std::fprintf(stderr, "%s\n", index.status().message().c_str());
    return 1;
  }
  double build_ms = Ms(t0);
  double rss_index = PeakRssMb();
  std::printf(
      "patients %llu, indexed events %llu, index %.0f MB, built in %.0f ms (peak RSS %.0f MB)\n",
      static_cast<unsigned long long>((*index)->patients().cardinality()),
      static_cast<unsigned long long>((*index)->event_count()),
      static_cast<double>((*index)->memory_bytes()) / 1e6, build_ms, rss_index);

  // MEDLAKE_BENCH_PROFILE=K: evaluate cohort K (1-5) REPEAT times, without DuckDB (for perf).
  if (const char* only = std::getenv("MEDLAKE_BENCH_PROFILE")) {
    const auto cohorts = Cohorts();
    size_t k = static_cast<size_t>(std::atoi(only)) - 1;
    if (k >= cohorts.size()) return 2;
    auto def = medlake::cohort::ParseCohort(cohorts[k].json);
    if (!def.ok()) return 1;
    std::vector<double> times;
    for (int i = 0; i < repeat; ++i) {
      auto s = std::chrono::steady_clock::now();
      auto r = medlake::cohort::Evaluate(*def, **index, medlake::cohort::EvaluateOptions{});
      times.push_back(Ms(s));
    }
    std::printf("%s: median %.2f ms\n", cohorts[k].name, Median(times));
    return 0;
  }

  Duck duck;
  duckdb_open(nullptr, &duck.db);
  duckdb_connect(duck.db, &duck.con);
  auto t1 = std::chrono::steady_clock::now();
  Load(**index, duck);
  std::printf("DuckDB %s: flat tables loaded in %.0f ms (peak RSS now %.0f MB)\n",
              duckdb_library_version(), Ms(t1), PeakRssMb());

  std::printf("\n%-66s %-18s %9s %11s %11s %8s %s\n", "cohort", "kind", "count", "medlake ms",
              "DuckDB ms", "ratio", "counts");
  bool all_agree = true;
  for (const auto& c : Cohorts()) {
    auto def = medlake::cohort::ParseCohort(c.json);
    if (!def.ok()) {
      std::fprintf(stderr, "%s: %s\n", c.name, def.status().message().c_str());
      return 1;
    }
    std::vector<double> ours, theirs;
    uint64_t count = 0;
    int64_t sql_count = 0;
    for (int i = 0; i < repeat; ++i) {
      auto s = std::chrono::steady_clock::now();
      auto r = medlake::cohort::Evaluate(*def, **index, medlake::cohort::EvaluateOptions{});
      ours.push_back(Ms(s));
      if (!r.ok()) {
        std::fprintf(stderr, "%s: %s\n", c.name, r.status().message().c_str());
        return 1;
      }
      count = r->count;
      s = std::chrono::steady_clock::now();
      sql_count = duck.Count(c.sql);
      theirs.push_back(Ms(s));
    }
    bool agree = static_cast<int64_t>(count) == sql_count;
    all_agree &= agree;
    double a = Median(ours), b = Median(theirs);
    std::printf("%-66s %-18s %9llu %11.2f %11.2f %7.1fx %s\n", c.name, c.kind,
                static_cast<unsigned long long>(count), a, b, b / a,
                agree ? "agree" : ("DIFFER: SQL " + std::to_string(sql_count)).c_str());
  }
  std::printf("\npeak RSS %.0f MB (index + DuckDB tables)\n", PeakRssMb());
  return all_agree ? 0 : 1;
}
