// Status and Result<T>: how every fallible operation in the hermetic core
// reports failure.
//
// Contract:
//  - The core never throws. A function that can fail returns Status (no value)
//    or Result<T> (a value or a non-ok Status).
//  - A Status message is complete and self-describing: it names the archive,
//    record or module involved, so callers can show it to a user verbatim.
//  - The code is the only thing callers branch on; the Python binding maps each
//    code to one exception class in exactly one place.
//  - Result<T> must be checked before its value is read; reading the value of
//    a failed Result is a programming error (asserted in debug builds).
#ifndef HERMETIC_STATUS_H_
#define HERMETIC_STATUS_H_

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hermetic {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // caller passed something unusable
  kNotFound,            // a named record, module or file does not exist
  kCorruptArchive,      // archive bytes violate the format or a limit
  kCorruptPickle,       // a pickle's bytes are malformed or break a limit
  kAlreadyExists,       // a name that must be new (a record) is taken
  kIOError,             // the operating system refused a read or write
  kUnsupported,         // valid input using a feature we do not implement
  kPackagingError,      // dependency resolution left broken modules
  kFailedPrecondition,  // operation not allowed in the object's state
  kResourceExhausted,   // memory (or another resource) for the input ran out
  kIntegrity,           // records differ from their manifest or signature
  kInternal,            // a bug in hermetic
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) {
    return {StatusCode::kNotFound, std::move(m)};
  }
  static Status Corrupt(std::string m) {
    return {StatusCode::kCorruptArchive, std::move(m)};
  }
  static Status CorruptPickle(std::string m) {
    return {StatusCode::kCorruptPickle, std::move(m)};
  }
  static Status AlreadyExists(std::string m) {
    return {StatusCode::kAlreadyExists, std::move(m)};
  }
  static Status IOError(std::string m) {
    return {StatusCode::kIOError, std::move(m)};
  }
  static Status Unsupported(std::string m) {
    return {StatusCode::kUnsupported, std::move(m)};
  }
  static Status Packaging(std::string m) {
    return {StatusCode::kPackagingError, std::move(m)};
  }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status Integrity(std::string m) {
    return {StatusCode::kIntegrity, std::move(m)};
  }
  static Status Internal(std::string m) {
    return {StatusCode::kInternal, std::move(m)};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>", for logs and test failure output.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

std::string_view StatusCodeName(StatusCode code);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace hermetic

#define HERMETIC_CONCAT_INNER_(a, b) a##b
#define HERMETIC_CONCAT_(a, b) HERMETIC_CONCAT_INNER_(a, b)

#define HERMETIC_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::hermetic::Status hermetic_status_ = (expr);        \
    if (!hermetic_status_.ok()) return hermetic_status_; \
  } while (0)

#define HERMETIC_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()

// HERMETIC_ASSIGN_OR_RETURN(auto x, MakeX()); returns the Status on failure.
// It expands to several statements (a declaration of a hidden temporary, an
// if, an assignment), so it cannot be the body of an unbraced if/else/for,
// and `lhs` must not contain unparenthesised commas.
#define HERMETIC_ASSIGN_OR_RETURN(lhs, expr) \
  HERMETIC_ASSIGN_OR_RETURN_IMPL_(           \
      HERMETIC_CONCAT_(hermetic_result_, __LINE__), lhs, expr)

#endif  // HERMETIC_STATUS_H_
