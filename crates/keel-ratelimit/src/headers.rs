//! The one place rate limit headers are formatted: [`RateHeaders`] turns a [`Decision`]
//! into `RateLimit-Policy` / `RateLimit` (IETF draft -11), `X-RateLimit-*` and
//! `Retry-After`, for [`Decision::write_headers`] and for the tower layer alike.
//!
//! Values are formatted into a fixed stack buffer (no allocation on the layer's hot path);
//! a value that does not fit (many quotas with long names) is formatted on the heap.
//! The layer passes [`Prepared`] parts of its own limiter (the policy value and the quoted
//! quota names, formatted once) so only the counters are formatted per request.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::Quota;
use crate::decision::{Decision, HeaderStyle, QuotaState};

/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `X-RateLimit-Limit`.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Where formatted bytes go: a `String` (public `String` getters) or a [`StackBuf`].
/// Only ASCII is ever pushed.
pub(crate) trait Out {
    fn push(&mut self, bytes: &[u8]);
}

impl Out for String {
    fn push(&mut self, bytes: &[u8]) {
        // Callers push ASCII only; anything else would be a bug, dropped rather than
        // corrupting the header.
        if let Ok(s) = std::str::from_utf8(bytes) {
            self.push_str(s);
        }
    }
}

/// A fixed buffer for header values; [`finish`](Self::finish) gives `None` when the
/// value did not fit.
pub(crate) struct StackBuf {
    buf: [u8; 256],
    len: usize,
    overflow: bool,
}

impl StackBuf {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
            overflow: false,
        }
    }

    pub(crate) fn finish(&self) -> Option<HeaderValue> {
        if self.overflow {
            return None;
        }
        HeaderValue::from_bytes(&self.buf[..self.len]).ok()
    }
}

impl Out for StackBuf {
    fn push(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.overflow = true,
        }
    }
}

/// Appends `v` in decimal without the formatting machinery.
pub(crate) fn push_u64<O: Out + ?Sized>(out: &mut O, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + u8::try_from(v % 10).unwrap_or(0);
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.push(&digits[i..]);
}

/// Appends the quota's policy name as a structured-field String (RFC 8941 §3.3.3):
/// printable ASCII, `"` and `\` escaped, anything else replaced by `?`.
pub(crate) fn push_name<O: Out + ?Sized>(out: &mut O, quota: &Quota) {
    out.push(b"\"");
    let mut push = |s: &str| {
        for c in s.chars() {
            match c {
                '"' | '\\' => out.push(&[b'\\', c as u8]),
                ' '..='~' => out.push(&[c as u8]),
                _ => out.push(b"?"),
            }
        }
    };
    match quota.custom_name() {
        Some(n) => push(n),
        None => push(&quota.to_string()),
    }
    out.push(b"\"");
}

/// `"<name>";q=<burst>;w=<window seconds>, …`
pub(crate) fn write_policy<O: Out + ?Sized>(out: &mut O, quotas: &[Quota]) {
    for (i, q) in quotas.iter().enumerate() {
        if i > 0 {
            out.push(b", ");
        }
        push_name(out, q);
        out.push(b";q=");
        push_u64(out, u64::from(q.burst_size()));
        out.push(b";w=");
        push_u64(out, q.window_secs());
    }
}

/// `"<name>";r=<remaining>;t=<seconds until full>, …`; `names` are the quoted names of
/// the quotas when prepared, in the same order.
pub(crate) fn write_ratelimit<O: Out + ?Sized>(
    out: &mut O,
    states: &[QuotaState],
    names: Option<&[String]>,
) {
    for (i, s) in states.iter().enumerate() {
        if i > 0 {
            out.push(b", ");
        }
        match names.and_then(|n| n.get(i)) {
            Some(name) => out.push(name.as_bytes()),
            None => push_name(out, s.quota()),
        }
        out.push(b";r=");
        push_u64(out, u64::from(s.remaining()));
        out.push(b";t=");
        push_u64(out, ceil_secs(s.reset_after()));
    }
}

/// Formats with `write` into a stack buffer, or on the heap when it does not fit.
fn value(write: impl Fn(&mut dyn Out)) -> Option<HeaderValue> {
    let mut stack = StackBuf::new();
    write(&mut stack);
    stack.finish().or_else(|| {
        let mut heap = String::new();
        write(&mut heap);
        HeaderValue::try_from(heap).ok()
    })
}

/// The per-limiter parts of the headers, formatted once: the `RateLimit-Policy` value
/// and each quota's quoted name.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    policy: Option<HeaderValue>,
    names: std::sync::Arc<[String]>,
}

impl Prepared {
    // Built once per layer; only the axum middleware (and the tests) construct it.
    #[cfg(any(feature = "axum", test))]
    pub(crate) fn new(quotas: &[Quota]) -> Self {
        let policy = (!quotas.is_empty())
            .then(|| value(|out| write_policy(out, quotas)))
            .flatten();
        let names = quotas
            .iter()
            .map(|q| {
                let mut n = String::new();
                push_name(&mut n, q);
                n
            })
            .collect();
        Self { policy, names }
    }
}

/// The headers of one decision in one style, computed before the inner service runs
/// (so a response future needs neither the decision nor the configuration) and written
/// with [`apply`](Self::apply). Kept small: it travels inside the layer's response future.
#[derive(Debug, Default)]
pub(crate) struct RateHeaders {
    policy: Option<HeaderValue>,
    ratelimit: Option<HeaderValue>,
    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset`.
    legacy: Option<[u64; 3]>,
    retry_after: Option<u64>,
}

impl RateHeaders {
    /// The headers of `d` in `style`; `prepared` are the pre-formatted parts of the
    /// limiter that made `d` (ignored when `d` describes fewer quotas, as decisions of a
    /// deny cache may).
    pub(crate) fn new(d: &Decision, style: HeaderStyle, prepared: Option<&Prepared>) -> Self {
        let mut h = Self::default();
        if matches!(style, HeaderStyle::Ietf | HeaderStyle::Both) {
            let states = d.quotas();
            let prepared = prepared.filter(|p| p.names.len() == states.len() && p.policy.is_some());
            h.policy = match prepared {
                Some(p) => p.policy.clone(),
                None => value(|out| {
                    for (i, s) in states.iter().enumerate() {
                        if i > 0 {
                            out.push(b", ");
                        }
                        write_policy(out, std::slice::from_ref(s.quota()));
                    }
                }),
            };
            let names = prepared.map(|p| &*p.names);
            h.ratelimit = value(|out| write_ratelimit(out, states, names));
        }
        if matches!(style, HeaderStyle::Legacy | HeaderStyle::Both) {
            h.legacy = Some([
                u64::from(d.limit()),
                u64::from(d.remaining()),
                ceil_secs(d.reset_after()),
            ]);
        }
        h.retry_after = d.retry_after().map(|after| ceil_secs(after).max(1));
        h
    }

    /// Writes the headers into `headers`, replacing existing values.
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        // At most one growth of the map for all of them (reserving more than needed
        // would grow a map that has room already).
        let n = usize::from(self.policy.is_some())
            + usize::from(self.ratelimit.is_some())
            + if self.legacy.is_some() { 3 } else { 0 }
            + usize::from(self.retry_after.is_some());
        headers.reserve(n);
        if let Some(v) = self.policy {
            headers.insert(RATELIMIT_POLICY, v);
        }
        if let Some(v) = self.ratelimit {
            headers.insert(RATELIMIT, v);
        }
        if let Some([limit, remaining, reset]) = self.legacy {
            headers.insert(X_RATELIMIT_LIMIT, int_header(limit));
            headers.insert(X_RATELIMIT_REMAINING, int_header(remaining));
            headers.insert(X_RATELIMIT_RESET, int_header(reset));
        }
        if let Some(v) = self.retry_after {
            headers.insert(http::header::RETRY_AFTER, int_header(v));
        }
    }
}

/// A header value for an integer; values below 4096 (remaining counts, limits, seconds)
/// come from a table built once per process, so cloning them allocates nothing.
pub(crate) fn int_header(v: u64) -> HeaderValue {
    const SMALL: usize = 4096;
    static TABLE: std::sync::OnceLock<Box<[HeaderValue]>> = std::sync::OnceLock::new();
    match usize::try_from(v) {
        Ok(i) if i < SMALL => {
            let table = TABLE.get_or_init(|| {
                // One allocation for all the digits, alive for the rest of the process.
                let mut all = String::new();
                let mut ends = Vec::with_capacity(SMALL);
                for n in 0..4096u64 {
                    push_u64(&mut all, n);
                    ends.push(all.len());
                }
                let all: &'static str = Box::leak(all.into_boxed_str());
                let mut start = 0;
                ends.into_iter()
                    .map(|end| {
                        let v = HeaderValue::from_static(&all[start..end]);
                        start = end;
                        v
                    })
                    .collect()
            });
            table[i].clone()
        }
        _ => HeaderValue::from(v),
    }
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;

    fn decision(quotas: &[Quota]) -> Decision {
        let states = quotas
            .iter()
            .enumerate()
            .map(|(i, q)| QuotaState {
                quota: *q,
                remaining: u32::try_from(i).unwrap_or(0),
                reset_after: Duration::from_millis(1_500),
                retry_after: None,
            })
            .collect();
        Decision::from_states(true, 1, Source::Memory, states)
    }

    fn check(quotas: &[Quota]) {
        let d = decision(quotas);
        let prepared = Prepared::new(quotas);
        for style in [
            HeaderStyle::Both,
            HeaderStyle::Ietf,
            HeaderStyle::Legacy,
            HeaderStyle::None,
        ] {
            let mut fast = HeaderMap::new();
            RateHeaders::new(&d, style, Some(&prepared)).apply(&mut fast);
            let mut slow = HeaderMap::new();
            RateHeaders::new(&d, style, None).apply(&mut slow);
            assert_eq!(fast, slow, "{style:?}");
            if matches!(style, HeaderStyle::Both | HeaderStyle::Ietf) {
                assert_eq!(slow[RATELIMIT_POLICY], d.ratelimit_policy().as_str());
                assert_eq!(slow[RATELIMIT], d.ratelimit().as_str());
            }
        }
    }

    #[test]
    fn prepared_and_plain_paths_write_the_same_headers() {
        check(&[Quota::per_minute(5)]);
        check(&[
            Quota::per_second(10).burst(20),
            Quota::per_hour(100).named(r#"my "hourly" \ quota"#),
            Quota::per_day(1000).named("dåily"),
        ]);
    }

    #[test]
    fn values_longer_than_the_stack_buffer_are_formatted_on_the_heap() {
        const LONG: &str = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
        let quotas = [
            Quota::per_second(10).named(LONG),
            Quota::per_hour(100).named(LONG),
        ];
        check(&quotas);
        let mut h = HeaderMap::new();
        RateHeaders::new(&decision(&quotas), HeaderStyle::Ietf, None).apply(&mut h);
        assert!(h[RATELIMIT_POLICY].len() > 256);
    }

    #[test]
    fn a_deny_cache_decision_with_fewer_quotas_ignores_the_prepared_parts() {
        let all = [Quota::per_second(10), Quota::per_hour(100)];
        let prepared = Prepared::new(&all);
        let d = decision(&all[1..]);
        let mut h = HeaderMap::new();
        RateHeaders::new(&d, HeaderStyle::Ietf, Some(&prepared)).apply(&mut h);
        assert_eq!(h[RATELIMIT_POLICY], r#""100/hour";q=100;w=3600"#);
        assert_eq!(h[RATELIMIT], r#""100/hour";r=0;t=2"#);
    }
}
