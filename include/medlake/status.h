// Status and Result<T>: how medlake reports expected failures across module boundaries.
//
// A Status is either OK or carries an ErrorCode and a message. Messages name resource ids,
// files and byte offsets, never patient data. Result<T> holds a T or a non-OK Status (shaped
// like std::expected). Both are cheap to move and safe to use from any thread.
//
// The ErrorCode table is the single place where a failure kind is mapped to a process exit
// code, an HTTP status and a FHIR OperationOutcome issue code (see ErrorInfo).
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace medlake {

enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument,   // the caller asked for something malformed (bad option, bad expression)
  kParseError,        // input data is malformed (JSON, HL7 v2, VCF, ...)
  kNotFound,          // a file, lake, resource or principal does not exist
  kAlreadyExists,     // creating something that is already there
  kCorruption,        // stored data fails its checksum or its format is damaged
  kIoError,           // the operating system refused a read, write or sync
  kUnsupported,       // well-formed input that medlake does not handle
  kPermissionDenied,  // the principal's role does not allow this
  kUnauthenticated,   // missing or wrong key or token
  kInternal,          // a bug: an invariant of medlake itself did not hold
  kBusy,              // another process holds the lake (a writer's lock): run it again later
};

// How one ErrorCode leaves the process.
struct ErrorInfo {
  std::string_view name;        // stable, lower_snake_case
  int exit_code;                // CLI exit status
  int http_status;              // REST API status
  std::string_view fhir_issue;  // OperationOutcome.issue.code (FHIR R4 IssueType)
};

// Returns the table row for `code`.
const ErrorInfo& InfoFor(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "name: message", e.g. "corruption: seg-3-000001.mls block 4: checksum mismatch".
  std::string ToString() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {ErrorCode::kInvalidArgument, std::move(m)};
}
inline Status ParseError(std::string m) {
  return {ErrorCode::kParseError, std::move(m)};
}
inline Status NotFound(std::string m) {
  return {ErrorCode::kNotFound, std::move(m)};
}
inline Status AlreadyExists(std::string m) {
  return {ErrorCode::kAlreadyExists, std::move(m)};
}
inline Status Corruption(std::string m) {
  return {ErrorCode::kCorruption, std::move(m)};
}
inline Status IoError(std::string m) {
  return {ErrorCode::kIoError, std::move(m)};
}
inline Status Unsupported(std::string m) {
  return {ErrorCode::kUnsupported, std::move(m)};
}
inline Status PermissionDenied(std::string m) {
  return {ErrorCode::kPermissionDenied, std::move(m)};
}
inline Status Unauthenticated(std::string m) {
  return {ErrorCode::kUnauthenticated, std::move(m)};
}
inline Status Internal(std::string m) {
  return {ErrorCode::kInternal, std::move(m)};
}
inline Status Busy(std::string m) {
  return {ErrorCode::kBusy, std::move(m)};
}

// A value of type T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design, like std::expected
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace medlake

// Propagates a non-OK Status from an expression returning Status.
#define MEDLAKE_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::medlake::Status medlake_status_ = (expr);        \
    if (!medlake_status_.ok()) return medlake_status_; \
  } while (0)

#define MEDLAKE_CONCAT_INNER(a, b) a##b
#define MEDLAKE_CONCAT(a, b) MEDLAKE_CONCAT_INNER(a, b)
// Declares `lhs` from a Result-returning expression, or returns its Status.
#define MEDLAKE_ASSIGN_OR_RETURN(lhs, expr) \
  MEDLAKE_ASSIGN_OR_RETURN_IMPL(MEDLAKE_CONCAT(medlake_result_, __LINE__), lhs, expr)
#define MEDLAKE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
