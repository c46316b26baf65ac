// The gateway's three public services (DESIGN.md "Public API"), served on one port. Handlers
// authenticate and authorise, take the hospital from the token (never from the message),
// forward to or compose the internal services, and return their status deliberately mapped.
#ifndef BLOODGRID_GATEWAY_API_SERVICES_H_
#define BLOODGRID_GATEWAY_API_SERVICES_H_

#include "bloodgrid/v1/admin_api.grpc.pb.h"
#include "bloodgrid/v1/dispatch_api.grpc.pb.h"
#include "bloodgrid/v1/hospital_api.grpc.pb.h"
#include "gateway/auth.h"
#include "gateway/backends.h"

namespace bloodgrid::gateway {

class HospitalApiService final : public v1::HospitalApi::Service {
 public:
  HospitalApiService(const TokenStore& tokens, Backends& backends)
      : tokens_(tokens), backends_(backends) {}

  grpc::Status PlaceOrder(grpc::ServerContext* context, const v1::PlaceOrderRequest* request,
                          v1::Order* response) override;
  grpc::Status GetOrder(grpc::ServerContext* context, const v1::GetOrderRequest* request,
                        v1::Order* response) override;
  grpc::Status ListOrders(grpc::ServerContext* context, const v1::ListOrdersRequest* request,
                          v1::ListOrdersResponse* response) override;
  grpc::Status CancelOrder(grpc::ServerContext* context, const v1::CancelOrderRequest* request,
                           v1::Order* response) override;
  grpc::Status ConfirmDelivery(grpc::ServerContext* context,
                               const v1::ConfirmDeliveryRequest* request,
                               v1::Order* response) override;
  grpc::Status ReportTransfusion(grpc::ServerContext* context,
                                 const v1::ReportTransfusionRequest* request,
                                 v1::Order* response) override;
  grpc::Status GetAvailability(grpc::ServerContext* context,
                               const v1::GetAvailabilityRequest* request,
                               v1::GetAvailabilityResponse* response) override;
  grpc::Status ListRecalls(grpc::ServerContext* context, const v1::ListRecallsRequest* request,
                           v1::ListRecallsResponse* response) override;
  grpc::Status AcknowledgeRecall(grpc::ServerContext* context,
                                 const v1::AcknowledgeRecallRequest* request,
                                 v1::RecallNotice* response) override;

 private:
  const TokenStore& tokens_;
  Backends& backends_;
};

class AdminApiService final : public v1::AdminApi::Service {
 public:
  AdminApiService(const TokenStore& tokens, Backends& backends)
      : tokens_(tokens), backends_(backends) {}

  grpc::Status RegisterDonor(grpc::ServerContext*, const v1::RegisterDonorRequest*,
                             v1::Donor*) override;
  grpc::Status GetDonor(grpc::ServerContext*, const v1::GetDonorRequest*, v1::Donor*) override;
  grpc::Status UpdateDonor(grpc::ServerContext*, const v1::UpdateDonorRequest*,
                           v1::Donor*) override;
  grpc::Status SearchDonors(grpc::ServerContext*, const v1::SearchDonorsRequest*,
                            v1::SearchDonorsResponse*) override;
  grpc::Status CheckEligibility(grpc::ServerContext*, const v1::CheckEligibilityRequest*,
                                v1::CheckEligibilityResponse*) override;
  grpc::Status DeferDonor(grpc::ServerContext*, const v1::DeferDonorRequest*,
                          v1::Deferral*) override;
  grpc::Status ListDeferrals(grpc::ServerContext*, const v1::ListDeferralsRequest*,
                             v1::ListDeferralsResponse*) override;
  grpc::Status VoidDeferral(grpc::ServerContext*, const v1::VoidDeferralRequest*,
                            v1::Deferral*) override;
  grpc::Status RecordDonation(grpc::ServerContext*, const v1::RecordDonationRequest*,
                              v1::AdminRecordDonationResponse*) override;
  grpc::Status ListDonations(grpc::ServerContext*, const v1::ListDonationsRequest*,
                             v1::ListDonationsResponse*) override;
  grpc::Status FindAppealCandidates(grpc::ServerContext*, const v1::FindAppealCandidatesRequest*,
                                    v1::FindAppealCandidatesResponse*) override;
  grpc::Status CreateAppeal(grpc::ServerContext*, const v1::CreateAppealRequest*,
                            v1::Appeal*) override;
  grpc::Status RecordAppealResponse(grpc::ServerContext*, const v1::RecordAppealResponseRequest*,
                                    v1::Appeal*) override;
  grpc::Status GetAppeal(grpc::ServerContext*, const v1::GetAppealRequest*, v1::Appeal*) override;
  grpc::Status ListAppeals(grpc::ServerContext*, const v1::ListAppealsRequest*,
                           v1::ListAppealsResponse*) override;
  grpc::Status ListBloodTypeConflicts(grpc::ServerContext*,
                                      const v1::ListBloodTypeConflictsRequest*,
                                      v1::ListBloodTypeConflictsResponse*) override;
  grpc::Status ResolveBloodTypeConflict(grpc::ServerContext*,
                                        const v1::ResolveBloodTypeConflictRequest*,
                                        v1::BloodTypeConflict*) override;
  grpc::Status GetReimbursementBalance(grpc::ServerContext*,
                                       const v1::GetReimbursementBalanceRequest*,
                                       v1::ReimbursementBalance*) override;
  grpc::Status ClaimReimbursement(grpc::ServerContext*, const v1::ClaimReimbursementRequest*,
                                  v1::ClaimReimbursementResponse*) override;
  grpc::Status ListReimbursementLedger(grpc::ServerContext*,
                                       const v1::ListReimbursementLedgerRequest*,
                                       v1::ListReimbursementLedgerResponse*) override;
  grpc::Status RecordTestResults(grpc::ServerContext*, const v1::RecordTestResultsRequest*,
                                 v1::AdminRecordTestResultsResponse*) override;
  grpc::Status ProcessDonation(grpc::ServerContext*, const v1::ProcessDonationRequest*,
                               v1::ProcessDonationResponse*) override;
  grpc::Status ListUnits(grpc::ServerContext*, const v1::ListUnitsRequest*,
                         v1::ListUnitsResponse*) override;
  grpc::Status GetUnitTrace(grpc::ServerContext*, const v1::GetUnitTraceRequest*,
                            v1::GetUnitTraceResponse*) override;
  grpc::Status ListLookbacks(grpc::ServerContext*, const v1::ListLookbacksRequest*,
                             v1::ListLookbacksResponse*) override;
  grpc::Status GetLookback(grpc::ServerContext*, const v1::GetLookbackRequest*,
                           v1::LookbackCase*) override;
  grpc::Status DiscardUnit(grpc::ServerContext*, const v1::DiscardUnitRequest*, v1::Unit*) override;
  grpc::Status GetStockSummary(grpc::ServerContext*, const v1::GetStockSummaryRequest*,
                               v1::GetStockSummaryResponse*) override;
  grpc::Status SetParLevel(grpc::ServerContext*, const v1::SetParLevelRequest*,
                           v1::ParLevel*) override;
  grpc::Status UpsertStation(grpc::ServerContext*, const v1::UpsertStationRequest*,
                             v1::Station*) override;
  grpc::Status ListStations(grpc::ServerContext*, const v1::ListStationsRequest*,
                            v1::ListStationsResponse*) override;
  grpc::Status UpsertHospital(grpc::ServerContext*, const v1::UpsertHospitalRequest*,
                              v1::Hospital*) override;
  grpc::Status ListHospitals(grpc::ServerContext*, const v1::ListHospitalsRequest*,
                             v1::ListHospitalsResponse*) override;
  grpc::Status ListOrders(grpc::ServerContext*, const v1::ListOrdersRequest*,
                          v1::ListOrdersResponse*) override;
  grpc::Status ReviewOrder(grpc::ServerContext*, const v1::ReviewOrderRequest*,
                           v1::Order*) override;

 private:
  const TokenStore& tokens_;
  Backends& backends_;
};

class DispatchApiService final : public v1::DispatchApi::Service {
 public:
  DispatchApiService(const TokenStore& tokens, Backends& backends)
      : tokens_(tokens), backends_(backends) {}

  grpc::Status DispatchOrder(grpc::ServerContext*, const v1::DispatchOrderRequest*,
                             v1::Order*) override;
  grpc::Status PlanRebalance(grpc::ServerContext*, const v1::PlanRebalanceRequest*,
                             v1::PlanRebalanceResponse*) override;
  grpc::Status CreateTransfer(grpc::ServerContext*, const v1::CreateTransferRequest*,
                              v1::Transfer*) override;
  grpc::Status ReceiveTransfer(grpc::ServerContext*, const v1::ReceiveTransferRequest*,
                               v1::Transfer*) override;
  grpc::Status ListTransfers(grpc::ServerContext*, const v1::ListTransfersRequest*,
                             v1::ListTransfersResponse*) override;
  grpc::Status WatchStock(grpc::ServerContext*, const v1::WatchStockRequest*,
                          grpc::ServerWriter<v1::StockEvent>*) override;

 private:
  const TokenStore& tokens_;
  Backends& backends_;
};

}  // namespace bloodgrid::gateway

#endif  // BLOODGRID_GATEWAY_API_SERVICES_H_
