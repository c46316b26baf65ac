// Shared by the files of MysqlInventoryStore (mysql_inventory_*.cc), not part of any contract:
// the SQL several files use, the small Connector/C++ helpers, the row mappings, the
// transaction frame and the apply step that writes a change the rules decided.
#ifndef BLOODGRID_INVENTORY_SERVICE_MYSQL_INVENTORY_INTERNAL_H_
#define BLOODGRID_INVENTORY_SERVICE_MYSQL_INVENTORY_INTERNAL_H_

#include <cppconn/datatype.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <google/protobuf/message.h>

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "common/blood.h"
#include "common/call_context.h"
#include "common/idempotency.h"
#include "common/mysql_pool.h"
#include "common/status.h"
#include "inventory_service/inventory_rules.h"

namespace bloodgrid::inventory::mysql_internal {

using db::Connection;

// SQL. Every statement takes its values as ? parameters; the few texts assembled at run time
// (ListUnits, ListTransfers, the stock views' status lists) choose among fixed fragments by which
// filters are present, never by their values. Statements one file uses live in that file.

// ---- SQL used by more than one file --------------------------------------------------------

#define BG_UNIT_COLUMNS                                                                        \
  "unit_id, din, component, division, product_code, abo, rhd, status, hold, station_id, "      \
  "quantity, volume_ml, donation_type, collected_us, expires_us, donor_id, anticoagulant, "    \
  "preparation, parent_unit_id, reservation_key, transfer_id, lookback_on_arrival, order_id, " \
  "hospital_id, issued_us, outcome, discard_reason, created_us, updated_us"

#define BG_UNIT_COLUMNS_U                                                                \
  "u.unit_id, u.din, u.component, u.division, u.product_code, u.abo, u.rhd, u.status, "  \
  "u.hold, u.station_id, u.quantity, u.volume_ml, u.donation_type, u.collected_us, "     \
  "u.expires_us, u.donor_id, u.anticoagulant, u.preparation, u.parent_unit_id, "         \
  "u.reservation_key, u.transfer_id, u.lookback_on_arrival, u.order_id, u.hospital_id, " \
  "u.issued_us, u.outcome, u.discard_reason, u.created_us, u.updated_us"

#define BG_STATION_COLUMNS \
  "station_id, name, kind, latitude, longitude, address, active, created_us, updated_us"

#define BG_RESERVATION_COLUMNS                                                   \
  "reservation_key, status, component, requested_quantity, priority, order_id, " \
  "hospital_id, hold_expires_us, created_us, confirmed_us"

#define BG_TRANSFER_COLUMNS                                                              \
  "transfer_id, from_station_id, to_station_id, status, spec, reason, reservation_key, " \
  "created_by, created_us, dispatched_us, expected_arrival_us, received_us, cancelled_us, note"

#define BG_RESULT_COLUMNS                                                           \
  "result_id, din, test, reactive, abo, rhd, tested_us, recorded_us, recorded_by, " \
  "corrects_result_id, correction_reason, superseded"

inline constexpr char kParLevelsOfStation[] =
    "SELECT station_id, component, abo, rhd, minimum, target, updated_us FROM par_levels "
    "WHERE station_id = ? ORDER BY station_id, component, abo, rhd";

inline constexpr char kAllParLevels[] =
    "SELECT station_id, component, abo, rhd, minimum, target, updated_us FROM par_levels "
    "ORDER BY station_id, component, abo, rhd";

inline constexpr char kSelectUnitForUpdate[] =
    "SELECT " BG_UNIT_COLUMNS " FROM units WHERE unit_id = ? FOR UPDATE";

inline constexpr char kUnitsOfDin[] = "SELECT " BG_UNIT_COLUMNS
                                      " FROM units WHERE din = ? "
                                      "ORDER BY (parent_unit_id IS NOT NULL), component, division";

inline constexpr char kUnitsOfDinForUpdate[] =
    "SELECT " BG_UNIT_COLUMNS
    " FROM units WHERE din = ? "
    "ORDER BY (parent_unit_id IS NOT NULL), component, division FOR UPDATE";

inline constexpr char kUnitsOfReservationForUpdate[] = "SELECT " BG_UNIT_COLUMNS
                                                       " FROM units WHERE reservation_key = ? "
                                                       "ORDER BY expires_us, unit_id FOR UPDATE";

// ---- Helpers ---------------------------------------------------------------------------------

// Binds parameters in order.
class Params {
 public:
  explicit Params(sql::PreparedStatement& statement) : statement_(statement) {}
  Params& Str(absl::string_view value) {
    statement_.setString(++index_, std::string(value));
    return *this;
  }
  // "" is stored as NULL.
  Params& StrOrNull(absl::string_view value) {
    if (value.empty()) {
      statement_.setNull(++index_, sql::DataType::VARCHAR);
    } else {
      statement_.setString(++index_, std::string(value));
    }
    return *this;
  }
  Params& Int(int64_t value) {
    statement_.setInt64(++index_, value);
    return *this;
  }
  Params& IntOrNull(std::optional<int64_t> value) {
    if (value.has_value()) {
      statement_.setInt64(++index_, *value);
    } else {
      statement_.setNull(++index_, sql::DataType::BIGINT);
    }
    return *this;
  }
  // NULL unless `present`.
  Params& DoubleOrNull(bool present, double value) {
    if (present) {
      statement_.setDouble(++index_, value);
    } else {
      statement_.setNull(++index_, sql::DataType::DOUBLE);
    }
    return *this;
  }
  Params& Blob(std::istream* stream) {
    statement_.setBlob(++index_, stream);
    return *this;
  }

 private:
  sql::PreparedStatement& statement_;
  unsigned index_ = 0;
};

// Runs a query and hands each row to `row`; the result set is closed before returning, so the
// connection is free for the next statement.
void ForEachRow(sql::PreparedStatement& statement,
                absl::FunctionRef<void(const sql::ResultSet&)> row);

std::string Str(const sql::ResultSet& rs, uint32_t column);

int64_t I64(const sql::ResultSet& rs, uint32_t column);

std::optional<int64_t> OptI64(const sql::ResultSet& rs, uint32_t column);

void SetTs(int64_t micros, google::protobuf::Timestamp* out);

std::string Truncated(absl::string_view text, size_t max_bytes);

// ---------------------------------------------------------------------------------------------
// Row types.

using UnitRow = StoredUnit;

UnitRow ReadUnitRow(const sql::ResultSet& rs);

std::vector<UnitRow> QueryUnits(sql::PreparedStatement& statement);

std::optional<UnitRow> QueryUnit(sql::PreparedStatement& statement);

inline int64_t Micros(const google::protobuf::Timestamp& ts) {
  return absl::ToUnixMicros(FromTimestamp(ts));
}

void InsertUnit(Connection& conn, const UnitRow& row);

v1::Station ReadStation(const sql::ResultSet& rs);

std::optional<v1::Station> FindStation(Connection& conn, absl::string_view station_id,
                                       bool for_update = false);

v1::ParLevel ReadParLevel(const sql::ResultSet& rs);

struct DonationRow {
  std::string din;
  std::string donor_id;
  v1::DonationType donation_type = v1::DONATION_TYPE_UNSPECIFIED;
  std::string station_id;
  int64_t collected_us = 0;
  BloodType collected_type;
  v1::TestingOutcome outcome = v1::TESTING_OUTCOME_PENDING;
};

std::optional<DonationRow> FindDonation(Connection& conn, absl::string_view din, bool for_update);

v1::TestResult ReadResult(const sql::ResultSet& rs);

std::vector<v1::TestResult> ResultsOfDin(Connection& conn, absl::string_view din);

// The reservation row, without its units.
std::optional<v1::Reservation> FindReservation(Connection& conn, absl::string_view key,
                                               bool for_update);

void WriteReservationStatus(Connection& conn, const v1::Reservation& r, absl::Time now);

// ---------------------------------------------------------------------------------------------
// The transaction frame shared by every operation.

struct Txn {
  Connection& conn;
  const CallContext& ctx;
  StockChanges& changes;
  // Change feed events of this transaction besides its stock change (testing results, units
  // registered); RunOp appends them with the stock change as the last step before commit.
  std::vector<v1::ChangeEvent> feed = {};
};

// Appends the transaction's change feed events (a StockChange built from t.changes when it
// names rows or alerts, then t.feed) under the next sequences of change_feed_head. The head
// row stays locked until commit, which is what keeps the feed in commit order without gaps:
// call it last, just before commit.
void AppendChangeFeed(Txn& t);

void InsertEvent(Txn& t, const v1::Unit& unit, v1::UnitStatus from, const UnitEventDraft& event);

// The apply step: writes a change the rules decided (unit_lifecycle.cc) over `current`, the
// unit as this transaction locked it, with its event row, and records its stock rows and
// alerts; `current` becomes the unit as stored. For a new unit `current` is only an output.
// The status change is checked against the state machine once more.
absl::Status ApplyChange(Txn& t, UnitRow& current, const UnitChange& change);

// ApplyChange for each of `changes`, in order.
absl::Status ApplyChanges(Txn& t, UnitRow& current, absl::Span<const UnitChange> changes);

// Runs `body` as one transaction, idempotent on `key` when given (null for reads and for the
// operations keyed by their own natural key; only a protobuf response can be replayed). On
// success `changes` describes the commit.
template <typename Response>
absl::StatusOr<Response> RunOp(db::ConnectionPool& pool, absl::string_view what,
                               const CallContext& ctx, const db::IdempotencyKey* key,
                               StockChanges* changes,
                               absl::FunctionRef<absl::Status(Txn&, Response&)> body) {
  Response response;
  StockChanges local;
  StockChanges& sink = changes != nullptr ? *changes : local;
  bool replayed = false;
  absl::Status status =
      db::RunTransaction(pool, what, ctx.deadline, [&](Connection& conn) -> absl::Status {
        response = Response();
        sink.Clear();
        replayed = false;
        if constexpr (std::is_base_of_v<google::protobuf::Message, Response>) {
          if (key != nullptr) {
            BG_ASSIGN_OR_RETURN(replayed, db::ClaimOrReplay(conn, *key, &response));
            if (replayed) return absl::OkStatus();
          }
        }
        Txn txn{conn, ctx, sink};
        BG_RETURN_IF_ERROR(body(txn, response));
        if constexpr (std::is_base_of_v<google::protobuf::Message, Response>) {
          if (key != nullptr) db::CompleteIdempotent(conn, *key, response);
        }
        AppendChangeFeed(txn);
        return absl::OkStatus();
      });
  if (!status.ok() || replayed) sink.Clear();
  if (!status.ok()) return status;
  return response;
}

absl::Status UnknownStation(absl::string_view field, absl::string_view station_id);

// ---------------------------------------------------------------------------------------------
// Claiming units chosen from a plain read.

std::vector<ChoiceUnit> ReadCandidates(Connection& conn, v1::Component component, BloodType type,
                                       const std::string& station_id, int64_t floor_us, int limit,
                                       int32_t tier, int32_t station_rank);

// Locks the unit if it is still `status` and no other transaction holds it.
std::optional<UnitRow> ClaimUnit(Connection& conn, absl::string_view unit_id,
                                 v1::UnitStatus status);

// Repeats choose -> claim until every chosen unit is locked by this transaction: a unit that
// another transaction holds (SKIP LOCKED) or has taken meanwhile is dropped from the pool and
// the choice is made again. `more` adds candidates when the pool runs short (returns false
// when there is nothing more to read). Returns the claimed rows of the final choice, in its
// order.
std::vector<UnitRow> ChooseAndClaim(
    Connection& conn, std::vector<ChoiceUnit>& pool, int32_t quantity,
    absl::FunctionRef<std::vector<size_t>(absl::Span<const ChoiceUnit>)> choose,
    absl::FunctionRef<bool()> more);

}  // namespace bloodgrid::inventory::mysql_internal

#endif  // BLOODGRID_INVENTORY_SERVICE_MYSQL_INVENTORY_INTERNAL_H_
