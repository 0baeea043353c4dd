//! Startup checks that refuse weak settings: Argon2id costs below OWASP's minimum,
//! low-entropy secrets and all-zero keys. `KEEL_DEV_MODE=true` turns refusals into
//! warnings (local development and tests only).

/// OWASP Password Storage Cheat Sheet, Argon2id: equivalent (memory KiB, iterations)
/// pairs; a configuration must reach one of them (with at least one lane).
pub const OWASP_ARGON2ID: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

/// Whether Argon2id `m` KiB, `t` iterations reach one of OWASP's minimum configurations.
pub fn argon2_meets_owasp(m: u32, t: u32) -> bool {
    OWASP_ARGON2ID
        .iter()
        .any(|&(min_m, min_t)| m >= min_m && t >= min_t)
}

/// Why `secret` looks guessable, or `None`: fewer than 8 distinct bytes, a repetition of
/// a shorter pattern (`abcabc…`), or under 96 bits by its own symbol statistics. A
/// random 32-byte key, 32 random hex digits or `openssl rand -base64 32` all pass.
pub fn weakness(secret: &[u8]) -> Option<&'static str> {
    if secret.iter().all(|&b| b == 0) {
        return Some("is all zeros");
    }
    let mut counts = [0u32; 256];
    for &b in secret {
        counts[usize::from(b)] += 1;
    }
    if counts.iter().filter(|&&c| c > 0).count() < 8 {
        return Some("has fewer than 8 distinct bytes");
    }
    let len = secret.len();
    if (1..=len / 2).any(|p| len.is_multiple_of(p) && secret.chunks(p).all(|c| c == &secret[..p])) {
        return Some("repeats a shorter pattern");
    }
    #[allow(clippy::cast_precision_loss)]
    let n = len as f64;
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| -f64::from(c) * (f64::from(c) / n).log2())
        .sum();
    (bits < 96.0).then_some("has too little entropy (under 96 bits)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(secret: &[u8], expected: Option<&str>) {
        assert_eq!(weakness(secret), expected, "{secret:?}");
    }

    #[test]
    fn weak_and_strong_secrets() {
        check(&[0; 32], Some("is all zeros"));
        check(&[b'a'; 32], Some("has fewer than 8 distinct bytes"));
        check(
            b"0123456789abcdef0123456789abcdef",
            Some("repeats a shorter pattern"),
        );
        check(
            b"aaaaaaaaaaaaaaaaaaaaaaaabcdefghi",
            Some("has too little entropy (under 96 bits)"),
        );
        check(b"9f86d081884c7d659a2feaa0c55ad015", None);
        check(b"Xq3v9Lr0tZk2Wm8Yp5Nc1Hd7Jf4Gs6Ba+Qe/Ru=", None);
        let random: Vec<u8> = (0u8..32)
            .map(|i| i.wrapping_mul(97).wrapping_add(13))
            .collect();
        check(&random, None);
    }

    #[test]
    fn owasp_argon2_minimums() {
        assert!(argon2_meets_owasp(19_456, 2));
        assert!(argon2_meets_owasp(47_104, 1));
        assert!(argon2_meets_owasp(65_536, 3));
        assert!(!argon2_meets_owasp(19_456, 1));
        assert!(!argon2_meets_owasp(64, 1));
        assert!(!argon2_meets_owasp(7_000, 10));
    }
}
