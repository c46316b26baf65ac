-- A donation whose unit the inventory refused is voided, not deleted: the record stays with
-- who voided it, when and why, in the donation's own row as the deferrals keep theirs (one
-- donation is voided at most once, and every read of a donation shows its state without a
-- join). The eligibility history, the donor's counters and the appeal pool skip voided rows.
--
-- unit_confirmed: the inventory was seen holding the donation's unit. The donation-unit
-- reconciler finds the donations that are neither confirmed nor voided once they are a few
-- minutes old, and registers or voids each (rows older than this migration included: they are
-- the ones that may have been left without a unit).
ALTER TABLE donations
  ADD COLUMN voided BOOLEAN NOT NULL DEFAULT FALSE,
  ADD COLUMN voided_by VARCHAR(128) NOT NULL DEFAULT '',
  ADD COLUMN void_reason VARCHAR(1000) NOT NULL DEFAULT '',
  ADD COLUMN voided_at DATETIME(6) NULL,
  ADD COLUMN unit_confirmed BOOLEAN NOT NULL DEFAULT FALSE,
  -- The reconciler's scan: unconfirmed, not voided, oldest recorded first.
  ADD KEY ix_donations_unconfirmed (unit_confirmed, voided, recorded_at);
