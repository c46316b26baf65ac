// Automated dispatch in two gateway replicas over one real inventory: the same proposal in the
// same interval bucket becomes one transfer, sent once, whichever replica calls first; the next
// bucket is a new transfer.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "gateway/auto_dispatch.h"
#include "gateway/backends.h"
#include "tests/integration/inventory_test_support.h"

namespace bloodgrid::inventory {
namespace {

using ::bloodgrid::inventory::testing::InventoryServerTest;
using ::bloodgrid::inventory::testing::OPos;

class AutoDispatchReplicasTest : public InventoryServerTest {
 protected:
  gateway::BackendOptions Options() {
    gateway::BackendOptions options;
    options.donor_target = "127.0.0.1:1";  // not needed here
    options.request_target = "127.0.0.1:1";
    options.inventory_target = absl::StrCat("127.0.0.1:", server_->port());
    return options;
  }

  v1::TransferProposal Proposal(int units) {
    v1::TransferProposal proposal;
    proposal.set_proposal_id("P1");
    proposal.set_from_station_id("S1");
    proposal.set_to_station_id("S2");
    v1::TransferLot* lot = proposal.add_items()->mutable_lot();
    lot->set_component(v1::COMPONENT_WHOLE_BLOOD);
    *lot->mutable_blood_type() = OPos();
    lot->set_quantity(units);
    return proposal;
  }

  int Transfers() {
    v1::ListTransfersRequest request;
    v1::ListTransfersResponse response;
    EXPECT_TRUE(Call(&v1::InventoryService::Stub::ListTransfers, request, &response).ok());
    return response.transfers_size();
  }
};

TEST_F(AutoDispatchReplicasTest, TwoGatewaysMakeOneTransferOfTheSameProposal) {
  AddStation("S1");
  AddStation("S2");
  for (int i = 0; i < 4; ++i) AvailableUnit("S1", OPos());
  gateway::Backends gateway_a(Options());
  gateway::Backends gateway_b(Options());
  const absl::Duration interval = absl::Minutes(5);
  const absl::Time bucket = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) / 300 * 300);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);

  // Each replica plans at its own moment of the bucket, with its own wording of the reasons.
  absl::StatusOr<v1::Transfer> a = gateway::CreateAutoDispatchTransfer(
      gateway_a, deadline,
      gateway::AutoDispatchTransferRequest(Proposal(2), "S2 below par", bucket, interval));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->status(), v1::TRANSFER_STATUS_IN_TRANSIT) << "created and sent";
  absl::StatusOr<v1::Transfer> b = gateway::CreateAutoDispatchTransfer(
      gateway_b, deadline,
      gateway::AutoDispatchTransferRequest(Proposal(2), "S2 below par", bucket + absl::Seconds(170),
                                           interval));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->transfer_id(), a->transfer_id()) << "the second gateway replays the first";
  EXPECT_EQ(b->status(), v1::TRANSFER_STATUS_IN_TRANSIT);
  EXPECT_EQ(Transfers(), 1);

  // The next bucket's round is a new transfer (of the units still at S1).
  absl::StatusOr<v1::Transfer> next = gateway::CreateAutoDispatchTransfer(
      gateway_b, deadline,
      gateway::AutoDispatchTransferRequest(Proposal(2), "S2 below par", bucket + interval,
                                           interval));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_NE(next->transfer_id(), a->transfer_id());
  EXPECT_EQ(Transfers(), 2);
}

TEST_F(AutoDispatchReplicasTest, ARefusedProposalIsReportedAndWritesNothing) {
  AddStation("S1");
  AddStation("S2");
  gateway::Backends gateway_a(Options());
  // Nothing at S1 to move.
  absl::StatusOr<v1::Transfer> a = gateway::CreateAutoDispatchTransfer(
      gateway_a, absl::Now() + absl::Seconds(20),
      gateway::AutoDispatchTransferRequest(Proposal(2), "S2 below par", absl::Now(),
                                           absl::Minutes(5)));
  EXPECT_FALSE(a.ok());
  EXPECT_NE(a.status().code(), absl::StatusCode::kInternal) << a.status();
  EXPECT_EQ(Transfers(), 0);
}

}  // namespace
}  // namespace bloodgrid::inventory
