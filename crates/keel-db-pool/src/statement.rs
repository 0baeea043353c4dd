//! What every statement helper shares: the slow-statement log, the parameter-count
//! check, and [`StatementMode::Unnamed`](crate::StatementMode::Unnamed)'s cache of
//! parameter types.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_postgres::types::{ToSql, Type};
use tracing::Level;

use crate::Error;
use crate::manager::Shared;

/// The most SQL texts whose parameter types are kept; past it the cache starts over
/// (a service has a bounded set of statements, so this only trips on generated SQL).
const TYPE_CACHE_MAX: usize = 1024;

/// The most SQL text a slow-statement log line carries.
const LOGGED_SQL_MAX: usize = 2048;

/// How the helper runs a statement.
pub(crate) enum Prepared {
    /// A named statement from the connection's statement cache.
    Named(tokio_postgres::Statement),
    /// The unnamed statement with these parameter types.
    Typed(Arc<[Type]>),
}

impl Prepared {
    fn param_count(&self) -> usize {
        match self {
            Self::Named(s) => s.params().len(),
            Self::Typed(t) => t.len(),
        }
    }
}

/// Fails when `params` does not match the statement's placeholders, before anything
/// is sent (the server would answer a protocol violation).
pub(crate) fn check_params(prepared: &Prepared, got: usize) -> Result<(), Error> {
    let expected = prepared.param_count();
    if expected == got {
        Ok(())
    } else {
        Err(Error::Parameters { expected, got })
    }
}

/// Pairs each parameter with its learned type for `query_typed`.
pub(crate) fn typed_params<'a>(
    params: &[&'a (dyn ToSql + Sync)],
    types: &[Type],
) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    params
        .iter()
        .zip(types)
        .map(|(p, t)| (*p, t.clone()))
        .collect()
}

/// Whether an error from a statement run with cached parameter types may come from
/// types gone stale after a schema change: the server's `42804 datatype_mismatch`,
/// `42883 undefined_function`, `42725 ambiguous_function`, or a parameter the driver
/// cannot encode as the cached type (a column changed from `int` to `bigint`). The
/// entry is dropped and, outside a transaction, learned again and run once more.
pub(crate) fn stale_types(err: &Error) -> bool {
    let wrong_type = err
        .driver_error()
        .and_then(std::error::Error::source)
        .is_some_and(|s| s.is::<tokio_postgres::types::WrongType>());
    wrong_type
        || err
            .sqlstate()
            .is_some_and(|s| matches!(s.code(), "42804" | "42883" | "42725"))
}

/// Parameter types per SQL text, shared by a pool's connections.
#[derive(Debug, Default)]
pub(crate) struct TypeCache {
    map: Mutex<HashMap<Box<str>, Arc<[Type]>>>,
}

impl TypeCache {
    pub(crate) fn get(&self, sql: &str) -> Option<Arc<[Type]>> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sql)
            .cloned()
    }

    pub(crate) fn insert(&self, sql: &str, types: Arc<[Type]>) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= TYPE_CACHE_MAX {
            map.clear();
        }
        map.insert(sql.into(), types);
    }

    pub(crate) fn remove(&self, sql: &str) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(sql);
    }

    pub(crate) fn clear(&self) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Records a finished statement: counted and logged when it took at least the slow
/// threshold. The SQL text is logged (cut to 2 KiB), the parameters never are.
pub(crate) fn finish(shared: &Shared, sql: &str, started: Instant, ok: bool) {
    let slow = &shared.config.slow_statements;
    let elapsed = started.elapsed();
    if elapsed < slow.threshold {
        return;
    }
    shared.stats.slow_statement();
    let Some(level) = slow.level.into_level() else {
        return;
    };
    log_slow(level, &shared.config.name, sql, elapsed, ok);
}

fn log_slow(level: Level, pool: &str, sql: &str, elapsed: Duration, ok: bool) {
    let statement = truncate(sql, LOGGED_SQL_MAX);
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    macro_rules! emit {
        ($lvl:expr) => {
            tracing::event!(
                $lvl,
                pool,
                duration_ms,
                ok,
                statement,
                "slow database statement"
            )
        };
    }
    match level {
        Level::ERROR => emit!(Level::ERROR),
        Level::WARN => emit!(Level::WARN),
        Level::INFO => emit!(Level::INFO),
        Level::DEBUG => emit!(Level::DEBUG),
        _ => emit!(Level::TRACE),
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("aé", 2), "a");
    }

    #[test]
    fn type_cache_is_bounded() {
        let cache = TypeCache::default();
        for i in 0..TYPE_CACHE_MAX + 10 {
            cache.insert(&format!("SELECT {i}"), Arc::from(vec![Type::INT4]));
        }
        assert!(cache.len() <= TYPE_CACHE_MAX);
        assert!(
            cache
                .get(&format!("SELECT {}", TYPE_CACHE_MAX + 9))
                .is_some()
        );
        cache.remove(&format!("SELECT {}", TYPE_CACHE_MAX + 9));
        assert!(
            cache
                .get(&format!("SELECT {}", TYPE_CACHE_MAX + 9))
                .is_none()
        );
        cache.clear();
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn parameter_count() {
        let p = Prepared::Typed(Arc::from(vec![Type::INT4, Type::TEXT]));
        assert!(check_params(&p, 2).is_ok());
        match check_params(&p, 1) {
            Err(Error::Parameters {
                expected: 2,
                got: 1,
            }) => {}
            other => panic!("{other:?}"),
        }
    }
}
