#include "bench/invariants.h"

#include <cppconn/connection.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "bloodgrid/v1/common.pb.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "bloodgrid/v1/request.pb.h"
#include "common/mysql_pool.h"
#include "common/status.h"
#include "request_service/request_store.h"

namespace bloodgrid::bench {
namespace {

// Rule names, in the order they are reported.
constexpr char kUnitHeldOnce[] = "unit_held_once";
constexpr char kReservedUnitHasLiveReservation[] = "reserved_unit_has_live_reservation";
constexpr char kAllocationHeldInInventory[] = "allocation_held_in_inventory";
constexpr char kAllocationMatchesUnit[] = "allocation_matches_unit";
constexpr char kLineAllocationConsistent[] = "line_allocation_consistent";
constexpr char kOrderStatusMatchesLines[] = "order_status_matches_lines";
constexpr char kInventoryHoldRecordedOnOrder[] = "inventory_hold_recorded_on_order";
constexpr char kInventoryReservationHasIntent[] = "inventory_reservation_has_intent";
constexpr char kUnitStatusHasEvent[] = "unit_status_has_event";
constexpr char kUnitEventChain[] = "unit_event_chain";
constexpr char kOrderStatusHasEvent[] = "order_status_has_event";
constexpr char kOrderEventChain[] = "order_event_chain";
constexpr char kNoOrphanedHold[] = "no_orphaned_hold";
constexpr char kNoHalfDoneOrder[] = "no_half_done_order";
constexpr char kUnitCountsConserved[] = "unit_counts_conserved";
constexpr char kUnitStateConsistent[] = "unit_state_consistent";
constexpr char kUnitTransferConsistent[] = "unit_transfer_consistent";
constexpr char kDonationRecordedAtBothEnds[] = "donation_recorded_at_both_ends";
constexpr char kChangeFeedGapFree[] = "change_feed_gap_free";
constexpr char kReactiveDonorHeld[] = "reactive_donor_held";
constexpr char kTransferNotLeftCreated[] = "transfer_not_left_created";
constexpr char kReactiveDonorDeferred[] = "reactive_donor_deferred";
constexpr char kDonationHasUnitOrVoid[] = "donation_has_unit_or_void";
constexpr char kLookbackListsIssuedUnits[] = "lookback_lists_issued_units";

// ---------------------------------------------------------------------------------------------
// SQL. Constant texts run in the schema made current with setSchema, so no schema name is ever
// spliced into a statement.

constexpr char kSchemaExists[] =
    "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?";

constexpr char kUnitCount[] = "SELECT COUNT(*) FROM units";
constexpr char kUnitsByStatus[] = "SELECT status, COUNT(*) FROM units GROUP BY status";
constexpr char kUnits[] =
    "SELECT unit_id, din, component, status, hold, quantity, parent_unit_id, reservation_key, "
    "transfer_id, order_id, hospital_id, issued_us IS NOT NULL, donor_id, expires_us FROM units "
    "ORDER BY unit_id";
constexpr char kLastUnitEvents[] =
    "SELECT e.unit_id, e.event_id, e.to_status FROM unit_events e JOIN "
    "(SELECT unit_id, MAX(event_id) AS event_id FROM unit_events GROUP BY unit_id) l "
    "ON l.event_id = e.event_id";
// Events whose from_status is not where the unit's previous event left it (the first event of
// a unit starts from UNSPECIFIED = 0).
constexpr char kUnitEventChainBreaks[] =
    "SELECT unit_id, event_id, from_status, previous_to FROM (SELECT unit_id, event_id, "
    "from_status, LAG(to_status) OVER (PARTITION BY unit_id ORDER BY event_id) AS previous_to "
    "FROM unit_events) e WHERE from_status <> COALESCE(previous_to, 0) ORDER BY unit_id, event_id";
constexpr char kInventoryReservations[] =
    "SELECT reservation_key, status, order_id, hold_expires_us FROM reservations";
constexpr char kTransfers[] = "SELECT transfer_id, status, created_us FROM transfers";
constexpr char kTransferUnits[] = "SELECT transfer_id, unit_id FROM transfer_units";
constexpr char kInventoryDonations[] = "SELECT din, donor_id, testing_outcome FROM donations";
// When each donation's current reactive results were recorded (the latest), by DIN.
constexpr char kReactiveResultTimes[] =
    "SELECT din, MAX(recorded_us) FROM test_results WHERE reactive <> 0 AND superseded = 0 "
    "GROUP BY din";
constexpr char kFeedExtent[] =
    "SELECT COUNT(*), COALESCE(MIN(sequence), 0), COALESCE(MAX(sequence), 0) FROM change_feed";
constexpr char kFeedHead[] = "SELECT COALESCE(MAX(last_sequence), 0) FROM change_feed_head";
// lookback_units.kind of a unit listed as issued (inventory migration 005).
constexpr int kLookbackIssuedKind = 2;
// The units each lookback case had to list as issued when it opened (DOMAIN.md section 5, as
// OpenLookbackCase decides it): the donor's units out with a hospital (issued, a hospital named,
// not back in stock) by the time the case opened, collected within the case's window, or of the
// reactive donation itself; with whether the case lists the unit and has its recall notice.
std::string LookbackIssuedUnitsQuery() {
  return absl::StrCat(
      "SELECT c.lookback_id, u.unit_id, u.din, EXISTS (SELECT 1 FROM lookback_units l WHERE "
      "l.lookback_id = c.lookback_id AND l.unit_id = u.unit_id AND l.kind = ",
      kLookbackIssuedKind,
      "), EXISTS (SELECT 1 FROM recall_notices n WHERE n.lookback_id = c.lookback_id AND "
      "n.unit_id = u.unit_id) FROM lookback_cases c JOIN units u ON u.donor_id = c.donor_id "
      "WHERE u.issued_us IS NOT NULL AND u.issued_us <= c.opened_us AND u.hospital_id IS NOT NULL "
      "AND u.hospital_id <> '' AND u.status NOT IN (",
      v1::UNIT_STATUS_AVAILABLE, ", ", v1::UNIT_STATUS_RESERVED, ", ", v1::UNIT_STATUS_QUARANTINED,
      ", ", v1::UNIT_STATUS_IN_TRANSIT,
      ") AND (u.din = c.reactive_din OR (c.window_start_us IS NOT NULL AND u.collected_us BETWEEN "
      "c.window_start_us AND c.window_end_us)) ORDER BY c.lookback_id, u.unit_id");
}

constexpr char kOrderCount[] = "SELECT COUNT(*) FROM orders";
constexpr char kOrders[] =
    "SELECT order_id, status, dispatch_intent, updated_at FROM orders ORDER BY order_id";
constexpr char kLines[] = "SELECT order_id, line_no, component, quantity FROM order_lines";
constexpr char kRequestReservations[] =
    "SELECT reservation_key, order_id, line_no, state FROM reservations";
constexpr char kAllocations[] =
    "SELECT order_id, unit_id, line_no, reservation_key, din, component, quantity, withdrawn, "
    "outcome FROM allocations ORDER BY order_id, unit_id";
constexpr char kLastOrderEvents[] =
    "SELECT e.order_id, e.event_id, e.to_status FROM order_events e JOIN "
    "(SELECT order_id, MAX(event_id) AS event_id FROM order_events GROUP BY order_id) l "
    "ON l.event_id = e.event_id";
constexpr char kOrderEventChainBreaks[] =
    "SELECT order_id, event_id, from_status, previous_to FROM (SELECT order_id, event_id, "
    "from_status, LAG(to_status) OVER (PARTITION BY order_id ORDER BY event_id) AS previous_to "
    "FROM order_events) e WHERE from_status <> COALESCE(previous_to, 0) "
    "ORDER BY order_id, event_id";

constexpr char kDonorDonations[] =
    "SELECT din, donor_id, recorded_at, voided, void_reason FROM donations";
// Deferrals a reactive result caused, still standing: (donor, DIN).
constexpr char kReactiveDeferrals[] =
    "SELECT donor_id, din FROM deferrals WHERE din IS NOT NULL AND voided = 0";

// ---------------------------------------------------------------------------------------------
// What is read.

struct Unit {
  std::string din;
  int component = 0;
  int status = 0;
  int hold = 0;
  int quantity = 0;
  std::string parent_unit_id;
  std::string reservation_key;
  std::string transfer_id;
  std::string order_id;
  std::string hospital_id;
  bool issued = false;  // issued_us is set
  std::string donor_id;
  int64_t expires_us = 0;
};

struct InventoryReservation {
  int status = 0;
  std::string order_id;
  std::optional<int64_t> hold_expires_us;
};

struct LastEvent {
  int64_t event_id = 0;
  int to_status = 0;
};

struct ChainBreak {
  std::string id;  // unit or order
  int64_t event_id = 0;
  int from_status = 0;
  std::optional<int> previous_to;  // none: the first event
};

// A unit a lookback case had to list as issued (LookbackIssuedUnitsQuery).
struct LookbackIssuedUnit {
  std::string lookback_id;
  std::string unit_id;
  std::string din;
  bool listed = false;
  bool notified = false;
};

struct InventoryData {
  int64_t unit_count = 0;
  std::map<int, int64_t> by_status;
  std::map<std::string, Unit> units;  // by unit_id
  std::map<std::string, InventoryReservation> reservations;
  std::map<std::string, int> transfers;                          // transfer_id -> status
  std::map<std::string, int64_t> transfer_created_us;            // transfer_id -> created
  std::set<std::pair<std::string, std::string>> transfer_units;  // (transfer_id, unit_id)
  std::map<std::string, std::string> donations;                  // din -> donor_id
  std::set<std::string> reactive_dins;                           // testing outcome REACTIVE
  std::map<std::string, int64_t> reactive_recorded_us;           // din -> latest reactive result
  int64_t feed_rows = 0, feed_min = 0, feed_max = 0, feed_head = 0;
  std::map<std::string, LastEvent> last_events;  // by unit_id
  std::vector<ChainBreak> chain_breaks;
  std::vector<LookbackIssuedUnit> lookback_issued;
};

struct Order {
  int status = 0;
  bool dispatch_intent = false;
  int64_t updated_us = 0;
};

struct Line {
  int component = 0;
  int quantity = 0;
};

struct RequestReservation {
  std::string order_id;
  int line_no = 0;
  int state = 0;
};

struct Allocation {
  std::string order_id;
  std::string unit_id;
  int line_no = 0;
  std::string reservation_key;
  std::string din;
  int component = 0;
  int quantity = 0;
  bool withdrawn = false;
  int outcome = 0;
};

struct RequestData {
  int64_t order_count = 0;
  std::map<std::string, Order> orders;
  std::map<std::pair<std::string, int>, Line> lines;
  std::map<std::string, RequestReservation> reservations;
  std::vector<Allocation> allocations;
  std::map<std::string, LastEvent> last_events;  // by order_id
  std::vector<ChainBreak> chain_breaks;
};

struct DonorDonation {
  std::string donor_id;
  absl::Time recorded_at;
  bool voided = false;
  std::string void_reason;
};

struct Snapshot {
  InventoryData inventory;
  RequestData request;
  std::optional<std::map<std::string, DonorDonation>> donor_donations;  // by DIN
  std::set<std::pair<std::string, std::string>> reactive_deferrals;     // (donor_id, DIN)
};

// ---------------------------------------------------------------------------------------------
// Reading.

std::string Text(sql::ResultSet& rs, int column) {
  return rs.isNull(column) ? std::string() : std::string(rs.getString(column));
}

void ForEachRow(db::Connection& conn, const char* query,
                const std::function<void(sql::ResultSet&)>& row) {
  std::unique_ptr<sql::Statement> statement(conn.raw().createStatement());
  std::unique_ptr<sql::ResultSet> rs(statement->executeQuery(query));
  while (rs->next()) row(*rs);
}

int64_t Scalar(db::Connection& conn, const char* query) {
  int64_t value = 0;
  ForEachRow(conn, query, [&](sql::ResultSet& rs) { value = rs.getInt64(1); });
  return value;
}

absl::Status RequireSchema(db::Connection& conn, const std::string& schema) {
  sql::PreparedStatement& select = conn.Prepare(kSchemaExists);
  select.setString(1, schema);
  std::unique_ptr<sql::ResultSet> rs(select.executeQuery());
  if (!rs->next() || rs->getInt64(1) == 0) {
    return absl::FailedPreconditionError(absl::StrCat("schema '", schema, "' does not exist"));
  }
  return absl::OkStatus();
}

std::vector<ChainBreak> ReadChainBreaks(db::Connection& conn, const char* query) {
  std::vector<ChainBreak> breaks;
  ForEachRow(conn, query, [&](sql::ResultSet& rs) {
    ChainBreak b;
    b.id = Text(rs, 1);
    b.event_id = rs.getInt64(2);
    b.from_status = rs.getInt(3);
    if (!rs.isNull(4)) b.previous_to = rs.getInt(4);
    breaks.push_back(std::move(b));
  });
  return breaks;
}

std::map<std::string, LastEvent> ReadLastEvents(db::Connection& conn, const char* query) {
  std::map<std::string, LastEvent> last;
  ForEachRow(conn, query, [&](sql::ResultSet& rs) {
    last[Text(rs, 1)] = LastEvent{rs.getInt64(2), rs.getInt(3)};
  });
  return last;
}

InventoryData ReadInventory(db::Connection& conn) {
  InventoryData data;
  data.unit_count = Scalar(conn, kUnitCount);
  ForEachRow(conn, kUnitsByStatus,
             [&](sql::ResultSet& rs) { data.by_status[rs.getInt(1)] = rs.getInt64(2); });
  ForEachRow(conn, kUnits, [&](sql::ResultSet& rs) {
    Unit u;
    u.din = Text(rs, 2);
    u.component = rs.getInt(3);
    u.status = rs.getInt(4);
    u.hold = rs.getInt(5);
    u.quantity = rs.getInt(6);
    u.parent_unit_id = Text(rs, 7);
    u.reservation_key = Text(rs, 8);
    u.transfer_id = Text(rs, 9);
    u.order_id = Text(rs, 10);
    u.hospital_id = Text(rs, 11);
    u.issued = rs.getInt(12) != 0;
    u.donor_id = Text(rs, 13);
    u.expires_us = rs.getInt64(14);
    data.units.emplace(Text(rs, 1), std::move(u));
  });
  data.last_events = ReadLastEvents(conn, kLastUnitEvents);
  data.chain_breaks = ReadChainBreaks(conn, kUnitEventChainBreaks);
  ForEachRow(conn, kInventoryReservations, [&](sql::ResultSet& rs) {
    InventoryReservation r;
    r.status = rs.getInt(2);
    r.order_id = Text(rs, 3);
    if (!rs.isNull(4)) r.hold_expires_us = rs.getInt64(4);
    data.reservations.emplace(Text(rs, 1), std::move(r));
  });
  ForEachRow(conn, kTransfers, [&](sql::ResultSet& rs) {
    data.transfers[Text(rs, 1)] = rs.getInt(2);
    data.transfer_created_us[Text(rs, 1)] = rs.getInt64(3);
  });
  ForEachRow(conn, kTransferUnits,
             [&](sql::ResultSet& rs) { data.transfer_units.emplace(Text(rs, 1), Text(rs, 2)); });
  ForEachRow(conn, kInventoryDonations, [&](sql::ResultSet& rs) {
    data.donations[Text(rs, 1)] = Text(rs, 2);
    if (rs.getInt(3) == v1::TESTING_OUTCOME_REACTIVE) data.reactive_dins.insert(Text(rs, 1));
  });
  ForEachRow(conn, kReactiveResultTimes,
             [&](sql::ResultSet& rs) { data.reactive_recorded_us[Text(rs, 1)] = rs.getInt64(2); });
  ForEachRow(conn, kFeedExtent, [&](sql::ResultSet& rs) {
    data.feed_rows = rs.getInt64(1);
    data.feed_min = rs.getInt64(2);
    data.feed_max = rs.getInt64(3);
  });
  data.feed_head = Scalar(conn, kFeedHead);
  const std::string lookback_issued = LookbackIssuedUnitsQuery();
  ForEachRow(conn, lookback_issued.c_str(), [&](sql::ResultSet& rs) {
    data.lookback_issued.push_back(LookbackIssuedUnit{Text(rs, 1), Text(rs, 2), Text(rs, 3),
                                                      rs.getInt(4) != 0, rs.getInt(5) != 0});
  });
  return data;
}

RequestData ReadRequest(db::Connection& conn) {
  RequestData data;
  data.order_count = Scalar(conn, kOrderCount);
  ForEachRow(conn, kOrders, [&](sql::ResultSet& rs) {
    data.orders[Text(rs, 1)] = Order{rs.getInt(2), rs.getInt(3) != 0, rs.getInt64(4)};
  });
  ForEachRow(conn, kLines, [&](sql::ResultSet& rs) {
    data.lines[{Text(rs, 1), rs.getInt(2)}] = Line{rs.getInt(3), rs.getInt(4)};
  });
  ForEachRow(conn, kRequestReservations, [&](sql::ResultSet& rs) {
    data.reservations[Text(rs, 1)] = RequestReservation{Text(rs, 2), rs.getInt(3), rs.getInt(4)};
  });
  ForEachRow(conn, kAllocations, [&](sql::ResultSet& rs) {
    Allocation a;
    a.order_id = Text(rs, 1);
    a.unit_id = Text(rs, 2);
    a.line_no = rs.getInt(3);
    a.reservation_key = Text(rs, 4);
    a.din = Text(rs, 5);
    a.component = rs.getInt(6);
    a.quantity = rs.getInt(7);
    a.withdrawn = rs.getInt(8) != 0;
    a.outcome = rs.getInt(9);
    data.allocations.push_back(std::move(a));
  });
  data.last_events = ReadLastEvents(conn, kLastOrderEvents);
  data.chain_breaks = ReadChainBreaks(conn, kOrderEventChainBreaks);
  return data;
}

std::map<std::string, DonorDonation> ReadDonorDonations(db::Connection& conn) {
  std::map<std::string, DonorDonation> donations;
  ForEachRow(conn, kDonorDonations, [&](sql::ResultSet& rs) {
    DonorDonation d;
    d.donor_id = Text(rs, 2);
    // The donor service stores UTC wall-clock text (DATETIME(6)).
    std::string error;
    if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S", Text(rs, 3), absl::UTCTimeZone(), &d.recorded_at,
                         &error)) {
      d.recorded_at = absl::InfinitePast();
    }
    d.voided = rs.getInt(4) != 0;
    d.void_reason = Text(rs, 5);
    donations[Text(rs, 1)] = std::move(d);
  });
  return donations;
}

// ---------------------------------------------------------------------------------------------
// Names.

std::string EnumName(absl::string_view full, absl::string_view prefix, int value) {
  if (full.empty()) return absl::StrCat("UNKNOWN(", value, ")");
  absl::ConsumePrefix(&full, prefix);
  return std::string(full);
}

std::string UnitStatusName(int s) {
  return EnumName(v1::UnitStatus_IsValid(s) ? v1::UnitStatus_Name(static_cast<v1::UnitStatus>(s))
                                            : std::string(),
                  "UNIT_STATUS_", s);
}
std::string OrderStatusName(int s) {
  return EnumName(v1::OrderStatus_IsValid(s) ? v1::OrderStatus_Name(static_cast<v1::OrderStatus>(s))
                                             : std::string(),
                  "ORDER_STATUS_", s);
}
std::string ReservationStatusName(int s) {
  return EnumName(v1::ReservationStatus_IsValid(s)
                      ? v1::ReservationStatus_Name(static_cast<v1::ReservationStatus>(s))
                      : std::string(),
                  "RESERVATION_STATUS_", s);
}
std::string TransferStatusName(int s) {
  return EnumName(v1::TransferStatus_IsValid(s)
                      ? v1::TransferStatus_Name(static_cast<v1::TransferStatus>(s))
                      : std::string(),
                  "TRANSFER_STATUS_", s);
}
std::string ReservationStateName(int s) {
  using request::ReservationState;
  switch (static_cast<ReservationState>(s)) {
    case ReservationState::kPending:
      return "PENDING";
    case ReservationState::kReserved:
      return "RESERVED";
    case ReservationState::kConfirmed:
      return "CONFIRMED";
    case ReservationState::kEmpty:
      return "EMPTY";
    case ReservationState::kReleased:
      return "RELEASED";
    case ReservationState::kAbandoned:
      return "ABANDONED";
    case ReservationState::kIssued:
      return "ISSUED";
  }
  return absl::StrCat("UNKNOWN(", s, ")");
}

std::string Quoted(absl::string_view id) { return id.empty() ? "(none)" : std::string(id); }

// ---------------------------------------------------------------------------------------------
// Checking.

bool IsLiveOrder(int status) {
  return status != v1::ORDER_STATUS_CANCELLED && status != v1::ORDER_STATUS_REJECTED;
}
bool IsDispatched(int status) {
  return status == v1::ORDER_STATUS_DISPATCHED || status == v1::ORDER_STATUS_DELIVERED ||
         status == v1::ORDER_STATUS_COMPLETED;
}
bool IsHeldStatus(int status) {
  return status == v1::UNIT_STATUS_RESERVED || status == v1::UNIT_STATUS_IN_TRANSIT;
}
bool IsLiveReservation(int status) {
  return status == v1::RESERVATION_STATUS_HELD || status == v1::RESERVATION_STATUS_CONFIRMED;
}

// Violations per rule, reported in the rules' order and capped.
class Findings {
 public:
  explicit Findings(std::vector<std::string> rules) : rules_(std::move(rules)) {}
  void Add(const char* rule, std::string what) { by_rule_[rule].push_back(std::move(what)); }

  void ReportInto(InvariantReport& report) const {
    report.rules = rules_;
    for (const std::string& rule : rules_) {
      auto it = by_rule_.find(rule);
      if (it == by_rule_.end()) continue;
      const std::vector<std::string>& all = it->second;
      const size_t shown = std::min<size_t>(all.size(), kMaxViolationsPerRule);
      for (size_t i = 0; i < shown; ++i)
        report.violations.push_back(absl::StrCat(rule, ": ", all[i]));
      if (all.size() > shown) {
        report.violations.push_back(absl::StrCat(rule, ": ... and ", all.size() - shown, " more"));
      }
    }
  }

 private:
  std::vector<std::string> rules_;
  std::map<std::string, std::vector<std::string>> by_rule_;
};

class Checker {
 public:
  Checker(const Snapshot& snapshot, const InvariantTarget& target, absl::Time now)
      : inv_(snapshot.inventory),
        req_(snapshot.request),
        donor_(snapshot.donor_donations),
        reactive_deferrals_(snapshot.reactive_deferrals),
        now_(now),
        grace_(target.orphan_grace),
        created_transfer_limit_(target.created_transfer_limit),
        findings_(RuleNames(snapshot.donor_donations.has_value())) {
    for (const Allocation& a : req_.allocations) {
      allocation_[{a.order_id, a.unit_id}] = &a;
    }
  }

  static std::vector<std::string> RuleNames(bool donor) {
    std::vector<std::string> rules = {kUnitHeldOnce,
                                      kReservedUnitHasLiveReservation,
                                      kAllocationHeldInInventory,
                                      kAllocationMatchesUnit,
                                      kLineAllocationConsistent,
                                      kOrderStatusMatchesLines,
                                      kInventoryHoldRecordedOnOrder,
                                      kInventoryReservationHasIntent,
                                      kUnitStatusHasEvent,
                                      kUnitEventChain,
                                      kOrderStatusHasEvent,
                                      kOrderEventChain,
                                      kNoOrphanedHold,
                                      kNoHalfDoneOrder,
                                      kUnitCountsConserved,
                                      kUnitStateConsistent,
                                      kUnitTransferConsistent,
                                      kChangeFeedGapFree,
                                      kReactiveDonorHeld,
                                      kTransferNotLeftCreated,
                                      kLookbackListsIssuedUnits};
    if (donor) {
      rules.push_back(kDonationRecordedAtBothEnds);
      rules.push_back(kReactiveDonorDeferred);
      rules.push_back(kDonationHasUnitOrVoid);
    }
    return rules;
  }

  InvariantReport Run() {
    UnitHeldOnce();
    ReservedUnitHasLiveReservation();
    AllocationHeldInInventory();
    AllocationMatchesUnit();
    LineAllocationConsistent();
    OrderStatusMatchesLines();
    InventoryHoldRecordedOnOrder();
    InventoryReservationHasIntent();
    StatusHasEvent(kUnitStatusHasEvent, "unit");
    EventChain(kUnitEventChain, "unit");
    StatusHasEvent(kOrderStatusHasEvent, "order");
    EventChain(kOrderEventChain, "order");
    NoOrphanedHold();
    NoHalfDoneOrder();
    UnitCountsConserved();
    UnitStateConsistent();
    UnitTransferConsistent();
    ChangeFeedGapFree();
    ReactiveDonorHeld();
    TransferNotLeftCreated();
    LookbackListsIssuedUnits();
    if (donor_.has_value()) {
      DonationRecordedAtBothEnds();
      ReactiveDonorDeferred();
      DonationHasUnitOrVoid();
    }

    InvariantReport report;
    report.units = inv_.unit_count;
    for (const auto& [status, count] : inv_.by_status) {
      report.units_by_status[UnitStatusName(status)] += count;
    }
    report.orders = req_.order_count;
    findings_.ReportInto(report);
    return report;
  }

 private:
  const Unit* FindUnit(const std::string& unit_id) const {
    auto it = inv_.units.find(unit_id);
    return it == inv_.units.end() ? nullptr : &it->second;
  }
  const Order* FindOrder(const std::string& order_id) const {
    auto it = req_.orders.find(order_id);
    return it == req_.orders.end() ? nullptr : &it->second;
  }
  // A non-withdrawn allocation of a live order.
  bool IsLiveAllocation(const Allocation& a) const {
    const Order* order = FindOrder(a.order_id);
    return !a.withdrawn && order != nullptr && IsLiveOrder(order->status);
  }
  std::string Ago(int64_t micros) const {
    return absl::StrCat(absl::ToInt64Seconds(now_ - absl::FromUnixMicros(micros)), " s ago");
  }

  void UnitHeldOnce() {
    std::map<std::string, std::vector<std::string>> orders_of_unit;
    for (const Allocation& a : req_.allocations) {
      // A returned unit is back on the shelf and may be allocated again.
      if (!IsLiveAllocation(a) || a.outcome == v1::TRANSFUSION_OUTCOME_RETURNED) continue;
      orders_of_unit[a.unit_id].push_back(a.order_id);
    }
    for (const auto& [unit_id, orders] : orders_of_unit) {
      if (orders.size() < 2) continue;
      findings_.Add(kUnitHeldOnce,
                    absl::StrCat("unit ", unit_id, " is allocated to ", orders.size(),
                                 " live orders: ", absl::StrJoin(orders, ", ")));
    }
  }

  void ReservedUnitHasLiveReservation() {
    for (const auto& [unit_id, u] : inv_.units) {
      if (!IsHeldStatus(u.status) || u.reservation_key.empty()) continue;
      auto r = inv_.reservations.find(u.reservation_key);
      if (r == inv_.reservations.end()) {
        findings_.Add(
            kReservedUnitHasLiveReservation,
            absl::StrCat("unit ", unit_id, " is ", UnitStatusName(u.status), " for reservation ",
                         u.reservation_key, ", which does not exist"));
      } else if (!IsLiveReservation(r->second.status)) {
        findings_.Add(kReservedUnitHasLiveReservation,
                      absl::StrCat("unit ", unit_id, " is ", UnitStatusName(u.status),
                                   " for reservation ", u.reservation_key, ", which is ",
                                   ReservationStatusName(r->second.status)));
      }
    }
  }

  void AllocationHeldInInventory() {
    for (const Allocation& a : req_.allocations) {
      if (!IsLiveAllocation(a)) continue;
      const Unit* u = FindUnit(a.unit_id);
      if (u == nullptr) continue;  // allocation_matches_unit reports it
      const Order& order = *FindOrder(a.order_id);
      if (!IsDispatched(order.status)) {
        const bool held = IsHeldStatus(u->status) && u->reservation_key == a.reservation_key;
        // Dispatch issues in inventory first, then records DISPATCHED.
        const bool issuing = order.dispatch_intent && u->status == v1::UNIT_STATUS_ISSUED &&
                             u->order_id == a.order_id && u->reservation_key == a.reservation_key;
        if (held || issuing) continue;
        findings_.Add(kAllocationHeldInInventory,
                      absl::StrCat("order ", a.order_id, " (", OrderStatusName(order.status),
                                   ") holds unit ", a.unit_id, " under ", a.reservation_key,
                                   "; inventory has it ", UnitStatusName(u->status),
                                   " under reservation ", Quoted(u->reservation_key)));
      } else if (a.outcome != v1::TRANSFUSION_OUTCOME_RETURNED && u->order_id != a.order_id) {
        findings_.Add(kAllocationHeldInInventory,
                      absl::StrCat("order ", a.order_id, " (", OrderStatusName(order.status),
                                   ") lists unit ", a.unit_id, "; inventory has it ",
                                   UnitStatusName(u->status), " for order ", Quoted(u->order_id)));
      }
    }
  }

  void AllocationMatchesUnit() {
    for (const Allocation& a : req_.allocations) {
      const Unit* u = FindUnit(a.unit_id);
      if (u == nullptr) {
        findings_.Add(kAllocationMatchesUnit,
                      absl::StrCat("order ", a.order_id, " allocates unit ", a.unit_id,
                                   ", which inventory does not have"));
        continue;
      }
      if (u->din != a.din || u->component != a.component || u->quantity != a.quantity) {
        findings_.Add(kAllocationMatchesUnit,
                      absl::StrCat("order ", a.order_id, " records unit ", a.unit_id, " as DIN ",
                                   a.din, " component ", a.component, " quantity ", a.quantity,
                                   "; inventory has DIN ", u->din, " component ", u->component,
                                   " quantity ", u->quantity));
      }
    }
  }

  // Allocated quantity and largest bag of each line, over its non-withdrawn allocations.
  struct Filled {
    int64_t allocated = 0;
    int largest = 0;
  };
  std::map<std::pair<std::string, int>, Filled> FilledLines() const {
    std::map<std::pair<std::string, int>, Filled> filled;
    for (const Allocation& a : req_.allocations) {
      if (a.withdrawn) continue;
      Filled& f = filled[{a.order_id, a.line_no}];
      f.allocated += a.quantity;
      f.largest = std::max(f.largest, a.quantity);
    }
    return filled;
  }

  void LineAllocationConsistent() {
    for (const Allocation& a : req_.allocations) {
      auto line = req_.lines.find({a.order_id, a.line_no});
      if (line == req_.lines.end()) {
        findings_.Add(kLineAllocationConsistent,
                      absl::StrCat("order ", a.order_id, " allocates unit ", a.unit_id, " to line ",
                                   a.line_no, ", which the order does not have"));
        continue;
      }
      if (line->second.component != a.component) {
        findings_.Add(kLineAllocationConsistent,
                      absl::StrCat("order ", a.order_id, " line ", a.line_no, " is component ",
                                   line->second.component, " but holds unit ", a.unit_id,
                                   " of component ", a.component));
      }
      auto r = req_.reservations.find(a.reservation_key);
      if (r == req_.reservations.end() || r->second.order_id != a.order_id ||
          r->second.line_no != a.line_no) {
        findings_.Add(kLineAllocationConsistent,
                      absl::StrCat("order ", a.order_id, " line ", a.line_no, " holds unit ",
                                   a.unit_id, " under ", a.reservation_key,
                                   ", which is not a reservation of that line"));
      }
    }
    for (const auto& [key, f] : FilledLines()) {
      const Order* order = FindOrder(key.first);
      auto line = req_.lines.find(key);
      if (order == nullptr || !IsLiveOrder(order->status) || line == req_.lines.end()) continue;
      // ChooseUnits stops at the first bag that reaches the quantity, so what is held minus the
      // largest bag is always short of the quantity.
      if (f.allocated - f.largest >= line->second.quantity) {
        findings_.Add(kLineAllocationConsistent,
                      absl::StrCat("order ", key.first, " line ", key.second, " holds ",
                                   f.allocated, " for a quantity of ", line->second.quantity,
                                   " (largest bag ", f.largest, "): at least one bag too many"));
      }
    }
  }

  void OrderStatusMatchesLines() {
    const std::map<std::pair<std::string, int>, Filled> filled = FilledLines();
    std::map<std::string, std::vector<std::string>> short_lines;  // order -> "line n: a of q"
    std::map<std::string, int> line_count;
    for (const auto& [key, line] : req_.lines) {
      ++line_count[key.first];
      auto f = filled.find(key);
      const int64_t allocated = f == filled.end() ? 0 : f->second.allocated;
      if (allocated < line.quantity) {
        short_lines[key.first].push_back(
            absl::StrCat("line ", key.second, ": ", allocated, " of ", line.quantity));
      }
    }
    for (const auto& [order_id, order] : req_.orders) {
      if (line_count[order_id] == 0) continue;
      auto s = short_lines.find(order_id);
      if (order.status == v1::ORDER_STATUS_ALLOCATED && s != short_lines.end()) {
        findings_.Add(kOrderStatusMatchesLines,
                      absl::StrCat("order ", order_id, " is ALLOCATED with ",
                                   absl::StrJoin(s->second, ", ")));
      } else if (order.status == v1::ORDER_STATUS_PARTIALLY_ALLOCATED && s == short_lines.end()) {
        findings_.Add(
            kOrderStatusMatchesLines,
            absl::StrCat("order ", order_id, " is PARTIALLY_ALLOCATED with every line filled"));
      }
    }
  }

  void InventoryHoldRecordedOnOrder() {
    for (const auto& [unit_id, u] : inv_.units) {
      if (IsHeldStatus(u.status) && !u.reservation_key.empty()) {
        auto r = inv_.reservations.find(u.reservation_key);
        if (r == inv_.reservations.end() || r->second.status != v1::RESERVATION_STATUS_CONFIRMED) {
          continue;  // HELD: not yet recorded, or orphaned (no_orphaned_hold)
        }
        const std::string& order_id = r->second.order_id;
        auto a = allocation_.find({order_id, unit_id});
        const Order* order = FindOrder(order_id);
        std::string why;
        if (order == nullptr) {
          why = "which does not exist";
        } else if (!IsLiveOrder(order->status)) {
          why = absl::StrCat("which is ", OrderStatusName(order->status));
        } else if (a == allocation_.end()) {
          why = "which does not list it";
        } else if (a->second->withdrawn) {
          why = "which withdrew it";
        } else if (a->second->reservation_key != u.reservation_key) {
          why = absl::StrCat("which holds it under ", a->second->reservation_key);
        }
        if (!why.empty()) {
          findings_.Add(
              kInventoryHoldRecordedOnOrder,
              absl::StrCat("unit ", unit_id, " is held by confirmed reservation ",
                           u.reservation_key, " for order ", Quoted(order_id), ", ", why));
        }
      } else if (u.status == v1::UNIT_STATUS_ISSUED || u.status == v1::UNIT_STATUS_TRANSFUSED) {
        auto a = allocation_.find({u.order_id, unit_id});
        if (a == allocation_.end() || a->second->withdrawn) {
          findings_.Add(kInventoryHoldRecordedOnOrder,
                        absl::StrCat("unit ", unit_id, " is ", UnitStatusName(u.status),
                                     " for order ", Quoted(u.order_id), ", which ",
                                     a == allocation_.end() ? "does not list it" : "withdrew it"));
        }
      }
    }
  }

  void InventoryReservationHasIntent() {
    for (const auto& [key, r] : inv_.reservations) {
      auto intent = req_.reservations.find(key);
      if (intent == req_.reservations.end()) {
        findings_.Add(
            kInventoryReservationHasIntent,
            absl::StrCat("inventory reservation ", key, " (", ReservationStatusName(r.status),
                         ", order ", Quoted(r.order_id), ") has no request-side record"));
      } else if (intent->second.order_id != r.order_id) {
        findings_.Add(
            kInventoryReservationHasIntent,
            absl::StrCat("inventory reservation ", key, " is for order ", Quoted(r.order_id),
                         ", its request-side record for order ", intent->second.order_id));
      }
    }
  }

  void StatusHasEvent(const char* rule, absl::string_view what) {
    const bool units = what == "unit";
    const std::map<std::string, LastEvent>& last = units ? inv_.last_events : req_.last_events;
    auto check = [&](const std::string& id, int status) {
      auto e = last.find(id);
      const std::string name = units ? UnitStatusName(status) : OrderStatusName(status);
      if (e == last.end()) {
        findings_.Add(rule, absl::StrCat(what, " ", id, " is ", name, " and has no event"));
      } else if (e->second.to_status != status) {
        findings_.Add(rule, absl::StrCat(what, " ", id, " is ", name, " but its latest event ",
                                         e->second.event_id, " left it ",
                                         units ? UnitStatusName(e->second.to_status)
                                               : OrderStatusName(e->second.to_status)));
      }
    };
    if (units) {
      for (const auto& [id, u] : inv_.units) check(id, u.status);
    } else {
      for (const auto& [id, o] : req_.orders) check(id, o.status);
    }
  }

  void EventChain(const char* rule, absl::string_view what) {
    const bool units = what == "unit";
    const std::vector<ChainBreak>& breaks = units ? inv_.chain_breaks : req_.chain_breaks;
    auto name = [&](int s) { return units ? UnitStatusName(s) : OrderStatusName(s); };
    for (const ChainBreak& b : breaks) {
      findings_.Add(
          rule,
          absl::StrCat(what, " ", b.id, " event ", b.event_id, " starts from ", name(b.from_status),
                       b.previous_to.has_value()
                           ? absl::StrCat(" but the previous event left it ", name(*b.previous_to))
                           : " but is its first event (from UNSPECIFIED)"));
    }
    const std::map<std::string, LastEvent>& last = units ? inv_.last_events : req_.last_events;
    for (const auto& [id, e] : last) {
      const bool known = units ? inv_.units.count(id) > 0 : req_.orders.count(id) > 0;
      if (!known) {
        findings_.Add(rule, absl::StrCat("event ", e.event_id, " names ", what, " ", id,
                                         ", which does not exist"));
      }
    }
  }

  void NoOrphanedHold() {
    std::map<std::string, std::vector<std::string>> held;  // reservation key -> units
    for (const auto& [unit_id, u] : inv_.units) {
      if (IsHeldStatus(u.status) && !u.reservation_key.empty()) {
        held[u.reservation_key].push_back(unit_id);
      }
    }
    const int64_t due_before = absl::ToUnixMicros(now_ - grace_);
    for (const auto& [key, r] : inv_.reservations) {
      if (r.status != v1::RESERVATION_STATUS_HELD) continue;
      auto units = held.find(key);
      if (units == held.end()) continue;
      if (r.hold_expires_us.has_value() && *r.hold_expires_us >= due_before) continue;
      findings_.Add(kNoOrphanedHold,
                    absl::StrCat("reservation ", key, " (order ", Quoted(r.order_id), ") ",
                                 r.hold_expires_us.has_value()
                                     ? absl::StrCat("hold expired ", Ago(*r.hold_expires_us))
                                     : std::string("has no hold expiry"),
                                 " and still holds ", absl::StrJoin(units->second, ", ")));
    }
  }

  void NoHalfDoneOrder() {
    using request::ReservationState;
    std::map<std::string, std::vector<std::string>> unsettled;  // order -> "key STATE"
    for (const auto& [key, r] : req_.reservations) {
      const auto state = static_cast<ReservationState>(r.state);
      if (state == ReservationState::kPending || state == ReservationState::kReserved ||
          state == ReservationState::kAbandoned) {
        unsettled[r.order_id].push_back(absl::StrCat(key, " ", ReservationStateName(r.state)));
      }
    }
    const int64_t stale_before = absl::ToUnixMicros(now_ - grace_);
    for (const auto& [order_id, order] : req_.orders) {
      if (order.updated_us >= stale_before) continue;
      std::vector<std::string> what;
      if (order.status == v1::ORDER_STATUS_RECEIVED) what.push_back("still RECEIVED");
      if (order.dispatch_intent) what.push_back("a dispatch started and not finished");
      auto u = unsettled.find(order_id);
      if (u != unsettled.end()) {
        what.push_back(absl::StrCat("reservations ", absl::StrJoin(u->second, ", ")));
      }
      if (what.empty()) continue;
      findings_.Add(kNoHalfDoneOrder,
                    absl::StrCat("order ", order_id, " (", OrderStatusName(order.status),
                                 ", unchanged since ", Ago(order.updated_us),
                                 "): ", absl::StrJoin(what, "; ")));
    }
  }

  void UnitCountsConserved() {
    int64_t sum = 0;
    for (const auto& [status, count] : inv_.by_status) sum += count;
    if (sum != inv_.unit_count) {
      findings_.Add(kUnitCountsConserved, absl::StrCat("units by status sum to ", sum, ", but ",
                                                       inv_.unit_count, " units exist"));
    }
    std::map<std::string, int> roots;  // din -> units without a parent
    std::set<std::string> parents;     // units that have components
    for (const auto& [unit_id, u] : inv_.units) {
      if (!v1::UnitStatus_IsValid(u.status) || u.status == v1::UNIT_STATUS_UNSPECIFIED) {
        findings_.Add(kUnitCountsConserved,
                      absl::StrCat("unit ", unit_id, " has unknown status ", u.status));
      }
      if (inv_.donations.count(u.din) == 0) {
        findings_.Add(kUnitCountsConserved, absl::StrCat("unit ", unit_id, " carries DIN ", u.din,
                                                         ", which is no donation"));
      }
      if (u.parent_unit_id.empty()) {
        ++roots[u.din];
        continue;
      }
      parents.insert(u.parent_unit_id);
      const Unit* parent = FindUnit(u.parent_unit_id);
      if (parent == nullptr) {
        findings_.Add(kUnitCountsConserved,
                      absl::StrCat("unit ", unit_id, " was made from ", u.parent_unit_id,
                                   ", which does not exist"));
      } else if (parent->din != u.din || parent->status != v1::UNIT_STATUS_PROCESSED) {
        findings_.Add(
            kUnitCountsConserved,
            absl::StrCat("unit ", unit_id, " (DIN ", u.din, ") was made from ", u.parent_unit_id,
                         " (DIN ", parent->din, ", ", UnitStatusName(parent->status), ")"));
      }
    }
    for (const auto& [unit_id, u] : inv_.units) {
      if (u.status == v1::UNIT_STATUS_PROCESSED && parents.count(unit_id) == 0) {
        findings_.Add(kUnitCountsConserved,
                      absl::StrCat("unit ", unit_id, " is PROCESSED but no unit was made from it"));
      }
    }
    for (const auto& [din, count] : roots) {
      if (count != 1) {
        findings_.Add(kUnitCountsConserved,
                      absl::StrCat("DIN ", din, " has ", count, " collected units"));
      }
    }
  }

  void UnitStateConsistent() {
    for (const auto& [unit_id, u] : inv_.units) {
      std::vector<std::string> wrong;
      switch (u.status) {
        case v1::UNIT_STATUS_AVAILABLE:
          if (!u.reservation_key.empty()) wrong.push_back("has a reservation key");
          if (!u.transfer_id.empty()) wrong.push_back("is on a transfer");
          if (!u.order_id.empty() || !u.hospital_id.empty()) wrong.push_back("names an order");
          break;
        case v1::UNIT_STATUS_RESERVED:
          if (u.reservation_key.empty() && u.transfer_id.empty()) {
            wrong.push_back("is held by no reservation and no transfer");
          }
          break;
        case v1::UNIT_STATUS_IN_TRANSIT:
          if (u.transfer_id.empty()) wrong.push_back("is on no transfer");
          break;
        case v1::UNIT_STATUS_ISSUED:
          if (u.order_id.empty()) wrong.push_back("names no order");
          if (u.hospital_id.empty()) wrong.push_back("names no hospital");
          if (!u.issued) wrong.push_back("has no issue time");
          if (!u.transfer_id.empty()) wrong.push_back("is on a transfer");
          break;
        case v1::UNIT_STATUS_TRANSFUSED:
          if (u.order_id.empty()) wrong.push_back("names no order");
          break;
        default:
          break;
      }
      if (u.hold != 0 && u.status != v1::UNIT_STATUS_QUARANTINED) {
        wrong.push_back(absl::StrCat("has hold ", u.hold));
      }
      if (!u.reservation_key.empty() && !u.issued && !IsHeldStatus(u.status) &&
          u.status != v1::UNIT_STATUS_AVAILABLE) {
        wrong.push_back("keeps a reservation key though never issued");
      }
      if (!u.transfer_id.empty() && !IsHeldStatus(u.status) &&
          u.status != v1::UNIT_STATUS_AVAILABLE && u.status != v1::UNIT_STATUS_ISSUED) {
        wrong.push_back("keeps a transfer");
      }
      if (u.quantity < 1) wrong.push_back(absl::StrCat("has quantity ", u.quantity));
      if (!wrong.empty()) {
        findings_.Add(kUnitStateConsistent,
                      absl::StrCat("unit ", unit_id, " is ", UnitStatusName(u.status), " and ",
                                   absl::StrJoin(wrong, ", ")));
      }
    }
  }

  void UnitTransferConsistent() {
    for (const auto& [unit_id, u] : inv_.units) {
      if (u.transfer_id.empty()) continue;
      auto t = inv_.transfers.find(u.transfer_id);
      if (t == inv_.transfers.end()) {
        findings_.Add(kUnitTransferConsistent,
                      absl::StrCat("unit ", unit_id, " is on transfer ", u.transfer_id,
                                   ", which does not exist"));
        continue;
      }
      if (inv_.transfer_units.count({u.transfer_id, unit_id}) == 0) {
        findings_.Add(kUnitTransferConsistent,
                      absl::StrCat("unit ", unit_id, " is on transfer ", u.transfer_id,
                                   ", which does not list it"));
      }
      const int want = u.status == v1::UNIT_STATUS_RESERVED     ? v1::TRANSFER_STATUS_CREATED
                       : u.status == v1::UNIT_STATUS_IN_TRANSIT ? v1::TRANSFER_STATUS_IN_TRANSIT
                                                                : -1;
      if (want >= 0 && t->second != want) {
        findings_.Add(
            kUnitTransferConsistent,
            absl::StrCat("unit ", unit_id, " is ", UnitStatusName(u.status), " on transfer ",
                         u.transfer_id, ", which is ", TransferStatusName(t->second)));
      }
    }
  }

  void DonationRecordedAtBothEnds() {
    for (const auto& [din, donor_id] : inv_.donations) {
      if (donor_id.empty()) continue;  // registered without a donor reference
      auto d = donor_->find(din);
      if (d == donor_->end()) {
        findings_.Add(kDonationRecordedAtBothEnds,
                      absl::StrCat("DIN ", din, " is in inventory for donor ", donor_id,
                                   " but the donor service has no such donation"));
      } else if (d->second.donor_id != donor_id) {
        findings_.Add(kDonationRecordedAtBothEnds,
                      absl::StrCat("DIN ", din, " is donor ", donor_id, "'s in inventory and ",
                                   d->second.donor_id, "'s at the donor service"));
      }
    }
  }

  // A donation ends with its unit or with a recorded void, never with neither (a donor held to
  // an interval for blood that is not stock) nor with both (stock whose donor is not held).
  void DonationHasUnitOrVoid() {
    std::set<std::string> dins_with_units;
    for (const auto& [unit_id, u] : inv_.units) dins_with_units.insert(u.din);
    for (const auto& [din, d] : *donor_) {
      const bool has_unit = dins_with_units.count(din) > 0;
      if (d.voided) {
        if (has_unit) {
          findings_.Add(kDonationHasUnitOrVoid,
                        absl::StrCat("donation ", din, " of donor ", d.donor_id, " is voided (",
                                     d.void_reason, ") but inventory has its unit"));
        }
        continue;
      }
      if (has_unit || d.recorded_at > now_ - grace_) continue;
      findings_.Add(kDonationHasUnitOrVoid,
                    absl::StrCat("donation ", din, " of donor ", d.donor_id, " was recorded ",
                                 absl::ToInt64Seconds(now_ - d.recorded_at),
                                 " s ago and has neither a unit in inventory nor a void"));
    }
  }

  // The feed's kept rows are consecutive and end at the head; an empty feed has handed out
  // nothing (retention keeps the newest row).
  void ChangeFeedGapFree() {
    if (inv_.feed_rows == 0) {
      if (inv_.feed_head != 0) {
        findings_.Add(kChangeFeedGapFree,
                      absl::StrCat("the feed head is at ", inv_.feed_head, " but no row is kept"));
      }
      return;
    }
    if (inv_.feed_max - inv_.feed_min + 1 != inv_.feed_rows) {
      findings_.Add(
          kChangeFeedGapFree,
          absl::StrCat("sequences ", inv_.feed_min, "..", inv_.feed_max, " hold ", inv_.feed_rows,
                       " rows: ", inv_.feed_max - inv_.feed_min + 1 - inv_.feed_rows, " missing"));
    }
    if (inv_.feed_max != inv_.feed_head) {
      findings_.Add(kChangeFeedGapFree, absl::StrCat("the newest row is ", inv_.feed_max,
                                                     " but the head is at ", inv_.feed_head));
    }
  }

  // DOMAIN.md section 5: once a donation tests reactive, none of that donor's in-date units
  // may be given to a patient: none is AVAILABLE or RESERVED.
  void ReactiveDonorHeld() {
    std::map<std::string, std::string> reactive_by_donor;  // donor -> one reactive DIN
    for (const std::string& din : inv_.reactive_dins) {
      auto d = inv_.donations.find(din);
      if (d != inv_.donations.end() && !d->second.empty()) reactive_by_donor[d->second] = din;
    }
    if (reactive_by_donor.empty()) return;
    const int64_t now_us = absl::ToUnixMicros(now_);
    for (const auto& [unit_id, u] : inv_.units) {
      if (u.donor_id.empty() || u.expires_us <= now_us) continue;
      if (u.status != v1::UNIT_STATUS_AVAILABLE && u.status != v1::UNIT_STATUS_RESERVED) continue;
      auto reactive = reactive_by_donor.find(u.donor_id);
      if (reactive == reactive_by_donor.end()) continue;
      findings_.Add(
          kReactiveDonorHeld,
          absl::StrCat("unit ", unit_id, " (DIN ", u.din, ") is ", UnitStatusName(u.status),
                       " although donor ", u.donor_id, " tested reactive on ", reactive->second));
    }
  }

  // A transfer is created to be dispatched: CREATED for longer than the limit means units
  // are held for a journey nobody started.
  void TransferNotLeftCreated() {
    const int64_t limit_us = absl::ToUnixMicros(now_ - created_transfer_limit_);
    for (const auto& [transfer_id, status] : inv_.transfers) {
      if (status != v1::TRANSFER_STATUS_CREATED) continue;
      auto created = inv_.transfer_created_us.find(transfer_id);
      if (created == inv_.transfer_created_us.end() || created->second >= limit_us) continue;
      findings_.Add(kTransferNotLeftCreated,
                    absl::StrCat("transfer ", transfer_id, " has been CREATED for ",
                                 (absl::ToUnixMicros(now_) - created->second) / 60'000'000,
                                 " min without being dispatched or cancelled"));
    }
  }

  // DOMAIN.md section 5: a lookback case tells every hospital that received a unit of the
  // donor collected within the window; each such unit is listed in the case with its notice.
  void LookbackListsIssuedUnits() {
    for (const LookbackIssuedUnit& u : inv_.lookback_issued) {
      if (!u.listed) {
        findings_.Add(kLookbackListsIssuedUnits,
                      absl::StrCat("lookback case ", u.lookback_id, " does not list issued unit ",
                                   u.unit_id, " (DIN ", u.din, ")"));
      }
      if (!u.notified) {
        findings_.Add(
            kLookbackListsIssuedUnits,
            absl::StrCat("lookback case ", u.lookback_id, " has no recall notice for issued unit ",
                         u.unit_id, " (DIN ", u.din, ")"));
      }
    }
  }

  // A reactive result defers the donor (the donor service applies it from the inventory's
  // feed); a result recorded more than orphan_grace ago must have its standing deferral.
  void ReactiveDonorDeferred() {
    const int64_t settled_us = absl::ToUnixMicros(now_ - grace_);
    for (const std::string& din : inv_.reactive_dins) {
      auto d = inv_.donations.find(din);
      if (d == inv_.donations.end() || d->second.empty()) continue;
      auto recorded = inv_.reactive_recorded_us.find(din);
      if (recorded != inv_.reactive_recorded_us.end() && recorded->second > settled_us) continue;
      if (reactive_deferrals_.count({d->second, din}) > 0) continue;
      findings_.Add(
          kReactiveDonorDeferred,
          absl::StrCat("donor ", d->second, " is not deferred for the reactive DIN ", din));
    }
  }

  const InventoryData& inv_;
  const RequestData& req_;
  const std::optional<std::map<std::string, DonorDonation>>& donor_;
  const std::set<std::pair<std::string, std::string>>& reactive_deferrals_;
  const absl::Time now_;
  const absl::Duration grace_;
  const absl::Duration created_transfer_limit_;
  Findings findings_;
  std::map<std::pair<std::string, std::string>, const Allocation*> allocation_;
};

}  // namespace

std::string InvariantReport::Summary() const {
  std::string out = ok()
                        ? absl::StrCat("invariants: OK (", rules.size(), " rules, no violation)\n")
                        : absl::StrCat("invariants: VIOLATED (", violations.size(), " findings)\n");
  std::vector<std::string> by_status;
  for (const auto& [status, count] : units_by_status) {
    by_status.push_back(absl::StrCat(status, " ", count));
  }
  absl::StrAppend(&out, "units: ", units, by_status.empty() ? "" : " (",
                  absl::StrJoin(by_status, ", "), by_status.empty() ? "" : ")", "\n");
  absl::StrAppend(&out, "orders: ", orders, "\n");
  absl::StrAppend(&out, "rules: ", absl::StrJoin(rules, ", "), "\n");
  for (const std::string& v : violations) absl::StrAppend(&out, "  ", v, "\n");
  return out;
}

absl::StatusOr<InvariantReport> CheckInvariants(const InvariantTarget& target) {
  if (target.inventory_schema.empty()) return InvalidField("inventory_schema", "is required");
  if (target.request_schema.empty()) return InvalidField("request_schema", "is required");
  db::DbOptions options;
  options.host = target.host;
  options.port = target.port;
  options.user = target.user;
  options.password = target.password;
  options.pool_size = 1;
  options.acquire_timeout = absl::Seconds(10);
  options.read_timeout = absl::Minutes(5);  // whole tables on a large region
  options.max_transaction_attempts = 2;
  std::unique_ptr<db::ConnectionPool> pool = db::ConnectionPool::Create(options);

  Snapshot snapshot;
  absl::Time read_at;
  absl::Status status =
      db::RunTransaction(*pool, "check invariants", absl::Now() + absl::Minutes(10),
                         [&](db::Connection& conn) -> absl::Status {
                           snapshot = Snapshot();
                           // One snapshot of every schema, so no rule sees half of a commit.
                           conn.Execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
                           conn.Execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
                           read_at = absl::Now();
                           BG_RETURN_IF_ERROR(RequireSchema(conn, target.inventory_schema));
                           BG_RETURN_IF_ERROR(RequireSchema(conn, target.request_schema));
                           if (!target.donor_schema.empty()) {
                             BG_RETURN_IF_ERROR(RequireSchema(conn, target.donor_schema));
                           }
                           conn.raw().setSchema(target.inventory_schema);
                           snapshot.inventory = ReadInventory(conn);
                           conn.raw().setSchema(target.request_schema);
                           snapshot.request = ReadRequest(conn);
                           if (!target.donor_schema.empty()) {
                             conn.raw().setSchema(target.donor_schema);
                             snapshot.donor_donations = ReadDonorDonations(conn);
                             ForEachRow(conn, kReactiveDeferrals, [&](sql::ResultSet& rs) {
                               snapshot.reactive_deferrals.emplace(Text(rs, 1), Text(rs, 2));
                             });
                           }
                           return absl::OkStatus();
                         });
  if (!status.ok()) return status;
  return Checker(snapshot, target, read_at).Run();
}

}  // namespace bloodgrid::bench
