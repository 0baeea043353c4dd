//! Small encoding helpers shared by the modules (base64 variants, hex, big-endian reads).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// base64url without padding: the text form of every Keel token.
pub(crate) fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url-without-padding decoding (canonical: no padding, no trailing bits).
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()
}

/// Lenient decoding for configuration (keys, legacy tokens): standard or URL-safe alphabet,
/// with or without padding, surrounding whitespace ignored.
pub(crate) fn b64_decode_lenient(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let padded = text.ends_with('=');
    let url = text.contains(['-', '_']);
    let engine = match (url, padded) {
        (true, true) => &URL_SAFE,
        (true, false) => &URL_SAFE_NO_PAD,
        (false, true) => &STANDARD,
        (false, false) => &STANDARD_NO_PAD,
    };
    engine.decode(text.as_bytes()).ok()
}

/// Standard base64 without padding (the PHC string alphabet).
pub(crate) fn b64_phc_encode(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// Standard base64 without padding, strict (the PHC string alphabet).
pub(crate) fn b64_phc_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD.decode(text.as_bytes()).ok()
}

/// Lower-case hex.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Hex decoding (either case); `None` on odd length or a non-hex digit.
pub(crate) fn hex_decode(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// Reads a big-endian `u32` at `at`, `None` when out of bounds.
pub(crate) fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let chunk: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(chunk))
}

/// Reads a big-endian `u64` at `at`, `None` when out of bounds.
pub(crate) fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex_encode(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(hex_decode("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("zz"), None);
    }

    #[test]
    fn lenient_base64_accepts_all_variants() {
        let bytes = [0xfb_u8, 0xff, 0xfe, 0x01];
        for text in ["+//+AQ==", "+//+AQ", "-__-AQ==", "-__-AQ", "  +//+AQ==\n"] {
            assert_eq!(
                b64_decode_lenient(text).as_deref(),
                Some(&bytes[..]),
                "{text}"
            );
        }
        assert_eq!(b64_decode_lenient("***"), None);
    }

    #[test]
    fn big_endian_reads_are_bounds_checked() {
        assert_eq!(be_u32(&[0, 0, 1, 0], 0), Some(256));
        assert_eq!(be_u32(&[0, 0, 1], 0), None);
        assert_eq!(be_u64(&[0; 8], 1), None);
        assert_eq!(be_u32(&[0; 4], usize::MAX), None);
    }
}
