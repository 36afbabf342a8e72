-- Customers: the SPEC §1 document exactly as served (`doc`), plus the fields
-- the in-memory catalog indexes. List queries are answered by the catalog,
-- so the only indexes are the ones its reads and the import's upsert use:
-- the primary key (pages are fetched by id) and customer_id (upserts).
CREATE TABLE customers (
    id          BIGSERIAL PRIMARY KEY,
    customer_id TEXT      NOT NULL UNIQUE,
    reseller_id TEXT      NOT NULL,
    status      SMALLINT  NOT NULL,
    created_at  BIGINT    NOT NULL,  -- creationDate, Unix seconds
    name_key    TEXT      NOT NULL,  -- companyName, simple-case-folded (by Roster)
    doc         TEXT      NOT NULL
);

-- Partner integrations. The client id is the API key; the secret is kept
-- only as an argon2 hash. token_epoch revokes every older token when bumped.
CREATE TABLE clients (
    seq           BIGSERIAL NOT NULL UNIQUE,  -- creation order, for listing
    client_id     TEXT      PRIMARY KEY,
    name          TEXT      NOT NULL,
    secret_hash   TEXT      NOT NULL,
    all_resellers BOOLEAN   NOT NULL,         -- scope '*'
    rate_limit    INTEGER,                    -- NULL: the server's --rate-limit
    enabled       BOOLEAN   NOT NULL,
    token_epoch   BIGINT    NOT NULL,
    created_at    BIGINT    NOT NULL
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
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT   NOT NULL,
    token_key  BYTEA    NOT NULL
);
