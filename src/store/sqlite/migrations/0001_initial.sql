-- Customers: the SPEC §1 document exactly as served (`doc`), plus the fields
-- the in-memory catalog indexes. `id` is the handle the catalog keeps.
CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    customer_id TEXT    NOT NULL UNIQUE,
    reseller_id TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,  -- creationDate, Unix seconds
    name_key    TEXT    NOT NULL,  -- companyName, simple-case-folded
    doc         TEXT    NOT NULL
);

-- Partner integrations. The client id is the API key; the secret is kept
-- only as an argon2 hash. token_epoch revokes every older token when bumped.
CREATE TABLE clients (
    client_id     TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    secret_hash   TEXT    NOT NULL,
    all_resellers INTEGER NOT NULL,  -- 1: scope '*'
    rate_limit    INTEGER,           -- NULL: the server's --rate-limit
    enabled       INTEGER NOT NULL,
    token_epoch   INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE client_resellers (
    client_id   TEXT NOT NULL REFERENCES clients (client_id),
    reseller_id TEXT NOT NULL,
    PRIMARY KEY (client_id, reseller_id)
);
CREATE INDEX client_resellers_by_reseller ON client_resellers (reseller_id);

-- One row: the data generation (bumped by every import, so servers know
-- their catalog is stale) and the key that signs access tokens.
CREATE TABLE roster_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL,
    token_key  BLOB    NOT NULL
);
