//! `json_log::init`: installs the global subscriber once, keeps it on later calls (its
//! own process, since the subscriber is global).
#![cfg(feature = "json-log")]

use keel_http::json_log::{self, BatchedWriter, JsonFormat, JsonSpanFields, LogFilter, LogFormat};

/// The JSON formatter, its span fields and writer, behind a `LogFilter`.
fn json_installed() -> bool {
    tracing::dispatcher::get_default(|d| {
        d.is::<JsonFormat>()
            && d.is::<JsonSpanFields>()
            && d.is::<BatchedWriter>()
            && d.is::<LogFilter>()
    })
}

#[test]
fn init_installs_once_and_keeps_the_first() {
    assert!(!json_installed());
    let first = json_log::init(LogFormat::Json);
    assert!(json_installed());
    // A second service in the same process: no panic, the first subscriber stays.
    let second = json_log::init(LogFormat::Pretty);
    assert!(json_installed());
    drop((first, second));
}
