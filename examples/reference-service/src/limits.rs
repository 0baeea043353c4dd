//! Rate limits (keel-ratelimit): the global per-IP layer and the client-IP rule (login and
//! signup limits are keel-auth's `LoginPolicy`). With Redis (`REDIS_URL` or a cluster)
//! every replica shares them (GCRA on the Redis clock); without it
//! they are in memory (one replica).

use std::time::Duration;

use keel_ratelimit::axum::{KeyExtractor, RateLimitLayer};
use keel_ratelimit::redis::{RedisConnection, RedisLimiter};
use keel_ratelimit::{Limiter, Quota};

use crate::config::Config;

/// How long a Redis rate-limit call may take before the local fallback answers.
const REDIS_TIMEOUT: Duration = Duration::from_millis(50);

/// The HTTP-level limits: who the client is, and the global per-IP layer.
#[derive(Debug, Clone)]
pub struct Limits {
    global: Option<Limiter>,
    client_ip: KeyExtractor,
}

impl Limits {
    /// Builds the global limiter and the client-IP rule.
    ///
    /// # Errors
    /// A message naming the variable whose quota or proxy list is malformed, or a Redis
    /// client that cannot be set up (an unreachable Redis is not an error: the limiters
    /// fall back to memory until it returns).
    pub fn new(config: &Config, redis: Option<&RedisConnection>) -> Result<Self, String> {
        let global = config.rate_limit_global.as_deref().map(|spec| {
            RedisLimiter::builder()
                .quotas(Quota::parse_many(spec)?)
                .prefix(format!("{}:rl:global:", config.redis_prefix))
                .timeout(REDIS_TIMEOUT)
                .replicas(config.replicas)
                .build_or_memory(redis.cloned())
        });
        let global = global.transpose();
        let global = global.map_err(|e| format!("KEEL_RATE_LIMIT_GLOBAL: {e}"))?;
        let client_ip = KeyExtractor::from_trusted_proxies(&config.trusted_proxies)
            .map_err(|e| format!("KEEL_TRUSTED_PROXIES: {e}"))?;
        Ok(Self { global, client_ip })
    }

    /// Who the client is: the peer, or what a trusted proxy reports (keel-ratelimit's
    /// `ClientIp` extractor and keel-auth's login limits use it through `FromRef`).
    pub fn client_ip(&self) -> &KeyExtractor {
        &self.client_ip
    }

    /// The global per-IP layer (health probes exempt), unless disabled.
    pub fn global_layer(&self) -> Option<RateLimitLayer> {
        self.global.as_ref().map(|l| {
            RateLimitLayer::new(l.clone(), self.client_ip.clone()).exempt_path_prefix("/health")
        })
    }
}
