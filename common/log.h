// Structured one-line logs: every line is
//   <RFC3339 UTC time> <LEVEL> service=<name> event=<event> key=value key="value with spaces"
// written with a single write(2) to stderr so lines from concurrent threads never interleave.
// Values are quoted when they contain spaces, quotes or '='; newlines are escaped.
#ifndef BLOODGRID_COMMON_LOG_H_
#define BLOODGRID_COMMON_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace bloodgrid {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

using LogField = std::pair<absl::string_view, std::string>;

// Sets the process-wide service name printed on every line and the minimum level written.
// Call once from main before starting threads.
void InitLogging(absl::string_view service_name, LogLevel min_level = LogLevel::kInfo);

// Parses "debug", "info", "warning", "error"; anything else is kInfo.
LogLevel ParseLogLevel(absl::string_view name);

// Writes one line. Thread-safe.
void Log(LogLevel level, absl::string_view event, std::initializer_list<LogField> fields = {});

inline void LogInfo(absl::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, event, fields);
}
inline void LogWarning(absl::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarning, event, fields);
}
inline void LogError(absl::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, event, fields);
}

// Formats a line without writing it (exposed for tests).
std::string FormatLogLine(LogLevel level, absl::string_view event,
                          std::initializer_list<LogField> fields);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_LOG_H_
