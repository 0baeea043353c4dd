//! The async phase: checks that need I/O, reported in the same error shape.

use std::future::Future;

use crate::{Path, Validate, ValidationErrors};

/// Checks that need I/O ("email already taken"), run after the synchronous rules.
///
/// `C` is whatever the checks need (a database pool, an HTTP client). Report
/// failures into `errors` exactly like synchronous rules, so the client sees one
/// list. Use [`ValidationErrors::has_field`] to skip a lookup for a value that
/// already failed a synchronous rule. Run both phases with [`validate_all`].
///
/// ```
/// use keel_validation::{AsyncValidate, Path, Validate, ValidationErrors, Violation, validate_all};
///
/// #[derive(keel_validation::Validate)]
/// struct Signup {
///     #[normalize(email)]
///     #[validate(email)]
///     email: String,
/// }
///
/// struct Taken(Vec<&'static str>);
///
/// impl AsyncValidate<Taken> for Signup {
///     async fn validate_async(&self, taken: &Taken, path: &Path<'_>, errors: &mut ValidationErrors) {
///         if !errors.has_field("email") && taken.0.contains(&self.email.as_str()) {
///             errors.add(&path.key("email"), Violation::new("email_taken", "is already registered"));
///         }
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let taken = Taken(vec!["ada@example.com"]);
/// let signup = Signup { email: " Ada@Example.com ".into() };
/// let Err(errors) = validate_all(signup, &taken).await else { panic!("taken") };
/// assert_eq!(errors.as_slice()[0].code, "email_taken");
/// # });
/// ```
pub trait AsyncValidate<C: ?Sized> {
    /// Appends the violations found by I/O-bound checks under `path` to `errors`.
    fn validate_async(
        &self,
        ctx: &C,
        path: &Path<'_>,
        errors: &mut ValidationErrors,
    ) -> impl Future<Output = ()> + Send;
}

/// Normalizes `value`, runs the synchronous rules, then the async phase, and
/// returns the cleaned value or every error of both phases (synchronous first).
///
/// # Errors
/// All violations of both phases.
pub async fn validate_all<T, C>(mut value: T, ctx: &C) -> Result<T, ValidationErrors>
where
    T: Validate + AsyncValidate<C> + Sync,
    C: ?Sized + Sync,
{
    value.normalize();
    let mut errors = ValidationErrors::new();
    let root = Path::root();
    value.validate_into(&root, &mut errors);
    value.validate_async(ctx, &root, &mut errors).await;
    errors.into_result().map(|()| value)
}
