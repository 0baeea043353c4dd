//! Eight bytes at a time ("SWAR": SIMD within a register) for the fast paths of the
//! normalizers and rules, which mostly see short ASCII strings (names, e-mail
//! addresses, phone numbers). A byte loop the compiler vectorizes for 32-byte
//! blocks leaves such strings entirely to its scalar tail; one `u64` per 7 bytes
//! does a 24-byte address in four steps.
//!
//! Masks have bit 7 of each byte set where the byte matches and are exact per
//! byte (no carries between bytes), so neighbouring bytes can be compared with a
//! shift.

/// `0x01` in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte.
pub(crate) const HIGH: u64 = 0x8080_8080_8080_8080;
/// `0x7F` in every byte.
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// Whether `f` is true for some window of `b`: overlapping little-endian words
/// starting every 7 bytes, the last ending at the end of `b`, so every byte and
/// every pair of neighbouring bytes lies inside one word. Input shorter than 8
/// bytes is padded (at the end) with `pad`, which must be a byte `f` ignores.
#[inline]
pub(crate) fn any_window(b: &[u8], pad: u8, f: impl Fn(u64) -> bool) -> bool {
    let n = b.len();
    if n < 8 {
        let mut w = [pad; 8];
        for (d, s) in w.iter_mut().zip(b) {
            *d = *s;
        }
        return f(u64::from_le_bytes(w));
    }
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let mut found = false;
    let mut at = 0;
    while at + 8 < n {
        found |= f(word(at));
        at += 7;
    }
    found | f(word(n - 8))
}

/// Bytes `>= n` (`1 <= n <= 0x80`); every non-ASCII byte is `>= n`.
#[inline]
pub(crate) const fn ge(v: u64, n: u8) -> u64 {
    // Bytes below 0x80 plus (0x80 - n) reach bit 7 exactly when they are >= n; the
    // sum stays below 0x100, so nothing carries into the next byte.
    let k = 0x80 - n as u64;
    (((v & LOW7) + ONES * k) | v) & HIGH
}

/// Bytes equal to `c`.
#[inline]
pub(crate) const fn eq(v: u64, c: u8) -> u64 {
    let x = v ^ (ONES * c as u64);
    !(((x & LOW7) + LOW7) | x) & HIGH
}

/// ASCII uppercase letters.
#[inline]
pub(crate) const fn upper(v: u64) -> u64 {
    ge(v, b'A') & !ge(v, b'Z' + 1)
}

/// Bytes in a mask followed by a byte in the same mask (`--`, `  `).
#[inline]
pub(crate) const fn pairs(mask: u64) -> u64 {
    mask & (mask << 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mask agrees with its per-byte definition, for every byte value in
    /// every position, next to bytes that would make carries or borrows show.
    #[test]
    fn masks_are_exact_per_byte() {
        for background in [0x00u8, 0x7f, 0x80, 0xff, b'A', b'Z', b'-'] {
            for pos in 0..8 {
                for x in 0..=255u8 {
                    let mut bytes = [background; 8];
                    bytes[pos] = x;
                    let v = u64::from_le_bytes(bytes);
                    let expect = |pred: &dyn Fn(u8) -> bool| {
                        u64::from_le_bytes(bytes.map(|b| if pred(b) { 0x80 } else { 0 }))
                    };
                    for n in [1u8, 0x20, b'A', b'Z' + 1, 0x80] {
                        assert_eq!(ge(v, n), expect(&|b| b >= n), "ge {n:#x} {bytes:?}");
                    }
                    for c in [0u8, b'-', 0x7f, 0xc2, 0xff] {
                        assert_eq!(eq(v, c), expect(&|b| b == c), "eq {c:#x} {bytes:?}");
                    }
                    assert_eq!(upper(v), expect(&|b: u8| b.is_ascii_uppercase()));
                }
            }
        }
    }

    #[test]
    fn windows_cover_every_pair() {
        for n in 0..40 {
            for p in 0..n.max(1) - 1 {
                let mut b = vec![b'a'; n];
                b[p] = b'-';
                b[p + 1] = b'-';
                assert!(any_window(&b, b'a', |v| pairs(eq(v, b'-')) != 0), "{n} {p}");
            }
            let b = vec![b'a'; n];
            assert!(!any_window(&b, b'a', |v| eq(v, b'-') != 0));
            for p in 0..n {
                let mut b = vec![b'a'; n];
                b[p] = 0xc2;
                assert!(any_window(&b, b'a', |v| eq(v, 0xc2) != 0), "{n} {p}");
            }
        }
    }
}
