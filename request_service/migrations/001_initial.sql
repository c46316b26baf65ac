-- The request schema: hospitals and their blood orders. Instants are microseconds since the
-- Unix epoch (BIGINT), so no session time zone can shift them.

CREATE TABLE idempotency_keys (
  scope VARCHAR(64) NOT NULL,
  request_id VARCHAR(128) NOT NULL,
  request_hash CHAR(16) NOT NULL,
  response MEDIUMBLOB NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (scope, request_id)
) ENGINE=InnoDB;

CREATE TABLE hospitals (
  hospital_id VARCHAR(32) NOT NULL PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  serving_station_id VARCHAR(32) NOT NULL,
  has_location TINYINT(1) NOT NULL DEFAULT 0,
  latitude DOUBLE NOT NULL DEFAULT 0,
  longitude DOUBLE NOT NULL DEFAULT 0,
  address VARCHAR(300) NOT NULL DEFAULT '',
  active TINYINT(1) NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
) ENGINE=InnoDB;

-- Fallback stations of a hospital, nearest first.
CREATE TABLE hospital_fallback_stations (
  hospital_id VARCHAR(32) NOT NULL,
  position INT NOT NULL,
  station_id VARCHAR(32) NOT NULL,
  PRIMARY KEY (hospital_id, position),
  CONSTRAINT fk_fallback_hospital FOREIGN KEY (hospital_id) REFERENCES hospitals (hospital_id)
    ON DELETE CASCADE
) ENGINE=InnoDB;

CREATE TABLE orders (
  order_id VARCHAR(40) NOT NULL PRIMARY KEY,
  hospital_id VARCHAR(32) NOT NULL,
  request_id VARCHAR(128) NOT NULL,
  request_hash CHAR(16) NOT NULL,
  status TINYINT NOT NULL,
  priority TINYINT NOT NULL,
  patient_ref VARCHAR(64) NOT NULL,
  -- bloodgrid.v1.Patient, serialised: pseudonymous reference, type and laboratory values.
  patient BLOB NOT NULL,
  indication VARCHAR(1000) NOT NULL,
  needed_by BIGINT NULL,
  ward VARCHAR(100) NOT NULL,
  physician VARCHAR(100) NOT NULL,
  department_head VARCHAR(100) NOT NULL,
  medical_affairs VARCHAR(100) NOT NULL,
  massive_transfusion TINYINT(1) NOT NULL,
  massive_transfusion_id VARCHAR(40) NOT NULL,
  mt_round INT NOT NULL,
  review_reason TEXT NOT NULL,
  status_reason VARCHAR(1000) NOT NULL,
  dispatch_intent TINYINT(1) NOT NULL DEFAULT 0,
  allow_partial TINYINT(1) NOT NULL DEFAULT 0,
  received_by VARCHAR(100) NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  dispatched_at BIGINT NULL,
  delivered_at BIGINT NULL,
  completed_at BIGINT NULL,
  closed_at BIGINT NULL,
  UNIQUE KEY uk_orders_request (hospital_id, request_id),
  KEY ix_orders_created (created_at, order_id),
  KEY ix_orders_hospital_created (hospital_id, created_at, order_id),
  KEY ix_orders_patient (hospital_id, patient_ref, created_at),
  KEY ix_orders_status (status, priority, created_at),
  KEY ix_orders_updated (updated_at),
  KEY ix_orders_dispatch_intent (dispatch_intent),
  CONSTRAINT fk_orders_hospital FOREIGN KEY (hospital_id) REFERENCES hospitals (hospital_id)
) ENGINE=InnoDB;

CREATE TABLE order_lines (
  order_id VARCHAR(40) NOT NULL,
  line_no INT NOT NULL,
  component TINYINT NOT NULL,
  quantity INT NOT NULL,
  -- Dispatched with part of the line unfilled (allow_partial): no longer back-ordered.
  closed_short TINYINT(1) NOT NULL DEFAULT 0,
  PRIMARY KEY (order_id, line_no),
  CONSTRAINT fk_lines_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
) ENGINE=InnoDB;

-- One inventory Reserve call per row; reservation_key = "<order_id>/<line_no>/<attempt>".
CREATE TABLE reservations (
  reservation_key VARCHAR(128) NOT NULL PRIMARY KEY,
  order_id VARCHAR(40) NOT NULL,
  line_no INT NOT NULL,
  attempt INT NOT NULL,
  phase INT NOT NULL,
  -- request_store.h ReservationState.
  state TINYINT NOT NULL,
  component TINYINT NOT NULL,
  quantity INT NOT NULL,
  -- "O-:0,O+:1": candidate blood types with their tiers, as sent to Reserve.
  candidates VARCHAR(255) NOT NULL,
  -- Comma-separated station ids, in preference order, as sent to Reserve.
  station_ids VARCHAR(1000) NOT NULL,
  expiry_floor BIGINT NOT NULL,
  rhd_exception TINYINT(1) NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE KEY uk_reservations_attempt (order_id, line_no, attempt),
  KEY ix_reservations_state (state),
  CONSTRAINT fk_reservations_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
) ENGINE=InnoDB;

CREATE TABLE allocations (
  order_id VARCHAR(40) NOT NULL,
  unit_id VARCHAR(64) NOT NULL,
  line_no INT NOT NULL,
  reservation_key VARCHAR(128) NOT NULL,
  din CHAR(13) NOT NULL,
  component TINYINT NOT NULL,
  abo TINYINT NOT NULL,
  rhd TINYINT NOT NULL,
  station_id VARCHAR(32) NOT NULL,
  expires_at BIGINT NOT NULL,
  quantity INT NOT NULL,
  transfer_id VARCHAR(64) NOT NULL DEFAULT '',
  is_exception TINYINT(1) NOT NULL,
  withdrawn TINYINT(1) NOT NULL DEFAULT 0,
  outcome TINYINT NOT NULL DEFAULT 0,
  outcome_at BIGINT NULL,
  -- bloodgrid.v1.AdverseReaction, serialised.
  adverse_reaction BLOB NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (order_id, unit_id),
  KEY ix_allocations_din (din),
  CONSTRAINT fk_allocations_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
) ENGINE=InnoDB;

CREATE TABLE order_exceptions (
  exception_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id VARCHAR(40) NOT NULL,
  kind TINYINT NOT NULL,
  line_no INT NOT NULL,
  din VARCHAR(13) NOT NULL,
  message VARCHAR(2000) NOT NULL,
  recorded_by VARCHAR(200) NOT NULL,
  recorded_at BIGINT NOT NULL,
  KEY ix_exceptions_order (order_id, exception_id),
  CONSTRAINT fk_exceptions_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
) ENGINE=InnoDB;

CREATE TABLE order_findings (
  order_id VARCHAR(40) NOT NULL,
  seq INT NOT NULL,
  code TINYINT NOT NULL,
  line_no INT NOT NULL,
  message VARCHAR(1000) NOT NULL,
  PRIMARY KEY (order_id, seq),
  CONSTRAINT fk_findings_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
) ENGINE=InnoDB;

-- At most one review per order (request.proto Order.reviews).
CREATE TABLE order_reviews (
  order_id VARCHAR(40) NOT NULL PRIMARY KEY,
  approve TINYINT(1) NOT NULL,
  reviewer VARCHAR(100) NOT NULL,
  note VARCHAR(1000) NOT NULL,
  retrospective TINYINT(1) NOT NULL,
  reviewed_at BIGINT NOT NULL,
  CONSTRAINT fk_reviews_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
) ENGINE=InnoDB;

-- Every change of an order: who, when, from which status to which, why.
CREATE TABLE order_events (
  event_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id VARCHAR(40) NOT NULL,
  kind VARCHAR(40) NOT NULL,
  from_status TINYINT NOT NULL,
  to_status TINYINT NOT NULL,
  actor VARCHAR(200) NOT NULL,
  note VARCHAR(2000) NOT NULL,
  occurred_at BIGINT NOT NULL,
  KEY ix_events_order (order_id, event_id),
  CONSTRAINT fk_events_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
) ENGINE=InnoDB;
