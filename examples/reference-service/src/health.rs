//! Health (keel-health): PostgreSQL for readiness and startup, Redis (non-critical) when
//! configured, and the system checks (memory, disk, load, runtime) in the full report
//! only, non-critical: a full disk shows in `/health` but takes no replica out of rotation.
//! Details only for admins (and loopback callers when enabled).

use std::time::Duration;

use axum::Router;
use keel_auth::axum::{Authenticated, VerifyBearerLayer};
use keel_health::axum::{DetailsPolicy, HealthRouter};
use keel_health::{CheckOptions, Health, Probe};
use keel_ratelimit::redis::RedisConnection;

use crate::db::Db;
use crate::domain::Role;
use crate::state::AppState;

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

impl AppState {
    /// `/health/*` (keel-health): details for a valid, unrevoked admin token (keel-auth's
    /// `VerifyBearerLayer` verifies it, around the full report only: the probes never pay
    /// for it), and for loopback callers only with `KEEL_HEALTH_DETAILS_LOOPBACK=true` (a
    /// same-host proxy or sidecar makes every client loopback).
    pub fn health_router(&self) -> Router {
        let mut policy = DetailsPolicy::when(|parts| {
            let admin = parts.extensions.get::<Authenticated>();
            admin.is_some_and(|a| a.has_role(Role::Admin.as_str()))
        });
        if self.config.health_details_loopback {
            policy = policy.or(DetailsPolicy::loopback());
        }
        HealthRouter::new(self.health.clone())
            .details(policy)
            .into_router_with_report_layer(VerifyBearerLayer::new(self.authenticator.clone()))
    }
}
