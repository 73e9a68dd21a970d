#include "medlake/status.h"

#include <array>

namespace medlake {
namespace {

// One row per ErrorCode, in enum order. FHIR issue codes:
// http://hl7.org/fhir/R4/valueset-issue-type.html. Exit statuses 70 and 75 are sysexits.h's
// EX_SOFTWARE and EX_TEMPFAIL (a script may retry on 75).
constexpr std::array<ErrorInfo, 12> kErrorTable = {{
    {"ok", 0, 200, "informational"},
    {"invalid_argument", 2, 400, "invalid"},
    {"parse_error", 3, 400, "structure"},
    {"not_found", 4, 404, "not-found"},
    {"already_exists", 5, 409, "duplicate"},
    {"corruption", 6, 500, "exception"},
    {"io_error", 7, 500, "exception"},
    {"unsupported", 8, 422, "not-supported"},
    {"permission_denied", 9, 403, "forbidden"},
    {"unauthenticated", 10, 401, "login"},
    {"internal", 70, 500, "exception"},
    {"busy", 75, 409, "lock-error"},
}};
static_assert(kErrorTable.size() == static_cast<size_t>(ErrorCode::kBusy) + 1,
              "one row per ErrorCode");

}  // namespace

const ErrorInfo& InfoFor(ErrorCode code) {
  return kErrorTable[static_cast<size_t>(code)];
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(InfoFor(code_).name);
  out += ": ";
  out += message_;
  return out;
}

}  // namespace medlake
