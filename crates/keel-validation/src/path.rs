//! [`Path`]: a borrowed, allocation-free path to the value being validated.

use keel_envelope::{FieldPath, PathSegment};

/// Decimal digits of `n`.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// Where the value being validated sits, as a linked list of borrowed segments
/// on the stack.
///
/// Building a path costs nothing: it only becomes a [`FieldPath`] (and allocates)
/// when an error is recorded, so validating a valid value never allocates for paths.
///
/// ```
/// use keel_validation::Path;
/// let root = Path::root();
/// let items = root.key("items");
/// let third = items.index(3);
/// let sku = third.key("sku");
/// assert_eq!(sku.to_field_path().dotted(), "items[3].sku");
/// assert_eq!(sku.to_field_path().pointer(), "/items/3/sku");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

impl Default for Path<'_> {
    fn default() -> Self {
        Self::root()
    }
}

impl<'a> Path<'a> {
    /// The root of the validated value.
    pub const fn root() -> Self {
        Self {
            parent: None,
            seg: Seg::Root,
        }
    }

    /// This path extended by an object key (a field name as the client sent it).
    #[must_use]
    pub const fn key<'b>(&'b self, key: &'b str) -> Path<'b>
    where
        'a: 'b,
    {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    /// This path extended by an array index.
    ///
    /// ```
    /// use keel_validation::Path;
    /// let root = Path::root();
    /// let first = root.index(0);
    /// assert_eq!(first.to_field_path().dotted(), "[0]");
    /// ```
    #[must_use]
    pub const fn index<'b>(&'b self, index: usize) -> Path<'b>
    where
        'a: 'b,
    {
        Path {
            parent: Some(self),
            seg: Seg::Index(index),
        }
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        matches!(self.seg, Seg::Root) && self.parent.is_none()
    }

    /// The dotted form and the JSON pointer of this path, as [`FieldPath::dotted`] and
    /// [`FieldPath::pointer`] render them, written in one walk into two strings of
    /// the right capacity (no intermediate `FieldPath`, no regrowth).
    pub(crate) fn render(&self) -> (String, String) {
        let (mut dotted_len, mut pointer_len) = (0, 0);
        let mut cur = Some(self);
        while let Some(p) = cur {
            match p.seg {
                Seg::Root => {}
                Seg::Key(k) => {
                    dotted_len += k.len() + 1;
                    pointer_len +=
                        1 + k.len() + k.bytes().filter(|b| matches!(b, b'~' | b'/')).count();
                }
                Seg::Index(i) => {
                    dotted_len += 2 + digits(i);
                    pointer_len += 1 + digits(i);
                }
            }
            cur = p.parent;
        }
        let mut dotted = String::with_capacity(dotted_len);
        let mut pointer = String::with_capacity(pointer_len);
        self.write(&mut dotted, &mut pointer);
        (dotted, pointer)
    }

    fn write(&self, dotted: &mut String, pointer: &mut String) {
        use std::fmt::Write as _;
        if let Some(parent) = self.parent {
            parent.write(dotted, pointer);
        }
        match self.seg {
            Seg::Root => {}
            Seg::Key(k) => {
                if !dotted.is_empty() {
                    dotted.push('.');
                }
                dotted.push_str(k);
                pointer.push('/');
                if k.bytes().any(|b| matches!(b, b'~' | b'/')) {
                    for c in k.chars() {
                        match c {
                            '~' => pointer.push_str("~0"),
                            '/' => pointer.push_str("~1"),
                            c => pointer.push(c),
                        }
                    }
                } else {
                    pointer.push_str(k);
                }
            }
            Seg::Index(i) => {
                // Writing into a String cannot fail.
                let _ = write!(dotted, "[{i}]");
                pointer.push('/');
                let _ = write!(pointer, "{i}");
            }
        }
    }

    /// The owned wire form of this path.
    pub fn to_field_path(&self) -> FieldPath {
        let mut depth = 0;
        let mut cur = Some(self);
        while let Some(p) = cur {
            depth += usize::from(!matches!(p.seg, Seg::Root));
            cur = p.parent;
        }
        let mut segs = Vec::with_capacity(depth);
        let mut cur = Some(self);
        while let Some(p) = cur {
            match p.seg {
                Seg::Root => {}
                Seg::Key(k) => segs.push(PathSegment::Key(k.to_owned())),
                Seg::Index(i) => segs.push(PathSegment::Index(i)),
            }
            cur = p.parent;
        }
        segs.reverse();
        segs.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_paths() {
        let root = Path::root();
        assert!(root.is_root());
        assert_eq!(root.to_field_path().dotted(), "");
        let a = root.key("address");
        let c = a.key("city");
        assert_eq!(c.to_field_path().dotted(), "address.city");
        let i = root.index(0);
        assert_eq!(i.to_field_path().pointer(), "/0");
        assert!(!i.is_root());
    }

    #[test]
    fn render_matches_field_path() {
        let check = |p: &Path<'_>| {
            let fp = p.to_field_path();
            let (dotted, pointer) = p.render();
            assert_eq!(
                (dotted.as_str(), pointer.as_str()),
                (fp.dotted().as_str(), fp.pointer().as_str())
            );
            // Sized up front, never regrown: the pointer exactly; the dotted form
            // reserves a separator per key, which keys at its start do not use.
            assert_eq!(pointer.len(), pointer.capacity());
            let keys = fp
                .segments()
                .iter()
                .filter(|s| matches!(s, PathSegment::Key(_)))
                .count();
            assert!((dotted.len()..=dotted.len() + keys).contains(&dotted.capacity()));
        };
        let root = Path::root();
        check(&root);
        let a = root.key("a/b~c");
        check(&a);
        let i = a.index(10);
        check(&i);
        let e = i.key("");
        check(&e);
        let k = e.key("sku");
        check(&k);
        let top = root.index(0);
        check(&top);
        let empty_first = root.key("");
        let then = empty_first.key("x");
        check(&then);
    }
}
