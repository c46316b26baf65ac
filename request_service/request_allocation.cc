// RequestOperations, allocation and its background work: reservations (intent, Reserve,
// record, confirm), transfers to the serving station, releases, the check of allocated units
// before dispatch, reconciliation, back-order filling and presumed transfusions. The RPCs are in
// request_operations.cc; the contract is request_operations.h.
#include "request_service/request_operations.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "common/status.h"

namespace bloodgrid::request {
namespace {

// Rounds of AllocateOrder: one allocation phase per round, plus one to settle.
constexpr int kMaxAllocationRounds = 4;
// Actor of the transfer calls. Inventory scopes a request_id by (RPC, caller), so every path
// that plans or cancels an order's transfers (the hospital's PlaceOrder, the dispatcher, the
// reconciler) calls as the same actor, and a repeat by any of them replays the first call.
constexpr char kTransferActor[] = "system:request";

// The same call, made as kTransferActor.
CallContext TransferCall(const CallContext& caller) {
  CallContext call = caller;
  call.actor = kTransferActor;
  return call;
}

v1::ReserveRequest ReserveRequestFor(const ReservationRecord& r, const v1::Order& order,
                                     int hold_seconds) {
  v1::ReserveRequest request;
  request.set_reservation_key(r.key);
  for (const std::string& station : r.station_ids) request.add_station_ids(station);
  request.set_component(r.component);
  request.set_quantity(r.quantity);
  for (const StoredCandidate& c : r.candidates) {
    v1::CandidateBloodType* candidate = request.add_candidates();
    *candidate->mutable_blood_type() = c.blood_type.ToProto();
    candidate->set_tier(c.tier);
  }
  request.set_priority(order.priority());
  ToTimestamp(r.expiry_floor, request.mutable_expiry_floor());
  request.set_hold_seconds(hold_seconds);
  request.set_order_id(order.order_id());
  request.set_hospital_id(order.hospital_id());
  return request;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Allocation.

absl::StatusOr<OrderRecord> RequestOperations::AllocateOrder(const CallContext& caller,
                                                             const std::string& order_id) {
  BG_ASSIGN_OR_RETURN(OrderRecord initial, store_->LoadOrder(order_id, caller.deadline));
  const v1::Order& order = initial.order;
  if (!IsAllocatable(order.status()) || initial.dispatch_intent) return initial;
  BG_ASSIGN_OR_RETURN(std::vector<std::string> stations,
                      StationsOf(order.hospital_id(), caller.deadline));
  const Recipient recipient = RecipientOf(order.patient(), order.priority());
  AllocationPass pass;
  pass.stations = std::move(stations);
  pass.policy = policy_;
  pass.transport_time = options_.transport_time;
  for (const v1::OrderLine& line : order.lines()) {
    BG_ASSIGN_OR_RETURN(AllocationPlan plan,
                        PlanAllocation(line.component(), recipient, order.priority(), *policy_));
    pass.phase_count[line.line_no()] = static_cast<int>(plan.phases.size());
  }
  for (int round = 0; round < kMaxAllocationRounds; ++round) {
    // 1. Intent: new PENDING reservations for the lines still short (committed before any
    //    Reserve call), unless earlier intents are still pending.
    const absl::Time planned_at = Now();
    BG_ASSIGN_OR_RETURN(UpdateResult planned,
                        store_->UpdateOrder(order_id, nullptr, caller.actor, planned_at,
                                            caller.deadline, [&](const OrderRecord& current) {
                                              return DecideReservationIntents(current, pass,
                                                                              planned_at);
                                            }));
    const OrderRecord& record = planned.record;
    if (!IsAllocatable(record.order.status()) || record.dispatch_intent) return record;
    std::vector<ReservationRecord> pending;
    for (const ReservationRecord& r : record.reservations) {
      if (r.state == ReservationState::kPending) pending.push_back(r);
    }
    if (pending.empty()) return record;

    // 2. Reserve (idempotent on the key: a repeat after a crash returns the same units).
    std::map<std::string, v1::Reservation> results;
    for (const ReservationRecord& r : pending) {
      absl::StatusOr<v1::Reservation> reserved =
          inventory_->Reserve(ReserveRequestFor(r, record.order, options_.hold_seconds), caller);
      if (!reserved.ok()) return InventoryError(reserved.status(), "reserve");
      results.emplace(r.key, *std::move(reserved));
    }
    BG_RETURN_IF_ERROR(Fault("allocate.after_reserve"));

    // 3. Record the units on the order and settle its status.
    const absl::Time recorded_at = Now();
    BG_ASSIGN_OR_RETURN(
        UpdateResult recorded,
        store_->UpdateOrder(order_id, nullptr, caller.actor, recorded_at, caller.deadline,
                            [&](const OrderRecord& current) -> absl::StatusOr<OrderChange> {
                              return DecideReservedUnits(current, results, pass, caller.actor,
                                                         recorded_at);
                            }));
    if (!IsAllocatable(recorded.record.order.status())) {
      // Cancelled meanwhile: give back whatever these calls reserved, even if the cancellation
      // released the keys before Reserve created them.
      for (const ReservationRecord& r : pending) {
        v1::ReleaseRequest release;
        release.set_request_id(DerivedRequestId({r.key, "release"}));
        release.set_reservation_key(r.key);
        release.set_reason("order no longer wants it");
        absl::StatusOr<v1::Reservation> released = inventory_->Release(release, caller);
        if (!released.ok() && released.status().code() != absl::StatusCode::kNotFound) {
          LogWarning("release_failed",
                     {{"reservation_key", r.key}, {"status", released.status().ToString()}});
        }
      }
    }
    for (const ReservationRecord& r : pending) {
      const v1::ReservationStatus status = results.at(r.key).status();
      // A reservation whose hold lapsed before it was recorded (a long outage) gave its units
      // back: the same phase is tried again with a new attempt.
      if (status == v1::RESERVATION_STATUS_EXPIRED || status == v1::RESERVATION_STATUS_RELEASED) {
        pass.next_phase[r.line_no] = r.phase;
      } else {
        pass.next_phase[r.line_no] = r.phase + 1;
      }
    }

    // 4. Confirm what was recorded; release what the order no longer wants.
    BG_RETURN_IF_ERROR(SettleReservations(caller, order_id, &recorded.record));
  }
  return store_->LoadOrder(order_id, caller.deadline);
}

absl::Status RequestOperations::SettleReservations(const CallContext& caller,
                                                   const std::string& order_id,
                                                   const OrderRecord* known) {
  OrderRecord loaded;
  if (known == nullptr) {
    BG_ASSIGN_OR_RETURN(loaded, store_->LoadOrder(order_id, caller.deadline));
  }
  const OrderRecord& record = known != nullptr ? *known : loaded;
  std::set<std::string> confirmed;
  std::set<std::string> released;
  std::set<std::string> lapsed;
  TransferFacts facts;
  std::optional<std::string> destination;  // read once, when a reservation is confirmed
  absl::Status first_error;
  auto keep = [&first_error](absl::Status status) {
    if (first_error.ok()) first_error = std::move(status);
  };
  for (const ReservationRecord& r : record.reservations) {
    if (r.state == ReservationState::kReserved) {
      absl::StatusOr<v1::Reservation> c = inventory_->ConfirmReservation(r.key, caller);
      if (c.status().code() == absl::StatusCode::kFailedPrecondition ||
          c.status().code() == absl::StatusCode::kNotFound) {
        lapsed.insert(r.key);  // the hold ran out before the confirmation
        continue;
      }
      if (!c.ok()) {
        keep(InventoryError(c.status(), "confirm reservation"));
        continue;
      }
      if (!destination.has_value()) {
        absl::StatusOr<std::string> station = TransferDestination(record, caller.deadline);
        if (!station.ok()) {
          keep(station.status());
          continue;
        }
        destination = *std::move(station);
      }
      // Confirmed before its units go on a transfer: a HELD reservation could lapse while they
      // travel. Until the transfer is recorded the reservation stays RESERVED here, so the next
      // settle confirms again and finds the transfer on the units instead of making another.
      absl::StatusOr<TransferFacts> planned = PlanTransfers(caller, record, *c, *destination);
      if (planned.status().code() == absl::StatusCode::kFailedPrecondition) {
        // Inventory will not move these units now (the serving station is inactive, a unit
        // left the reservation meanwhile): the reservation stands, and DispatchOrder plans
        // again and says why if it still cannot.
        LogWarning("transfer_not_planned",
                   {{"reservation_key", r.key}, {"status", planned.status().ToString()}});
        confirmed.insert(r.key);
        continue;
      }
      if (!planned.ok()) {
        keep(planned.status());
        continue;
      }
      if (!planned->created.empty()) BG_RETURN_IF_ERROR(Fault("transfer.after_create"));
      facts.Add(*std::move(planned));
      confirmed.insert(r.key);
    } else if (r.state == ReservationState::kAbandoned) {
      absl::StatusOr<bool> done = ReleaseReservation(
          caller, r.key, absl::StrCat("order ", StatusName(record.order.status())));
      if (!done.ok()) {
        keep(done.status());
      } else if (*done) {
        released.insert(r.key);
      }
    }
  }
  if (confirmed.empty() && released.empty() && lapsed.empty()) return first_error;
  BG_RETURN_IF_ERROR(
      store_
          ->UpdateOrder(order_id, nullptr, caller.actor, Now(), caller.deadline,
                        [&](const OrderRecord& current) -> absl::StatusOr<OrderChange> {
                          return DecideSettledReservations(current, confirmed, released, lapsed,
                                                           facts);
                        })
          .status());
  return first_error;
}

absl::StatusOr<std::string> RequestOperations::TransferDestination(const OrderRecord& record,
                                                                   absl::Time deadline) {
  if (!TransfersToServingStation(record.order.priority(), options_.fallback_transfers) ||
      !IsAllocatable(record.order.status()) || record.dispatch_intent) {
    return std::string();
  }
  BG_ASSIGN_OR_RETURN(v1::Hospital hospital, CachedHospital(record.order.hospital_id(), deadline));
  return hospital.serving_station_id();
}

absl::StatusOr<TransferFacts> RequestOperations::PlanTransfers(const CallContext& caller,
                                                               const OrderRecord& record,
                                                               const v1::Reservation& held,
                                                               const std::string& serving_station) {
  TransferFacts facts;
  std::map<std::string, const AllocationRecord*> allocated;
  for (const AllocationRecord& a : record.allocations) {
    if (!a.withdrawn && a.reservation_key == held.reservation_key()) {
      allocated[a.unit.unit_id()] = &a;
    }
  }
  // Holding station -> (unit_id, the transfer recorded for the unit before) of units to move.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> to_move;
  for (const v1::Unit& unit : held.units()) {
    auto it = allocated.find(unit.unit_id());
    if (it == allocated.end()) continue;
    if (unit.status() != v1::UNIT_STATUS_RESERVED && unit.status() != v1::UNIT_STATUS_IN_TRANSIT) {
      continue;
    }
    const v1::OrderUnit& recorded = it->second->unit;
    if (!unit.transfer_id().empty()) {
      if (unit.transfer_id() != recorded.transfer_id()) {
        facts.transfer_ids.emplace_back(unit.unit_id(), unit.transfer_id());
      }
      continue;
    }
    if (unit.station_id() != recorded.station_id()) {
      facts.station_ids.emplace_back(unit.unit_id(), unit.station_id());
    }
    // An expired bag goes nowhere (it is replaced instead).
    if (!serving_station.empty() && unit.status() == v1::UNIT_STATUS_RESERVED &&
        unit.station_id() != serving_station && FromTimestamp(unit.expires_at()) > Now()) {
      to_move[unit.station_id()].emplace_back(unit.unit_id(), recorded.transfer_id());
    }
  }
  for (auto& [station, units] : to_move) {
    std::sort(units.begin(), units.end());
    std::vector<std::string> ids;
    std::vector<std::string> earlier;
    for (const auto& [unit_id, transfer_id] : units) {
      ids.push_back(unit_id);
      earlier.push_back(transfer_id);
    }
    v1::CreateTransferRequest create;
    // The same units of the same reservation make the same request, so a repeat (after a crash,
    // or by another replica) gets the first transfer back. A transfer recorded for them before
    // that no longer holds them (a station cancelled it) makes the request a new one.
    create.set_request_id(DerivedRequestId(
        {held.reservation_key(), "transfer", station, serving_station,
         Fnv1a64Hex(absl::StrCat(absl::StrJoin(ids, ","), "|", absl::StrJoin(earlier, ",")))}));
    create.set_from_station_id(station);
    create.set_to_station_id(serving_station);
    for (const std::string& id : ids) create.add_items()->set_unit_id(id);
    create.set_reason(absl::StrCat("order ", record.order.order_id(), " of hospital ",
                                   record.order.hospital_id(),
                                   ": to its serving station before dispatch"));
    create.set_reservation_key(held.reservation_key());
    absl::StatusOr<v1::Transfer> transfer =
        inventory_->CreateTransfer(create, TransferCall(caller));
    if (!transfer.ok()) return InventoryError(transfer.status(), "create transfer");
    for (const v1::Unit& unit : transfer->units()) {
      facts.transfer_ids.emplace_back(unit.unit_id(), transfer->transfer_id());
    }
    LogInfo("transfer_planned", {{"order_id", record.order.order_id()},
                                 {"transfer_id", transfer->transfer_id()},
                                 {"from", station},
                                 {"to", serving_station},
                                 {"units", absl::StrCat(ids.size())}});
    facts.created.push_back(*std::move(transfer));
  }
  return facts;
}

absl::StatusOr<bool> RequestOperations::CancelTransfer(const CallContext& caller,
                                                       const std::string& transfer_id,
                                                       const std::string& reason) {
  v1::CancelTransferRequest cancel;
  // The reason is part of the request: two paths cancelling for different reasons must not
  // share a request_id (inventory would refuse the second as another request).
  cancel.set_request_id(DerivedRequestId({transfer_id, "cancel", Fnv1a64Hex(reason)}));
  cancel.set_transfer_id(transfer_id);
  cancel.set_reason(reason);
  absl::StatusOr<v1::Transfer> transfer = inventory_->CancelTransfer(cancel, TransferCall(caller));
  if (transfer.ok()) return transfer->status() == v1::TRANSFER_STATUS_CANCELLED;
  if (transfer.status().code() == absl::StatusCode::kFailedPrecondition) return false;
  return InventoryError(transfer.status(), "cancel transfer");
}

absl::StatusOr<bool> RequestOperations::ReleaseReservation(const CallContext& caller,
                                                           const std::string& key,
                                                           const std::string& reason) {
  absl::StatusOr<v1::Reservation> held = inventory_->GetReservation(key, caller);
  if (held.status().code() == absl::StatusCode::kNotFound) return true;  // Reserve never ran
  if (!held.ok()) return InventoryError(held.status(), "get reservation");
  bool holds = false;
  bool travelling = false;
  std::set<std::string> leaving;  // transfers of its units not dispatched yet
  for (const v1::Unit& unit : held->units()) {
    if (unit.status() == v1::UNIT_STATUS_IN_TRANSIT) {
      holds = true;
      travelling = true;
    } else if (unit.status() == v1::UNIT_STATUS_RESERVED) {
      holds = true;
      if (!unit.transfer_id().empty()) leaving.insert(unit.transfer_id());
    }
  }
  if (!holds && (held->status() == v1::RESERVATION_STATUS_RELEASED ||
                 held->status() == v1::RESERVATION_STATUS_EXPIRED)) {
    return true;  // released before (possibly by another path under another request_id)
  }
  std::set<std::string> cancelled;
  for (const std::string& transfer_id : leaving) {
    BG_ASSIGN_OR_RETURN(bool stopped, CancelTransfer(caller, transfer_id, reason));
    if (stopped) {
      cancelled.insert(transfer_id);
    } else {
      travelling = true;  // it left meanwhile: a later pass finds out where it is
    }
  }
  if (!travelling) {
    v1::ReleaseRequest release;
    release.set_request_id(DerivedRequestId({key, "release"}));
    release.set_reservation_key(key);
    release.set_reason(reason);
    absl::StatusOr<v1::Reservation> released = inventory_->Release(release, caller);
    if (released.ok() || released.status().code() == absl::StatusCode::kNotFound) return true;
    return InventoryError(released.status(), "release");
  }
  // Units on the road can only be released once received (they are RESERVED for this
  // reservation at the destination then): the others go back to stock now.
  std::vector<std::string> free;
  for (const v1::Unit& unit : held->units()) {
    if (unit.status() == v1::UNIT_STATUS_RESERVED &&
        (unit.transfer_id().empty() || cancelled.count(unit.transfer_id()) > 0)) {
      free.push_back(unit.unit_id());
    }
  }
  if (!free.empty()) {
    std::sort(free.begin(), free.end());
    v1::ReleaseRequest release;
    release.set_request_id(
        DerivedRequestId({key, "release", Fnv1a64Hex(absl::StrJoin(free, ","))}));
    release.set_reservation_key(key);
    for (const std::string& id : free) release.add_unit_ids(id);
    release.set_reason(reason);
    absl::StatusOr<v1::Reservation> released = inventory_->Release(release, caller);
    if (!released.ok()) return InventoryError(released.status(), "release");
  }
  LogInfo("release_waits_for_transfer", {{"reservation_key", key}});
  return false;
}

absl::StatusOr<v1::Order> RequestOperations::ReconcileOrder(const CallContext& caller,
                                                            const std::string& order_id) {
  BG_ASSIGN_OR_RETURN(OrderRecord record, store_->LoadOrder(order_id, caller.deadline));
  const v1::OrderStatus status = record.order.status();
  if (record.dispatch_intent &&
      (status == v1::ORDER_STATUS_ALLOCATED || status == v1::ORDER_STATUS_PARTIALLY_ALLOCATED)) {
    BG_RETURN_IF_ERROR(CompleteDispatch(caller, order_id, nullptr).status());
  } else if (IsAllocatable(status) &&
             (status == v1::ORDER_STATUS_RECEIVED || HasPendingReservation(record))) {
    BG_RETURN_IF_ERROR(AllocateOrder(caller, order_id).status());
  }
  BG_RETURN_IF_ERROR(SettleReservations(caller, order_id));
  BG_ASSIGN_OR_RETURN(record, store_->LoadOrder(order_id, caller.deadline));
  return record.order;
}

absl::Status RequestOperations::VerifyAllocations(const CallContext& caller,
                                                  const std::string& order_id) {
  BG_ASSIGN_OR_RETURN(OrderRecord record, store_->LoadOrder(order_id, caller.deadline));
  const absl::Time now = Now();
  std::map<std::string, std::vector<const AllocationRecord*>> by_key;
  for (const AllocationRecord& a : record.allocations) {
    if (!a.withdrawn) by_key[a.reservation_key].push_back(&a);
  }
  if (by_key.empty()) return absl::OkStatus();
  BG_ASSIGN_OR_RETURN(const std::string destination, TransferDestination(record, caller.deadline));
  std::map<std::string, std::string> withdrawn;                // unit_id -> why
  std::map<std::string, std::vector<std::string>> to_release;  // key -> expired unit ids
  TransferFacts facts;
  std::vector<std::string> waiting;  // units on a transfer not received yet
  for (const auto& [key, allocations] : by_key) {
    absl::StatusOr<v1::Reservation> reservation = inventory_->GetReservation(key, caller);
    if (!reservation.ok()) return InventoryError(reservation.status(), "get reservation");
    // A bag that expired while waiting for its transfer to leave can only be released off the
    // transfer: the transfer is cancelled (the other bags on it get a new one below).
    std::set<std::string> stale;
    for (const v1::Unit& u : reservation->units()) {
      if (u.status() == v1::UNIT_STATUS_RESERVED && !u.transfer_id().empty() &&
          FromTimestamp(u.expires_at()) <= now) {
        stale.insert(u.transfer_id());
      }
    }
    for (const std::string& transfer_id : stale) {
      BG_RETURN_IF_ERROR(CancelTransfer(caller, transfer_id, "a unit on it expired").status());
    }
    if (!stale.empty()) {
      reservation = inventory_->GetReservation(key, caller);
      if (!reservation.ok()) return InventoryError(reservation.status(), "get reservation");
    }
    BG_ASSIGN_OR_RETURN(TransferFacts planned,
                        PlanTransfers(caller, record, *reservation, destination));
    if (!planned.created.empty()) BG_RETURN_IF_ERROR(Fault("transfer.after_create"));
    std::map<std::string, std::string> transfer_of;  // unit_id -> transfer holding it now
    for (const v1::Unit& u : reservation->units()) {
      if (!u.transfer_id().empty()) transfer_of[u.unit_id()] = u.transfer_id();
    }
    for (const auto& [unit_id, transfer_id] : planned.transfer_ids) {
      transfer_of[unit_id] = transfer_id;
    }
    facts.Add(std::move(planned));
    std::map<std::string, const v1::Unit*> units;
    for (const v1::Unit& u : reservation->units()) units[u.unit_id()] = &u;
    for (const AllocationRecord* a : allocations) {
      auto it = units.find(a->unit.unit_id());
      if (it == units.end()) {
        withdrawn[a->unit.unit_id()] = "no longer held by its reservation";
        continue;
      }
      const v1::Unit& unit = *it->second;
      auto on = transfer_of.find(unit.unit_id());
      const std::string transfer_id = on == transfer_of.end() ? "" : on->second;
      if (unit.status() == v1::UNIT_STATUS_IN_TRANSIT) {
        waiting.push_back(
            absl::StrCat("unit ", unit.din(), " is in transit on transfer ", transfer_id));
        continue;
      }
      if (unit.status() != v1::UNIT_STATUS_RESERVED && unit.status() != v1::UNIT_STATUS_ISSUED) {
        withdrawn[a->unit.unit_id()] = absl::StrCat("now ", v1::UnitStatus_Name(unit.status()));
        continue;
      }
      if (unit.status() == v1::UNIT_STATUS_RESERVED && FromTimestamp(unit.expires_at()) <= now) {
        withdrawn[a->unit.unit_id()] = "expired";
        // Still on a transfer only if it left meanwhile: inventory expires it on arrival.
        if (transfer_id.empty()) to_release[key].push_back(unit.unit_id());
        continue;
      }
      if (unit.status() == v1::UNIT_STATUS_RESERVED && !transfer_id.empty()) {
        waiting.push_back(absl::StrCat("unit ", unit.din(), " waits at ", unit.station_id(),
                                       " for transfer ", transfer_id, " to leave"));
      }
    }
  }
  if (!withdrawn.empty() || !facts.transfer_ids.empty() || !facts.station_ids.empty()) {
    BG_RETURN_IF_ERROR(
        store_
            ->UpdateOrder(order_id, nullptr, caller.actor, now, caller.deadline,
                          [&](const OrderRecord& current) -> absl::StatusOr<OrderChange> {
                            return DecideVerifiedAllocations(current, withdrawn, facts,
                                                             caller.actor, now);
                          })
            .status());
  }
  for (const auto& [key, unit_ids] : to_release) {
    v1::ReleaseRequest release;
    std::string joined = absl::StrJoin(unit_ids, ",");
    release.set_request_id(DerivedRequestId({key, "withdraw", Fnv1a64Hex(joined)}));
    release.set_reservation_key(key);
    for (const std::string& id : unit_ids) release.add_unit_ids(id);
    release.set_reason("expired before dispatch");
    absl::StatusOr<v1::Reservation> released = inventory_->Release(release, caller);
    if (!released.ok()) {
      LogWarning("release_expired_units_failed",
                 {{"reservation_key", key}, {"status", released.status().ToString()}});
    }
  }
  if (!withdrawn.empty()) BG_RETURN_IF_ERROR(AllocateOrder(caller, order_id).status());
  if (!waiting.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        waiting.front(),
        waiting.size() > 1 ? absl::StrCat(" (and ", waiting.size() - 1, " more unit(s))") : "",
        ": the order leaves once its transfers are received"));
  }
  return absl::OkStatus();
}

absl::Status RequestOperations::HandleWithdrawnUnits(const std::string& reservation_key,
                                                     absl::Time deadline) {
  const std::string order_id = reservation_key.substr(0, reservation_key.find('/'));
  const CallContext caller = JobCallContext("lookback", *clock_, options_.time_zone, deadline);
  absl::Status status = VerifyAllocations(caller, order_id);
  // A unit in transit is no reason to give up here: only dispatch cares.
  if (status.code() == absl::StatusCode::kFailedPrecondition) return absl::OkStatus();
  return status;
}

// ---------------------------------------------------------------------------------------------
// Background work.

absl::StatusOr<int> RequestOperations::ReconcileOrders(bool all, absl::Time deadline) {
  const absl::Time changed_before = all ? absl::InfiniteFuture() : Now() - options_.reconcile_grace;
  BG_ASSIGN_OR_RETURN(
      std::vector<std::string> ids,
      store_->ListOrdersToReconcile(changed_before, options_.job_batch_size, deadline));
  int done = 0;
  for (const std::string& id : ids) {
    absl::StatusOr<v1::Order> order =
        ReconcileOrder(JobCallContext("reconciler", *clock_, options_.time_zone, deadline), id);
    if (order.ok()) {
      ++done;
    } else {
      LogWarning("reconcile_failed", {{"order_id", id}, {"status", order.status().ToString()}});
    }
  }
  return done;
}

absl::StatusOr<int> RequestOperations::FillBackorders(absl::Time deadline) {
  BG_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                      store_->ListBackorderedOrders(options_.job_batch_size, deadline));
  int done = 0;
  for (const std::string& id : ids) {
    absl::Status status =
        AllocateOrder(JobCallContext("backorder", *clock_, options_.time_zone, deadline), id)
            .status();
    if (status.ok()) {
      ++done;
    } else {
      LogWarning("backorder_fill_failed", {{"order_id", id}, {"status", status.ToString()}});
      if (status.code() == absl::StatusCode::kUnavailable) break;  // inventory is down
    }
  }
  return done;
}

absl::StatusOr<int> RequestOperations::PresumeTransfusions(absl::Time deadline) {
  const absl::Time now = Now();
  BG_ASSIGN_OR_RETURN(auto units,
                      store_->ListUnreportedUnits(now - options_.presumed_transfused_after,
                                                  options_.job_batch_size, deadline));
  const CallContext caller =
      JobCallContext("presumed-transfused", *clock_, options_.time_zone, deadline);
  int done = 0;
  for (const auto& [order_id, unit_id] : units) {
    v1::RecordOutcomeRequest outcome;
    outcome.set_request_id(
        DerivedRequestId({order_id, "outcome", Fnv1a64Hex(unit_id),
                          absl::StrCat(v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED)}));
    outcome.set_unit_id(unit_id);
    outcome.set_outcome(v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED);
    outcome.set_order_id(order_id);
    outcome.set_note("no outcome reported in time");
    absl::StatusOr<v1::Unit> recorded = inventory_->RecordOutcome(outcome, caller);
    if (!recorded.ok()) {
      LogWarning(
          "presume_transfused_failed",
          {{"order_id", order_id}, {"unit_id", unit_id}, {"status", recorded.status().ToString()}});
      if (recorded.status().code() == absl::StatusCode::kUnavailable) break;
      continue;
    }
    absl::StatusOr<UpdateResult> updated =
        store_->UpdateOrder(order_id, nullptr, caller.actor, now, deadline,
                            [&](const OrderRecord& current) -> absl::StatusOr<OrderChange> {
                              return DecidePresumedTransfusion(current, unit_id, now);
                            });
    if (updated.ok()) {
      ++done;
    } else {
      LogWarning("presume_transfused_failed",
                 {{"order_id", order_id}, {"status", updated.status().ToString()}});
    }
  }
  return done;
}

}  // namespace bloodgrid::request
