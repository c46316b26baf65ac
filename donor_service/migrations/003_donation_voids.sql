-- A donation whose unit the inventory refused is voided, not deleted: the record stays with
-- who voided it, when and why, in the donation's own row as the deferrals keep theirs (one
-- donation is voided at most once, and every read of a donation shows its state without a
-- join). The eligibility history, the donor's counters and the appeal pool skip voided rows.
ALTER TABLE donations
  ADD COLUMN voided BOOLEAN NOT NULL DEFAULT FALSE,
  ADD COLUMN voided_by VARCHAR(128) NOT NULL DEFAULT '',
  ADD COLUMN void_reason VARCHAR(1000) NOT NULL DEFAULT '',
  ADD COLUMN voided_at DATETIME(6) NULL;
