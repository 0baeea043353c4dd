//! One node or a Redis Cluster behind one connection type, so every operation of the
//! tier (and its timeout and failure handling) is written once.
//!
//! Two things differ in a cluster and live here: `SCAN` walks one node, so a prefix
//! invalidation scans every master ([`Conn::scan_nodes`]); and a multi-key `UNLINK` is
//! split per slot by the cluster client, so it is sent as a command, never pipelined.

use redis::aio::ConnectionManager;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Value};

/// The tier's connection (internal).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

/// Where a `SCAN` runs: the single node, or one cluster master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanNode {
    Single,
    #[cfg(feature = "redis-cluster")]
    Master {
        host: String,
        port: u16,
    },
}

impl Conn {
    /// The nodes a full keyspace `SCAN` must visit.
    pub(crate) async fn scan_nodes(&self) -> Result<Vec<ScanNode>, String> {
        match self {
            Self::Single(_) => Ok(vec![ScanNode::Single]),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(c) => {
                let mut c = c.clone();
                let slots: Value = redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async(&mut c)
                    .await
                    .map_err(|e| e.to_string())?;
                cluster_masters(&slots)
            }
        }
    }

    /// Runs `cmd` on `node` (a `SCAN` page).
    pub(crate) async fn query_on<T: FromRedisValue>(
        &self,
        node: &ScanNode,
        cmd: &Cmd,
    ) -> Result<T, String> {
        match (self, node) {
            (Self::Single(c), _) => cmd
                .query_async(&mut c.clone())
                .await
                .map_err(|e| e.to_string()),
            #[cfg(feature = "redis-cluster")]
            (Self::Cluster(c), ScanNode::Master { host, port }) => {
                use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                let v = c
                    .clone()
                    .route_command(cmd.clone(), route)
                    .await
                    .map_err(|e| e.to_string())?;
                redis::from_redis_value(v).map_err(|e| e.to_string())
            }
            #[cfg(feature = "redis-cluster")]
            (Self::Cluster(_), ScanNode::Single) => {
                Err("a cluster has no single node to scan".to_owned())
            }
        }
    }
}

/// The `(host, port)` of every master in a `CLUSTER SLOTS` reply, deduplicated:
/// `[[start, end, [host, port, id, …], replicas…], …]`.
#[cfg(feature = "redis-cluster")]
fn cluster_masters(slots: &Value) -> Result<Vec<ScanNode>, String> {
    let bad = || "unexpected CLUSTER SLOTS reply".to_owned();
    let Value::Array(ranges) = slots else {
        return Err(bad());
    };
    let mut out: Vec<ScanNode> = Vec::new();
    for range in ranges {
        let Value::Array(fields) = range else {
            return Err(bad());
        };
        let Some(Value::Array(master)) = fields.get(2) else {
            return Err(bad());
        };
        let host = match master.first() {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(Value::SimpleString(s)) => s.clone(),
            _ => return Err(bad()),
        };
        let port = match master.get(1) {
            Some(Value::Int(p)) => u16::try_from(*p).map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        let node = ScanNode::Master { host, port };
        if !out.contains(&node) {
            out.push(node);
        }
    }
    Ok(out)
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(all(test, feature = "redis-cluster"))]
mod tests {
    use super::*;

    #[test]
    fn masters_from_cluster_slots() {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let range = |a: i64, b: i64, master: Value, replica: Option<Value>| {
            let mut v = vec![Value::Int(a), Value::Int(b), master];
            v.extend(replica);
            Value::Array(v)
        };
        let reply = Value::Array(vec![
            range(
                0,
                5460,
                node("10.0.0.1", 7000),
                Some(node("10.0.0.4", 7000)),
            ),
            range(5461, 10922, node("10.0.0.2", 7000), None),
            range(10923, 16383, node("10.0.0.1", 7000), None),
        ]);
        assert_eq!(
            cluster_masters(&reply).unwrap(),
            vec![
                ScanNode::Master {
                    host: "10.0.0.1".into(),
                    port: 7000
                },
                ScanNode::Master {
                    host: "10.0.0.2".into(),
                    port: 7000
                },
            ]
        );
        assert!(cluster_masters(&Value::Int(1)).is_err());
        assert!(cluster_masters(&Value::Array(vec![Value::Int(1)])).is_err());
    }
}
