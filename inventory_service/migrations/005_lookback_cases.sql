-- Lookback cases (DOMAIN.md section 5; inventory.proto LookbackCase, RecallNotice), written in
-- the RecordTestResults transaction that made a donation reactive, so a case exists exactly when
-- the donor's other units are held.
--
-- lookback_cases: one per reactive donation. lookback_id is "LB-<DIN>" and reactive_din is
-- unique, so a repeat or a concurrent call can never open a second case.
--  uk_lookback_cases_din: the case of a DIN (RecordTestResults, on every reactive result).
--  idx_lookback_cases_opened: ListLookbacks, newest first, keyset (opened_us, lookback_id).
--  idx_lookback_cases_donor: ListLookbacks of one donor, same order.
CREATE TABLE lookback_cases (
  lookback_id VARCHAR(40) NOT NULL,
  donor_id VARCHAR(64) NOT NULL,
  reactive_din CHAR(13) NOT NULL,
  -- ScreeningTest numbers of the markers, comma-separated, in enum order.
  markers VARCHAR(64) NOT NULL,
  opened_us BIGINT NOT NULL,
  opened_by VARCHAR(160) NOT NULL,
  window_start_us BIGINT NULL,
  window_end_us BIGINT NOT NULL,
  status TINYINT NOT NULL,
  reason VARCHAR(1000) NOT NULL,
  PRIMARY KEY (lookback_id),
  UNIQUE KEY uk_lookback_cases_din (reactive_din),
  KEY idx_lookback_cases_opened (opened_us, lookback_id),
  KEY idx_lookback_cases_donor (donor_id, opened_us, lookback_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The units of a case as they were when it opened: held (kind 1: taken out of stock, or already
-- on lookback hold) and issued (kind 2: gone to a hospital; order, hospital and issue time are in
-- the unit). unit: bloodgrid.v1.Unit. The primary key serves GetLookback (lookback_id = ?, in
-- position order).
CREATE TABLE lookback_units (
  lookback_id VARCHAR(40) NOT NULL,
  position INT NOT NULL,
  kind TINYINT NOT NULL,
  unit_id VARCHAR(64) NOT NULL,
  unit MEDIUMBLOB NOT NULL,
  PRIMARY KEY (lookback_id, position),
  UNIQUE KEY uk_lookback_units_unit (lookback_id, unit_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One recall notice per issued unit of a case, for the hospital that received it.
--  idx_recall_notices_case: a case's notices (GetLookback; AcknowledgeRecall counts the open ones).
--  idx_recall_notices_hospital: ListRecalls, newest first, keyset (notified_us, recall_id).
CREATE TABLE recall_notices (
  recall_id VARCHAR(40) NOT NULL,
  lookback_id VARCHAR(40) NOT NULL,
  hospital_id VARCHAR(64) NOT NULL,
  din CHAR(13) NOT NULL,
  unit_id VARCHAR(64) NOT NULL,
  component TINYINT NOT NULL,
  order_id VARCHAR(64) NOT NULL,
  issued_us BIGINT NOT NULL,
  reason VARCHAR(1000) NOT NULL,
  action VARCHAR(1000) NOT NULL,
  notified_us BIGINT NOT NULL,
  status TINYINT NOT NULL,
  acknowledged_us BIGINT NULL,
  acknowledged_by VARCHAR(160) NOT NULL DEFAULT '',
  acknowledgement_note VARCHAR(1000) NOT NULL DEFAULT '',
  PRIMARY KEY (recall_id),
  UNIQUE KEY uk_recall_notices_unit (lookback_id, unit_id),
  KEY idx_recall_notices_case (lookback_id, status),
  KEY idx_recall_notices_hospital (hospital_id, notified_us, recall_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
