//! [`FieldPath`]: where in the request body a field error points.

use std::fmt::{self, Write as _};

/// One step of a [`FieldPath`]: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// An object member, named as the client sent it.
    Key(String),
    /// An array element.
    Index(usize),
}

/// A path from the root of a request body to one value, rendered two ways:
/// a dotted form for humans (`items[3].sku`) and an RFC 6901 JSON pointer (`/items/3/sku`).
///
/// ```
/// use keel_envelope::FieldPath;
///
/// let path = FieldPath::root().key("items").index(3).key("sku");
/// assert_eq!(path.dotted(), "items[3].sku");
/// assert_eq!(path.pointer(), "/items/3/sku");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Vec<PathSegment>,
}

impl FieldPath {
    /// The empty path: the body itself.
    pub const fn root() -> Self {
        Self {
            segments: Vec::new(),
        }
    }

    /// This path extended by an object key.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.segments.push(PathSegment::Key(key.into()));
        self
    }

    /// This path extended by an array index.
    #[must_use]
    pub fn index(mut self, index: usize) -> Self {
        self.segments.push(PathSegment::Index(index));
        self
    }

    /// Appends a segment in place.
    pub fn push(&mut self, segment: PathSegment) {
        self.segments.push(segment);
    }

    /// Removes the last segment in place.
    pub fn pop(&mut self) -> Option<PathSegment> {
        self.segments.pop()
    }

    /// The segments, root first.
    pub fn segments(&self) -> &[PathSegment] {
        &self.segments
    }

    /// Whether this is the root path.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The dotted form: `address.city`, `items[3].sku`, `[0]` for a top-level array.
    pub fn dotted(&self) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                PathSegment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                PathSegment::Index(i) => {
                    // Writing into a String cannot fail.
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        out
    }

    /// The RFC 6901 JSON pointer: `/items/3/sku`; `~` and `/` in keys are escaped.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            out.push('/');
            match seg {
                PathSegment::Key(k) => {
                    for c in k.chars() {
                        match c {
                            '~' => out.push_str("~0"),
                            '/' => out.push_str("~1"),
                            c => out.push(c),
                        }
                    }
                }
                PathSegment::Index(i) => {
                    let _ = write!(out, "{i}");
                }
            }
        }
        out
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dotted())
    }
}

impl FromIterator<PathSegment> for FieldPath {
    fn from_iter<I: IntoIterator<Item = PathSegment>>(iter: I) -> Self {
        Self {
            segments: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &FieldPath, dotted: &str, pointer: &str) {
        assert_eq!(path.dotted(), dotted);
        assert_eq!(path.pointer(), pointer);
    }

    #[test]
    fn renders_both_forms() {
        check(&FieldPath::root(), "", "");
        check(&FieldPath::root().key("email"), "email", "/email");
        check(
            &FieldPath::root().key("address").key("city"),
            "address.city",
            "/address/city",
        );
        check(&FieldPath::root().index(0).key("a"), "[0].a", "/0/a");
        check(&FieldPath::root().key("a/b~c"), "a/b~c", "/a~1b~0c");
    }
}
