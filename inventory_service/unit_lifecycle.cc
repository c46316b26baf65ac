// The unit state machine and every decision that changes a unit (inventory_rules.h "Unit
// state machine" and "Unit lifecycle"). Messages here are the RPCs' (inventory.proto).
#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "inventory_service/inventory_rules.h"
#include "inventory_service/unit_change.h"

namespace bloodgrid::inventory {
namespace {

using internal::Change;
using internal::WithdrawnAlert;
using internal::WithoutPrefix;

using v1::UnitStatus;

constexpr UnitStatus kQuarantined = v1::UNIT_STATUS_QUARANTINED;
constexpr UnitStatus kAvailable = v1::UNIT_STATUS_AVAILABLE;
constexpr UnitStatus kReserved = v1::UNIT_STATUS_RESERVED;
constexpr UnitStatus kInTransit = v1::UNIT_STATUS_IN_TRANSIT;
constexpr UnitStatus kIssued = v1::UNIT_STATUS_ISSUED;
constexpr UnitStatus kTransfused = v1::UNIT_STATUS_TRANSFUSED;
constexpr UnitStatus kReturned = v1::UNIT_STATUS_RETURNED;
constexpr UnitStatus kExpired = v1::UNIT_STATUS_EXPIRED;
constexpr UnitStatus kDiscarded = v1::UNIT_STATUS_DISCARDED;
constexpr UnitStatus kRecalled = v1::UNIT_STATUS_RECALLED;
constexpr UnitStatus kProcessed = v1::UNIT_STATUS_PROCESSED;

// DESIGN.md "Records and their lives", one row per arrow, with the decision that takes it.
constexpr Transition kTransitions[] = {
    {kQuarantined, kAvailable},  // DecideAfterTesting: all tests non-reactive and typed
    {kQuarantined, kDiscarded},  // DecideAfterTesting (reactive), DiscardChange
    {kQuarantined, kRecalled},   // DiscardChange (LOOKBACK)
    {kQuarantined, kProcessed},  // ProcessedParent: whole blood split while still in testing
    {kQuarantined, kExpired},    // ExpireUnit
    {kAvailable, kReserved},     // ReserveUnit, PickForTransfer
    {kAvailable, kQuarantined},  // DecideLookback: lookback hold
    {kAvailable, kDiscarded},    // DecideAfterTesting (a correction), DiscardChange
    {kAvailable, kRecalled},     // DiscardChange (LOOKBACK)
    {kAvailable, kExpired},      // ExpireUnit
    {kAvailable, kProcessed},    // ProcessedParent
    {kReserved, kAvailable},     // ReleaseUnit, UnreserveOnHoldExpiry, CancelTransferUnit
    {kReserved, kIssued},        // IssueUnit: dispatched to a hospital
    {kReserved, kInTransit},     // DispatchUnit: transfer dispatched
    {kReserved, kQuarantined},   // DecideLookback: withdrawn from its reservation
    {kReserved, kExpired},       // ExpireUnit
    {kReserved, kDiscarded},     // DecideAfterTesting: a correction made the donation reactive
    {kInTransit, kAvailable},    // ReceiveUnit: received
    {kInTransit, kReserved},     // ReceiveUnit: received for the reservation it travels for
    {kInTransit, kQuarantined},  // ReceiveUnit: received while on lookback hold
    {kInTransit, kExpired},      // ReceiveUnit: expired on the way
    {kInTransit, kDiscarded},    // ReceiveUnit (rejected on receipt), DecideAfterTesting
    {kIssued, kTransfused},      // OutcomeChanges
    {kIssued, kReturned},        // OutcomeChanges
    {kIssued, kDiscarded},       // OutcomeChanges: wasted at the hospital
    {kReturned, kAvailable},     // OutcomeChanges: cold chain held
    {kReturned, kDiscarded},     // OutcomeChanges (cold chain broken), DecideAfterTesting
    {kReturned, kExpired},       // OutcomeChanges, ExpireUnit
};

constexpr UnitStatus kInStock[] = {kQuarantined, kAvailable, kReserved};
constexpr UnitStatus kExpirable[] = {kQuarantined, kAvailable, kReserved, kReturned};

}  // namespace

// ---- State machine --------------------------------------------------------------------------

absl::Span<const Transition> AllowedTransitions() { return kTransitions; }

bool IsFinalStatus(v1::UnitStatus status) {
  return status == kTransfused || status == kExpired || status == kDiscarded ||
         status == kRecalled || status == kProcessed;
}

std::string StatusName(v1::UnitStatus status) {
  return WithoutPrefix(v1::UnitStatus_Name(status), "UNIT_STATUS_");
}

absl::Status CheckTransition(v1::UnitStatus from, v1::UnitStatus to) {
  if (IsFinalStatus(from)) {
    return absl::FailedPreconditionError(
        absl::StrCat("unit is ", StatusName(from), ", a final state"));
  }
  if (from == to) return absl::OkStatus();
  for (const Transition& t : kTransitions) {
    if (t.from == from && t.to == to) return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("a ", StatusName(from), " unit cannot become ", StatusName(to)));
}

absl::Span<const v1::UnitStatus> InStockStatuses() { return kInStock; }
absl::Span<const v1::UnitStatus> ExpirableStatuses() { return kExpirable; }
v1::UnitStatus OnShelfStatus() { return kAvailable; }
v1::UnitStatus InTransitStatus() { return kInTransit; }

// ---- Collection, testing, processing --------------------------------------------------------

v1::TestingOutcome NewDonationTestingOutcome() { return v1::TESTING_OUTCOME_PENDING; }
v1::TestingOutcome ClearScreenOutcome() { return v1::TESTING_OUTCOME_RELEASED; }

UnitChange CollectedUnit(const v1::RegisterCollectionRequest& request, const CollectionPlan& plan) {
  StoredUnit row;
  v1::Unit& u = row.unit;
  u.set_unit_id(UnitIdFor(request.din(), plan.component, 0));
  u.set_din(request.din());
  u.set_component(plan.component);
  u.set_division(0);
  u.set_product_code(request.product_code());
  *u.mutable_blood_type() = request.blood_type();
  u.set_status(kQuarantined);
  u.set_hold(v1::UNIT_HOLD_TESTING);
  u.set_station_id(request.station_id());
  u.set_quantity(plan.quantity);
  u.set_volume_ml(request.volume_ml());
  u.set_donation_type(request.donation_type());
  *u.mutable_collected_at() = request.collected_at();
  ToTimestamp(plan.expires_at, u.mutable_expires_at());
  u.set_donor_id(request.donor_id());
  u.set_anticoagulant(request.anticoagulant());
  UnitChange change =
      Change(std::move(row), {.kind = v1::UNIT_EVENT_KIND_COLLECTED, .reason = "collected"});
  change.write = UnitChange::Write::kNewUnit;
  return change;
}

TestingDecision DecideAfterTesting(const StoredUnit& unit, const TestingState& state,
                                   absl::Span<const std::string> recorded) {
  TestingDecision decision;
  const bool reactive = state.outcome == v1::TESTING_OUTCOME_REACTIVE;
  if (IsFinalStatus(unit.unit.status())) {
    // Units already transfused went out before this result: the lookback notifies.
    if (reactive && unit.unit.status() == kTransfused) {
      decision.listed = TestingDecision::Listed::kTransfused;
    }
    return decision;
  }
  StoredUnit current = unit;
  if (state.typed.has_value() && (current.unit.blood_type().abo() != state.typed->abo ||
                                  current.unit.blood_type().rhd() != state.typed->rhd)) {
    *current.unit.mutable_blood_type() = state.typed->ToProto();
    decision.changes.push_back(Change(current, {.kind = v1::UNIT_EVENT_KIND_BLOOD_TYPE_SET,
                                                .reason = "ABO/RhD typing",
                                                .note = state.typed->ToString()}));
    current = decision.changes.back().after;
  }
  if (!recorded.empty()) {
    // The unit itself does not change: only the trace records the new results.
    UnitChange trace;
    trace.write = UnitChange::Write::kEventOnly;
    trace.after = current;
    trace.event = {.kind = v1::UNIT_EVENT_KIND_TEST_RECORDED,
                   .reason = "test results recorded",
                   .note = absl::StrJoin(recorded, ", ")};
    decision.changes.push_back(std::move(trace));
  }
  const v1::UnitStatus status = current.unit.status();
  if (reactive) {
    if (status == kIssued) {
      decision.listed = TestingDecision::Listed::kIssued;
      return decision;
    }
    const std::string held_by = current.unit.reservation_key();
    StoredUnit after = current;
    after.unit.set_status(kDiscarded);
    after.unit.set_discard_reason(v1::DISCARD_REASON_REACTIVE_TEST);
    after.unit.clear_reservation_key();
    after.unit.clear_transfer_id();
    after.lookback_on_arrival = false;
    UnitChange discard =
        Change(std::move(after),
               {.kind = v1::UNIT_EVENT_KIND_DISCARDED,
                .reason = "REACTIVE_TEST",
                .note = absl::StrJoin(state.reactive, ", ",
                                      [](std::string* out, v1::ScreeningTest test) {
                                        absl::StrAppend(out, v1::ScreeningTest_Name(test));
                                      }),
                .reservation_key = held_by,
                .transfer_id = current.unit.transfer_id()});
    if (!held_by.empty()) discard.alerts.push_back(WithdrawnAlert(current.unit, held_by));
    decision.changes.push_back(std::move(discard));
    decision.listed = TestingDecision::Listed::kDiscarded;
  } else if (state.outcome == v1::TESTING_OUTCOME_RELEASED && status == kQuarantined &&
             current.unit.hold() == v1::UNIT_HOLD_TESTING) {
    StoredUnit after = current;
    after.unit.set_status(kAvailable);
    decision.changes.push_back(
        Change(std::move(after), {.kind = v1::UNIT_EVENT_KIND_RELEASED_FOR_USE,
                                  .reason = "all mandatory tests non-reactive"}));
    decision.listed = TestingDecision::Listed::kReleased;
  }
  return decision;
}

const StoredUnit* WholeBloodParent(absl::Span<const StoredUnit> units) {
  const StoredUnit* parent = nullptr;
  for (const StoredUnit& row : units) {
    if (row.unit.component() == v1::COMPONENT_WHOLE_BLOOD && row.unit.division() == 0) {
      parent = &row;
    }
  }
  return parent;
}

absl::Status CheckProcessing(const StoredUnit& parent, absl::Time processed_at) {
  const v1::UnitStatus status = parent.unit.status();
  if (status == kProcessed) {
    return absl::FailedPreconditionError(
        absl::StrCat("whole-blood unit ", parent.unit.unit_id(), " is already PROCESSED"));
  }
  if (status != kQuarantined && status != kAvailable) {
    return absl::FailedPreconditionError(
        absl::StrCat("whole-blood unit ", parent.unit.unit_id(), " is ", StatusName(status),
                     "; only QUARANTINED or AVAILABLE units are processed"));
  }
  if (processed_at < FromTimestamp(parent.unit.collected_at())) {
    return InvalidField("processed_at", "before the collection");
  }
  return absl::OkStatus();
}

UnitChange ProcessedParent(const StoredUnit& parent, size_t children, absl::Time processed_at) {
  StoredUnit after = parent;
  after.unit.set_status(kProcessed);
  return Change(std::move(after), {.kind = v1::UNIT_EVENT_KIND_PROCESSED,
                                   .reason = absl::StrCat("split into ", children, " components"),
                                   .occurred_at = processed_at});
}

UnitChange ComponentUnit(const StoredUnit& parent, const ComponentPlan& plan,
                         absl::Time processed_at) {
  StoredUnit child;
  v1::Unit& c = child.unit;
  c = parent.unit;  // DIN, donor, blood type, station, collection, status and hold
  c.clear_created_at();
  c.clear_updated_at();
  c.set_unit_id(UnitIdFor(parent.unit.din(), plan.component, plan.division));
  c.set_component(plan.component);
  c.set_division(plan.division);
  c.set_product_code(plan.product_code);
  c.set_quantity(plan.quantity);
  c.set_volume_ml(plan.volume_ml);
  ToTimestamp(plan.expires_at, c.mutable_expires_at());
  c.set_anticoagulant(plan.anticoagulant);
  c.set_preparation(plan.preparation);
  c.set_parent_unit_id(parent.unit.unit_id());
  UnitChange change;
  change.write = UnitChange::Write::kNewUnit;
  change.after = std::move(child);
  change.event = {.kind = v1::UNIT_EVENT_KIND_COMPONENT_PREPARED,
                  .reason = absl::StrCat("made from ", parent.unit.unit_id()),
                  .occurred_at = processed_at};
  return change;
}

// ---- Reservations ---------------------------------------------------------------------------

std::string ReservationStatusName(v1::ReservationStatus status) {
  return WithoutPrefix(v1::ReservationStatus_Name(status), "RESERVATION_STATUS_");
}

bool IsClosedReservation(v1::ReservationStatus status) {
  return status == v1::RESERVATION_STATUS_RELEASED || status == v1::RESERVATION_STATUS_EXPIRED;
}

v1::ReservationStatus HeldReservationStatus() { return v1::RESERVATION_STATUS_HELD; }

UnitChange ReserveUnit(const StoredUnit& unit, const v1::ReserveRequest& request) {
  StoredUnit after = unit;
  after.unit.set_status(kReserved);
  after.unit.set_reservation_key(request.reservation_key());
  return Change(std::move(after), {.kind = v1::UNIT_EVENT_KIND_RESERVED,
                                   .reason = "reserved",
                                   .order_id = request.order_id(),
                                   .hospital_id = request.hospital_id(),
                                   .reservation_key = request.reservation_key()});
}

absl::StatusOr<std::optional<v1::Reservation>> ConfirmedReservation(
    const v1::Reservation& reservation, absl::Time now) {
  const std::string& key = reservation.reservation_key();
  switch (reservation.status()) {
    case v1::RESERVATION_STATUS_CONFIRMED:
    case v1::RESERVATION_STATUS_ISSUED:
      return std::nullopt;
    case v1::RESERVATION_STATUS_HELD: {
      if (FromTimestamp(reservation.hold_expires_at()) <= now) {
        return absl::FailedPreconditionError(
            absl::StrCat("reservation '", key,
                         "' was not confirmed before its hold expired; reserve again "
                         "with a new key"));
      }
      v1::Reservation confirmed = reservation;
      confirmed.set_status(v1::RESERVATION_STATUS_CONFIRMED);
      confirmed.clear_hold_expires_at();
      ToTimestamp(now, confirmed.mutable_confirmed_at());
      return confirmed;
    }
    default:
      return absl::FailedPreconditionError(absl::StrCat("reservation '", key, "' is ",
                                                        ReservationStatusName(reservation.status()),
                                                        "; reserve again with a new key"));
  }
}

v1::ReservationStatus ReservationStatusFromUnits(const v1::Reservation& reservation) {
  bool held = false;
  bool issued = false;
  for (const v1::Unit& unit : reservation.units()) {
    if (unit.status() == kReserved || unit.status() == kInTransit) {
      held = true;
    } else {
      issued = true;
    }
  }
  if (held) return reservation.status();
  return issued ? v1::RESERVATION_STATUS_ISSUED : v1::RESERVATION_STATUS_RELEASED;
}

bool SettleReservation(v1::Reservation* reservation) {
  const v1::ReservationStatus status = ReservationStatusFromUnits(*reservation);
  if (status == reservation->status()) return false;
  reservation->set_status(status);
  reservation->clear_hold_expires_at();
  return true;
}

absl::StatusOr<std::vector<size_t>> ReleaseTargets(absl::Span<const StoredUnit> units,
                                                   const v1::ReleaseRequest& request) {
  std::vector<size_t> targets;
  if (request.unit_ids().empty()) {
    for (size_t j = 0; j < units.size(); ++j) {
      if (units[j].unit.status() == kReserved) targets.push_back(j);
    }
    return targets;
  }
  for (int i = 0; i < request.unit_ids_size(); ++i) {
    auto it = std::find_if(units.begin(), units.end(), [&](const StoredUnit& u) {
      return u.unit.unit_id() == request.unit_ids(i) && u.unit.status() == kReserved;
    });
    if (it == units.end()) {
      return InvalidField(
          absl::StrCat("unit_ids[", i, "]"),
          absl::StrCat("unit '", request.unit_ids(i), "' is not held by this reservation"));
    }
    targets.push_back(static_cast<size_t>(it - units.begin()));
  }
  return targets;
}

absl::StatusOr<UnitChange> ReleaseUnit(const StoredUnit& unit, const v1::Reservation& reservation,
                                       absl::string_view reason) {
  if (!unit.unit.transfer_id().empty()) {
    return absl::FailedPreconditionError(absl::StrCat("unit ", unit.unit.unit_id(),
                                                      " is on transfer ", unit.unit.transfer_id(),
                                                      "; cancel the transfer first"));
  }
  StoredUnit after = unit;
  after.unit.set_status(kAvailable);
  after.unit.clear_reservation_key();
  return Change(std::move(after),
                {.kind = v1::UNIT_EVENT_KIND_UNRESERVED,
                 .reason = reason.empty() ? std::string("released") : std::string(reason),
                 .order_id = reservation.order_id(),
                 .hospital_id = reservation.hospital_id(),
                 .reservation_key = reservation.reservation_key()});
}

absl::Status CheckIssueReservation(const v1::Reservation& reservation) {
  if (IsClosedReservation(reservation.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat("reservation '", reservation.reservation_key(), "' is ",
                     ReservationStatusName(reservation.status()), "; it holds no units"));
  }
  return absl::OkStatus();
}

absl::StatusOr<IssueSelection> IssueTargets(absl::Span<const StoredUnit> units,
                                            const v1::IssueRequest& request) {
  IssueSelection selection;
  auto usable = [](const StoredUnit& u) {
    return u.unit.status() == kReserved || u.unit.status() == kInTransit;
  };
  if (request.unit_ids().empty()) {
    for (size_t j = 0; j < units.size(); ++j) {
      if (usable(units[j])) selection.to_issue.push_back(j);
      if (units[j].unit.status() == kIssued) selection.already_issued.push_back(j);
    }
    return selection;
  }
  for (int i = 0; i < request.unit_ids_size(); ++i) {
    auto it = std::find_if(units.begin(), units.end(), [&](const StoredUnit& u) {
      return u.unit.unit_id() == request.unit_ids(i);
    });
    const size_t index = static_cast<size_t>(it - units.begin());
    if (it != units.end() && it->unit.status() == kIssued) {
      selection.already_issued.push_back(index);
    } else if (it != units.end() && usable(*it)) {
      selection.to_issue.push_back(index);
    } else {
      return InvalidField(
          absl::StrCat("unit_ids[", i, "]"),
          absl::StrCat("unit '", request.unit_ids(i), "' is not held by this reservation"));
    }
  }
  return selection;
}

absl::Status CheckIssuable(const StoredUnit& unit, absl::Time now) {
  const v1::Unit& u = unit.unit;
  if (u.status() == kInTransit || !u.transfer_id().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("unit ", u.unit_id(), " is on transfer ", u.transfer_id()));
  }
  if (now >= FromTimestamp(u.expires_at())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "unit ", u.unit_id(), " expired at ", absl::FormatTime(FromTimestamp(u.expires_at()))));
  }
  return absl::OkStatus();
}

UnitChange IssueUnit(const StoredUnit& unit, const v1::IssueRequest& request, absl::Time now) {
  StoredUnit after = unit;
  after.unit.set_status(kIssued);
  after.unit.set_order_id(request.order_id());
  after.unit.set_hospital_id(request.hospital_id());
  after.unit.set_outcome(v1::TRANSFUSION_OUTCOME_UNSPECIFIED);
  ToTimestamp(now, after.unit.mutable_issued_at());
  return Change(std::move(after), {.kind = v1::UNIT_EVENT_KIND_ISSUED,
                                   .reason = "issued",
                                   .order_id = request.order_id(),
                                   .hospital_id = request.hospital_id(),
                                   .reservation_key = request.reservation_key()});
}

bool HoldLapsed(const v1::Reservation& reservation, absl::Time now) {
  return reservation.status() == v1::RESERVATION_STATUS_HELD &&
         FromTimestamp(reservation.hold_expires_at()) <= now;
}

std::optional<UnitChange> UnreserveOnHoldExpiry(const StoredUnit& unit,
                                                const v1::Reservation& reservation) {
  if (unit.unit.status() != kReserved || !unit.unit.transfer_id().empty()) return std::nullopt;
  StoredUnit after = unit;
  after.unit.set_status(kAvailable);
  after.unit.clear_reservation_key();
  return Change(std::move(after), {.kind = v1::UNIT_EVENT_KIND_UNRESERVED,
                                   .reason = "reservation expired",
                                   .order_id = reservation.order_id(),
                                   .hospital_id = reservation.hospital_id(),
                                   .reservation_key = reservation.reservation_key()});
}

v1::Reservation ExpiredReservation(v1::Reservation reservation) {
  reservation.set_status(v1::RESERVATION_STATUS_EXPIRED);
  return reservation;
}

// ---- Outcomes -------------------------------------------------------------------------------

OutcomePlan PlanOutcome(v1::TransfusionOutcome outcome, bool cold_chain_ok, bool expired) {
  OutcomePlan plan;
  switch (outcome) {
    case v1::TRANSFUSION_OUTCOME_TRANSFUSED:
    case v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED:
      plan.final_status = kTransfused;
      break;
    case v1::TRANSFUSION_OUTCOME_RETURNED:
      plan.via_returned = true;
      if (!cold_chain_ok) {
        plan.final_status = kDiscarded;
        plan.discard_reason = v1::DISCARD_REASON_COLD_CHAIN_FAILURE;
      } else if (expired) {
        plan.final_status = kExpired;
      } else {
        plan.final_status = kAvailable;
      }
      break;
    case v1::TRANSFUSION_OUTCOME_WASTED:
      plan.final_status = kDiscarded;
      plan.discard_reason = v1::DISCARD_REASON_WASTED;
      break;
    default:
      break;
  }
  return plan;
}

bool OutcomeAlreadyRecorded(const v1::Unit& unit, const v1::RecordOutcomeRequest& request) {
  return unit.outcome() == request.outcome();
}

absl::Status CheckOutcome(const v1::Unit& unit, const v1::RecordOutcomeRequest& request) {
  if (unit.status() != kIssued) {
    return absl::FailedPreconditionError(absl::StrCat(
        "unit ", request.unit_id(), " is ", StatusName(unit.status()),
        unit.outcome() != v1::TRANSFUSION_OUTCOME_UNSPECIFIED
            ? absl::StrCat(" with outcome ", v1::TransfusionOutcome_Name(unit.outcome()))
            : std::string(),
        "; only ISSUED units take an outcome"));
  }
  if (unit.order_id() != request.order_id()) {
    return InvalidField("order_id",
                        absl::StrCat("unit ", request.unit_id(), " was issued for another order"));
  }
  return absl::OkStatus();
}

std::vector<UnitChange> OutcomeChanges(const StoredUnit& unit,
                                       const v1::RecordOutcomeRequest& request,
                                       const std::string& return_station, absl::Time now) {
  const absl::Time at = request.has_occurred_at() ? FromTimestamp(request.occurred_at()) : now;
  const bool expired = now >= FromTimestamp(unit.unit.expires_at());
  const OutcomePlan plan = PlanOutcome(request.outcome(), request.cold_chain_ok(), expired);
  const UnitEventDraft refs{.note = request.note(),
                            .order_id = unit.unit.order_id(),
                            .hospital_id = unit.unit.hospital_id(),
                            .reservation_key = unit.unit.reservation_key(),
                            .occurred_at = at};
  std::vector<UnitChange> changes;
  StoredUnit current = unit;
  current.unit.set_outcome(request.outcome());
  if (plan.via_returned) {
    StoredUnit returned = current;
    returned.unit.set_status(kReturned);
    UnitEventDraft event = refs;
    event.kind = v1::UNIT_EVENT_KIND_RETURNED;
    event.reason =
        request.cold_chain_ok() ? "returned, cold chain held" : "returned, cold chain broken";
    changes.push_back(Change(std::move(returned), std::move(event)));
    current = changes.back().after;
  }
  StoredUnit after = current;
  after.unit.set_status(plan.final_status);
  UnitEventDraft event = refs;
  switch (plan.final_status) {
    case kTransfused:
      event.kind = v1::UNIT_EVENT_KIND_TRANSFUSED;
      event.reason = v1::TransfusionOutcome_Name(request.outcome());
      break;
    case kAvailable:
      // Back on the shelf: no longer tied to the order it went out for.
      event.kind = v1::UNIT_EVENT_KIND_RESTOCKED;
      event.reason = "restocked";
      after.unit.set_station_id(return_station);
      after.unit.clear_reservation_key();
      after.unit.clear_order_id();
      after.unit.clear_hospital_id();
      after.unit.clear_issued_at();
      break;
    case kExpired:
      event.kind = v1::UNIT_EVENT_KIND_EXPIRED;
      event.reason = "expired before its return";
      break;
    default:
      event.kind = v1::UNIT_EVENT_KIND_DISCARDED;
      event.reason = v1::DiscardReason_Name(plan.discard_reason);
      after.unit.set_discard_reason(plan.discard_reason);
      break;
  }
  changes.push_back(Change(std::move(after), std::move(event)));
  return changes;
}

}  // namespace bloodgrid::inventory
