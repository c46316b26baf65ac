// The inventory's repository: every read and write of the `inventory` schema, one transaction
// per operation. The interface speaks bloodgrid.v1 messages (plain data, no gRPC) and the
// plans of inventory_rules.h; MysqlInventoryStore implements it.
//
// Contract shared by every mutating operation:
//  - It runs as one transaction that writes, for each change of a unit, the unit row and its
//    UnitEvent (actor and time from the CallContext); it either happens entirely or not at all.
//  - It decides nothing itself: it loads and locks the records, asks the rules of
//    inventory_rules.h ("Unit lifecycle") what changes (a UnitChange per unit, the reservation
//    and transfer status steps) and applies exactly that; FAILED_PRECONDITION messages for a
//    state that forbids the change come from those rules.
//  - With an IdempotencyKey it is idempotent on the caller's request_id: a repeat returns the
//    first result and changes nothing (common/idempotency.h).
//  - `changes` (may be null) receives the stock rows the committed transaction touched and the
//    alerts it raised; it is empty when the call failed or was a replay. Publish it only after
//    the call returned OK: it describes committed data.
//  - Requests come already shape-checked (inventory_rules.h Validate*) with DINs normalised;
//    the store checks what needs stored state and answers INVALID_ARGUMENT for ids in the body
//    that name nothing (unknown stations, units), NOT_FOUND for the record the RPC acts on,
//    FAILED_PRECONDITION for a state that forbids the change, UNAVAILABLE / ABORTED from the
//    database layer (common/mysql_pool.h RunTransaction).
//
// Thread safety: implementations are thread-safe.
#ifndef BLOODGRID_INVENTORY_SERVICE_INVENTORY_STORE_H_
#define BLOODGRID_INVENTORY_SERVICE_INVENTORY_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "bloodgrid/v1/policy.pb.h"
#include "common/call_context.h"
#include "common/idempotency.h"
#include "inventory_service/inventory_rules.h"

namespace bloodgrid::inventory {

// A page request already checked: size in 1..kMaxPageSize, the raw token (decoded by the store
// against the filter's hash: INVALID_ARGUMENT "page_token: ..." when it does not belong).
struct PageRequest {
  int size = 50;
  std::string token;
};

// Result of one sweeper run.
struct SweepReport {
  int changed = 0;  // reservations expired, or units expired
};

class InventoryStore {
 public:
  virtual ~InventoryStore() = default;

  // ---- Stations and par levels -------------------------------------------------------------
  virtual absl::StatusOr<v1::Station> UpsertStation(const CallContext& ctx,
                                                    const db::IdempotencyKey& key,
                                                    const v1::Station& station) = 0;
  // NOT_FOUND when unknown.
  virtual absl::StatusOr<v1::Station> GetStation(const CallContext& ctx,
                                                 const std::string& station_id) = 0;
  virtual absl::StatusOr<v1::ListStationsResponse> ListStations(const CallContext& ctx,
                                                                const PageRequest& page) = 0;
  // NOT_FOUND for an unknown station.
  virtual absl::StatusOr<v1::ParLevel> SetParLevel(const CallContext& ctx,
                                                   const db::IdempotencyKey& key,
                                                   const v1::SetParLevelRequest& request,
                                                   StockChanges* changes) = 0;
  virtual absl::StatusOr<v1::ListParLevelsResponse> ListParLevels(
      const CallContext& ctx, const v1::ListParLevelsRequest& request) = 0;

  // ---- Collection, testing, processing -----------------------------------------------------
  // Idempotent on the DIN as inventory.proto RegisterCollection says.
  virtual absl::StatusOr<v1::RegisterCollectionResponse> RegisterCollection(
      const CallContext& ctx, const db::IdempotencyKey& key,
      const v1::RegisterCollectionRequest& request, const CollectionPlan& plan,
      StockChanges* changes) = 0;

  // `required`: the tests a unit needs before release (RequiredReleaseTests). A result that
  // makes the donation REACTIVE opens its lookback case in the same transaction (`lookback`:
  // the window); the call appends a TestingRecorded change feed event when it recorded the
  // typing or the donation is REACTIVE after a change.
  virtual absl::StatusOr<v1::RecordTestResultsResponse> RecordTestResults(
      const CallContext& ctx, const db::IdempotencyKey& key,
      const v1::RecordTestResultsRequest& request, absl::Span<const v1::ScreeningTest> required,
      const LookbackPolicy& lookback, StockChanges* changes) = 0;

  // Plans the children of the locked whole-blood unit (PlanComponents with the profile).
  using ComponentPlanner =
      std::function<absl::StatusOr<std::vector<ComponentPlan>>(const v1::Unit& parent)>;
  virtual absl::StatusOr<v1::ProcessDonationResponse> ProcessDonation(
      const CallContext& ctx, const db::IdempotencyKey& key,
      const v1::ProcessDonationRequest& request, absl::Time processed_at,
      const ComponentPlanner& planner, StockChanges* changes) = 0;

  // ---- Reservations ------------------------------------------------------------------------
  // Reserve as inventory.proto says, choosing with ChooseUnits; `hold` is the HELD lifetime.
  virtual absl::StatusOr<v1::Reservation> Reserve(const CallContext& ctx,
                                                  const v1::ReserveRequest& request,
                                                  absl::Duration hold, StockChanges* changes) = 0;
  virtual absl::StatusOr<v1::Reservation> ConfirmReservation(const CallContext& ctx,
                                                             const std::string& key) = 0;
  virtual absl::StatusOr<v1::Reservation> GetReservation(const CallContext& ctx,
                                                         const std::string& key) = 0;
  virtual absl::StatusOr<v1::Reservation> Release(const CallContext& ctx,
                                                  const db::IdempotencyKey& key,
                                                  const v1::ReleaseRequest& request,
                                                  StockChanges* changes) = 0;
  virtual absl::StatusOr<v1::IssueResponse> Issue(const CallContext& ctx,
                                                  const db::IdempotencyKey& key,
                                                  const v1::IssueRequest& request,
                                                  StockChanges* changes) = 0;
  virtual absl::StatusOr<v1::Unit> RecordOutcome(const CallContext& ctx,
                                                 const db::IdempotencyKey& key,
                                                 const v1::RecordOutcomeRequest& request,
                                                 StockChanges* changes) = 0;

  // ---- Transfers ---------------------------------------------------------------------------
  struct TransferSettings {
    TransportSettings transport;
    // Lots never take a unit expiring before expected arrival plus this.
    absl::Duration safety_margin = absl::Hours(12);
  };
  virtual absl::StatusOr<v1::Transfer> CreateTransfer(const CallContext& ctx,
                                                      const db::IdempotencyKey& key,
                                                      const v1::CreateTransferRequest& request,
                                                      const TransferSettings& settings,
                                                      StockChanges* changes) = 0;
  virtual absl::StatusOr<v1::Transfer> DispatchTransfer(const CallContext& ctx,
                                                        const db::IdempotencyKey& key,
                                                        const v1::DispatchTransferRequest& request,
                                                        const TransferSettings& settings,
                                                        StockChanges* changes) = 0;
  virtual absl::StatusOr<v1::Transfer> ReceiveTransfer(const CallContext& ctx,
                                                       const db::IdempotencyKey& key,
                                                       const v1::ReceiveTransferRequest& request,
                                                       StockChanges* changes) = 0;
  virtual absl::StatusOr<v1::Transfer> CancelTransfer(const CallContext& ctx,
                                                      const db::IdempotencyKey& key,
                                                      const v1::CancelTransferRequest& request,
                                                      StockChanges* changes) = 0;
  virtual absl::StatusOr<v1::Transfer> GetTransfer(const CallContext& ctx,
                                                   const std::string& transfer_id) = 0;
  virtual absl::StatusOr<v1::ListTransfersResponse> ListTransfers(
      const CallContext& ctx, const v1::ListTransfersRequest& request, const PageRequest& page) = 0;

  // ---- Discard and lookback ----------------------------------------------------------------
  virtual absl::StatusOr<v1::Unit> DiscardUnit(const CallContext& ctx,
                                               const db::IdempotencyKey& key,
                                               const v1::DiscardUnitRequest& request,
                                               StockChanges* changes) = 0;
  // `window`: the profile's lookback window; `tz`: the region's time zone for its days.
  virtual absl::StatusOr<v1::QuarantineByDonorResponse> QuarantineByDonor(
      const CallContext& ctx, const db::IdempotencyKey& key,
      const v1::QuarantineByDonorRequest& request, const v1::PolicyProfile::Period& window,
      absl::TimeZone tz, StockChanges* changes) = 0;

  // ---- Lookback cases ----------------------------------------------------------------------
  // Cases newest first (opened_at, then lookback_id, descending), with their units and notices.
  virtual absl::StatusOr<v1::ListLookbacksResponse> ListLookbacks(
      const CallContext& ctx, const v1::ListLookbacksRequest& request, const PageRequest& page) = 0;
  // NOT_FOUND when unknown.
  virtual absl::StatusOr<v1::LookbackCase> GetLookback(const CallContext& ctx,
                                                       const std::string& lookback_id) = 0;
  // One hospital's notices, newest first (notified_at, then recall_id, descending).
  virtual absl::StatusOr<v1::ListRecallsResponse> ListRecalls(const CallContext& ctx,
                                                              const v1::ListRecallsRequest& request,
                                                              const PageRequest& page) = 0;
  // NOT_FOUND for an unknown notice or another hospital's; an acknowledged one is returned as it
  // is; the case becomes ACKNOWLEDGED with its last open notice.
  virtual absl::StatusOr<v1::RecallNotice> AcknowledgeRecall(
      const CallContext& ctx, const db::IdempotencyKey& key,
      const v1::AcknowledgeRecallRequest& request) = 0;

  // ---- Views -------------------------------------------------------------------------------
  // Rows by station, component, blood type; `station_id` empty = every station (else
  // NOT_FOUND when unknown); `component` UNSPECIFIED = all. Expiring soon = AVAILABLE units
  // with expires_at <= ctx.now + expiring_window.
  virtual absl::StatusOr<std::vector<v1::StockLevel>> StockLevels(
      const CallContext& ctx, const std::string& station_id, v1::Component component,
      absl::Duration expiring_window) = 0;
  // The current level of each key (zero counts for a key with no units and no par level).
  virtual absl::StatusOr<std::vector<v1::StockLevel>> ReadLevels(
      const CallContext& ctx, const std::set<LevelKey>& keys, absl::Duration expiring_window) = 0;
  virtual absl::StatusOr<v1::ListUnitsResponse> ListUnits(const CallContext& ctx,
                                                          const v1::ListUnitsRequest& request,
                                                          const PageRequest& page) = 0;
  virtual absl::StatusOr<v1::Unit> GetUnit(const CallContext& ctx, const std::string& unit_id) = 0;
  // NOT_FOUND when no unit carries the DIN.
  virtual absl::StatusOr<v1::GetUnitTraceResponse> GetUnitTrace(const CallContext& ctx,
                                                                const std::string& din) = 0;
  virtual absl::StatusOr<v1::GetRebalanceInputsResponse> GetRebalanceInputs(
      const CallContext& ctx, int horizon_hours, int demand_window_days,
      const TransportSettings& transport) = 0;

  // ---- Sweepers ----------------------------------------------------------------------------
  // Releases up to `limit` HELD reservations whose hold expired at or before ctx.now.
  virtual absl::StatusOr<SweepReport> ExpireHeldReservations(const CallContext& ctx, int limit,
                                                             StockChanges* changes) = 0;
  // Marks EXPIRED up to `limit` units (QUARANTINED, AVAILABLE, RESERVED, RETURNED) whose expiry
  // is at or before ctx.now; raises UNITS_EXPIRED alerts.
  virtual absl::StatusOr<SweepReport> ExpireUnits(const CallContext& ctx, int limit,
                                                  StockChanges* changes) = 0;
  // AVAILABLE units whose expiry falls in (from, to]: for EXPIRING_SOON alerts.
  virtual absl::StatusOr<std::vector<v1::Unit>> UnitsExpiringBetween(const CallContext& ctx,
                                                                     absl::Time from, absl::Time to,
                                                                     int limit) = 0;

  // ---- Change feed -------------------------------------------------------------------------
  // Up to `limit` events with sequence > after_sequence (0 = from the oldest kept), in sequence
  // order, each with sequence, committed_at and actor filled from its row, and the head (the
  // last sequence committed, read in the same snapshot). `limit` is already checked (1..1000);
  // 0 reads only the head. OUT_OF_RANGE when retention removed events after after_sequence
  // (it is below the oldest kept sequence minus one, or nothing is kept and it is below the
  // head). A read never shows a gap: a sequence is visible only after every earlier one.
  virtual absl::StatusOr<v1::ReadChangeFeedResponse> ReadChangeFeed(const CallContext& ctx,
                                                                    uint64_t after_sequence,
                                                                    int limit) = 0;
  // Appends `alerts` as one StockChange event with no rows: alerts a job derives without a
  // write of its own (EXPIRING_SOON), so that every replica's watchers see them.
  virtual absl::Status AppendStockAlerts(const CallContext& ctx,
                                         const std::vector<v1::StockAlert>& alerts) = 0;
};

}  // namespace bloodgrid::inventory

#endif  // BLOODGRID_INVENTORY_SERVICE_INVENTORY_STORE_H_
