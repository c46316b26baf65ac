// InventoryStore on MySQL/MariaDB (Connector/C++ 1.1 through common/mysql_pool.h). The schema
// and its indexes are in migrations/; every statement is a prepared statement with `?`
// parameters, every operation one RunTransaction body (re-runnable: it keeps no state
// between attempts), every unit change written together with its unit_events row.
//
// Reserve and transfer lots find candidates with a plain read on idx_units_reserve, let the
// pure choice (inventory_rules.h) pick, then claim exactly the picked units with
// SELECT ... FOR UPDATE SKIP LOCKED on the primary key, re-choosing without any unit another
// transaction holds or has just taken. So a reservation locks only the bags it takes: two
// concurrent orders never get the same bag, neither waits for the other, and neither is
// shorted by rows the other merely looked at.
//
// Thread-safe: each call leases its own connection.
#ifndef BLOODGRID_INVENTORY_SERVICE_MYSQL_INVENTORY_STORE_H_
#define BLOODGRID_INVENTORY_SERVICE_MYSQL_INVENTORY_STORE_H_

#include <vector>

#include "common/migrations.h"
#include "common/mysql_pool.h"
#include "inventory_service/inventory_store.h"

namespace bloodgrid::inventory {

// The inventory schema's migrations, embedded from inventory_service/migrations at build time.
const std::vector<db::Migration>& InventoryMigrations();

class MysqlInventoryStore : public InventoryStore {
 public:
  // `pool` must outlive the store.
  explicit MysqlInventoryStore(db::ConnectionPool* pool) : pool_(*pool) {}

  absl::StatusOr<v1::Station> UpsertStation(const CallContext& ctx, const db::IdempotencyKey& key,
                                            const v1::Station& station) override;
  absl::StatusOr<v1::Station> GetStation(const CallContext& ctx,
                                         const std::string& station_id) override;
  absl::StatusOr<v1::ListStationsResponse> ListStations(const CallContext& ctx,
                                                        const PageRequest& page) override;
  absl::StatusOr<v1::ParLevel> SetParLevel(const CallContext& ctx, const db::IdempotencyKey& key,
                                           const v1::SetParLevelRequest& request,
                                           StockChanges* changes) override;
  absl::StatusOr<v1::ListParLevelsResponse> ListParLevels(
      const CallContext& ctx, const v1::ListParLevelsRequest& request) override;

  absl::StatusOr<v1::RegisterCollectionResponse> RegisterCollection(
      const CallContext& ctx, const db::IdempotencyKey& key,
      const v1::RegisterCollectionRequest& request, const CollectionPlan& plan,
      StockChanges* changes) override;
  absl::StatusOr<v1::RecordTestResultsResponse> RecordTestResults(
      const CallContext& ctx, const db::IdempotencyKey& key,
      const v1::RecordTestResultsRequest& request, absl::Span<const v1::ScreeningTest> required,
      const LookbackPolicy& lookback, StockChanges* changes) override;
  absl::StatusOr<v1::ProcessDonationResponse> ProcessDonation(
      const CallContext& ctx, const db::IdempotencyKey& key,
      const v1::ProcessDonationRequest& request, absl::Time processed_at,
      const ComponentPlanner& planner, StockChanges* changes) override;

  absl::StatusOr<v1::Reservation> Reserve(const CallContext& ctx, const v1::ReserveRequest& request,
                                          absl::Duration hold, StockChanges* changes) override;
  absl::StatusOr<v1::Reservation> ConfirmReservation(const CallContext& ctx,
                                                     const std::string& key) override;
  absl::StatusOr<v1::Reservation> GetReservation(const CallContext& ctx,
                                                 const std::string& key) override;
  absl::StatusOr<v1::Reservation> Release(const CallContext& ctx, const db::IdempotencyKey& key,
                                          const v1::ReleaseRequest& request,
                                          StockChanges* changes) override;
  absl::StatusOr<v1::IssueResponse> Issue(const CallContext& ctx, const db::IdempotencyKey& key,
                                          const v1::IssueRequest& request,
                                          StockChanges* changes) override;
  absl::StatusOr<v1::Unit> RecordOutcome(const CallContext& ctx, const db::IdempotencyKey& key,
                                         const v1::RecordOutcomeRequest& request,
                                         StockChanges* changes) override;

  absl::StatusOr<v1::Transfer> CreateTransfer(const CallContext& ctx, const db::IdempotencyKey& key,
                                              const v1::CreateTransferRequest& request,
                                              const TransferSettings& settings,
                                              StockChanges* changes) override;
  absl::StatusOr<v1::Transfer> DispatchTransfer(const CallContext& ctx,
                                                const db::IdempotencyKey& key,
                                                const v1::DispatchTransferRequest& request,
                                                const TransferSettings& settings,
                                                StockChanges* changes) override;
  absl::StatusOr<v1::Transfer> ReceiveTransfer(const CallContext& ctx,
                                               const db::IdempotencyKey& key,
                                               const v1::ReceiveTransferRequest& request,
                                               StockChanges* changes) override;
  absl::StatusOr<v1::Transfer> CancelTransfer(const CallContext& ctx, const db::IdempotencyKey& key,
                                              const v1::CancelTransferRequest& request,
                                              StockChanges* changes) override;
  absl::StatusOr<v1::Transfer> GetTransfer(const CallContext& ctx,
                                           const std::string& transfer_id) override;
  absl::StatusOr<v1::ListTransfersResponse> ListTransfers(const CallContext& ctx,
                                                          const v1::ListTransfersRequest& request,
                                                          const PageRequest& page) override;

  absl::StatusOr<v1::Unit> DiscardUnit(const CallContext& ctx, const db::IdempotencyKey& key,
                                       const v1::DiscardUnitRequest& request,
                                       StockChanges* changes) override;
  absl::StatusOr<v1::QuarantineByDonorResponse> QuarantineByDonor(
      const CallContext& ctx, const db::IdempotencyKey& key,
      const v1::QuarantineByDonorRequest& request, const v1::PolicyProfile::Period& window,
      absl::TimeZone tz, StockChanges* changes) override;

  // Lookback cases (mysql_inventory_recalls.cc).
  absl::StatusOr<v1::ListLookbacksResponse> ListLookbacks(const CallContext& ctx,
                                                          const v1::ListLookbacksRequest& request,
                                                          const PageRequest& page) override;
  absl::StatusOr<v1::LookbackCase> GetLookback(const CallContext& ctx,
                                               const std::string& lookback_id) override;
  absl::StatusOr<v1::ListRecallsResponse> ListRecalls(const CallContext& ctx,
                                                      const v1::ListRecallsRequest& request,
                                                      const PageRequest& page) override;
  absl::StatusOr<v1::RecallNotice> AcknowledgeRecall(
      const CallContext& ctx, const db::IdempotencyKey& key,
      const v1::AcknowledgeRecallRequest& request) override;

  absl::StatusOr<std::vector<v1::StockLevel>> StockLevels(const CallContext& ctx,
                                                          const std::string& station_id,
                                                          v1::Component component,
                                                          absl::Duration expiring_window) override;
  absl::StatusOr<std::vector<v1::StockLevel>> ReadLevels(const CallContext& ctx,
                                                         const std::set<LevelKey>& keys,
                                                         absl::Duration expiring_window) override;
  absl::StatusOr<v1::ListUnitsResponse> ListUnits(const CallContext& ctx,
                                                  const v1::ListUnitsRequest& request,
                                                  const PageRequest& page) override;
  absl::StatusOr<v1::Unit> GetUnit(const CallContext& ctx, const std::string& unit_id) override;
  absl::StatusOr<v1::GetUnitTraceResponse> GetUnitTrace(const CallContext& ctx,
                                                        const std::string& din) override;
  absl::StatusOr<v1::GetRebalanceInputsResponse> GetRebalanceInputs(
      const CallContext& ctx, int horizon_hours, int demand_window_days,
      const TransportSettings& transport) override;

  absl::StatusOr<SweepReport> ExpireHeldReservations(const CallContext& ctx, int limit,
                                                     StockChanges* changes) override;
  absl::StatusOr<SweepReport> ExpireUnits(const CallContext& ctx, int limit,
                                          StockChanges* changes) override;
  absl::StatusOr<std::vector<v1::Unit>> UnitsExpiringBetween(const CallContext& ctx,
                                                             absl::Time from, absl::Time to,
                                                             int limit) override;

  absl::StatusOr<v1::ReadChangeFeedResponse> ReadChangeFeed(const CallContext& ctx,
                                                            uint64_t after_sequence,
                                                            int limit) override;
  absl::Status AppendStockAlerts(const CallContext& ctx,
                                 const std::vector<v1::StockAlert>& alerts) override;

 private:
  db::ConnectionPool& pool_;
};

}  // namespace bloodgrid::inventory

#endif  // BLOODGRID_INVENTORY_SERVICE_MYSQL_INVENTORY_STORE_H_
