// Helpers shared by the unit lifecycle decisions (unit_lifecycle.cc, unit_movements.cc); not
// part of the rules' contract.
#ifndef BLOODGRID_INVENTORY_SERVICE_UNIT_CHANGE_H_
#define BLOODGRID_INVENTORY_SERVICE_UNIT_CHANGE_H_

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "bloodgrid/v1/inventory.pb.h"
#include "inventory_service/inventory_rules.h"

namespace bloodgrid::inventory::internal {

// The change to `after` with its event; only a QUARANTINED unit keeps a hold.
inline UnitChange Change(StoredUnit after, UnitEventDraft event) {
  if (after.unit.status() != v1::UNIT_STATUS_QUARANTINED)
    after.unit.set_hold(v1::UNIT_HOLD_UNSPECIFIED);
  UnitChange change;
  change.after = std::move(after);
  change.event = std::move(event);
  return change;
}

inline std::string WithoutPrefix(std::string name, absl::string_view prefix) {
  absl::string_view view = name;
  absl::ConsumePrefix(&view, prefix);
  return std::string(view);
}

// Alert for a unit a lookback, a reactive result, an expiry or a receipt took from its
// reservation.
inline v1::StockAlert WithdrawnAlert(const v1::Unit& unit, const std::string& reservation_key) {
  v1::StockAlert alert;
  alert.set_kind(v1::STOCK_ALERT_KIND_RESERVED_UNIT_WITHDRAWN);
  alert.set_station_id(unit.station_id());
  alert.set_component(unit.component());
  *alert.mutable_blood_type() = unit.blood_type();
  alert.add_unit_ids(unit.unit_id());
  alert.set_reservation_key(reservation_key);
  alert.set_message(
      absl::StrCat("unit ", unit.unit_id(), " withdrawn from reservation ", reservation_key));
  return alert;
}

}  // namespace bloodgrid::inventory::internal

#endif  // BLOODGRID_INVENTORY_SERVICE_UNIT_CHANGE_H_
