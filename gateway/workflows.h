// The gateway's multi-step workflows. Each is safe to retry with the same request_id: every
// step is idempotent in its service (keyed by the DIN, the donor + DIN, or a request_id
// derived from the DIN), so a retry after a failure part-way completes what is missing and
// repeats nothing.
#ifndef BLOODGRID_GATEWAY_WORKFLOWS_H_
#define BLOODGRID_GATEWAY_WORKFLOWS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bloodgrid/v1/admin_api.pb.h"
#include "bloodgrid/v1/dispatch_api.pb.h"
#include "bloodgrid/v1/hospital_api.pb.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "gateway/auth.h"

namespace bloodgrid::gateway {

class Backends;

// OK when the inventory knows `station_id`. INVALID_ARGUMENT "<field>: unknown station" when it
// does not or the id is malformed; the inventory's status (mapped) when it cannot answer.
absl::Status CheckStationKnown(Backends& backends, const Principal& principal, absl::Time deadline,
                               const std::string& station_id, absl::string_view field);

// OK when the inventory knows `station_id` and it is active. Errors as CheckStationKnown, and
// FAILED_PRECONDITION "<field>: station '<id>' is inactive and takes no new stock".
absl::Status CheckStationTakesStock(Backends& backends, const Principal& principal,
                                    absl::Time deadline, const std::string& station_id,
                                    absl::string_view field);

// AdminApi.RecordDonation: the station must be known and active (CheckStationTakesStock), the
// donor service checks the content and eligibility and records the donation
// (FAILED_PRECONDITION with the reasons when ineligible), then the inventory registers the
// quarantined unit for the DIN. Nothing is written for a request any step would refuse for its
// content. When the inventory refuses the unit all the same (INVALID_ARGUMENT,
// FAILED_PRECONDITION, ALREADY_EXISTS, NOT_FOUND, OUT_OF_RANGE: a state that changed in
// between), the donation is voided with the refusal as its reason and the refusal is returned,
// saying so. Any other failure of the second step leaves the donation recorded ("retry"): the
// caller's retry finds it and completes the unit, and without a retry the donor service's
// donation-unit reconciler (donor_service/donation_unit_reconciler.h) registers or voids it.
absl::StatusOr<v1::AdminRecordDonationResponse> RecordDonationWorkflow(
    Backends& backends, const Principal& principal, absl::Time deadline,
    const v1::RecordDonationRequest& request);

// AdminApi.RecordTestResults: the inventory records the results (release or discard). When
// the donation typed, the donor service records the typing (a disagreement becomes a conflict
// to resolve). When a result is reactive: the donor service defers the donor permanently, the
// inventory quarantines the donor's earlier units in the lookback window, and the request
// service names the hospitals that received any of them.
absl::StatusOr<v1::AdminRecordTestResultsResponse> RecordTestResultsWorkflow(
    Backends& backends, const Principal& principal, absl::Time deadline,
    const v1::RecordTestResultsRequest& request);

// DispatchApi.PlanRebalance: reads the region's inputs from the inventory and runs the
// planner. INVALID_ARGUMENT for a horizon outside 1..336 or an unknown station_id; a planner
// refusal of the inventory's own inputs is logged and INTERNAL (a defect, not the caller's).
absl::StatusOr<v1::PlanRebalanceResponse> PlanRegionWorkflow(
    Backends& backends, const Principal& principal, absl::Time deadline,
    const v1::PlanRebalanceRequest& request);

// DispatchApi.CreateTransfer: creates the transfer, then dispatches it (IN_TRANSIT). Both
// steps are idempotent (the dispatch step's request_id derives from the transfer), so a retry
// after a failure between them completes the dispatch.
absl::StatusOr<v1::Transfer> CreateAndDispatchTransferWorkflow(
    Backends& backends, const Principal& principal, absl::Time deadline,
    const v1::CreateTransferRequest& request);

// HospitalApi.GetAvailability from a stock summary: for each component asked (all five, or
// the one given) one row per each of the 8 ABO/RhD types, zero rows included, summing AVAILABLE
// stock over every station. Pure.
v1::GetAvailabilityResponse AvailabilityFromStock(const v1::GetStockSummaryResponse& stock,
                                                  std::optional<v1::Component> component);

}  // namespace bloodgrid::gateway

#endif  // BLOODGRID_GATEWAY_WORKFLOWS_H_
