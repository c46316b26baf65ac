// An audit of a running region's databases: the rules that, broken, mean a bag was lost,
// held twice or moved without a trace. It reads the inventory, request and (optionally) donor
// schemas in one consistent snapshot over one admin connection; cross-schema reads are fine
// here because this is an audit tool, not a service.
//
// Rules (InvariantReport::rules, in this order; "live order" = an order neither CANCELLED nor
// REJECTED, "live allocation" = a non-withdrawn allocation of a live order):
//  unit_held_once                     no unit is in the live allocations of two orders (an
//                                     allocation whose unit was RETURNED does not count);
//  reserved_unit_has_live_reservation a RESERVED / IN_TRANSIT unit with a reservation key names
//                                     an existing HELD or CONFIRMED reservation;
//  allocation_held_in_inventory       a live allocation of an undispatched order is RESERVED /
//                                     IN_TRANSIT in inventory under the same reservation key
//                                     (or ISSUED to the order while its dispatch is under way);
//                                     of a dispatched order, it was issued to that order;
//  allocation_matches_unit            an allocation names an existing unit with the same DIN,
//                                     component and quantity;
//  line_allocation_consistent         an allocation belongs to a line of its order with the
//                                     same component, under a reservation of that line; a live
//                                     line holds less than its quantity plus its largest bag
//                                     (a bag is never split, so a fill may overshoot, by less
//                                     than one bag);
//  order_status_matches_lines         ALLOCATED: every line filled; PARTIALLY_ALLOCATED: some
//                                     line short;
//  inventory_hold_recorded_on_order   a unit held by a CONFIRMED reservation is a live
//                                     allocation of that reservation's order under that key;
//                                     an ISSUED or TRANSFUSED unit is a non-withdrawn
//                                     allocation of the order it was issued for;
//  inventory_reservation_has_intent   every inventory reservation has its request-side record
//                                     (same key, same order): nothing reserves for nobody;
//  unit_status_has_event              a unit's status is the to_status of its latest event;
//  unit_event_chain                   each unit event starts where the previous one ended (the
//                                     first from UNSPECIFIED); no event names an unknown unit;
//  order_status_has_event             an order's status is the to_status of its latest event;
//  order_event_chain                  likewise for order events;
//  no_orphaned_hold                   no HELD reservation whose hold expired more than
//                                     orphan_grace ago still holds a unit (the sweeper releases
//                                     them);
//  no_half_done_order                 no order unchanged for orphan_grace is RECEIVED, has a
//                                     PENDING / RESERVED / ABANDONED reservation, or a dispatch
//                                     started and not finished (the reconciler settles them);
//  unit_counts_conserved              units_by_status sums to units, every status is known;
//                                     every unit's DIN is a donation; a component's parent
//                                     exists with the same DIN and is PROCESSED; a PROCESSED
//                                     unit has components; a DIN has one collected unit;
//  unit_state_consistent              no impossible combination: AVAILABLE holding anything,
//                                     RESERVED held by nothing, IN_TRANSIT without a transfer,
//                                     ISSUED without order, hospital or issue time or on a
//                                     transfer, TRANSFUSED without an order, a hold outside
//                                     QUARANTINED, a reservation key on a unit never issued and
//                                     not RESERVED / IN_TRANSIT, a transfer on a unit neither
//                                     RESERVED nor IN_TRANSIT, a quantity below 1;
//  unit_transfer_consistent           a unit's transfer exists, lists the unit, and is CREATED
//                                     for a RESERVED unit, IN_TRANSIT for an IN_TRANSIT one;
//  change_feed_gap_free               the inventory's change feed rows are consecutive and
//                                     the newest is the head's sequence;
//  reactive_donor_held                no in-date unit of a donor with a REACTIVE donation is
//                                     AVAILABLE or RESERVED;
//  transfer_not_left_created          no transfer stays CREATED longer than
//                                     created_transfer_limit;
//  donation_recorded_at_both_ends     (with a donor schema) an inventory donation with a donor
//                                     is that donor's donation of that DIN at the donor
//                                     service;
//  reactive_donor_deferred            (with a donor schema) a REACTIVE donation whose result
//                                     was recorded more than orphan_grace ago has a standing
//                                     deferral of its donor for that DIN;
//  donation_has_unit_or_void          (with a donor schema) every donation has its unit or a
//                                     recorded void: a donor donation recorded more than
//                                     orphan_grace ago and not voided has a unit of its DIN in
//                                     inventory; a voided one has none.
//
// Rules are about a settled region: while calls are in flight, a cross-service rule may see
// one service ahead of the other. The grace-bound rules tolerate that for orphan_grace.
//
// Thread safety: CheckInvariants may be called from any thread (it opens its own connection;
// the first call must come from the main thread, as for every Connector/C++ user).
#ifndef BLOODGRID_BENCH_INVARIANTS_H_
#define BLOODGRID_BENCH_INVARIANTS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace bloodgrid::bench {

struct InvariantTarget {
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string user;
  std::string password;
  std::string inventory_schema = "inventory";
  std::string request_schema = "request";
  // Empty: the donor rules are skipped.
  std::string donor_schema = "donor";
  // A HELD reservation whose hold expired longer ago than this and that still holds units is
  // orphaned (the sweeper should have released it). Also how long an order may stay half-done
  // and a donor donation may wait for its unit.
  absl::Duration orphan_grace = absl::Minutes(2);
  // Longest a transfer may stay CREATED (created, neither dispatched nor cancelled).
  absl::Duration created_transfer_limit = absl::Hours(12);
};

struct InvariantReport {
  int64_t units = 0;                               // units in inventory
  std::map<std::string, int64_t> units_by_status;  // by status name ("AVAILABLE", ...)
  int64_t orders = 0;
  std::vector<std::string> rules;       // every rule checked, by name
  std::vector<std::string> violations;  // "rule: what, with ids"; at most
                                        // kMaxViolationsPerRule per rule, then one
                                        // "rule: ... and N more"
  bool ok() const { return violations.empty(); }
  // Multi-line, human-readable: verdict, counts, rules, violations.
  std::string Summary() const;
};

inline constexpr int kMaxViolationsPerRule = 20;

// Reads the target's schemas and checks every rule. Violations are data, not errors: the
// status is an error only when the check could not run: UNAVAILABLE when the server cannot be
// reached, FAILED_PRECONDITION when a schema does not exist, INVALID_ARGUMENT for an empty
// inventory or request schema name, INTERNAL for anything else.
absl::StatusOr<InvariantReport> CheckInvariants(const InvariantTarget& target);

}  // namespace bloodgrid::bench

#endif  // BLOODGRID_BENCH_INVARIANTS_H_
