//! The drills' traffic: worker threads sending a mixed read/write profile to the replicas
//! and recording every request (when it ended, what it was, its status and latency) and
//! every acknowledged write (the id the service returned with its 201).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::client::{Client, Reply, timed};

/// The password every drill account uses (passes the service's password rules).
pub(crate) const PASSWORD: &str = "drill-Passw0rd!-x7";

/// What a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Op {
    Signup,
    Patch,
    Read,
    Login,
}

impl Op {
    /// Whether the request needs PostgreSQL (a cached read may not).
    pub(crate) fn writes(self) -> bool {
        matches!(self, Self::Signup | Self::Patch)
    }
}

/// One finished request. `status` 0 = transport error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub(crate) op: Op,
    pub(crate) started: Duration,
    pub(crate) ended: Duration,
    pub(crate) status: u16,
    pub(crate) typed: bool,
}

impl Event {
    pub(crate) fn latency(&self) -> Duration {
        self.ended.saturating_sub(self.started)
    }
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A user the traffic reads and patches as itself.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) token: String,
    pub(crate) email: String,
}

/// Everything one traffic run recorded.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    pub(crate) events: Vec<Event>,
    /// Ids of accounts whose signup answered 201.
    pub(crate) acked: Vec<String>,
}

impl Recording {
    /// Statuses (0 = transport error) and how often each occurred.
    pub(crate) fn by_status<'a>(events: impl Iterator<Item = &'a Event>) -> BTreeMap<u16, u64> {
        let mut m = BTreeMap::new();
        for e in events {
            *m.entry(e.status).or_insert(0) += 1;
        }
        m
    }

    /// The latency below which `q` (0..=1) of `events` finished.
    pub(crate) fn quantile<'a>(events: impl Iterator<Item = &'a Event>, q: f64) -> Duration {
        let mut l: Vec<Duration> = events.map(Event::latency).collect();
        if l.is_empty() {
            return Duration::ZERO;
        }
        l.sort_unstable();
        let idx = ((l.len() - 1) as f64 * q).round();
        // idx is within 0..len by construction.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        l[(idx as usize).min(l.len() - 1)]
    }
}

/// Which requests the workers send, in a repeating cycle of ten.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mix {
    pub(crate) signups: u8,
    pub(crate) patches: u8,
    pub(crate) logins: u8,
}

impl Mix {
    /// 1 signup, 1 patch, 8 reads per 10 requests.
    pub(crate) const WRITES: Self = Self {
        signups: 1,
        patches: 1,
        logins: 0,
    };
    /// The soak profile: every kind of request.
    pub(crate) const MIXED: Self = Self {
        signups: 1,
        patches: 1,
        logins: 1,
    };

    fn op(self, n: u64) -> Op {
        let step = u8::try_from(n % 10).unwrap_or(0);
        if step < self.signups {
            Op::Signup
        } else if step < self.signups + self.patches {
            Op::Patch
        } else if step < self.signups + self.patches + self.logins {
            Op::Login
        } else {
            Op::Read
        }
    }
}

/// Runs `workers` threads against `replicas` (round robin) until `stop` is set.
pub(crate) fn run(
    replicas: &[String],
    accounts: &[Account],
    workers: usize,
    mix: Mix,
    tag: &str,
    origin: Instant,
    stop: &AtomicBool,
) -> Result<Recording, String> {
    if accounts.is_empty() || replicas.is_empty() {
        return Err("traffic needs at least one replica and one account".into());
    }
    let out = Mutex::new(Recording::default());
    std::thread::scope(|s| {
        for w in 0..workers {
            let base = &replicas[w % replicas.len()];
            let account = &accounts[w % accounts.len()];
            let out = &out;
            s.spawn(move || {
                let mut local = Recording::default();
                let Ok(mut client) = Client::new(base, Duration::from_secs(15)) else {
                    return;
                };
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let op = mix.op(n);
                    let started = origin.elapsed();
                    let (reply, _) = timed(|| send(&mut client, op, account, tag, w, n));
                    let ended = origin.elapsed();
                    let (status, typed) = match &reply {
                        Ok(r) => (r.status, r.is_typed_error()),
                        Err(_) => (0, false),
                    };
                    if let (Op::Signup, Ok(r)) = (op, &reply)
                        && r.status == 201
                        && let Some(id) = r.json()["data"]["id"].as_str()
                    {
                        local.acked.push(id.to_owned());
                    }
                    local.events.push(Event {
                        op,
                        started,
                        ended,
                        status,
                        typed,
                    });
                    if status == 0 {
                        // Refused while a replica restarts: do not spin.
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                if let Ok(mut o) = out.lock() {
                    o.events.append(&mut local.events);
                    o.acked.append(&mut local.acked);
                }
            });
        }
    });
    let mut rec = out.into_inner().map_err(|_| "traffic worker panicked")?;
    rec.events.sort_by_key(|e| e.ended);
    Ok(rec)
}

/// An `X-Forwarded-For` address of its own for request `n` of worker `w` (10.w.x.y): the
/// drills simulate a crowd of clients behind a trusted proxy, not one client.
pub(crate) fn crowd_address(w: usize, n: u64) -> String {
    format!("10.{}.{}.{}", w % 200, (n >> 8) % 256, n % 256)
}

fn send(
    client: &mut Client,
    op: Op,
    account: &Account,
    tag: &str,
    worker: usize,
    n: u64,
) -> Result<Reply, String> {
    let bearer = format!("Bearer {}", account.token);
    let xff = crowd_address(worker, n);
    let xff = ("x-forwarded-for", xff.as_str());
    let json = ("content-type", "application/json");
    match op {
        Op::Signup => {
            let body = json!({
                "email": format!("{tag}-w{worker}-{n}@example.com"),
                "password": PASSWORD, "first_name": "Drill", "last_name": "Writer",
            });
            client.send(
                "POST",
                "/api/v1/auth/signup",
                &[json, xff],
                Some(body.to_string().as_bytes()),
            )
        }
        Op::Patch => {
            let body = json!({ "first_name": format!("Drill{}", n % 1000) });
            client.send(
                "PATCH",
                &format!("/api/v1/users/{}", account.id),
                &[json, xff, ("authorization", &bearer)],
                Some(body.to_string().as_bytes()),
            )
        }
        Op::Login => {
            let body = json!({ "email": account.email, "password": PASSWORD });
            client.send(
                "POST",
                "/api/v1/auth/login",
                &[json, xff],
                Some(body.to_string().as_bytes()),
            )
        }
        Op::Read => client.send(
            "GET",
            &format!("/api/v1/users/{}", account.id),
            &[xff, ("authorization", &bearer)],
            None,
        ),
    }
}

/// Signs up and logs in `n` accounts through `base`.
pub(crate) fn seed(base: &str, tag: &str, n: usize) -> Result<Vec<Account>, String> {
    let mut client = Client::new(base, Duration::from_secs(30))?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let email = format!("{tag}-seed-{i}@example.com");
        let body = json!({ "email": email, "password": PASSWORD, "first_name": "Drill", "last_name": "Reader" });
        let xff = crowd_address(250, i as u64);
        let r = client.send(
            "POST",
            "/api/v1/auth/signup",
            &[
                ("content-type", "application/json"),
                ("x-forwarded-for", &xff),
            ],
            Some(body.to_string().as_bytes()),
        )?;
        let id = r.json()["data"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("seed signup answered {}: {}", r.status, lossy(&r.body)))?;
        let token = login(&mut client, &email)?;
        out.push(Account { id, token, email });
    }
    Ok(out)
}

/// Logs `email` in and returns the access token.
pub(crate) fn login(client: &mut Client, email: &str) -> Result<String, String> {
    let r = login_reply(client, email, "10.250.255.1")?;
    r.json()["data"]["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("login answered {}: {}", r.status, lossy(&r.body)))
}

/// `POST /api/v1/auth/login` as `email` from client address `xff`.
pub(crate) fn login_reply(client: &mut Client, email: &str, xff: &str) -> Result<Reply, String> {
    let body = json!({ "email": email, "password": PASSWORD });
    client.send(
        "POST",
        "/api/v1/auth/login",
        &[
            ("content-type", "application/json"),
            ("x-forwarded-for", xff),
        ],
        Some(body.to_string().as_bytes()),
    )
}

/// A body for error messages, cut short.
pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned()
}
