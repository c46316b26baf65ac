#include "tests/request/fake_request_store.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status.h"
#include "request_service/request_rules.h"

namespace bloodgrid::request {
namespace {

// The schema keeps microseconds.
absl::Time Micros(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

void SetMicros(absl::Time t, google::protobuf::Timestamp* ts) { ToTimestamp(Micros(t), ts); }

void Truncate(google::protobuf::Timestamp* ts) { ts->set_nanos(ts->nanos() / 1000 * 1000); }

absl::Time CreatedAt(const v1::Order& order) { return FromTimestamp(order.created_at()); }

}  // namespace

std::vector<StoredEvent> FakeRequestStore::Events(const std::string& order_id) const {
  absl::MutexLock lock(&mu_);
  auto it = orders_.find(order_id);
  return it == orders_.end() ? std::vector<StoredEvent>() : it->second.events;
}

void FakeRequestStore::SetPingStatus(absl::Status status) {
  absl::MutexLock lock(&mu_);
  ping_status_ = std::move(status);
}

absl::Status FakeRequestStore::CheckDeadline(absl::Time deadline) const {
  if (absl::Now() > deadline) return absl::DeadlineExceededError("deadline passed");
  return absl::OkStatus();
}

absl::Status FakeRequestStore::Ping(absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  return ping_status_;
}

absl::StatusOr<bool> FakeRequestStore::Replay(const db::IdempotencyKey& key,
                                              google::protobuf::Message* response) const {
  auto it = answers_.find({key.scope, key.request_id});
  if (it == answers_.end()) return false;
  if (it->second.request_hash != key.request_hash) {
    return InvalidField("request_id",
                        absl::StrCat("'", key.request_id, "' was already used for a different ",
                                     key.scope, " request"));
  }
  if (!response->ParseFromString(it->second.response)) {
    return absl::InternalError("stored response of request_id cannot be parsed");
  }
  return true;
}

void FakeRequestStore::Complete(const db::IdempotencyKey& key,
                                const google::protobuf::Message& response) {
  answers_[{key.scope, key.request_id}] = {key.request_hash, response.SerializeAsString()};
}

absl::StatusOr<v1::Hospital> FakeRequestStore::UpsertHospital(const v1::Hospital& hospital,
                                                              const db::IdempotencyKey& key,
                                                              absl::Time now, absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  v1::Hospital result;
  BG_ASSIGN_OR_RETURN(bool replayed, Replay(key, &result));
  if (replayed) return result;
  result = hospital;
  auto it = hospitals_.find(hospital.hospital_id());
  if (it != hospitals_.end()) {
    *result.mutable_created_at() = it->second.created_at();
  } else {
    SetMicros(now, result.mutable_created_at());
  }
  SetMicros(now, result.mutable_updated_at());
  hospitals_[hospital.hospital_id()] = result;
  Complete(key, result);
  return result;
}

absl::StatusOr<v1::Hospital> FakeRequestStore::GetHospital(const std::string& hospital_id,
                                                           absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  auto it = hospitals_.find(hospital_id);
  if (it == hospitals_.end()) {
    return absl::NotFoundError(absl::StrCat("hospital ", hospital_id, " not found"));
  }
  return it->second;
}

absl::StatusOr<std::vector<v1::Hospital>> FakeRequestStore::ListHospitals(
    const std::string& after_id, int limit, absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  std::vector<v1::Hospital> result;
  for (auto it = hospitals_.upper_bound(after_id);
       it != hospitals_.end() && static_cast<int>(result.size()) < limit; ++it) {
    result.push_back(it->second);
  }
  return result;
}

absl::StatusOr<std::optional<std::pair<std::string, std::string>>>
FakeRequestStore::FindOrderByRequest(const std::string& hospital_id, const std::string& request_id,
                                     absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  for (const auto& [id, stored] : orders_) {
    const v1::Order& o = stored.record.order;
    if (o.hospital_id() == hospital_id && o.request_id() == request_id) {
      return std::make_optional(std::make_pair(id, stored.record.request_hash));
    }
  }
  return std::optional<std::pair<std::string, std::string>>();
}

absl::Status FakeRequestStore::Insert(const OrderRecord& record,
                                      const std::vector<v1::OrderStatus>& status_path,
                                      const std::string& actor, absl::Time now) {
  const v1::Order& order = record.order;
  if (orders_.count(order.order_id()) > 0) {
    return absl::AlreadyExistsError("create order: already exists");
  }
  for (const auto& [id, stored] : orders_) {
    if (stored.record.order.hospital_id() == order.hospital_id() &&
        stored.record.order.request_id() == order.request_id()) {
      return absl::AlreadyExistsError("create order: already exists");
    }
  }
  if (hospitals_.count(order.hospital_id()) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("hospital ", order.hospital_id(), " is not registered"));
  }
  StoredOrder stored;
  OrderRecord& r = stored.record;
  r.request_hash = record.request_hash;
  r.reservations = record.reservations;
  for (ReservationRecord& res : r.reservations) res.expiry_floor = Micros(res.expiry_floor);
  r.allocations = record.allocations;
  for (AllocationRecord& a : r.allocations) {
    stored.allocated_at.emplace(a.unit.unit_id(), Micros(now));
    a.withdrawn = false;
    a.unit.set_outcome(v1::TRANSFUSION_OUTCOME_UNSPECIFIED);
    a.unit.clear_outcome_at();
    a.unit.clear_adverse_reaction();
    Truncate(a.unit.mutable_expires_at());
  }
  v1::Order& o = r.order;
  o = order;
  for (v1::OrderLine& line : *o.mutable_lines()) {
    v1::OrderLine bare;
    bare.set_line_no(line.line_no());
    bare.set_component(line.component());
    bare.set_quantity(line.quantity());
    line = bare;
  }
  std::sort(
      o.mutable_lines()->begin(), o.mutable_lines()->end(),
      [](const v1::OrderLine& a, const v1::OrderLine& b) { return a.line_no() < b.line_no(); });
  for (v1::OrderException& e : *o.mutable_exceptions()) {
    if (!e.has_recorded_at()) SetMicros(now, e.mutable_recorded_at());
    Truncate(e.mutable_recorded_at());
  }
  o.clear_reviews();
  if (o.has_needed_by()) Truncate(o.mutable_needed_by());
  SetMicros(now, o.mutable_created_at());
  SetMicros(now, o.mutable_updated_at());
  o.clear_dispatched_at();
  o.clear_delivered_at();
  o.clear_completed_at();
  o.clear_closed_at();
  v1::OrderStatus from = v1::ORDER_STATUS_UNSPECIFIED;
  for (v1::OrderStatus to : status_path) {
    stored.events.push_back({StatusName(to), from, to, actor,
                             to == v1::ORDER_STATUS_IN_REVIEW ? order.review_reason() : "",
                             Micros(now)});
    from = to;
  }
  orders_.emplace(order.order_id(), std::move(stored));
  return absl::OkStatus();
}

absl::Status FakeRequestStore::CreateOrder(const OrderRecord& record,
                                           const std::vector<v1::OrderStatus>& status_path,
                                           const std::string& actor, absl::Time now,
                                           absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  return Insert(record, status_path, actor, now);
}

OrderRecord FakeRequestStore::View(const StoredOrder& stored) const {
  OrderRecord record = stored.record;
  // Allocations by line, first allocation, unit id, as the schema reads them.
  auto at = [&stored](const AllocationRecord& a) {
    auto it = stored.allocated_at.find(a.unit.unit_id());
    return it == stored.allocated_at.end() ? absl::InfinitePast() : it->second;
  };
  std::sort(record.allocations.begin(), record.allocations.end(),
            [&at](const AllocationRecord& a, const AllocationRecord& b) {
              return std::make_tuple(a.line_no, at(a), a.unit.unit_id()) <
                     std::make_tuple(b.line_no, at(b), b.unit.unit_id());
            });
  std::stable_sort(record.reservations.begin(), record.reservations.end(),
                   [](const ReservationRecord& a, const ReservationRecord& b) {
                     return std::tie(a.line_no, a.attempt) < std::tie(b.line_no, b.attempt);
                   });
  v1::Order& order = record.order;
  const bool backorder_open = order.status() == v1::ORDER_STATUS_ALLOCATED ||
                              order.status() == v1::ORDER_STATUS_PARTIALLY_ALLOCATED;
  for (v1::OrderLine& line : *order.mutable_lines()) {
    int allocated = 0;
    for (const AllocationRecord& a : record.allocations) {
      if (a.line_no != line.line_no() || a.withdrawn) continue;
      *line.add_units() = a.unit;
      allocated += a.unit.quantity();
    }
    line.set_allocated_quantity(allocated);
    const bool closed =
        std::find(record.closed_short_lines.begin(), record.closed_short_lines.end(),
                  line.line_no()) != record.closed_short_lines.end();
    line.set_backordered_quantity(
        backorder_open && !closed ? std::max(0, line.quantity() - allocated) : 0);
  }
  return record;
}

absl::StatusOr<OrderRecord> FakeRequestStore::LoadOrder(const std::string& order_id,
                                                        absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  auto it = orders_.find(order_id);
  if (it == orders_.end())
    return absl::NotFoundError(absl::StrCat("order ", order_id, " not found"));
  return View(it->second);
}

void FakeRequestStore::Apply(StoredOrder& stored, const OrderChange& change,
                             const std::string& actor, absl::Time now) {
  OrderRecord& r = stored.record;
  v1::Order& o = r.order;
  const v1::OrderStatus from = o.status();
  const v1::OrderStatus to = change.status.value_or(from);
  now = Micros(now);
  if (to != from) {
    if (to == v1::ORDER_STATUS_DISPATCHED) ToTimestamp(now, o.mutable_dispatched_at());
    if (to == v1::ORDER_STATUS_DELIVERED && !o.has_delivered_at()) {
      ToTimestamp(now, o.mutable_delivered_at());
    }
    if (to == v1::ORDER_STATUS_COMPLETED) ToTimestamp(now, o.mutable_completed_at());
    if (to == v1::ORDER_STATUS_CANCELLED || to == v1::ORDER_STATUS_REJECTED) {
      ToTimestamp(now, o.mutable_closed_at());
    }
  }
  if (change.delivered_at.has_value()) SetMicros(*change.delivered_at, o.mutable_delivered_at());
  o.set_status(to);
  if (change.status_reason.has_value()) o.set_status_reason(*change.status_reason);
  if (change.review_reason.has_value()) o.set_review_reason(*change.review_reason);
  if (change.dispatch_intent.has_value()) r.dispatch_intent = *change.dispatch_intent;
  if (change.allow_partial.has_value()) r.allow_partial = *change.allow_partial;
  if (change.received_by.has_value()) stored.received_by = change.received_by;
  ToTimestamp(now, o.mutable_updated_at());
  for (ReservationRecord res : change.new_reservations) {
    res.expiry_floor = Micros(res.expiry_floor);
    r.reservations.push_back(std::move(res));
  }
  for (const auto& [key, state] : change.reservation_states) {
    for (ReservationRecord& res : r.reservations) {
      if (res.key == key) res.state = state;
    }
  }
  for (const AllocationRecord& a : change.new_allocations) {
    auto it = std::find_if(
        r.allocations.begin(), r.allocations.end(),
        [&](const AllocationRecord& x) { return x.unit.unit_id() == a.unit.unit_id(); });
    if (it == r.allocations.end()) {
      AllocationRecord added = a;
      added.withdrawn = false;
      added.unit.set_outcome(v1::TRANSFUSION_OUTCOME_UNSPECIFIED);
      added.unit.clear_outcome_at();
      added.unit.clear_adverse_reaction();
      Truncate(added.unit.mutable_expires_at());
      stored.allocated_at.emplace(a.unit.unit_id(), now);
      r.allocations.push_back(std::move(added));
    } else {
      // The unit comes back: the schema updates these columns and keeps the others.
      it->line_no = a.line_no;
      it->reservation_key = a.reservation_key;
      it->unit.set_station_id(a.unit.station_id());
      *it->unit.mutable_expires_at() = a.unit.expires_at();
      Truncate(it->unit.mutable_expires_at());
      it->unit.set_transfer_id(a.unit.transfer_id());
      it->unit.set_exception(a.unit.exception());
      it->withdrawn = false;
    }
  }
  auto allocation = [&r](const std::string& unit_id) -> AllocationRecord* {
    for (AllocationRecord& a : r.allocations) {
      if (a.unit.unit_id() == unit_id) return &a;
    }
    return nullptr;
  };
  for (const std::string& unit_id : change.withdrawn_unit_ids) {
    if (AllocationRecord* a = allocation(unit_id)) a->withdrawn = true;
  }
  for (const OrderChange::UnitOutcome& outcome : change.outcomes) {
    AllocationRecord* a = allocation(outcome.unit_id);
    if (a == nullptr) continue;
    a->unit.set_outcome(outcome.outcome);
    SetMicros(outcome.at, a->unit.mutable_outcome_at());
    if (outcome.adverse_reaction.has_value()) {
      *a->unit.mutable_adverse_reaction() = *outcome.adverse_reaction;
    }
  }
  for (const auto& [unit_id, transfer_id] : change.unit_transfer_ids) {
    if (AllocationRecord* a = allocation(unit_id)) a->unit.set_transfer_id(transfer_id);
  }
  for (const auto& [unit_id, station_id] : change.unit_station_ids) {
    if (AllocationRecord* a = allocation(unit_id)) a->unit.set_station_id(station_id);
  }
  for (int line_no : change.close_lines_short) {
    if (std::find(r.closed_short_lines.begin(), r.closed_short_lines.end(), line_no) ==
        r.closed_short_lines.end()) {
      r.closed_short_lines.push_back(line_no);
    }
  }
  for (v1::OrderException e : change.new_exceptions) {
    if (!e.has_recorded_at()) ToTimestamp(now, e.mutable_recorded_at());
    Truncate(e.mutable_recorded_at());
    *o.add_exceptions() = std::move(e);
  }
  if (change.review.has_value()) {
    v1::OrderReview review = *change.review;
    if (!review.has_reviewed_at()) ToTimestamp(now, review.mutable_reviewed_at());
    Truncate(review.mutable_reviewed_at());
    *o.add_reviews() = std::move(review);
  }
  if (to != from || !change.event_kind.empty()) {
    stored.events.push_back({change.event_kind.empty() ? StatusName(to) : change.event_kind, from,
                             to, actor, change.event_note, now});
  }
}

absl::StatusOr<UpdateResult> FakeRequestStore::UpdateOrder(const std::string& order_id,
                                                           const db::IdempotencyKey* key,
                                                           const std::string& actor, absl::Time now,
                                                           absl::Time deadline,
                                                           const DecideFn& decide) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  UpdateResult result;
  if (key != nullptr) {
    BG_ASSIGN_OR_RETURN(bool replayed, Replay(*key, &result.order));
    if (replayed) {
      result.replayed = true;
      return result;
    }
  }
  auto it = orders_.find(order_id);
  if (it == orders_.end())
    return absl::NotFoundError(absl::StrCat("order ", order_id, " not found"));
  OrderRecord current = View(it->second);
  BG_ASSIGN_OR_RETURN(OrderChange change, decide(current));
  if (change.status.has_value() && *change.status != current.order.status()) {
    BG_RETURN_IF_ERROR(CheckTransition(current.order.status(), *change.status));
  }
  if (change.empty()) {
    result.record = std::move(current);
  } else {
    // Applied to a copy and kept only when whole: a follow-up that cannot be inserted rolls the
    // change back, as the transaction would.
    StoredOrder changed = it->second;
    Apply(changed, change, actor, now);
    if (change.follow_up.has_value()) {
      BG_RETURN_IF_ERROR(Insert(*change.follow_up, {change.follow_up->order.status()}, actor, now));
    }
    it->second = std::move(changed);
    if (change.read_back || key != nullptr) {
      result.record = View(it->second);
    } else {
      result.record = std::move(current);
    }
  }
  result.order = result.record.order;
  if (key != nullptr) Complete(*key, result.order);
  return result;
}

absl::StatusOr<bool> FakeRequestStore::LookupIdempotent(const db::IdempotencyKey& key,
                                                        google::protobuf::Message* response,
                                                        absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  return Replay(key, response);
}

absl::StatusOr<std::vector<v1::Order>> FakeRequestStore::ListOrders(const OrderFilter& filter,
                                                                    const OrderCursor& cursor,
                                                                    int limit,
                                                                    absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  std::vector<const StoredOrder*> matches;
  for (const auto& [id, stored] : orders_) {
    const v1::Order& o = stored.record.order;
    const absl::Time created = CreatedAt(o);
    if (filter.status != v1::ORDER_STATUS_UNSPECIFIED && o.status() != filter.status) continue;
    if (!filter.hospital_id.empty() && o.hospital_id() != filter.hospital_id) continue;
    if (filter.priority != v1::PRIORITY_UNSPECIFIED && o.priority() != filter.priority) continue;
    if (filter.created_after.has_value() && created < Micros(*filter.created_after)) continue;
    if (filter.created_before.has_value() && created >= Micros(*filter.created_before)) continue;
    if (!filter.patient_ref.empty() && o.patient().patient_ref() != filter.patient_ref) continue;
    if (cursor.created_at.has_value()) {
      const absl::Time after = Micros(*cursor.created_at);
      if (!(created < after || (created == after && o.order_id() < cursor.order_id))) continue;
    }
    matches.push_back(&stored);
  }
  std::sort(matches.begin(), matches.end(), [](const StoredOrder* a, const StoredOrder* b) {
    const absl::Time ta = CreatedAt(a->record.order);
    const absl::Time tb = CreatedAt(b->record.order);
    if (ta != tb) return ta > tb;
    return a->record.order.order_id() > b->record.order.order_id();
  });
  std::vector<v1::Order> result;
  for (const StoredOrder* s : matches) {
    if (static_cast<int>(result.size()) >= limit) break;
    result.push_back(View(*s).order);
  }
  return result;
}

absl::StatusOr<std::vector<v1::UnitDelivery>> FakeRequestStore::FindDeliveries(
    const std::vector<std::string>& dins, std::optional<absl::Time> since, absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  const std::set<std::string> sorted(dins.begin(), dins.end());
  std::vector<v1::UnitDelivery> result;
  for (const std::string& din : sorted) {
    std::vector<std::pair<std::tuple<absl::Time, std::string>, v1::UnitDelivery>> rows;
    for (const auto& [id, stored] : orders_) {
      const v1::Order& o = stored.record.order;
      if (!o.has_dispatched_at()) continue;
      const absl::Time dispatched = FromTimestamp(o.dispatched_at());
      if (since.has_value() && dispatched < Micros(*since)) continue;
      for (const AllocationRecord& a : stored.record.allocations) {
        if (a.withdrawn || a.unit.din() != din) continue;
        v1::UnitDelivery d;
        d.set_din(a.unit.din());
        d.set_unit_id(a.unit.unit_id());
        d.set_component(a.unit.component());
        d.set_order_id(o.order_id());
        d.set_hospital_id(o.hospital_id());
        auto h = hospitals_.find(o.hospital_id());
        if (h != hospitals_.end()) d.set_hospital_name(h->second.name());
        d.set_patient_ref(o.patient().patient_ref());
        d.set_order_status(o.status());
        *d.mutable_dispatched_at() = o.dispatched_at();
        if (o.has_delivered_at()) *d.mutable_delivered_at() = o.delivered_at();
        d.set_outcome(a.unit.outcome());
        rows.push_back({{dispatched, a.unit.unit_id()}, std::move(d)});
      }
    }
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& row : rows) result.push_back(std::move(row.second));
  }
  return result;
}

absl::StatusOr<std::vector<std::pair<v1::Component, int64_t>>> FakeRequestStore::DailyQuantities(
    const std::string& hospital_id, const std::string& patient_ref, absl::Time from, absl::Time to,
    absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  std::map<v1::Component, int64_t> sums;
  for (const auto& [id, stored] : orders_) {
    const v1::Order& o = stored.record.order;
    const absl::Time created = CreatedAt(o);
    if (o.hospital_id() != hospital_id || o.patient().patient_ref() != patient_ref) continue;
    if (created < Micros(from) || created >= Micros(to) || IsClosedUnissued(o.status())) continue;
    for (const v1::OrderLine& line : o.lines()) sums[line.component()] += line.quantity();
  }
  return std::vector<std::pair<v1::Component, int64_t>>(sums.begin(), sums.end());
}

absl::StatusOr<std::vector<std::string>> FakeRequestStore::ListOrdersToReconcile(
    absl::Time changed_before, int limit, absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<absl::Time, std::string>> rows;
  for (const auto& [id, stored] : orders_) {
    const OrderRecord& r = stored.record;
    const absl::Time updated = FromTimestamp(r.order.updated_at());
    if (updated >= changed_before) continue;
    const bool unsettled =
        std::any_of(r.reservations.begin(), r.reservations.end(),
                    [](const ReservationRecord& res) { return IsUnsettledReservation(res.state); });
    if (IsUnallocated(r.order.status()) || r.dispatch_intent || unsettled) {
      rows.emplace_back(updated, id);
    }
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> result;
  for (const auto& row : rows) {
    if (static_cast<int>(result.size()) >= limit) break;
    result.push_back(row.second);
  }
  return result;
}

absl::StatusOr<std::vector<std::string>> FakeRequestStore::ListBackorderedOrders(
    int limit, absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  std::vector<const v1::Order*> rows;
  for (const auto& [id, stored] : orders_) {
    if (IsBackordered(stored.record.order.status()) && !stored.record.dispatch_intent) {
      rows.push_back(&stored.record.order);
    }
  }
  std::sort(rows.begin(), rows.end(), [](const v1::Order* a, const v1::Order* b) {
    if (a->priority() != b->priority()) return a->priority() > b->priority();
    if (CreatedAt(*a) != CreatedAt(*b)) return CreatedAt(*a) < CreatedAt(*b);
    return a->order_id() < b->order_id();
  });
  std::vector<std::string> result;
  for (const v1::Order* o : rows) {
    if (static_cast<int>(result.size()) >= limit) break;
    result.push_back(o->order_id());
  }
  return result;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
FakeRequestStore::ListUnreportedUnits(absl::Time dispatched_before, int limit,
                                      absl::Time deadline) {
  BG_RETURN_IF_ERROR(CheckDeadline(deadline));
  absl::MutexLock lock(&mu_);
  std::vector<std::tuple<absl::Time, std::string, std::string>> rows;
  for (const auto& [id, stored] : orders_) {
    const v1::Order& o = stored.record.order;
    if (!AwaitsOutcomes(o.status()) || !o.has_dispatched_at()) continue;
    const absl::Time dispatched = FromTimestamp(o.dispatched_at());
    if (dispatched >= dispatched_before) continue;
    for (const AllocationRecord& a : stored.record.allocations) {
      if (a.withdrawn || a.unit.outcome() != v1::TRANSFUSION_OUTCOME_UNSPECIFIED) continue;
      rows.emplace_back(dispatched, id, a.unit.unit_id());
    }
  }
  std::sort(rows.begin(), rows.end());
  std::vector<std::pair<std::string, std::string>> result;
  for (const auto& [at, order_id, unit_id] : rows) {
    if (static_cast<int>(result.size()) >= limit) break;
    result.emplace_back(order_id, unit_id);
  }
  return result;
}

}  // namespace bloodgrid::request
