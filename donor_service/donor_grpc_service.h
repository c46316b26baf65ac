// The gRPC face of DonorService: thin synchronous handlers that read the caller (actor
// metadata, deadline), call DonorOperations and convert the status once (ToGrpcStatus). No
// rule and no SQL lives here.
//
// Thread-safe.
#ifndef BLOODGRID_DONOR_SERVICE_DONOR_GRPC_SERVICE_H_
#define BLOODGRID_DONOR_SERVICE_DONOR_GRPC_SERVICE_H_

#include "bloodgrid/v1/donor.grpc.pb.h"
#include "donor_service/donor_operations.h"

namespace bloodgrid::donor {

// Metadata key carrying "<role>:<subject>" of the caller (common.proto "Actor").
inline constexpr char kActorMetadataKey[] = "x-bloodgrid-actor";

class DonorGrpcService final : public v1::DonorService::Service {
 public:
  // `operations` must outlive the service.
  explicit DonorGrpcService(DonorOperations* operations) : operations_(operations) {}

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
  DonorOperations* const operations_;
};

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_DONOR_GRPC_SERVICE_H_
