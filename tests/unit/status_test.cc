// Status macros and helpers of common/status.h, and the structured log line format.
#include "common/status.h"

#include <gtest/gtest.h>

#include "common/log.h"

namespace bloodgrid {
namespace {

absl::StatusOr<int> Half(int n) {
  if (n % 2 != 0) return InvalidField("n", "must be even");
  return n / 2;
}

absl::StatusOr<int> Quarter(int n) {
  BG_ASSIGN_OR_RETURN(int half, Half(n));
  BG_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int n) {
  BG_RETURN_IF_ERROR(Half(n).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, AssignOrReturnPropagatesErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  absl::StatusOr<int> odd = Quarter(6);  // 6 -> 3 -> error
  EXPECT_EQ(odd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(odd.status().message(), "n: must be even");
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtTheFirstError) {
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(5).code(), absl::StatusCode::kInvalidArgument);
}

TEST(StatusHelpersTest, AnnotateKeepsTheCode) {
  absl::Status s = Annotate(absl::NotFoundError("donor d1"), "record donation");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "record donation: donor d1");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

TEST(LogTest, OneLineWithQuotedValues) {
  InitLogging("donor_service");
  std::string line = FormatLogLine(LogLevel::kWarning, "db_down",
                                   {{"host", "127.0.0.1"}, {"reason", "lost \"conn\"\nagain"}});
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "exactly one line";
  EXPECT_NE(line.find(" WARN service=donor_service event=db_down host=127.0.0.1 "
                      "reason=\"lost \\\"conn\\\"\\nagain\""),
            std::string::npos)
      << line;
  EXPECT_EQ(ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("nonsense"), LogLevel::kInfo);
}

}  // namespace
}  // namespace bloodgrid
