//! Health (keel-health): PostgreSQL for readiness and startup, Redis (non-critical) when
//! configured, and the system checks (memory, disk, load, runtime) in the full report
//! only, non-critical: a full disk shows in `/health` but takes no replica out of rotation.

use std::time::Duration;

use keel_health::{CheckOptions, Health, Observation, Probe, Status};
use keel_ratelimit::redis::RedisConnection;

use crate::db::Db;

/// A passing observation with the round trip in milliseconds.
fn timed(rtt: Duration) -> Observation {
    Observation::from(Status::Pass).with_value(rtt.as_secs_f64() * 1000.0, "ms")
}

/// Builds the health registry.
///
/// # Errors
/// A registration keel-health refuses.
pub fn build(db: &Db, redis: Option<&RedisConnection>) -> Result<Health, String> {
    let pg = db.clone();
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
            let pg = pg.clone();
            // keel-db-pool's ping measures the round trip.
            async move { pg.ping().await.map(timed) }
        });
    if let Some(conn) = redis {
        let conn = conn.clone();
        // Non-critical: without Redis, rate limits and the cache fall back to memory, so an
        // outage degrades readiness to `warn` (still 200) instead of taking every replica
        // out of the load balancer at once.
        let options = CheckOptions::builder("redis:responseTime")
            .component_type("datastore")
            .non_critical()
            .timeout(Duration::from_secs(1));
        builder = builder.check(options, move || {
            // The shared, lazily made, reconnecting connection of the limiters.
            let mut conn = conn.clone();
            async move {
                let start = std::time::Instant::now();
                match redis::cmd("PING").query_async::<String>(&mut conn).await {
                    Ok(_) => timed(start.elapsed()),
                    Err(e) => Observation::fail(e.to_string()),
                }
            }
        });
    }
    builder.build().map_err(|e| format!("health: {e}"))
}
