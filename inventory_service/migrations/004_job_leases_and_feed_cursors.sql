-- Background work that runs once per region however many replicas run (DESIGN.md "Change
-- feeds"): a job runs where it holds its lease (common/job_lease.h), a feed consumer keeps the
-- last sequence it applied (common/feed_cursor.h). Instants are microseconds since the epoch.
CREATE TABLE job_leases (
  job VARCHAR(64) NOT NULL,
  holder VARCHAR(128) NOT NULL,
  acquired_us BIGINT NOT NULL,
  expires_us BIGINT NOT NULL,
  PRIMARY KEY (job)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE feed_cursors (
  feed VARCHAR(64) NOT NULL,
  after_sequence BIGINT UNSIGNED NOT NULL,
  updated_us BIGINT NOT NULL,
  PRIMARY KEY (feed)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
