-- BloodGrid inventory schema, version 1: stations and par levels, donations and their test
-- results, units and their events, reservations, transfers, and request_id idempotency.
--
-- Conventions:
--  * Instants are BIGINT microseconds since the Unix epoch, UTC (columns named *_us): exact,
--    free of session time zones, and beyond 2038 (frozen plasma keeps for years).
--  * Enums are TINYINT holding the bloodgrid.v1 enum numbers (common.proto, inventory.proto,
--    policy.proto); 0 is the *_UNSPECIFIED value.
--  * Text is utf8mb4 with binary collation: ids compare exactly, as the service compares them.
--  * Invariant kept by the service: an AVAILABLE unit has no reservation_key and no
--    transfer_id, so "available" alone means "held by nothing".
--
-- Every query the service runs is served by one of the indexes below; each index says which.

-- request_id idempotency (common/idempotency.h); the primary key serves its lookups.
CREATE TABLE idempotency_keys (
  scope VARCHAR(64) NOT NULL,
  request_id VARCHAR(128) NOT NULL,
  request_hash CHAR(16) NOT NULL,
  response MEDIUMBLOB NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (scope, request_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Stations; looked up and listed by the primary key.
CREATE TABLE stations (
  station_id VARCHAR(32) NOT NULL,
  name VARCHAR(100) NOT NULL,
  kind TINYINT NOT NULL,
  latitude DOUBLE NULL,
  longitude DOUBLE NULL,
  address VARCHAR(300) NOT NULL DEFAULT '',
  active TINYINT NOT NULL,
  created_us BIGINT NOT NULL,
  updated_us BIGINT NOT NULL,
  PRIMARY KEY (station_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Par levels; the primary key serves the upsert, the per-station listing and the stock views
-- (which read them by station, or all of them).
CREATE TABLE par_levels (
  station_id VARCHAR(32) NOT NULL,
  component TINYINT NOT NULL,
  abo TINYINT NOT NULL,
  rhd TINYINT NOT NULL,
  minimum BIGINT NOT NULL,
  target BIGINT NOT NULL,
  updated_us BIGINT NOT NULL,
  PRIMARY KEY (station_id, component, abo, rhd),
  CONSTRAINT fk_par_levels_station FOREIGN KEY (station_id) REFERENCES stations (station_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per DIN (a collection). RecordTestResults locks it (FOR UPDATE, primary key) so results
-- for one donation are derived one call at a time.
--  idx_donations_donor: the lookback's "the donor's donations before the reactive one, newest
--    first" (donor_id = ? AND collected_us < ? ORDER BY collected_us DESC).
CREATE TABLE donations (
  din CHAR(13) NOT NULL,
  donor_id VARCHAR(64) NOT NULL,
  donation_type TINYINT NOT NULL,
  station_id VARCHAR(32) NOT NULL,
  collected_us BIGINT NOT NULL,
  collected_abo TINYINT NOT NULL,
  collected_rhd TINYINT NOT NULL,
  testing_outcome TINYINT NOT NULL,
  created_us BIGINT NOT NULL,
  PRIMARY KEY (din),
  KEY idx_donations_donor (donor_id, collected_us)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Immutable test result records; a correction is a new row that marks the old one superseded.
--  idx_test_results_din: every record of a DIN in recorded order (din = ? ORDER BY result_id).
CREATE TABLE test_results (
  result_id BIGINT NOT NULL AUTO_INCREMENT,
  din CHAR(13) NOT NULL,
  test TINYINT NOT NULL,
  reactive TINYINT NOT NULL,
  abo TINYINT NOT NULL DEFAULT 0,
  rhd TINYINT NOT NULL DEFAULT 0,
  tested_us BIGINT NOT NULL,
  recorded_us BIGINT NOT NULL,
  recorded_by VARCHAR(160) NOT NULL,
  corrects_result_id BIGINT NULL,
  correction_reason VARCHAR(1000) NOT NULL DEFAULT '',
  superseded TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (result_id),
  KEY idx_test_results_din (din, result_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One physical bag. unit_id is "<DIN>-<component code><division>" (inventory_logic.h UnitIdFor).
--  uk_units_din: a DIN's units (din = ?), collected unit first, then components by division;
--    also guarantees one unit per DIN x component x division.
--  idx_units_reserve: Reserve's candidate query, exactly:
--    status = AVAILABLE AND component = ? AND abo = ? AND rhd = ? AND station_id = ?
--    AND expires_us > ? ORDER BY expires_us, unit_id LIMIT ?
--    (InnoDB appends the primary key, so the scan is already in (expires_us, unit_id) order),
--    and transfer lots (same shape), and the in-transit rows of the stock views (status = ?).
--  idx_units_status_expiry: the expiry sweeper (status = ? AND expires_us <= ?) and ListUnits
--    with a status filter (ordered by expires_us, unit_id).
--  idx_units_station: the stock views per station (station_id = ? AND status IN (...), grouped
--    by status, component, abo, rhd in index order); covering, so they never touch the rows.
--  idx_units_expiry: ListUnits without a status filter, keyset-paginated by (expires_us, unit_id).
--  idx_units_reservation: the units of a reservation (reservation_key = ?).
--  idx_units_transfer: the units a transfer carries (transfer_id = ?).
--  idx_units_donor: the lookback (donor_id = ? AND collected_us BETWEEN ? AND ?) and ListUnits
--    filtered by donor.
CREATE TABLE units (
  unit_id VARCHAR(64) NOT NULL,
  din CHAR(13) NOT NULL,
  component TINYINT NOT NULL,
  division INT NOT NULL,
  product_code VARCHAR(16) NOT NULL DEFAULT '',
  abo TINYINT NOT NULL,
  rhd TINYINT NOT NULL,
  status TINYINT NOT NULL,
  hold TINYINT NOT NULL DEFAULT 0,
  station_id VARCHAR(32) NOT NULL,
  quantity INT NOT NULL,
  volume_ml INT NOT NULL,
  donation_type TINYINT NOT NULL,
  collected_us BIGINT NOT NULL,
  expires_us BIGINT NOT NULL,
  donor_id VARCHAR(64) NOT NULL,
  anticoagulant TINYINT NOT NULL DEFAULT 0,
  preparation TINYINT NOT NULL DEFAULT 0,
  parent_unit_id VARCHAR(64) NULL,
  reservation_key VARCHAR(128) NULL,
  transfer_id VARCHAR(40) NULL,
  lookback_on_arrival TINYINT NOT NULL DEFAULT 0,
  order_id VARCHAR(64) NULL,
  hospital_id VARCHAR(64) NULL,
  issued_us BIGINT NULL,
  outcome TINYINT NOT NULL DEFAULT 0,
  discard_reason TINYINT NOT NULL DEFAULT 0,
  created_us BIGINT NOT NULL,
  updated_us BIGINT NOT NULL,
  PRIMARY KEY (unit_id),
  UNIQUE KEY uk_units_din (din, component, division),
  KEY idx_units_reserve (status, component, abo, rhd, station_id, expires_us),
  KEY idx_units_status_expiry (status, expires_us),
  KEY idx_units_station (station_id, status, component, abo, rhd, expires_us, quantity),
  KEY idx_units_expiry (expires_us),
  KEY idx_units_reservation (reservation_key),
  KEY idx_units_transfer (transfer_id),
  KEY idx_units_donor (donor_id, collected_us)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The vein-to-vein trace and audit trail: one row per change of a unit, written in the
-- transaction that made the change.
--  idx_unit_events_din: a DIN's trace (din = ? ORDER BY occurred_us, event_id).
--  idx_unit_events_kind: issued quantities over a trailing window for the planner's demand
--    estimate (kind = ISSUED AND occurred_us >= ?).
CREATE TABLE unit_events (
  event_id BIGINT NOT NULL AUTO_INCREMENT,
  unit_id VARCHAR(64) NOT NULL,
  din CHAR(13) NOT NULL,
  component TINYINT NOT NULL,
  kind TINYINT NOT NULL,
  from_status TINYINT NOT NULL,
  to_status TINYINT NOT NULL,
  occurred_us BIGINT NOT NULL,
  actor VARCHAR(160) NOT NULL,
  reason VARCHAR(200) NOT NULL DEFAULT '',
  note VARCHAR(1000) NOT NULL DEFAULT '',
  station_id VARCHAR(32) NOT NULL DEFAULT '',
  order_id VARCHAR(64) NOT NULL DEFAULT '',
  hospital_id VARCHAR(64) NOT NULL DEFAULT '',
  reservation_key VARCHAR(128) NOT NULL DEFAULT '',
  transfer_id VARCHAR(40) NOT NULL DEFAULT '',
  PRIMARY KEY (event_id),
  KEY idx_unit_events_din (din, occurred_us, event_id),
  KEY idx_unit_events_kind (kind, occurred_us)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Reservations (one per order line attempt), keyed by the caller's reservation_key: the
-- primary key makes Reserve idempotent (a concurrent Reserve with the same key waits on it).
--  idx_reservations_hold: the reservation sweeper (status = HELD AND hold_expires_us <= ?).
CREATE TABLE reservations (
  reservation_key VARCHAR(128) NOT NULL,
  status TINYINT NOT NULL,
  component TINYINT NOT NULL,
  requested_quantity INT NOT NULL,
  priority TINYINT NOT NULL,
  order_id VARCHAR(64) NOT NULL DEFAULT '',
  hospital_id VARCHAR(64) NOT NULL DEFAULT '',
  hold_expires_us BIGINT NULL,
  created_us BIGINT NOT NULL,
  confirmed_us BIGINT NULL,
  updated_us BIGINT NOT NULL,
  PRIMARY KEY (reservation_key),
  KEY idx_reservations_hold (status, hold_expires_us)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Transfers between stations. `spec` is a serialised bloodgrid.v1.Transfer holding only the
-- requested items and the shortfalls.
--  idx_transfers_created: ListTransfers, newest first, keyset-paginated by
--    (created_us, transfer_id); station and status filters apply to those rows.
CREATE TABLE transfers (
  transfer_id VARCHAR(40) NOT NULL,
  from_station_id VARCHAR(32) NOT NULL,
  to_station_id VARCHAR(32) NOT NULL,
  status TINYINT NOT NULL,
  spec MEDIUMBLOB NOT NULL,
  reason VARCHAR(1000) NOT NULL DEFAULT '',
  reservation_key VARCHAR(128) NOT NULL DEFAULT '',
  created_by VARCHAR(160) NOT NULL,
  created_us BIGINT NOT NULL,
  dispatched_us BIGINT NULL,
  expected_arrival_us BIGINT NOT NULL,
  received_us BIGINT NULL,
  cancelled_us BIGINT NULL,
  note VARCHAR(1000) NOT NULL DEFAULT '',
  PRIMARY KEY (transfer_id),
  KEY idx_transfers_created (created_us, transfer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The units of a transfer; the primary key serves "units of this transfer" in pick order.
CREATE TABLE transfer_units (
  transfer_id VARCHAR(40) NOT NULL,
  position INT NOT NULL,
  unit_id VARCHAR(64) NOT NULL,
  rejected TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (transfer_id, position),
  UNIQUE KEY uk_transfer_units_unit (transfer_id, unit_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
