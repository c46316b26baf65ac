// Status helpers shared by every BloodGrid library.
//
// Debian 12's Abseil (20220623) has absl::Status and absl::StatusOr but not the propagation
// macros, so BloodGrid keeps its own small ones here. Project code returns absl::Status /
// absl::StatusOr end to end; exceptions never cross a function boundary.
#ifndef BLOODGRID_COMMON_STATUS_H_
#define BLOODGRID_COMMON_STATUS_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace bloodgrid {

// Evaluates `expr` (an absl::Status); returns it from the enclosing function if not OK.
#define BG_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status bg_status_ = (expr);      \
    if (!bg_status_.ok()) return bg_status_; \
  } while (false)

#define BG_STATUS_CONCAT_INNER_(a, b) a##b
#define BG_STATUS_CONCAT_(a, b) BG_STATUS_CONCAT_INNER_(a, b)

// `BG_ASSIGN_OR_RETURN(auto x, Foo());` evaluates Foo() (an absl::StatusOr<T>); on error
// returns its status from the enclosing function, else moves the value into `x`.
#define BG_ASSIGN_OR_RETURN(lhs, expr) \
  BG_ASSIGN_OR_RETURN_IMPL_(BG_STATUS_CONCAT_(bg_statusor_, __LINE__), lhs, expr)
// `statusor` is the name being declared and `lhs` a declaration (`auto x`): neither can be
// parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define BG_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)     \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)

// INVALID_ARGUMENT naming the offending field: "<field>: <problem>". Every validation error
// a client sees is built with this so the field is always first and easy to find.
absl::Status InvalidField(absl::string_view field, absl::string_view problem);

// Returns a copy of `status` with `context` prefixed to its message, code unchanged.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_STATUS_H_
