#include "common/donation_rules.h"

#include <functional>
#include <string>
#include <vector>

#include "common/policy.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bloodgrid {
namespace {

using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1764000000);

const v1::PolicyProfile& CnPolicy() {
  static const v1::PolicyProfile* const policy = [] {
    absl::StatusOr<v1::PolicyProfile> loaded =
        LoadPolicyFile(std::string(BLOODGRID_POLICY_DIR) + "/cn-gb18467-2011.textproto");
    if (!loaded.ok()) {
      ADD_FAILURE() << loaded.status();
      return new v1::PolicyProfile();
    }
    return new v1::PolicyProfile(*std::move(loaded));
  }();
  return *policy;
}

// A content that passes: 400 mL of whole blood collected an hour ago.
struct Content {
  DonationContent content;
  google::protobuf::Timestamp collected_at;
  Content() {
    content.donation_type = v1::DONATION_TYPE_WHOLE_BLOOD;
    content.volume_ml = 400;
    content.station_id = "CENTRAL";
    content.product_code = "E0001V00";
    collected_at = ToTimestamp(kNow - absl::Hours(1));
  }
  absl::Status Validate() {
    if (content.collected_at != nullptr) content.collected_at = &collected_at;
    return ValidateDonationContent(content, CnPolicy(), kNow);
  }
};

void WithTime(Content& c, absl::Time t) {
  c.collected_at = ToTimestamp(t);
  c.content.collected_at = &c.collected_at;
}

TEST(DonationRulesTest, AcceptsWhatBothServicesStore) {
  struct Case {
    std::string name;
    std::function<void(Content&)> change;
  };
  const std::vector<Case> cases = {
      {"whole blood 400 mL", [](Content&) {}},
      {"whole blood 200 mL", [](Content& c) { c.content.volume_ml = 200; }},
      {"platelets 250 mL",
       [](Content& c) {
         c.content.donation_type = v1::DONATION_TYPE_APHERESIS_PLATELETS;
         c.content.volume_ml = 250;
       }},
      {"plasma 1000 mL",
       [](Content& c) {
         c.content.donation_type = v1::DONATION_TYPE_APHERESIS_PLASMA;
         c.content.volume_ml = 1000;
       }},
      {"plasma 1 mL",
       [](Content& c) {
         c.content.donation_type = v1::DONATION_TYPE_APHERESIS_PLASMA;
         c.content.volume_ml = 1;
       }},
      {"collected just now", [](Content& c) { WithTime(c, kNow); }},
      {"collected at the edge of the skew",
       [](Content& c) { WithTime(c, kNow + kCollectedAtClockSkew); }},
      {"collected 5 s ahead", [](Content& c) { WithTime(c, kNow + absl::Seconds(5)); }},
      {"collected years ago", [](Content& c) { WithTime(c, kNow - absl::Hours(24 * 900)); }},
      {"whole blood in CPDA-1",
       [](Content& c) { c.content.anticoagulant = v1::PolicyProfile::ANTICOAGULANT_CPDA_1; }},
      {"no product code", [](Content& c) { c.content.product_code.clear(); }},
      {"station id of 32 characters",
       [](Content& c) { c.content.station_id = std::string(32, 'S'); }},
  };
  for (const Case& c : cases) {
    Content content;
    content.content.collected_at = &content.collected_at;
    c.change(content);
    EXPECT_TRUE(content.Validate().ok()) << c.name << ": " << content.Validate();
  }
}

TEST(DonationRulesTest, RefusesNamingTheField) {
  struct Case {
    std::string name;
    std::string field;
    std::function<void(Content&)> change;
  };
  const std::vector<Case> cases = {
      {"no type", "donation_type",
       [](Content& c) { c.content.donation_type = v1::DONATION_TYPE_UNSPECIFIED; }},
      {"type 99", "donation_type",
       [](Content& c) { c.content.donation_type = static_cast<v1::DonationType>(99); }},
      {"whole blood 250 mL", "volume_ml", [](Content& c) { c.content.volume_ml = 250; }},
      {"whole blood 0 mL", "volume_ml", [](Content& c) { c.content.volume_ml = 0; }},
      {"platelets 9000 mL", "volume_ml",
       [](Content& c) {
         c.content.donation_type = v1::DONATION_TYPE_APHERESIS_PLATELETS;
         c.content.volume_ml = 9000;
       }},
      {"plasma 1001 mL", "volume_ml",
       [](Content& c) {
         c.content.donation_type = v1::DONATION_TYPE_APHERESIS_PLASMA;
         c.content.volume_ml = 1001;
       }},
      {"plasma 0 mL", "volume_ml",
       [](Content& c) {
         c.content.donation_type = v1::DONATION_TYPE_APHERESIS_PLASMA;
         c.content.volume_ml = 0;
       }},
      {"platelets -1 mL", "volume_ml",
       [](Content& c) {
         c.content.donation_type = v1::DONATION_TYPE_APHERESIS_PLATELETS;
         c.content.volume_ml = -1;
       }},
      {"no station", "station_id", [](Content& c) { c.content.station_id.clear(); }},
      {"station of 33 characters", "station_id",
       [](Content& c) { c.content.station_id = std::string(33, 'S'); }},
      {"station with a colon", "station_id", [](Content& c) { c.content.station_id = "S:1"; }},
      {"no collected_at", "collected_at", [](Content& c) { c.content.collected_at = nullptr; }},
      {"collected past the skew", "collected_at",
       [](Content& c) { WithTime(c, kNow + kCollectedAtClockSkew + absl::Microseconds(1)); }},
      {"collected in an hour", "collected_at",
       [](Content& c) { WithTime(c, kNow + absl::Hours(1)); }},
      {"nanos 10^9", "collected_at", [](Content& c) { c.collected_at.set_nanos(1000000000); }},
      {"anticoagulant 99", "anticoagulant",
       [](Content& c) {
         c.content.anticoagulant = static_cast<v1::PolicyProfile::Anticoagulant>(99);
       }},
      {"whole blood in MAP (no shelf life)", "anticoagulant",
       [](Content& c) { c.content.anticoagulant = v1::PolicyProfile::ANTICOAGULANT_MAP; }},
      {"product code of 17", "product_code",
       [](Content& c) { c.content.product_code = std::string(17, 'E'); }},
      {"product code with a quote", "product_code",
       [](Content& c) { c.content.product_code = "E00'01"; }},
  };
  for (const Case& c : cases) {
    Content content;
    content.content.collected_at = &content.collected_at;
    c.change(content);
    const absl::Status status = content.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(status.message()), StartsWith(c.field + ":")) << c.name;
  }
}

TEST(DonationRulesTest, CollectedComponent) {
  EXPECT_EQ(CollectedComponent(v1::DONATION_TYPE_WHOLE_BLOOD), v1::COMPONENT_WHOLE_BLOOD);
  EXPECT_EQ(CollectedComponent(v1::DONATION_TYPE_APHERESIS_PLATELETS), v1::COMPONENT_PLATELETS);
  EXPECT_EQ(CollectedComponent(v1::DONATION_TYPE_APHERESIS_PLASMA), v1::COMPONENT_PLASMA);
  EXPECT_EQ(CollectedComponent(v1::DONATION_TYPE_UNSPECIFIED), v1::COMPONENT_UNSPECIFIED);
}

}  // namespace
}  // namespace bloodgrid
