//! Health (keel-health): PostgreSQL for readiness and startup, Redis (non-critical) when
//! configured, and the system checks (memory, disk, load, runtime) in the full report
//! only, non-critical: a full disk shows in `/health` but takes no replica out of rotation.

use std::time::Duration;

use keel_health::{CheckOptions, Health, Probe};
use keel_ratelimit::redis::RedisConnection;

use crate::db::Db;

/// Builds the health registry. Both checks report the round trip of their `ping()`.
///
/// # Errors
/// A registration keel-health refuses.
pub fn build(db: &Db, redis: Option<&RedisConnection>) -> Result<Health, String> {
    let db = db.clone();
    let postgres = CheckOptions::builder("postgres:responseTime")
        .component_type("datastore")
        .probes(Probe::Readiness | Probe::Startup)
        .timeout(Duration::from_secs(2));
    let mut builder = Health::builder()
        .version(env!("CARGO_PKG_VERSION"))
        .service_id("keel-reference-service")
        .description("Keel reference service")
        .system_checks()
        .check(postgres, move || {
            let db = db.clone();
            async move { db.ping().await }
        });
    if let Some(redis) = redis {
        // Non-critical: without Redis, rate limits and the cache fall back to memory, so an
        // outage degrades readiness to `warn` (still 200) instead of taking every replica
        // out of the load balancer at once. The connection is the limiters' (lazy,
        // reconnecting).
        let options = CheckOptions::builder("redis:responseTime")
            .component_type("datastore")
            .non_critical()
            .timeout(Duration::from_secs(1));
        let redis = redis.clone();
        builder = builder.check(options, move || {
            let redis = redis.clone();
            async move { redis.ping().await }
        });
    }
    builder.build().map_err(|e| format!("health: {e}"))
}
