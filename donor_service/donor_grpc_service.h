// The gRPC face of DonorService: thin synchronous handlers that build the call's CallContext
// once (CallContextFromServer: actor, now and today from the service's clock, deadline), call
// DonorOperations and answer through Respond (common/grpc_status.h). No rule and no SQL lives
// here.
//
// Thread-safe.
#ifndef BLOODGRID_DONOR_SERVICE_DONOR_GRPC_SERVICE_H_
#define BLOODGRID_DONOR_SERVICE_DONOR_GRPC_SERVICE_H_

#include "absl/time/time.h"
#include "bloodgrid/v1/donor.grpc.pb.h"
#include "common/call_context.h"
#include "common/clock.h"
#include "donor_service/donor_operations.h"

namespace bloodgrid::donor {

class DonorGrpcService final : public v1::DonorService::Service {
 public:
  // `operations` and `clock` must outlive the service; calendar days are in `time_zone`.
  DonorGrpcService(DonorOperations* operations, const Clock* clock, absl::TimeZone time_zone)
      : operations_(operations), clock_(clock), time_zone_(time_zone) {}

  grpc::Status RegisterDonor(grpc::ServerContext* context, const v1::RegisterDonorRequest* request,
                             v1::Donor* response) override;
  grpc::Status GetDonor(grpc::ServerContext* context, const v1::GetDonorRequest* request,
                        v1::Donor* response) override;
  grpc::Status UpdateDonor(grpc::ServerContext* context, const v1::UpdateDonorRequest* request,
                           v1::Donor* response) override;
  grpc::Status SearchDonors(grpc::ServerContext* context, const v1::SearchDonorsRequest* request,
                            v1::SearchDonorsResponse* response) override;
  grpc::Status RecordBloodTyping(grpc::ServerContext* context,
                                 const v1::RecordBloodTypingRequest* request,
                                 v1::RecordBloodTypingResponse* response) override;
  grpc::Status ListBloodTypeConflicts(grpc::ServerContext* context,
                                      const v1::ListBloodTypeConflictsRequest* request,
                                      v1::ListBloodTypeConflictsResponse* response) override;
  grpc::Status ResolveBloodTypeConflict(grpc::ServerContext* context,
                                        const v1::ResolveBloodTypeConflictRequest* request,
                                        v1::BloodTypeConflict* response) override;
  grpc::Status CheckEligibility(grpc::ServerContext* context,
                                const v1::CheckEligibilityRequest* request,
                                v1::CheckEligibilityResponse* response) override;
  grpc::Status DeferDonor(grpc::ServerContext* context, const v1::DeferDonorRequest* request,
                          v1::Deferral* response) override;
  grpc::Status VoidDeferral(grpc::ServerContext* context, const v1::VoidDeferralRequest* request,
                            v1::Deferral* response) override;
  grpc::Status ListDeferrals(grpc::ServerContext* context, const v1::ListDeferralsRequest* request,
                             v1::ListDeferralsResponse* response) override;
  grpc::Status RecordDonation(grpc::ServerContext* context,
                              const v1::RecordDonationRequest* request,
                              v1::RecordDonationResponse* response) override;
  grpc::Status VoidDonation(grpc::ServerContext* context, const v1::VoidDonationRequest* request,
                            v1::Donation* response) override;
  grpc::Status ListDonations(grpc::ServerContext* context, const v1::ListDonationsRequest* request,
                             v1::ListDonationsResponse* response) override;
  grpc::Status MarkDonorReactive(grpc::ServerContext* context,
                                 const v1::MarkDonorReactiveRequest* request,
                                 v1::MarkDonorReactiveResponse* response) override;
  grpc::Status FindAppealCandidates(grpc::ServerContext* context,
                                    const v1::FindAppealCandidatesRequest* request,
                                    v1::FindAppealCandidatesResponse* response) override;
  grpc::Status CreateAppeal(grpc::ServerContext* context, const v1::CreateAppealRequest* request,
                            v1::Appeal* response) override;
  grpc::Status RecordAppealResponse(grpc::ServerContext* context,
                                    const v1::RecordAppealResponseRequest* request,
                                    v1::Appeal* response) override;
  grpc::Status GetAppeal(grpc::ServerContext* context, const v1::GetAppealRequest* request,
                         v1::Appeal* response) override;
  grpc::Status ListAppeals(grpc::ServerContext* context, const v1::ListAppealsRequest* request,
                           v1::ListAppealsResponse* response) override;
  grpc::Status GetReimbursementBalance(grpc::ServerContext* context,
                                       const v1::GetReimbursementBalanceRequest* request,
                                       v1::ReimbursementBalance* response) override;
  grpc::Status ClaimReimbursement(grpc::ServerContext* context,
                                  const v1::ClaimReimbursementRequest* request,
                                  v1::ClaimReimbursementResponse* response) override;
  grpc::Status ListReimbursementLedger(grpc::ServerContext* context,
                                       const v1::ListReimbursementLedgerRequest* request,
                                       v1::ListReimbursementLedgerResponse* response) override;

 private:
  CallContext CallOf(const grpc::ServerContext& context) const;

  DonorOperations* const operations_;
  const Clock* const clock_;
  const absl::TimeZone time_zone_;
};

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_DONOR_GRPC_SERVICE_H_
