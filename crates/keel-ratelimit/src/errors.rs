//! The `errors` feature: [`Error`] and denied [`Decision`]s as [`keel_errors::ApiError`]s.

use std::time::Duration;

use http::HeaderMap;

use crate::headers::ceil_secs;
use crate::{Decision, Error, HeaderStyle};

#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
impl Decision {
    /// For a denial, the `429 RATE_LIMITED` [`ApiError`](keel_errors::ApiError) a handler
    /// returns: `Retry-After` (whole seconds, rounded up, at least 1) mirrored as
    /// `details.retry_after`, and the rate limit headers of `style` (`RateLimit-Policy`,
    /// `RateLimit` and/or `X-RateLimit-*`), exactly as the tower layer sends them.
    /// `None` when the decision admits the request.
    ///
    /// ```
    /// use keel_ratelimit::{HeaderStyle, KeyedLimiter, Quota};
    /// let limiter = KeyedLimiter::builder().quota(Quota::per_minute(1)).build()?;
    /// let key = "alice".into();
    /// assert!(limiter.check_key(&key, 1)?.to_api_error(HeaderStyle::Ietf).is_none());
    /// let denied = limiter.check_key(&key, 1)?;
    /// let err = denied.to_api_error(HeaderStyle::Ietf).expect("denied");
    /// assert_eq!(err.status(), 429);
    /// assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(60)));
    /// assert_eq!(err.headers()["ratelimit-policy"], r#""1/minute";q=1;w=60"#);
    /// assert_eq!(err.headers()["ratelimit"], r#""1/minute";r=0;t=60"#);
    /// # Ok::<(), keel_ratelimit::Error>(())
    /// ```
    pub fn to_api_error(&self, style: HeaderStyle) -> Option<keel_errors::ApiError> {
        if self.is_allowed() {
            return None;
        }
        let mut headers = HeaderMap::new();
        self.write_headers(&mut headers, style);
        // `ApiError` renders `Retry-After` itself (and mirrors it in the body).
        headers.remove(http::header::RETRY_AFTER);
        let mut err = keel_errors::ApiError::rate_limited(retry_after(self));
        let mut name = None;
        for (n, value) in headers {
            // `HeaderMap::into_iter` names only the first value of each name.
            if n.is_some() {
                name = n;
            }
            if let Some(name) = &name {
                err = err.with_header(name.clone(), value);
            }
        }
        Some(err)
    }
}

/// The `Retry-After` of a denial as the layer sends it: whole seconds, at least one.
pub(crate) fn retry_after(d: &Decision) -> Duration {
    Duration::from_secs(ceil_secs(d.retry_after().unwrap_or_default()).max(1))
}

#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
impl From<Error> for keel_errors::ApiError {
    /// 429 `RATE_LIMITED` (no `Retry-After`: waiting does not help) for a cost above the
    /// burst, 503 `SERVICE_UNAVAILABLE` for backend outages, 500 for configuration errors.
    /// Internals (Redis messages, quota strings) go to the private source, never the body.
    fn from(e: Error) -> Self {
        let public = api_error(&e);
        if public.kind().is_server_error() {
            public.with_source(e)
        } else {
            public
        }
    }
}

/// The public [`keel_errors::ApiError`] for `e` (no source attached).
pub(crate) fn api_error(e: &Error) -> keel_errors::ApiError {
    use keel_errors::{ApiError, ErrorKind};
    match e {
        Error::CostExceedsBurst { .. } => ApiError::new(
            ErrorKind::RateLimited,
            "This request exceeds the rate limit",
        ),
        e if e.is_retryable() => {
            ApiError::service_unavailable("Rate limiting is temporarily unavailable")
        }
        _ => ApiError::from_kind(ErrorKind::Internal),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{Clock, HeaderStyle, Key, KeyedLimiter, Quota};

    fn check(style: HeaderStyle, present: &[&str], absent: &[&str]) {
        let clock = Clock::manual();
        let limiter = KeyedLimiter::builder()
            .quotas(Quota::parse_many("2/minute; 100/day").unwrap())
            .clock(clock.clone())
            .build()
            .unwrap();
        let key = Key::from("k");
        for _ in 0..2 {
            assert!(
                limiter
                    .check_key(&key, 1)
                    .unwrap()
                    .to_api_error(style)
                    .is_none()
            );
        }
        clock.advance(Duration::from_millis(200));
        let d = limiter.check_key(&key, 1).unwrap();
        let err = d.to_api_error(style).unwrap();
        assert_eq!(err.code(), "RATE_LIMITED");
        // 29.8 s rounds up to 30, as the layer's Retry-After does.
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        let mut layer_headers = http::HeaderMap::new();
        d.write_headers(&mut layer_headers, style);
        for name in present {
            assert_eq!(err.headers().get(*name), layer_headers.get(*name), "{name}");
            assert!(err.headers().contains_key(*name), "{name}");
        }
        for name in absent {
            assert!(!err.headers().contains_key(*name), "{name}");
        }
        assert_eq!(layer_headers["retry-after"], "30");
    }

    #[test]
    fn a_denial_is_an_api_error_with_its_headers() {
        let ietf = ["ratelimit-policy", "ratelimit"];
        let legacy = [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ];
        // Retry-After is the ApiError's own (rendered from `retry_after`), never an extra.
        check(
            HeaderStyle::Ietf,
            &ietf,
            &[&legacy[..], &["retry-after"]].concat(),
        );
        check(
            HeaderStyle::Legacy,
            &legacy,
            &[&ietf[..], &["retry-after"]].concat(),
        );
        check(
            HeaderStyle::Both,
            &[&ietf[..], &legacy[..]].concat(),
            &["retry-after"],
        );
    }
}
