//! Health (keel-health): PostgreSQL for readiness and startup, Redis (non-critical) when
//! configured, and the system checks (memory, disk, load, runtime) in the full report
//! only, non-critical: a full disk shows in `/health` but takes no replica out of rotation.

use std::sync::Arc;
use std::time::Duration;

use keel_health::{CheckOptions, Health, Observation, Probe, Status};
use keel_ratelimit::redis::RedisConnection;

use crate::db::Db;
use crate::redis::Redis;

fn timed(start: std::time::Instant) -> Observation {
    Observation::from(Status::Pass).with_value(start.elapsed().as_secs_f64() * 1000.0, "ms")
}

/// Builds the health registry.
///
/// # Errors
/// A registration keel-health refuses.
pub fn build(db: &Db, redis: Option<&Redis>) -> Result<Health, String> {
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
            async move {
                let start = std::time::Instant::now();
                match pg.ping().await {
                    Ok(_) => timed(start),
                    Err(e) => Observation::fail(e.to_string()),
                }
            }
        });
    if let Some(redis) = redis {
        let client = redis.clone();
        let conn: Arc<tokio::sync::OnceCell<RedisConnection>> = Arc::default();
        // Non-critical: without Redis, rate limits and the cache fall back to memory, so an
        // outage degrades readiness to `warn` (still 200) instead of taking every replica
        // out of the load balancer at once.
        let options = CheckOptions::builder("redis:responseTime")
            .component_type("datastore")
            .non_critical()
            .timeout(Duration::from_secs(1));
        builder = builder.check(options, move || {
            let (client, conn) = (client.clone(), Arc::clone(&conn));
            async move {
                let start = std::time::Instant::now();
                // One auto-reconnecting connection, made by the first check that finds Redis
                // up (a Redis that is down at startup must not block startup).
                let manager = conn.get_or_try_init(|| client.connect()).await;
                let mut manager = match manager {
                    Ok(m) => m.clone(),
                    Err(e) => return Observation::fail(e.to_string()),
                };
                match redis::cmd("PING").query_async::<String>(&mut manager).await {
                    Ok(_) => timed(start),
                    Err(e) => Observation::fail(e.to_string()),
                }
            }
        });
    }
    builder.build().map_err(|e| format!("health: {e}"))
}
