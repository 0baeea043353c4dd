//! [`AccountStore`]: what [`SessionFlow`](super::SessionFlow) needs to know about the
//! application's accounts, and [`Account`].

use std::fmt;

use crate::login::LoginEmail;
use crate::store::StoreFuture;

/// One account as the session flow sees it: who it is (the token subject), the name it
/// logs in with, its password hash and its roles. Built by the application's
/// [`AccountStore`]; `Debug` never prints the hash.
///
/// ```
/// use keel_auth::flow::Account;
/// let account = Account::new("7f3c", "ada@example.org", "$argon2id$…").roles(["admin"]);
/// assert_eq!(account.subject(), "7f3c");
/// assert_eq!(account.role_names(), ["admin"]);
/// assert!(!format!("{account:?}").contains("argon2id"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    subject: String,
    login: String,
    password_hash: String,
    roles: Vec<String>,
    context: Vec<String>,
}

impl Account {
    /// An account with no roles. `subject` becomes the tokens' `sub` (a stable id, not the
    /// e-mail address, which can change); `login` is what the user types and what an
    /// authenticator app shows next to the TOTP code; `password_hash` is the PHC string
    /// the application stored.
    pub fn new(
        subject: impl Into<String>,
        login: impl Into<String>,
        password_hash: impl Into<String>,
    ) -> Self {
        Self {
            subject: subject.into(),
            login: login.into(),
            password_hash: password_hash.into(),
            roles: Vec::new(),
            context: Vec::new(),
        }
    }

    /// Sets the roles the access tokens carry (`roles` claim), read again at every
    /// refresh so a demotion takes effect at the next one.
    #[must_use]
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets what a new password must not be besides the login name: the holder's names, a
    /// user name (NIST SP 800-63B's "context-specific words"). The password rule of a
    /// password change sees them ([`SessionFlow::change_password`](super::SessionFlow::change_password),
    /// and `SessionRoutes::password_rule` with feature `axum`), so it needs no second
    /// lookup; never put secrets here.
    ///
    /// ```
    /// use keel_auth::flow::Account;
    /// let account = Account::new("7f3c", "ada@example.org", "$argon2id$…").context(["Ada", "Lovelace"]);
    /// assert_eq!(account.context_words(), ["Ada", "Lovelace"]);
    /// ```
    #[must_use]
    pub fn context<I, S>(mut self, words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.context = words.into_iter().map(Into::into).collect();
        self
    }

    /// The token subject.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The login name (normally the e-mail address).
    #[must_use]
    pub fn login(&self) -> &str {
        &self.login
    }

    /// The stored password hash (PHC string).
    #[must_use]
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }

    /// The roles.
    #[must_use]
    pub fn role_names(&self) -> &[String] {
        &self.roles
    }

    /// The context words ([`context`](Self::context)).
    #[must_use]
    pub fn context_words(&self) -> &[String] {
        &self.context
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("subject", &self.subject)
            .field("password_hash", &"[REDACTED]")
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// The application's accounts, as [`SessionFlow`](super::SessionFlow) uses them (the
/// counterpart of axum-login's `AuthnBackend`): implement it on your repository.
///
/// Failures are [`Error::Store`](crate::Error::Store) (wrap yours with
/// [`Error::store`](crate::Error::store)): the client gets a 503 and the cause is logged,
/// never shown. "No such account" is `Ok(None)`, not an error.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use keel_auth::flow::{Account, AccountStore};
/// use keel_auth::login::LoginEmail;
/// use keel_auth::StoreFuture;
///
/// /// Stands in for a users table: id → (e-mail, hash, role).
/// struct Users(Mutex<HashMap<String, (String, String, String)>>);
///
/// impl Users {
///     fn account(&self, pick: impl Fn(&str, &str) -> bool) -> Option<Account> {
///         let users = self.0.lock().unwrap_or_else(|p| p.into_inner());
///         users.iter().find(|(id, (email, ..))| pick(id, email)).map(|(id, (email, hash, role))| {
///             Account::new(id.as_str(), email.as_str(), hash.as_str()).roles([role.as_str()])
///         })
///     }
/// }
///
/// impl AccountStore for Users {
///     fn find_by_login<'a>(&'a self, login: &'a LoginEmail) -> StoreFuture<'a, Option<Account>> {
///         Box::pin(async move { Ok(self.account(|_, email| email == login.as_str())) })
///     }
///     fn find_by_subject<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<Account>> {
///         Box::pin(async move { Ok(self.account(|id, _| id == subject)) })
///     }
///     fn set_password_hash<'a>(&'a self, subject: &'a str, hash: &'a str) -> StoreFuture<'a, bool> {
///         Box::pin(async move {
///             let mut users = self.0.lock().unwrap_or_else(|p| p.into_inner());
///             Ok(users.get_mut(subject).map(|u| u.1 = hash.to_owned()).is_some())
///         })
///     }
/// }
/// ```
pub trait AccountStore: Send + Sync + 'static {
    /// The account that logs in as `login` (already trimmed and lowercased), if any.
    fn find_by_login<'a>(&'a self, login: &'a LoginEmail) -> StoreFuture<'a, Option<Account>>;

    /// The account behind token subject `subject`, as it is now; `None` when it was
    /// deleted (its sessions then end). `subject` comes from a verified token or session,
    /// but treat it as text: answer `None` for one that cannot be yours.
    fn find_by_subject<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<Account>>;

    /// Stores a new password hash for `subject`; `false` when there is no such account.
    fn set_password_hash<'a>(&'a self, subject: &'a str, hash: &'a str) -> StoreFuture<'a, bool>;
}

impl<T: AccountStore + ?Sized> AccountStore for std::sync::Arc<T> {
    fn find_by_login<'a>(&'a self, login: &'a LoginEmail) -> StoreFuture<'a, Option<Account>> {
        (**self).find_by_login(login)
    }
    fn find_by_subject<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Option<Account>> {
        (**self).find_by_subject(subject)
    }
    fn set_password_hash<'a>(&'a self, subject: &'a str, hash: &'a str) -> StoreFuture<'a, bool> {
        (**self).set_password_hash(subject, hash)
    }
}
