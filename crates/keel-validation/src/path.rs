//! [`Path`]: a borrowed, allocation-free path to the value being validated.

use keel_envelope::{FieldPath, PathSegment};

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

    /// Writes this path into `out`, reusing the `String`s of the segments it held
    /// (and of `pool`), so recording many errors does not allocate a path each time.
    pub(crate) fn fill(&self, out: &mut FieldPath, pool: &mut Vec<String>) {
        while let Some(seg) = out.pop() {
            if let PathSegment::Key(s) = seg {
                pool.push(s);
            }
        }
        self.push_into(out, pool);
    }

    fn push_into(&self, out: &mut FieldPath, pool: &mut Vec<String>) {
        if let Some(parent) = self.parent {
            parent.push_into(out, pool);
        }
        match self.seg {
            Seg::Root => {}
            Seg::Key(k) => {
                let mut s = pool.pop().unwrap_or_default();
                s.clear();
                s.push_str(k);
                out.push(PathSegment::Key(s));
            }
            Seg::Index(i) => out.push(PathSegment::Index(i)),
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
}
