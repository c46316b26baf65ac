#include "request_service/request_store.h"

namespace bloodgrid::request {

bool OrderChange::empty() const {
  return !status.has_value() && !status_reason.has_value() && !review_reason.has_value() &&
         !dispatch_intent.has_value() && !allow_partial.has_value() && !delivered_at.has_value() &&
         !received_by.has_value() && new_reservations.empty() && reservation_states.empty() &&
         new_allocations.empty() && withdrawn_unit_ids.empty() && outcomes.empty() &&
         unit_transfer_ids.empty() && unit_station_ids.empty() && close_lines_short.empty() &&
         new_exceptions.empty() && !review.has_value() && !follow_up.has_value();
}

}  // namespace bloodgrid::request
