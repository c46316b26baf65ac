// The order-settling decisions of request_rules.h ("Settling an order").
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hash.h"
#include "common/proto_time.h"
#include "common/status.h"
#include "request_service/request_rules.h"

namespace bloodgrid::request {
namespace {

int NextAttempt(const OrderRecord& record, int line_no) {
  int attempt = 0;
  for (const ReservationRecord& r : record.reservations) {
    if (r.line_no == line_no) attempt = std::max(attempt, r.attempt);
  }
  return attempt + 1;
}

int PhaseCount(const AllocationPass& pass, int line_no) {
  auto it = pass.phase_count.find(line_no);
  return it == pass.phase_count.end() ? 0 : it->second;
}

std::string ComponentName(v1::Component component) {
  absl::StatusOr<ComponentInfo> info = LookupComponent(component);
  return info.ok() ? std::string(info->name) : "unknown component";
}

std::string MeasureOf(v1::Component component) {
  absl::StatusOr<ComponentInfo> info = LookupComponent(component);
  return info.ok() ? std::string(OrderingMeasureSymbol(info->measure)) : "";
}

std::string DescribePatient(const Recipient& recipient) {
  std::string sex = recipient.sex == v1::SEX_MALE     ? "male"
                    : recipient.sex == v1::SEX_FEMALE ? "female"
                                                      : "sex unknown";
  std::string age =
      recipient.age_years.has_value() ? absl::StrCat(*recipient.age_years) : "age unknown";
  return absl::StrCat(sex, ", ", age);
}

BloodType TypeOf(const v1::BloodType& proto) { return BloodType{proto.abo(), proto.rhd()}; }

// The order's lines with `extra` added to their allocated quantities.
std::vector<v1::OrderLine> LinesWith(const v1::Order& order, const std::map<int, int>& extra) {
  std::vector<v1::OrderLine> lines(order.lines().begin(), order.lines().end());
  for (v1::OrderLine& line : lines) {
    auto it = extra.find(line.line_no());
    if (it != extra.end()) line.set_allocated_quantity(line.allocated_quantity() + it->second);
  }
  return lines;
}

// "<transfer>: <from> -> <to> (<DINs>)" for each transfer, for an order event.
std::string DescribeTransfers(const std::vector<v1::Transfer>& transfers) {
  std::vector<std::string> parts;
  for (const v1::Transfer& t : transfers) {
    std::vector<std::string> dins;
    for (const v1::Unit& u : t.units()) dins.push_back(u.din());
    parts.push_back(absl::StrCat(t.transfer_id(), ": ", t.from_station_id(), " -> ",
                                 t.to_station_id(), " (", absl::StrJoin(dins, ", "), ")"));
  }
  return absl::StrJoin(parts, "; ");
}

AllocationRecord AllocationOf(const ReservationRecord& r, const v1::Unit& unit,
                              const UnitDeviation& deviation) {
  AllocationRecord a;
  a.line_no = r.line_no;
  a.reservation_key = r.key;
  a.unit.set_unit_id(unit.unit_id());
  a.unit.set_din(unit.din());
  a.unit.set_component(unit.component());
  *a.unit.mutable_blood_type() = unit.blood_type();
  a.unit.set_station_id(unit.station_id());
  *a.unit.mutable_expires_at() = unit.expires_at();
  a.unit.set_quantity(unit.quantity());
  a.unit.set_transfer_id(unit.transfer_id());
  a.unit.set_exception(deviation.marks_unit());
  return a;
}

}  // namespace

bool HasPendingReservation(const OrderRecord& record) {
  return std::any_of(
      record.reservations.begin(), record.reservations.end(),
      [](const ReservationRecord& r) { return r.state == ReservationState::kPending; });
}

std::string RecordedBy(const v1::Order& order, const std::string& actor) {
  return order.approvals().physician().empty() ? actor : order.approvals().physician();
}

v1::OrderException MakeOrderException(v1::OrderExceptionKind kind, int line_no, std::string din,
                                      std::string message, std::string recorded_by,
                                      absl::Time now) {
  v1::OrderException e;
  e.set_kind(kind);
  e.set_line_no(line_no);
  e.set_din(std::move(din));
  e.set_message(std::move(message));
  e.set_recorded_by(std::move(recorded_by));
  ToTimestamp(now, e.mutable_recorded_at());
  return e;
}

bool IsLiveReservation(ReservationState state) {
  return state == ReservationState::kPending || state == ReservationState::kReserved ||
         state == ReservationState::kConfirmed;
}

absl::Status CheckOwner(const v1::Order& order, const std::string& hospital_id) {
  if (!hospital_id.empty() && hospital_id != order.hospital_id()) {
    return absl::PermissionDeniedError(
        absl::StrCat("order ", order.order_id(), " belongs to another hospital"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ReservationRecord> NewReservationIntent(const v1::Order& order, int line_no,
                                                       int attempt, int phase, int quantity,
                                                       const std::vector<std::string>& stations,
                                                       const v1::PolicyProfile& policy,
                                                       absl::Duration transport_time,
                                                       absl::Time now) {
  const v1::OrderLine* line = nullptr;
  for (const v1::OrderLine& l : order.lines()) {
    if (l.line_no() == line_no) line = &l;
  }
  if (line == nullptr) return absl::InternalError("order line not found");
  const Recipient recipient = RecipientOf(order.patient(), order.priority());
  BG_ASSIGN_OR_RETURN(AllocationPlan plan,
                      PlanAllocation(line->component(), recipient, order.priority(), policy));
  if (phase < 0 || phase >= static_cast<int>(plan.phases.size())) {
    return absl::InternalError("allocation phase out of range");
  }
  ReservationRecord r;
  r.key = ReservationKey(order.order_id(), line_no, attempt);
  r.line_no = line_no;
  r.attempt = attempt;
  r.phase = phase;
  r.state = ReservationState::kPending;
  r.component = line->component();
  r.quantity = quantity;
  for (const DonorCandidate& c : plan.phases[phase].candidates) {
    r.candidates.push_back({c.donor, c.tier - 1});  // inventory tiers start at 0
  }
  r.station_ids = stations;
  const absl::Time needed =
      order.has_needed_by() ? std::max(FromTimestamp(order.needed_by()), now) : now;
  r.expiry_floor = needed + transport_time;
  r.rhd_exception = plan.phases[phase].rhd_positive_exception;
  return r;
}

absl::StatusOr<OrderChange> DecideReservationIntents(const OrderRecord& current,
                                                     const AllocationPass& pass, absl::Time now) {
  OrderChange change;
  if (!IsAllocatable(current.order.status()) || current.dispatch_intent) return change;
  if (HasPendingReservation(current)) return change;
  for (const v1::OrderLine& line : current.order.lines()) {
    const int shortfall = line.quantity() - line.allocated_quantity();
    auto phase = pass.next_phase.find(line.line_no());
    const int p = phase == pass.next_phase.end() ? 0 : phase->second;
    if (shortfall <= 0 || p >= PhaseCount(pass, line.line_no())) continue;
    BG_ASSIGN_OR_RETURN(
        ReservationRecord r,
        NewReservationIntent(current.order, line.line_no(), NextAttempt(current, line.line_no()), p,
                             shortfall, pass.stations, *pass.policy, pass.transport_time, now));
    change.new_reservations.push_back(std::move(r));
  }
  if (change.new_reservations.empty() && current.order.status() == v1::ORDER_STATUS_RECEIVED) {
    change.status = SettledStatus(LinesWith(current.order, {}));
  }
  return change;
}

OrderChange DecideReservedUnits(const OrderRecord& current,
                                const std::map<std::string, v1::Reservation>& reserved,
                                const AllocationPass& pass, const std::string& actor,
                                absl::Time now) {
  OrderChange change;
  std::vector<const ReservationRecord*> mine;
  for (const ReservationRecord& r : current.reservations) {
    if (r.state == ReservationState::kPending && reserved.count(r.key) > 0) mine.push_back(&r);
  }
  if (!IsAllocatable(current.order.status()) || current.dispatch_intent) {
    for (const ReservationRecord* r : mine) {
      change.reservation_states.emplace_back(r->key, ReservationState::kAbandoned);
    }
    return change;
  }
  const v1::Order& order = current.order;
  const Recipient recipient = RecipientOf(order.patient(), order.priority());
  std::set<std::string> held;
  for (const AllocationRecord& a : current.allocations) {
    if (!a.withdrawn) held.insert(a.unit.unit_id());
  }
  std::map<int, int> added;
  std::map<int, std::set<std::string>> non_identical;  // line -> types given
  std::map<int, std::set<std::string>> emergency;      // line -> types given
  for (const ReservationRecord* r : mine) {
    const v1::Reservation& reservation = reserved.at(r->key);
    if (reservation.status() == v1::RESERVATION_STATUS_EXPIRED ||
        reservation.status() == v1::RESERVATION_STATUS_RELEASED) {
      change.reservation_states.emplace_back(r->key, ReservationState::kReleased);
      continue;
    }
    int units = 0;
    for (const v1::Unit& unit : reservation.units()) {
      if (unit.status() != v1::UNIT_STATUS_RESERVED || held.count(unit.unit_id())) continue;
      ++units;
      const BloodType type = TypeOf(unit.blood_type());
      const UnitDeviation deviation = AssessUnit(r->component, recipient, type);
      added[r->line_no] += unit.quantity();
      if (deviation.rhd_positive_for_negative) {
        change.new_exceptions.push_back(MakeOrderException(
            v1::ORDER_EXCEPTION_KIND_RHD_POSITIVE_FOR_RHD_NEGATIVE, r->line_no, unit.din(),
            absl::StrCat(type.ToString(), " ", ComponentName(r->component), " from ",
                         unit.station_id(), " for an ",
                         recipient.blood_type.IsUnknown() ? "untyped" : "RhD-negative",
                         " patient (", DescribePatient(recipient), ", EMERGENCY): ",
                         r->phase > 0 ? absl::StrCat("no RhD-negative bag at any of ",
                                                     absl::StrJoin(r->station_ids, ", "))
                                      : absl::StrCat("RhD-negative short at ", unit.station_id())),
            RecordedBy(order, actor), now));
      }
      if (deviation.emergency_unknown_type) {
        emergency[r->line_no].insert(type.ToString());
      } else if (deviation.abo_non_identical) {
        non_identical[r->line_no].insert(type.ToString());
      }
      change.new_allocations.push_back(AllocationOf(*r, unit, deviation));
    }
    change.reservation_states.emplace_back(
        r->key, units > 0 ? ReservationState::kReserved : ReservationState::kEmpty);
  }
  for (const auto& [line_no, types] : emergency) {
    change.new_exceptions.push_back(
        MakeOrderException(v1::ORDER_EXCEPTION_KIND_EMERGENCY_UNKNOWN_BLOOD_TYPE, line_no, "",
                           absl::StrCat("emergency release of ", absl::StrJoin(types, ", "),
                                        " for an untyped patient"),
                           RecordedBy(order, actor), now));
  }
  for (const auto& [line_no, types] : non_identical) {
    change.new_exceptions.push_back(
        MakeOrderException(v1::ORDER_EXCEPTION_KIND_ABO_NON_IDENTICAL, line_no, "",
                           absl::StrCat(recipient.blood_type.ToString(),
                                        " short: ", absl::StrJoin(types, ", "), " given"),
                           RecordedBy(order, actor), now));
  }
  // A line still short whose next phase (the RhD-positive last resort) follows in this pass
  // keeps a RECEIVED order RECEIVED until that phase is done.
  const std::vector<v1::OrderLine> lines = LinesWith(order, added);
  bool more = false;
  for (const ReservationRecord* r : mine) {
    for (const v1::OrderLine& line : lines) {
      if (line.line_no() == r->line_no && line.allocated_quantity() < line.quantity() &&
          r->phase + 1 < PhaseCount(pass, r->line_no)) {
        more = true;
      }
    }
  }
  if (!(order.status() == v1::ORDER_STATUS_RECEIVED && more)) {
    const v1::OrderStatus settled = SettledStatus(lines);
    if (settled != order.status()) change.status = settled;
  }
  if (!change.new_allocations.empty()) {
    change.event_kind = "UNITS_ALLOCATED";
    std::vector<std::string> dins;
    for (const AllocationRecord& a : change.new_allocations) {
      dins.push_back(absl::StrCat(a.unit.din(), " (line ", a.line_no, ")"));
    }
    change.event_note = absl::StrJoin(dins, ", ");
  }
  return change;
}

void TransferFacts::Add(TransferFacts other) {
  for (auto& t : other.transfer_ids) transfer_ids.push_back(std::move(t));
  for (auto& s : other.station_ids) station_ids.push_back(std::move(s));
  for (v1::Transfer& t : other.created) created.push_back(std::move(t));
}

void WithdrawUnits(const OrderRecord& current, const std::set<std::string>& unit_ids,
                   OrderChange& change) {
  std::map<int, int> removed;
  for (const AllocationRecord& a : current.allocations) {
    if (a.withdrawn || unit_ids.count(a.unit.unit_id()) == 0) continue;
    change.withdrawn_unit_ids.push_back(a.unit.unit_id());
    removed[a.line_no] -= a.unit.quantity();
  }
  const v1::OrderStatus status = current.order.status();
  if (status == v1::ORDER_STATUS_ALLOCATED || status == v1::ORDER_STATUS_PARTIALLY_ALLOCATED) {
    const v1::OrderStatus settled = SettledStatus(LinesWith(current.order, removed));
    if (settled != status) change.status = settled;
  }
}

OrderChange DecideSettledReservations(const OrderRecord& current,
                                      const std::set<std::string>& confirmed,
                                      const std::set<std::string>& released,
                                      const std::set<std::string>& lapsed,
                                      const TransferFacts& facts) {
  OrderChange change;
  std::set<std::string> lapsed_units;
  for (const ReservationRecord& r : current.reservations) {
    if (r.state == ReservationState::kReserved && confirmed.count(r.key)) {
      change.reservation_states.emplace_back(r.key, ReservationState::kConfirmed);
    } else if (r.state == ReservationState::kAbandoned && released.count(r.key)) {
      change.reservation_states.emplace_back(r.key, ReservationState::kReleased);
    } else if (r.state == ReservationState::kReserved && lapsed.count(r.key)) {
      change.reservation_states.emplace_back(r.key, ReservationState::kReleased);
      for (const AllocationRecord& a : current.allocations) {
        if (a.reservation_key == r.key && !a.withdrawn) lapsed_units.insert(a.unit.unit_id());
      }
    }
  }
  // Inventory's facts, recorded whatever became of the order meanwhile.
  change.unit_transfer_ids = facts.transfer_ids;
  change.unit_station_ids = facts.station_ids;
  if (!lapsed_units.empty()) {
    WithdrawUnits(current, lapsed_units, change);
    change.event_kind = "HOLD_LAPSED";
    change.event_note = absl::StrCat(lapsed_units.size(), " unit(s) lost: the reservation lapsed");
  } else if (!facts.created.empty()) {
    change.event_kind = "TRANSFER_PLANNED";
    change.event_note = DescribeTransfers(facts.created);
  }
  change.read_back = false;  // only the write matters here
  return change;
}

OrderChange DecideVerifiedAllocations(const OrderRecord& current,
                                      const std::map<std::string, std::string>& withdrawn,
                                      const TransferFacts& facts, const std::string& actor,
                                      absl::Time now) {
  OrderChange change;
  change.unit_transfer_ids = facts.transfer_ids;
  change.unit_station_ids = facts.station_ids;
  std::set<std::string> units;
  for (const AllocationRecord& a : current.allocations) {
    auto it = withdrawn.find(a.unit.unit_id());
    if (a.withdrawn || it == withdrawn.end()) continue;
    units.insert(a.unit.unit_id());
    change.new_exceptions.push_back(MakeOrderException(
        v1::ORDER_EXCEPTION_KIND_UNIT_WITHDRAWN, a.line_no, a.unit.din(),
        absl::StrCat("unit ", a.unit.din(), " withdrawn: ", it->second), actor, now));
  }
  if (!units.empty()) {
    WithdrawUnits(current, units, change);
    change.event_kind = "UNITS_WITHDRAWN";
  } else if (!facts.created.empty()) {
    change.event_kind = "TRANSFER_PLANNED";
    change.event_note = DescribeTransfers(facts.created);
  }
  return change;
}

absl::StatusOr<OrderChange> DecideCancel(const OrderRecord& current, const std::string& hospital_id,
                                         const std::string& reason) {
  OrderChange change;
  BG_RETURN_IF_ERROR(CheckOwner(current.order, hospital_id));
  const v1::OrderStatus status = current.order.status();
  if (status == v1::ORDER_STATUS_CANCELLED) return change;
  if (current.dispatch_intent) {
    return absl::FailedPreconditionError(absl::StrCat(
        "order is ", StatusName(status), " with its dispatch under way: it cannot be cancelled"));
  }
  if (!IsCancellable(status)) {
    return absl::FailedPreconditionError(
        absl::StrCat("order is ", StatusName(status), ": it cannot be cancelled"));
  }
  change.status = v1::ORDER_STATUS_CANCELLED;
  change.status_reason = reason;
  change.event_note = reason;
  for (const ReservationRecord& r : current.reservations) {
    if (IsLiveReservation(r.state)) {
      change.reservation_states.emplace_back(r.key, ReservationState::kAbandoned);
    }
  }
  return change;
}

absl::StatusOr<OrderChange> DecideReview(const OrderRecord& current,
                                         const v1::ReviewOrderRequest& request, absl::Time now) {
  OrderChange change;
  const v1::Order& order = current.order;
  if (order.reviews_size() > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("order ", order.order_id(), " was already reviewed"));
  }
  v1::OrderReview review;
  review.set_approve(request.approve());
  review.set_reviewer(request.reviewer());
  review.set_note(request.note());
  ToTimestamp(now, review.mutable_reviewed_at());
  if (order.status() == v1::ORDER_STATUS_IN_REVIEW) {
    change.status = request.approve() ? v1::ORDER_STATUS_RECEIVED : v1::ORDER_STATUS_REJECTED;
    if (!request.approve()) change.status_reason = request.note();
    change.event_kind = request.approve() ? "APPROVED" : "REJECTED";
    change.event_note = request.note();
    change.review = review;
    return change;
  }
  const bool flagged = std::any_of(
      order.exceptions().begin(), order.exceptions().end(), [](const v1::OrderException& e) {
        return e.kind() == v1::ORDER_EXCEPTION_KIND_INDICATION_NOT_MET ||
               e.kind() == v1::ORDER_EXCEPTION_KIND_APPROVAL_MISSING;
      });
  if (order.priority() != v1::PRIORITY_ROUTINE && flagged) {
    review.set_retrospective(true);
    change.review = review;
    change.event_kind = "RETROSPECTIVE_REVIEW";
    change.event_note = absl::StrCat(request.approve() ? "justified" : "not justified",
                                     request.note().empty() ? "" : ": ", request.note());
    return change;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("order is ", StatusName(order.status()),
                   " and carries no indication flag: nothing to review"));
}

absl::Status CheckDispatchable(const OrderRecord& record, bool allow_partial) {
  const v1::OrderStatus status = record.order.status();
  if (status == v1::ORDER_STATUS_ALLOCATED) return absl::OkStatus();
  if (status == v1::ORDER_STATUS_PARTIALLY_ALLOCATED) {
    if (allow_partial) return absl::OkStatus();
    return absl::FailedPreconditionError(
        "order is PARTIALLY_ALLOCATED: dispatch it with allow_partial or wait for the "
        "back-order");
  }
  return absl::FailedPreconditionError(
      absl::StrCat("order is ", StatusName(status), ": it cannot be dispatched"));
}

absl::StatusOr<OrderChange> DecideDispatchStart(const OrderRecord& current, bool allow_partial) {
  OrderChange change;
  if (current.dispatch_intent || current.order.status() == v1::ORDER_STATUS_DISPATCHED) {
    return change;
  }
  BG_RETURN_IF_ERROR(CheckDispatchable(current, allow_partial));
  change.dispatch_intent = true;
  change.allow_partial = allow_partial;
  change.event_kind = "DISPATCH_STARTED";
  return change;
}

OrderChange DecideDispatchFailed(const OrderRecord& current, const std::string& message) {
  OrderChange change;
  if (!current.dispatch_intent) return change;
  change.dispatch_intent = false;
  change.event_kind = "DISPATCH_FAILED";
  change.event_note = message;
  return change;
}

absl::StatusOr<OrderChange> DecideDispatched(const OrderRecord& current,
                                             const std::string& follow_up_order_id,
                                             const AllocationPass& pass, const std::string& actor,
                                             absl::Time now) {
  OrderChange change;
  const v1::Order& o = current.order;
  if (o.status() == v1::ORDER_STATUS_DISPATCHED) return change;
  if (!current.dispatch_intent) {
    return absl::FailedPreconditionError(
        absl::StrCat("order is ", StatusName(o.status()), ": no dispatch under way"));
  }
  change.status = v1::ORDER_STATUS_DISPATCHED;
  change.dispatch_intent = false;
  change.event_kind = "DISPATCHED";
  std::set<std::string> issued_keys;
  for (const AllocationRecord& a : current.allocations) {
    if (!a.withdrawn) issued_keys.insert(a.reservation_key);
  }
  for (const std::string& k : issued_keys) {
    change.reservation_states.emplace_back(k, ReservationState::kIssued);
  }
  for (const v1::OrderLine& line : o.lines()) {
    if (line.allocated_quantity() >= line.quantity()) continue;
    change.close_lines_short.push_back(line.line_no());
    change.new_exceptions.push_back(MakeOrderException(
        v1::ORDER_EXCEPTION_KIND_SHORT_DISPATCHED, line.line_no(), "",
        absl::StrCat(ComponentName(line.component()), ": ", line.allocated_quantity(), " of ",
                     line.quantity(), " ", MeasureOf(line.component()), " dispatched"),
        actor, now));
  }
  if (o.massive_transfusion()) {
    // The next round of the protocol, placed now (DOMAIN.md section 8).
    OrderRecord next;
    v1::Order& n = next.order;
    n.set_order_id(follow_up_order_id);
    n.set_hospital_id(o.hospital_id());
    n.set_request_id(absl::StrCat("mt:", o.massive_transfusion_id(), ":round:", o.round() + 1));
    n.set_status(v1::ORDER_STATUS_RECEIVED);
    *n.mutable_patient() = o.patient();
    n.set_priority(o.priority());
    n.set_indication(o.indication());
    *n.mutable_approvals() = o.approvals();
    n.set_ward(o.ward());
    n.set_massive_transfusion(true);
    n.set_massive_transfusion_id(o.massive_transfusion_id());
    n.set_round(o.round() + 1);
    next.request_hash = Fnv1a64Hex(n.request_id());
    for (const v1::OrderLine& line : o.lines()) {
      v1::OrderLine* l = n.add_lines();
      l->set_line_no(line.line_no());
      l->set_component(line.component());
      l->set_quantity(line.quantity());
    }
    for (const v1::OrderLine& line : n.lines()) {
      BG_ASSIGN_OR_RETURN(
          ReservationRecord r,
          NewReservationIntent(n, line.line_no(), 1, 0, line.quantity(), pass.stations,
                               *pass.policy, pass.transport_time, now));
      next.reservations.push_back(std::move(r));
    }
    change.follow_up = std::move(next);
  }
  return change;
}

absl::StatusOr<OrderChange> DecideDelivery(const OrderRecord& current,
                                           const std::string& hospital_id, absl::Time received_at,
                                           const std::string& received_by) {
  OrderChange change;
  BG_RETURN_IF_ERROR(CheckOwner(current.order, hospital_id));
  const v1::OrderStatus status = current.order.status();
  if (status == v1::ORDER_STATUS_DELIVERED || status == v1::ORDER_STATUS_COMPLETED) {
    return change;
  }
  if (status != v1::ORDER_STATUS_DISPATCHED) {
    return absl::FailedPreconditionError(
        absl::StrCat("order is ", StatusName(status), ": it was not dispatched"));
  }
  change.status = v1::ORDER_STATUS_DELIVERED;
  change.delivered_at = received_at;
  change.received_by = received_by;
  change.event_note = received_by;
  return change;
}

absl::StatusOr<const AllocationRecord*> FindReportedUnit(const OrderRecord& record,
                                                         const std::string& din,
                                                         v1::Component component) {
  std::vector<const AllocationRecord*> matches;
  for (const AllocationRecord& a : record.allocations) {
    if (a.withdrawn || a.unit.din() != din) continue;
    if (component != v1::COMPONENT_UNSPECIFIED && a.unit.component() != component) continue;
    matches.push_back(&a);
  }
  if (matches.empty()) {
    return InvalidField("din", absl::StrCat(din, " is not on order ", record.order.order_id()));
  }
  if (matches.size() > 1) {
    return InvalidField("component", absl::StrCat("order holds several units with DIN ", din,
                                                  ": give the component"));
  }
  return matches[0];
}

bool SameOutcome(v1::TransfusionOutcome recorded, v1::TransfusionOutcome reported) {
  if (recorded == v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED) {
    recorded = v1::TRANSFUSION_OUTCOME_TRANSFUSED;
  }
  return recorded == reported;
}

absl::StatusOr<OrderChange> DecideTransfusionReport(const OrderRecord& current,
                                                    const v1::ReportTransfusionRequest& request,
                                                    const std::string& din, absl::Time at,
                                                    absl::Time now) {
  OrderChange change;
  BG_ASSIGN_OR_RETURN(const AllocationRecord* a,
                      FindReportedUnit(current, din, request.component()));
  OrderChange::UnitOutcome outcome;
  outcome.unit_id = a->unit.unit_id();
  if (a->unit.outcome() == v1::TRANSFUSION_OUTCOME_UNSPECIFIED) {
    outcome.outcome = request.outcome();
    outcome.at = at;
  } else if (SameOutcome(a->unit.outcome(), request.outcome())) {
    outcome.outcome = a->unit.outcome();
    outcome.at = FromTimestamp(a->unit.outcome_at());
  } else {
    return absl::FailedPreconditionError(
        absl::StrCat("unit ", a->unit.din(), " was already reported ",
                     v1::TransfusionOutcome_Name(a->unit.outcome())));
  }
  const bool new_outcome = a->unit.outcome() == v1::TRANSFUSION_OUTCOME_UNSPECIFIED;
  const bool new_reaction = request.has_adverse_reaction() && !a->unit.has_adverse_reaction();
  if (!new_outcome && !new_reaction) return change;  // a repeat: nothing new
  if (new_reaction) outcome.adverse_reaction = request.adverse_reaction();
  change.outcomes.push_back(outcome);
  change.event_kind = new_outcome ? "OUTCOME_REPORTED" : "ADVERSE_REACTION_ADDED";
  change.event_note =
      absl::StrCat(a->unit.din(), ": ", v1::TransfusionOutcome_Name(outcome.outcome));
  bool all = true;
  for (const AllocationRecord& other : current.allocations) {
    if (other.withdrawn || other.unit.unit_id() == a->unit.unit_id()) continue;
    if (other.unit.outcome() == v1::TRANSFUSION_OUTCOME_UNSPECIFIED) all = false;
  }
  const v1::OrderStatus s = current.order.status();
  if (all && s != v1::ORDER_STATUS_COMPLETED) {
    change.status = v1::ORDER_STATUS_COMPLETED;
  } else if (s == v1::ORDER_STATUS_DISPATCHED) {
    change.status = v1::ORDER_STATUS_DELIVERED;  // a report implies delivery
  }
  if (s == v1::ORDER_STATUS_DISPATCHED) change.delivered_at = now;
  return change;
}

OrderChange DecidePresumedTransfusion(const OrderRecord& current, const std::string& unit_id,
                                      absl::Time now) {
  OrderChange change;
  bool found = false;
  bool all = true;
  for (const AllocationRecord& a : current.allocations) {
    if (a.withdrawn) continue;
    if (a.unit.unit_id() == unit_id && a.unit.outcome() == v1::TRANSFUSION_OUTCOME_UNSPECIFIED) {
      found = true;
    } else if (a.unit.outcome() == v1::TRANSFUSION_OUTCOME_UNSPECIFIED) {
      all = false;
    }
  }
  if (!found) return change;
  change.outcomes.push_back(
      {unit_id, v1::TRANSFUSION_OUTCOME_PRESUMED_TRANSFUSED, now, std::nullopt});
  change.event_kind = "PRESUMED_TRANSFUSED";
  change.event_note = unit_id;
  if (all) change.status = v1::ORDER_STATUS_COMPLETED;
  return change;
}

}  // namespace bloodgrid::request
