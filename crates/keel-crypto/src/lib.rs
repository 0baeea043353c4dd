#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod apikey;
#[cfg(feature = "tokio")]
mod async_hasher;
mod encoding;
mod error;
#[cfg(feature = "errors")]
mod errors;
mod hw;
mod key;
mod keyring;
mod keyset;
#[cfg(feature = "legacy")]
#[cfg_attr(docsrs, doc(cfg(feature = "legacy")))]
pub mod legacy;
mod mac;
mod password;
mod pbe;
mod random;
mod signing;
mod strength;
mod time;
mod totp;

pub use apikey::{API_KEY_RANDOM_LEN, ApiKey, ApiKeyHash, MAX_API_KEY_PREFIX_LEN};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use async_hasher::AsyncPasswordHasher;
pub use error::{DecryptError, Error, Result};
pub use hw::aes_hardware_accelerated;
pub use key::{KEY_LEN, SecretKey};
pub use keyring::{
    DEFAULT_USAGE_LIMIT, FieldCipher, KeyRing, MAX_USAGE_LIMIT, TOKEN_HEADER_LEN, TOKEN_OVERHEAD,
    TOKEN_VERSION,
};
pub use keyset::KeyState;
pub use password::{
    Argon2Params, MAX_VERIFY_ITERATIONS, MAX_VERIFY_MEMORY_KIB, MAX_VERIFY_PBKDF2_ITERATIONS,
    MAX_VERIFY_WORK_KIB, PasswordHasher,
};
pub use pbe::{
    DEFAULT_MAX_PBKDF2_ITERATIONS, MIN_PBKDF2_ITERATIONS, OWASP_PBKDF2_ITERATIONS,
    PASSWORD_TOKEN_VERSION, PasswordEncryptor, decrypt_with_password, encrypt_with_password,
};
pub use random::{fill_random, random_bytes, token_hex, token_urlsafe};
pub use signing::{
    CLOCK_SKEW, SIGNATURE_LEN, SIGNED_TOKEN_VERSION, Signature, Signer, VerifiedToken, hmac_sha256,
    verify_hmac_sha256,
};
pub use strength::{
    OWASP_ARGON2ID_MINIMUMS, StrengthCheck, WeakSetting, WeakSettings, Weakness, weakness,
};
pub use totp::{
    DEFAULT_REPLAY_GUARD_CAPACITY, MAX_REPLAY_GUARD_ACCOUNT_LEN, Totp, TotpAlgorithm,
    TotpReplayGuard,
};

#[cfg(test)]
mod tests {
    /// Everything a service shares between request handlers must be `Send + Sync`.
    #[test]
    fn shared_types_are_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<crate::KeyRing>();
        check::<crate::Signer>();
        check::<crate::PasswordHasher>();
        check::<crate::PasswordEncryptor>();
        check::<crate::Totp>();
        check::<crate::TotpReplayGuard>();
        check::<crate::ApiKeyHash>();
        check::<crate::Error>();
        check::<crate::DecryptError>();
        #[cfg(feature = "tokio")]
        check::<crate::AsyncPasswordHasher>();
    }
}
