//! [`LogFilter`]: an [`EnvFilter`] that skips its per-span bookkeeping when no directive
//! needs it.

use std::fmt;

use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};

/// An [`EnvFilter`] (the `RUST_LOG` syntax, unchanged) that does not track spans when
/// none of its directives can depend on a span.
///
/// `EnvFilter` takes a read lock on its span map on every span's creation, enter, exit
/// and close — four to six lock round trips per request for a request span polled
/// twice, on a lock shared by every worker thread — even when its directives are all
/// static (`info`, `my_crate=debug,hyper=warn`), where that map stays empty forever.
/// `LogFilter` forwards the callsite, level and `enabled` checks as they are, and the
/// span notifications only when the filter has a dynamic directive (one with a
/// `[span{field=value}]` part), so what is logged is exactly what the `EnvFilter` alone
/// logs.
///
/// ```
/// use keel_http::json_log::LogFilter;
/// use tracing_subscriber::EnvFilter;
///
/// assert!(!LogFilter::new(EnvFilter::new("info,hyper=warn")).tracks_spans());
/// assert!(LogFilter::new(EnvFilter::new("info,[request{route=/users}]=debug")).tracks_spans());
/// ```
pub struct LogFilter {
    inner: EnvFilter,
    tracks_spans: bool,
}

impl LogFilter {
    /// Wraps `filter`.
    pub fn new(filter: EnvFilter) -> Self {
        // A dynamic directive (a span name or field matches) is displayed with its `[…]`
        // part; a static directive's target cannot contain `[` (the parser splits there).
        let tracks_spans = filter.to_string().contains('[');
        Self {
            inner: filter,
            tracks_spans,
        }
    }

    /// Whether the filter has directives that depend on spans (so it tracks every span).
    pub fn tracks_spans(&self) -> bool {
        self.tracks_spans
    }

    /// The wrapped filter.
    pub fn into_inner(self) -> EnvFilter {
        self.inner
    }
}

impl From<EnvFilter> for LogFilter {
    fn from(filter: EnvFilter) -> Self {
        Self::new(filter)
    }
}

impl fmt::Debug for LogFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogFilter")
            .field("directives", &format_args!("{}", self.inner))
            .field("tracks_spans", &self.tracks_spans)
            .finish()
    }
}

impl fmt::Display for LogFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl<S: Subscriber> Layer<S> for LogFilter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        Layer::<S>::register_callsite(&self.inner, metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Layer::<S>::max_level_hint(&self.inner)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        Layer::<S>::enabled(&self.inner, metadata, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if self.tracks_spans {
            Layer::<S>::on_new_span(&self.inner, attrs, id, ctx);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if self.tracks_spans {
            Layer::<S>::on_record(&self.inner, id, values, ctx);
        }
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        if self.tracks_spans {
            Layer::<S>::on_enter(&self.inner, id, ctx);
        }
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        if self.tracks_spans {
            Layer::<S>::on_exit(&self.inner, id, ctx);
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        if self.tracks_spans {
            Layer::<S>::on_close(&self.inner, id, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// Counts the events that reach it.
    struct Count(Arc<AtomicUsize>);

    impl<S: Subscriber> Layer<S> for Count {
        fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events that pass `directives`, through the `EnvFilter` alone and through a
    /// `LogFilter`: the same count.
    fn passed(directives: &str) -> (usize, usize) {
        let run = |wrap: bool| {
            let n = Arc::new(AtomicUsize::new(0));
            let registry = tracing_subscriber::registry().with(Count(Arc::clone(&n)));
            let env = EnvFilter::new(directives);
            let emit = || {
                tracing::debug!("outside");
                tracing::info!("outside");
                let span = tracing::info_span!("request", route = "health");
                let _in = span.enter();
                tracing::debug!("inside");
                tracing::trace!("inside");
                let other = tracing::info_span!("other", route = "users");
                let _in_other = other.enter();
                tracing::debug!("nested");
            };
            if wrap {
                tracing::subscriber::with_default(registry.with(LogFilter::new(env)), emit);
            } else {
                tracing::subscriber::with_default(registry.with(env), emit);
            }
            n.load(Ordering::Relaxed)
        };
        (run(false), run(true))
    }

    #[test]
    fn logs_what_the_env_filter_logs() {
        for (directives, expected) in [
            ("info", 1),
            ("debug", 4),
            ("warn", 0),
            ("info,[request]=debug", 3),
            ("info,[request{route=health}]=trace", 4),
            ("info,[other]=debug", 2),
        ] {
            assert_eq!(passed(directives), (expected, expected), "{directives}");
        }
    }

    fn check(directives: &str, tracks_spans: bool) {
        let filter = LogFilter::new(EnvFilter::new(directives));
        assert_eq!(filter.tracks_spans(), tracks_spans, "{directives}");
    }

    #[test]
    fn only_dynamic_directives_track_spans() {
        check("info", false);
        check("warn,keel_http=debug,hyper::proto=trace", false);
        check("my_crate", false);
        check("off", false);
        check("[request]=debug", true);
        check("info,[request{route=health}]=trace", true);
        check("keel_http[request]=debug", true);
        check("[{status=500}]=debug", true);
    }
}
