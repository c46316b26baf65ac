-- One scope format for request_id keys across BloodGrid (common/idempotency.h): "<rpc>|<actor>"
-- and "<rpc>|#<hash>" instead of the inventory's "<rpc>/<actor>" and "<rpc>/#<hash>", so a
-- client retry that spans the upgrade still replays. RPC names contain no '/' and no '|': the
-- first '/' of an old scope ends its RPC name; a scope whose first '|' comes earlier is already
-- in the new format and stays as it is.
UPDATE idempotency_keys
SET scope = CONCAT(SUBSTRING(scope, 1, LOCATE('/', scope) - 1), '|',
                   SUBSTRING(scope, LOCATE('/', scope) + 1))
WHERE LOCATE('/', scope) > 0 AND (LOCATE('|', scope) = 0 OR LOCATE('/', scope) < LOCATE('|', scope));
