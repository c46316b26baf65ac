-- The donor schema, version 1: idempotency keys and the audit trail, the donor registry,
-- blood typing and conflicts, deferrals, donations, appeals, and the reimbursement ledger.
-- Each section below explains the indexes it creates and the queries they serve.

-- =============================================================================================
-- request_id idempotency (common/idempotency.h) and the audit trail of every change.
--
-- Conventions of this schema: instants are DATETIME(6) in UTC (the sessions run with
-- time_zone '+00:00'; DATETIME has no 2038 limit); calendar days of the region are DATE;
-- enums are stored as their bloodgrid.v1 wire numbers, which the contract keeps stable.

CREATE TABLE idempotency_keys (
  scope VARCHAR(64) NOT NULL,
  request_id VARCHAR(128) NOT NULL,
  request_hash CHAR(16) NOT NULL,
  response MEDIUMBLOB NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  -- ClaimOrReplay looks a key up by (scope, request_id).
  PRIMARY KEY (scope, request_id),
  -- Sweeping keys older than the 7-day replay window.
  KEY ix_idempotency_keys_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per change, written in the change's own transaction: who (actor from the
-- x-bloodgrid-actor metadata), when, what (action, the record, a short detail without identity
-- data), under which request_id.
CREATE TABLE audit_log (
  audit_id BIGINT NOT NULL AUTO_INCREMENT,
  occurred_at DATETIME(6) NOT NULL,
  actor VARCHAR(128) NOT NULL,
  request_id VARCHAR(128) NOT NULL DEFAULT '',
  action VARCHAR(64) NOT NULL,
  donor_id VARCHAR(64) NULL,
  entity VARCHAR(32) NOT NULL,
  entity_id VARCHAR(64) NOT NULL,
  detail VARCHAR(2000) NOT NULL DEFAULT '',
  PRIMARY KEY (audit_id),
  -- "What happened to this donor", newest first.
  KEY ix_audit_log_donor (donor_id, occurred_at),
  -- "What happened to this record" (a deferral, an appeal, a conflict ...).
  KEY ix_audit_log_entity (entity, entity_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- =============================================================================================
-- The donor registry: identity, blood type on record, contact, home station, panels, and the
-- per-donor reimbursement account row that serialises claims.

CREATE TABLE donors (
  donor_id VARCHAR(64) NOT NULL,
  -- Normalised (trimmed, trailing check letter upper-cased) before it is stored.
  national_id VARCHAR(32) NOT NULL,
  -- Case-insensitive collation: SearchDonors' name prefix is case-insensitive and its order
  -- ("by name then donor_id") follows this collation in both ORDER BY and the keyset cursor.
  name VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
  sex TINYINT NOT NULL,
  birth_date DATE NOT NULL,
  abo TINYINT NOT NULL DEFAULT 0,
  rhd TINYINT NOT NULL DEFAULT 0,
  blood_type_confirmed BOOLEAN NOT NULL DEFAULT FALSE,
  -- Normalised: optional '+', then digits only.
  phone VARCHAR(21) NOT NULL DEFAULT '',
  email VARCHAR(254) NOT NULL DEFAULT '',
  address VARCHAR(300) NOT NULL DEFAULT '',
  home_station_id VARCHAR(64) NOT NULL DEFAULT '',
  -- Kept up to date by RecordDonation in the donation's transaction.
  donation_count INT NOT NULL DEFAULT 0,
  last_donation_date DATE NULL,
  had_adverse_reaction BOOLEAN NOT NULL DEFAULT FALSE,
  -- Incremented on every change of the row (optimistic concurrency for UpdateDonor).
  version BIGINT NOT NULL DEFAULT 1,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  -- GetDonor, UpdateDonor, every per-donor RPC; the row is locked FOR UPDATE to serialise
  -- donations and typings of one donor.
  PRIMARY KEY (donor_id),
  -- National id is unique: RegisterDonor's duplicate check and SearchDonors(national_id).
  -- Concurrent registrations of one id collide here (1062) and exactly one wins.
  UNIQUE KEY uq_donors_national_id (national_id),
  -- SearchDonors: ordered by (name, donor_id) with keyset pagination, and name_prefix
  -- (LIKE 'prefix%' is a range on this index).
  KEY ix_donors_name (name, donor_id),
  -- SearchDonors(phone).
  KEY ix_donors_phone (phone),
  -- SearchDonors(blood_type) and FindAppealCandidates (every donor of one blood type).
  KEY ix_donors_blood_type (abo, rhd, name, donor_id),
  -- SearchDonors(home_station_id), in the search order.
  KEY ix_donors_home_station (home_station_id, name, donor_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Panel memberships (regular, emergency, rare-type, apheresis, volunteer) as rows so a panel
-- filter is an index lookup.
CREATE TABLE donor_panels (
  donor_id VARCHAR(64) NOT NULL,
  panel TINYINT NOT NULL,
  -- Reading a donor's panels; EXISTS(panel = ?) of SearchDonors for one donor.
  PRIMARY KEY (donor_id, panel),
  -- All members of one panel.
  KEY ix_donor_panels_panel (panel, donor_id),
  CONSTRAINT fk_donor_panels_donor FOREIGN KEY (donor_id) REFERENCES donors (donor_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Running totals of what the donor and their relatives have claimed. ClaimReimbursement locks
-- this row FOR UPDATE, so concurrent claims on one donor's balance run one after the other and
-- can never overdraw it; the entries themselves are in reimbursement_ledger.
CREATE TABLE reimbursement_accounts (
  donor_id VARCHAR(64) NOT NULL,
  self_claimed_ml BIGINT NOT NULL DEFAULT 0,
  relatives_claimed_ml BIGINT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (donor_id),
  CONSTRAINT fk_reimbursement_accounts_donor FOREIGN KEY (donor_id) REFERENCES donors (donor_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- =============================================================================================
-- Laboratory ABO/RhD typings of donations and the conflicts they open when they disagree with
-- the donor's record (a disagreeing typing never overwrites the record).

CREATE TABLE blood_type_conflicts (
  conflict_id BIGINT NOT NULL AUTO_INCREMENT,
  donor_id VARCHAR(64) NOT NULL,
  din CHAR(13) NOT NULL,
  recorded_abo TINYINT NOT NULL,
  recorded_rhd TINYINT NOT NULL,
  typed_abo TINYINT NOT NULL,
  typed_rhd TINYINT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  resolved BOOLEAN NOT NULL DEFAULT FALSE,
  resolved_abo TINYINT NOT NULL DEFAULT 0,
  resolved_rhd TINYINT NOT NULL DEFAULT 0,
  resolved_by VARCHAR(100) NOT NULL DEFAULT '',
  resolution_note VARCHAR(1000) NOT NULL DEFAULT '',
  resolved_at DATETIME(6) NULL,
  PRIMARY KEY (conflict_id),
  -- ListBloodTypeConflicts(donor_id), newest first; Donor.has_open_blood_type_conflict
  -- (donor_id prefix + resolved filter on few rows).
  KEY ix_conflicts_donor (donor_id, created_at, conflict_id),
  -- ListBloodTypeConflicts(open_only) across donors, newest first.
  KEY ix_conflicts_open (resolved, created_at, conflict_id),
  -- ListBloodTypeConflicts without filters, newest first.
  KEY ix_conflicts_created (created_at, conflict_id),
  CONSTRAINT fk_conflicts_donor FOREIGN KEY (donor_id) REFERENCES donors (donor_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE blood_typings (
  typing_id BIGINT NOT NULL AUTO_INCREMENT,
  donor_id VARCHAR(64) NOT NULL,
  din CHAR(13) NOT NULL,
  abo TINYINT NOT NULL,
  rhd TINYINT NOT NULL,
  typed_at DATETIME(6) NULL,
  -- 1 assigned to an untyped donor, 2 confirmed the record, 3 opened a conflict.
  outcome TINYINT NOT NULL,
  conflict_id BIGINT NULL,
  recorded_at DATETIME(6) NOT NULL,
  recorded_by VARCHAR(128) NOT NULL,
  PRIMARY KEY (typing_id),
  -- RecordBloodTyping is idempotent on (donor_id, din): the repeat finds the first typing here.
  UNIQUE KEY uq_typings_donor_din (donor_id, din),
  CONSTRAINT fk_typings_donor FOREIGN KEY (donor_id) REFERENCES donors (donor_id),
  CONSTRAINT fk_typings_conflict FOREIGN KEY (conflict_id) REFERENCES blood_type_conflicts (conflict_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- =============================================================================================
-- Deferrals: temporary (ends_on, exclusive) or permanent (ends_on NULL). Voiding keeps the row
-- with who, when and why.

CREATE TABLE deferrals (
  deferral_id BIGINT NOT NULL AUTO_INCREMENT,
  donor_id VARCHAR(64) NOT NULL,
  kind TINYINT NOT NULL,
  reason_code VARCHAR(64) NOT NULL,
  note VARCHAR(1000) NOT NULL DEFAULT '',
  start_date DATE NOT NULL,
  ends_on DATE NULL,
  reactive_test TINYINT NOT NULL DEFAULT 0,
  -- Set only for deferrals caused by a reactive screening result.
  din CHAR(13) NULL,
  deferred_by VARCHAR(128) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  voided BOOLEAN NOT NULL DEFAULT FALSE,
  voided_by VARCHAR(100) NOT NULL DEFAULT '',
  void_reason VARCHAR(1000) NOT NULL DEFAULT '',
  voided_at DATETIME(6) NULL,
  PRIMARY KEY (deferral_id),
  -- MarkDonorReactive is idempotent on (donor_id, din, test); NULL din (ordinary deferrals)
  -- never collides.
  UNIQUE KEY uq_deferrals_reactive (donor_id, din, reactive_test),
  -- ListDeferrals (newest start_date first, keyset), the deferrals fed to eligibility, and the
  -- Donor.deferred / permanently_deferred flags: all by donor.
  KEY ix_deferrals_donor (donor_id, start_date, deferral_id),
  CONSTRAINT fk_deferrals_donor FOREIGN KEY (donor_id) REFERENCES donors (donor_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- =============================================================================================
-- Donations with the screening values measured before each.

CREATE TABLE donations (
  donation_id BIGINT NOT NULL AUTO_INCREMENT,
  donor_id VARCHAR(64) NOT NULL,
  -- The 13 DIN characters (no check character).
  din CHAR(13) NOT NULL,
  donation_type TINYINT NOT NULL,
  volume_ml INT NOT NULL,
  station_id VARCHAR(64) NOT NULL DEFAULT '',
  collected_at DATETIME(6) NOT NULL,
  -- Collection day in the region's time zone: the day intervals count from.
  collection_date DATE NOT NULL,
  weight_kg DOUBLE NULL,
  hemoglobin_g_l DOUBLE NULL,
  systolic_mmhg INT NULL,
  diastolic_mmhg INT NULL,
  pulse_bpm INT NULL,
  hematocrit DOUBLE NULL,
  platelet_count_e9_l INT NULL,
  adverse_reaction BOOLEAN NOT NULL DEFAULT FALSE,
  reactive BOOLEAN NOT NULL DEFAULT FALSE,
  anticoagulant TINYINT NOT NULL DEFAULT 0,
  product_code VARCHAR(16) NOT NULL DEFAULT '',
  recorded_at DATETIME(6) NOT NULL,
  recorded_by VARCHAR(128) NOT NULL,
  PRIMARY KEY (donation_id),
  -- A DIN is one donation, region-wide: RecordDonation's idempotency on DIN and its
  -- "same DIN, other donor" check; MarkDonorReactive's donation lookup.
  UNIQUE KEY uq_donations_din (din),
  -- ListDonations: one donor's donations, newest collected_at first (keyset).
  KEY ix_donations_donor_collected (donor_id, collected_at, donation_id),
  -- The eligibility history: one donor's (or, for appeals, one blood type's donors')
  -- donations since a day.
  KEY ix_donations_donor_date (donor_id, collection_date),
  CONSTRAINT fk_donations_donor FOREIGN KEY (donor_id) REFERENCES donors (donor_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;


-- =============================================================================================
-- Emergency and rare-type call-ups and each contacted donor's latest response (the history of
-- responses is in audit_log).

CREATE TABLE appeals (
  appeal_id BIGINT NOT NULL AUTO_INCREMENT,
  station_id VARCHAR(64) NOT NULL,
  abo TINYINT NOT NULL,
  rhd TINYINT NOT NULL,
  donation_type TINYINT NOT NULL,
  donations_needed INT NOT NULL DEFAULT 0,
  reason VARCHAR(1000) NOT NULL DEFAULT '',
  created_by VARCHAR(128) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  closes_at DATETIME(6) NOT NULL,
  PRIMARY KEY (appeal_id),
  -- ListAppeals without a station, newest first (keyset on created_at, appeal_id); open_only
  -- adds closes_at > now as a filter on the rows read.
  KEY ix_appeals_created (created_at, appeal_id),
  -- ListAppeals(station_id), newest first.
  KEY ix_appeals_station (station_id, created_at, appeal_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE appeal_contacts (
  appeal_id BIGINT NOT NULL,
  donor_id VARCHAR(64) NOT NULL,
  -- Order in which the donor was added to the appeal (1, 2, ...).
  position INT NOT NULL,
  response TINYINT NOT NULL,
  responded_at DATETIME(6) NULL,
  din CHAR(13) NOT NULL DEFAULT '',
  note VARCHAR(1000) NOT NULL DEFAULT '',
  -- RecordAppealResponse finds (appeal, donor); GetAppeal / counts read one appeal's contacts.
  PRIMARY KEY (appeal_id, donor_id),
  -- Contacts in the order they were added.
  UNIQUE KEY uq_appeal_contacts_position (appeal_id, position),
  -- A donor's appeals; also the foreign key's index.
  KEY ix_appeal_contacts_donor (donor_id),
  CONSTRAINT fk_appeal_contacts_appeal FOREIGN KEY (appeal_id) REFERENCES appeals (appeal_id),
  CONSTRAINT fk_appeal_contacts_donor FOREIGN KEY (donor_id) REFERENCES donors (donor_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- =============================================================================================
-- The blood-fee reimbursement ledger (DOMAIN.md section 6): a credit per donation, a debit per
-- claim; entries are never changed or deleted. The balance is computed from the credits (the
-- tier multiplier depends on the day) and the running totals in reimbursement_accounts.

CREATE TABLE reimbursement_ledger (
  entry_id BIGINT NOT NULL AUTO_INCREMENT,
  donor_id VARCHAR(64) NOT NULL,
  -- 1 credit, 2 debit.
  kind TINYINT NOT NULL,
  -- Credits: the donation's DIN and day.
  din CHAR(13) NULL,
  donation_date DATE NULL,
  -- Credits: counted volume of the donation; debits: volume covered by the claim.
  volume_ml INT NOT NULL,
  claimant_relation TINYINT NOT NULL DEFAULT 0,
  -- Debits: the normalised invoice number.
  invoice_no VARCHAR(64) NULL,
  invoice_volume_ml INT NOT NULL DEFAULT 0,
  blood_fee BIGINT NOT NULL DEFAULT 0,
  reimbursed_amount BIGINT NOT NULL DEFAULT 0,
  recipient_name VARCHAR(100) NOT NULL DEFAULT '',
  hospital_name VARCHAR(200) NOT NULL DEFAULT '',
  invoice_date DATE NULL,
  created_at DATETIME(6) NOT NULL,
  created_by VARCHAR(128) NOT NULL,
  PRIMARY KEY (entry_id),
  -- An invoice is claimed at most once, whoever claims it (ALREADY_EXISTS); NULL for credits.
  UNIQUE KEY uq_ledger_invoice (invoice_no),
  -- One credit per donation; NULL for debits.
  UNIQUE KEY uq_ledger_credit_din (din),
  -- ListReimbursementLedger (newest first, keyset) and the credits behind a balance.
  KEY ix_ledger_donor (donor_id, created_at, entry_id),
  CONSTRAINT fk_ledger_donor FOREIGN KEY (donor_id) REFERENCES donors (donor_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

