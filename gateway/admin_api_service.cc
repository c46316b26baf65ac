// AdminApi: the blood centre's console. Admin role only; most calls forward to one internal
// service, RecordDonation and RecordTestResults compose several (gateway/workflows.h).
#include <type_traits>

#include "common/call_context.h"
#include "common/grpc_status.h"
#include "gateway/api_services.h"
#include "gateway/forward.h"
#include "gateway/workflows.h"

namespace bloodgrid::gateway {

// An AdminApi RPC that is exactly one internal RPC of the same name on `backend`.
#define BG_ADMIN_FORWARD(Rpc, Request, Response, backend)                                     \
  grpc::Status AdminApiService::Rpc(grpc::ServerContext* context, const v1::Request* request, \
                                    v1::Response* response) {                                 \
    BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kAdminApiRoles, #Rpc);                  \
    using Stub = std::remove_reference_t<decltype(backends_.backend())>;                      \
    return Forward(backends_, *context, principal, backends_.backend(), &Stub::Rpc, *request, \
                   response);                                                                 \
  }

BG_ADMIN_FORWARD(GetDonor, GetDonorRequest, Donor, donor)
BG_ADMIN_FORWARD(UpdateDonor, UpdateDonorRequest, Donor, donor)
BG_ADMIN_FORWARD(SearchDonors, SearchDonorsRequest, SearchDonorsResponse, donor)
BG_ADMIN_FORWARD(CheckEligibility, CheckEligibilityRequest, CheckEligibilityResponse, donor)
BG_ADMIN_FORWARD(DeferDonor, DeferDonorRequest, Deferral, donor)
BG_ADMIN_FORWARD(ListDeferrals, ListDeferralsRequest, ListDeferralsResponse, donor)
BG_ADMIN_FORWARD(VoidDeferral, VoidDeferralRequest, Deferral, donor)
BG_ADMIN_FORWARD(ListDonations, ListDonationsRequest, ListDonationsResponse, donor)
BG_ADMIN_FORWARD(FindAppealCandidates, FindAppealCandidatesRequest, FindAppealCandidatesResponse,
                 donor)
BG_ADMIN_FORWARD(CreateAppeal, CreateAppealRequest, Appeal, donor)
BG_ADMIN_FORWARD(RecordAppealResponse, RecordAppealResponseRequest, Appeal, donor)
BG_ADMIN_FORWARD(GetAppeal, GetAppealRequest, Appeal, donor)
BG_ADMIN_FORWARD(ListAppeals, ListAppealsRequest, ListAppealsResponse, donor)
BG_ADMIN_FORWARD(ListBloodTypeConflicts, ListBloodTypeConflictsRequest,
                 ListBloodTypeConflictsResponse, donor)
BG_ADMIN_FORWARD(ResolveBloodTypeConflict, ResolveBloodTypeConflictRequest, BloodTypeConflict,
                 donor)
BG_ADMIN_FORWARD(GetReimbursementBalance, GetReimbursementBalanceRequest, ReimbursementBalance,
                 donor)
BG_ADMIN_FORWARD(ClaimReimbursement, ClaimReimbursementRequest, ClaimReimbursementResponse, donor)
BG_ADMIN_FORWARD(ListReimbursementLedger, ListReimbursementLedgerRequest,
                 ListReimbursementLedgerResponse, donor)
BG_ADMIN_FORWARD(ProcessDonation, ProcessDonationRequest, ProcessDonationResponse, inventory)
BG_ADMIN_FORWARD(ListUnits, ListUnitsRequest, ListUnitsResponse, inventory)
BG_ADMIN_FORWARD(GetUnitTrace, GetUnitTraceRequest, GetUnitTraceResponse, inventory)
BG_ADMIN_FORWARD(ListLookbacks, ListLookbacksRequest, ListLookbacksResponse, inventory)
BG_ADMIN_FORWARD(GetLookback, GetLookbackRequest, LookbackCase, inventory)
BG_ADMIN_FORWARD(DiscardUnit, DiscardUnitRequest, Unit, inventory)
BG_ADMIN_FORWARD(GetStockSummary, GetStockSummaryRequest, GetStockSummaryResponse, inventory)
BG_ADMIN_FORWARD(SetParLevel, SetParLevelRequest, ParLevel, inventory)
BG_ADMIN_FORWARD(UpsertStation, UpsertStationRequest, Station, inventory)
BG_ADMIN_FORWARD(ListStations, ListStationsRequest, ListStationsResponse, inventory)
BG_ADMIN_FORWARD(UpsertHospital, UpsertHospitalRequest, Hospital, request)
BG_ADMIN_FORWARD(ListHospitals, ListHospitalsRequest, ListHospitalsResponse, request)
BG_ADMIN_FORWARD(ListOrders, ListOrdersRequest, ListOrdersResponse, request)
BG_ADMIN_FORWARD(ReviewOrder, ReviewOrderRequest, Order, request)

#undef BG_ADMIN_FORWARD

grpc::Status AdminApiService::RegisterDonor(grpc::ServerContext* context,
                                            const v1::RegisterDonorRequest* request,
                                            v1::Donor* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kAdminApiRoles, "RegisterDonor");
  // The donor service does not know the stations (donor.proto): an unknown home station is
  // refused here, before anything is written.
  const std::string& home_station = request->donor().home_station_id();
  if (!home_station.empty()) {
    absl::Status known = CheckStationKnown(backends_, principal, CallDeadline(*context),
                                           home_station, "donor.home_station_id");
    if (!known.ok()) return ToGrpcStatus(known);
  }
  return Forward(backends_, *context, principal, backends_.donor(),
                 &v1::DonorService::StubInterface::RegisterDonor, *request, response);
}

grpc::Status AdminApiService::RecordDonation(grpc::ServerContext* context,
                                             const v1::RecordDonationRequest* request,
                                             v1::AdminRecordDonationResponse* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kAdminApiRoles, "RecordDonation");
  absl::StatusOr<v1::AdminRecordDonationResponse> result =
      RecordDonationWorkflow(backends_, principal, CallDeadline(*context), *request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status AdminApiService::RecordTestResults(grpc::ServerContext* context,
                                                const v1::RecordTestResultsRequest* request,
                                                v1::AdminRecordTestResultsResponse* response) {
  BG_GATEWAY_AUTHORIZE(principal, tokens_, context, kAdminApiRoles, "RecordTestResults");
  absl::StatusOr<v1::AdminRecordTestResultsResponse> result =
      RecordTestResultsWorkflow(backends_, principal, CallDeadline(*context), *request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace bloodgrid::gateway
