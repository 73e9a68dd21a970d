#include "query/access_context.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <unordered_map>
#include <unordered_set>

#include "json/json.h"
#include "privacy/access.h"
#include "privacy/audit_log.h"
#include "privacy/key_store.h"
#include "privacy/principals.h"
#include "privacy/pseudonymizer.h"
#include "store/catalog.h"
#include "store/sqlite.h"

namespace medlake::query {
namespace {

constexpr uint32_t kSharedArea = 0xFFFFFFFFu;
constexpr std::string_view kAgeExtension = "https://medlake.dev/fhir/StructureDefinition/age-years";

// Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

bool Digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return false;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

int Num(std::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

bool IsOptOut(json::Node consent) {
  auto provision = consent.Find("provision");
  if (!provision) return false;
  auto type = provision->Find("type");
  if (!type || type->GetString() != "deny") return false;
  // A denial about research: scope research, purpose HRESCH, or policy rule OPTOUT.
  std::string text = consent.ToJson();
  return text.find("\"research\"") != std::string::npos ||
         text.find("\"HRESCH\"") != std::string::npos ||
         text.find("\"OPTOUT\"") != std::string::npos;
}

}  // namespace

std::string ShiftDates(std::string_view json, int days) {
  std::string out;
  out.reserve(json.size());
  size_t i = 0;
  while (i < json.size()) {
    char c = json[i];
    out += c;
    ++i;
    if (c == '\\' && i < json.size()) {
      out += json[i++];
      continue;
    }
    if (c != '"') continue;
    // A string starting with YYYY-MM-DD followed by the end of the string or a time.
    if (Digits(json, i, 4) && i + 10 <= json.size() && json[i + 4] == '-' &&
        Digits(json, i + 5, 2) && json[i + 7] == '-' && Digits(json, i + 8, 2) &&
        i + 10 < json.size() && (json[i + 10] == '"' || json[i + 10] == 'T')) {
      int64_t y = Num(json, i, 4);
      unsigned m = static_cast<unsigned>(Num(json, i + 5, 2));
      unsigned d = static_cast<unsigned>(Num(json, i + 8, 2));
      if (m >= 1 && m <= 12 && d >= 1 && d <= 31) {
        CivilFromDays(DaysFromCivil(y, m, d) + days, y, m, d);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(y), m, d);
        out += buf;
        i += 10;
      }
    }
    // Copy the rest of the string literal unchanged.
    while (i < json.size() && json[i] != '"') {
      if (json[i] == '\\' && i + 1 < json.size()) out += json[i++];
      out += json[i++];
    }
  }
  return out;
}

struct AccessContext::Impl {
  bool keyed = false;
  std::optional<privacy::KeyStore> keys;
  privacy::Principal who;
  std::string purpose;
  int64_t small_count_threshold = privacy::kDefaultSmallCountThreshold;
  std::vector<int> shift_days;             // per patient ordinal (researcher)
  std::unordered_set<uint32_t> opted_out;  // patient ordinals (researcher)
  int current_year = 1970;

  bool researcher() const { return keyed && who.role == privacy::Role::kResearcher; }
  // The caller sees patients' data as a researcher does: consent (opt-outs) applies, dates are
  // shifted and birth dates become ages.
  bool research_view = false;

  Status LoadResearchPolicy(const std::string& lake_dir) {
    MEDLAKE_ASSIGN_OR_RETURN(auto lake, Lake::Open(lake_dir));
    privacy::Pseudonymizer pseudonymizer(*keys);
    std::unordered_map<std::string, uint32_t> ordinal_of;
    // Every patient ordinal, not the count of Patient resources: ordinals also go to patients
    // known only from references, and an erased patient keeps its ordinal.
    MEDLAKE_ASSIGN_OR_RETURN(std::vector<std::string> pseudonyms, lake->PatientIds());
    shift_days.assign(pseudonyms.size(), 0);
    for (uint32_t ordinal = 0; ordinal < pseudonyms.size(); ++ordinal) {
      shift_days[ordinal] = pseudonymizer.DateShiftDays(pseudonyms[ordinal]);
      ordinal_of.emplace(std::move(pseudonyms[ordinal]), ordinal);
    }
    json::Parser parser;
    std::vector<std::string> damaged;
    MEDLAKE_RETURN_IF_ERROR(lake->Scan(
        "Consent",
        [&](const ResourceView& r) {
          auto node = parser.Parse(r.json);
          if (node.ok() && r.patient != kSharedArea && IsOptOut(*node)) opted_out.insert(r.patient);
        },
        &damaged));
    if (!damaged.empty()) {
      return Corruption("consent cannot be checked: a segment is damaged (" + damaged[0] + ")");
    }
    std::ifstream list(lake_dir + "/" + std::string(kConsentOptOutFile));
    if (!list) return Status::Ok();
    MEDLAKE_ASSIGN_OR_RETURN(auto db, store::Db::Open(lake_dir + "/catalog.sqlite", false, true));
    MEDLAKE_ASSIGN_OR_RETURN(store::PseudonymLinks links, store::PseudonymLinks::Prepare(*db));
    for (std::string line; std::getline(list, line);) {
      const std::string_view name = OptOutListEntry(line);
      if (name.empty()) continue;
      std::string pseudonym(name);
      if (!ordinal_of.count(pseudonym)) {
        MEDLAKE_ASSIGN_OR_RETURN(std::optional<std::string> linked,
                                 links.Find(pseudonymizer.SourceLink(name)));
        pseudonym = linked.value_or(std::string());
      }
      if (auto it = ordinal_of.find(pseudonym); it != ordinal_of.end()) {
        opted_out.insert(it->second);
      }
    }
    return Status::Ok();
  }
};

AccessContext::AccessContext() : impl_(std::make_unique<Impl>()) {}
AccessContext::~AccessContext() = default;

std::string_view OptOutListEntry(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  return line.empty() || line[0] == '#' ? std::string_view() : line;
}

Result<std::unique_ptr<AccessContext>> AccessContext::Open(const std::string& lake_dir,
                                                           const AccessRequest& request) {
  std::unique_ptr<AccessContext> ctx(new AccessContext());
  Impl& im = *ctx->impl_;
  if (!privacy::KeyStore::IsInitialised(lake_dir)) return ctx;
  im.keyed = true;
  MEDLAKE_ASSIGN_OR_RETURN(privacy::KeyStore keys, privacy::KeyStore::Open(lake_dir));
  im.keys.emplace(std::move(keys));
  MEDLAKE_ASSIGN_OR_RETURN(im.who, privacy::ResolvePrincipal(*im.keys, request.token));
  im.purpose = request.purpose;
  auto now = std::chrono::system_clock::now();
  im.current_year = static_cast<int>(
      std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(now)).year());
  im.research_view =
      im.researcher() || (request.research && privacy::NeedsDisclosureControl(im.who.role));
  if (im.research_view) MEDLAKE_RETURN_IF_ERROR(im.LoadResearchPolicy(lake_dir));
  if (privacy::NeedsDisclosureControl(im.who.role)) {
    MEDLAKE_ASSIGN_OR_RETURN(auto principals, privacy::Principals::Open(*im.keys));
    MEDLAKE_ASSIGN_OR_RETURN(auto setting, principals->Setting(privacy::kSmallCountThreshold));
    if (setting) {
      char* end = nullptr;
      long long v = std::strtoll(setting->c_str(), &end, 10);
      if (end == setting->c_str() || *end != '\0' || v < 2 || v > 1000) {
        return Corruption("principals: the small-count threshold is not a number from 2 to 1000");
      }
      im.small_count_threshold = v;
    }
  }
  return ctx;
}

Status AccessContext::Require(OutputKind kind, std::string_view command) {
  if (!impl_->keyed) return Status::Ok();
  privacy::Permission permission = privacy::Permission::kReadAudit;
  if (kind == OutputKind::kPatientLevel) permission = privacy::Permission::kPatientLevel;
  if (kind == OutputKind::kAggregate) permission = privacy::Permission::kAggregates;
  if (kind == OutputKind::kClinical) permission = privacy::Permission::kReidentify;
  if (kind == OutputKind::kWrite) permission = privacy::Permission::kWrite;
  return privacy::Require(*impl_->keys, impl_->who, permission, command);
}

bool AccessContext::restricted() const {
  return impl_->research_view;
}

bool AccessContext::suppresses_small_counts() const {
  return impl_->keyed && privacy::NeedsDisclosureControl(impl_->who.role);
}

int64_t AccessContext::small_count_threshold() const {
  return impl_->small_count_threshold;
}

bool AccessContext::Admits(uint32_t patient) const {
  if (!impl_->research_view || patient == kSharedArea) return true;
  return !impl_->opted_out.count(patient);
}

bool AccessContext::Transform(const ResourceView& r, std::string& out) const {
  const Impl& im = *impl_;
  if (!im.research_view) {
    out.assign(r.json);
    return true;
  }
  if (r.patient == kSharedArea) {
    // A shared resource about several patients (an Appointment of two) cannot be shown with
    // one patient's date shift, nor with the pseudonym of one who opted out: researchers do
    // not see it. (Organizations, Practitioners and the like name no patient.)
    if (r.json.find("\"reference\":\"Patient/") != std::string_view::npos) return false;
    out.assign(r.json);
    return true;
  }
  if (im.opted_out.count(r.patient) || r.patient >= im.shift_days.size()) return false;
  out = ShiftDates(r.json, im.shift_days[r.patient]);
  if (r.type == "Patient") {
    // birthDate (a year in a keyed lake) becomes the age in years.
    constexpr std::string_view kBirth = "\"birthDate\":\"";
    size_t at = out.find(kBirth);
    if (at != std::string::npos && Digits(out, at + kBirth.size(), 4)) {
      int birth_year = Num(out, at + kBirth.size(), 4);
      size_t end = out.find('"', at + kBirth.size());
      std::string age = "\"_birthDate\":{\"extension\":[{\"url\":\"" + std::string(kAgeExtension) +
                        "\",\"valueInteger\":" + std::to_string(im.current_year - birth_year) +
                        "}]}";
      out.replace(at, end + 1 - at, age);
    }
  }
  return true;
}

Status AccessContext::Audit(std::string_view action, std::string_view object, int64_t patients) {
  if (!impl_->keyed) return Status::Ok();
  MEDLAKE_ASSIGN_OR_RETURN(auto audit, privacy::AuditLog::Open(*impl_->keys));
  privacy::AuditEntry e;
  e.principal = impl_->who.name;
  e.role = std::string(privacy::RoleName(impl_->who.role));
  e.action = std::string(action);
  e.object = std::string(object);
  e.purpose = impl_->purpose;
  e.patients = patients;
  return audit->Append(std::move(e)).status();
}

std::string AccessContext::Describe() const {
  if (!impl_->keyed) return "unrestricted";
  return impl_->who.name + " (" + std::string(privacy::RoleName(impl_->who.role)) + ")";
}

std::string AccessContext::role() const {
  return impl_->keyed ? std::string(privacy::RoleName(impl_->who.role)) : std::string();
}

}  // namespace medlake::query
