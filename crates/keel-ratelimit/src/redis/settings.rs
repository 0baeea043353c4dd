//! [`RedisTarget::node_or_cluster`]: the usual deployment settings — one node's URL or
//! a cluster's seed URLs, and an optional private CA file — checked together, with a
//! [`RedisTargetError`] naming the input at fault.

use std::fmt;
use std::path::Path;

use super::RedisTarget;
use crate::Error;

/// One input of [`RedisTarget::node_or_cluster`], as a [`RedisTargetError`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RedisInput {
    /// The one node's URL.
    Node,
    /// The cluster's seed URLs.
    Seeds,
    /// The private CA file.
    CaFile,
}

impl RedisInput {
    /// A generic name for messages: "the node URL", "the cluster seed URLs", "the CA
    /// file" (what [`RedisTargetError`]'s `Display` uses).
    pub fn name(self) -> &'static str {
        match self {
            Self::Node => "the node URL",
            Self::Seeds => "the cluster seed URLs",
            Self::CaFile => "the CA file",
        }
    }
}

/// Why [`RedisTarget::node_or_cluster`] refused its inputs. No message quotes a URL
/// (it may carry a password).
///
/// [`input`](Self::input) says which input is wrong, [`detail`](Self::detail) words the
/// problem after that input's name, with the names the caller gives its inputs (e.g.
/// environment variables); `Display` uses [`RedisInput::name`].
///
/// ```
/// use keel_ratelimit::redis::{RedisInput, RedisTarget};
///
/// let err = RedisTarget::node_or_cluster(Some("http://x"), &[] as &[&str], None::<&str>).unwrap_err();
/// assert_eq!(err.input(), RedisInput::Node);
/// assert_eq!(err.to_string(), "the node URL must start with redis:// or rediss://");
/// let var = |input| match input {
///     RedisInput::Node => "REDIS_URL",
///     RedisInput::Seeds => "REDIS_CLUSTER_URLS",
///     _ => "REDIS_CA_FILE",
/// };
/// let err = RedisTarget::node_or_cluster(None, &[] as &[&str], Some("/etc/ca.pem")).unwrap_err();
/// assert_eq!(
///     format!("{} {}", var(err.input()), err.detail(var)),
///     "REDIS_CA_FILE needs REDIS_URL or REDIS_CLUSTER_URLS"
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisTargetError {
    /// A node URL and cluster seed URLs were both given (input: the node URL).
    Conflict,
    /// A URL does not start with `redis://` or `rediss://`.
    Scheme(RedisInput),
    /// A URL is malformed (the redis crate's reason, which quotes no password).
    Url(RedisInput, Error),
    /// A CA file without any URL.
    CaWithoutUrl,
    /// The CA file cannot be read, is too large or holds no certificate, or a URL is not
    /// `rediss://`.
    CaFile(Error),
    /// The input needs a feature of this crate that is off (`redis-cluster` for seed
    /// URLs, `rustls` for a CA file).
    FeatureOff(RedisInput, &'static str),
}

impl RedisTargetError {
    /// The input at fault.
    pub fn input(&self) -> RedisInput {
        match self {
            Self::Conflict => RedisInput::Node,
            Self::Scheme(input) | Self::Url(input, _) | Self::FeatureOff(input, _) => *input,
            Self::CaWithoutUrl | Self::CaFile(_) => RedisInput::CaFile,
        }
    }

    /// The problem, worded to follow the name of [`input`](Self::input) ("must start
    /// with redis:// or rediss://"); other inputs are called by `name`.
    pub fn detail<'n>(&self, name: impl Fn(RedisInput) -> &'n str) -> String {
        match self {
            Self::Conflict => format!(
                "and {} are both set: give one Redis deployment",
                name(RedisInput::Seeds)
            ),
            Self::Scheme(_) => "must start with redis:// or rediss://".to_owned(),
            Self::Url(_, e) | Self::CaFile(e) => format!("is refused: {e}"),
            Self::CaWithoutUrl => format!(
                "needs {} or {}",
                name(RedisInput::Node),
                name(RedisInput::Seeds)
            ),
            Self::FeatureOff(_, feature) => format!("needs keel-ratelimit's `{feature}` feature"),
        }
    }
}

impl fmt::Display for RedisTargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = self.detail(RedisInput::name);
        write!(f, "{} {detail}", self.input().name())
    }
}

impl std::error::Error for RedisTargetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Url(_, e) | Self::CaFile(e) => Some(e),
            _ => None,
        }
    }
}

impl RedisTarget {
    /// The usual deployment settings, checked together: one node's URL (`node`) or a
    /// Redis Cluster's seed URLs (`seeds`, feature `redis-cluster`), never both, each
    /// `redis://` or `rediss://`; and optionally a PEM file with the private CA that
    /// `rediss://` certificates must chain to (`ca_file`, feature `rustls`). `Ok(None)`
    /// when neither URL is given (no Redis: e.g. in-memory limits). Nothing connects
    /// here.
    ///
    /// This is what a service reads from two or three settings (`REDIS_URL`,
    /// `REDIS_CLUSTER_URLS`, `REDIS_CA_FILE`); the error says which one is wrong.
    ///
    /// # Errors
    /// [`RedisTargetError`]: both a node and seeds, a URL with another scheme or
    /// malformed, a CA file without a URL or unusable, an input whose feature is off.
    ///
    /// ```
    /// use keel_ratelimit::redis::RedisTarget;
    ///
    /// let none: &[&str] = &[];
    /// assert!(RedisTarget::node_or_cluster(None, none, None::<&str>)?.is_none());
    /// let node = RedisTarget::node_or_cluster(Some("redis://127.0.0.1:6379"), none, None::<&str>)?;
    /// assert!(!node.unwrap().is_cluster());
    /// # #[cfg(feature = "redis-cluster")] {
    /// let seeds = ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"];
    /// let cluster = RedisTarget::node_or_cluster(None, &seeds, None::<&str>)?;
    /// assert!(cluster.unwrap().is_cluster());
    /// # }
    /// # Ok::<(), keel_ratelimit::redis::RedisTargetError>(())
    /// ```
    pub fn node_or_cluster<S, P>(
        node: Option<&str>,
        seeds: &[S],
        ca_file: Option<P>,
    ) -> Result<Option<Self>, RedisTargetError>
    where
        S: AsRef<str>,
        P: AsRef<Path>,
    {
        let input = if seeds.is_empty() {
            RedisInput::Node
        } else {
            RedisInput::Seeds
        };
        if node.is_some() && !seeds.is_empty() {
            return Err(RedisTargetError::Conflict);
        }
        let mut urls = node.into_iter().chain(seeds.iter().map(AsRef::as_ref));
        if urls.any(|u| !(u.starts_with("redis://") || u.starts_with("rediss://"))) {
            return Err(RedisTargetError::Scheme(input));
        }
        let target = match node {
            _ if !seeds.is_empty() => cluster(seeds)?,
            Some(url) => Self::node(url).map_err(|e| RedisTargetError::Url(input, e))?,
            None if ca_file.is_some() => return Err(RedisTargetError::CaWithoutUrl),
            None => return Ok(None),
        };
        match ca_file {
            None => Ok(Some(target)),
            Some(path) => with_ca_file(target, path.as_ref()).map(Some),
        }
    }
}

#[cfg(feature = "redis-cluster")]
fn cluster<S: AsRef<str>>(seeds: &[S]) -> Result<RedisTarget, RedisTargetError> {
    RedisTarget::cluster(seeds).map_err(|e| RedisTargetError::Url(RedisInput::Seeds, e))
}

#[cfg(not(feature = "redis-cluster"))]
fn cluster<S: AsRef<str>>(_seeds: &[S]) -> Result<RedisTarget, RedisTargetError> {
    Err(RedisTargetError::FeatureOff(
        RedisInput::Seeds,
        "redis-cluster",
    ))
}

#[cfg(feature = "rustls")]
fn with_ca_file(target: RedisTarget, path: &Path) -> Result<RedisTarget, RedisTargetError> {
    target
        .tls_root_certificates_file(path)
        .map_err(RedisTargetError::CaFile)
}

#[cfg(not(feature = "rustls"))]
fn with_ca_file(_target: RedisTarget, _path: &Path) -> Result<RedisTarget, RedisTargetError> {
    Err(RedisTargetError::FeatureOff(RedisInput::CaFile, "rustls"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_SEEDS: &[&str] = &[];

    /// `(node, seeds, ca_file)` is refused with `expected` (the `Display` text), which
    /// never contains the password `pw`.
    fn check(node: Option<&str>, seeds: &[&str], ca_file: Option<&str>, expected: &str) {
        let err = RedisTarget::node_or_cluster(node, seeds, ca_file).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(expected),
            "`{text}` should start with `{expected}`"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn refusals_name_the_input_and_quote_no_url() {
        check(
            Some("redis://:hunter2@a:6379"),
            &["redis://b:6379"],
            None,
            "the node URL and the cluster seed URLs are both set",
        );
        check(
            Some("http://:hunter2@a:6379"),
            NO_SEEDS,
            None,
            "the node URL must start with redis:// or rediss://",
        );
        check(
            Some("redis://:hunter2@[::1"),
            NO_SEEDS,
            None,
            "the node URL is refused: ",
        );
        check(
            None,
            NO_SEEDS,
            Some("/etc/ca.pem"),
            "the CA file needs the node URL or the cluster seed URLs",
        );
        let err = RedisTarget::node_or_cluster(
            Some("redis://a:6379"),
            NO_SEEDS,
            Some("/nonexistent/ca.pem"),
        )
        .unwrap_err();
        assert_eq!(err.input(), RedisInput::CaFile);
        #[cfg(feature = "rustls")]
        assert!(
            err.to_string().starts_with("the CA file is refused: ")
                && err.to_string().contains("/nonexistent/ca.pem"),
            "{err}"
        );
    }

    #[cfg(feature = "redis-cluster")]
    #[test]
    fn seeds_make_a_cluster_and_a_bad_seed_names_the_seeds() {
        check(
            None,
            &["redis://:hunter2@a:6379", "http://:hunter2@b"],
            None,
            "the cluster seed URLs must start with redis:// or rediss://",
        );
        let t =
            RedisTarget::node_or_cluster(None, &["redis://a:6379", "redis://b:6379"], None::<&str>);
        let t = t.unwrap().unwrap();
        assert!(t.is_cluster());
        assert_eq!(t.expose_urls().len(), 2);
    }

    #[test]
    fn nothing_given_is_no_redis_and_a_node_keeps_its_url() {
        let none = RedisTarget::node_or_cluster(None, NO_SEEDS, None::<&str>).unwrap();
        assert!(none.is_none());
        let url = "rediss://:hunter2@redis.internal:6380/2";
        let t = RedisTarget::node_or_cluster(Some(url), NO_SEEDS, None::<&str>);
        let t = t.unwrap().unwrap();
        assert!(!t.is_cluster());
        assert_eq!(t.expose_urls().collect::<Vec<_>>(), [url]);
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    #[test]
    fn detail_uses_the_callers_names() {
        let var = |input| match input {
            RedisInput::Node => "REDIS_URL",
            RedisInput::Seeds => "REDIS_CLUSTER_URLS",
            RedisInput::CaFile => "REDIS_CA_FILE",
        };
        let err = RedisTarget::node_or_cluster(Some("redis://a"), &["redis://b"], None::<&str>);
        let err = err.unwrap_err();
        assert_eq!(
            format!("{} {}", var(err.input()), err.detail(var)),
            "REDIS_URL and REDIS_CLUSTER_URLS are both set: give one Redis deployment"
        );
    }
}
