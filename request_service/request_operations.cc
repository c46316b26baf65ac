#include "request_service/request_operations.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "common/din.h"
#include "common/fault_point.h"
#include "common/hash.h"
#include "common/idempotency.h"
#include "common/log.h"
#include "common/page_token.h"
#include "common/proto_time.h"
#include "common/status.h"

namespace bloodgrid::request {
namespace {

constexpr int kMaxDinsPerLookup = 1000;

std::string NewOrderId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const uint64_t high = rng();
  const uint64_t low = rng();
  return absl::StrFormat("ORD-%08x%012x", high & 0xffffffffu, low & 0xffffffffffffu);
}

absl::Status RequireOrderId(const std::string& order_id) {
  if (order_id.empty()) return InvalidField("order_id", "is required");
  if (order_id.size() > 40) return InvalidField("order_id", "longer than 40 characters");
  return absl::OkStatus();
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
  FaultPoint("request.", point);  // BLOODGRID_FAULT_POINTS: the process dies here
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
    const CallContext& caller, const v1::UpsertHospitalRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  if (!request.has_hospital()) return InvalidField("hospital", "is required");
  const v1::Hospital& hospital = request.hospital();
  BG_RETURN_IF_ERROR(ValidateHospital(hospital));
  BG_ASSIGN_OR_RETURN(
      const db::IdempotencyKey key,
      db::MakeIdempotencyKey("UpsertHospital", caller.actor, request.request_id(), request));
  v1::Hospital replayed;
  BG_ASSIGN_OR_RETURN(bool done, store_->LookupIdempotent(key, &replayed, caller.deadline));
  if (done) return replayed;

  auto check_station = [&](const std::string& station_id,
                           const std::string& field) -> absl::Status {
    absl::StatusOr<v1::Station> station = inventory_->GetStation(station_id, caller);
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

absl::StatusOr<v1::Hospital> RequestOperations::GetHospital(const CallContext& caller,
                                                            const v1::GetHospitalRequest& request) {
  if (request.hospital_id().empty()) return InvalidField("hospital_id", "is required");
  if (!IsValidRecordId(request.hospital_id())) {
    return InvalidField("hospital_id", "must be 1-32 characters of [A-Za-z0-9_-]");
  }
  return store_->GetHospital(request.hospital_id(), caller.deadline);
}

absl::StatusOr<v1::ListHospitalsResponse> RequestOperations::ListHospitals(
    const CallContext& caller, const v1::ListHospitalsRequest& request) {
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
// PlaceOrder (its allocation is in request_allocation.cc).

absl::StatusOr<v1::Order> RequestOperations::PlaceOrder(const CallContext& caller,
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

// Lifecycle.

absl::StatusOr<v1::Order> RequestOperations::GetOrder(const CallContext& caller,
                                                      const v1::GetOrderRequest& request) {
  BG_RETURN_IF_ERROR(RequireOrderId(request.order_id()));
  BG_ASSIGN_OR_RETURN(OrderRecord record, store_->LoadOrder(request.order_id(), caller.deadline));
  BG_RETURN_IF_ERROR(CheckOwner(record.order, request.hospital_id()));
  return record.order;
}

absl::StatusOr<v1::ListOrdersResponse> RequestOperations::ListOrders(
    const CallContext& caller, const v1::ListOrdersRequest& request) {
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
       filter.created_after ? absl::StrCat(absl::ToUnixMicros(*filter.created_after)) : "",
       filter.created_before ? absl::StrCat(absl::ToUnixMicros(*filter.created_before)) : "",
       filter.patient_ref});
  BG_ASSIGN_OR_RETURN(v1::PageCursor cursor, DecodePageToken(request.page_token(), hash));
  OrderCursor after;
  if (!request.page_token().empty()) {
    after.created_at = absl::FromUnixMicros(cursor.after_key());
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
    next.set_after_key(absl::ToUnixMicros(FromTimestamp(last.created_at())));
    next.set_after_id(last.order_id());
    next.set_filter_hash(hash);
    response.set_next_page_token(EncodePageToken(next));
  }
  return response;
}

absl::StatusOr<v1::Order> RequestOperations::CancelOrder(const CallContext& caller,
                                                         const v1::CancelOrderRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(RequireOrderId(request.order_id()));
  if (request.reason().empty()) return InvalidField("reason", "is required");
  if (CharacterCount(request.reason()) > 1000) {
    return InvalidField("reason", "longer than 1000 characters");
  }
  BG_ASSIGN_OR_RETURN(
      const db::IdempotencyKey key,
      db::MakeIdempotencyKey("CancelOrder", caller.actor, request.request_id(), request));
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

absl::StatusOr<v1::Order> RequestOperations::ReviewOrder(const CallContext& caller,
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
  BG_ASSIGN_OR_RETURN(
      const db::IdempotencyKey key,
      db::MakeIdempotencyKey("ReviewOrder", caller.actor, request.request_id(), request));
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
    const CallContext& caller, const v1::DispatchOrderRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(RequireOrderId(request.order_id()));
  BG_ASSIGN_OR_RETURN(
      const db::IdempotencyKey key,
      db::MakeIdempotencyKey("DispatchOrder", caller.actor, request.request_id(), request));
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

absl::StatusOr<v1::Order> RequestOperations::CompleteDispatch(const CallContext& caller,
                                                              const std::string& order_id,
                                                              const db::IdempotencyKey* key) {
  BG_ASSIGN_OR_RETURN(OrderRecord record, store_->LoadOrder(order_id, caller.deadline));
  const v1::Order& order = record.order;
  if (order.status() != v1::ORDER_STATUS_DISPATCHED) {
    if (!record.dispatch_intent) {
      return absl::FailedPreconditionError(
          absl::StrCat("order is ", StatusName(order.status()), ": no dispatch under way"));
    }
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
      absl::StatusOr<v1::IssueResponse> issued = inventory_->Issue(issue, caller);
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
    const CallContext& caller, const v1::ConfirmDeliveryRequest& request) {
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
  BG_ASSIGN_OR_RETURN(
      const db::IdempotencyKey key,
      db::MakeIdempotencyKey("ConfirmDelivery", caller.actor, request.request_id(), request));
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
    const CallContext& caller, const v1::ReportTransfusionRequest& request) {
  BG_RETURN_IF_ERROR(db::ValidateRequestId(request.request_id()));
  BG_RETURN_IF_ERROR(RequireOrderId(request.order_id()));
  BG_ASSIGN_OR_RETURN(Din din, ParseDin(request.din()));
  BG_RETURN_IF_ERROR(ValidateReportTransfusion(request));
  BG_ASSIGN_OR_RETURN(
      const db::IdempotencyKey key,
      db::MakeIdempotencyKey("ReportTransfusion", caller.actor, request.request_id(), request));
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
    absl::StatusOr<v1::Unit> recorded = inventory_->RecordOutcome(outcome, caller);
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
    const CallContext& caller, const v1::FindOrdersByDinsRequest& request) {
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

}  // namespace bloodgrid::request
