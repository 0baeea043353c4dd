//! The task that applies invalidations published by other replicas.

use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{oneshot, watch};

use super::{Message, RedisL2, decode_message};
use crate::CacheKey;
use crate::cache::Inner;
use crate::stats::bump;

/// Subscribes to the invalidation channel and applies messages until the cache is
/// dropped; reconnects with backoff. After a reconnection the memory tier is cleared:
/// messages published during the gap are lost, so any memory entry may be stale.
///
/// `clients` are the nodes it may subscribe on, in order: one for a single node, the
/// seeds of a cluster (where classic `PUBLISH` reaches every node, so any node will
/// do). A failed subscription moves on to the next node.
pub(super) async fn run<K, V>(
    clients: Vec<redis::Client>,
    cache: Weak<Inner<K, V>>,
    tier: Weak<RedisL2<V>>,
    mut shutdown: watch::Receiver<()>,
    ready: oneshot::Sender<()>,
) where
    K: CacheKey,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    let mut ready = Some(ready);
    let mut connected_before = false;
    let mut backoff = Duration::from_millis(50);
    let mut node = 0usize;
    loop {
        let Some(client) = clients.get(node % clients.len().max(1)) else {
            return;
        };
        node = node.wrapping_add(1);
        // Each seed is tried once before backing off.
        let full_round = node.is_multiple_of(clients.len().max(1));
        let Some(l2) = tier.upgrade() else { return };
        let (channel, op_timeout, max_backoff, name) = (
            l2.channel.clone(),
            l2.op_timeout,
            l2.retry_interval,
            std::sync::Arc::clone(&l2.name),
        );
        drop(l2);
        let subscribed = tokio::time::timeout(op_timeout * 4, async {
            let mut ps = client.get_async_pubsub().await?;
            ps.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(ps)
        })
        .await;
        let pubsub = match subscribed {
            Ok(Ok(ps)) => ps,
            Ok(Err(e)) => {
                tracing::debug!(cache = %name, error = %e, "invalidation channel: subscribe failed");
                if full_round {
                    if wait_or_shutdown(&mut shutdown, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(max_backoff.max(Duration::from_millis(50)));
                }
                continue;
            }
            Err(_) => {
                tracing::debug!(cache = %name, "invalidation channel: subscribe timed out");
                if full_round {
                    if wait_or_shutdown(&mut shutdown, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(max_backoff.max(Duration::from_millis(50)));
                }
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        // Stay on the node that answered until it fails.
        node = node.wrapping_sub(1);
        if connected_before {
            let (Some(inner), Some(l2)) = (cache.upgrade(), tier.upgrade()) else {
                return;
            };
            tracing::info!(cache = %name, "invalidation channel back; clearing the memory tier (invalidations may have been missed)");
            inner.invalidate_all_local();
            l2.mark_unknown();
        } else {
            tracing::debug!(cache = %name, "invalidation channel subscribed");
        }
        connected_before = true;
        if let Some(tx) = ready.take() {
            let _ = tx.send(());
        }
        let mut stream = pubsub.into_on_message();
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    let (Some(inner), Some(l2)) = (cache.upgrade(), tier.upgrade()) else { return };
                    let Ok(payload) = std::str::from_utf8(msg.get_payload_bytes()) else { continue };
                    apply(&inner, &l2, payload).await;
                }
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
        tracing::warn!(cache = %name, "invalidation channel lost; reconnecting");
    }
}

/// Sleeps `d`; true when the cache was dropped meanwhile.
async fn wait_or_shutdown(shutdown: &mut watch::Receiver<()>, d: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => false,
        changed = shutdown.changed() => changed.is_err(),
    }
}

pub(super) async fn apply<K, V>(inner: &Inner<K, V>, l2: &RedisL2<V>, payload: &str)
where
    K: CacheKey,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    let Some((sender, message)) = decode_message(payload) else {
        tracing::debug!(cache = %l2.name, "ignoring a malformed invalidation message");
        return;
    };
    if sender == l2.instance {
        return;
    }
    match message {
        Message::Key(k) => match K::from_key_str(k) {
            Some(key) => inner.invalidate_local(&key).await,
            None => inner.invalidate_exact_string_local(k).await,
        },
        Message::Prefix(p) => inner.invalidate_prefix_local(p).await,
        Message::All(v) => {
            l2.version.fetch_max(v, std::sync::atomic::Ordering::SeqCst);
            inner.invalidate_all_local();
        }
    }
    // Counted once applied, so "received" means "this instance no longer serves it".
    bump(&l2.counters.invalidations_received);
}
