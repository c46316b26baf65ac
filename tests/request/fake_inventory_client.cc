#include "tests/request/fake_inventory_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status.h"

namespace bloodgrid::request {

void FakeInventoryClient::AddStation(const std::string& station_id) {
  absl::MutexLock lock(&mu_);
  stations_.insert(station_id);
}

void FakeInventoryClient::AddUnit(const std::string& unit_id, const std::string& station_id,
                                  v1::Component component, BloodType type, absl::Time expires_at,
                                  int quantity) {
  absl::MutexLock lock(&mu_);
  v1::Unit u;
  u.set_unit_id(unit_id);
  u.set_din(absl::StrCat("DIN-", unit_id));
  u.set_component(component);
  *u.mutable_blood_type() = type.ToProto();
  u.set_station_id(station_id);
  ToTimestamp(expires_at, u.mutable_expires_at());
  u.set_quantity(quantity);
  u.set_status(v1::UNIT_STATUS_AVAILABLE);
  units_[unit_id] = u;
}

v1::UnitStatus FakeInventoryClient::StatusOf(const std::string& unit_id) const {
  absl::MutexLock lock(&mu_);
  auto it = units_.find(unit_id);
  return it == units_.end() ? v1::UNIT_STATUS_UNSPECIFIED : it->second.status();
}

v1::Reservation FakeInventoryClient::ReservationOf(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  return reservations_.count(key) ? Current(key) : v1::Reservation();
}

void FakeInventoryClient::SetOutage(absl::Status status) {
  absl::MutexLock lock(&mu_);
  outage_ = std::move(status);
}

v1::Reservation FakeInventoryClient::Current(const std::string& key) const {
  v1::Reservation r = reservations_.at(key);
  for (v1::Unit& u : *r.mutable_units()) u = units_.at(u.unit_id());
  return r;
}

absl::StatusOr<v1::Station> FakeInventoryClient::GetStation(const std::string& station_id,
                                                            const CallContext&) {
  absl::MutexLock lock(&mu_);
  BG_RETURN_IF_ERROR(outage_);
  if (stations_.count(station_id) == 0) {
    return absl::NotFoundError(absl::StrCat("station ", station_id, " not found"));
  }
  v1::Station station;
  station.set_station_id(station_id);
  return station;
}

absl::StatusOr<v1::Reservation> FakeInventoryClient::Reserve(const v1::ReserveRequest& request,
                                                             const CallContext&) {
  absl::MutexLock lock(&mu_);
  BG_RETURN_IF_ERROR(outage_);
  if (reservations_.count(request.reservation_key())) return Current(request.reservation_key());
  v1::Reservation r;
  r.set_reservation_key(request.reservation_key());
  r.set_status(v1::RESERVATION_STATUS_HELD);
  r.set_component(request.component());
  r.set_requested_quantity(request.quantity());
  r.set_order_id(request.order_id());
  r.set_hospital_id(request.hospital_id());
  const absl::Time floor = FromTimestamp(request.expiry_floor());
  int reserved = 0;
  for (const v1::CandidateBloodType& candidate : request.candidates()) {
    for (const std::string& station : request.station_ids()) {
      for (auto& [id, unit] : units_) {
        if (reserved >= request.quantity()) break;
        if (unit.status() != v1::UNIT_STATUS_AVAILABLE || unit.station_id() != station ||
            unit.component() != request.component() ||
            unit.blood_type().abo() != candidate.blood_type().abo() ||
            unit.blood_type().rhd() != candidate.blood_type().rhd() ||
            FromTimestamp(unit.expires_at()) < floor) {
          continue;
        }
        unit.set_status(v1::UNIT_STATUS_RESERVED);
        *r.add_units() = unit;
        reserved += unit.quantity();
      }
    }
  }
  r.set_reserved_quantity(reserved);
  reservations_[r.reservation_key()] = r;
  return Current(r.reservation_key());
}

absl::StatusOr<v1::Reservation> FakeInventoryClient::ConfirmReservation(
    const std::string& reservation_key, const CallContext&) {
  absl::MutexLock lock(&mu_);
  BG_RETURN_IF_ERROR(outage_);
  auto it = reservations_.find(reservation_key);
  if (it == reservations_.end()) return absl::NotFoundError("reservation not found");
  if (it->second.status() == v1::RESERVATION_STATUS_HELD) {
    it->second.set_status(v1::RESERVATION_STATUS_CONFIRMED);
  } else if (it->second.status() != v1::RESERVATION_STATUS_CONFIRMED) {
    return absl::FailedPreconditionError("reservation is no longer held");
  }
  return Current(reservation_key);
}

absl::StatusOr<v1::Reservation> FakeInventoryClient::GetReservation(
    const std::string& reservation_key, const CallContext&) {
  absl::MutexLock lock(&mu_);
  BG_RETURN_IF_ERROR(outage_);
  if (reservations_.count(reservation_key) == 0) {
    return absl::NotFoundError("reservation not found");
  }
  return Current(reservation_key);
}

absl::StatusOr<v1::Reservation> FakeInventoryClient::Release(const v1::ReleaseRequest& request,
                                                             const CallContext&) {
  absl::MutexLock lock(&mu_);
  BG_RETURN_IF_ERROR(outage_);
  auto it = reservations_.find(request.reservation_key());
  if (it == reservations_.end()) return absl::NotFoundError("reservation not found");
  const std::set<std::string> only(request.unit_ids().begin(), request.unit_ids().end());
  for (const v1::Unit& u : it->second.units()) {
    v1::Unit& unit = units_.at(u.unit_id());
    if ((only.empty() || only.count(u.unit_id())) && unit.status() == v1::UNIT_STATUS_RESERVED) {
      unit.set_status(v1::UNIT_STATUS_AVAILABLE);
    }
  }
  if (only.empty()) it->second.set_status(v1::RESERVATION_STATUS_RELEASED);
  return Current(request.reservation_key());
}

absl::StatusOr<v1::IssueResponse> FakeInventoryClient::Issue(const v1::IssueRequest& request,
                                                             const CallContext&) {
  absl::MutexLock lock(&mu_);
  BG_RETURN_IF_ERROR(outage_);
  auto it = reservations_.find(request.reservation_key());
  if (it == reservations_.end()) return absl::NotFoundError("reservation not found");
  v1::IssueResponse response;
  for (const std::string& id : request.unit_ids()) {
    v1::Unit& unit = units_.at(id);
    if (unit.status() != v1::UNIT_STATUS_RESERVED && unit.status() != v1::UNIT_STATUS_ISSUED) {
      return absl::FailedPreconditionError(absl::StrCat("unit ", id, " is not reserved"));
    }
    unit.set_status(v1::UNIT_STATUS_ISSUED);
    *response.add_units() = unit;
  }
  it->second.set_status(v1::RESERVATION_STATUS_ISSUED);
  *response.mutable_reservation() = Current(request.reservation_key());
  return response;
}

absl::StatusOr<v1::Unit> FakeInventoryClient::RecordOutcome(const v1::RecordOutcomeRequest& request,
                                                            const CallContext&) {
  absl::MutexLock lock(&mu_);
  BG_RETURN_IF_ERROR(outage_);
  auto it = units_.find(request.unit_id());
  if (it == units_.end()) return absl::NotFoundError("unit not found");
  it->second.set_status(request.outcome() == v1::TRANSFUSION_OUTCOME_RETURNED
                            ? v1::UNIT_STATUS_RETURNED
                            : v1::UNIT_STATUS_TRANSFUSED);
  return it->second;
}

absl::StatusOr<v1::Transfer> FakeInventoryClient::CreateTransfer(const v1::CreateTransferRequest&,
                                                                 const CallContext&) {
  return absl::FailedPreconditionError("transfers are not modelled by the fake");
}

absl::StatusOr<v1::Transfer> FakeInventoryClient::CancelTransfer(const v1::CancelTransferRequest&,
                                                                 const CallContext&) {
  return absl::FailedPreconditionError("transfers are not modelled by the fake");
}

absl::Status FakeInventoryClient::WatchStock(const v1::WatchStockRequest&,
                                             const std::function<void(const v1::StockEvent&)>&,
                                             WatchCancellation*) {
  return absl::CancelledError("the fake has no stock stream");
}

}  // namespace bloodgrid::request
