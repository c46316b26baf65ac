// A change feed consumer's durable cursor (DESIGN.md "Change feeds instead of chained calls"):
// the last sequence of another service's feed that this service has applied, kept in its own
// schema (table feed_cursors, created by each service's migrations).
//
// A consumer applies an event and saves the cursor in the same transaction when it can; when
// the apply is a call of its own operations (its own transaction), the apply must be
// idempotent on the event's sequence, because a crash between the apply and the save repeats
// that event after a restart. The cursor never moves back.
//
// Meant to run inside RunTransaction (may throw sql::SQLException). Not thread-safe.
#ifndef BLOODGRID_COMMON_FEED_CURSOR_H_
#define BLOODGRID_COMMON_FEED_CURSOR_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mysql_pool.h"

namespace bloodgrid::db {

// The consumer's cursor for `feed`: 0 when it has none yet. With `for_update`, the row is
// locked (created if missing) so two replicas of a consumer serialise on it.
uint64_t LoadFeedCursor(Connection& conn, absl::string_view feed, bool for_update = false);

// Moves the cursor of `feed` forward to `after_sequence`; an older value leaves it as it is.
void SaveFeedCursor(Connection& conn, absl::string_view feed, uint64_t after_sequence,
                    absl::Time now);

}  // namespace bloodgrid::db

#endif  // BLOODGRID_COMMON_FEED_CURSOR_H_
