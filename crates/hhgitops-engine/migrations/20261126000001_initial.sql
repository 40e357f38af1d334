-- One schema for SQLite and PostgreSQL: only portable types (TEXT, BIGINT), application-generated keys.
CREATE TABLE fabrics (
    name TEXT PRIMARY KEY,
    root_rule TEXT NOT NULL,
    root_path TEXT NOT NULL,
    path TEXT,
    git_url TEXT,
    git_branch TEXT,
    git_path TEXT,
    git_token_env TEXT,
    kubeconfig TEXT,
    kube_context TEXT,
    options TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- sha256 of the manifest the object index was last built from: a mismatch means the index is stale.
    index_manifest_sha256 TEXT
);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    fabric TEXT NOT NULL,
    operation TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL,
    files BIGINT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    deleted BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    message TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX runs_fabric_started ON runs (fabric, started_at);

CREATE TABLE managed_objects (
    fabric TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    source_file TEXT,
    source_document BIGINT,
    source_sha256 TEXT,
    indexed_at TEXT NOT NULL,
    PRIMARY KEY (fabric, kind, name)
);

CREATE TABLE rejections (
    fabric TEXT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    errors TEXT NOT NULL,
    rejected_at TEXT NOT NULL,
    PRIMARY KEY (fabric, file)
);
