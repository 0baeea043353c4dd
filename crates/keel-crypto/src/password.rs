//! Password hashing: Argon2id PHC strings, verification of legacy hashes, `needs_rehash`.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::encoding::{b64_phc_decode, b64_phc_encode};
use crate::error::{Error, Result};
use crate::random::fill_random;

/// Largest Argon2 memory cost (KiB) accepted when verifying a stored hash: 256 MiB. Guards
/// against a corrupted or planted hash string that would make one login allocate gigabytes.
/// A [`PasswordHasher`] configured with more accepts its own parameters.
pub const MAX_VERIFY_MEMORY_KIB: u32 = 256 * 1024;
/// Largest Argon2 time cost accepted when verifying.
pub const MAX_VERIFY_ITERATIONS: u32 = 64;
/// Largest Argon2 *work* accepted when verifying: memory × iterations, in KiB × passes,
/// 256 MiB × 1 pass (6.7 × the OWASP parameters; admits RFC 9106's 64 MiB × 3 and
/// OWASP's alternatives). Argon2's time grows with the product, so capping memory and
/// iterations only separately would still let a stored hash demand 256 MiB × 64 passes,
/// tens of seconds per login. A [`PasswordHasher`] configured with more accepts its own
/// parameters.
pub const MAX_VERIFY_WORK_KIB: u64 = 256 * 1024;
/// Largest PBKDF2 iteration count accepted when verifying a legacy PBKDF2 hash.
pub const MAX_VERIFY_PBKDF2_ITERATIONS: u32 = 10_000_000;

const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// Argon2id cost parameters.
///
/// ```
/// use keel_crypto::Argon2Params;
///
/// assert_eq!(Argon2Params::OWASP, Argon2Params::default());
/// let strong = Argon2Params::new(46 * 1024, 1, 1)?; // OWASP's alternative: 46 MiB, t=1
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl Argon2Params {
    /// OWASP Password Storage Cheat Sheet minimum: m = 19 MiB, t = 2, p = 1.
    pub const OWASP: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// Custom parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if Argon2 rejects them (e.g. memory below 8 KiB × p).
    ///
    /// ```
    /// assert!(keel_crypto::Argon2Params::new(0, 1, 1).is_err());
    /// ```
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self> {
        let params = Self {
            memory_kib,
            iterations,
            parallelism,
        };
        params.to_argon2()?;
        Ok(params)
    }

    /// Memory cost in KiB.
    ///
    /// ```
    /// assert_eq!(keel_crypto::Argon2Params::OWASP.memory_kib(), 19_456);
    /// ```
    #[must_use]
    pub const fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    /// Time cost (passes over memory).
    ///
    /// ```
    /// assert_eq!(keel_crypto::Argon2Params::OWASP.iterations(), 2);
    /// ```
    #[must_use]
    pub const fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Degree of parallelism (lanes).
    ///
    /// ```
    /// assert_eq!(keel_crypto::Argon2Params::OWASP.parallelism(), 1);
    /// ```
    #[must_use]
    pub const fn parallelism(&self) -> u32 {
        self.parallelism
    }

    fn to_argon2(self) -> Result<Params> {
        Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(HASH_LEN),
        )
        .map_err(|err| Error::InvalidParameter(format!("argon2: {err}")))
    }
}

impl std::str::FromStr for Argon2Params {
    type Err = Error;

    /// Parses `m=<KiB>,t=<iterations>,p=<lanes>` (the PHC parameter string); a missing
    /// key keeps [`OWASP`](Self::OWASP)'s value.
    ///
    /// ```
    /// use keel_crypto::Argon2Params;
    /// let p: Argon2Params = "m=47104,t=1".parse()?;
    /// assert_eq!((p.memory_kib(), p.iterations(), p.parallelism()), (47_104, 1, 1));
    /// assert!("m=1".parse::<Argon2Params>().is_err());
    /// assert!("x=1".parse::<Argon2Params>().is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| Error::InvalidParameter(format!("argon2 parameters: {why}"));
        let mut p = Self::OWASP;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("`{part}` is not `key=value`")))?;
            let v: u32 = v
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{v}` is not a positive integer")))?;
            match k.trim() {
                "m" => p.memory_kib = v,
                "t" => p.iterations = v,
                "p" => p.parallelism = v,
                other => {
                    return Err(bad(format!(
                        "unknown parameter `{other}` (expected m, t, p)"
                    )));
                }
            }
        }
        Self::new(p.memory_kib, p.iterations, p.parallelism)
    }
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::OWASP
    }
}

#[derive(Clone)]
struct Pepper {
    id: u32,
    secret: Zeroizing<Vec<u8>>,
}

/// Hashes and verifies passwords: Argon2id with OWASP parameters, PHC strings.
///
/// * [`hash`](Self::hash) → `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` (16-byte random
///   salt, 32-byte output), readable by every Argon2 library (argon2-cffi, libsodium, …).
/// * [`verify`](Self::verify) also accepts Argon2i/Argon2d, PBKDF2-SHA256 PHC strings
///   (`$pbkdf2-sha256$i=…,l=…$…$…`) and, with feature `legacy`, bcrypt `$2a$/$2b$/$2y$`.
/// * [`needs_rehash`](Self::needs_rehash) is true for anything not made with the current
///   algorithm, parameters and pepper: re-hash at the next successful login.
/// * An optional *pepper* (Argon2's secret input, kept outside the database) with an id,
///   recorded as `keyid` in the PHC string so peppers can rotate.
///
/// Argon2id at OWASP parameters takes ~25–30 ms of CPU and 19 MiB per call: run it off the
/// async runtime (feature `tokio`: `AsyncPasswordHasher`).
///
/// ```
/// use keel_crypto::{Argon2Params, PasswordHasher};
///
/// # let hasher = PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1)?);
/// # /*
/// let hasher = PasswordHasher::new(); // Argon2id, m=19 MiB, t=2, p=1
/// # */
/// let phc = hasher.hash(b"correct horse battery staple")?;
/// assert!(hasher.verify(b"correct horse battery staple", &phc)?);
/// assert!(!hasher.verify(b"Tr0ub4dor&3", &phc)?);
/// assert!(!hasher.needs_rehash(&phc));
/// # Ok::<(), keel_crypto::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct PasswordHasher {
    params: Argon2Params,
    pepper: Option<Pepper>,
    old_peppers: Vec<Pepper>,
}

impl PasswordHasher {
    /// Argon2id with [`Argon2Params::OWASP`], no pepper.
    ///
    /// ```
    /// let hasher = keel_crypto::PasswordHasher::new();
    /// assert_eq!(hasher.params(), keel_crypto::Argon2Params::OWASP);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses other cost parameters for new hashes (old hashes still verify and report
    /// `needs_rehash`).
    ///
    /// ```
    /// use keel_crypto::{Argon2Params, PasswordHasher};
    /// let hasher = PasswordHasher::new().with_params(Argon2Params::new(64 * 1024, 3, 4)?);
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn with_params(mut self, params: Argon2Params) -> Self {
        self.params = params;
        self
    }

    /// Adds a pepper (Argon2 secret) for new hashes, identified by `id`. Hashes made with
    /// a different (or no) pepper report `needs_rehash`; keep old peppers with
    /// [`with_old_pepper`](Self::with_old_pepper) until they are gone.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if the pepper is shorter than 16 bytes.
    ///
    /// ```
    /// # use keel_crypto::Argon2Params;
    /// let hasher = keel_crypto::PasswordHasher::new().with_pepper(1, &[7u8; 32])?;
    /// # let hasher = hasher.with_params(Argon2Params::new(64, 1, 1)?);
    /// let phc = hasher.hash(b"pw")?;
    /// assert!(phc.contains(",keyid="));
    /// assert!(keel_crypto::PasswordHasher::new().verify(b"pw", &phc).is_err()); // pepper unknown
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn with_pepper(mut self, id: u32, pepper: &[u8]) -> Result<Self> {
        self.pepper = Some(Pepper::new(id, pepper)?);
        Ok(self)
    }

    /// Keeps an old pepper so hashes made with it still verify (and report `needs_rehash`).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if the pepper is shorter than 16 bytes.
    ///
    /// ```
    /// let hasher = keel_crypto::PasswordHasher::new()
    ///     .with_pepper(2, &[2u8; 32])?
    ///     .with_old_pepper(1, &[1u8; 32])?;
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn with_old_pepper(mut self, id: u32, pepper: &[u8]) -> Result<Self> {
        self.old_peppers.push(Pepper::new(id, pepper)?);
        Ok(self)
    }

    /// The parameters used for new hashes.
    ///
    /// ```
    /// assert_eq!(keel_crypto::PasswordHasher::new().params().memory_kib(), 19 * 1024);
    /// ```
    #[must_use]
    pub const fn params(&self) -> Argon2Params {
        self.params
    }

    /// Hashes a password with a fresh random salt; returns a PHC string.
    ///
    /// # Errors
    /// [`Error::Random`] if the OS generator fails; [`Error::InvalidParameter`] if Argon2
    /// fails (e.g. out of memory for the configured cost).
    ///
    /// ```
    /// # let hasher = keel_crypto::PasswordHasher::new().with_params(keel_crypto::Argon2Params::new(64, 1, 1)?);
    /// let phc = hasher.hash(b"pw")?;
    /// assert!(phc.starts_with("$argon2id$v=19$"));
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn hash(&self, password: &[u8]) -> Result<String> {
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt)?;
        let mut out = Zeroizing::new([0u8; HASH_LEN]);
        let secret = self.pepper.as_ref().map_or(&[][..], |p| &p.secret[..]);
        argon2(Algorithm::Argon2id, self.params, secret)?
            .hash_password_into(password, &salt, &mut out[..])
            .map_err(|err| Error::InvalidParameter(format!("argon2: {err}")))?;
        let keyid = self
            .pepper
            .as_ref()
            .map(|p| format!(",keyid={}", b64_phc_encode(&p.id.to_be_bytes())))
            .unwrap_or_default();
        Ok(format!(
            "$argon2id$v=19$m={},t={},p={}{keyid}${}${}",
            self.params.memory_kib,
            self.params.iterations,
            self.params.parallelism,
            b64_phc_encode(&salt),
            b64_phc_encode(&out[..]),
        ))
    }

    /// Checks a password against a stored hash in constant time.
    ///
    /// Returns `Ok(false)` for a wrong password.
    ///
    /// # Errors
    /// [`Error::InvalidHash`] if the hash is malformed, uses an unsupported algorithm (bcrypt
    /// without feature `legacy`), names an unknown pepper, or asks for more work than
    /// verification allows: Argon2 beyond [`MAX_VERIFY_MEMORY_KIB`], [`MAX_VERIFY_ITERATIONS`]
    /// or [`MAX_VERIFY_WORK_KIB`] (memory × iterations) unless this hasher's own parameters
    /// are higher, PBKDF2 beyond [`MAX_VERIFY_PBKDF2_ITERATIONS`], bcrypt above cost 15.
    /// These refusals happen before any hashing, and are logged at `warn`.
    ///
    /// ```
    /// let hasher = keel_crypto::PasswordHasher::new();
    /// // Made by argon2-cffi (the Argon2 reference C code) with m=64, t=1, p=1.
    /// let phc = "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70";
    /// assert!(hasher.verify(b"password", phc)?);
    /// assert!(!hasher.verify(b"wrong", phc)?);
    /// assert!(hasher.verify(b"x", "not a hash").is_err());
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    pub fn verify(&self, password: &[u8], hash: &str) -> Result<bool> {
        match parse(hash)? {
            Parsed::Argon2 {
                algorithm,
                params,
                keyid,
                salt,
                hash,
            } => {
                let secret = match keyid {
                    None => &[][..],
                    Some(id) => &self.pepper_by_id(id).ok_or(Error::InvalidHash)?.secret[..],
                };
                if hash.len() < 4 || salt.len() < 8 {
                    return Err(Error::InvalidHash);
                }
                self.check_argon2_cost(params)?;
                let p = Params::new(
                    params.memory_kib,
                    params.iterations,
                    params.parallelism,
                    Some(hash.len()),
                )
                .map_err(|_| Error::InvalidHash)?;
                let engine = Argon2::new_with_secret(secret, algorithm, Version::V0x13, p)
                    .map_err(|_| Error::InvalidHash)?;
                let mut out = Zeroizing::new(vec![0u8; hash.len()]);
                engine
                    .hash_password_into(password, &salt, &mut out)
                    .map_err(|_| Error::InvalidHash)?;
                Ok(out.ct_eq(&hash).into())
            }
            Parsed::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => {
                let mut out = Zeroizing::new(vec![0u8; hash.len()]);
                pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, iterations, &mut out);
                Ok(out.ct_eq(&hash).into())
            }
            Parsed::Bcrypt => verify_bcrypt(password, hash),
        }
    }

    /// Burns the same time as a real [`verify`](Self::verify), for logins with an unknown
    /// user name, so response times do not reveal which accounts exist. Always `false`.
    ///
    /// ```
    /// # let hasher = keel_crypto::PasswordHasher::new().with_params(keel_crypto::Argon2Params::new(64, 1, 1)?);
    /// assert!(!hasher.verify_dummy(b"whatever"));
    /// # Ok::<(), keel_crypto::Error>(())
    /// ```
    #[must_use]
    pub fn verify_dummy(&self, password: &[u8]) -> bool {
        let mut out = Zeroizing::new([0u8; HASH_LEN]);
        let secret = self.pepper.as_ref().map_or(&[][..], |p| &p.secret[..]);
        if let Ok(engine) = argon2(Algorithm::Argon2id, self.params, secret) {
            let _ = engine.hash_password_into(password, b"keel-dummy-salt!", &mut out[..]);
        }
        false
    }

    /// Whether a stored hash should be replaced by [`hash`](Self::hash) at the next
    /// successful login: true for another algorithm (Argon2i/d, PBKDF2, bcrypt), other
    /// parameters, another or no pepper, another output length, or an unparseable string.
    ///
    /// ```
    /// let hasher = keel_crypto::PasswordHasher::new();
    /// assert!(hasher.needs_rehash("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"));
    /// assert!(hasher.needs_rehash("$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    /// assert!(!hasher.needs_rehash("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    /// ```
    #[must_use]
    pub fn needs_rehash(&self, hash: &str) -> bool {
        match parse(hash) {
            Ok(Parsed::Argon2 {
                algorithm,
                params,
                keyid,
                hash,
                salt,
            }) => {
                algorithm != Algorithm::Argon2id
                    || params != self.params
                    || keyid != self.pepper.as_ref().map(|p| p.id)
                    || hash.len() != HASH_LEN
                    || salt.len() < SALT_LEN
            }
            _ => true,
        }
    }

    /// Refuses stored parameters that ask for more than the caps (or this hasher's own
    /// parameters, when those are higher): memory, passes and their product.
    fn check_argon2_cost(&self, stored: Argon2Params) -> Result<()> {
        let own = self.params;
        let max_memory = MAX_VERIFY_MEMORY_KIB.max(own.memory_kib);
        let max_iterations = MAX_VERIFY_ITERATIONS.max(own.iterations);
        let max_work = MAX_VERIFY_WORK_KIB.max(work(own));
        if stored.memory_kib > max_memory
            || stored.iterations > max_iterations
            || work(stored) > max_work
        {
            tracing::warn!(
                memory_kib = stored.memory_kib,
                iterations = stored.iterations,
                "stored Argon2 hash exceeds the verification cost caps; refused"
            );
            return Err(Error::InvalidHash);
        }
        Ok(())
    }

    fn pepper_by_id(&self, id: u32) -> Option<&Pepper> {
        self.pepper
            .iter()
            .chain(&self.old_peppers)
            .find(|p| p.id == id)
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("algorithm", &"argon2id")
            .field("params", &self.params)
            .field("pepper_id", &self.pepper.as_ref().map(|p| p.id))
            .field(
                "old_pepper_ids",
                &self.old_peppers.iter().map(|p| p.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Pepper {
    fn new(id: u32, secret: &[u8]) -> Result<Self> {
        if secret.len() < 16 {
            return Err(Error::InvalidKey(
                "a pepper must be at least 16 bytes".into(),
            ));
        }
        Ok(Self {
            id,
            secret: Zeroizing::new(secret.to_vec()),
        })
    }
}

/// Argon2 work: memory (KiB) × passes.
fn work(params: Argon2Params) -> u64 {
    u64::from(params.memory_kib) * u64::from(params.iterations)
}

fn argon2(algorithm: Algorithm, params: Argon2Params, secret: &[u8]) -> Result<Argon2<'_>> {
    Argon2::new_with_secret(secret, algorithm, Version::V0x13, params.to_argon2()?)
        .map_err(|err| Error::InvalidParameter(format!("argon2: {err}")))
}

#[derive(Debug)]
enum Parsed {
    Argon2 {
        algorithm: Algorithm,
        params: Argon2Params,
        keyid: Option<u32>,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Pbkdf2 {
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Bcrypt,
}

/// Parses the PHC strings we accept. Strict: any unknown field is an error.
fn parse(phc: &str) -> Result<Parsed> {
    let bad = || Error::InvalidHash;
    if ["$2a$", "$2b$", "$2y$"].iter().any(|p| phc.starts_with(p)) {
        return Ok(Parsed::Bcrypt);
    }
    let mut parts = phc.split('$');
    if parts.next() != Some("") {
        return Err(bad());
    }
    let id = parts.next().ok_or_else(bad)?;
    match id {
        "argon2id" | "argon2i" | "argon2d" => {
            let algorithm = match id {
                "argon2id" => Algorithm::Argon2id,
                "argon2i" => Algorithm::Argon2i,
                _ => Algorithm::Argon2d,
            };
            if parts.next() != Some("v=19") {
                return Err(bad());
            }
            let (mut m, mut t, mut p, mut keyid) = (None, None, None, None);
            for field in parts.next().ok_or_else(bad)?.split(',') {
                let (name, value) = field.split_once('=').ok_or_else(bad)?;
                match name {
                    "m" if m.is_none() => m = Some(parse_u32(value)?),
                    "t" if t.is_none() => t = Some(parse_u32(value)?),
                    "p" if p.is_none() => p = Some(parse_u32(value)?),
                    "keyid" if keyid.is_none() => {
                        let bytes: [u8; 4] = b64_phc_decode(value)
                            .and_then(|b| b.try_into().ok())
                            .ok_or_else(bad)?;
                        keyid = Some(u32::from_be_bytes(bytes));
                    }
                    _ => return Err(bad()),
                }
            }
            let params = Argon2Params {
                memory_kib: m.ok_or_else(bad)?,
                iterations: t.ok_or_else(bad)?,
                parallelism: p.ok_or_else(bad)?,
            };
            let salt = b64_phc_decode(parts.next().ok_or_else(bad)?).ok_or_else(bad)?;
            let hash = b64_phc_decode(parts.next().ok_or_else(bad)?).ok_or_else(bad)?;
            if parts.next().is_some() || hash.len() > 64 {
                return Err(bad());
            }
            Ok(Parsed::Argon2 {
                algorithm,
                params,
                keyid,
                salt,
                hash,
            })
        }
        "pbkdf2-sha256" => {
            let (mut i, mut l) = (None, None);
            for field in parts.next().ok_or_else(bad)?.split(',') {
                let (name, value) = field.split_once('=').ok_or_else(bad)?;
                match name {
                    "i" if i.is_none() => i = Some(parse_u32(value)?),
                    "l" if l.is_none() => l = Some(parse_u32(value)?),
                    _ => return Err(bad()),
                }
            }
            let iterations = i.ok_or_else(bad)?;
            if iterations == 0 {
                return Err(bad());
            }
            if iterations > MAX_VERIFY_PBKDF2_ITERATIONS {
                tracing::warn!(
                    iterations,
                    "stored PBKDF2 hash exceeds the verification cost cap; refused"
                );
                return Err(bad());
            }
            let salt = b64_phc_decode(parts.next().ok_or_else(bad)?).ok_or_else(bad)?;
            let hash = b64_phc_decode(parts.next().ok_or_else(bad)?).ok_or_else(bad)?;
            let len_ok = l.is_none_or(|l| usize::try_from(l).is_ok_and(|l| l == hash.len()));
            if parts.next().is_some() || !len_ok || hash.len() < 16 || hash.len() > 64 {
                return Err(bad());
            }
            Ok(Parsed::Pbkdf2 {
                iterations,
                salt,
                hash,
            })
        }
        _ => Err(bad()),
    }
}

fn parse_u32(text: &str) -> Result<u32> {
    // PHC decimals: no sign, no leading zeros.
    if text.is_empty()
        || (text.len() > 1 && text.starts_with('0'))
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(Error::InvalidHash);
    }
    text.parse().map_err(|_| Error::InvalidHash)
}

#[cfg(feature = "legacy")]
fn verify_bcrypt(password: &[u8], hash: &str) -> Result<bool> {
    crate::legacy::verify_bcrypt(password, hash)
}

#[cfg(not(feature = "legacy"))]
fn verify_bcrypt(_password: &[u8], _hash: &str) -> Result<bool> {
    tracing::warn!("bcrypt hash found but feature `legacy` of keel-crypto is disabled");
    Err(Error::InvalidHash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new().with_params(Argon2Params::new(64, 1, 1).unwrap())
    }

    #[test]
    fn hash_verify_round_trip() {
        let hasher = fast();
        let phc = hasher.hash(b"pw").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(hasher.verify(b"pw", &phc).unwrap());
        assert!(!hasher.verify(b"pw ", &phc).unwrap());
        assert_ne!(hasher.hash(b"pw").unwrap(), phc, "salts must differ");
        assert!(!hasher.needs_rehash(&phc));
        assert!(PasswordHasher::new().needs_rehash(&phc));
    }

    #[test]
    fn pepper_rotation() {
        let v1 = fast().with_pepper(1, &[1; 32]).unwrap();
        let phc1 = v1.hash(b"pw").unwrap();
        assert!(v1.verify(b"pw", &phc1).unwrap());
        assert!(matches!(
            fast().verify(b"pw", &phc1),
            Err(Error::InvalidHash)
        ));
        // Same id, different secret: just a wrong hash.
        let impostor = fast().with_pepper(1, &[9; 32]).unwrap();
        assert!(!impostor.verify(b"pw", &phc1).unwrap());
        let v2 = fast()
            .with_pepper(2, &[2; 32])
            .unwrap()
            .with_old_pepper(1, &[1; 32])
            .unwrap();
        assert!(v2.verify(b"pw", &phc1).unwrap());
        assert!(v2.needs_rehash(&phc1));
        assert!(!v2.needs_rehash(&v2.hash(b"pw").unwrap()));
        let unpeppered = fast().hash(b"pw").unwrap();
        assert!(v2.verify(b"pw", &unpeppered).unwrap());
        assert!(v2.needs_rehash(&unpeppered));
        assert!(fast().with_pepper(1, &[0; 8]).is_err());
    }

    fn check_cost(hasher: &PasswordHasher, memory_kib: u32, iterations: u32, ok: bool) {
        let stored = Argon2Params {
            memory_kib,
            iterations,
            parallelism: 1,
        };
        assert_eq!(
            hasher.check_argon2_cost(stored).is_ok(),
            ok,
            "m={memory_kib} t={iterations}"
        );
    }

    #[test]
    fn verification_cost_caps() {
        let default = PasswordHasher::new();
        check_cost(&default, 19_456, 2, true); // OWASP
        check_cost(&default, 65_536, 3, true); // RFC 9106's second recommendation
        check_cost(&default, 65_536, 4, true); // 256 MiB x 1 pass of work: the cap
        check_cost(&default, 65_536, 5, false);
        check_cost(&default, 262_144, 1, true);
        check_cost(&default, 262_144, 2, false); // each under its own cap, product over
        check_cost(&default, 262_144, 64, false); // the worst the separate caps allowed
        check_cost(&default, 4_096, 64, true);
        check_cost(&default, 4_096, 65, false); // iterations cap
        check_cost(&default, 262_145, 1, false); // memory cap
        // A hasher configured above the caps verifies its own hashes, and nothing costlier.
        let strong = PasswordHasher::new().with_params(Argon2Params {
            memory_kib: 512 * 1024,
            iterations: 2,
            parallelism: 1,
        });
        check_cost(&strong, 512 * 1024, 2, true);
        check_cost(&strong, 512 * 1024, 3, false);
        check_cost(&strong, 1024 * 1024, 1, false);
    }

    fn check_parse(phc: &str, ok: bool) {
        assert_eq!(parse(phc).is_ok(), ok, "{phc}");
    }

    #[test]
    fn strict_parsing() {
        let salt = "c29tZXNhbHRzYWx0MTI";
        let hash = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        check_parse(&format!("$argon2id$v=19$m=64,t=1,p=1${salt}${hash}"), true);
        check_parse(&format!("$argon2id$v=16$m=64,t=1,p=1${salt}${hash}"), false);
        check_parse(&format!("$argon2id$v=19$m=64,t=1${salt}${hash}"), false);
        check_parse(
            &format!("$argon2id$v=19$m=64,t=1,p=1,m=2${salt}${hash}"),
            false,
        );
        check_parse(
            &format!("$argon2id$v=19$m=064,t=1,p=1${salt}${hash}"),
            false,
        );
        check_parse(&format!("$argon2id$v=19$m=-1,t=1,p=1${salt}${hash}"), false);
        // Parsing accepts any cost; `verify` applies the caps (see verification_cost_caps).
        check_parse(
            &format!("$argon2id$v=19$m=99999999,t=1,p=1${salt}${hash}"),
            true,
        );
        check_parse(
            &format!("$argon2id$v=19$m=99999999999,t=1,p=1${salt}${hash}"),
            false,
        );
        check_parse(
            &format!("$argon2id$v=19$m=64,t=1,p=1${salt}${hash}$"),
            false,
        );
        check_parse(
            &format!("$argon2id$v=19$m=64,t=1,p=1${salt}=${hash}"),
            false,
        );
        check_parse(&format!("$scrypt$ln=16,r=8,p=1${salt}${hash}"), false);
        check_parse(&format!("$pbkdf2-sha256$i=1000,l=32${salt}${hash}"), true);
        check_parse(&format!("$pbkdf2-sha256$i=1000,l=31${salt}${hash}"), false);
        check_parse(&format!("$pbkdf2-sha256$i=0${salt}${hash}"), false);
        check_parse("$2b$04$abc", true);
        check_parse("", false);
        check_parse("$", false);
        check_parse("argon2id$v=19", false);
    }

    #[test]
    fn pbkdf2_hashes_verify_and_need_rehash() {
        let salt = b"0123456789abcdef";
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"pw", salt, 1000, &mut out);
        let phc = format!(
            "$pbkdf2-sha256$i=1000,l=32${}${}",
            b64_phc_encode(salt),
            b64_phc_encode(&out)
        );
        assert!(fast().verify(b"pw", &phc).unwrap());
        assert!(!fast().verify(b"px", &phc).unwrap());
        assert!(fast().needs_rehash(&phc));
    }

    #[cfg(not(feature = "legacy"))]
    #[test]
    fn bcrypt_needs_the_legacy_feature() {
        let phc = "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie";
        assert!(matches!(fast().verify(b"x", phc), Err(Error::InvalidHash)));
        assert!(fast().needs_rehash(phc));
    }
}
