-- Several `serve` replicas on one database (issue 13).
-- Portable SQLite/PostgreSQL: TEXT and BIGINT only; times as fixed-width RFC 3339 UTC text.

-- The order jobs were queued in, given under the lock that serializes enqueues (not a clock of one replica).
ALTER TABLE jobs ADD COLUMN seq BIGINT;

-- Live replicas: each one upserts its row every few seconds; a row not seen for a while is a dead replica.
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    listen TEXT NOT NULL,
    started_at TEXT NOT NULL,
    seen_at TEXT NOT NULL
);

-- Leadership leases: `fabric:<name>` is held by the one replica running that fabric's watcher and periodic sync.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- Uploads to a Git-backed fabric, held until the replica that runs their ingestion job writes them into its own
-- clone. The content is the validated YAML (UTF-8 text).
CREATE TABLE held_uploads (
    job_id TEXT NOT NULL,
    path TEXT NOT NULL,
    fabric TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (job_id, path)
);
CREATE INDEX held_uploads_fabric ON held_uploads (fabric, path);
