//! The [`Validate`] trait and its impls for containers.

use std::collections::{BTreeMap, HashMap};

use crate::{Path, ValidationErrors};

/// A value that can normalize itself and report every rule it breaks.
///
/// Usually derived (`#[derive(Validate)]`, feature `derive`). Implement it by hand
/// for types with rules the attributes cannot express.
///
/// The three entry points:
/// - [`validate`](Validate::validate): check as is;
/// - [`normalize`](Validate::normalize): rewrite to the canonical form (trim, case, E.164, …);
/// - [`clean`](Validate::clean): normalize, then validate, and return the cleaned value
///   (pydantic's model validation).
///
/// ```
/// use keel_validation::{Path, Validate, ValidationErrors, Violation};
///
/// struct Percent(u8);
///
/// impl Validate for Percent {
///     fn validate_into(&self, path: &Path<'_>, errors: &mut ValidationErrors) {
///         if self.0 > 100 {
///             errors.add(path, Violation::new("too_large", "must be at most 100").with_param("max", 100u8));
///         }
///     }
/// }
///
/// assert!(Percent(50).validate().is_ok());
/// let errors = Percent(150).validate().unwrap_err();
/// assert_eq!(errors.as_slice()[0].code, "too_large");
/// ```
pub trait Validate {
    /// Rewrites the value into its canonical form. Idempotent. The default does nothing.
    fn normalize(&mut self) {}

    /// Appends every rule violation of `self`, located under `path`, to `errors`.
    fn validate_into(&self, path: &Path<'_>, errors: &mut ValidationErrors);

    /// Checks `self` as it is.
    ///
    /// # Errors
    /// Every violation, in declaration order.
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        self.validate_into(&Path::root(), &mut errors);
        errors.into_result()
    }

    /// Normalizes, then validates, and returns the cleaned value.
    ///
    /// # Errors
    /// Every violation of the normalized value, in declaration order.
    fn clean(mut self) -> Result<Self, ValidationErrors>
    where
        Self: Sized,
    {
        self.normalize();
        self.validate()?;
        Ok(self)
    }
}

impl<T: Validate + ?Sized> Validate for &T {
    fn validate_into(&self, path: &Path<'_>, errors: &mut ValidationErrors) {
        (**self).validate_into(path, errors);
    }
}

impl<T: Validate + ?Sized> Validate for Box<T> {
    fn normalize(&mut self) {
        (**self).normalize();
    }
    fn validate_into(&self, path: &Path<'_>, errors: &mut ValidationErrors) {
        (**self).validate_into(path, errors);
    }
}

/// `None` is valid; `Some(v)` is validated at the same path.
impl<T: Validate> Validate for Option<T> {
    fn normalize(&mut self) {
        if let Some(v) = self {
            v.normalize();
        }
    }
    fn validate_into(&self, path: &Path<'_>, errors: &mut ValidationErrors) {
        if let Some(v) = self {
            v.validate_into(path, errors);
        }
    }
}

/// Each element is validated at `path[i]`.
impl<T: Validate> Validate for [T] {
    fn normalize(&mut self) {
        for v in self {
            v.normalize();
        }
    }
    fn validate_into(&self, path: &Path<'_>, errors: &mut ValidationErrors) {
        for (i, v) in self.iter().enumerate() {
            v.validate_into(&path.index(i), errors);
        }
    }
}

/// Each element is validated at `path[i]`.
impl<T: Validate> Validate for Vec<T> {
    fn normalize(&mut self) {
        self.as_mut_slice().normalize();
    }
    fn validate_into(&self, path: &Path<'_>, errors: &mut ValidationErrors) {
        self.as_slice().validate_into(path, errors);
    }
}

/// Each value is validated at `path.key`, in key order.
impl<K: AsRef<str> + Ord, V: Validate> Validate for BTreeMap<K, V> {
    fn normalize(&mut self) {
        for v in self.values_mut() {
            v.normalize();
        }
    }
    fn validate_into(&self, path: &Path<'_>, errors: &mut ValidationErrors) {
        for (k, v) in self {
            v.validate_into(&path.key(k.as_ref()), errors);
        }
    }
}

/// Each value is validated at `path.key`; keys are visited in sorted order so
/// the error list is deterministic.
impl<K: AsRef<str> + Eq + std::hash::Hash, V: Validate, S: std::hash::BuildHasher> Validate
    for HashMap<K, V, S>
{
    fn normalize(&mut self) {
        for v in self.values_mut() {
            v.normalize();
        }
    }
    fn validate_into(&self, path: &Path<'_>, errors: &mut ValidationErrors) {
        let mut entries: Vec<(&str, &V)> = self.iter().map(|(k, v)| (k.as_ref(), v)).collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (k, v) in entries {
            v.validate_into(&path.key(k), errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Violation;

    #[derive(Debug)]
    struct Positive(i32);
    impl Validate for Positive {
        fn normalize(&mut self) {
            self.0 = self.0.max(-100);
        }
        fn validate_into(&self, path: &Path<'_>, errors: &mut ValidationErrors) {
            if self.0 <= 0 {
                errors.add(path, Violation::new("too_small", "must be positive"));
            }
        }
    }

    #[test]
    fn containers_extend_the_path() {
        let v = vec![Positive(1), Positive(0), Positive(-1)];
        let e = v.validate().unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["[1]", "[2]"]);

        let mut m = HashMap::new();
        m.insert("b".to_owned(), Positive(0));
        m.insert("a".to_owned(), Positive(0));
        let e = m.validate().unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "b"]);

        assert!(None::<Positive>.validate().is_ok());
        let cleaned = Some(Positive(-500)).clean().unwrap_err();
        assert_eq!(cleaned.len(), 1);
    }
}
