//! `cargo xtask run`: the reference service against throwaway local servers.
//!
//! Starts PostgreSQL (and Redis when it can be had), generates dev secrets, runs the
//! migrations, creates a dev admin, starts `reference-service`, waits until it is ready,
//! and prints the URLs and ready-to-paste `curl` commands. Ctrl-C stops the service
//! (it shuts down gracefully) and then the servers, whose data is deleted.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::cmd::{cargo, run_step, workspace_root};
use crate::services::{RedisNeed, Services, interrupted};

const USAGE: &str =
    "usage: cargo xtask run [--bind <addr:port>]   (default 127.0.0.1:8080, or a free port)";
const DEV_ADMIN: &str = "admin@example.org";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let bind = parse_args(args)?;

    run_step(
        "build the reference service",
        cargo().args(["build", "-q", "-p", "reference-service"]),
    )?;
    println!("\n==> starting throwaway PostgreSQL (and Redis if available)");
    let services = Services::start(RedisNeed::IfAvailable)?;

    let admin_password = token(18)?;
    let mut env: Vec<(&str, String)> = vec![
        ("DATABASE_URL", services.postgres.url()),
        ("KEEL_JWT_SECRET", token(48)?),
        (
            "KEEL_ENCRYPTION_KEYS",
            format!("1:{}", base64(&random_bytes(32)?)),
        ),
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

    let service = |args: &[&str]| {
        let mut c = cargo();
        c.args(["run", "-q", "-p", "reference-service", "--"])
            .args(args);
        // The user's own .env must not override the throwaway setup.
        c.env_remove("REDIS_URL");
        c.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        c
    };
    run_step("migrate", &mut service(&["migrate"]))?;
    let mut create_admin = service(&["create-admin", "--email", DEV_ADMIN]);
    create_admin.env("KEEL_ADMIN_PASSWORD", &admin_password);
    run_step("create the dev admin", &mut create_admin)?;

    println!("\n==> starting the service");
    let mut child = service(&["serve"])
        .spawn()
        .map_err(|e| format!("could not start reference-service: {e}"))?;
    let ready = wait_ready(bind, &mut child);
    if let Err(e) = ready {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    print_banner(bind, &admin_password, &env_file, services.redis.is_some());

    // Ctrl-C reaches the service too (same process group): it drains and exits, then
    // `services` drops and removes the servers.
    let status = wait_child(&mut child)?;
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

pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("cannot read /dev/urandom for dev secrets: {e}"))?;
    Ok(buf)
}

/// URL-safe random text of `n` random bytes (secrets, the dev admin's password).
pub(crate) fn token(n: usize) -> Result<String, String> {
    Ok(base64(&random_bytes(n)?)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_"))
}

/// Standard base64 with padding (what keel-crypto's key ring reads).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
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
    use super::base64;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        // RFC 4648 §10.
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }
}
