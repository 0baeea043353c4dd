//! [`AsText`] and [`TextMut`]: which field types the text rules and normalizers accept.

use std::borrow::Cow;

use crate::Sensitive;

/// A value that can be validated as text: `str`, `String`, `Cow<str>`, `Box<str>`,
/// [`Sensitive<T>`] and references to them.
///
/// ```
/// use keel_validation::AsText;
/// assert_eq!(String::from("a").as_text(), "a");
/// ```
pub trait AsText {
    /// The text.
    fn as_text(&self) -> &str;
}

impl AsText for str {
    fn as_text(&self) -> &str {
        self
    }
}
impl AsText for String {
    fn as_text(&self) -> &str {
        self
    }
}
impl AsText for Cow<'_, str> {
    fn as_text(&self) -> &str {
        self
    }
}
impl AsText for Box<str> {
    fn as_text(&self) -> &str {
        self
    }
}
impl<T: AsText + ?Sized> AsText for &T {
    fn as_text(&self) -> &str {
        (**self).as_text()
    }
}
impl<T: AsText> AsText for Sensitive<T> {
    fn as_text(&self) -> &str {
        self.expose().as_text()
    }
}

/// A field a text normalizer can rewrite: `String`, and `Option`, `Vec` and
/// [`Sensitive`] of such fields (a normalizer on `Option<String>` touches `Some`
/// only; on `Vec<String>` every element).
///
/// ```
/// use keel_validation::{TextMut, normalize};
/// let mut names = vec![String::from(" a "), String::from("b ")];
/// names.for_each_text(&mut normalize::trim);
/// assert_eq!(names, ["a", "b"]);
/// ```
pub trait TextMut {
    /// Calls `f` on every string inside.
    fn for_each_text<F: FnMut(&mut String)>(&mut self, f: &mut F);
}

impl TextMut for String {
    fn for_each_text<F: FnMut(&mut String)>(&mut self, f: &mut F) {
        f(self);
    }
}
impl<T: TextMut> TextMut for Option<T> {
    fn for_each_text<F: FnMut(&mut String)>(&mut self, f: &mut F) {
        if let Some(v) = self {
            v.for_each_text(f);
        }
    }
}
impl<T: TextMut> TextMut for Vec<T> {
    fn for_each_text<F: FnMut(&mut String)>(&mut self, f: &mut F) {
        for v in self {
            v.for_each_text(f);
        }
    }
}
impl<T: TextMut> TextMut for Box<T> {
    fn for_each_text<F: FnMut(&mut String)>(&mut self, f: &mut F) {
        (**self).for_each_text(f);
    }
}
impl<T: TextMut> TextMut for Sensitive<T> {
    fn for_each_text<F: FnMut(&mut String)>(&mut self, f: &mut F) {
        self.expose_mut().for_each_text(f);
    }
}
