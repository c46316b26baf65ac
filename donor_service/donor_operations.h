// DonorOperations: every DonorService RPC as a plain function of (CallContext, request) ->
// StatusOr<response>, in the contract's messages (protos/bloodgrid/v1/donor.proto, whose RPC
// comments are this class's contract). Each one validates the request (INVALID_ARGUMENT naming
// the field before anything is read or written), resolves dates in the region's time zone,
// and runs the rules (eligibility.h, donor_rules.h) against the DonorStore. The gRPC handlers
// (donor_grpc_service.h) only adapt to it, so the whole service is testable without gRPC.
//
// Thread-safe: holds only immutable configuration and thread-safe collaborators.
#ifndef BLOODGRID_DONOR_SERVICE_DONOR_OPERATIONS_H_
#define BLOODGRID_DONOR_SERVICE_DONOR_OPERATIONS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/donor.pb.h"
#include "bloodgrid/v1/policy.pb.h"
#include "common/call_context.h"
#include "donor_service/donor_store.h"

namespace bloodgrid::donor {

class DonorOperations {
 public:
  // `policy` is the validated profile the service loaded; `store` must outlive this object;
  // calendar dates are days in `time_zone`. "Now" and "today" are the CallContext's (read once
  // per call from the service's clock by whoever builds it); a mutating RPC records its
  // request's request_id with the call's actor.
  DonorOperations(const v1::PolicyProfile& policy, DonorStore* store, absl::TimeZone time_zone);

  absl::StatusOr<v1::Donor> RegisterDonor(const CallContext& call,
                                          const v1::RegisterDonorRequest& request);
  absl::StatusOr<v1::Donor> GetDonor(const CallContext& call, const v1::GetDonorRequest& request);
  absl::StatusOr<v1::Donor> UpdateDonor(const CallContext& call,
                                        const v1::UpdateDonorRequest& request);
  absl::StatusOr<v1::SearchDonorsResponse> SearchDonors(const CallContext& call,
                                                        const v1::SearchDonorsRequest& request);

  absl::StatusOr<v1::RecordBloodTypingResponse> RecordBloodTyping(
      const CallContext& call, const v1::RecordBloodTypingRequest& request);
  absl::StatusOr<v1::ListBloodTypeConflictsResponse> ListBloodTypeConflicts(
      const CallContext& call, const v1::ListBloodTypeConflictsRequest& request);
  absl::StatusOr<v1::BloodTypeConflict> ResolveBloodTypeConflict(
      const CallContext& call, const v1::ResolveBloodTypeConflictRequest& request);

  absl::StatusOr<v1::CheckEligibilityResponse> CheckEligibility(
      const CallContext& call, const v1::CheckEligibilityRequest& request);

  absl::StatusOr<v1::Deferral> DeferDonor(const CallContext& call,
                                          const v1::DeferDonorRequest& request);
  absl::StatusOr<v1::Deferral> VoidDeferral(const CallContext& call,
                                            const v1::VoidDeferralRequest& request);
  absl::StatusOr<v1::ListDeferralsResponse> ListDeferrals(const CallContext& call,
                                                          const v1::ListDeferralsRequest& request);

  absl::StatusOr<v1::RecordDonationResponse> RecordDonation(
      const CallContext& call, const v1::RecordDonationRequest& request);
  absl::StatusOr<v1::Donation> VoidDonation(const CallContext& call,
                                            const v1::VoidDonationRequest& request);
  absl::StatusOr<v1::ListDonationsResponse> ListDonations(const CallContext& call,
                                                          const v1::ListDonationsRequest& request);
  absl::StatusOr<v1::MarkDonorReactiveResponse> MarkDonorReactive(
      const CallContext& call, const v1::MarkDonorReactiveRequest& request);

  absl::StatusOr<v1::FindAppealCandidatesResponse> FindAppealCandidates(
      const CallContext& call, const v1::FindAppealCandidatesRequest& request);
  absl::StatusOr<v1::Appeal> CreateAppeal(const CallContext& call,
                                          const v1::CreateAppealRequest& request);
  absl::StatusOr<v1::Appeal> RecordAppealResponse(const CallContext& call,
                                                  const v1::RecordAppealResponseRequest& request);
  absl::StatusOr<v1::Appeal> GetAppeal(const CallContext& call,
                                       const v1::GetAppealRequest& request);
  absl::StatusOr<v1::ListAppealsResponse> ListAppeals(const CallContext& call,
                                                      const v1::ListAppealsRequest& request);

  absl::StatusOr<v1::ReimbursementBalance> GetReimbursementBalance(
      const CallContext& call, const v1::GetReimbursementBalanceRequest& request);
  absl::StatusOr<v1::ClaimReimbursementResponse> ClaimReimbursement(
      const CallContext& call, const v1::ClaimReimbursementRequest& request);
  absl::StatusOr<v1::ListReimbursementLedgerResponse> ListReimbursementLedger(
      const CallContext& call, const v1::ListReimbursementLedgerRequest& request);

 private:
  absl::StatusOr<absl::CivilDay> DayOrToday(const std::string& text, const std::string& field,
                                            const CallContext& call) const;

  const v1::PolicyProfile policy_;
  DonorStore* const store_;
  const absl::TimeZone time_zone_;
};

}  // namespace bloodgrid::donor

#endif  // BLOODGRID_DONOR_SERVICE_DONOR_OPERATIONS_H_
