//! The Redis second tier (feature `redis`): [`RedisTier`] and
//! [`CacheBuilder::build_with_redis`](crate::CacheBuilder::build_with_redis).
//!
//! * A memory hit makes no network call. A memory miss reads Redis (`GET` + `PTTL` in one
//!   round trip), then runs the loader and writes the value back with its TTL (`SET … PX`).
//! * Keys: `{key_prefix}{cache name}:{namespace version}:{CacheKey string}`. Bumping the
//!   version ([`Cache::invalidate_all`](crate::Cache::invalidate_all)) makes every old key
//!   unreachable in O(1); they expire on their own.
//! * Invalidations are published on `{key_prefix}{cache name}:__invalidate`; every other
//!   instance drops its memory copy when the message arrives (milliseconds on a LAN).
//! * Redis down: every operation is bounded by [`RedisTier::op_timeout`]; after a failure
//!   Redis is skipped for [`RedisTier::retry_interval`], then probed again. Callers never
//!   see a Redis error; it is logged once per outage and counted in
//!   [`L2Stats`](crate::L2Stats) (`errors`, and `outages` for each switch to memory-only).
//!   When the invalidation channel reconnects after a gap the memory tier is cleared,
//!   because invalidations may have been missed.
//!
//! # Redis Cluster (feature `redis-cluster`)
//!
//! `RedisTier::cluster` takes seed node URLs. Every command of the tier touches one key
//! (`GET` + `PTTL` of one key, `SET`, `UNLINK`, `INCR` of the version key), so nothing
//! needs a hash tag and a cache's keys spread over all masters. A prefix invalidation
//! `SCAN`s every master. Invalidations use classic `PUBLISH`, which a cluster forwards to
//! **every** node, and each instance subscribes on one node (the first seed that
//! answers, the next one when it fails): a subscriber hears every replica's
//! invalidations whichever node either is connected to. (Sharded `SPUBLISH` reaches
//! only the channel's shard: cheaper on a large cluster, but one master's death would
//! silence invalidations for everybody until its failover.) A failed master is an
//! outage like a failed single node: the tier goes memory-only until a probe reaches
//! that master again.

mod codec;
mod config;
mod conn;
mod subscriber;

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::clock::duration_nanos;
use crate::entry::{Entry, NEVER};
use crate::stats::{Counters, bump};
use crate::tier::{BoxFut, L2Get, SecondTier};
use crate::{Cache, CacheBuilder, CacheKey, Clock, Error};
pub use config::{RedisTier, Topology};
use conn::{Conn, ScanNode};

impl<K, V> CacheBuilder<K, V>
where
    K: CacheKey,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Builds a two-tier cache: this builder's memory tier in front of Redis.
    ///
    /// Waits (up to the tier's `op_timeout` each) for the first contact with Redis and
    /// for the invalidation subscription, so invalidations published once this returns
    /// are received. A Redis that is down is **not** an error: the cache starts
    /// memory-only and picks Redis up when it answers.
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a Tokio runtime; [`Error::Redis`] when the cache name
    /// is not `[A-Za-z0-9._-]+` (it is part of every Redis key) or the client cannot be set
    /// up at all (not for an unreachable server).
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let cache: keel_cache::Cache<String, Vec<String>> = keel_cache::Cache::builder("tags")
    ///     .build_with_redis(keel_cache::redis::RedisTier::new(client))
    ///     .await?;
    /// # drop(cache); Ok(()) }
    /// ```
    pub async fn build_with_redis(self, tier: RedisTier) -> Result<Cache<K, V>, Error> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        // `:` separates the name from the namespace version in Redis keys; allowing it
        // would let two caches' keys collide.
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(Error::Redis(format!(
                "cache name {:?} must be non-empty ASCII letters, digits, '-', '_' or '.'",
                self.name
            )));
        }
        let conn = config::connect(&tier)?;
        let counters = Arc::new(Counters::default());
        let (shutdown, shutdown_rx) = watch::channel(());
        let base = format!("{}{}:", tier.key_prefix, self.name);
        let l2 = Arc::new(RedisL2::<V> {
            conn,
            version_key: format!("{base}__version"),
            channel: format!("{base}__invalidate"),
            base,
            schema: tier.schema_version,
            op_timeout: tier.op_timeout,
            retry_interval: tier.retry_interval,
            max_value_bytes: tier.max_value_bytes,
            broadcast: tier.broadcast,
            version: AtomicU64::new(0),
            up: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
            failed_key: Mutex::new(None),
            origin: Instant::now(),
            counters: Arc::clone(&counters),
            clock: self.clock.clone(),
            name: Arc::from(self.name.as_str()),
            instance: instance_id(),
            _shutdown: shutdown,
            _value: PhantomData,
        });
        // First contact: learn the namespace version, or start memory-only.
        l2.available().await;
        let tier_obj: Arc<dyn SecondTier<V>> = Arc::clone(&l2) as _;
        let cache = Cache::from_builder_with_l2(self, tier_obj, counters);
        if tier.broadcast {
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            handle.spawn(subscriber::run(
                tier.target.subscribe_to(),
                Arc::downgrade(cache.inner()),
                Arc::downgrade(&l2),
                shutdown_rx,
                ready_tx,
            ));
            let _ = tokio::time::timeout(tier.op_timeout * 2, ready_rx).await;
        }
        Ok(cache)
    }
}

fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// An invalidation message: `{instance}\n{op}\n{arg}`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    Key(&'a str),
    Prefix(&'a str),
    All(u64),
}

pub(crate) fn encode_message(instance: &str, m: &Message<'_>) -> String {
    match m {
        Message::Key(k) => format!("{instance}\nk\n{k}"),
        Message::Prefix(p) => format!("{instance}\np\n{p}"),
        Message::All(v) => format!("{instance}\na\n{v}"),
    }
}

/// `(sender, message)`, or `None` for anything malformed (ignored).
pub(crate) fn decode_message(payload: &str) -> Option<(&str, Message<'_>)> {
    let mut parts = payload.splitn(3, '\n');
    let sender = parts.next()?;
    let op = parts.next()?;
    let arg = parts.next()?;
    let m = match op {
        "k" => Message::Key(arg),
        "p" => Message::Prefix(arg),
        "a" => Message::All(arg.parse().ok()?),
        _ => return None,
    };
    Some((sender, m))
}

/// Escapes Redis glob metacharacters so a prefix matches literally in `SCAN MATCH`.
fn glob_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
}

pub(crate) struct RedisL2<V> {
    conn: Conn,
    base: String,
    version_key: String,
    pub(crate) channel: String,
    schema: u32,
    pub(crate) op_timeout: Duration,
    pub(crate) retry_interval: Duration,
    max_value_bytes: usize,
    broadcast: bool,
    pub(crate) version: AtomicU64,
    up: AtomicBool,
    /// While down: when (nanos since `origin`) the next probe may run.
    retry_at: AtomicU64,
    /// The key (or channel) whose failure began the outage: probes check its node too,
    /// so a cluster with one dead master does not flap between up and down.
    failed_key: Mutex<Option<String>>,
    origin: Instant,
    pub(crate) counters: Arc<Counters>,
    clock: Clock,
    pub(crate) name: Arc<str>,
    pub(crate) instance: String,
    /// Dropped with the tier, which stops the subscriber task.
    _shutdown: watch::Sender<()>,
    _value: PhantomData<fn() -> V>,
}

type RedisResult<T> = Result<T, String>;

impl<V> RedisL2<V>
where
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    fn elapsed(&self) -> u64 {
        duration_nanos(self.origin.elapsed())
    }

    fn data_key(&self, key: &str) -> String {
        let v = self.version.load(Ordering::SeqCst);
        format!("{}{v}:{key}", self.base)
    }

    async fn query<T: redis::FromRedisValue>(&self, p: &redis::Pipeline) -> RedisResult<T> {
        let mut conn = self.conn.clone();
        self.bounded(p.query_async::<T>(&mut conn)).await
    }

    /// One command (not pipelined: a cluster splits a multi-key `UNLINK` by slot).
    async fn query_cmd<T: redis::FromRedisValue>(&self, c: &redis::Cmd) -> RedisResult<T> {
        let mut conn = self.conn.clone();
        self.bounded(c.query_async::<T>(&mut conn)).await
    }

    async fn bounded<T>(&self, f: impl Future<Output = redis::RedisResult<T>>) -> RedisResult<T> {
        match tokio::time::timeout(self.op_timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.op_timeout)),
        }
    }

    /// While down: the node of the key whose failure began the outage answers.
    async fn probe_failed_node(&self) -> RedisResult<()> {
        let failed = self
            .failed_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(key) = failed else { return Ok(()) };
        let mut c = redis::cmd("EXISTS");
        c.arg(key);
        self.query_cmd::<i64>(&c).await.map(|_| ())
    }

    /// Whether Redis may be used now. While it is marked down, one caller per
    /// `retry_interval` probes it (reading the namespace version); the others skip it.
    pub(crate) async fn available(&self) -> bool {
        if self.up.load(Ordering::SeqCst) {
            return true;
        }
        let now = self.elapsed();
        let at = self.retry_at.load(Ordering::SeqCst);
        let next = now.saturating_add(duration_nanos(self.retry_interval));
        if now < at
            || self
                .retry_at
                .compare_exchange(at, next, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            bump(&self.counters.l2_skipped);
            return false;
        }
        let mut p = redis::pipe();
        p.cmd("GET").arg(&self.version_key);
        let probe = match self.probe_failed_node().await {
            Ok(()) => self.query::<(Option<u64>,)>(&p).await,
            Err(e) => Err(e),
        };
        match probe {
            Ok((v,)) => {
                self.version.store(v.unwrap_or(0), Ordering::SeqCst);
                *self
                    .failed_key
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                self.up.store(true, Ordering::SeqCst);
                tracing::info!(cache = %self.name, "Redis tier available");
                true
            }
            Err(e) => {
                bump(&self.counters.l2_errors);
                tracing::debug!(cache = %self.name, error = %e, "Redis still unavailable");
                false
            }
        }
    }

    /// Records a failed operation on `key` (a data key, the version key or the
    /// channel): counted, and the first failure of an outage logged and remembered.
    pub(crate) fn failed(&self, op: &str, key: &str, e: &str) {
        bump(&self.counters.l2_errors);
        let next = self
            .elapsed()
            .saturating_add(duration_nanos(self.retry_interval));
        self.retry_at.store(next, Ordering::SeqCst);
        if self.up.swap(false, Ordering::SeqCst) {
            bump(&self.counters.l2_outages);
            *self
                .failed_key
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(key.to_owned());
            tracing::warn!(cache = %self.name, op, error = %e, "Redis tier unavailable; serving from memory and the loader until it answers again");
        } else {
            tracing::debug!(cache = %self.name, op, error = %e, "Redis tier operation failed");
        }
    }

    /// Forces a probe (re-reading the namespace version) before the next operation.
    pub(crate) fn mark_unknown(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.retry_at.store(0, Ordering::SeqCst);
    }

    async fn publish(&self, m: &Message<'_>) {
        if !self.broadcast {
            return;
        }
        let mut p = redis::pipe();
        p.cmd("PUBLISH")
            .arg(&self.channel)
            .arg(encode_message(&self.instance, m))
            .ignore();
        match self.query::<()>(&p).await {
            Ok(()) => bump(&self.counters.invalidations_sent),
            Err(e) => self.failed("PUBLISH", &self.channel, &e),
        }
    }

    async fn get_impl(&self, key: &str) -> L2Get<V> {
        if !self.available().await {
            return L2Get::Miss;
        }
        let k = self.data_key(key);
        let mut p = redis::pipe();
        p.cmd("GET").arg(&k).cmd("PTTL").arg(&k);
        let (bytes, pttl) = match self.query::<(Option<Vec<u8>>, i64)>(&p).await {
            Ok(r) => r,
            Err(e) => {
                self.failed("GET", &k, &e);
                return L2Get::Miss;
            }
        };
        let Some(bytes) = bytes else {
            bump(&self.counters.l2_misses);
            return L2Get::Miss;
        };
        let decoded = match codec::decode::<V>(&bytes, self.schema) {
            Ok(d) => d,
            Err(e) => {
                bump(&self.counters.l2_undecodable);
                bump(&self.counters.l2_misses);
                tracing::warn!(cache = %self.name, key = %k, reason = %e, "undecodable value in Redis; deleting it");
                let mut p = redis::pipe();
                p.cmd("UNLINK").arg(&k).ignore();
                if let Err(e) = self.query::<()>(&p).await {
                    self.failed("UNLINK", &k, &e);
                }
                return L2Get::Miss;
            }
        };
        if pttl == -2 {
            // Expired between GET and PTTL.
            bump(&self.counters.l2_misses);
            return L2Get::Miss;
        }
        let now = self.clock.now_nanos();
        let (fresh_until, stale_ms) = match u64::try_from(pttl) {
            Err(_) => (NEVER, 0),
            Ok(left_ms) => {
                // The key expires at the end of the stale window: what is left of the
                // window is `min(left, stale)`, the rest is fresh.
                let stale_ms = left_ms.min(decoded.stale_ms);
                let fresh_ms = left_ms - stale_ms;
                (
                    now.saturating_add(fresh_ms.saturating_mul(1_000_000)),
                    u32::try_from(stale_ms).unwrap_or(u32::MAX),
                )
            }
        };
        bump(&self.counters.l2_hits);
        L2Get::Hit(Entry {
            value: decoded.value,
            fresh_until,
            stale_ms,
            load_micros: decoded.load_micros,
        })
    }

    async fn set_impl(&self, key: &str, entry: &Entry<V>, broadcast: bool) {
        if !self.available().await {
            return;
        }
        let now = self.clock.now_nanos();
        let (stale_ms, px) = if entry.fresh_until == NEVER {
            (0, None)
        } else {
            let fresh_ns = entry.fresh_until.saturating_sub(now);
            let stale_ns = entry
                .stale_until()
                .saturating_sub(entry.fresh_until.max(now));
            let px = (fresh_ns + stale_ns).div_ceil(1_000_000);
            if px == 0 {
                return;
            }
            (stale_ns / 1_000_000, Some(px))
        };
        let bytes = match codec::encode(
            entry.value.as_ref(),
            self.schema,
            stale_ms,
            entry.load_micros,
        ) {
            Ok(b) => b,
            Err(e) => {
                bump(&self.counters.l2_errors);
                tracing::warn!(cache = %self.name, error = %e, "value does not serialize; not written to Redis");
                return;
            }
        };
        let k = self.data_key(key);
        let mut p = redis::pipe();
        if bytes.len() > self.max_value_bytes {
            bump(&self.counters.oversized);
            tracing::debug!(cache = %self.name, bytes = bytes.len(), "value over max_value_bytes; not written to Redis");
            // An older, smaller value must not outlive the newer one.
            p.cmd("UNLINK").arg(&k).ignore();
        } else {
            let mut set = redis::cmd("SET");
            set.arg(&k).arg(bytes);
            if let Some(px) = px {
                set.arg("PX").arg(px);
            }
            p.add_command(set).ignore();
        }
        match self.query::<()>(&p).await {
            Ok(()) => bump(&self.counters.l2_writes),
            Err(e) => {
                self.failed("SET", &k, &e);
                return;
            }
        }
        if broadcast {
            self.publish(&Message::Key(key)).await;
        }
    }

    async fn delete_impl(&self, key: &str, broadcast: bool) {
        if !self.available().await {
            if broadcast {
                tracing::warn!(cache = %self.name, "Redis unavailable: invalidation applied to this instance only");
            }
            return;
        }
        let k = self.data_key(key);
        let mut p = redis::pipe();
        p.cmd("UNLINK").arg(&k).ignore();
        if let Err(e) = self.query::<()>(&p).await {
            self.failed("UNLINK", &k, &e);
            return;
        }
        if broadcast {
            self.publish(&Message::Key(key)).await;
        }
    }

    async fn delete_prefix_impl(&self, prefix: &str) {
        if !self.available().await {
            tracing::warn!(cache = %self.name, "Redis unavailable: prefix invalidation applied to this instance only");
            return;
        }
        let mut pattern = String::new();
        glob_escape(&self.data_key(""), &mut pattern);
        glob_escape(prefix, &mut pattern);
        pattern.push('*');
        // A cluster keeps each key on one master: scan them all.
        let nodes = match self.bounded_nodes().await {
            Ok(n) => n,
            Err(e) => {
                self.failed("CLUSTER SLOTS", &self.version_key, &e);
                return;
            }
        };
        for node in &nodes {
            if !self.delete_matching_on(node, &pattern).await {
                return;
            }
        }
        self.publish(&Message::Prefix(prefix)).await;
    }

    async fn bounded_nodes(&self) -> RedisResult<Vec<ScanNode>> {
        match tokio::time::timeout(self.op_timeout, self.conn.scan_nodes()).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {:?}", self.op_timeout)),
        }
    }

    /// `SCAN`s `node` for `pattern` and unlinks what it finds; false after a failure.
    async fn delete_matching_on(&self, node: &ScanNode, pattern: &str) -> bool {
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000);
            let page = tokio::time::timeout(
                self.op_timeout,
                self.conn.query_on::<(u64, Vec<String>)>(node, &scan),
            )
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.op_timeout)));
            let (next, keys) = match page {
                Ok(r) => r,
                Err(e) => {
                    self.failed("SCAN", &self.version_key, &e);
                    return false;
                }
            };
            if let Some(first) = keys.first() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(&keys);
                if let Err(e) = self.query_cmd::<i64>(&unlink).await {
                    self.failed("UNLINK", first, &e);
                    return false;
                }
            }
            cursor = next;
            if cursor == 0 {
                return true;
            }
        }
    }

    async fn bump_version_impl(&self) {
        if !self.available().await {
            tracing::warn!(cache = %self.name, "Redis unavailable: invalidate_all applied to this instance only");
            return;
        }
        let mut p = redis::pipe();
        p.cmd("INCR").arg(&self.version_key);
        match self.query::<(u64,)>(&p).await {
            Ok((v,)) => {
                self.version.fetch_max(v, Ordering::SeqCst);
                self.publish(&Message::All(v)).await;
            }
            Err(e) => self.failed("INCR", &self.version_key, &e),
        }
    }
}

impl<V> SecondTier<V> for RedisL2<V>
where
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    fn get<'a>(&'a self, key: &'a str) -> BoxFut<'a, L2Get<V>> {
        Box::pin(self.get_impl(key))
    }

    fn set<'a>(&'a self, key: &'a str, entry: &'a Entry<V>, broadcast: bool) -> BoxFut<'a, ()> {
        Box::pin(self.set_impl(key, entry, broadcast))
    }

    fn delete<'a>(&'a self, key: &'a str, broadcast: bool) -> BoxFut<'a, ()> {
        Box::pin(self.delete_impl(key, broadcast))
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> BoxFut<'a, ()> {
        Box::pin(self.delete_prefix_impl(prefix))
    }

    fn bump_version(&self) -> BoxFut<'_, ()> {
        Box::pin(self.bump_version_impl())
    }

    fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_ignored() {
        for m in [
            Message::Key("user:1\nx"),
            Message::Prefix("user:"),
            Message::All(7),
        ] {
            let s = encode_message("abc", &m);
            assert_eq!(decode_message(&s), Some(("abc", m)));
        }
        assert_eq!(decode_message("abc\nk"), None);
        assert_eq!(decode_message("abc\nz\nx"), None);
        assert_eq!(decode_message("abc\na\nnope"), None);
    }

    #[test]
    fn glob_metacharacters_are_escaped() {
        let mut s = String::new();
        glob_escape("a*b?[c]\\^", &mut s);
        assert_eq!(s, "a\\*b\\?\\[c\\]\\\\\\^");
    }

    #[test]
    fn instance_ids_differ() {
        assert_ne!(instance_id(), instance_id());
    }
}
