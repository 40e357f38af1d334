-- The server's records (hhgitops serve): API tokens, jobs with their events, webhook deliveries.
-- Portable SQLite/PostgreSQL: TEXT and BIGINT only, application-generated keys, times as fixed-width RFC 3339
-- UTC text (they sort as they happened).

CREATE TABLE api_tokens (
    name TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    -- SHA-256 (hex) of the whole token; the token itself is never stored.
    sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TEXT,
    last_used_at TEXT,
    revoked_at TEXT
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    fabric TEXT NOT NULL,
    job_type TEXT NOT NULL,
    -- JSON: {"dryRun": bool, "prune": bool, "files": [...]}
    params TEXT NOT NULL,
    -- jobs of one fabric with equal keys that are both queued are one job
    coalesce_key TEXT NOT NULL,
    state TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    cancel_requested BIGINT NOT NULL,
    -- the replica running it and how long its claim holds without a heartbeat
    owner TEXT,
    lease_until TEXT,
    -- JSON: the latest progress per stage
    progress TEXT NOT NULL,
    result TEXT,
    error TEXT,
    -- how many requests were coalesced into this job
    requests BIGINT NOT NULL
);
CREATE INDEX jobs_state_created ON jobs (state, created_at);
CREATE INDEX jobs_fabric_created ON jobs (fabric, created_at);

CREATE TABLE job_events (
    job_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE webhook_deliveries (
    fabric TEXT NOT NULL,
    delivery TEXT NOT NULL,
    received_at TEXT NOT NULL,
    job_id TEXT,
    PRIMARY KEY (fabric, delivery)
);
