//! The one test at full OWASP cost (Argon2id m = 19 MiB, t = 2, p = 1): the defaults work
//! end to end and produce the documented PHC string. Everything else uses small parameters.

use keel_crypto::{Argon2Params, PasswordHasher};

#[test]
fn default_hasher_uses_owasp_parameters() {
    let hasher = PasswordHasher::new();
    assert_eq!(hasher.params(), Argon2Params::OWASP);
    let phc = hasher.hash(b"correct horse battery staple").unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(
        hasher
            .verify(b"correct horse battery staple", &phc)
            .unwrap()
    );
    assert!(!hasher.needs_rehash(&phc));
    // argon2-cffi's output for the same parameters (reference C code), salt "somesalt".
    let reference =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E";
    assert!(hasher.verify(b"password", reference).unwrap());
    // A salt shorter than our 16 bytes: verify, but upgrade.
    assert!(hasher.needs_rehash(reference));
}
