#include "common/fault_point.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>

#include <string>
#include <vector>

namespace bloodgrid {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct ParseCase {
  std::string value;
  std::vector<FaultPointSpec> expected;
};

TEST(ParseFaultPointsTest, AcceptsNamesCountsAndSpaces) {
  const std::vector<ParseCase> cases = {
      {"", {}},
      {" , ,", {}},
      {"a", {{"a", 1}}},
      {"a,b", {{"a", 1}, {"b", 1}}},
      {"gateway.x@3", {{"gateway.x", 3}}},
      {" db.commit.after:record test results @2 ", {{"db.commit.after:record test results", 2}}},
      {"a@1,a@2", {{"a", 1}, {"a", 2}}},
  };
  for (const ParseCase& c : cases) {
    absl::StatusOr<std::vector<FaultPointSpec>> parsed = ParseFaultPoints(c.value);
    ASSERT_TRUE(parsed.ok()) << c.value << ": " << parsed.status();
    EXPECT_EQ(*parsed, c.expected) << c.value;
  }
}

TEST(ParseFaultPointsTest, RefusesBadEntriesNamingThem) {
  for (const std::string value :
       {"a@", "a@0", "a@-1", "a@x", "a@1x", "@2", "b,@", " @ ", "a@99999999999"}) {
    absl::StatusOr<std::vector<FaultPointSpec>> parsed = ParseFaultPoints(value);
    ASSERT_FALSE(parsed.ok()) << value;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_THAT(parsed.status().message(), HasSubstr("BLOODGRID_FAULT_POINTS")) << value;
  }
}

// Each EXPECT_EXIT runs its statement in a forked child, which reads the environment set there
// at its first fault point (this parent process never reaches one).
void RunPoints(const char* env, const std::vector<std::string>& points) {
  if (env != nullptr) setenv(kFaultPointsEnv, env, 1);
  for (const std::string& point : points) {
    BG_FAULT_POINT(point);
    const std::string line = "passed " + point + "\n";
    fputs(line.c_str(), stderr);
  }
  _exit(0);
}

TEST(FaultPointDeathTest, KillsTheProcessAtTheArmedPointAfterLoggingIt) {
  EXPECT_EXIT(RunPoints("x.other,x.armed", {"x.before", "x.armed", "x.after"}),
              ::testing::KilledBySignal(SIGKILL),
              "passed x.before\n.*event=fault_point_hit point=x.armed hit=1\n$");
}

TEST(FaultPointDeathTest, KillsAtTheNthHit) {
  EXPECT_EXIT(RunPoints("p@3", {"p", "q", "p", "p", "p"}), ::testing::KilledBySignal(SIGKILL),
              "passed p\npassed q\npassed p\n.*point=p hit=3\n$");
}

TEST(FaultPointDeathTest, TheTwoPartNameIsTheConcatenation) {
  EXPECT_EXIT(
      {
        setenv(kFaultPointsEnv, "db.commit.after:record test results", 1);
        FaultPoint("db.commit.before:", "record test results");
        FaultPoint("db.commit.after:", "record test");
        fprintf(stderr, "alive\n");
        FaultPoint("db.commit.after:", "record test results");
        _exit(0);
      },
      ::testing::KilledBySignal(SIGKILL),
      "alive\n.*point=\"db.commit.after:record test results\" hit=1");
}

TEST(FaultPointDeathTest, DoesNothingWhenNoPointIsArmed) {
  EXPECT_EXIT(
      {
        unsetenv(kFaultPointsEnv);
        RunPoints(nullptr, {"a", "b"});
      },
      ::testing::ExitedWithCode(0), "passed a\npassed b\n");
  EXPECT_EXIT(RunPoints("", {"a"}), ::testing::ExitedWithCode(0), "passed a\n");
  EXPECT_EXIT(RunPoints("c,d@2", {"a", "b", "d"}), ::testing::ExitedWithCode(0), "passed d\n");
}

TEST(FaultPointDeathTest, AnInvalidValueArmsNothingAndSaysWhy) {
  EXPECT_EXIT(RunPoints("a,a@0", {"a"}), ::testing::ExitedWithCode(0),
              "event=fault_points_invalid .*a@0.*\npassed a\n");
}

TEST(FaultPointDeathTest, ArmedReflectsTheEnvironment) {
  EXPECT_EXIT(
      {
        setenv(kFaultPointsEnv, "a", 1);
        _exit(FaultPointsArmed() ? 3 : 4);
      },
      ::testing::ExitedWithCode(3), "");
  EXPECT_EXIT(
      {
        setenv(kFaultPointsEnv, " , ", 1);
        _exit(FaultPointsArmed() ? 3 : 4);
      },
      ::testing::ExitedWithCode(4), "");
}

}  // namespace
}  // namespace bloodgrid
