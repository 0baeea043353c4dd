//! [`TestServer`]: an axum `Router` served over a real socket on a free loopback port.

use std::net::SocketAddr;

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A router served on `127.0.0.1:<free port>` with `ConnectInfo<SocketAddr>` (as
/// `into_make_service_with_connect_info` gives in production), for end-to-end tests that
/// need a real peer address or real HTTP/1.1 bytes. The server stops when this is dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
/// let server = keel_testkit::TestServer::start(app).await;
/// let response = server.get("/").await;
/// assert!(response.starts_with("HTTP/1.1 200"), "{response}");
/// assert!(response.ends_with("hi"));
/// # }
/// ```
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Binds a free loopback port and serves `router` on it in a spawned task.
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine).
    pub async fn start(router: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            // Runs until the task is aborted (on drop); an accept error ends the test's server.
            let _ = axum::serve(listener, service).await;
        });
        Self { addr, task }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends `GET path` over a new connection (`Connection: close`) and returns the raw
    /// response: status line, headers and body.
    ///
    /// # Panics
    /// If the server cannot be reached or the connection fails mid-response.
    pub async fn get(&self, path: &str) -> String {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ))
        .await
    }

    /// Sends `raw` (a complete HTTP/1.1 request; ask for `Connection: close`) over a new
    /// connection and returns everything the server answers until it closes.
    ///
    /// # Panics
    /// If the server cannot be reached or the connection fails mid-response.
    pub async fn request(&self, raw: &str) -> String {
        let mut stream = TcpStream::connect(self.addr)
            .await
            .expect("connect to the test server");
        stream
            .write_all(raw.as_bytes())
            .await
            .expect("send the request");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .expect("read the response");
        String::from_utf8_lossy(&response).into_owned()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
