#include "request_service/request_operations.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "common/din.h"
#include "common/hash.h"
#include "common/idempotency.h"
#include "common/log.h"
#include "common/page_token.h"
#include "common/status.h"
#include "request_service/proto_time.h"

namespace bloodgrid::request {
namespace {

// Rounds of AllocateOrder: one allocation phase per round, plus one to settle.
constexpr int kMaxAllocationRounds = 4;
constexpr int kMaxDinsPerLookup = 1000;
// Actor of the transfer calls. Inventory scopes a request_id by (RPC, caller), so every path
// that plans or cancels an order's transfers (the hospital's PlaceOrder, the dispatcher, the
// reconciler) calls as the same actor, and a repeat by any of them replays the first call.
constexpr char kTransferActor[] = "system:request";

std::string NewOrderId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const uint64_t high = rng();
  const uint64_t low = rng();
  return absl::StrFormat("ORD-%08x%012x", high & 0xffffffffu, low & 0xffffffffffffu);
}

// The idempotency scope of an RPC for a caller (common.proto: keys are scoped by RPC and caller).
std::string Scope(absl::string_view rpc, absl::string_view actor) {
  std::string scope = absl::StrCat(rpc, "|", actor);
  if (scope.size() > 64) scope = absl::StrCat(rpc, "|", Fnv1a64Hex(actor));
  return scope;
}

IdempotencyKey MakeKey(absl::string_view rpc, const Caller& caller, const std::string& request_id,
                       const google::protobuf::Message& request) {
  return IdempotencyKey{Scope(rpc, caller.actor), request_id, db::RequestFingerprint(request)};
}

absl::Status RequireOrderId(const std::string& order_id) {
  if (order_id.empty()) return InvalidField("order_id", "is required");
  if (order_id.size() > 40) return InvalidField("order_id", "longer than 40 characters");
  return absl::OkStatus();
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

RequestOperations::RequestOperations(RequestStore* store, InventoryClient* inventory,
                                     const v1::PolicyProfile* policy, Clock* clock,
                                     OperationsOptions options)
    : store_(store),
      inventory_(inventory),
      policy_(policy),
      clock_(clock),
      options_(std::move(options)) {}

void RequestOperations::SetFaultHook(FaultHook hook) {
  absl::MutexLock lock(&hook_mu_);
  fault_hook_ = std::move(hook);
}

absl::Status RequestOperations::Fault(absl::string_view point) {
  FaultHook hook;
  {
    absl::MutexLock lock(&hook_mu_);
    hook = fault_hook_;
  }
  return hook ? hook(point) : absl::OkStatus();
}

absl::Status RequestOperations::InventoryError(const absl::Status& status,
                                               absl::string_view what) const {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
      return absl::Status(status.code(), absl::StrCat("inventory ", what, ": ", status.message()));
    default:
      // Anything else means this service sent something inventory refused: a defect here.
      LogError("inventory_call_failed",
               {{"call", std::string(what)}, {"status", status.ToString()}});
      return absl::InternalError(absl::StrCat("inventory ", what, " failed"));
  }
}

absl::StatusOr<v1::Hospital> RequestOperations::CachedHospital(const std::string& hospital_id,
                                                               absl::Time deadline) {
  const absl::Time now = absl::Now();
  if (options_.hospital_cache_ttl > absl::ZeroDuration()) {
    absl::MutexLock lock(&hospitals_mu_);
    auto it = hospitals_.find(hospital_id);
    if (it != hospitals_.end() && now - it->second.read_at < options_.hospital_cache_ttl) {
      return it->second.hospital;
    }
  }
  BG_ASSIGN_OR_RETURN(v1::Hospital hospital, store_->GetHospital(hospital_id, deadline));
  if (options_.hospital_cache_ttl > absl::ZeroDuration()) {
    absl::MutexLock lock(&hospitals_mu_);
    hospitals_[hospital_id] = CachedHospitalEntry{hospital, now};
  }
  return hospital;
}

absl::StatusOr<std::vector<std::string>> RequestOperations::StationsOf(
    const std::string& hospital_id, absl::Time deadline) {
  BG_ASSIGN_OR_RETURN(v1::Hospital hospital, CachedHospital(hospital_id, deadline));
  std::vector<std::string> stations = {hospital.serving_station_id()};
  for (const std::string& s : hospital.fallback_station_ids()) stations.push_back(s);
  return stations;
}

absl::StatusOr<int64_t> RequestOperations::PriorDailyVolumeMl(const v1::PlaceOrderRequest& request,
                                                              absl::Time deadline) {
  const absl::CivilDay today = absl::ToCivilDay(Now(), options_.time_zone);
  const absl::Time from = absl::FromCivil(today, options_.time_zone);
  const absl::Time to = absl::FromCivil(today + 1, options_.time_zone);
  BG_ASSIGN_OR_RETURN(auto quantities,
                      store_->DailyQuantities(request.hospital_id(),
                                              request.patient().patient_ref(), from, to, deadline));
  int64_t total = 0;
  for (const auto& [component, quantity] : quantities) {
    total += ApprovalVolumeMl(component, quantity, *policy_);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Hospitals.

absl::StatusOr<v1::Hospital> RequestOperations::UpsertHospital(
    const Caller& caller, const v1::UpsertHospitalRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  if (!request.has_hospital()) return InvalidField("hospital", "is required");
  const v1::Hospital& hospital = request.hospital();
  BG_RETURN_IF_ERROR(ValidateHospital(hospital));
  const IdempotencyKey key = MakeKey("UpsertHospital", caller, request.request_id(), request);
  v1::Hospital replayed;
  BG_ASSIGN_OR_RETURN(bool done, store_->LookupIdempotent(key, &replayed, caller.deadline));
  if (done) return replayed;

  InventoryCall call{caller.deadline, caller.actor};
  auto check_station = [&](const std::string& station_id,
                           const std::string& field) -> absl::Status {
    absl::StatusOr<v1::Station> station = inventory_->GetStation(station_id, call);
    if (station.status().code() == absl::StatusCode::kNotFound) {
      return InvalidField(field, absl::StrCat("station ", station_id, " not found"));
    }
    if (!station.ok()) return InventoryError(station.status(), "get station");
    return absl::OkStatus();
  };
  BG_RETURN_IF_ERROR(check_station(hospital.serving_station_id(), "hospital.serving_station_id"));
  for (int i = 0; i < hospital.fallback_station_ids_size(); ++i) {
    BG_RETURN_IF_ERROR(check_station(hospital.fallback_station_ids(i),
                                     absl::StrCat("hospital.fallback_station_ids[", i, "]")));
  }
  absl::StatusOr<v1::Hospital> stored =
      store_->UpsertHospital(hospital, key, Now(), caller.deadline);
  {
    absl::MutexLock lock(&hospitals_mu_);  // this replica's next orders see the change at once
    hospitals_.erase(hospital.hospital_id());
  }
  return stored;
}

absl::StatusOr<v1::Hospital> RequestOperations::GetHospital(const Caller& caller,
                                                            const v1::GetHospitalRequest& request) {
  if (request.hospital_id().empty()) return InvalidField("hospital_id", "is required");
  if (!IsValidRecordId(request.hospital_id())) {
    return InvalidField("hospital_id", "must be 1-32 characters of [A-Za-z0-9_-]");
  }
  return store_->GetHospital(request.hospital_id(), caller.deadline);
}

absl::StatusOr<v1::ListHospitalsResponse> RequestOperations::ListHospitals(
    const Caller& caller, const v1::ListHospitalsRequest& request) {
  BG_ASSIGN_OR_RETURN(int page_size, EffectivePageSize(request.page_size()));
  const uint64_t filter = FilterHash({"hospitals"});
  BG_ASSIGN_OR_RETURN(v1::PageCursor cursor, DecodePageToken(request.page_token(), filter));
  BG_ASSIGN_OR_RETURN(std::vector<v1::Hospital> hospitals,
                      store_->ListHospitals(cursor.after_id(), page_size + 1, caller.deadline));
  v1::ListHospitalsResponse response;
  const bool more = static_cast<int>(hospitals.size()) > page_size;
  if (more) hospitals.resize(page_size);
  for (v1::Hospital& h : hospitals) *response.add_hospitals() = std::move(h);
  if (more) {
    v1::PageCursor next;
    next.set_after_id(response.hospitals(page_size - 1).hospital_id());
    next.set_filter_hash(filter);
    response.set_next_page_token(EncodePageToken(next));
  }
  return response;
}

// ---------------------------------------------------------------------------------------------
// PlaceOrder and allocation.

absl::StatusOr<v1::Order> RequestOperations::PlaceOrder(const Caller& caller,
                                                        const v1::PlaceOrderRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  const absl::Time now = Now();
  BG_RETURN_IF_ERROR(ValidatePlaceOrder(request, options_.limits, now));
  const std::string hash = db::RequestFingerprint(request);

  auto replay =
      [&](const std::pair<std::string, std::string>& existing) -> absl::StatusOr<v1::Order> {
    if (existing.second != hash) {
      return InvalidField("request_id", absl::StrCat("'", request.request_id(),
                                                     "' was already used for a different "
                                                     "PlaceOrder request"));
    }
    return ReconcileOrder(caller, existing.first);
  };
  BG_ASSIGN_OR_RETURN(
      auto existing,
      store_->FindOrderByRequest(request.hospital_id(), request.request_id(), caller.deadline));
  if (existing.has_value()) return replay(*existing);

  absl::StatusOr<v1::Hospital> hospital = CachedHospital(request.hospital_id(), caller.deadline);
  if (hospital.status().code() == absl::StatusCode::kNotFound) {
    return absl::FailedPreconditionError(
        absl::StrCat("hospital ", request.hospital_id(), " is not registered"));
  }
  BG_RETURN_IF_ERROR(hospital.status());
  if (!hospital->active()) {
    return absl::FailedPreconditionError(
        absl::StrCat("hospital ", request.hospital_id(), " is not active"));
  }
  std::vector<std::string> stations = {hospital->serving_station_id()};
  for (const std::string& s : hospital->fallback_station_ids()) stations.push_back(s);

  const std::vector<v1::OrderLineRequest> lines = EffectiveLines(request, *policy_);
  BG_ASSIGN_OR_RETURN(int64_t prior_ml, PriorDailyVolumeMl(request, caller.deadline));
  const IndicationOutcome indication =
      CheckIndication(request.patient(), lines, request.priority(), request.indication(),
                      request.approvals(), prior_ml, *policy_);

  OrderRecord record;
  record.request_hash = hash;
  v1::Order& order = record.order;
  order.set_order_id(NewOrderId());
  order.set_hospital_id(request.hospital_id());
  order.set_request_id(request.request_id());
  *order.mutable_patient() = request.patient();
  order.set_priority(request.priority());
  order.set_indication(request.indication());
  if (request.has_needed_by()) *order.mutable_needed_by() = request.needed_by();
  *order.mutable_approvals() = request.approvals();
  order.set_ward(request.ward());
  if (request.massive_transfusion()) {
    order.set_massive_transfusion(true);
    order.set_massive_transfusion_id(order.order_id());
    order.set_round(1);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    v1::OrderLine* line = order.add_lines();
    line->set_line_no(static_cast<int>(i) + 1);
    line->set_component(lines[i].component());
    line->set_quantity(lines[i].quantity());
  }
  for (const v1::IndicationFinding& f : indication.findings) *order.add_indication_findings() = f;

  std::vector<v1::OrderStatus> path = {v1::ORDER_STATUS_RECEIVED};
  if (indication.hold_for_review) {
    order.set_status(v1::ORDER_STATUS_IN_REVIEW);
    order.set_review_reason(indication.summary);
    path.push_back(v1::ORDER_STATUS_IN_REVIEW);
  } else {
    order.set_status(v1::ORDER_STATUS_RECEIVED);
    // URGENT and EMERGENCY orders are never held back, only flagged (DOMAIN.md section 7).
    for (const v1::IndicationFinding& f : indication.findings) {
      const bool approval = f.code() == v1::INDICATION_FINDING_CODE_APPROVAL_MISSING;
      *order.add_exceptions() =
          MakeOrderException(approval ? v1::ORDER_EXCEPTION_KIND_APPROVAL_MISSING
                                      : v1::ORDER_EXCEPTION_KIND_INDICATION_NOT_MET,
                             f.line_no(), "", f.message(), RecordedBy(order, caller.actor), now);
    }
    for (const v1::OrderLine& line : order.lines()) {
      BG_ASSIGN_OR_RETURN(ReservationRecord r,
                          NewReservationIntent(order, line.line_no(), 1, 0, line.quantity(),
                                               stations, *policy_, options_.transport_time, now));
      record.reservations.push_back(std::move(r));
    }
  }

  absl::Status created = store_->CreateOrder(record, path, caller.actor, now, caller.deadline);
  if (created.code() == absl::StatusCode::kAlreadyExists) {
    // A concurrent call with the same request_id won: answer as its retry.
    BG_ASSIGN_OR_RETURN(
        existing,
        store_->FindOrderByRequest(request.hospital_id(), request.request_id(), caller.deadline));
    if (existing.has_value()) return replay(*existing);
  }
  BG_RETURN_IF_ERROR(created);
  LogInfo("order_placed", {{"order_id", order.order_id()},
                           {"hospital_id", order.hospital_id()},
                           {"status", StatusName(order.status())}});
  BG_RETURN_IF_ERROR(Fault("place_order.after_intent"));
  if (!indication.hold_for_review) {
    BG_ASSIGN_OR_RETURN(OrderRecord placed, AllocateOrder(caller, order.order_id()));
    return placed.order;
  }
  BG_ASSIGN_OR_RETURN(OrderRecord placed, store_->LoadOrder(order.order_id(), caller.deadline));
  return placed.order;
}

absl::StatusOr<OrderRecord> RequestOperations::AllocateOrder(const Caller& caller,
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
  const InventoryCall call{caller.deadline, caller.actor};

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
          inventory_->Reserve(ReserveRequestFor(r, record.order, options_.hold_seconds), call);
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
        absl::StatusOr<v1::Reservation> released = inventory_->Release(release, call);
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

absl::Status RequestOperations::SettleReservations(const Caller& caller,
                                                   const std::string& order_id,
                                                   const OrderRecord* known) {
  OrderRecord loaded;
  if (known == nullptr) {
    BG_ASSIGN_OR_RETURN(loaded, store_->LoadOrder(order_id, caller.deadline));
  }
  const OrderRecord& record = known != nullptr ? *known : loaded;
  const InventoryCall call{caller.deadline, caller.actor};
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
      absl::StatusOr<v1::Reservation> c = inventory_->ConfirmReservation(r.key, call);
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

absl::StatusOr<TransferFacts> RequestOperations::PlanTransfers(const Caller& caller,
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
        inventory_->CreateTransfer(create, InventoryCall{caller.deadline, kTransferActor});
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

absl::StatusOr<bool> RequestOperations::CancelTransfer(const Caller& caller,
                                                       const std::string& transfer_id,
                                                       const std::string& reason) {
  v1::CancelTransferRequest cancel;
  // The reason is part of the request: two paths cancelling for different reasons must not
  // share a request_id (inventory would refuse the second as another request).
  cancel.set_request_id(DerivedRequestId({transfer_id, "cancel", Fnv1a64Hex(reason)}));
  cancel.set_transfer_id(transfer_id);
  cancel.set_reason(reason);
  absl::StatusOr<v1::Transfer> transfer =
      inventory_->CancelTransfer(cancel, InventoryCall{caller.deadline, kTransferActor});
  if (transfer.ok()) return transfer->status() == v1::TRANSFER_STATUS_CANCELLED;
  if (transfer.status().code() == absl::StatusCode::kFailedPrecondition) return false;
  return InventoryError(transfer.status(), "cancel transfer");
}

absl::StatusOr<bool> RequestOperations::ReleaseReservation(const Caller& caller,
                                                           const std::string& key,
                                                           const std::string& reason) {
  const InventoryCall call{caller.deadline, caller.actor};
  absl::StatusOr<v1::Reservation> held = inventory_->GetReservation(key, call);
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
    absl::StatusOr<v1::Reservation> released = inventory_->Release(release, call);
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
    absl::StatusOr<v1::Reservation> released = inventory_->Release(release, call);
    if (!released.ok()) return InventoryError(released.status(), "release");
  }
  LogInfo("release_waits_for_transfer", {{"reservation_key", key}});
  return false;
}

absl::StatusOr<v1::Order> RequestOperations::ReconcileOrder(const Caller& caller,
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

absl::Status RequestOperations::VerifyAllocations(const Caller& caller,
                                                  const std::string& order_id) {
  BG_ASSIGN_OR_RETURN(OrderRecord record, store_->LoadOrder(order_id, caller.deadline));
  const InventoryCall call{caller.deadline, caller.actor};
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
    absl::StatusOr<v1::Reservation> reservation = inventory_->GetReservation(key, call);
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
      reservation = inventory_->GetReservation(key, call);
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
    absl::StatusOr<v1::Reservation> released = inventory_->Release(release, call);
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
  Caller caller{"system:lookback", deadline};
  absl::Status status = VerifyAllocations(caller, order_id);
  // A unit in transit is no reason to give up here: only dispatch cares.
  if (status.code() == absl::StatusCode::kFailedPrecondition) return absl::OkStatus();
  return status;
}

// ---------------------------------------------------------------------------------------------
// Lifecycle.

absl::StatusOr<v1::Order> RequestOperations::GetOrder(const Caller& caller,
                                                      const v1::GetOrderRequest& request) {
  BG_RETURN_IF_ERROR(RequireOrderId(request.order_id()));
  BG_ASSIGN_OR_RETURN(OrderRecord record, store_->LoadOrder(request.order_id(), caller.deadline));
  BG_RETURN_IF_ERROR(CheckOwner(record.order, request.hospital_id()));
  return record.order;
}

absl::StatusOr<v1::ListOrdersResponse> RequestOperations::ListOrders(
    const Caller& caller, const v1::ListOrdersRequest& request) {
  OrderFilter filter;
  if (request.has_status()) {
    if (!v1::OrderStatus_IsValid(request.status())) return InvalidField("status", "unknown status");
    filter.status = request.status();
  }
  if (!v1::Priority_IsValid(request.priority()))
    return InvalidField("priority", "unknown priority");
  filter.priority = request.priority();
  if (!request.hospital_id().empty() && !IsValidRecordId(request.hospital_id())) {
    return InvalidField("hospital_id", "must be 1-32 characters of [A-Za-z0-9_-]");
  }
  filter.hospital_id = request.hospital_id();
  if (CharacterCount(request.patient_ref()) > 64) {
    return InvalidField("patient_ref", "longer than 64 characters");
  }
  filter.patient_ref = request.patient_ref();
  if (request.has_created_after()) {
    BG_ASSIGN_OR_RETURN(filter.created_after,
                        ParseTimestamp("created_after", request.created_after()));
  }
  if (request.has_created_before()) {
    BG_ASSIGN_OR_RETURN(filter.created_before,
                        ParseTimestamp("created_before", request.created_before()));
  }
  BG_ASSIGN_OR_RETURN(int page_size, EffectivePageSize(request.page_size()));
  const uint64_t hash = FilterHash(
      {"orders", absl::StrCat(filter.status), filter.hospital_id, absl::StrCat(filter.priority),
       filter.created_after ? absl::StrCat(ToMicros(*filter.created_after)) : "",
       filter.created_before ? absl::StrCat(ToMicros(*filter.created_before)) : "",
       filter.patient_ref});
  BG_ASSIGN_OR_RETURN(v1::PageCursor cursor, DecodePageToken(request.page_token(), hash));
  OrderCursor after;
  if (!request.page_token().empty()) {
    after.created_at = FromMicros(cursor.after_key());
    after.order_id = cursor.after_id();
  }
  BG_ASSIGN_OR_RETURN(std::vector<v1::Order> orders,
                      store_->ListOrders(filter, after, page_size + 1, caller.deadline));
  v1::ListOrdersResponse response;
  const bool more = static_cast<int>(orders.size()) > page_size;
  if (more) orders.resize(page_size);
  for (v1::Order& o : orders) *response.add_orders() = std::move(o);
  if (more) {
    const v1::Order& last = response.orders(page_size - 1);
    v1::PageCursor next;
    next.set_after_key(ToMicros(FromTimestamp(last.created_at())));
    next.set_after_id(last.order_id());
    next.set_filter_hash(hash);
    response.set_next_page_token(EncodePageToken(next));
  }
  return response;
}

absl::StatusOr<v1::Order> RequestOperations::CancelOrder(const Caller& caller,
                                                         const v1::CancelOrderRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(RequireOrderId(request.order_id()));
  if (request.reason().empty()) return InvalidField("reason", "is required");
  if (CharacterCount(request.reason()) > 1000) {
    return InvalidField("reason", "longer than 1000 characters");
  }
  const IdempotencyKey key = MakeKey("CancelOrder", caller, request.request_id(), request);
  BG_ASSIGN_OR_RETURN(UpdateResult result,
                      store_->UpdateOrder(request.order_id(), &key, caller.actor, Now(),
                                          caller.deadline, [&](const OrderRecord& current) {
                                            return DecideCancel(current, request.hospital_id(),
                                                                request.reason());
                                          }));
  if (result.replayed) return result.order;
  // Release now; if inventory is unreachable the reconciler releases later (the abandoned
  // reservations are recorded), so the cancellation itself stands.
  absl::Status released = SettleReservations(caller, request.order_id());
  if (!released.ok()) {
    LogWarning("cancel_release_deferred",
               {{"order_id", request.order_id()}, {"status", released.ToString()}});
  }
  return result.order;
}

absl::StatusOr<v1::Order> RequestOperations::ReviewOrder(const Caller& caller,
                                                         const v1::ReviewOrderRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(RequireOrderId(request.order_id()));
  if (request.reviewer().empty()) return InvalidField("reviewer", "is required");
  if (CharacterCount(request.reviewer()) > 100) {
    return InvalidField("reviewer", "longer than 100 characters");
  }
  if (!request.approve() && request.note().empty()) {
    return InvalidField("note", "is required when rejecting");
  }
  if (CharacterCount(request.note()) > 1000)
    return InvalidField("note", "longer than 1000 characters");
  const IdempotencyKey key = MakeKey("ReviewOrder", caller, request.request_id(), request);
  const absl::Time now = Now();
  BG_ASSIGN_OR_RETURN(UpdateResult result,
                      store_->UpdateOrder(request.order_id(), &key, caller.actor, now,
                                          caller.deadline, [&](const OrderRecord& current) {
                                            return DecideReview(current, request, now);
                                          }));
  if (result.order.status() == v1::ORDER_STATUS_RECEIVED) {
    // Approved (now or in the first of these calls): allocate, then answer with the result.
    return ReconcileOrder(caller, request.order_id());
  }
  return result.order;
}

absl::StatusOr<v1::Order> RequestOperations::DispatchOrder(
    const Caller& caller, const v1::DispatchOrderRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(RequireOrderId(request.order_id()));
  const IdempotencyKey key = MakeKey("DispatchOrder", caller, request.request_id(), request);
  v1::Order replayed;
  BG_ASSIGN_OR_RETURN(bool done, store_->LookupIdempotent(key, &replayed, caller.deadline));
  if (done) return replayed;

  BG_ASSIGN_OR_RETURN(OrderRecord record, store_->LoadOrder(request.order_id(), caller.deadline));
  if (record.order.status() != v1::ORDER_STATUS_DISPATCHED && !record.dispatch_intent) {
    BG_RETURN_IF_ERROR(CheckDispatchable(record, request.allow_partial()));
    // Units that expired or were withdrawn since allocation are replaced first.
    BG_RETURN_IF_ERROR(SettleReservations(caller, request.order_id()));
    BG_RETURN_IF_ERROR(VerifyAllocations(caller, request.order_id()));
    BG_ASSIGN_OR_RETURN(UpdateResult started,
                        store_->UpdateOrder(request.order_id(), nullptr, caller.actor, Now(),
                                            caller.deadline, [&](const OrderRecord& current) {
                                              return DecideDispatchStart(current,
                                                                         request.allow_partial());
                                            }));
    (void)started;
  }
  return CompleteDispatch(caller, request.order_id(), &key);
}

absl::StatusOr<v1::Order> RequestOperations::CompleteDispatch(const Caller& caller,
                                                              const std::string& order_id,
                                                              const IdempotencyKey* key) {
  BG_ASSIGN_OR_RETURN(OrderRecord record, store_->LoadOrder(order_id, caller.deadline));
  const v1::Order& order = record.order;
  if (order.status() != v1::ORDER_STATUS_DISPATCHED) {
    if (!record.dispatch_intent) {
      return absl::FailedPreconditionError(
          absl::StrCat("order is ", StatusName(order.status()), ": no dispatch under way"));
    }
    const InventoryCall call{caller.deadline, caller.actor};
    std::map<std::string, std::vector<std::string>> by_key;
    for (const AllocationRecord& a : record.allocations) {
      if (!a.withdrawn) by_key[a.reservation_key].push_back(a.unit.unit_id());
    }
    bool issued_any = false;
    for (const auto& [reservation_key, unit_ids] : by_key) {
      v1::IssueRequest issue;
      issue.set_request_id(
          DerivedRequestId({reservation_key, "issue", Fnv1a64Hex(absl::StrJoin(unit_ids, ","))}));
      issue.set_reservation_key(reservation_key);
      for (const std::string& id : unit_ids) issue.add_unit_ids(id);
      issue.set_hospital_id(order.hospital_id());
      issue.set_order_id(order.order_id());
      absl::StatusOr<v1::IssueResponse> issued = inventory_->Issue(issue, call);
      if (!issued.ok()) {
        const absl::Status error = InventoryError(issued.status(), "issue");
        if (issued.status().code() == absl::StatusCode::kFailedPrecondition && !issued_any) {
          // Nothing left the shelf: drop the intent so the order can be fixed or cancelled.
          BG_RETURN_IF_ERROR(
              store_
                  ->UpdateOrder(order_id, nullptr, caller.actor, Now(), caller.deadline,
                                [&](const OrderRecord& current) -> absl::StatusOr<OrderChange> {
                                  return DecideDispatchFailed(current,
                                                              std::string(error.message()));
                                })
                  .status());
        }
        return error;
      }
      issued_any = true;
    }
    BG_RETURN_IF_ERROR(Fault("dispatch.after_issue"));
  }

  AllocationPass pass;  // for the next massive-transfusion round
  pass.policy = policy_;
  pass.transport_time = options_.transport_time;
  if (order.massive_transfusion()) {
    BG_ASSIGN_OR_RETURN(pass.stations, StationsOf(order.hospital_id(), caller.deadline));
  }
  const absl::Time now = Now();
  const std::string next_order_id = NewOrderId();
  std::string follow_up_id;
  BG_ASSIGN_OR_RETURN(
      UpdateResult result,
      store_->UpdateOrder(order_id, key, caller.actor, now, caller.deadline,
                          [&](const OrderRecord& current) -> absl::StatusOr<OrderChange> {
                            follow_up_id.clear();
                            BG_ASSIGN_OR_RETURN(
                                OrderChange change,
                                DecideDispatched(current, next_order_id, pass, caller.actor, now));
                            if (change.follow_up.has_value()) follow_up_id = next_order_id;
                            return change;
                          }));
  if (!follow_up_id.empty() && !result.replayed) {
    LogInfo("massive_transfusion_round_placed",
            {{"order_id", follow_up_id}, {"previous", order_id}});
    absl::Status allocated = AllocateOrder(caller, follow_up_id).status();
    if (!allocated.ok()) {
      LogWarning("massive_transfusion_round_allocation_deferred",
                 {{"order_id", follow_up_id}, {"status", allocated.ToString()}});
    }
  }
  return result.order;
}

absl::StatusOr<v1::Order> RequestOperations::ConfirmDelivery(
    const Caller& caller, const v1::ConfirmDeliveryRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(RequireOrderId(request.order_id()));
  if (CharacterCount(request.received_by()) > 100) {
    return InvalidField("received_by", "longer than 100 characters");
  }
  const absl::Time now = Now();
  absl::Time received_at = now;
  if (request.has_received_at()) {
    BG_ASSIGN_OR_RETURN(received_at, ParseTimestamp("received_at", request.received_at()));
    if (received_at > now + kNeededByTolerance) {
      return InvalidField("received_at", "is in the future");
    }
  }
  const IdempotencyKey key = MakeKey("ConfirmDelivery", caller, request.request_id(), request);
  BG_ASSIGN_OR_RETURN(UpdateResult result,
                      store_->UpdateOrder(request.order_id(), &key, caller.actor, now,
                                          caller.deadline, [&](const OrderRecord& current) {
                                            return DecideDelivery(current, request.hospital_id(),
                                                                  received_at,
                                                                  request.received_by());
                                          }));
  return result.order;
}

absl::StatusOr<v1::Order> RequestOperations::ReportTransfusion(
    const Caller& caller, const v1::ReportTransfusionRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(RequireOrderId(request.order_id()));
  BG_ASSIGN_OR_RETURN(Din din, ParseDin(request.din()));
  BG_RETURN_IF_ERROR(ValidateReportTransfusion(request));
  const IdempotencyKey key = MakeKey("ReportTransfusion", caller, request.request_id(), request);
  v1::Order replayed;
  BG_ASSIGN_OR_RETURN(bool done, store_->LookupIdempotent(key, &replayed, caller.deadline));
  if (done) return replayed;

  BG_ASSIGN_OR_RETURN(OrderRecord record, store_->LoadOrder(request.order_id(), caller.deadline));
  BG_RETURN_IF_ERROR(CheckOwner(record.order, request.hospital_id()));
  const v1::OrderStatus status = record.order.status();
  if (status != v1::ORDER_STATUS_DISPATCHED && status != v1::ORDER_STATUS_DELIVERED &&
      status != v1::ORDER_STATUS_COMPLETED) {
    return absl::FailedPreconditionError(
        absl::StrCat("order is ", StatusName(status), ": no unit has been issued"));
  }
  BG_ASSIGN_OR_RETURN(const AllocationRecord* unit,
                      FindReportedUnit(record, din.ToString(), request.component()));
  if (unit->unit.outcome() != v1::TRANSFUSION_OUTCOME_UNSPECIFIED) {
    if (!SameOutcome(unit->unit.outcome(), request.outcome())) {
      return absl::FailedPreconditionError(
          absl::StrCat("unit ", unit->unit.din(), " was already reported ",
                       v1::TransfusionOutcome_Name(unit->unit.outcome())));
    }
  } else {
    v1::RecordOutcomeRequest outcome;
    outcome.set_request_id(
        DerivedRequestId({record.order.order_id(), "outcome", Fnv1a64Hex(unit->unit.unit_id()),
                          absl::StrCat(request.outcome())}));
    outcome.set_unit_id(unit->unit.unit_id());
    outcome.set_outcome(request.outcome());
    if (request.has_cold_chain_ok()) outcome.set_cold_chain_ok(request.cold_chain_ok());
    outcome.set_order_id(record.order.order_id());
    if (request.has_occurred_at()) *outcome.mutable_occurred_at() = request.occurred_at();
    outcome.set_note(request.note());
    absl::StatusOr<v1::Unit> recorded =
        inventory_->RecordOutcome(outcome, InventoryCall{caller.deadline, caller.actor});
    if (!recorded.ok()) return InventoryError(recorded.status(), "record outcome");
  }

  const absl::Time now = Now();
  const absl::Time at = request.has_occurred_at() ? FromTimestamp(request.occurred_at()) : now;
  BG_ASSIGN_OR_RETURN(UpdateResult result,
                      store_->UpdateOrder(request.order_id(), &key, caller.actor, now,
                                          caller.deadline, [&](const OrderRecord& current) {
                                            return DecideTransfusionReport(current, request,
                                                                           din.ToString(), at, now);
                                          }));
  return result.order;
}

absl::StatusOr<v1::FindOrdersByDinsResponse> RequestOperations::FindOrdersByDins(
    const Caller& caller, const v1::FindOrdersByDinsRequest& request) {
  if (request.dins().empty()) return InvalidField("dins", "at least one DIN is required");
  if (request.dins_size() > kMaxDinsPerLookup) {
    return InvalidField("dins", absl::StrCat("at most ", kMaxDinsPerLookup, " DINs"));
  }
  std::vector<std::string> dins;
  for (int i = 0; i < request.dins_size(); ++i) {
    absl::StatusOr<Din> din = ParseDin(request.dins(i));
    if (!din.ok()) {
      std::string message(din.status().message());
      if (absl::StartsWith(message, "din: ")) message.erase(0, 5);
      return InvalidField(absl::StrCat("dins[", i, "]"), message);
    }
    dins.push_back(din->ToString());
  }
  std::optional<absl::Time> since;
  if (request.has_since()) {
    BG_ASSIGN_OR_RETURN(since, ParseTimestamp("since", request.since()));
  }
  BG_ASSIGN_OR_RETURN(std::vector<v1::UnitDelivery> deliveries,
                      store_->FindDeliveries(dins, since, caller.deadline));
  v1::FindOrdersByDinsResponse response;
  for (v1::UnitDelivery& d : deliveries) *response.add_deliveries() = std::move(d);
  return response;
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
    absl::StatusOr<v1::Order> order = ReconcileOrder(Caller{"system:reconciler", deadline}, id);
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
    absl::Status status = AllocateOrder(Caller{"system:backorder", deadline}, id).status();
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
  const Caller caller{"system:presumed-transfused", deadline};
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
    absl::StatusOr<v1::Unit> recorded =
        inventory_->RecordOutcome(outcome, InventoryCall{deadline, caller.actor});
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
