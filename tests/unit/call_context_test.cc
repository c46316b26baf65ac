// The one actor rule and the idempotency scope format every service uses.
#include "common/call_context.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/common.pb.h"
#include "common/clock.h"
#include "common/idempotency.h"
#include "common/page_token.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace bloodgrid {
namespace {

using ::bloodgrid::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ActorRuleTest, AcceptsPrintableActorsUpToTheLimit) {
  struct Case {
    std::optional<std::string> metadata;
    std::string actor;
  };
  const std::string longest = "staff:" + std::string(kMaxActorLength - 6, 'a');
  const Case cases[] = {
      {"hospital:H1", "hospital:H1"},
      {"admin:console", "admin:console"},
      {"system:backorder-watch", "system:backorder-watch"},
      {longest, longest},
      {longest + "a", kUnknownActor},         // one over the limit
      {std::nullopt, kUnknownActor},          // no metadata
      {"", kUnknownActor},                    // empty
      {"admin:alice smith", kUnknownActor},   // a space
      {"admin:\n", kUnknownActor},            // a control character
      {"admin:\xe5\xbc\xa0", kUnknownActor},  // not ASCII
  };
  for (const Case& c : cases) {
    std::optional<absl::string_view> value;
    if (c.metadata) value = *c.metadata;
    EXPECT_EQ(ActorFromMetadata(value), c.actor) << c.metadata.value_or("<absent>");
    EXPECT_EQ(IsValidActor(c.metadata.value_or("")), c.actor != kUnknownActor);
  }
}

TEST(CallContextTest, JobContextNamesTheJobAndTheRegionsDay) {
  // 2026-03-01T16:30Z is already 2026-03-02 in Shanghai (UTC+8).
  FakeClock clock(absl::FromCivil(absl::CivilSecond(2026, 3, 1, 16, 30, 0), absl::UTCTimeZone()));
  absl::TimeZone shanghai;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Shanghai", &shanghai));
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  const CallContext call = JobCallContext("expiry-sweep", clock, shanghai, deadline);
  EXPECT_EQ(call.actor, "system:expiry-sweep");
  EXPECT_EQ(call.now, clock.Now());
  EXPECT_EQ(call.today, absl::CivilDay(2026, 3, 2));
  EXPECT_EQ(call.deadline, deadline);
  EXPECT_TRUE(call.request_id.empty());
  const CallContext keyed = call.WithRequestId("r-1");
  EXPECT_EQ(keyed.request_id, "r-1");
  EXPECT_EQ(keyed.actor, call.actor);
}

TEST(IdempotencyScopeTest, OneFormatForEveryService) {
  EXPECT_EQ(db::IdempotencyScope("RegisterDonor", "admin:console"), "RegisterDonor|admin:console");
  // 64 characters fit the column as they are.
  const std::string fits(64 - std::string("Reserve|").size(), 'x');
  EXPECT_EQ(db::IdempotencyScope("Reserve", fits), "Reserve|" + fits);
  // One more is fingerprinted, the RPC kept readable.
  const std::string too_long = fits + "y";
  const std::string scope = db::IdempotencyScope("Reserve", too_long);
  EXPECT_THAT(scope, StartsWith("Reserve|#"));
  EXPECT_EQ(scope.size(), std::string("Reserve|#").size() + 16);
  EXPECT_EQ(scope, absl::StrCat("Reserve|#", absl::StrFormat("%016x", FilterHash({too_long}))));
  EXPECT_NE(db::IdempotencyScope("Reserve", too_long + "z"), scope);
}

TEST(IdempotencyScopeTest, MakeKeyRefusesAMalformedRequestId) {
  v1::BloodType request;
  EXPECT_THAT(db::MakeIdempotencyKey("Reserve", "hospital:H1", "", request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("request_id")));
  EXPECT_THAT(db::MakeIdempotencyKey("Reserve", "hospital:H1", "bad id", request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("request_id")));
  absl::StatusOr<db::IdempotencyKey> key =
      db::MakeIdempotencyKey("Reserve", "hospital:H1", "r-1", request);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->scope, "Reserve|hospital:H1");
  EXPECT_EQ(key->request_id, "r-1");
  EXPECT_EQ(key->request_hash, db::RequestFingerprint(request));
}

}  // namespace
}  // namespace bloodgrid
