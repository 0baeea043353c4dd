//! `cargo xtask run`: the reference service against throwaway local servers.
//!
//! Starts PostgreSQL (and Redis when it can be had), generates dev secrets, runs the
//! migrations, creates a dev admin, starts `reference-service`, waits until it is ready,
//! and prints the URLs and ready-to-paste `curl` commands. Ctrl-C (or SIGTERM/SIGHUP sent
//! to xtask alone, as a supervisor or an IDE's stop button does) stops the service, which
//! drains at once, and then the servers, whose data is deleted.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::cmd::{Profile, build_bins, run_step, workspace_root};
use crate::services::{Foreground, RedisNeed, Services, interrupted};

const USAGE: &str =
    "usage: cargo xtask run [--bind <addr:port>]   (default 127.0.0.1:8080, or a free port)";
const DEV_ADMIN: &str = "admin@example.org";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let bind = parse_args(args)?;

    let bins = build_bins(
        Profile::Debug,
        &["reference-service"],
        &["reference-service"],
    )?;
    let bin = bins
        .get("reference-service")
        .ok_or("no reference-service binary")?;
    println!("\n==> starting throwaway PostgreSQL (and Redis if available)");
    let services = Services::start(RedisNeed::IfAvailable)?;

    let admin_password = token(18)?;
    let mut env: Vec<(&str, String)> = vec![
        ("DATABASE_URL", services.postgres.url()),
        ("KEEL_JWT_SECRET", token(48)?),
        ("KEEL_ENCRYPTION_KEYS", encryption_keys()?),
        ("KEEL_BIND", bind.to_string()),
        ("KEEL_LOG_FORMAT", "pretty".to_owned()),
        ("KEEL_CORS_ORIGINS", format!("http://{bind}")),
        (
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
        ),
    ];
    if let Some(redis) = &services.redis {
        env.push(("REDIS_URL", redis.url()));
    }
    let env_file = write_env_file(&env)?;

    let service = |args: &[&str]| service_command(bin, args, &env);
    run_step("migrate", &mut service(&["migrate"]))?;
    let mut create_admin = service(&["create-admin", "--email", DEV_ADMIN]);
    create_admin.env("KEEL_ADMIN_PASSWORD", &admin_password);
    run_step("create the dev admin", &mut create_admin)?;

    println!("\n==> starting the service");
    let mut child = service(&["serve"])
        .spawn()
        .map_err(|e| format!("could not start reference-service: {e}"))?;
    // A stop signal to xtask is forwarded to the service, which drains and exits; then
    // `services` drops and removes the servers.
    let foreground = Foreground::new(&child);
    match wait_ready(bind, &mut child) {
        Ok(()) => print_banner(bind, &admin_password, &env_file, services.redis.is_some()),
        // Stopped while starting: the service got the signal too; let it finish below.
        Err(_) if interrupted() => {}
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    }

    let status = wait_child(&mut child);
    drop(foreground);
    let status = status?;
    drop(services);
    // Its secrets are meaningless once the servers are gone.
    let _ = std::fs::remove_file(&env_file);
    if interrupted() || status.success() {
        println!("xtask: stopped; throwaway servers removed");
        Ok(())
    } else {
        Err(format!("reference-service exited with {status}"))
    }
}

fn parse_args(args: &[String]) -> Result<SocketAddr, String> {
    match args {
        [] => {
            let default: SocketAddr = ([127, 0, 0, 1], 8080).into();
            if std::net::TcpListener::bind(default).is_ok() {
                Ok(default)
            } else {
                let port = keel_testkit::free_port();
                println!("xtask: 127.0.0.1:8080 is busy; using port {port}");
                Ok(([127, 0, 0, 1], port).into())
            }
        }
        [flag, addr] if flag == "--bind" => addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an address like 127.0.0.1:8080\n{USAGE}")),
        _ => Err(USAGE.to_owned()),
    }
}

/// The reference service binary `bin` with `args`, run with `env` (and nothing from a
/// `REDIS_URL` in the user's environment: the throwaway setup decides).
pub(crate) fn service_command(bin: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut c = Command::new(bin);
    c.args(args).current_dir(workspace_root());
    c.env_remove("REDIS_URL");
    c.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    c
}

/// `n` bytes from the operating system's CSPRNG.
fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0; n];
    getrandom::fill(&mut buf).map_err(|e| format!("no OS randomness for dev secrets: {e}"))?;
    Ok(buf)
}

/// URL-safe random text of `n` random bytes (secrets, the dev admin's password).
pub(crate) fn token(n: usize) -> Result<String, String> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes(n)?))
}

/// `KEEL_ENCRYPTION_KEYS` with one fresh 256-bit key (id 1, standard base64 with padding,
/// what keel-crypto's key ring reads).
pub(crate) fn encryption_keys() -> Result<String, String> {
    Ok(format!("1:{}", STANDARD.encode(random_bytes(32)?)))
}

/// Writes the environment to `target/keel-services/reference-service.env` so a second
/// replica can be started against the same servers.
fn write_env_file(env: &[(&str, String)]) -> Result<String, String> {
    let dir = workspace_root().join("target").join("keel-services");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("reference-service.env");
    let mut text = String::from(
        "# Written by `cargo xtask run`: throwaway dev secrets, valid while it runs.\n",
    );
    for (k, v) in env {
        let _ = writeln!(text, "{k}={v}");
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

/// Polls `/health/ready` until it answers 200 (60 s at most), watching the child.
pub(crate) fn wait_ready(addr: SocketAddr, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if interrupted() {
            return Err("interrupted".into());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "reference-service exited during startup ({status})"
            ));
        }
        if http_status(addr, "/health/ready") == Some(200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "reference-service did not become ready on {addr} within 60 s"
    ))
}

fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Waits for the service; once a stop signal came (and was forwarded), gives it 30 s to
/// drain before killing it.
fn wait_child(child: &mut Child) -> Result<std::process::ExitStatus, String> {
    let mut interrupted_at: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if interrupted() {
            let since = *interrupted_at.get_or_insert_with(Instant::now);
            // The service drains for up to its shutdown timeout (20 s by default).
            if since.elapsed() > Duration::from_secs(30) {
                println!("xtask: the service did not stop in 30 s; killing it");
                let _ = child.kill();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn print_banner(addr: SocketAddr, admin_password: &str, env_file: &str, redis: bool) {
    let base = format!("http://{addr}");
    let json = "-H 'content-type: application/json'";
    println!(
        "
================================================================================
 Keel reference service is running
   API:      {base}/api/v1
   Docs:     {base}/docs        (OpenAPI: {base}/openapi.json)
   Health:   {base}/health/ready  ·  Metrics: {base}/metrics
   Storage:  throwaway PostgreSQL{redis}
   Admin:    {DEV_ADMIN} / {admin_password}
   Env:      {env_file}
             (a second replica: set -a; . {env_file}; KEEL_BIND=127.0.0.1:0 cargo run -p reference-service)

 Try it:
   curl -s -X POST {base}/api/v1/auth/signup {json} \\
     -d '{{\"email\":\"ada@example.org\",\"password\":\"correct horse battery staple\",\"first_name\":\"ada\",\"last_name\":\"lovelace\",\"phone\":\"+44 20 7183 8750\"}}'

   TOKEN=$(curl -s -X POST {base}/api/v1/auth/login {json} \\
     -d '{{\"email\":\"ada@example.org\",\"password\":\"correct horse battery staple\"}}' \\
     | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')

   curl -s {base}/api/v1/users/me -H \"authorization: Bearer $TOKEN\"

 Sessions (keel-auth): the login answer also holds a single-use refresh_token.
   LOGIN=$(curl -s -X POST {base}/api/v1/auth/login {json} \
     -d '{{\"email\":\"ada@example.org\",\"password\":\"correct horse battery staple\"}}')
   REFRESH=$(echo \"$LOGIN\" | sed -E 's/.*\"refresh_token\":\"([^\"]+)\".*/\\1/')
   curl -s -X POST {base}/api/v1/auth/refresh {json} -d \"{{\\\"refresh_token\\\":\\\"$REFRESH\\\"}}\"
   curl -s -X POST {base}/api/v1/auth/logout-all -H \"authorization: Bearer $TOKEN\"

 Second factor: enroll, then confirm with the app's code (the next login asks for it
 at {base}/api/v1/auth/login/mfa):
   curl -s -X POST {base}/api/v1/auth/mfa/totp -H \"authorization: Bearer $TOKEN\"
   curl -s -X POST {base}/api/v1/auth/mfa/totp/confirm -H \"authorization: Bearer $TOKEN\" {json} -d '{{\"code\":\"123456\"}}'

 A read-only API key (log in as the admin above for ADMIN_TOKEN):
   curl -s -X POST {base}/api/v1/api-keys -H \"authorization: Bearer $ADMIN_TOKEN\" {json} -d '{{\"name\":\"reports\"}}'
   curl -s {base}/api/v1/users -H \"x-api-key: $KEY\"

 Ctrl-C stops the service and removes the servers and their data.
================================================================================
",
        redis = if redis { " + Redis" } else { " (no Redis: in-memory limits and cache)" },
    );
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::{STANDARD, URL_SAFE_NO_PAD, encryption_keys, token};

    #[test]
    fn token_is_url_safe_and_carries_n_random_bytes() {
        let a = token(18).unwrap();
        let b = token(18).unwrap();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 18);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn encryption_keys_hold_one_256_bit_key_with_id_1() {
        let keys = encryption_keys().unwrap();
        let key = keys.strip_prefix("1:").unwrap();
        assert_eq!(STANDARD.decode(key).unwrap().len(), 32);
    }
}
