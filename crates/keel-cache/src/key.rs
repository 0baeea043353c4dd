//! Keys: the [`CacheKey`] trait (how a key is written into Redis and matched by prefix)
//! and the [`Key`] builder for stable, namespaced keys from typed arguments.

use std::borrow::Borrow;
use std::fmt::{self, Write as _};
use std::hash::Hash;
use std::sync::Arc;

/// A type usable as a cache key.
///
/// In memory the key is hashed as-is (no string building on the hit path). Its
/// [`write_key`](Self::write_key) form is used for the Redis key, for
/// [prefix invalidation](crate::Cache::invalidate_prefix) and for the
/// [maximum key length](crate::CacheBuilder::max_key_len). That form must be stable across
/// processes and releases (never `Hash` output or `Debug`), and distinct keys must write
/// distinct strings.
///
/// Implemented for strings, integers, `bool`, `char`, [`Key`], and `uuid::Uuid` (feature
/// `uuid`, written hyphenated and lowercase).
///
/// ```
/// use keel_cache::CacheKey;
/// assert_eq!(42u64.to_key_string(), "42");
/// assert_eq!("user:1".to_key_string(), "user:1");
/// ```
pub trait CacheKey: Hash + Eq + Clone + Send + Sync + 'static {
    /// Appends the key's stable string form to `out`.
    fn write_key(&self, out: &mut String);

    /// The key's stable string form.
    fn to_key_string(&self) -> String {
        let mut s = String::new();
        self.write_key(&mut s);
        s
    }

    /// The length in bytes of [`to_key_string`](Self::to_key_string); override when it is
    /// cheaper than building the string (it is checked on every insert and load).
    fn key_len(&self) -> usize {
        self.to_key_string().len()
    }

    /// Parses the string form back (the inverse of [`write_key`](Self::write_key)).
    ///
    /// Used to apply invalidations received from other replicas to the in-memory tier
    /// with a direct lookup. The default returns `None`, and then such an invalidation
    /// scans the memory tier for a key with that string form instead (correct, slower).
    fn from_key_str(s: &str) -> Option<Self> {
        let _ = s;
        None
    }
}

impl CacheKey for String {
    fn write_key(&self, out: &mut String) {
        out.push_str(self);
    }
    fn from_key_str(s: &str) -> Option<Self> {
        Some(s.into())
    }
    fn key_len(&self) -> usize {
        self.len()
    }
}

impl CacheKey for &'static str {
    fn write_key(&self, out: &mut String) {
        out.push_str(self);
    }
    fn key_len(&self) -> usize {
        self.len()
    }
}

impl CacheKey for Arc<str> {
    fn write_key(&self, out: &mut String) {
        out.push_str(self);
    }
    fn from_key_str(s: &str) -> Option<Self> {
        Some(s.into())
    }
    fn key_len(&self) -> usize {
        self.len()
    }
}

impl CacheKey for Box<str> {
    fn write_key(&self, out: &mut String) {
        out.push_str(self);
    }
    fn from_key_str(s: &str) -> Option<Self> {
        Some(s.into())
    }
    fn key_len(&self) -> usize {
        self.len()
    }
}

macro_rules! int_keys {
    ($($t:ty),*) => {$(
        impl CacheKey for $t {
            fn write_key(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
            fn key_len(&self) -> usize {
                // At most 40 bytes (i128::MIN); far below any sensible maximum, and the
                // exact figure would cost a formatting on every call.
                let mut s = String::with_capacity(40);
                self.write_key(&mut s);
                s.len()
            }
            fn from_key_str(s: &str) -> Option<Self> {
                s.parse().ok()
            }
        }
    )*};
}
int_keys!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

impl CacheKey for bool {
    fn write_key(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
    fn from_key_str(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

impl CacheKey for char {
    fn write_key(&self, out: &mut String) {
        out.push(*self);
    }
    fn from_key_str(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

#[cfg(feature = "uuid")]
#[cfg_attr(docsrs, doc(cfg(feature = "uuid")))]
impl CacheKey for uuid::Uuid {
    fn write_key(&self, out: &mut String) {
        let mut buf = uuid::Uuid::encode_buffer();
        out.push_str(self.hyphenated().encode_lower(&mut buf));
    }
    fn key_len(&self) -> usize {
        uuid::fmt::Hyphenated::LENGTH
    }
    fn from_key_str(s: &str) -> Option<Self> {
        // Only the form `write_key` writes: the inverse, not a lenient parser.
        let id = uuid::Uuid::try_parse(s).ok()?;
        (id.to_key_string() == s).then_some(id)
    }
}

/// A stable, namespaced key built from typed arguments: `namespace:arg1:arg2…`.
///
/// Arguments are percent-encoded (everything but `A-Z a-z 0-9 - _ .`), so the encoding is
/// injective (`("a:b", "c")` and `("a", "b:c")` differ) and the same arguments give the
/// same key in every process and every release — unlike hashing with `Hash`, whose output
/// is not stable, or an MD5 of `repr()`.
///
/// ```
/// use keel_cache::Key;
///
/// let k = Key::new("user").arg(42u64).arg("ada@example.com");
/// assert_eq!(k.as_str(), "user:42:ada%40example.com");
/// assert_ne!(Key::new("t").arg("a:b").arg("c"), Key::new("t").arg("a").arg("b:c"));
/// // Every key of one user shares a prefix, for `Cache::invalidate_prefix`.
/// assert!(k.as_str().starts_with(Key::new("user").arg(42u64).prefix().as_str()));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(Box<str>);

impl Key {
    /// A key in `namespace` (written as given: choose it from `A-Z a-z 0-9 - _ .`).
    pub fn new(namespace: &str) -> Self {
        Self(namespace.into())
    }

    /// Appends `:` and the encoded argument.
    #[must_use]
    pub fn arg(self, part: impl KeyPart) -> Self {
        let mut s = String::from(self.0);
        s.push(':');
        part.write_part(&mut s);
        Self(s.into_boxed_str())
    }

    /// This key followed by `:`, the prefix of every key built from it with more arguments.
    pub fn prefix(&self) -> Self {
        let mut s = String::with_capacity(self.0.len() + 1);
        s.push_str(&self.0);
        s.push(':');
        Self(s.into_boxed_str())
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<Key> for String {
    fn from(k: Key) -> Self {
        k.0.into()
    }
}

impl CacheKey for Key {
    fn write_key(&self, out: &mut String) {
        out.push_str(&self.0);
    }
    fn from_key_str(s: &str) -> Option<Self> {
        Some(Self(s.into()))
    }
    fn key_len(&self) -> usize {
        self.0.len()
    }
}

/// An argument of a [`Key`]. Implemented for strings, integers, `bool`, `char`,
/// `Option<T>` (`~` for `None`, `=` before `Some`) and references to those.
///
/// ```
/// use keel_cache::Key;
/// assert_eq!(Key::new("q").arg(None::<u32>).arg(Some(3u32)).as_str(), "q:~:=3");
/// ```
pub trait KeyPart {
    /// Appends the encoded argument to `out`.
    fn write_part(&self, out: &mut String);
}

impl<T: KeyPart + ?Sized> KeyPart for &T {
    fn write_part(&self, out: &mut String) {
        (**self).write_part(out);
    }
}

impl KeyPart for str {
    fn write_part(&self, out: &mut String) {
        encode(self, out);
    }
}

impl KeyPart for String {
    fn write_part(&self, out: &mut String) {
        encode(self, out);
    }
}

impl KeyPart for char {
    fn write_part(&self, out: &mut String) {
        let mut buf = [0u8; 4];
        encode(self.encode_utf8(&mut buf), out);
    }
}

impl KeyPart for bool {
    fn write_part(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

impl<T: KeyPart> KeyPart for Option<T> {
    fn write_part(&self, out: &mut String) {
        match self {
            None => out.push('~'),
            Some(v) => {
                out.push('=');
                v.write_part(out);
            }
        }
    }
}

macro_rules! int_parts {
    ($($t:ty),*) => {$(
        impl KeyPart for $t {
            fn write_part(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
int_parts!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

fn encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &Key, expected: &str) {
        assert_eq!(key.as_str(), expected);
    }

    #[cfg(feature = "uuid")]
    #[test]
    fn uuid_keys_write_the_hyphenated_lowercase_form_and_read_only_it() {
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let text = "01234567-89ab-cdef-0123-456789abcdef";
        assert_eq!(id.to_key_string(), text);
        assert_eq!(id.key_len(), text.len());
        assert_eq!(uuid::Uuid::from_key_str(text), Some(id));
        for other in [
            "01234567-89AB-CDEF-0123-456789ABCDEF",
            "0123456789abcdef0123456789abcdef",
            "{01234567-89ab-cdef-0123-456789abcdef}",
            "urn:uuid:01234567-89ab-cdef-0123-456789abcdef",
            "user:1",
            "",
        ] {
            assert_eq!(uuid::Uuid::from_key_str(other), None, "{other}");
        }
    }

    #[test]
    fn encodes_arguments_stably() {
        check(&Key::new("user").arg(1u64), "user:1");
        check(&Key::new("user").arg(-1i32), "user:-1");
        check(&Key::new("s").arg("a b/c:d%"), "s:a%20b%2Fc%3Ad%25");
        check(&Key::new("s").arg("é"), "s:%C3%A9");
        check(&Key::new("s").arg("~"), "s:%7E");
        check(&Key::new("s").arg(String::from("x")).arg(true), "s:x:true");
        check(&Key::new("s").arg('*'), "s:%2A");
        check(&Key::new("s").arg(Some("")).arg(None::<&str>), "s:=:~");
        check(&Key::new("s").arg(""), "s:");
        check(&Key::new("s").prefix(), "s:");
    }

    #[test]
    fn encoding_is_injective_on_separators() {
        let pairs = [("a:b", "c"), ("a", "b:c"), ("a%3Ab", "c"), ("", "a:b:c")];
        let keys: Vec<Key> = pairs
            .iter()
            .map(|(a, b)| Key::new("t").arg(*a).arg(*b))
            .collect();
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(Key::new("t").arg(None::<u8>), Key::new("t").arg("~"));
    }

    #[test]
    fn cache_key_lengths_match_the_strings() {
        assert_eq!(12345u64.key_len(), 5);
        assert_eq!(i128::MIN.key_len(), i128::MIN.to_key_string().len());
        assert_eq!(String::from("abc").key_len(), 3);
        assert_eq!(true.to_key_string(), "true");
        assert_eq!('x'.key_len(), 1);
        assert_eq!(Key::new("a").arg(1u8).key_len(), 3);
        assert_eq!(Arc::<str>::from("xy").key_len(), 2);
        assert_eq!(Box::<str>::from("xyz").to_key_string(), "xyz");
    }

    #[test]
    fn key_strings_parse_back() {
        assert_eq!(u64::from_key_str(&77u64.to_key_string()), Some(77));
        assert_eq!(i8::from_key_str("x"), None);
        assert_eq!(String::from_key_str("a:b").as_deref(), Some("a:b"));
        let k = Key::new("u").arg("a b");
        assert_eq!(Key::from_key_str(k.as_str()), Some(k));
        assert_eq!(bool::from_key_str("true"), Some(true));
        assert_eq!(char::from_key_str("c"), Some('c'));
        assert_eq!(<&'static str>::from_key_str("x"), None);
    }
}
