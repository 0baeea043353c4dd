//! Request ids: keep a client's `X-Request-Id` when it is sane, replace it when it is not,
//! generate one when absent, and echo it on the response.
//!
//! A request id ends up in log lines, error bodies and other systems' logs, so only
//! **1 to 128 bytes of visible ASCII** (`!`..=`~`) are kept — the rule of
//! `keel_envelope::is_valid_request_id`. Anything else (non-UTF-8 bytes, non-ASCII
//! text, spaces, control characters, an over-long value) is replaced by a generated
//! [`RequestId`]; the client's value is never logged or echoed.
//!
//! [`SetRequestIdLayer`] does both halves that tower-http splits into `SetRequestIdLayer`
//! and `PropagateRequestIdLayer`, in one service and one response future. For the
//! request id *and* the security headers and sensitive-header marking in one layer, use
//! [`EdgeLayer`](crate::EdgeLayer).
//!
//! ```
//! use axum::{Router, routing::get};
//! use axum::http::{Request, HeaderValue};
//! use keel_http::request_id::{SetRequestIdLayer, X_REQUEST_ID};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "ok" }))
//!     .layer(SetRequestIdLayer::new());
//!
//! // A sane id is echoed.
//! let req = Request::get("/").header("x-request-id", "abc-123").body(axum::body::Body::empty()).unwrap();
//! let res = app.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.headers()[X_REQUEST_ID], "abc-123");
//!
//! // A non-ASCII one is replaced by a generated UUID.
//! let req = Request::get("/")
//!     .header("x-request-id", HeaderValue::from_bytes("café".as_bytes()).unwrap())
//!     .body(axum::body::Body::empty())
//!     .unwrap();
//! let res = app.oneshot(req).await.unwrap();
//! assert_eq!(res.headers()[X_REQUEST_ID].len(), 36);
//! # }
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use http::header::Entry;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

/// `X-Request-Id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id kept from a client, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whether a client's request id may be kept: 1 to [`MAX_REQUEST_ID_LEN`] bytes of
/// visible ASCII. Works on the raw bytes, so non-UTF-8 values (`obs-text`) are refused
/// without a UTF-8 check.
///
/// ```
/// use axum::http::HeaderValue;
/// use keel_http::request_id::is_valid_request_id;
///
/// assert!(is_valid_request_id(&HeaderValue::from_static("3f2c9a1e-req")));
/// assert!(!is_valid_request_id(&HeaderValue::from_static("two words")));
/// assert!(!is_valid_request_id(&HeaderValue::from_bytes(b"\xff\xfe").unwrap()));
/// ```
pub fn is_valid_request_id(value: &HeaderValue) -> bool {
    let b = value.as_bytes();
    !b.is_empty() && b.len() <= MAX_REQUEST_ID_LEN && b.iter().all(u8::is_ascii_graphic)
}

/// Keeps the request's `X-Request-Id` if [valid](is_valid_request_id), otherwise inserts
/// a generated one (replacing every value the client sent); returns the id in use.
///
/// ```
/// use axum::http::HeaderMap;
/// use keel_http::request_id::{ensure_request_id, X_REQUEST_ID};
///
/// let mut headers = HeaderMap::new();
/// let id = ensure_request_id(&mut headers);
/// assert_eq!(headers[X_REQUEST_ID], id);
/// ```
pub fn ensure_request_id(headers: &mut HeaderMap) -> HeaderValue {
    match headers.entry(X_REQUEST_ID) {
        Entry::Occupied(mut e) => {
            // Several values are ambiguous (which one do logs and the body carry?): replace.
            let keep = e.iter().count() == 1 && is_valid_request_id(e.get());
            if keep {
                e.get().clone()
            } else {
                let id = new_id_value();
                e.insert(id.clone());
                id
            }
        }
        Entry::Vacant(e) => e.insert(new_id_value()).clone(),
    }
}

/// Ids that [`new_id_value`] generates into one allocation.
const IDS_PER_BATCH: usize = 16;

/// A freshly [generated](RequestId::generate) id as a header value. Each thread
/// generates ids [`IDS_PER_BATCH`] at a time into one shared buffer and hands out
/// slices of it, so a request costs a sixteenth of an allocation instead of one. The
/// price: a value kept alive (in a log pipeline, a background job) keeps its batch's
/// 576 bytes alive.
fn new_id_value() -> HeaderValue {
    const LEN: usize = 36;
    thread_local! {
        /// This thread's batch and the index of its next unused id.
        static BATCH: RefCell<(bytes::Bytes, usize)> = const { RefCell::new((bytes::Bytes::new(), 0)) };
    }
    let batched = BATCH.try_with(|cell| {
        let mut batch = cell.try_borrow_mut().ok()?;
        let (buf, next) = &mut *batch;
        if *next * LEN >= buf.len() {
            let mut ids = [0u8; LEN * IDS_PER_BATCH];
            for chunk in ids.chunks_exact_mut(LEN) {
                chunk.copy_from_slice(&RequestId::generate().buf);
            }
            // `from_owner`: the array and the reference count in one allocation.
            *buf = bytes::Bytes::from_owner(ids);
            *next = 0;
        }
        let id = buf.slice(*next * LEN..(*next + 1) * LEN);
        *next += 1;
        HeaderValue::from_maybe_shared(id).ok()
    });
    batched
        .ok()
        .flatten()
        .unwrap_or_else(|| RequestId::generate().to_header_value())
}

/// A generated request id: a UUID (version 8, RFC 9562) made of a per-process random
/// part and a per-request counter passed through a bijective mixer.
///
/// Ids are unique within the process (all 64 bits of the mixed counter are kept),
/// unique across processes with overwhelming probability (58 random bits per process,
/// seeded by the standard library from the OS's randomness), look random (they do not
/// reveal the request count) and cost neither a system call nor a random number nor an
/// allocation to generate (only [`to_header_value`](Self::to_header_value) allocates, once);
/// each thread reserves counter values 1,024 at a time, so only one id in 1,024 writes
/// memory shared with other threads.
///
/// ```
/// use keel_http::request_id::RequestId;
///
/// let a = RequestId::generate();
/// let b = RequestId::generate();
/// assert_ne!(a.as_str(), b.as_str());
/// assert_eq!(a.as_str().len(), 36);
/// assert_eq!(&a.as_str()[14..15], "8"); // version 8
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    buf: [u8; 36],
}

/// A valid id, for the unreachable case where the buffer is not UTF-8.
const FALLBACK: &str = "00000000-0000-8000-8000-000000000000";

impl RequestId {
    /// The next id of this process.
    pub fn generate() -> Self {
        static SEED: OnceLock<(u64, u64)> = OnceLock::new();
        let (random, key) = *SEED.get_or_init(|| {
            let state = std::collections::hash_map::RandomState::new();
            (state.hash_one(0u8), state.hash_one(1u8))
        });
        Self::from_parts(mix64(next_counter() ^ key), random)
    }

    /// Lays the 64 mixed bits and 58 random bits around the version (bits 76..80 = 8)
    /// and the variant (bits 62..64 = 0b10) of the UUID.
    const fn from_parts(mixed: u64, random: u64) -> Self {
        let m = mixed as u128;
        let uuid = ((m >> 16) << 80)
            | (((m >> 4) & 0xfff) << 64)
            | ((m & 0xf) << 58)
            | (random as u128 & ((1 << 58) - 1))
            | (0x8 << 76)
            | (0b10 << 62);
        Self {
            buf: hyphenated(uuid.to_be_bytes()),
        }
    }

    /// The id as text: 36 characters of lowercase hex and hyphens.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf).unwrap_or(FALLBACK)
    }

    /// The id as a header value: one allocation, and clones of the value (the request's,
    /// the response's, the access log's) share it without allocating again.
    pub fn to_header_value(&self) -> HeaderValue {
        // `from_owner`: a copied `Bytes` would allocate a second time on its first clone.
        HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(self.buf))
            .unwrap_or(HeaderValue::from_static(FALLBACK))
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counter values a thread reserves at once (see [`next_counter`]).
const COUNTER_BLOCK: u64 = 1024;

/// The next counter value of this process, unique across threads: each thread takes
/// blocks of [`COUNTER_BLOCK`] values from the shared counter, so an id costs one write
/// to shared memory per 1,024 ids instead of one per id (an atomic increment that every
/// worker thread makes moves its cache line between cores on each request).
fn next_counter() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        /// This thread's reserved values: `next..end`.
        static BLOCK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    BLOCK
        .try_with(|block| {
            let (mut next, mut end) = block.get();
            if next == end {
                next = NEXT.fetch_add(COUNTER_BLOCK, Ordering::Relaxed);
                end = next.wrapping_add(COUNTER_BLOCK);
            }
            block.set((next.wrapping_add(1), end));
            next
        })
        // A thread being torn down: reserve a single value.
        .unwrap_or_else(|_| NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `8-4-4-4-12` lowercase hex.
const fn hyphenated(bytes: [u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut i = 0;
    let mut o = 0;
    while i < 16 {
        if matches!(i, 4 | 6 | 8 | 10) {
            o += 1;
        }
        out[o] = HEX[(bytes[i] >> 4) as usize];
        out[o + 1] = HEX[(bytes[i] & 0xf) as usize];
        o += 2;
        i += 1;
    }
    out
}

/// SplitMix64's finalizer: a bijection on `u64`, so distinct counters give distinct ids.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Layer of [`SetRequestId`]: validates, replaces or generates `X-Request-Id` on the
/// request and echoes it on the response.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetRequestIdLayer;

impl SetRequestIdLayer {
    /// The layer.
    pub const fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for SetRequestIdLayer {
    type Service = SetRequestId<S>;

    fn layer(&self, inner: S) -> SetRequestId<S> {
        SetRequestId::new(inner)
    }
}

/// Sets a sane `X-Request-Id` on every request (see [`ensure_request_id`]) and echoes it
/// on the response unless the inner service set one.
#[derive(Debug, Clone)]
pub struct SetRequestId<S> {
    inner: S,
}

impl<S> SetRequestId<S> {
    /// Wraps `inner`.
    pub const fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for SetRequestId<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = ensure_request_id(req.headers_mut());
        ResponseFuture {
            inner: self.inner.call(req),
            id: Some(id),
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`SetRequestId`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            res.headers_mut().entry(X_REQUEST_ID).or_insert(id);
        }
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &[u8], keep: bool) {
        let v = HeaderValue::from_bytes(raw).unwrap_or(HeaderValue::from_static("-"));
        assert_eq!(is_valid_request_id(&v), keep, "{raw:?}");
    }

    #[test]
    fn client_ids_are_kept_only_when_sane() {
        check(b"abc-123", true);
        check(b"!~", true);
        check(&[b'a'; 128], true);
        check(&[b'a'; 129], false);
        check(b"\xff\xfe", false);
        check("caf\u{e9}".as_bytes(), false);
        check(b"two words", false);
        check(b"tab\there", false);
        check(b"", false);
    }

    #[test]
    fn several_client_ids_are_replaced_by_one() {
        let mut h = HeaderMap::new();
        h.append(X_REQUEST_ID, HeaderValue::from_static("a"));
        h.append(X_REQUEST_ID, HeaderValue::from_static("b"));
        let id = ensure_request_id(&mut h);
        assert_eq!(h.get_all(X_REQUEST_ID).iter().count(), 1);
        assert_eq!(id.len(), 36);
    }

    #[test]
    fn generated_values_are_unique_valid_ids_across_batches() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5 * IDS_PER_BATCH + 3 {
            let mut h = HeaderMap::new();
            let id = ensure_request_id(&mut h);
            assert_eq!(h[X_REQUEST_ID], id);
            assert_eq!(id.len(), 36);
            let text = id.to_str().unwrap();
            assert_eq!(&text[14..15], "8", "version 8: {text}");
            assert!(seen.insert(text.to_owned()), "{text} twice");
        }
    }

    #[test]
    fn ids_are_unique_across_threads() {
        // More ids per thread than a block, so threads reserve several blocks each.
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..3 * COUNTER_BLOCK)
                        .map(|_| RequestId::generate())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = std::collections::HashSet::new();
        for t in threads {
            for id in t.join().unwrap() {
                assert!(all.insert(id), "{id} generated twice");
            }
        }
        assert_eq!(all.len(), 4 * 3 * 1024);
    }

    #[test]
    fn layout_keeps_version_variant_and_every_counter_bit() {
        let zero = RequestId::from_parts(0, 0);
        assert_eq!(zero.as_str(), "00000000-0000-8000-8000-000000000000");
        let ones = RequestId::from_parts(u64::MAX, 0);
        assert_eq!(ones.as_str(), "ffffffff-ffff-8fff-bc00-000000000000");
        let random = RequestId::from_parts(0, u64::MAX);
        assert_eq!(random.as_str(), "00000000-0000-8000-83ff-ffffffffffff");
    }
}
