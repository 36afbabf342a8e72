-- API versions (SPEC §7): each client is pinned to one.
ALTER TABLE clients ADD COLUMN api_version TEXT NOT NULL DEFAULT '2025-08';

-- POST /v3/customers refuses a second customer of a reseller with the same
-- folded company name and first contact email (SPEC §6): found by name.
CREATE INDEX customers_by_name ON customers (reseller_id, name_key);

-- Idempotent writes (SPEC §7): the answer to each write a client sent with
-- an X-Correlation-Id, replayed when the same request comes again. Entries
-- expire after --correlation-window; the oldest go first past
-- --correlation-capacity (counted in roster_state.correlations).
CREATE TABLE correlations (
    client_id      TEXT    NOT NULL,
    correlation_id TEXT    NOT NULL,
    fingerprint    BLOB    NOT NULL,  -- SHA-256 of the method, path and body
    status         INTEGER NOT NULL,
    headers        TEXT    NOT NULL,  -- JSON array of [name, value]
    body           BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,  -- Unix seconds
    PRIMARY KEY (client_id, correlation_id)
) WITHOUT ROWID;
CREATE INDEX correlations_by_age ON correlations (created_at);
ALTER TABLE roster_state ADD COLUMN correlations INTEGER NOT NULL DEFAULT 0;
