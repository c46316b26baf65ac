// Building blocks of end-to-end scenarios, all through the public API of a Region: the demo
// topology, donors, donations, test results, processing and orders.
#ifndef BLOODGRID_TESTS_E2E_SCENARIO_H_
#define BLOODGRID_TESTS_E2E_SCENARIO_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/invariants.h"
#include "bloodgrid/v1/admin_api.pb.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "bloodgrid/v1/request.pb.h"
#include "tests/e2e/region.h"

namespace bloodgrid::e2e {

std::unique_ptr<grpc::ClientContext> AdminContext();
std::unique_ptr<grpc::ClientContext> HospitalContext(int hospital);  // 1 or 2
std::unique_ptr<grpc::ClientContext> DispatcherContext();

google::protobuf::Timestamp Ago(absl::Duration d);
v1::BloodType Type(v1::AboGroup abo, v1::RhD rhd);
// An 18-digit resident id with a valid ISO 7064 MOD 11-2 check digit (GB 11643-1999).
std::string NationalId(const std::string& birth_yyyymmdd, int sequence);
// A DIN of facility A9999 not used before in this process.
std::string NextDin();
std::string NextRequestId();

// Stations S1 (central) and S2 (branch); hospitals H1 (served by S1, falling back on S2) and
// H2 (S2, then S1). ASSERTs on failure.
void SetUpTopology(Region& region);
// A registered male donor born 1990 of the given type; returns the donor id.
std::string RegisterDonor(Region& region, const v1::BloodType& type);
// The RecordDonation request for a 400 mL whole-blood donation at S1 collected `ago`.
v1::RecordDonationRequest DonationRequest(const std::string& donor_id, absl::Duration ago);
// Records it through the gateway (EXPECTs success); returns the DIN.
std::string Donate(Region& region, const std::string& donor_id, absl::Duration ago);
// The results of all mandatory screens (anti-HIV reactive when asked) and the ABO/RhD typing.
v1::RecordTestResultsRequest TestResults(const std::string& din, const v1::BloodType& type,
                                         bool reactive_hiv);
// Records TestResults(...) through the gateway (EXPECTs success).
v1::AdminRecordTestResultsResponse Test(Region& region, const std::string& din,
                                        const v1::BloodType& type, bool reactive_hiv = false);
// Splits a released donation into red cells and 200 mL plasma.
v1::ProcessDonationResponse Process(Region& region, const std::string& din);
// Donate + Test + Process: released red cells (2 U) and plasma of `type` at S1.
std::string StockUp(Region& region, const v1::BloodType& type);
// Every transfer of the region, as the dispatcher lists them (EXPECTs success).
std::vector<v1::Transfer> Transfers(Region& region);
// The invariant audit of the region's three schemas, as the MariaDB admin, with the given grace
// for cross-service steps in flight.
bench::InvariantTarget AuditTarget(const Region& region, absl::Duration orphan_grace);
// A shortage the planner answers with S1 -> S2: three released O+ bags at S1 (StockUp) and S2's
// O+ red-cell par level at minimum 4 U, target 8 U, with none in stock there. EXPECTs success.
void MakeOPosShortageAtS2(Region& region);
// A red-cell order for a 64-year-old male patient of `type` with Hb 62 g/L, physician-approved.
v1::PlaceOrderRequest RedCellOrder(const v1::BloodType& type, int units, v1::Priority priority);

}  // namespace bloodgrid::e2e

#endif  // BLOODGRID_TESTS_E2E_SCENARIO_H_
