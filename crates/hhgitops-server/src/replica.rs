//! Several replicas on one database (SPEC §8 "Several servers"): who is alive, and which replica leads each
//! fabric's watcher and periodic sync.
//!
//! - **Replicas** upsert their row in `replicas` every [`TICK`]; a row not seen for [`REPLICA_TTL`] (shorter
//!   than [`LEASE`]) is a dead replica, no longer counted when leadership is spread.
//! - **Leadership** of fabric F is the lease `fabric:F` in `leases`: held by one replica, renewed every tick for
//!   [`LEASE`]. A free or expired lease is taken with one conditional upsert, so exactly one replica wins it.
//!   Each replica leads at most `ceil(fabrics / live replicas)` fabrics: a replica that holds more gives one back
//!   per tick (after stopping that fabric's watcher), so leadership spreads when replicas join.
//! - **Fencing**: a replica that has not renewed its leases for [`FENCE`] (it lost the database) stops leading
//!   everything before its leases can expire, so another replica takes over (within `LEASE` + `TICK` of the
//!   last renewal, under 15 s) and two never lead one fabric at once. A replica killed outright stops renewing:
//!   its leases expire and are taken the same way.
//! - On shutdown a replica stops its watchers and deletes its leases, so others take over at their next tick.
//!
//! Times are the replicas' clocks (fixed-width UTC text): replicas must keep their clocks in sync (NTP); a skew
//! well under [`LEASE`] − [`FENCE`] is harmless.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hhgitops_engine::db::Database;
use hhgitops_engine::watch::WatchSet;
use serde::Serialize;
use sqlx::Row;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::jobs::ts;

/// How often a replica renews its row and its leases, and looks for fabrics to lead.
pub const TICK: Duration = Duration::from_secs(2);
/// How long a lease holds without renewal.
pub const LEASE: Duration = Duration::from_secs(12);
/// A replica that could not renew for this long stops leading: at the latest `FENCE` + [`DB_WAIT`] + [`TICK`]
/// after its last renewal, before its leases expire.
pub const FENCE: Duration = Duration::from_secs(5);
/// A replica not seen for this long (three ticks) is not counted as alive: a dead replica leaves the count
/// before its leases expire, so the survivors' share covers its fabrics when they take them over.
pub const REPLICA_TTL: Duration = Duration::from_secs(6);
/// Longest wait for one round of statements.
pub const DB_WAIT: Duration = Duration::from_secs(3);

/// Whether this process reaches the database, and since when.
#[derive(Debug)]
pub struct DbHealth {
    inner: Mutex<(Option<Instant>, Option<Instant>)>,
}

impl Default for DbHealth {
    fn default() -> Self {
        Self::new()
    }
}

impl DbHealth {
    pub fn new() -> DbHealth {
        DbHealth {
            inner: Mutex::new((Some(Instant::now()), None)),
        }
    }

    /// Records the outcome of a round of statements.
    pub fn record(&self, ok: bool) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if ok {
            g.1 = None;
            g.0.get_or_insert_with(Instant::now);
        } else {
            g.0 = None;
            g.1.get_or_insert_with(Instant::now);
        }
    }

    /// How long the database has answered without a failure (`None`: it is failing).
    pub fn ok_for(&self) -> Option<Duration> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .map(|t| t.elapsed())
    }

    /// How long the database has been failing (`None`: it answers).
    pub fn failing_for(&self) -> Option<Duration> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .map(|t| t.elapsed())
    }
}

/// The lease name of a fabric's leadership.
pub fn lease_name(fabric: &str) -> String {
    format!("fabric:{fabric}")
}

/// Who leads a fabric's watcher and periodic sync.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderView {
    /// The replica id (`host-xxxxxxxx`, as in jobs' `owner`).
    pub replica: String,
    /// The replica answering this request leads the fabric.
    pub this_replica: bool,
    pub since: String,
    pub expires_at: String,
}

/// The current leader of a fabric, if its lease holds.
pub async fn leader_of(db: &Database, fabric: &str, me: &str) -> Option<LeaderView> {
    let row = sqlx::query(
        "SELECT holder, acquired_at, expires_at FROM leases WHERE name = $1 AND expires_at > $2",
    )
    .bind(lease_name(fabric))
    .bind(ts(0))
    .fetch_optional(db.pool())
    .await
    .ok()??;
    let replica: String = row.try_get("holder").ok()?;
    Some(LeaderView {
        this_replica: replica == me,
        replica,
        since: row.try_get("acquired_at").ok()?,
        expires_at: row.try_get("expires_at").ok()?,
    })
}

/// Every fabric's current leader.
pub async fn leaders(db: &Database, me: &str) -> Result<BTreeMap<String, LeaderView>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name, holder, acquired_at, expires_at FROM leases WHERE expires_at > $1",
    )
    .bind(ts(0))
    .fetch_all(db.pool())
    .await?;
    let mut out = BTreeMap::new();
    for r in rows {
        let name: String = r.try_get("name")?;
        if let Some(f) = name.strip_prefix("fabric:") {
            let replica: String = r.try_get("holder")?;
            out.insert(
                f.to_string(),
                LeaderView {
                    this_replica: replica == me,
                    replica,
                    since: r.try_get("acquired_at")?,
                    expires_at: r.try_get("expires_at")?,
                },
            );
        }
    }
    Ok(out)
}

/// This replica's part in leadership.
pub struct Leadership {
    db: Database,
    pub replica: String,
    listen: String,
    health: Arc<DbHealth>,
    /// Fabrics this replica leads, with the time of the last renewal of each lease.
    led: Mutex<BTreeMap<String, Instant>>,
    /// The watchers of the fabrics it leads (when `serve` watches).
    watch: Option<Arc<WatchSet>>,
    started_at: String,
}

impl Leadership {
    pub fn new(
        db: Database,
        replica: String,
        listen: String,
        health: Arc<DbHealth>,
        watch: Option<Arc<WatchSet>>,
    ) -> Arc<Leadership> {
        Arc::new(Leadership {
            db,
            replica,
            listen,
            health,
            led: Mutex::new(BTreeMap::new()),
            watch,
            started_at: ts(0),
        })
    }

    /// Whether this replica leads `fabric` now.
    pub fn leads(&self, fabric: &str) -> bool {
        self.led
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(fabric)
    }

    /// The fabrics this replica leads.
    pub fn led(&self) -> Vec<String> {
        self.led
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Starts the leadership loop; it ends (releasing every lease) when `stop` is cancelled.
    pub fn start(
        self: &Arc<Self>,
        engine: hhgitops_engine::Engine,
        stop: CancellationToken,
    ) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let round = tokio::time::timeout(DB_WAIT, me.tick(&engine)).await;
                match round {
                    Ok(Ok(give_back)) => {
                        me.health.record(true);
                        if let Some(f) = give_back {
                            me.give_back(&f).await;
                        }
                    }
                    Ok(Err(e)) => {
                        me.health.record(false);
                        tracing::warn!(error = %e, "leadership: cannot reach the database");
                    }
                    Err(_) => {
                        me.health.record(false);
                        tracing::warn!("leadership: the database did not answer");
                    }
                }
                me.fence();
                tokio::select! {
                    _ = tokio::time::sleep(TICK) => {}
                    _ = stop.cancelled() => break,
                }
            }
            me.release_all().await;
        })
    }

    /// Stops leading fabrics whose lease could not be renewed for [`FENCE`].
    fn fence(&self) {
        let stale: Vec<String> = self
            .led
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, t)| t.elapsed() >= FENCE)
            .map(|(f, _)| f.clone())
            .collect();
        for f in stale {
            tracing::warn!(fabric = %f, "leadership: the lease could not be renewed; this replica stops leading the fabric");
            self.drop_local(&f, "its leadership lease could not be renewed");
        }
    }

    /// Stops leading a fabric here at once; its watcher finishes the ingestion it runs (if any) in the
    /// background (the fabric lock keeps it from overlapping with the next leader's).
    fn drop_local(&self, fabric: &str, why: &str) {
        self.led
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(fabric);
        metrics::gauge!("hhgitops_fabric_leader", "fabric" => fabric.to_string()).set(0.0);
        if let Some(w) = self.watch.clone() {
            let (fabric, why) = (fabric.to_string(), why.to_string());
            tokio::spawn(async move {
                if w.remove_fabric(&fabric).await {
                    tracing::info!(fabric = %fabric, "watcher stopped: {why}");
                }
            });
        }
    }

    /// Gives a fabric's leadership to whichever replica takes it: its watcher stopped first (after the
    /// ingestion it runs), then the lease deleted.
    async fn give_back(&self, fabric: &str) {
        self.led
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(fabric);
        metrics::gauge!("hhgitops_fabric_leader", "fabric" => fabric.to_string()).set(0.0);
        if let Some(w) = &self.watch {
            w.remove_fabric(fabric).await;
        }
        let _ = tokio::time::timeout(
            DB_WAIT,
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(lease_name(fabric))
                .bind(&self.replica)
                .execute(self.db.pool()),
        )
        .await;
        tracing::info!(fabric = %fabric, "leadership given back to spread fabrics across replicas");
    }

    fn take_local(&self, fabric: hhgitops_engine::fabric::Fabric) {
        let name = fabric.name.clone();
        self.led
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.clone(), Instant::now());
        metrics::counter!("hhgitops_leadership_acquired_total", "fabric" => name.clone())
            .increment(1);
        metrics::gauge!("hhgitops_fabric_leader", "fabric" => name.clone()).set(1.0);
        if let Some(w) = &self.watch {
            w.add_fabric(fabric);
        }
        tracing::info!(fabric = %name, replica = %self.replica, "leading the fabric's watcher and periodic sync");
    }

    /// One round: announce this replica, renew, take. Returns a fabric to give back (this replica leads more
    /// than its share).
    async fn tick(&self, engine: &hhgitops_engine::Engine) -> Result<Option<String>, sqlx::Error> {
        let now = ts(0);
        let pool = self.db.pool();
        sqlx::query(
            "INSERT INTO replicas (id, host, listen, started_at, seen_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET seen_at = $5",
        )
        .bind(&self.replica)
        .bind(hostname())
        .bind(&self.listen)
        .bind(&self.started_at)
        .bind(&now)
        .execute(pool)
        .await?;
        let fabrics = engine
            .fabrics()
            .await
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let names: BTreeSet<String> = fabrics.iter().map(|f| f.name.clone()).collect();
        // Renew what this replica holds; a lease that is no longer ours (or a fabric removed) is dropped.
        for f in self.led() {
            let renewed = if names.contains(&f) {
                sqlx::query("UPDATE leases SET expires_at = $1 WHERE name = $2 AND holder = $3")
                    .bind(ts(LEASE.as_secs() as i64))
                    .bind(lease_name(&f))
                    .bind(&self.replica)
                    .execute(pool)
                    .await?
                    .rows_affected()
                    > 0
            } else {
                false
            };
            if renewed {
                self.led
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(f, Instant::now());
            } else {
                let why = if names.contains(&f) {
                    "another replica holds its lease"
                } else {
                    "removed from the registry"
                };
                self.drop_local(&f, why);
                sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                    .bind(lease_name(&f))
                    .bind(&self.replica)
                    .execute(pool)
                    .await?;
            }
        }
        sqlx::query("DELETE FROM replicas WHERE seen_at < $1")
            .bind(ts(-(REPLICA_TTL.as_secs() as i64) * 4))
            .execute(pool)
            .await?;
        let live: i64 = sqlx::query("SELECT COUNT(*) AS n FROM replicas WHERE seen_at >= $1")
            .bind(ts(-(REPLICA_TTL.as_secs() as i64)))
            .fetch_one(pool)
            .await?
            .try_get("n")?;
        let live = live.max(1) as usize;
        let target = names.len().div_ceil(live);
        // Give one back per round when this replica leads more than its share (a replica joined).
        if self.led().len() > target {
            return Ok(self.led().pop());
        }
        // Take free or expired leases up to this replica's share.
        let now = ts(0);
        for f in fabrics {
            if self.led().len() >= target {
                break;
            }
            if self.leads(&f.name) {
                continue;
            }
            let taken = sqlx::query(
                "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET holder = $2, acquired_at = $3, expires_at = $4 \
                 WHERE leases.expires_at < $3",
            )
            .bind(lease_name(&f.name))
            .bind(&self.replica)
            .bind(&now)
            .bind(ts(LEASE.as_secs() as i64))
            .execute(pool)
            .await?
            .rows_affected()
                > 0;
            if taken {
                self.take_local(f);
            }
        }
        Ok(None)
    }

    /// Stops every watcher this replica runs and gives its leases back (shutdown).
    pub async fn release_all(&self) {
        let led = self.led();
        self.led.lock().unwrap_or_else(|e| e.into_inner()).clear();
        for f in led {
            metrics::gauge!("hhgitops_fabric_leader", "fabric" => f.clone()).set(0.0);
            if let Some(w) = &self.watch {
                w.remove_fabric(&f).await;
            }
        }
        let pool = self.db.pool();
        let _ = tokio::time::timeout(DB_WAIT, async {
            let _ = sqlx::query("DELETE FROM leases WHERE holder = $1")
                .bind(&self.replica)
                .execute(pool)
                .await;
            let _ = sqlx::query("DELETE FROM replicas WHERE id = $1")
                .bind(&self.replica)
                .execute(pool)
                .await;
        })
        .await;
    }
}

/// This machine's host name (a replica's and a runner's label), or `hhgitops` when it cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "hhgitops".into())
}
