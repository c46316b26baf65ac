#include "donor_service/donation_unit_reconciler.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bloodgrid/v1/donor.pb.h"
#include "bloodgrid/v1/inventory.grpc.pb.h"
#include "common/donation_rules.h"
#include "common/idempotency.h"
#include "common/log.h"
#include "common/status.h"

namespace bloodgrid::donor {
namespace {

class GrpcCollectionRegistrar : public CollectionRegistrar {
 public:
  explicit GrpcCollectionRegistrar(std::shared_ptr<grpc::Channel> channel)
      : stub_(v1::InventoryService::NewStub(std::move(channel))) {}

  grpc::Status RegisterCollection(const CallContext& call,
                                  const v1::RegisterCollectionRequest& request,
                                  v1::RegisterCollectionResponse* response) override {
    grpc::ClientContext context;
    PrepareOutgoingCall(context, call.actor, call.deadline, absl::Seconds(10));
    return stub_->RegisterCollection(&context, request, response);
  }

 private:
  std::unique_ptr<v1::InventoryService::Stub> stub_;
};

}  // namespace

std::unique_ptr<CollectionRegistrar> NewGrpcCollectionRegistrar(
    std::shared_ptr<grpc::Channel> channel) {
  return std::make_unique<GrpcCollectionRegistrar>(std::move(channel));
}

v1::RegisterCollectionRequest CollectionRequestFor(const UnconfirmedDonation& pending) {
  const v1::Donation& d = pending.donation;
  v1::RegisterCollectionRequest request;
  request.set_request_id(absl::StrCat("donor.collect.", d.din()));
  request.set_din(d.din());
  request.set_donor_id(d.donor_id());
  request.set_donation_type(d.donation_type());
  *request.mutable_blood_type() = pending.donor_blood_type;
  request.set_volume_ml(d.volume_ml());
  *request.mutable_collected_at() = d.collected_at();
  request.set_station_id(d.station_id());
  request.set_anticoagulant(d.anticoagulant());
  request.set_product_code(pending.product_code);
  return request;
}

DonationUnitReconciler::DonationUnitReconciler(DonorStore* store, CollectionRegistrar* inventory,
                                               const Clock* clock, Options options)
    : store_(store), inventory_(inventory), clock_(clock), options_(options) {}

absl::StatusOr<DonationUnitReconciler::PassResult> DonationUnitReconciler::RunPass() {
  const CallContext call = JobCallContext(kDonationUnitsJob, *clock_, options_.time_zone,
                                          absl::Now() + options_.pass_budget);
  BG_ASSIGN_OR_RETURN(
      std::vector<UnconfirmedDonation> pending,
      store_->ListUnconfirmedDonations(call, call.now - options_.grace, options_.batch));
  PassResult result;
  for (const UnconfirmedDonation& donation : pending) {
    const std::string& din = donation.donation.din();
    v1::RegisterCollectionResponse registered;
    const grpc::Status status =
        inventory_->RegisterCollection(call, CollectionRequestFor(donation), &registered);
    if (status.ok()) {
      BG_RETURN_IF_ERROR(store_->ConfirmDonationUnit(call, din));
      ++result.confirmed;
      continue;
    }
    if (!IsUnitRefusal(static_cast<absl::StatusCode>(status.error_code()))) {
      return absl::UnavailableError(absl::StrCat("inventory could not register the unit of ", din,
                                                 ": ", status.error_message()));
    }
    v1::VoidDonationRequest request;
    request.set_request_id(absl::StrCat("donor.void.", din));
    request.set_din(din);
    request.set_reason(
        absl::StrCat("inventory refused the unit: ", status.error_message()).substr(0, 1000));
    BG_ASSIGN_OR_RETURN(
        db::IdempotencyKey key,
        db::MakeIdempotencyKey("VoidDonation", call.actor, request.request_id(), request));
    BG_RETURN_IF_ERROR(
        store_->VoidDonation(call.WithRequestId(request.request_id()), key, din, request.reason())
            .status());
    LogWarning("donation_voided", {{"din", din}, {"reason", request.reason()}});
    ++result.voided;
  }
  return result;
}

}  // namespace bloodgrid::donor
