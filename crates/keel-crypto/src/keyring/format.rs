//! The [`KeyRing`](super::KeyRing) token layout and its GCM associated data.

use crate::encoding::be_u32;

/// Version byte of the [`KeyRing`](crate::KeyRing) token format.
pub const TOKEN_VERSION: u8 = 0x4b; // 'K'
/// Bytes before the ciphertext: version (1) ‖ key id (4) ‖ nonce (12).
pub const TOKEN_HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// Bytes a token adds to the plaintext: header (17) plus the GCM tag (16).
pub const TOKEN_OVERHEAD: usize = TOKEN_HEADER_LEN + TAG_LEN;

pub(super) const NONCE_LEN: usize = 12;
pub(super) const TAG_LEN: usize = 16;
/// version (1) ‖ key id (4): the part of the header the associated data binds.
pub(super) const ID_LEN: usize = 5;

/// The key id a binary token names, without authenticating it; `None` if it is not a token.
pub(super) fn key_id_of(token: &[u8]) -> Option<u32> {
    if token.len() < TOKEN_OVERHEAD || token[0] != TOKEN_VERSION {
        return None;
    }
    be_u32(token, 1)
}

/// The GCM associated data `version ‖ key id ‖ len(purpose) u32 BE ‖ purpose ‖ aad`, on the
/// stack when it is small (the common case: saves an allocation per call).
pub(super) enum AssociatedData {
    Inline([u8; INLINE_AD], usize),
    Heap(Vec<u8>),
}

pub(super) const INLINE_AD: usize = 96;

impl AssociatedData {
    /// `None` when the purpose is longer than 4 GiB (its length does not fit the u32 prefix).
    pub(super) fn new(header: &[u8], purpose: &str, aad: &[u8]) -> Option<Self> {
        let len = u32::try_from(purpose.len()).ok()?.to_be_bytes();
        let parts: [&[u8]; 4] = [header, &len, purpose.as_bytes(), aad];
        let total = parts.iter().map(|p| p.len()).sum::<usize>();
        if total <= INLINE_AD {
            let mut buf = [0u8; INLINE_AD];
            let mut at = 0;
            for part in parts {
                buf[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            Some(Self::Inline(buf, total))
        } else {
            Some(Self::Heap(parts.concat()))
        }
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline(buf, len) => &buf[..*len],
            Self::Heap(vec) => vec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(purpose: &str, aad: &[u8], expected: &[u8]) {
        let ad = AssociatedData::new(&[TOKEN_VERSION, 0, 0, 0, 9], purpose, aad).unwrap();
        assert_eq!(ad.as_bytes(), expected, "{purpose:?} {aad:?}");
    }

    #[test]
    fn layout_is_length_prefixed() {
        check("", b"", &[0x4b, 0, 0, 0, 9, 0, 0, 0, 0]);
        check(
            "ab",
            b"c",
            &[0x4b, 0, 0, 0, 9, 0, 0, 0, 2, b'a', b'b', b'c'],
        );
        check(
            "a",
            b"bc",
            &[0x4b, 0, 0, 0, 9, 0, 0, 0, 1, b'a', b'b', b'c'],
        );
        let long = [7u8; 200];
        let mut expected = vec![0x4b, 0, 0, 0, 9, 0, 0, 0, 1, b'p'];
        expected.extend_from_slice(&long);
        check("p", &long, &expected);
    }

    #[test]
    fn key_id_needs_a_whole_token() {
        let mut token = vec![TOKEN_VERSION, 0, 0, 1, 0];
        token.resize(TOKEN_OVERHEAD, 0);
        assert_eq!(key_id_of(&token), Some(256));
        assert_eq!(key_id_of(&token[..TOKEN_OVERHEAD - 1]), None);
        token[0] = 0;
        assert_eq!(key_id_of(&token), None);
    }
}
