-- The inventory's change feed (DESIGN.md "Change feeds instead of chained calls"): a
-- transactional outbox. Every committed change another party reacts to is appended in the
-- transaction that made it. change_feed_head holds the last sequence handed out; a writer
-- takes the next one by updating that row as the last step before commit, so the row lock
-- orders appends by commit and the feed never shows a gap, even to a reader on another
-- replica (a rolled-back transaction gives its number back).
CREATE TABLE change_feed (
  sequence BIGINT UNSIGNED NOT NULL,
  kind VARCHAR(32) NOT NULL,
  din VARCHAR(16) NULL,
  actor VARCHAR(128) NOT NULL,
  committed_us BIGINT NOT NULL,
  -- bloodgrid.v1.ChangeEvent without sequence and committed_at (filled from the columns).
  payload MEDIUMBLOB NOT NULL,
  PRIMARY KEY (sequence),
  KEY change_feed_by_time (committed_us)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE change_feed_head (
  feed VARCHAR(32) NOT NULL,
  last_sequence BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (feed)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO change_feed_head (feed, last_sequence) VALUES ('inventory', 0);
