#include "cohort/evaluator.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>

#include "cohort/units.h"
#include "common/fhir_time.h"
#include "fhirpath/fhirpath.h"
#include "json/json.h"

namespace medlake::cohort {

namespace {

constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max();

// Who the criteria are evaluated for. Usually one subject per patient (subject id = patient
// ordinal); with an index event selected "all", one subject per (patient, index date).
struct Population {
  bool per_patient = true;
  bool fixed_index = true;
  int64_t fixed = 0;
  std::vector<int64_t> index_of_patient;  // per_patient && !fixed_index
  std::vector<uint32_t> patient_of;       // !per_patient
  std::vector<int64_t> index_of;          // !per_patient

  uint32_t Patient(uint32_t s) const { return per_patient ? s : patient_of[s]; }
  int64_t Index(uint32_t s) const {
    if (!per_patient) return index_of[s];
    return fixed_index ? fixed : index_of_patient[s];
  }
};

// An event criterion resolved against the index: its entries, their union, the unit
// conversions of its comparisons.
struct CompiledEvent {
  uint64_t id = 0;  // unique over the process: keys the per-thread search cursors
  const EventCriterion* criterion = nullptr;
  std::vector<uint32_t> entries;
  Roaring any;  // patients with at least one candidate event
  bool filter_status = false;
  std::vector<uint16_t> statuses;
  // conversions[k][j]: for the k-th entry and j-th comparison, (unit, conversion) pairs.
  using UnitConversions = std::vector<std::pair<uint16_t, std::optional<Affine>>>;
  std::vector<std::vector<UnitConversions>> value_conversions;
};

struct Candidate {
  const Event* event;
  uint32_t entry;  // position in CompiledEvent::entries
};

// Converted values are rounded to 12 significant digits so that a value equal to a threshold
// in another unit compares equal despite binary floating point.
double RoundSignificant(double v) {
  if (v == 0 || !std::isfinite(v)) return v;
  double scale = std::pow(10.0, 12 - static_cast<int>(std::ceil(std::log10(std::fabs(v)))));
  return std::round(v * scale) / scale;
}

// The last birth day (days since 1970-01-01) of someone aged at least `years` completed years
// on the day of `index_ms` (UTC): the same calendar day `years` earlier, 28 February for a
// 29 February that year does not have. Age in completed years compares (month, day) of birth
// with the index date, so birth_day <= this bound <=> age >= years.
int64_t LatestBirthDayForAge(int64_t index_ms, int64_t years) {
  CivilDay d = CivilFromDays(DayOfMs(index_ms));
  int64_t y = d.year - years;
  unsigned day = d.day;
  if (d.month == 2 && day == 29 && !IsLeapYear(y)) day = 28;
  return DaysFromCivil(y, d.month, day);
}

int64_t EndOfDay(int64_t ms) {
  return (DayOfMs(ms) + 1) * kMsPerDay - 1;
}

bool IsTrue(const fhirpath::Collection& c) {
  if (c.size() != 1) return false;
  const auto& item = c.front();
  if (item.kind == fhirpath::ValueKind::kBoolean) return item.boolean;
  return item.kind == fhirpath::ValueKind::kNode && item.node.IsBool() && item.node.GetBool();
}

class Evaluator {
 public:
  Evaluator(const CohortIndex& index, const EvaluateOptions& options)
      : index_(index),
        options_(options),
        arena_(options.threads > 0 ? options.threads
                                   : std::max(1u, std::thread::hardware_concurrency())) {}

  Result<CohortResult> Run(const CohortDefinition& def) {
    CohortResult result;
    Roaring cand;
    MEDLAKE_RETURN_IF_ERROR(BuildPopulation(def.index, cand));
    if (options_.admits) {
      cand = Filter(cand, [&](uint32_t s) { return options_.admits(pop_.Patient(s)); });
    }
    result.attrition.push_back({"initial population", "initial", CountPatients(cand)});
    for (const auto& rule : def.inclusion) {
      MEDLAKE_ASSIGN_OR_RETURN(cand, Eval(rule.criterion, cand));
      result.attrition.push_back({rule.name, "inclusion", CountPatients(cand)});
    }
    for (const auto& rule : def.exclusion) {
      MEDLAKE_ASSIGN_OR_RETURN(Roaring hit, Eval(rule.criterion, cand));
      cand -= hit;
      result.attrition.push_back({rule.name, "exclusion", CountPatients(cand)});
    }
    uint32_t last_patient = std::numeric_limits<uint32_t>::max();
    for (uint32_t s : cand) {
      uint32_t p = pop_.Patient(s);
      if (p == last_patient) continue;  // subjects are in (patient, index) order: keep the first
      last_patient = p;
      result.members.push_back({p, pop_.Index(s)});
    }
    result.count = result.members.size();
    result.unconvertible_values = unconvertible_.load();
    result.fhirpath_errors = fhirpath_errors_.load();
    result.damaged = std::move(damaged_);
    return result;
  }

 private:
  Status BuildPopulation(const IndexSpec& spec, Roaring& cand) {
    if (spec.kind != IndexSpec::Kind::kEvent) {
      pop_.fixed = spec.kind == IndexSpec::Kind::kFixed ? spec.fixed_ms : options_.default_index_ms;
      cand = index_.patients();
      return Status::Ok();
    }
    MEDLAKE_ASSIGN_OR_RETURN(const CompiledEvent* ce, Compile(spec.event));
    Roaring have = ce->any & index_.patients();
    std::vector<uint32_t> patients(have.cardinality());
    have.toUint32Array(patients.data());
    // Index dates of each patient, in parallel; the subjects are then laid out in order.
    std::vector<std::vector<int64_t>> times(patients.size());
    arena_.execute([&] {
      tbb::parallel_for(tbb::blocked_range<size_t>(0, patients.size(), 256), [&](const auto& r) {
        std::vector<Candidate> buf;
        for (size_t i = r.begin(); i != r.end(); ++i) {
          Gather(*ce, patients[i], buf);
          for (const Candidate& c : buf) {
            int64_t start = c.event->start;
            // The index event's window has fixed dates only (checked by the parser).
            if (start == kNoTime || !spec.event.window.Contains(start, 0) || !Passes(*ce, c))
              continue;
            auto& t = times[i];
            if (t.empty() || t.back() != c.event->start) t.push_back(c.event->start);
          }
          auto& t = times[i];
          if (t.empty()) continue;
          if (spec.select == Select::kFirst) t = {t.front()};
          if (spec.select == Select::kLast) t = {t.back()};
        }
      });
    });
    if (spec.select == Select::kAll) {
      pop_.per_patient = false;
      for (size_t i = 0; i < patients.size(); ++i) {
        for (int64_t t : times[i]) {
          cand.add(static_cast<uint32_t>(pop_.patient_of.size()));
          pop_.patient_of.push_back(patients[i]);
          pop_.index_of.push_back(t);
        }
      }
    } else {
      pop_.fixed_index = false;
      pop_.index_of_patient.assign(index_.patient_capacity(), kNoTime);
      for (size_t i = 0; i < patients.size(); ++i) {
        if (times[i].empty()) continue;
        pop_.index_of_patient[patients[i]] = times[i].front();
        cand.add(patients[i]);
      }
    }
    return Status::Ok();
  }

  uint64_t CountPatients(const Roaring& subjects) const {
    if (pop_.per_patient) return subjects.cardinality();
    uint64_t n = 0;
    uint32_t last = std::numeric_limits<uint32_t>::max();
    for (uint32_t s : subjects) {
      if (pop_.patient_of[s] != last) ++n;
      last = pop_.patient_of[s];
    }
    return n;
  }

  // The subjects of `cand` for which pred(subject) holds, evaluated in parallel.
  template <typename Pred>
  Roaring Filter(const Roaring& cand, const Pred& pred) {
    std::vector<uint32_t> ids(cand.cardinality());
    cand.toUint32Array(ids.data());
    // Each block keeps its survivors at its own start; the blocks are then packed in order.
    constexpr size_t kBlock = 4096;
    size_t blocks = (ids.size() + kBlock - 1) / kBlock;
    std::vector<uint32_t> kept(blocks, 0);
    arena_.execute([&] {
      tbb::parallel_for(size_t{0}, blocks, [&](size_t b) {
        size_t begin = b * kBlock, end = std::min(ids.size(), begin + kBlock);
        size_t n = begin;
        for (size_t i = begin; i < end; ++i)
          if (pred(ids[i])) ids[n++] = ids[i];
        kept[b] = static_cast<uint32_t>(n - begin);
      });
    });
    size_t n = 0;
    for (size_t b = 0; b < blocks; ++b) {
      std::memmove(ids.data() + n, ids.data() + b * kBlock, kept[b] * sizeof(uint32_t));
      n += kept[b];
    }
    Roaring out;
    out.addMany(n, ids.data());
    return out;
  }

  // The subjects of `cand` whose patient is in `patients`.
  Roaring OfPatients(const Roaring& cand, const Roaring& patients) {
    if (pop_.per_patient) return cand & patients;
    return Filter(cand, [&](uint32_t s) { return patients.contains(pop_.Patient(s)); });
  }

  Result<Roaring> Eval(const Criterion& c, const Roaring& cand) {
    using Kind = Criterion::Kind;
    switch (c.kind) {
      case Kind::kAll: {
        Roaring r = cand;
        for (const auto& child : c.children) {
          if (r.isEmpty()) break;
          MEDLAKE_ASSIGN_OR_RETURN(r, Eval(child, r));
        }
        return r;
      }
      case Kind::kAny: {
        Roaring r;
        Roaring rest = cand;
        for (const auto& child : c.children) {
          if (rest.isEmpty()) break;
          MEDLAKE_ASSIGN_OR_RETURN(Roaring hit, Eval(child, rest));
          r |= hit;
          rest -= hit;
        }
        return r;
      }
      case Kind::kNot: {
        MEDLAKE_ASSIGN_OR_RETURN(Roaring hit, Eval(c.children.front(), cand));
        return cand - hit;
      }
      case Kind::kAge: {
        // Completed years: a fractional bound rounds inward.
        std::optional<int64_t> min, max;
        if (c.age_min) min = static_cast<int64_t>(std::ceil(*c.age_min));
        if (c.age_max) max = static_cast<int64_t>(std::floor(*c.age_max));
        auto bounds = [&](int64_t index_ms) {
          // birth day must be in (lo, hi]
          int64_t hi = min ? LatestBirthDayForAge(index_ms, *min) : INT64_MAX;
          int64_t lo = max ? LatestBirthDayForAge(index_ms, *max + 1) : INT64_MIN;
          return std::make_pair(lo, hi);
        };
        auto fixed = bounds(pop_.fixed);
        bool per_subject = !pop_.per_patient || !pop_.fixed_index;
        return Filter(cand, [&](uint32_t s) {
          int32_t birth = index_.birth_day(pop_.Patient(s));
          if (birth == kNoBirthDay) return false;
          auto [lo, hi] = per_subject ? bounds(pop_.Index(s)) : fixed;
          return birth > lo && birth <= hi;
        });
      }
      case Kind::kSex: {
        Roaring with;
        for (const auto& name : c.sexes) with |= index_.with_sex(SexFromGender(name));
        return OfPatients(cand, with);
      }
      case Kind::kDeceased: {
        // Only the patients ever recorded dead need their date looked at.
        auto dead_at_index = [&](uint32_t s) {
          int64_t d = index_.facts(pop_.Patient(s)).deceased_ms;
          return d == kDeceasedUndated || (d != kNoTime && d <= EndOfDay(pop_.Index(s)));
        };
        Roaring dead = Filter(OfPatients(cand, index_.ever_deceased()), dead_at_index);
        return c.deceased ? dead : cand - dead;
      }
      case Kind::kEvent:
        return EvalEvent(c.event, cand);
      case Kind::kFhirPath:
        return EvalFhirPath(c, cand);
    }
    return Internal("cohort: unknown criterion kind");
  }

  Result<Roaring> EvalEvent(const EventCriterion& ec, const Roaring& cand) {
    MEDLAKE_ASSIGN_OR_RETURN(const CompiledEvent* ce, Compile(ec));
    Roaring has = OfPatients(cand, ce->any);
    if (ec.IsCodeSetOnly()) return has;
    Roaring out = Filter(has, [&](uint32_t s) {
      uint32_t n = Count(*ce, pop_.Patient(s), pop_.Index(s));
      return n >= ec.count_min && (!ec.count_max || n <= *ec.count_max);
    });
    // Subjects without any candidate event have a count of 0.
    if (ec.count_min == 0) out |= cand - has;
    return out;
  }

  Result<const CompiledEvent*> Compile(const EventCriterion& ec) {
    auto it = compiled_.find(&ec);
    if (it != compiled_.end()) return &it->second;
    CompiledEvent& ce = compiled_[&ec];
    static std::atomic<uint64_t> next_id{1};
    ce.id = next_id.fetch_add(1);
    ce.criterion = &ec;
    ce.entries = index_.Match(ec);
    // In the order of their code and type, not of their ids: ids follow the order in which the
    // index build's threads met the codes, and a resource coded twice is read through its first
    // code that converts (Gather), which must not change from one build to the next.
    std::sort(ce.entries.begin(), ce.entries.end(), [&](uint32_t a, uint32_t b) {
      const Entry& ea = index_.entries()[a];
      const Entry& eb = index_.entries()[b];
      const Coded& ca = index_.codes()[ea.code];
      const Coded& cb = index_.codes()[eb.code];
      return std::tie(ca.system, ca.code, index_.types()[ea.type]) <
             std::tie(cb.system, cb.code, index_.types()[eb.type]);
    });
    std::vector<const Roaring*> bitmaps;
    for (uint32_t e : ce.entries) bitmaps.push_back(&index_.entries()[e].patients);
    if (!bitmaps.empty()) ce.any = Roaring::fastunion(bitmaps.size(), bitmaps.data());
    if (!ec.statuses.empty()) {
      ce.filter_status = true;
      const auto& names = index_.statuses();
      for (const auto& s : ec.statuses) {
        auto pos = std::find(names.begin(), names.end(), s);
        if (pos != names.end()) ce.statuses.push_back(static_cast<uint16_t>(pos - names.begin()));
      }
    }
    ce.value_conversions.resize(ce.entries.size());
    for (size_t k = 0; k < ce.entries.size(); ++k) {
      const Entry& entry = index_.entries()[ce.entries[k]];
      const Coded& code = index_.codes()[entry.code];
      for (const Comparison& cmp : ec.values) {
        CompiledEvent::UnitConversions conv;
        if (!cmp.unit.empty()) {
          for (uint16_t u : entry.units)
            conv.emplace_back(u,
                              UnitConversion(code.system, code.code, index_.units()[u], cmp.unit));
        }
        ce.value_conversions[k].push_back(std::move(conv));
      }
    }
    return &ce;
  }

  // The patient's candidate events of `ce`, one per resource, by start time.
  void Gather(const CompiledEvent& ce, uint32_t patient, std::vector<Candidate>& buf) const {
    buf.clear();
    // Candidates are visited in ascending patient order within a task: each entry's search
    // resumes where the previous patient's ended.
    thread_local uint64_t cursor_owner = 0;
    thread_local std::vector<uint32_t> cursors;
    if (cursor_owner != ce.id) {
      cursor_owner = ce.id;
      cursors.assign(ce.entries.size(), 0);
    }
    for (uint32_t k = 0; k < ce.entries.size(); ++k) {
      for (const Event& ev : index_.entries()[ce.entries[k]].EventsOf(patient, cursors[k])) {
        if (ce.filter_status &&
            std::find(ce.statuses.begin(), ce.statuses.end(), ev.status) == ce.statuses.end())
          continue;
        buf.push_back({&ev, k});
      }
    }
    if (ce.entries.size() > 1) {
      std::sort(buf.begin(), buf.end(), [](const Candidate& a, const Candidate& b) {
        if (a.event->start != b.event->start) return a.event->start < b.event->start;
        if (a.event->row != b.event->row) return a.event->row < b.event->row;
        return a.entry < b.entry;
      });
      // A resource coded twice (SNOMED and ICD-10) is one occurrence. Its value is compared
      // through the first of its codes, in code order, whose conversions to the criterion's
      // units exist: a result coded with LOINC 4548-4 and a local code converts % to mmol/mol
      // through the LOINC code whichever code the index met first.
      size_t kept = 0;
      for (size_t i = 0; i < buf.size();) {
        size_t j = i + 1;
        while (j < buf.size() && buf[j].event->row == buf[i].event->row) ++j;
        size_t pick = i;  // a resource coded once (the common case): nothing to choose
        while (j - i > 1 && pick < j && !Converts(ce, buf[pick])) ++pick;
        buf[kept++] = buf[pick < j ? pick : i];
        i = j;
      }
      buf.resize(kept);
    }
  }

  // Whether every unit comparison of `ce` can convert the candidate's value (true without
  // comparisons in units).
  static bool Converts(const CompiledEvent& ce, const Candidate& c) {
    const auto& values = ce.criterion->values;
    for (size_t j = 0; j < values.size(); ++j) {
      if (!values[j].unit.empty() && ConversionOf(ce, c, j) == nullptr) return false;
    }
    return true;
  }

  // The conversion of the candidate's value to the unit of comparison `j`; nullptr when its
  // unit has none (or it has no unit).
  static const Affine* ConversionOf(const CompiledEvent& ce, const Candidate& c, size_t j) {
    if (c.event->unit == kNoUnit) return nullptr;
    const auto& conv = ce.value_conversions[c.entry][j];
    auto it = std::find_if(conv.begin(), conv.end(),
                           [&](const auto& p) { return p.first == c.event->unit; });
    return it == conv.end() || !it->second ? nullptr : &*it->second;
  }

  // Value and length-of-stay tests (the window is checked by the caller).
  bool Passes(const CompiledEvent& ce, const Candidate& c) {
    const EventCriterion& ec = *ce.criterion;
    const Event& ev = *c.event;
    for (size_t j = 0; j < ec.values.size(); ++j) {
      const Comparison& cmp = ec.values[j];
      if (std::isnan(ev.value)) return false;
      double v = ev.value;
      if (!cmp.unit.empty()) {
        const Affine* conversion = ConversionOf(ce, c, j);
        if (conversion == nullptr) {
          unconvertible_.fetch_add(1, std::memory_order_relaxed);
          return false;
        }
        if (conversion->scale != 1 || conversion->offset != 0) {
          v = RoundSignificant(conversion->Apply(v));
        }
      }
      if (!Compare(v, cmp.op, cmp.value)) return false;
    }
    for (const Comparison& cmp : ec.length_of_stay) {
      if (ev.start == kNoTime || ev.end == kNoTime) return false;
      // Whole seconds: the end is the last millisecond its precision covers.
      double days = static_cast<double>((ev.end - ev.start) / 1000) / 86'400;
      if (!Compare(days, cmp.op, cmp.value)) return false;
    }
    return true;
  }

  uint32_t Count(const CompiledEvent& ce, uint32_t patient, int64_t index) {
    thread_local std::vector<Candidate> buf;
    Gather(ce, patient, buf);
    const EventCriterion& ec = *ce.criterion;
    const Window& w = ec.window;
    auto selected_begin = buf.begin();
    auto selected_end = buf.end();
    if (ec.select != Select::kAll) {
      // Only timed events can be first or last.
      auto timed = std::find_if(buf.begin(), buf.end(),
                                [](const Candidate& c) { return c.event->start != kNoTime; });
      if (timed == buf.end()) return 0;
      if (ec.select == Select::kFirst) {
        selected_begin = timed;
        selected_end = timed + 1;
      } else {
        // The most recent event as of the window's end.
        int64_t bound = w.end.present ? w.end.At(index) : kMaxTime;
        auto before_end = [&](int64_t t) {
          return !w.end.present || (w.end.inclusive ? t <= bound : t < bound);
        };
        auto last = std::find_if(buf.rbegin(), std::make_reverse_iterator(timed),
                                 [&](const Candidate& c) { return before_end(c.event->start); });
        if (last == std::make_reverse_iterator(timed)) return 0;
        selected_end = last.base();
        selected_begin = selected_end - 1;
      }
    }
    uint32_t n = 0;
    for (auto it = selected_begin; it != selected_end; ++it) {
      if (!w.empty() && !w.Contains(it->event->start, index)) continue;
      if (!Passes(ce, *it)) continue;
      ++n;
      if (ec.count_max && n > *ec.count_max) break;
    }
    return n;
  }

  Result<Roaring> EvalFhirPath(const Criterion& c, const Roaring& cand) {
    if (!options_.lake)
      return InvalidArgument("fhirpath criterion on " + c.fhirpath_type +
                             ": needs the lake's resources");
    auto expr = fhirpath::Expression::Compile(c.fhirpath_expression);
    if (!expr.ok())
      return InvalidArgument("fhirpath criterion on " + c.fhirpath_type + ": " +
                             expr.status().message());
    Roaring patients;
    if (pop_.per_patient) {
      patients = cand;
    } else {
      for (uint32_t s : cand) patients.add(pop_.Patient(s));
    }
    const Lake& lake = *options_.lake;
    size_t segments = lake.segments().size();
    std::vector<std::vector<std::pair<uint32_t, int64_t>>> hits(segments);
    std::vector<std::vector<std::string>> damaged(segments);
    std::vector<Status> errors(segments, Status::Ok());
    arena_.execute([&] {
      tbb::parallel_for(size_t{0}, segments, [&](size_t i) {
        json::Parser parser;
        parser.set_keep_number_text(true);  // decimals keep their precision ("72.50")
        errors[i] = lake.ScanSegment(
            i, c.fhirpath_type,
            [&](const ResourceView& r) {
              if (!patients.contains(r.patient)) return;
              auto root = parser.Parse(r.json);
              if (!root.ok()) return;
              auto result = expr->Evaluate(*root);
              if (!result.ok()) {
                fhirpath_errors_.fetch_add(1, std::memory_order_relaxed);
              } else if (IsTrue(*result)) {
                hits[i].emplace_back(r.patient, r.effective_start);
              }
            },
            &damaged[i]);
      });
    });
    for (const auto& e : errors) MEDLAKE_RETURN_IF_ERROR(e);
    for (auto& d : damaged) damaged_.insert(damaged_.end(), d.begin(), d.end());
    std::vector<std::pair<uint32_t, int64_t>> all;
    for (auto& h : hits) all.insert(all.end(), h.begin(), h.end());
    std::sort(all.begin(), all.end());
    const Window& w = c.fhirpath_window;
    return Filter(cand, [&](uint32_t s) {
      uint32_t p = pop_.Patient(s);
      auto lo = std::lower_bound(all.begin(), all.end(), std::make_pair(p, INT64_MIN));
      for (; lo != all.end() && lo->first == p; ++lo) {
        if (w.empty() || w.Contains(lo->second, pop_.Index(s))) return true;
      }
      return false;
    });
  }

  const CohortIndex& index_;
  const EvaluateOptions& options_;
  tbb::task_arena arena_;
  Population pop_;
  std::map<const EventCriterion*, CompiledEvent> compiled_;
  std::atomic<uint64_t> unconvertible_{0};
  std::atomic<uint64_t> fhirpath_errors_{0};
  std::vector<std::string> damaged_;  // segments a fhirpath criterion could not read
};

}  // namespace

Result<CohortResult> Evaluate(const CohortDefinition& def, const CohortIndex& index,
                              const EvaluateOptions& options) {
  Evaluator evaluator(index, options);
  return evaluator.Run(def);
}

}  // namespace medlake::cohort
