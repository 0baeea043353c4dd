//! [`JsonFormat`] and [`JsonSpanFields`]: tracing-subscriber's JSON output, written
//! directly.
//!
//! tracing-subscriber's `Format<Json>` serializes each event through serde_json into an
//! adaptor that re-validates every written chunk as UTF-8, formats the timestamp through
//! a calendar conversion per event, and for the current span **parses** the span's stored
//! fields back into a `serde_json::Value` map and serializes them again; its `JsonFields`
//! builds a `BTreeMap` of `serde_json::Value`s per span. On a service that logs one access
//! line per request this was ~13 % of the CPU of a trivial endpoint. These two write the
//! same JSON object per event — the keys `timestamp`, `level`, `fields`, `target` and
//! `span` (the current span's fields and its `name`), one object per line — straight into
//! the subscriber's buffer, with the date part of the timestamp formatted once per second.
//!
//! As in tracing-subscriber, 128-bit integers are strings (most JSON readers lose
//! precision beyond 2⁵³). Differences from tracing-subscriber's output, all within JSON: the fields of a span are
//! in the order they were recorded (not sorted), a field recorded twice on a span appears
//! twice (JSON readers keep the last), and a float is written by Rust's shortest
//! round-trip formatting (`2` rather than `2.0`; non-finite values are `null` in both).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format of [`json_subscriber`](super::json_subscriber): one JSON object per
/// event with `timestamp` (RFC 3339, UTC, microseconds), `level`, `fields`, `target` and,
/// inside a span, `span` (its fields and `name`). Pair it with [`JsonSpanFields`], which
/// stores span fields in the form this format writes.
///
/// ```
/// use keel_http::json_log::{JsonFormat, JsonSpanFields};
///
/// let subscriber = tracing_subscriber::fmt()
///     .fmt_fields(JsonSpanFields)
///     .event_format(JsonFormat)
///     .with_writer(std::io::sink)
///     .finish();
/// tracing::subscriber::with_default(subscriber, || tracing::info!(user = 7, "hello"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonFormat;

/// The span-field format of [`JsonFormat`]: a span's fields are stored as the members of
/// a JSON object (`"method":"GET","route":"/users/{id}"`), ready to be copied into each
/// event inside the span.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSpanFields;

impl<'w> FormatFields<'w> for JsonSpanFields {
    /// Formats a new span's fields. tracing-subscriber hands in an empty `String` for
    /// them; written piece by piece it would grow (and reallocate) four or five times
    /// for a request span, so the members are written into a reused per-thread buffer
    /// and copied once, which allocates the span's string at its exact size.
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                scratch.clear();
                let mut v = Members::new(&mut *scratch);
                fields.record(&mut v);
                v.result?;
                writer.write_str(&scratch)?;
                // Keep the buffer small if one span had huge fields.
                if scratch.capacity() > SCRATCH_KEEP {
                    *scratch = String::new();
                }
                Ok(())
            }
            // Re-entered (a field's `Debug` created a span): write directly.
            Err(_) => {
                let mut v = Members::new(&mut writer);
                fields.record(&mut v);
                v.result
            }
        })
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        let mut writer = current.as_writer();
        let mut v = Members::new(&mut writer);
        v.first = first;
        fields.record(&mut v);
        v.result
    }
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    /// Writes the line into a reused per-thread `String` (direct calls the compiler can
    /// inline, where the subscriber's `Writer` dispatches every piece dynamically), then
    /// hands it over in one piece.
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        LINE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                let written = write_event(&mut *line, ctx, event);
                let handed = written.and_then(|()| writer.write_str(&line));
                // Keep the buffer small if one event was huge.
                if line.capacity() > SCRATCH_KEEP {
                    *line = String::new();
                }
                handed
            }
            // Re-entered (a field's `Debug` logged): write directly.
            Err(_) => write_event(&mut writer, ctx, event),
        })
    }
}

/// The JSON object of `event` (and its span's fields), newline-terminated.
fn write_event<W, S, N>(w: &mut W, ctx: &FmtContext<'_, S, N>, event: &Event<'_>) -> fmt::Result
where
    W: fmt::Write,
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    let meta = event.metadata();
    w.write_str("{\"timestamp\":\"")?;
    write_timestamp(w, SystemTime::now())?;
    w.write_str("\",\"level\":\"")?;
    w.write_str(level(*meta.level()))?;
    w.write_str("\",\"fields\":{")?;
    let mut v = Members::new(&mut *w);
    event.record(&mut v);
    v.result?;
    w.write_str("},\"target\":")?;
    write_string(w, meta.target())?;
    let span = event
        .parent()
        .and_then(|id| ctx.span(id))
        .or_else(|| ctx.lookup_current());
    if let Some(span) = span {
        w.write_str(",\"span\":{")?;
        let ext = span.extensions();
        match ext.get::<FormattedFields<N>>() {
            Some(f) if !f.fields.is_empty() => {
                w.write_str(&f.fields)?;
                w.write_char(',')?;
            }
            _ => {}
        }
        w.write_str("\"name\":")?;
        write_string(w, span.metadata().name())?;
        w.write_char('}')?;
    }
    w.write_str("}\n")
}

const fn level(l: Level) -> &'static str {
    match l {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

/// Writes fields as JSON object members (`"name":value`, comma-separated).
struct Members<'a, W: fmt::Write> {
    w: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<'a, W: fmt::Write> Members<'a, W> {
    fn new(w: &'a mut W) -> Self {
        Self {
            w,
            first: true,
            result: Ok(()),
        }
    }

    /// Writes `"name":` (with the separating comma), then the value through `value`.
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let sep = if self.first { "" } else { "," };
        self.first = false;
        self.result = self
            .w
            .write_str(sep)
            .and_then(|()| write_string(self.w, field.name()))
            .and_then(|()| self.w.write_char(':'))
            .and_then(|()| value(self.w));
    }
}

impl<W: fmt::Write> Visit for Members<'_, W> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, |w| write_f64(w, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| {
            if value < 0 {
                w.write_char('-')?;
            }
            write_u64(w, value.unsigned_abs())
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write_u64(w, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| write_string(w, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field, |w| {
            w.write_char('"')?;
            write!(Escape(w), "{value}")?;
            w.write_char('"')
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| {
            w.write_char('"')?;
            write!(Escape(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

/// Writes `s` as a JSON string (quoted, escaped).
fn write_string(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    Escape(w).write_str(s)?;
    w.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string: `"`, `\` and the control
/// characters (RFC 8259 §7); everything else, non-ASCII included, passes as is.
struct Escape<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escape<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        // Almost every string logged needs no escape: one branch-free pass (the compiler
        // vectorizes it) and a single write.
        if !bytes.iter().fold(false, |any, &b| any | needs_escape(b)) {
            return self.0.write_str(s);
        }
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc: &str = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f | 0x7f => "",
                _ => continue,
            };
            // Splitting at an ASCII byte always lands on a character boundary.
            self.0.write_str(&s[start..i])?;
            if esc.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.write_str(esc)?;
            }
            start = i + 1;
        }
        self.0.write_str(&s[start..])
    }
}

/// Whether `b` must be escaped inside a JSON string (see [`Escape`]).
const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f
}

/// Capacity of [`SCRATCH`] (and [`LINE`]) kept between spans; a larger buffer is freed after use.
const SCRATCH_KEEP: usize = 4096;

thread_local! {
    /// Where [`JsonSpanFields::format_fields`] writes a new span's fields first.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };

    /// Where [`JsonFormat::format_event`] writes a line first.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };

    /// The last second formatted on this thread and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Writes `t` as RFC 3339 UTC with microseconds (`2026-12-03T14:30:57.497394Z`, what
/// tracing-subscriber writes). The date and time of day are formatted once per second
/// per thread; a time before 1970 is written as the epoch.
fn write_timestamp(w: &mut impl fmt::Write, t: SystemTime) -> fmt::Result {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            // `secs` came from a `SystemTime`, so it is representable (else the epoch).
            let t = i64::try_from(secs)
                .ok()
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            cached.1.clear();
            write!(
                cached.1,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )?;
            cached.0 = secs;
        }
        w.write_str(&cached.1)
    })?;
    // `.` + six digits + `Z`, without the formatting machinery.
    let mut buf = *b".000000Z";
    let mut micros = since.subsec_micros();
    for b in buf[1..7].iter_mut().rev() {
        *b = b'0' + u8::try_from(micros % 10).map_err(|_| fmt::Error)?;
        micros /= 10;
    }
    w.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
}

/// Writes `v` as a JSON number: Rust's shortest round-trip decimal (`Display`), `null`
/// when not finite. A whole number of thousandths below 2³¹ — a latency in milliseconds
/// with microsecond precision, as [`TelemetryLayer`](crate::TelemetryLayer) logs it — is
/// written as integer digits instead, with the same bytes (`1.25`, `0.005`, `2`): doubles
/// there are finer than 10⁻⁶, so the decimal `n/1000` is the shortest one that reads
/// back as `v`, which is what `Display` prints.
fn write_f64(w: &mut impl fmt::Write, v: f64) -> fmt::Result {
    if !v.is_finite() {
        return w.write_str("null");
    }
    match thousandths(v) {
        Some(n) => write_thousandths(w, n),
        None => write!(w, "{v}"),
    }
}

/// `n` if `v` is exactly the double nearest to `n / 1000`, `0 ≤ v < 2³¹` (and not `-0.0`,
/// which `Display` writes as `-0`).
fn thousandths(v: f64) -> Option<u64> {
    if !(v.is_sign_positive() && v < 2_147_483_648.0) {
        return None;
    }
    let scaled = (v * 1000.0).round();
    // In range by the check above: 0 ≤ scaled < 2^41, a whole number.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = scaled as u64;
    #[allow(clippy::cast_precision_loss)] // n < 2^41 is exact in a double
    let back = n as f64 / 1000.0;
    (back.to_bits() == v.to_bits()).then_some(n)
}

/// Writes `n / 1000` in decimal, without trailing zeros in the fraction (`1500` → `1.5`).
fn write_thousandths(w: &mut impl fmt::Write, n: u64) -> fmt::Result {
    write_u64(w, n / 1000)?;
    let mut frac = n % 1000;
    if frac == 0 {
        return Ok(());
    }
    let mut buf = *b".000";
    let mut end = 4;
    while frac % 10 == 0 {
        frac /= 10;
        end -= 1;
    }
    let mut i = end;
    while frac > 0 {
        i -= 1;
        buf[i] = b'0' + u8::try_from(frac % 10).map_err(|_| fmt::Error)?;
        frac /= 10;
    }
    w.write_str(std::str::from_utf8(&buf[..end]).map_err(|_| fmt::Error)?)
}

/// Writes `v` in decimal through a stack buffer (`write!` goes through `fmt::Arguments`
/// and a `Formatter`, several times slower for the status and ids of every line).
fn write_u64(w: &mut impl fmt::Write, mut v: u64) -> fmt::Result {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + u8::try_from(v % 10).map_err(|_| fmt::Error)?;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    w.write_str(std::str::from_utf8(&buf[i..]).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn check_time(unix_micros: u64, expected: &str) {
        let mut s = String::new();
        write_timestamp(&mut s, UNIX_EPOCH + Duration::from_micros(unix_micros)).unwrap();
        assert_eq!(s, expected);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_micros() {
        check_time(0, "1970-01-01T00:00:00.000000Z");
        check_time(951_782_400_000_001, "2000-02-29T00:00:00.000001Z");
        check_time(1_796_315_457_497_394, "2026-12-03T16:30:57.497394Z");
        // Same second twice (cached), then the next one.
        check_time(1_796_315_457_000_000, "2026-12-03T16:30:57.000000Z");
        check_time(1_796_315_458_999_999, "2026-12-03T16:30:58.999999Z");
        check_time(4_102_444_799_000_000, "2099-12-31T23:59:59.000000Z");
        let mut s = String::new();
        write_timestamp(&mut s, UNIX_EPOCH - Duration::from_secs(5)).unwrap();
        assert_eq!(s, "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for v in [0, 1, 9, 10, 200, 503, 4096, 1_234_567_890, u64::MAX] {
            let mut s = String::new();
            write_u64(&mut s, v).unwrap();
            assert_eq!(s, v.to_string());
        }
    }

    fn check_f64(v: f64) {
        let mut s = String::new();
        write_f64(&mut s, v).unwrap();
        let expected = if v.is_finite() {
            v.to_string()
        } else {
            "null".to_owned()
        };
        assert_eq!(s, expected, "{v:?}");
    }

    #[test]
    fn floats_are_written_as_display_writes_them() {
        // Every latency of the first 300 ms at microsecond precision (the fast path).
        for micros in 0..300_000_u32 {
            check_f64(f64::from(micros) / 1000.0);
        }
        // Around the fast path's bounds and outside it (the formatter).
        for v in [
            2_147_483.647,
            2_147_483_647.999,
            2_147_483_648.0,
            1e15 + 0.5,
            0.0005,
            0.1 + 0.2,
            1.0 / 3.0,
            12.345_678_9,
            -0.0,
            -1.25,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            check_f64(v);
        }
        // Whole thousandths across the whole fast-path range.
        let mut n: u64 = 1;
        while n < 2_147_483_648_000 {
            #[allow(clippy::cast_precision_loss)]
            check_f64(n as f64 / 1000.0);
            n = n * 7 + 3;
        }
        assert_eq!(thousandths(1.25), Some(1250));
        assert_eq!(thousandths(0.1 + 0.2), None);
    }

    fn check_escape(input: &str, expected: &str) {
        let mut s = String::new();
        write_string(&mut s, input).unwrap();
        assert_eq!(s, expected);
        // And a JSON parser reads back the input.
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), input);
    }

    #[test]
    fn strings_are_escaped_as_json() {
        check_escape("plain", r#""plain""#);
        check_escape("a\"b\\c", r#""a\"b\\c""#);
        check_escape("l1\nl2\r\t", r#""l1\nl2\r\t""#);
        check_escape("\u{0}\u{1b}[31m\u{7f}", r#""\u0000\u001b[31m\u007f""#);
        check_escape("café ☕ \u{2028}", "\"café ☕ \u{2028}\"");
        check_escape("", r#""""#);
    }
}
