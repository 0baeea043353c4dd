//! Test harness: a service instance on its own PostgreSQL schema and Redis key prefix.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use reference_service::{AppState, Config, migrate, routes};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
pub const KEYS: &str = "1:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
pub const PASSWORD: &str = "correct horse battery staple";

/// Options of one instance.
#[derive(Default, Clone)]
pub struct Opts {
    /// Reuse this schema (second replica); a fresh one otherwise.
    pub schema: Option<String>,
    /// Use Redis with this key prefix.
    pub redis_prefix: Option<String>,
    /// Database URL other than the shared test server (private failover server).
    pub database_url: Option<String>,
    /// Extra environment.
    pub env: Vec<(&'static str, String)>,
    /// Extra routes (slow, panicking handlers).
    pub extra: Option<fn() -> Router<AppState>>,
}

pub struct TestApp {
    pub app: Router,
    pub state: AppState,
    pub schema: String,
    pub database_url: String,
}

pub fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

pub async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// Starts an instance; `None` when the test servers are not configured.
pub async fn spawn(opts: Opts) -> Option<TestApp> {
    let base = match &opts.database_url {
        Some(u) => u.clone(),
        None => keel_testkit::database_url()?,
    };
    let redis = match &opts.redis_prefix {
        Some(_) => Some(keel_testkit::redis_url()?),
        None => None,
    };
    let schema = match &opts.schema {
        Some(s) => s.clone(),
        None => {
            let s = keel_testkit::unique_name("refsvc");
            admin_client(&base)
                .await
                .batch_execute(&format!("CREATE SCHEMA {s}"))
                .await
                .unwrap();
            s
        }
    };
    let url = with_search_path(&base, &schema);
    let mut env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", url.clone()),
        ("KEEL_JWT_SECRET", JWT_SECRET.to_owned()),
        ("KEEL_ENCRYPTION_KEYS", KEYS.to_owned()),
        // Cheap Argon2 for tests; production uses OWASP's parameters.
        ("KEEL_PASSWORD_HASH", "m=64,t=1,p=1".to_owned()),
        ("KEEL_DEV_MODE", "true".to_owned()),
        ("KEEL_AUTH_SCHEMA", schema.clone()),
        ("KEEL_RATE_LIMIT_GLOBAL", "off".to_owned()),
        ("KEEL_REQUEST_TIMEOUT_SECS", "1".to_owned()),
        ("KEEL_SHUTDOWN_TIMEOUT_SECS", "5".to_owned()),
    ]);
    if let (Some(r), Some(prefix)) = (redis, &opts.redis_prefix) {
        env.insert("REDIS_URL", r);
        env.insert("KEEL_REDIS_PREFIX", prefix.clone());
    }
    for (k, v) in &opts.env {
        env.insert(k, v.clone());
    }
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    migrate::all(&config).await.unwrap();
    let state = AppState::new(config).await.unwrap();
    let app = routes::app(&state, opts.extra.map(|f| f()));
    Some(TestApp {
        app,
        state,
        schema,
        database_url: url,
    })
}

pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Res {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.code(), code, "body: {}", self.body);
        assert_eq!(self.body["success"], json!(false));
        assert!(
            self.body["meta"]["request_id"].is_string(),
            "request id in error body: {}",
            self.body
        );
        assert_security_headers(&self.headers);
    }
}

#[track_caller]
pub fn assert_security_headers(h: &HeaderMap) {
    for (name, value) in reference_service::middleware::SECURITY_HEADERS {
        let got = h
            .get(name)
            .unwrap_or_else(|| panic!("missing {name} in {h:?}"));
        if name != "content-security-policy" {
            assert_eq!(got, value, "{name}");
        }
    }
    assert!(h.contains_key("x-request-id"), "x-request-id echoed");
}

impl TestApp {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&b).unwrap())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> Res {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let raw = body.collect().await.unwrap().to_bytes().to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Res {
            status: parts.status,
            headers: parts.headers,
            body,
            raw,
        }
    }

    pub async fn signup(&self, email: &str) -> Res {
        self.call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"email": email, "password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace"})),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Res {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    /// Signs up and logs in; returns (user id, token).
    pub async fn user(&self, email: &str) -> (String, String) {
        let s = self.signup(email).await;
        assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
        let l = self.login(email, PASSWORD).await;
        assert_eq!(l.status, StatusCode::OK, "{}", l.body);
        (
            s.body["data"]["id"].as_str().unwrap().to_owned(),
            l.body["data"]["access_token"].as_str().unwrap().to_owned(),
        )
    }

    /// An admin account (as `create-admin` makes it); returns (id, token).
    pub async fn admin(&self, email: &str) -> (String, String) {
        let user = self
            .state
            .users
            .create_admin(email.to_owned(), PASSWORD.to_owned())
            .await
            .unwrap();
        let l = self.login(email, PASSWORD).await;
        assert_eq!(l.status, StatusCode::OK, "{}", l.body);
        (
            user.id.to_string(),
            l.body["data"]["access_token"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn db(&self) -> tokio_postgres::Client {
        admin_client(&self.database_url).await
    }
}

/// Serves `app` on a real socket; returns the address, a shutdown trigger and the task.
pub async fn serve_on_socket(
    t: &TestApp,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = t.app.clone();
    let state = t.state.clone();
    let handle = tokio::spawn(async move {
        reference_service::serve(listener, app, state, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (addr, tx, handle)
}

/// A minimal HTTP/1.1 GET over a real socket; returns the raw response.
pub async fn raw_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}
