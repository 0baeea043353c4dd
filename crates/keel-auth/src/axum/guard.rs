//! [`RequireRole`] and [`RequirePermission`]: extractors that authenticate and authorize.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::{AuthRejection, AuthRejectionKind, Authenticated};
use crate::{Authenticator, Claims};

/// A role a handler can require, as a type: see [`role!`](crate::role).
pub trait Role: Send + Sync + 'static {
    /// The role's name in the token's `roles` claim.
    const NAME: &'static str;
}

/// A permission (scope) a handler can require, as a type: see
/// [`permission!`](crate::permission).
pub trait Permission: Send + Sync + 'static {
    /// The permission's name in the token's `scope` claim.
    const NAME: &'static str;
}

/// Declares a marker type implementing [`Role`].
///
/// ```
/// keel_auth::role!(pub Admin = "admin");
/// assert_eq!(<Admin as keel_auth::axum::Role>::NAME, "admin");
/// ```
#[macro_export]
macro_rules! role {
    ($(#[$m:meta])* $vis:vis $name:ident = $value:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis struct $name;
        impl $crate::axum::Role for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// Declares a marker type implementing [`Permission`].
///
/// ```
/// keel_auth::permission!(pub UsersWrite = "users:write");
/// assert_eq!(<UsersWrite as keel_auth::axum::Permission>::NAME, "users:write");
/// ```
#[macro_export]
macro_rules! permission {
    ($(#[$m:meta])* $vis:vis $name:ident = $value:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis struct $name;
        impl $crate::axum::Permission for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// An authenticated caller holding role `R`: as [`Authenticated`], then 403
/// `insufficient_scope` when the token's `roles` lack `R::NAME`. Derefs to the claims.
///
/// ```
/// use axum::{Router, routing::delete, extract::Path};
/// use keel_auth::Authenticator;
/// use keel_auth::axum::RequireRole;
///
/// keel_auth::role!(Admin = "admin");
///
/// async fn delete_user(admin: RequireRole<Admin>, Path(id): Path<String>) -> String {
///     format!("{} deleted {id}", admin.sub)
/// }
///
/// fn routes() -> Router<Authenticator> {
///     Router::new().route("/users/{id}", delete(delete_user))
/// }
/// ```
pub struct RequireRole<R, C = ()> {
    claims: Arc<Claims<C>>,
    _role: PhantomData<fn() -> R>,
}

/// An authenticated caller holding permission `P` (in the `scope` claim): as
/// [`Authenticated`], then 403 `insufficient_scope` without it. Derefs to the claims.
pub struct RequirePermission<P, C = ()> {
    claims: Arc<Claims<C>>,
    _permission: PhantomData<fn() -> P>,
}

macro_rules! guard {
    ($ty:ident, $tr:ident, $field:ident, $has:ident) => {
        impl<T, C> $ty<T, C> {
            /// The claims (shared, as [`Authenticated`] holds them).
            #[must_use]
            pub fn into_inner(self) -> Arc<Claims<C>> {
                self.claims
            }
        }

        impl<T, C> Deref for $ty<T, C> {
            type Target = Claims<C>;

            fn deref(&self) -> &Claims<C> {
                &self.claims
            }
        }

        impl<T: $tr, C: fmt::Debug> fmt::Debug for $ty<T, C> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field(stringify!($field), &T::NAME)
                    .field("claims", &self.claims)
                    .finish()
            }
        }

        impl<S, T, C> FromRequestParts<S> for $ty<T, C>
        where
            Authenticator: FromRef<S>,
            S: Send + Sync,
            T: $tr,
            C: DeserializeOwned + Send + Sync + 'static,
        {
            type Rejection = AuthRejection;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, AuthRejection> {
                let Authenticated(claims) =
                    <Authenticated<C> as FromRequestParts<S>>::from_request_parts(parts, state)
                        .await?;
                if claims.$has(T::NAME) {
                    Ok(Self {
                        claims,
                        $field: PhantomData,
                    })
                } else {
                    tracing::debug!(required = T::NAME, "insufficient scope");
                    let auth = Authenticator::from_ref(state);
                    Err(AuthRejection::new(
                        AuthRejectionKind::InsufficientScope,
                        auth.realm(),
                    ))
                }
            }
        }
    };
}

guard!(RequireRole, Role, _role, has_role);
guard!(RequirePermission, Permission, _permission, has_permission);
