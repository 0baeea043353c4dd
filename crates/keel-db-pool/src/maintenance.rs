//! The background task: deadpool does nothing by itself, so every
//! `maintenance_interval` this task closes idle connections that are broken, expired
//! or idle too long, refills `min_idle`, reports leaks, and publishes gauges.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use deadpool::managed::{PoolError, TimeoutType, Timeouts};

use crate::manager::{DeadPool, Shared, WeakPool};
use crate::metrics::CloseCause;

pub(crate) async fn run(weak: WeakPool, shared: Arc<Shared>) {
    let interval = shared.config.maintenance_interval;
    let mut prewarm = Backoff::default();
    loop {
        {
            let Some(pool) = weak.upgrade() else { break };
            if pool.is_closed() {
                break;
            }
            reap(&pool, &shared);
            if shared.config.min_idle > 0 && pool.status().size < shared.config.min_idle {
                fill_min_idle(&pool, &shared, &mut prewarm).await;
            }
            report_leaks(&shared);
            #[cfg(feature = "metrics")]
            if let Some(export) = &shared.stats.export {
                let s = pool.status();
                export.publish(
                    &shared.stats,
                    crate::PoolStatus {
                        max_size: s.max_size,
                        size: s.size,
                        idle: s.available,
                        in_use: s.size - s.available,
                        waiting: s.waiting,
                    },
                );
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// Closes idle connections that are closed, invalidated, expired, or (above
/// `min_idle`) idle longer than `idle_timeout`.
pub(crate) fn reap(pool: &DeadPool, shared: &Shared) {
    let now = Instant::now();
    let now_ns = shared.ns(now);
    let config = &shared.config;
    let mut may_idle_out = pool.status().size.saturating_sub(config.min_idle);
    let mut lost = None;
    let removed = pool
        .retain(|c, _| {
            let m = &c.meta;
            let cause = if c.client.is_closed() {
                lost.get_or_insert(m.created_ns);
                Some(CloseCause::Broken)
            } else if m.broken.load(Ordering::Relaxed) {
                Some(CloseCause::Broken)
            } else if shared.is_invalidated(m.created_ns) {
                Some(CloseCause::Invalidated)
            } else if m.expired(now) {
                Some(CloseCause::Lifetime)
            } else if may_idle_out > 0
                && config.idle_timeout.is_some_and(|t| m.idle_for(now_ns) >= t)
            {
                may_idle_out -= 1;
                Some(CloseCause::Idle)
            } else {
                None
            };
            match cause {
                Some(cause) => {
                    m.cause.set(cause);
                    false
                }
                None => true,
            }
        })
        .removed;
    if !removed.is_empty() {
        tracing::debug!(pool = %config.name, closed = removed.len(), "closed idle database connections");
    }
    drop(removed);
    if let Some(created_ns) = lost {
        shared.connection_lost(created_ns);
    }
}

/// Exponential backoff for background connection attempts while the database is down.
#[derive(Debug, Default)]
struct Backoff {
    delay: Duration,
    next: Option<Instant>,
}

impl Backoff {
    fn ready(&self, now: Instant) -> bool {
        self.next.is_none_or(|n| now >= n)
    }
    fn failed(&mut self, now: Instant) {
        self.delay = (self.delay * 2).clamp(Duration::from_millis(500), Duration::from_secs(30));
        self.next = Some(now + self.delay);
    }
    fn succeeded(&mut self) {
        *self = Self::default();
    }
}

/// Opens connections until `min_idle` are open: holds checked-out connections so the
/// pool has to open new ones, then returns them all as idle.
async fn fill_min_idle(pool: &DeadPool, shared: &Shared, backoff: &mut Backoff) {
    if !backoff.ready(Instant::now()) {
        return;
    }
    let config = &shared.config;
    let timeouts = Timeouts {
        // Never queue behind real callers: a busy pool is not idle anyway.
        wait: Some(Duration::ZERO),
        create: Some(config.connect_timeout),
        recycle: Some(config.recycle_timeout),
    };
    let mut held = Vec::new();
    while pool.status().size < config.min_idle && held.len() < config.max_size {
        match pool.timeout_get(&timeouts).await {
            Ok(obj) => held.push(obj),
            Err(PoolError::Timeout(TimeoutType::Wait)) => break,
            Err(e) => {
                tracing::debug!(pool = %config.name, error = %e, "could not pre-open a connection");
                backoff.failed(Instant::now());
                break;
            }
        }
    }
    if pool.status().size >= config.min_idle {
        backoff.succeeded();
    }
    let now_ns = shared.ns(Instant::now());
    for obj in held {
        obj.meta.checked_out_ns.store(now_ns, Ordering::Relaxed);
    }
}

fn report_leaks(shared: &Shared) {
    let Some(threshold) = shared.config.leak_threshold else {
        return;
    };
    for leak in shared.leases.scan(Instant::now(), threshold) {
        shared.stats.leaks.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            pool = %shared.config.name,
            held_ms = u64::try_from(leak.held.as_millis()).unwrap_or(u64::MAX),
            location = %leak.location,
            "a database connection has been held longer than the leak threshold; is it leaked?"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_resets() {
        let mut b = Backoff::default();
        let t = Instant::now();
        assert!(b.ready(t));
        b.failed(t);
        assert!(!b.ready(t));
        assert!(b.ready(t + Duration::from_millis(500)));
        b.failed(t);
        assert_eq!(b.delay, Duration::from_secs(1));
        for _ in 0..10 {
            b.failed(t);
        }
        assert_eq!(b.delay, Duration::from_secs(30));
        b.succeeded();
        assert!(b.ready(t));
    }
}
