-- The change log (SPEC §8). Every committed write adds one row to
-- `generations` and, in the same transaction, one row per customer it
-- changed to `customer_changes`, so servers apply just those customers
-- instead of reading everything again. Rows older than the retention are
-- trimmed by later writes.
CREATE TABLE generations (
    generation   BIGINT  PRIMARY KEY,
    committed_at BIGINT  NOT NULL,  -- Unix seconds
    changed      BIGINT  NOT NULL,  -- customers the write changed
    logged       BOOLEAN NOT NULL   -- each is in customer_changes; false: too many, servers rebuild
);

CREATE TABLE customer_changes (
    generation  BIGINT NOT NULL,
    customer_id TEXT   NOT NULL,
    PRIMARY KEY (generation, customer_id)
);

-- Every generation after log_start is in the log. A server whose catalog
-- is older than that builds it afresh. Data imported before this migration
-- is not in the log, so it starts at the current generation.
ALTER TABLE roster_state ADD COLUMN log_start BIGINT NOT NULL DEFAULT 0;
UPDATE roster_state SET log_start = generation;
