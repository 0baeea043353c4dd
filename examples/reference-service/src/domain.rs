//! The domain: users and roles. Plain data; no I/O.

use keel_validation::RedactedDebug;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A signed-up user: may read and edit itself.
    User,
    /// May read, list, edit and delete every user.
    Admin,
}

impl Role {
    /// The stored and serialized name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// Parses the stored name; unknown names are `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// Who is calling: the authenticated subject and its role. Authorization is decided on
/// it once, in the services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user id (for an API key, the admin who issued it).
    pub id: Uuid,
    /// The role.
    pub role: Role,
    /// The access token's claims (`sid`: its session, the refresh-token family); `None` for
    /// an API key. Shared with keel-auth's verified-token cache, not copied per request.
    pub token: Option<std::sync::Arc<keel_auth::Claims>>,
    /// An API key: may read users, nothing else.
    pub read_only: bool,
}

/// A user as stored, without the password hash (only keel-auth's `PgAccounts` reads it):
/// what the repository reads and the user cache holds (the phone still **encrypted**: PII never sits in Redis in the clear).
/// Personal data stays out of logs: `Debug` redacts the `sensitive` fields.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, RedactedDebug)]
pub struct UserRecord {
    /// Primary key.
    pub id: Uuid,
    /// Normalized (lowercase) e-mail address; unique case-insensitively.
    #[validate(sensitive)]
    pub email: String,
    /// Normalized first name.
    #[validate(sensitive)]
    pub first_name: String,
    /// Normalized last name.
    #[validate(sensitive)]
    pub last_name: String,
    /// The phone number as a keel-crypto token (never plaintext).
    #[validate(sensitive)]
    pub phone_encrypted: Option<Vec<u8>>,
    /// Role.
    pub role: Role,
    /// Creation time.
    #[serde(with = "keel_envelope::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The public view of a user: what the API returns (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// Identifier.
    pub id: Uuid,
    /// E-mail address, normalized to lowercase.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// First name.
    #[schema(example = "Ada")]
    pub first_name: String,
    /// Last name.
    #[schema(example = "Lovelace")]
    pub last_name: String,
    /// Phone number in E.164, if given.
    #[schema(example = "+442071838750")]
    pub phone: Option<String>,
    /// Role.
    pub role: Role,
    /// Creation time (RFC 3339).
    #[serde(with = "keel_envelope::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// The public view of a cached [`UserRecord`], serialized as a [`User`]: it shares the
/// record (a cache hit copies no string) and owns only the decrypted phone, which is
/// never cached.
#[derive(Clone, RedactedDebug)]
pub struct UserView {
    /// The record as the cache holds it.
    pub record: std::sync::Arc<UserRecord>,
    /// The phone, decrypted.
    #[validate(sensitive)]
    pub phone: Option<String>,
}

impl Serialize for UserView {
    /// The members of [`User`], in its order, borrowed from the record.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct At(#[serde(with = "keel_envelope::rfc3339")] OffsetDateTime);
        let r = &*self.record;
        let mut s = serializer.serialize_struct("User", 7)?;
        s.serialize_field("id", &r.id)?;
        s.serialize_field("email", &r.email)?;
        s.serialize_field("first_name", &r.first_name)?;
        s.serialize_field("last_name", &r.last_name)?;
        s.serialize_field("phone", &self.phone)?;
        s.serialize_field("role", &r.role)?;
        s.serialize_field("created_at", &At(r.created_at))?;
        s.end()
    }
}
