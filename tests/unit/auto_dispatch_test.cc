// AutoDispatchRequestId: every gateway derives the same id for the same proposal in the same
// interval bucket, and another id for other content or another bucket.
#include "gateway/auto_dispatch.h"

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "common/idempotency.h"

namespace bloodgrid::gateway {
namespace {

v1::TransferItem Lot(v1::Component component, v1::AboGroup abo, int quantity) {
  v1::TransferItem item;
  item.mutable_lot()->set_component(component);
  item.mutable_lot()->mutable_blood_type()->set_abo(abo);
  item.mutable_lot()->mutable_blood_type()->set_rhd(v1::RH_D_POSITIVE);
  item.mutable_lot()->set_quantity(quantity);
  return item;
}

v1::TransferProposal Proposal() {
  v1::TransferProposal p;
  p.set_proposal_id("P1");
  p.set_from_station_id("S1");
  p.set_to_station_id("S2");
  *p.add_items() = Lot(v1::COMPONENT_RED_CELLS, v1::ABO_GROUP_O, 4);
  *p.add_items() = Lot(v1::COMPONENT_PLASMA, v1::ABO_GROUP_A, 600);
  p.add_reasons()->set_message("S2 below par");
  return p;
}

const absl::Time kBucket = absl::FromUnixSeconds(1'800'000'000 / 300 * 300);
const absl::Duration kInterval = absl::Minutes(5);

TEST(AutoDispatchRequestIdTest, SameProposalAndWindowGiveTheSameId) {
  const std::string id = AutoDispatchRequestId(Proposal(), kBucket, kInterval);
  EXPECT_TRUE(db::ValidateRequestId(id).ok()) << id;
  EXPECT_EQ(id.rfind("auto.", 0), 0u) << id;
  // Another gateway in the same bucket, another proposal number, other reasons, the items in
  // another order: the same transfer.
  v1::TransferProposal other = Proposal();
  other.set_proposal_id("P7");
  other.mutable_reasons(0)->set_message("reworded");
  other.mutable_items()->SwapElements(0, 1);
  other.set_transport_minutes(45);
  for (absl::Duration offset : {absl::ZeroDuration(), absl::Seconds(1), absl::Seconds(299)}) {
    EXPECT_EQ(AutoDispatchRequestId(other, kBucket + offset, kInterval), id) << offset;
  }
}

TEST(AutoDispatchRequestIdTest, OtherContentOrWindowGivesAnotherId) {
  const std::string id = AutoDispatchRequestId(Proposal(), kBucket, kInterval);
  struct Case {
    const char* what;
    void (*change)(v1::TransferProposal&);
  };
  const Case cases[] = {
      {"origin", [](v1::TransferProposal& p) { p.set_from_station_id("S3"); }},
      {"destination", [](v1::TransferProposal& p) { p.set_to_station_id("S3"); }},
      {"swapped ends",
       [](v1::TransferProposal& p) {
         p.set_from_station_id("S2");
         p.set_to_station_id("S1");
       }},
      {"quantity",
       [](v1::TransferProposal& p) { p.mutable_items(0)->mutable_lot()->set_quantity(5); }},
      {"blood type",
       [](v1::TransferProposal& p) {
         p.mutable_items(0)->mutable_lot()->mutable_blood_type()->set_abo(v1::ABO_GROUP_B);
       }},
      {"an item fewer", [](v1::TransferProposal& p) { p.mutable_items()->RemoveLast(); }},
      {"an item more",
       [](v1::TransferProposal& p) {
         *p.add_items() = Lot(v1::COMPONENT_PLATELETS, v1::ABO_GROUP_O, 1);
       }},
      {"a named unit instead of a lot",
       [](v1::TransferProposal& p) { p.mutable_items(0)->set_unit_id("U1"); }},
  };
  for (const Case& c : cases) {
    v1::TransferProposal changed = Proposal();
    c.change(changed);
    EXPECT_NE(AutoDispatchRequestId(changed, kBucket, kInterval), id) << c.what;
  }
  EXPECT_NE(AutoDispatchRequestId(Proposal(), kBucket + kInterval, kInterval), id) << "next bucket";
  EXPECT_NE(AutoDispatchRequestId(Proposal(), kBucket - absl::Seconds(1), kInterval), id)
      << "previous bucket";
}

TEST(AutoDispatchRequestIdTest, StationIdsCannotRunTogether) {
  v1::TransferProposal a = Proposal();
  a.set_from_station_id("S1");
  a.set_to_station_id("2S");
  v1::TransferProposal b = Proposal();
  b.set_from_station_id("S12");
  b.set_to_station_id("S");
  EXPECT_NE(AutoDispatchRequestId(a, kBucket, kInterval),
            AutoDispatchRequestId(b, kBucket, kInterval));
}

TEST(AutoDispatchRequestIdTest, CanonicalItemsDoNotDependOnThePlannersOrder) {
  v1::TransferProposal swapped = Proposal();
  swapped.mutable_items()->SwapElements(0, 1);
  const std::vector<v1::TransferItem> a = CanonicalTransferItems(Proposal());
  const std::vector<v1::TransferItem> b = CanonicalTransferItems(swapped);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].SerializeAsString(), b[i].SerializeAsString()) << i;
  }
}

}  // namespace
}  // namespace bloodgrid::gateway
