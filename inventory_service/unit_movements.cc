// The unit decisions of transfers, discards, lookbacks and expiry (inventory_rules.h "Unit
// lifecycle"). Messages here are the RPCs' (inventory.proto).
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
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
constexpr UnitStatus kExpired = v1::UNIT_STATUS_EXPIRED;
constexpr UnitStatus kDiscarded = v1::UNIT_STATUS_DISCARDED;
constexpr UnitStatus kRecalled = v1::UNIT_STATUS_RECALLED;

}  // namespace

// ---- Transfers ------------------------------------------------------------------------------

std::string TransferStatusName(v1::TransferStatus status) {
  return WithoutPrefix(v1::TransferStatus_Name(status), "TRANSFER_STATUS_");
}

v1::TransferStatus NewTransferStatus() { return v1::TRANSFER_STATUS_CREATED; }

absl::Status CheckTransferReservation(const v1::Reservation& reservation) {
  // A HELD reservation may lapse while its units are on the road; the sweeper would then
  // leave them held by an expired reservation. Only a confirmed one moves units.
  if (reservation.status() != v1::RESERVATION_STATUS_CONFIRMED) {
    return absl::FailedPreconditionError(
        absl::StrCat("reservation '", reservation.reservation_key(), "' is ",
                     ReservationStatusName(reservation.status()),
                     ": only a CONFIRMED reservation's units travel"));
  }
  return absl::OkStatus();
}

absl::Status CheckMovable(const v1::Unit& u, const v1::CreateTransferRequest& request, int item) {
  const std::string& rkey = request.reservation_key();
  const bool bound = !rkey.empty();
  const bool movable =
      u.station_id() == request.from_station_id() &&
      (bound ? (u.status() == kReserved && u.reservation_key() == rkey && u.transfer_id().empty())
             : u.status() == kAvailable);
  if (movable) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "items[", item, "]: unit ", u.unit_id(), " is ", StatusName(u.status()), " at ",
      u.station_id(),
      bound ? absl::StrCat("; only units held by reservation '", rkey, "' at ",
                           request.from_station_id(), " move")
            : absl::StrCat("; only AVAILABLE units at ", request.from_station_id(), " move")));
}

UnitChange PickForTransfer(const StoredUnit& unit, const std::string& transfer_id,
                           const v1::CreateTransferRequest& request) {
  StoredUnit after = unit;
  after.unit.set_transfer_id(transfer_id);
  after.unit.set_status(kReserved);
  return Change(std::move(after), {.kind = v1::UNIT_EVENT_KIND_TRANSFER_PICKED,
                                   .reason = absl::StrCat("for ", request.to_station_id()),
                                   .reservation_key = request.reservation_key(),
                                   .transfer_id = transfer_id});
}

absl::StatusOr<bool> TransferToDispatch(const v1::Transfer& transfer) {
  if (transfer.status() == v1::TRANSFER_STATUS_IN_TRANSIT) return false;
  if (transfer.status() != v1::TRANSFER_STATUS_CREATED) {
    return absl::FailedPreconditionError(absl::StrCat("transfer ", transfer.transfer_id(), " is ",
                                                      TransferStatusName(transfer.status())));
  }
  return true;
}

absl::StatusOr<bool> TransferToReceive(const v1::Transfer& transfer) {
  if (transfer.status() == v1::TRANSFER_STATUS_RECEIVED) return false;
  if (transfer.status() != v1::TRANSFER_STATUS_IN_TRANSIT) {
    return absl::FailedPreconditionError(absl::StrCat(
        "transfer ", transfer.transfer_id(), " is ", TransferStatusName(transfer.status()),
        transfer.status() == v1::TRANSFER_STATUS_CREATED ? " (not dispatched yet)" : ""));
  }
  return true;
}

absl::StatusOr<bool> TransferToCancel(const v1::Transfer& transfer) {
  if (transfer.status() == v1::TRANSFER_STATUS_CANCELLED) return false;
  if (transfer.status() != v1::TRANSFER_STATUS_CREATED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "transfer ", transfer.transfer_id(), " is ", TransferStatusName(transfer.status()),
        "; only a transfer not yet dispatched can be cancelled"));
  }
  return true;
}

void MarkDispatched(absl::Time now, absl::Time arrival, v1::Transfer* transfer) {
  transfer->set_status(v1::TRANSFER_STATUS_IN_TRANSIT);
  ToTimestamp(now, transfer->mutable_dispatched_at());
  ToTimestamp(arrival, transfer->mutable_expected_arrival_at());
}

void MarkReceived(absl::Time at, const std::string& note, v1::Transfer* transfer) {
  transfer->set_status(v1::TRANSFER_STATUS_RECEIVED);
  ToTimestamp(at, transfer->mutable_received_at());
  transfer->set_note(note);
}

void MarkCancelled(absl::Time now, const std::string& reason, v1::Transfer* transfer) {
  transfer->set_status(v1::TRANSFER_STATUS_CANCELLED);
  ToTimestamp(now, transfer->mutable_cancelled_at());
  transfer->set_note(reason);
}

std::optional<UnitChange> DispatchUnit(const StoredUnit& unit, const v1::Transfer& transfer) {
  if (unit.unit.status() != kReserved || unit.unit.transfer_id() != transfer.transfer_id()) {
    return std::nullopt;  // left the transfer meanwhile (a reactive result, a lookback)
  }
  StoredUnit after = unit;
  after.unit.set_status(kInTransit);
  return Change(std::move(after), {.kind = v1::UNIT_EVENT_KIND_TRANSFER_DISPATCHED,
                                   .reason = absl::StrCat("to ", transfer.to_station_id()),
                                   .reservation_key = transfer.reservation_key(),
                                   .transfer_id = transfer.transfer_id()});
}

std::optional<UnitChange> ReceiveUnit(const StoredUnit& unit, const v1::Transfer& transfer,
                                      bool rejected, absl::Time at) {
  const v1::Unit& before = unit.unit;
  if (before.status() != kInTransit || before.transfer_id() != transfer.transfer_id()) {
    return std::nullopt;
  }
  StoredUnit after = unit;
  after.unit.set_station_id(transfer.to_station_id());
  after.unit.clear_transfer_id();
  after.lookback_on_arrival = false;
  const std::string held_by = before.reservation_key();
  UnitEventDraft event{
      .reservation_key = held_by, .transfer_id = transfer.transfer_id(), .occurred_at = at};
  bool leaves_reservation = true;
  if (rejected) {
    after.unit.set_status(kDiscarded);
    after.unit.set_discard_reason(v1::DISCARD_REASON_COLD_CHAIN_FAILURE);
    event.kind = v1::UNIT_EVENT_KIND_DISCARDED;
    event.reason = "COLD_CHAIN_FAILURE";
    event.note = "rejected on receipt";
  } else if (unit.lookback_on_arrival) {
    after.unit.set_status(kQuarantined);
    after.unit.set_hold(v1::UNIT_HOLD_LOOKBACK);
    event.kind = v1::UNIT_EVENT_KIND_LOOKBACK_QUARANTINED;
    event.reason = "lookback hold on arrival";
  } else if (at >= FromTimestamp(before.expires_at())) {
    after.unit.set_status(kExpired);
    event.kind = v1::UNIT_EVENT_KIND_EXPIRED;
    event.reason = "expired on the way";
  } else if (!held_by.empty()) {
    after.unit.set_status(kReserved);
    event.kind = v1::UNIT_EVENT_KIND_TRANSFER_RECEIVED;
    event.reason = "received for its reservation";
    leaves_reservation = false;
  } else {
    after.unit.set_status(kAvailable);
    event.kind = v1::UNIT_EVENT_KIND_TRANSFER_RECEIVED;
    event.reason = "received";
  }
  if (leaves_reservation) after.unit.clear_reservation_key();
  UnitChange change = Change(std::move(after), std::move(event));
  if (leaves_reservation && !held_by.empty()) {
    change.alerts.push_back(WithdrawnAlert(change.after.unit, held_by));
  }
  return change;
}

std::optional<UnitChange> CancelTransferUnit(const StoredUnit& unit, const v1::Transfer& transfer,
                                             const std::string& reason) {
  if (unit.unit.status() != kReserved || unit.unit.transfer_id() != transfer.transfer_id()) {
    return std::nullopt;
  }
  StoredUnit after = unit;
  after.unit.clear_transfer_id();
  if (transfer.reservation_key().empty()) after.unit.set_status(kAvailable);
  return Change(std::move(after), {.kind = v1::UNIT_EVENT_KIND_TRANSFER_CANCELLED,
                                   .reason = "transfer cancelled",
                                   .note = reason,
                                   .reservation_key = transfer.reservation_key(),
                                   .transfer_id = transfer.transfer_id()});
}

// ---- Discard, lookback, expiry --------------------------------------------------------------

std::string DiscardReasonName(v1::DiscardReason reason) {
  return WithoutPrefix(v1::DiscardReason_Name(reason), "DISCARD_REASON_");
}

absl::StatusOr<size_t> LiveUnitOfDin(absl::Span<const StoredUnit> units, absl::string_view din) {
  std::vector<size_t> live;
  for (size_t j = 0; j < units.size(); ++j) {
    if (!IsFinalStatus(units[j].unit.status())) live.push_back(j);
  }
  if (live.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("every unit of DIN ", din, " is in a final state"));
  }
  if (live.size() > 1) {
    return InvalidField(
        "din", absl::StrCat("matches ", live.size(), " units not in a final state; give unit_id"));
  }
  return live.front();
}

absl::StatusOr<UnitChange> DiscardChange(const StoredUnit& unit,
                                         const v1::DiscardUnitRequest& request) {
  const v1::UnitStatus status = unit.unit.status();
  if (status != kQuarantined && status != kAvailable) {
    return absl::FailedPreconditionError(absl::StrCat(
        "unit ", unit.unit.unit_id(), " is ", StatusName(status),
        "; only QUARANTINED or AVAILABLE units are discarded (release a RESERVED unit first; "
        "an ISSUED unit takes an outcome)"));
  }
  const bool lookback = request.reason() == v1::DISCARD_REASON_LOOKBACK;
  StoredUnit after = unit;
  after.unit.set_status(lookback ? kRecalled : kDiscarded);
  after.unit.set_discard_reason(request.reason());
  return Change(std::move(after),
                {.kind = lookback ? v1::UNIT_EVENT_KIND_RECALLED : v1::UNIT_EVENT_KIND_DISCARDED,
                 .reason = DiscardReasonName(request.reason()),
                 .note = request.note()});
}

LookbackDecision DecideLookback(const StoredUnit& unit, const std::string& note) {
  LookbackDecision decision;
  const v1::Unit& u = unit.unit;
  if (u.has_issued_at() && u.status() != kAvailable && u.status() != kReserved) {
    decision.kind = LookbackDecision::Kind::kIssued;
    return decision;
  }
  StoredUnit after = unit;
  UnitEventDraft event{.kind = v1::UNIT_EVENT_KIND_LOOKBACK_QUARANTINED,
                       .reason = "LOOKBACK",
                       .note = note,
                       .reservation_key = u.reservation_key(),
                       .transfer_id = u.transfer_id()};
  switch (u.status()) {
    case kQuarantined:
      if (u.hold() == v1::UNIT_HOLD_LOOKBACK) {
        decision.kind = LookbackDecision::Kind::kAlreadyHeld;
        return decision;
      }
      after.unit.set_hold(v1::UNIT_HOLD_LOOKBACK);
      break;
    case kAvailable:
    case kReserved:
      after.unit.set_status(kQuarantined);
      after.unit.set_hold(v1::UNIT_HOLD_LOOKBACK);
      after.unit.clear_reservation_key();
      after.unit.clear_transfer_id();
      break;
    case kInTransit:
      if (unit.lookback_on_arrival) {
        decision.kind = LookbackDecision::Kind::kAlreadyHeld;
        return decision;
      }
      after.lookback_on_arrival = true;  // quarantined when received
      event.reason = "LOOKBACK on arrival";
      break;
    default:
      return decision;  // final, or a return being booked: nothing in stock to hold
  }
  decision.kind = LookbackDecision::Kind::kHold;
  decision.change = Change(std::move(after), std::move(event));
  if (u.status() == kReserved && !u.reservation_key().empty()) {
    decision.withdrawn_from = u.reservation_key();
    decision.change.alerts.push_back(WithdrawnAlert(u, u.reservation_key()));
  }
  return decision;
}

UnitChange ExpireUnit(const StoredUnit& unit) {
  const std::string held_by = unit.unit.reservation_key();
  StoredUnit after = unit;
  after.unit.set_status(kExpired);
  after.unit.clear_reservation_key();
  after.unit.clear_transfer_id();
  UnitChange change = Change(std::move(after), {.kind = v1::UNIT_EVENT_KIND_EXPIRED,
                                                .reason = "expired",
                                                .reservation_key = held_by,
                                                .transfer_id = unit.unit.transfer_id()});
  if (!held_by.empty()) change.alerts.push_back(WithdrawnAlert(unit.unit, held_by));
  return change;
}

std::vector<v1::StockAlert> UnitsExpiredAlerts(absl::Span<const v1::Unit> expired) {
  std::map<LevelKey, v1::StockAlert> alerts;
  for (const v1::Unit& unit : expired) {
    v1::StockAlert& alert = alerts[KeyOfUnit(unit)];
    if (alert.unit_ids().empty()) {
      alert.set_kind(v1::STOCK_ALERT_KIND_UNITS_EXPIRED);
      alert.set_station_id(unit.station_id());
      alert.set_component(unit.component());
      *alert.mutable_blood_type() = unit.blood_type();
    }
    alert.add_unit_ids(unit.unit_id());
  }
  std::vector<v1::StockAlert> out;
  for (auto& [key, alert] : alerts) {
    alert.set_message(absl::StrCat(alert.unit_ids_size(), " units expired at ", key.station_id));
    out.push_back(std::move(alert));
  }
  return out;
}

}  // namespace bloodgrid::inventory
