// Property checks for the fuzz targets. A violated property prints what failed, where, and the
// input (escaped), then aborts: libFuzzer treats the abort as a crash and saves the input as an
// artifact. Checks stay on in every build type (unlike assert).
#ifndef BLOODGRID_FUZZ_FUZZ_CHECK_H_
#define BLOODGRID_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace bloodgrid::fuzz {

// The input being checked, for failure messages. Each target sets it at the top of
// LLVMFuzzerTestOneInput (libFuzzer runs one input at a time per process).
inline std::string& CurrentInput() {
  static auto* const input = new std::string();
  return *input;
}

[[noreturn]] inline void Fail(const char* file, int line, const char* condition,
                              const std::string& detail) {
  std::fprintf(stderr, "\n%s:%d: property violated: %s\n  %s\n  input: \"%s\"\n", file, line,
               condition, detail.c_str(), absl::CHexEscape(CurrentInput()).c_str());
  std::abort();
}

// FUZZ_REQUIRE(condition, detail...): aborts with `detail` (absl::StrCat arguments) unless
// `condition` holds.
#define FUZZ_REQUIRE(condition, ...)                                                        \
  do {                                                                                      \
    if (!(condition)) {                                                                     \
      ::bloodgrid::fuzz::Fail(__FILE__, __LINE__, #condition, ::absl::StrCat(__VA_ARGS__)); \
    }                                                                                       \
  } while (false)

// The house rule for rejected input (common/status.h InvalidField): INVALID_ARGUMENT whose
// message starts with `prefix` (e.g. "din: ") and says something after it.
#define FUZZ_REQUIRE_INVALID(status, prefix)                                                     \
  do {                                                                                           \
    const ::absl::Status& fuzz_status_ = (status);                                               \
    FUZZ_REQUIRE(fuzz_status_.code() == ::absl::StatusCode::kInvalidArgument,                    \
                 "expected INVALID_ARGUMENT, got ", fuzz_status_.ToString());                    \
    FUZZ_REQUIRE(::absl::StartsWith(fuzz_status_.message(), prefix) &&                           \
                     fuzz_status_.message().size() > ::absl::string_view(prefix).size(),         \
                 "expected a message starting \"", prefix, "\", got ", fuzz_status_.ToString()); \
  } while (false)

}  // namespace bloodgrid::fuzz

#endif  // BLOODGRID_FUZZ_FUZZ_CHECK_H_
