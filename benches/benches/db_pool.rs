//! keel-db-pool next to raw deadpool-postgres, and next to `pgbench -M prepared`.
//!
//! Targets (issue #7):
//! - checkout + release overhead ≤ 1.1× raw deadpool-postgres (`db_pool/checkout`);
//! - `SELECT 1` (prepared, cached) throughput at 1, 4 and 16 tasks ≥ 0.7× `pgbench -M
//!   prepared` with a `SELECT 1` script at the same client counts, over TCP and the unix
//!   socket. Criterion measures keel vs deadpool (`db_pool/select1`); after it, this
//!   binary runs pgbench and keel back to back for a few seconds per point and prints
//!   the ratios (skip with `KEEL_BENCH_SKIP_PGBENCH=1`).
//!
//! Uses `KEEL_TEST_DATABASE_URL` if set, else starts its own `TempPostgres`.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use deadpool_postgres::{ManagerConfig, RecyclingMethod, Runtime};
use keel_db_pool::{Config, Pool, Recycling};

const MAX_SIZE: usize = 16;
const TASK_COUNTS: [usize; 3] = [1, 4, 16];

/// The server under test: the shared one, or a private one kept alive for the run.
struct Server {
    url: String,
    /// Directory of the unix socket, when known.
    socket_dir: Option<PathBuf>,
    port: u16,
    _own: Option<keel_testkit::TempPostgres>,
}

fn server() -> Server {
    if let Ok(url) = std::env::var("KEEL_TEST_DATABASE_URL") {
        if !url.is_empty() {
            let cfg: tokio_postgres::Config = url.parse().expect("KEEL_TEST_DATABASE_URL");
            let port = cfg.get_ports().first().copied().unwrap_or(5432);
            let socket_dir = ["/var/run/postgresql", "/tmp"]
                .iter()
                .map(PathBuf::from)
                .find(|d| d.join(format!(".s.PGSQL.{port}")).exists());
            return Server {
                url,
                socket_dir,
                port,
                _own: None,
            };
        }
    }
    let pg = keel_testkit::TempPostgres::start_new(&std::env::temp_dir())
        .expect("KEEL_TEST_DATABASE_URL is not set and a private PostgreSQL could not start");
    Server {
        url: pg.url(),
        socket_dir: Some(pg.data_dir().to_path_buf()),
        port: pg.port(),
        _own: Some(pg),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Client threads for `tasks` concurrent clients: `min(tasks, cores)`, as pgbench's
/// `-j` below, so both clients get the same CPU next to the server.
fn client_threads(tasks: usize) -> usize {
    tasks.min(std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn keel_pool(pg: tokio_postgres::Config) -> Pool {
    let config = Config::builder()
        .pg_config(pg)
        .max_size(MAX_SIZE)
        .build()
        .unwrap();
    assert!(matches!(config.recycling(), Recycling::VerifyIfIdle(_)));
    Pool::new(config).unwrap()
}

/// Raw deadpool-postgres as its docs suggest for production: timeouts set (else
/// `get()` can hang), `Fast` recycling, the same size.
fn raw_pool(pg: tokio_postgres::Config) -> deadpool_postgres::Pool {
    let mgr = deadpool_postgres::Manager::from_config(
        pg,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(mgr)
        .max_size(MAX_SIZE)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .runtime(Runtime::Tokio1)
        .build()
        .unwrap()
}

async fn keel_select1(pool: &Pool) {
    let row = pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
}

async fn raw_select1(pool: &deadpool_postgres::Pool) {
    let client = pool.get().await.unwrap();
    let stmt = client.prepare_cached("SELECT 1").await.unwrap();
    let row = client.query_one(&stmt, &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
}

/// Runs `iters` calls of `f` split over `tasks` tasks; returns the wall time.
fn run_split<P, F, Fut>(
    rt: &tokio::runtime::Runtime,
    pool: &P,
    tasks: usize,
    iters: u64,
    f: F,
) -> Duration
where
    P: Clone + Send + Sync + 'static,
    F: Fn(P) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    rt.block_on(async {
        let per_task = iters.div_ceil(tasks as u64);
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        f(pool.clone()).await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        start.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let server = server();
    let pg: tokio_postgres::Config = server.url.parse().unwrap();
    let rt = runtime();
    let _enter = rt.enter();
    let keel = keel_pool(pg.clone());
    let raw = raw_pool(pg);
    // Warm both pools to full size so connecting is not measured.
    rt.block_on(async {
        let k: Vec<_> = futures_join(MAX_SIZE, || keel.get()).await;
        let r: Vec<_> = futures_join(MAX_SIZE, || raw.get()).await;
        drop((k, r));
    });

    let mut g = c.benchmark_group("db_pool/checkout");
    g.bench_function("deadpool_postgres", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    drop(std::hint::black_box(raw.get().await.unwrap()));
                }
                start.elapsed()
            })
        });
    });
    g.bench_function("keel_db_pool", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    drop(std::hint::black_box(keel.get().await.unwrap()));
                }
                start.elapsed()
            })
        });
    });
    g.finish();

    let mut g = c.benchmark_group("db_pool/select1");
    g.throughput(Throughput::Elements(1));
    for tasks in TASK_COUNTS {
        g.bench_with_input(
            BenchmarkId::new("deadpool_postgres", tasks),
            &tasks,
            |b, &t| {
                b.iter_custom(|iters| {
                    run_split(
                        &rt,
                        &raw,
                        t,
                        iters,
                        |p: deadpool_postgres::Pool| async move {
                            raw_select1(&p).await;
                        },
                    )
                });
            },
        );
        g.bench_with_input(BenchmarkId::new("keel_db_pool", tasks), &tasks, |b, &t| {
            b.iter_custom(|iters| {
                run_split(&rt, &keel, t, iters, |p: Pool| async move {
                    keel_select1(&p).await;
                })
            });
        });
    }
    g.finish();
    drop(_enter);
    drop((keel, raw));
    drop(rt);

    if std::env::var("KEEL_BENCH_SKIP_PGBENCH").is_ok_and(|v| v == "1") {
        return;
    }
    pgbench_compare(&server);
}

async fn futures_join<T, E, F, Fut>(n: usize, f: F) -> Vec<T>
where
    E: std::fmt::Debug,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(f().await.unwrap());
    }
    out
}

/// Which client library runs the time-based comparison.
#[derive(Clone, Copy)]
enum Client {
    Keel,
    Deadpool,
}

/// `SELECT 1` transactions per second through `client` with `tasks` tasks for `secs`.
fn client_tps(client: Client, pg: tokio_postgres::Config, tasks: usize, secs: f64) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads(tasks))
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match client {
            Client::Keel => {
                let pool = keel_pool(pg);
                tps_loop(pool, tasks, secs, |p: Pool| async move {
                    keel_select1(&p).await;
                })
                .await
            }
            Client::Deadpool => {
                let pool = raw_pool(pg);
                tps_loop(pool, tasks, secs, |p: deadpool_postgres::Pool| async move {
                    raw_select1(&p).await;
                })
                .await
            }
        }
    })
}

async fn tps_loop<P, F, Fut>(pool: P, tasks: usize, secs: f64, f: F) -> f64
where
    P: Clone + Send + Sync + 'static,
    F: Fn(P) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Warm up: open the connections and prepare the statement on each.
    let warm: Vec<_> = (0..tasks).map(|_| tokio::spawn(f(pool.clone()))).collect();
    for w in warm {
        w.await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (pool, stop, count) = (pool.clone(), Arc::clone(&stop), Arc::clone(&count));
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    f(pool.clone()).await;
                    n += 1;
                }
                count.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    #[allow(clippy::cast_precision_loss)]
    let tps = count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    tps
}

/// `pgbench -M prepared -f select1.sql -c tasks -j min(tasks, cores)` for `secs`.
fn pgbench_tps(
    pgbench: &std::path::Path,
    host: &str,
    port: u16,
    user: &str,
    db: &str,
    tasks: usize,
    secs: u64,
) -> Option<f64> {
    let script = std::env::temp_dir().join(format!("keel-select1-{}.sql", std::process::id()));
    std::fs::write(&script, "SELECT 1;\n").ok()?;
    let out = Command::new(pgbench)
        .args(["-n", "-M", "prepared", "-f"])
        .arg(&script)
        .args([
            "-c",
            &tasks.to_string(),
            "-j",
            &client_threads(tasks).to_string(),
        ])
        .args([
            "-T",
            &secs.to_string(),
            "-h",
            host,
            "-p",
            &port.to_string(),
            "-U",
            user,
            db,
        ])
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        eprintln!(
            "pgbench failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    // "tps = 12345.678901 (without initial connection time)"
    text.lines()
        .find(|l| l.starts_with("tps = ") && l.contains("without initial connection time"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
}

/// `pgbench` next to `initdb` (following a symlink such as `/usr/local/bin/initdb`),
/// else on `PATH` or in the Debian directories.
fn find_pgbench() -> Option<PathBuf> {
    if let Some(bindir) = keel_testkit::TempPostgres::find_bindir() {
        let real =
            std::fs::canonicalize(bindir.join("initdb")).unwrap_or_else(|_| bindir.join("initdb"));
        for dir in [Some(bindir.as_path()), real.parent()]
            .into_iter()
            .flatten()
        {
            if dir.join("pgbench").is_file() {
                return Some(dir.join("pgbench"));
            }
        }
    }
    keel_testkit::find_binary(
        "pgbench",
        "KEEL_PGBENCH",
        &[
            "/usr/lib/postgresql/17/bin",
            "/usr/lib/postgresql/16/bin",
            "/usr/lib/postgresql/15/bin",
        ],
    )
}

fn pgbench_compare(server: &Server) {
    let Some(pgbench) = find_pgbench() else {
        eprintln!("pgbench comparison skipped: pgbench not found");
        return;
    };
    // Both transports need the socket directory: use a private server when the
    // shared one's is unknown.
    let private;
    let server = if server.socket_dir.is_some() {
        server
    } else {
        match keel_testkit::TempPostgres::start_new(&std::env::temp_dir()) {
            Ok(pg) => {
                private = Server {
                    url: pg.url(),
                    socket_dir: Some(pg.data_dir().to_path_buf()),
                    port: pg.port(),
                    _own: Some(pg),
                };
                &private
            }
            Err(e) => {
                eprintln!(
                    "private PostgreSQL for the unix-socket comparison failed ({e}); TCP only"
                );
                server
            }
        }
    };
    let full = std::env::var("KEEL_BENCH_FULL").is_ok_and(|v| v == "1");
    // Interleaved rounds, best of each: the machine is shared, and the best round is
    // the one least disturbed by other load.
    let (rounds, secs) = if full { (5, 3) } else { (5, 1) };
    let base: tokio_postgres::Config = server.url.parse().unwrap();
    let user = base.get_user().unwrap_or("postgres").to_owned();
    let db = base.get_dbname().unwrap_or("postgres").to_owned();
    let mut transports = vec![("tcp", "127.0.0.1".to_owned())];
    match &server.socket_dir {
        Some(dir) => transports.push(("unix", dir.display().to_string())),
        None => eprintln!("unix-socket comparison skipped: socket directory not found"),
    }
    println!(
        "\nSELECT 1 (prepared) throughput vs pgbench -M prepared, client threads = min(tasks, cores), \
         best of {rounds} interleaved {secs} s rounds:"
    );
    println!(
        "| transport | tasks | pgbench tps | deadpool-postgres tps | keel-db-pool tps | keel ÷ pgbench | keel ÷ deadpool |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, host) in &transports {
        for tasks in TASK_COUNTS {
            let mut pg = base.clone();
            if *name == "unix" {
                pg = tokio_postgres::Config::new();
                pg.host_path(host).port(server.port).user(&user).dbname(&db);
            }
            let (mut best_pgb, mut best_raw, mut best_keel) = (0.0f64, 0.0f64, 0.0f64);
            for _ in 0..rounds {
                let Some(pgb) = pgbench_tps(&pgbench, host, server.port, &user, &db, tasks, secs)
                else {
                    break;
                };
                best_pgb = best_pgb.max(pgb);
                #[allow(clippy::cast_precision_loss)]
                let s = secs as f64;
                best_raw = best_raw.max(client_tps(Client::Deadpool, pg.clone(), tasks, s));
                best_keel = best_keel.max(client_tps(Client::Keel, pg.clone(), tasks, s));
            }
            if best_pgb > 0.0 {
                println!(
                    "| {name} | {tasks} | {best_pgb:.0} | {best_raw:.0} | {best_keel:.0} | {:.2} | {:.2} |",
                    best_keel / best_pgb,
                    best_keel / best_raw
                );
            }
        }
    }
}

fn main() {
    let mut c = keel_benches::criterion_config();
    bench(&mut c);
    c.final_summary();
}
