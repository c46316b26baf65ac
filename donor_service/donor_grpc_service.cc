#include "donor_service/donor_grpc_service.h"

#include <grpcpp/server_context.h>

#include "common/call_context.h"
#include "common/grpc_status.h"

namespace bloodgrid::donor {

CallContext DonorGrpcService::CallOf(const grpc::ServerContext& context) const {
  return CallContextFromServer(context, *clock_, time_zone_);
}

grpc::Status DonorGrpcService::RegisterDonor(grpc::ServerContext* context,
                                             const v1::RegisterDonorRequest* request,
                                             v1::Donor* response) {
  return Respond(operations_->RegisterDonor(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::GetDonor(grpc::ServerContext* context,
                                        const v1::GetDonorRequest* request, v1::Donor* response) {
  return Respond(operations_->GetDonor(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::UpdateDonor(grpc::ServerContext* context,
                                           const v1::UpdateDonorRequest* request,
                                           v1::Donor* response) {
  return Respond(operations_->UpdateDonor(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::SearchDonors(grpc::ServerContext* context,
                                            const v1::SearchDonorsRequest* request,
                                            v1::SearchDonorsResponse* response) {
  return Respond(operations_->SearchDonors(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::RecordBloodTyping(grpc::ServerContext* context,
                                                 const v1::RecordBloodTypingRequest* request,
                                                 v1::RecordBloodTypingResponse* response) {
  return Respond(operations_->RecordBloodTyping(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::ListBloodTypeConflicts(
    grpc::ServerContext* context, const v1::ListBloodTypeConflictsRequest* request,
    v1::ListBloodTypeConflictsResponse* response) {
  return Respond(operations_->ListBloodTypeConflicts(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::ResolveBloodTypeConflict(
    grpc::ServerContext* context, const v1::ResolveBloodTypeConflictRequest* request,
    v1::BloodTypeConflict* response) {
  return Respond(operations_->ResolveBloodTypeConflict(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::CheckEligibility(grpc::ServerContext* context,
                                                const v1::CheckEligibilityRequest* request,
                                                v1::CheckEligibilityResponse* response) {
  return Respond(operations_->CheckEligibility(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::DeferDonor(grpc::ServerContext* context,
                                          const v1::DeferDonorRequest* request,
                                          v1::Deferral* response) {
  return Respond(operations_->DeferDonor(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::VoidDeferral(grpc::ServerContext* context,
                                            const v1::VoidDeferralRequest* request,
                                            v1::Deferral* response) {
  return Respond(operations_->VoidDeferral(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::ListDeferrals(grpc::ServerContext* context,
                                             const v1::ListDeferralsRequest* request,
                                             v1::ListDeferralsResponse* response) {
  return Respond(operations_->ListDeferrals(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::VoidDonation(grpc::ServerContext* context,
                                            const v1::VoidDonationRequest* request,
                                            v1::Donation* response) {
  return Respond(operations_->VoidDonation(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::RecordDonation(grpc::ServerContext* context,
                                              const v1::RecordDonationRequest* request,
                                              v1::RecordDonationResponse* response) {
  return Respond(operations_->RecordDonation(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::ListDonations(grpc::ServerContext* context,
                                             const v1::ListDonationsRequest* request,
                                             v1::ListDonationsResponse* response) {
  return Respond(operations_->ListDonations(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::MarkDonorReactive(grpc::ServerContext* context,
                                                 const v1::MarkDonorReactiveRequest* request,
                                                 v1::MarkDonorReactiveResponse* response) {
  return Respond(operations_->MarkDonorReactive(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::FindAppealCandidates(grpc::ServerContext* context,
                                                    const v1::FindAppealCandidatesRequest* request,
                                                    v1::FindAppealCandidatesResponse* response) {
  return Respond(operations_->FindAppealCandidates(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::CreateAppeal(grpc::ServerContext* context,
                                            const v1::CreateAppealRequest* request,
                                            v1::Appeal* response) {
  return Respond(operations_->CreateAppeal(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::RecordAppealResponse(grpc::ServerContext* context,
                                                    const v1::RecordAppealResponseRequest* request,
                                                    v1::Appeal* response) {
  return Respond(operations_->RecordAppealResponse(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::GetAppeal(grpc::ServerContext* context,
                                         const v1::GetAppealRequest* request,
                                         v1::Appeal* response) {
  return Respond(operations_->GetAppeal(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::ListAppeals(grpc::ServerContext* context,
                                           const v1::ListAppealsRequest* request,
                                           v1::ListAppealsResponse* response) {
  return Respond(operations_->ListAppeals(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::GetReimbursementBalance(
    grpc::ServerContext* context, const v1::GetReimbursementBalanceRequest* request,
    v1::ReimbursementBalance* response) {
  return Respond(operations_->GetReimbursementBalance(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::ClaimReimbursement(grpc::ServerContext* context,
                                                  const v1::ClaimReimbursementRequest* request,
                                                  v1::ClaimReimbursementResponse* response) {
  return Respond(operations_->ClaimReimbursement(CallOf(*context), *request), response);
}

grpc::Status DonorGrpcService::ListReimbursementLedger(
    grpc::ServerContext* context, const v1::ListReimbursementLedgerRequest* request,
    v1::ListReimbursementLedgerResponse* response) {
  return Respond(operations_->ListReimbursementLedger(CallOf(*context), *request), response);
}

}  // namespace bloodgrid::donor
