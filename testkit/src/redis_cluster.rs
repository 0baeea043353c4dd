use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{find_binary, free_port, wait_for_port};

/// Number of hash slots of a Redis Cluster.
const SLOTS: u16 = 16_384;

/// A private, throwaway Redis Cluster of masters without replicas on loopback:
/// `redis-server --cluster-enabled yes` per node on free ports (the cluster bus on
/// `port + 10000`), joined with `redis-cli --cluster create … --cluster-replicas 0`.
/// Killed and its directory deleted on drop.
///
/// The nodes run with `cluster-require-full-coverage no` and a 2 s node timeout: after
/// [`kill`](Self::kill), the slots of the killed master fail while the other masters
/// keep serving theirs, as in a production cluster between a master's death and its
/// replica's promotion. [`restart`](Self::restart) brings the node back with its
/// slots (its `nodes.conf` survives).
///
/// ```no_run
/// let mut cluster = keel_testkit::TempRedisCluster::start_new(3)?;
/// let seeds = cluster.urls(); // redis://127.0.0.1:<port> per node
/// let owner = cluster.node_for_key("user:{42}:name")?;
/// cluster.kill(owner);
/// cluster.restart(owner)?;
/// # drop(seeds); Ok::<(), String>(())
/// ```
#[derive(Debug)]
pub struct TempRedisCluster {
    server: PathBuf,
    cli: PathBuf,
    dir: PathBuf,
    nodes: Vec<Node>,
}

#[derive(Debug)]
struct Node {
    port: u16,
    child: Option<Child>,
}

impl TempRedisCluster {
    /// Starts `masters` nodes (at least 3, Redis' minimum for a cluster) and creates
    /// the cluster; returns once every node reports `cluster_state:ok`.
    ///
    /// # Errors
    /// When `redis-server` / `redis-cli` are missing (`KEEL_TEST_REDIS_SERVER`,
    /// `KEEL_TEST_REDIS_CLI`, `PATH`, `/usr/bin`), a node does not start, or the cluster
    /// is not ok within 20 s.
    pub fn start_new(masters: usize) -> Result<Self, String> {
        if masters < 3 {
            return Err(format!(
                "a Redis Cluster needs at least 3 masters, not {masters}"
            ));
        }
        let dirs = ["/usr/bin", "/usr/local/bin"];
        let server = find_binary("redis-server", "KEEL_TEST_REDIS_SERVER", &dirs)
            .ok_or("redis-server not found: install Debian's `redis-server` package")?;
        let cli = find_binary("redis-cli", "KEEL_TEST_REDIS_CLI", &dirs)
            .ok_or("redis-cli not found: install Debian's `redis-tools` package")?;
        let dir = std::env::temp_dir().join(crate::unique_name("keel_redis_cluster"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mut cluster = Self {
            server,
            cli,
            dir,
            nodes: Vec::with_capacity(masters),
        };
        for _ in 0..masters {
            let port = cluster_port(&cluster.nodes)?;
            cluster.nodes.push(Node { port, child: None });
        }
        for i in 0..masters {
            cluster.spawn(i)?;
        }
        let mut create = Command::new(&cluster.cli);
        create.arg("--cluster").arg("create");
        for n in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", n.port));
        }
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run redis-cli --cluster create: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        cluster.wait_ok(Duration::from_secs(20))?;
        Ok(cluster)
    }

    /// The node URLs, `redis://127.0.0.1:<port>`, in node order: the seed list a
    /// cluster client takes.
    pub fn urls(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.url(i)).collect()
    }

    /// The URL of node `i`.
    ///
    /// # Panics
    /// When `i` is not a node index.
    pub fn url(&self, i: usize) -> String {
        format!("redis://127.0.0.1:{}", self.nodes[i].port)
    }

    /// The port of node `i`.
    ///
    /// # Panics
    /// When `i` is not a node index.
    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].port
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a cluster has at least 3 nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether node `i` is running.
    ///
    /// # Panics
    /// When `i` is not a node index.
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// The index of the node serving `key`'s hash slot (hash tags `{…}` honoured), as
    /// the running nodes report it (`CLUSTER NODES`).
    ///
    /// # Errors
    /// When no running node answers or no node serves the slot.
    pub fn node_for_key(&self, key: &str) -> Result<usize, String> {
        self.node_for_slot(key_slot(key.as_bytes()))
    }

    /// The index of the node serving hash slot `slot`.
    ///
    /// # Errors
    /// As for [`node_for_key`](Self::node_for_key).
    pub fn node_for_slot(&self, slot: u16) -> Result<usize, String> {
        let port = (0..self.nodes.len())
            .filter(|&i| self.is_running(i))
            .find_map(|i| self.cli(i, &["cluster", "nodes"]).ok())
            .ok_or("no cluster node answers CLUSTER NODES")?
            .lines()
            .find_map(|line| owner_port(line, slot))
            .ok_or(format!("no master serves slot {slot}"))?;
        self.nodes
            .iter()
            .position(|n| n.port == port)
            .ok_or(format!("slot {slot} is served by unknown port {port}"))
    }

    /// Kills node `i` (SIGKILL) and waits for it to exit. Its slots fail until
    /// [`restart`](Self::restart).
    ///
    /// # Panics
    /// When `i` is not a node index.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts node `i` on its port with its cluster configuration, and waits until
    /// every running node reports `cluster_state:ok` again.
    ///
    /// # Errors
    /// When it does not start or the cluster is not ok within 20 s.
    ///
    /// # Panics
    /// When `i` is not a node index.
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        if self.nodes[i].child.is_none() {
            self.spawn(i)?;
        }
        self.wait_ok(Duration::from_secs(20))
    }

    fn spawn(&mut self, i: usize) -> Result<(), String> {
        let port = self.nodes[i].port;
        let child = Command::new(&self.server)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &format!("nodes-{port}.conf"),
                "--cluster-node-timeout",
                "2000",
                "--cluster-require-full-coverage",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        self.nodes[i].child = Some(child);
        if wait_for_port(port, Duration::from_secs(10)) {
            Ok(())
        } else {
            self.kill(i);
            Err(format!("redis-server did not listen on port {port}"))
        }
    }

    fn cli(&self, i: usize, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.cli)
            .args(["-h", "127.0.0.1", "-p", &self.nodes[i].port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("run redis-cli: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("redis-cli {args:?} failed"))
        }
    }

    /// Waits until every running node reports `cluster_state:ok` and knows every slot.
    fn wait_ok(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let ok = (0..self.nodes.len())
                .filter(|&i| self.is_running(i))
                .all(|i| {
                    self.cli(i, &["cluster", "info"]).is_ok_and(|info| {
                        info.contains("cluster_state:ok")
                            && info.contains(&format!("cluster_slots_ok:{SLOTS}"))
                    })
                });
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the Redis Cluster in {} did not reach cluster_state:ok",
                    self.dir.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for TempRedisCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        remove_dir(&self.dir);
    }
}

fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

/// A free port whose cluster bus port (`+ 10000`) is free too and not among `taken`.
fn cluster_port(taken: &[Node]) -> Result<u16, String> {
    for _ in 0..200 {
        let p = free_port();
        let Some(bus) = p.checked_add(10_000) else {
            continue;
        };
        let clash = taken.iter().any(|n| {
            [n.port, n.port + 10_000]
                .iter()
                .any(|&q| q == p || q == bus)
        });
        if !clash && TcpListener::bind(("127.0.0.1", bus)).is_ok() {
            return Ok(p);
        }
    }
    Err("no free port pair (port, port + 10000) on loopback".to_owned())
}

/// The port of the master in one `CLUSTER NODES` line if it serves `slot`.
fn owner_port(line: &str, slot: u16) -> Option<u16> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 9 || !fields[2].split(',').any(|f| f == "master") {
        return None;
    }
    // `ip:port@cport[,hostname]`
    let port = fields[1]
        .split('@')
        .next()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()?;
    fields[8..].iter().find_map(|range| {
        // Ranges `a-b` or single slots `a`; `[…]` entries are slots being migrated.
        if range.starts_with('[') {
            return None;
        }
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
        (a..=b).contains(&slot).then_some(port)
    })
}

/// The hash slot of `key`: CRC16 (XMODEM) of the key, or of the first non-empty
/// `{…}` hash tag in it, modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(tagged) % SLOTS
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0.
        for (key, slot) in [
            ("foo", 12_182),
            ("bar", 5_061),
            ("{user1000}.following", 3_443),
            ("{user1000}.followers", 3_443),
            ("foo{}{bar}", 8_363),
            ("foo{{bar}}zap", 4_015),
            ("", 0),
        ] {
            assert_eq!(key_slot(key.as_bytes()), slot, "{key}");
        }
    }

    #[test]
    fn cluster_nodes_lines_are_parsed() {
        let line =
            "07c3 127.0.0.1:30004@40004 myself,master - 0 0 1 connected 0-5460 7000 [9300->-e7d]";
        assert_eq!(owner_port(line, 0), Some(30004));
        assert_eq!(owner_port(line, 5460), Some(30004));
        assert_eq!(owner_port(line, 7000), Some(30004));
        assert_eq!(owner_port(line, 5461), None);
        assert_eq!(owner_port(line, 9300), None);
        let replica = "67ed 127.0.0.1:30002@40002 slave 07c3 0 0 1 connected";
        assert_eq!(owner_port(replica, 0), None);
    }

    /// A real cluster: slots computed here agree with the server's, a killed master
    /// refuses connections while the others serve, and a restart rejoins it.
    #[test]
    fn a_real_cluster_starts_kills_and_restarts() {
        let started = Instant::now();
        let mut c = match TempRedisCluster::start_new(3) {
            Ok(c) => c,
            Err(e) => {
                assert!(!crate::services_required(), "{e}");
                eprintln!("SKIPPED: {e}");
                return;
            }
        };
        eprintln!("cluster started in {:?}", started.elapsed());
        assert_eq!(c.urls().len(), 3);
        for key in ["foo", "{user1000}.following", "keel:rl:{x}"] {
            let slot: u16 = c
                .cli(0, &["cluster", "keyslot", key])
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert_eq!(key_slot(key.as_bytes()), slot, "{key}");
        }
        let owners: std::collections::HashSet<usize> = [0, 6000, 12000]
            .into_iter()
            .map(|s| c.node_for_slot(s).unwrap())
            .collect();
        assert_eq!(owners.len(), 3, "each master serves a third of the slots");
        let victim = c.node_for_key("foo").unwrap();
        c.kill(victim);
        assert!(!c.is_running(victim));
        assert!(std::net::TcpStream::connect(("127.0.0.1", c.port(victim))).is_err());
        let other = (victim + 1) % 3;
        assert!(c.cli(other, &["ping"]).unwrap().contains("PONG"));
        c.restart(victim).unwrap();
        assert_eq!(c.node_for_key("foo").unwrap(), victim, "its slots are back");
        let dir = c.dir.clone();
        drop(c);
        assert!(!dir.exists(), "the data directory is removed on drop");
    }
}
