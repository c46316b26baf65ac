// DonationUnitReconciler: finishes every donation the gateway left without its unit. The gateway
// records a donation, then asks the inventory for the unit; when that second step fails for a
// reason a retry may cure (the inventory down, a deadline) and the caller never retries, the
// donation would stay without a unit. Each pass takes the donations a few minutes old that are
// neither voided nor confirmed (DonorStore::ListUnconfirmedDonations) and asks the inventory to
// register each unit (RegisterCollection is idempotent on the DIN: an existing unit is
// returned): a unit confirms the donation; a refusal (IsUnitRefusal, common/donation_rules.h)
// voids it with the refusal as its reason; any other failure ends the pass, to be retried on
// the next.
//
// Run by one replica at a time: a PeriodicTask gated by the job lease "donation_units".
// Thread-compatible: one pass at a time.
#ifndef BLOODGRID_DONOR_SERVICE_DONATION_UNIT_RECONCILER_H_
#define BLOODGRID_DONOR_SERVICE_DONATION_UNIT_RECONCILER_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "common/call_context.h"
#include "common/clock.h"
#include "donor_service/donor_store.h"

namespace bloodgrid::donor {

// The reconciler's job lease (common/job_lease.h).
inline constexpr char kDonationUnitsJob[] = "donation_units";

// The inventory's RegisterCollection as the reconciler calls it (the gRPC stub in the service,
// a fake in tests).
class CollectionRegistrar {
 public:
  virtual ~CollectionRegistrar() = default;
  virtual grpc::Status RegisterCollection(const CallContext& call,
                                          const v1::RegisterCollectionRequest& request,
                                          v1::RegisterCollectionResponse* response) = 0;
};

class DonationUnitReconciler {
 public:
  struct Options {
    // A donation younger than this is left to the gateway's own call.
    absl::Duration grace = absl::Minutes(5);
    // Donations looked at per pass.
    int batch = 100;
    // Real-time budget of one pass.
    absl::Duration pass_budget = absl::Seconds(20);
    absl::TimeZone time_zone = absl::UTCTimeZone();
  };
  // What one pass did.
  struct PassResult {
    int confirmed = 0;
    int voided = 0;
  };

  // None of the pointers is owned; all must outlive the reconciler.
  DonationUnitReconciler(DonorStore* store, CollectionRegistrar* inventory, const Clock* clock,
                         Options options);

  // One pass. UNAVAILABLE (naming the DIN) when the inventory cannot answer; the donations
  // already settled in the pass stay settled.
  absl::StatusOr<PassResult> RunPass();

 private:
  DonorStore* const store_;
  CollectionRegistrar* const inventory_;
  const Clock* const clock_;
  const Options options_;
};

// RegisterCollection over gRPC on `channel`, each call prepared for the call's actor and
// deadline (at most 10 s).
std::unique_ptr<CollectionRegistrar> NewGrpcCollectionRegistrar(
    std::shared_ptr<grpc::Channel> channel);

// The RegisterCollection request for `pending`, with request_id "donor.collect.<din>".
v1::RegisterCollectionRequest CollectionRequestFor(const UnconfirmedDonation& pending);

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_DONATION_UNIT_RECONCILER_H_
