//! A small blocking HTTP/1.1 client with keep-alive, enough to drive the reference service
//! from the drills while recording every request's status and latency. `wrk` measures
//! throughput well but cannot tell which writes were acknowledged; this can.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Largest response body the drills read (the service's biggest answer is a page of users).
const MAX_BODY: usize = 4 << 20;

/// One answered request.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    /// The body as JSON, or `Null`.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Whether the body is a keel envelope error (`{"error": {"code": …}}`): a typed answer.
    pub(crate) fn is_typed_error(&self) -> bool {
        self.json()["error"]["code"].is_string()
    }
}

/// A keep-alive connection to one server, re-opened after any transport error.
#[derive(Debug)]
pub(crate) struct Client {
    addr: SocketAddr,
    host: String,
    timeout: Duration,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    /// A client for `http://host:port` (loopback addresses only; the drills never leave the box).
    pub(crate) fn new(base: &str, timeout: Duration) -> Result<Self, String> {
        let host = base
            .strip_prefix("http://")
            .ok_or_else(|| format!("not an http:// URL: {base}"))?
            .trim_end_matches('/')
            .to_owned();
        let addr = host
            .parse::<SocketAddr>()
            .map_err(|e| format!("{base}: {e}"))?;
        Ok(Self {
            addr,
            host,
            timeout,
            conn: None,
        })
    }

    /// Sends one request; `Err` is a transport failure (refused, reset, timed out, garbled).
    pub(crate) fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Reply, String> {
        let reused = self.conn.is_some();
        let mut result = self.try_send(method, path, headers, body);
        if result.is_err() {
            self.conn = None;
            // A kept-alive connection the server has since closed fails before any answer:
            // like every HTTP client, try once more on a fresh connection.
            if reused {
                result = self.try_send(method, path, headers, body);
                if result.is_err() {
                    self.conn = None;
                }
            }
        }
        result
    }

    fn try_send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Reply, String> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, self.timeout)
                .map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(self.timeout))
                .map_err(|e| e.to_string())?;
            s.set_write_timeout(Some(self.timeout))
                .map_err(|e| e.to_string())?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().ok_or("no connection")?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.host);
        for (k, v) in headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() || method == "POST" || method == "PATCH" {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let stream = conn.get_mut();
        let written = stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body));
        // A server may answer before it has read the whole body (413 to an oversized one)
        // and close: the write fails, but the answer is there to read.
        let answer = read_response(conn);
        if let Err(e) = written {
            return match answer {
                Ok((reply, _)) => {
                    self.conn = None;
                    Ok(reply)
                }
                Err(_) => Err(format!("write: {e}")),
            };
        }
        answer.map(|(reply, keep)| {
            if !keep {
                self.conn = None;
            }
            reply
        })
    }
}

/// Reads a status line, headers and a `content-length` or chunked body.
fn read_response(conn: &mut BufReader<TcpStream>) -> Result<(Reply, bool), String> {
    let mut line = String::new();
    if conn
        .read_line(&mut line)
        .map_err(|e| format!("read: {e}"))?
        == 0
    {
        return Err("connection closed before a response".into());
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    let mut keep = true;
    loop {
        line.clear();
        if conn
            .read_line(&mut line)
            .map_err(|e| format!("read: {e}"))?
            == 0
        {
            return Err("connection closed in headers".into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        match k.as_str() {
            "content-length" => length = v.parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.contains("chunked"),
            "connection" => keep = !v.contains("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line)
                .map_err(|e| format!("read: {e}"))?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| format!("bad chunk size {line:?}"))?;
            if size == 0 {
                line.clear();
                conn.read_line(&mut line)
                    .map_err(|e| format!("read: {e}"))?;
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err("response body too large".into());
            }
            let start = body.len();
            body.resize(start + size + 2, 0);
            conn.read_exact(&mut body[start..])
                .map_err(|e| format!("read: {e}"))?;
            body.truncate(start + size);
        }
    } else if let Some(n) = length {
        if n > MAX_BODY {
            return Err("response body too large".into());
        }
        body.resize(n, 0);
        conn.read_exact(&mut body)
            .map_err(|e| format!("read: {e}"))?;
    } else {
        conn.take(MAX_BODY as u64)
            .read_to_end(&mut body)
            .map_err(|e| format!("read: {e}"))?;
        keep = false;
    }
    Ok((Reply { status, body }, keep))
}

/// Times `f`.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}
