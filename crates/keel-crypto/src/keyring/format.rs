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

/// Room for the GCM associated data `version ‖ key id ‖ len(purpose) u32 BE ‖ purpose ‖ aad`.
///
/// It lives in the caller's frame and [`fill`](Self::fill) writes into it, so the
/// common small case neither allocates nor moves the buffer after writing it (a
/// returned-by-value buffer cost a 100-byte copy and store-forwarding stalls per
/// call on the 64-byte open path).
pub(super) struct AdBuf {
    inline: [u8; INLINE_AD],
    heap: Vec<u8>,
}

pub(super) const INLINE_AD: usize = 96;

impl AdBuf {
    pub(super) const fn new() -> Self {
        Self {
            inline: [0; INLINE_AD],
            heap: Vec::new(),
        }
    }

    /// Writes the associated data and returns it; `None` when the purpose is longer
    /// than 4 GiB (its length does not fit the u32 prefix).
    #[inline]
    pub(super) fn fill(
        &mut self,
        header: &[u8; ID_LEN],
        purpose: &str,
        aad: &[u8],
    ) -> Option<&[u8]> {
        let len = u32::try_from(purpose.len()).ok()?.to_be_bytes();
        let purpose_end = ID_LEN + len.len() + purpose.len();
        let total = purpose_end.checked_add(aad.len())?;
        if total <= INLINE_AD {
            let buf = &mut self.inline;
            buf[..ID_LEN].copy_from_slice(header);
            buf[ID_LEN..ID_LEN + len.len()].copy_from_slice(&len);
            buf[ID_LEN + len.len()..purpose_end].copy_from_slice(purpose.as_bytes());
            buf[purpose_end..total].copy_from_slice(aad);
            Some(&buf[..total])
        } else {
            self.heap = [header.as_slice(), &len, purpose.as_bytes(), aad].concat();
            Some(&self.heap)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(purpose: &str, aad: &[u8], expected: &[u8]) {
        let mut buf = AdBuf::new();
        let ad = buf
            .fill(&[TOKEN_VERSION, 0, 0, 0, 9], purpose, aad)
            .unwrap();
        assert_eq!(ad, expected, "{purpose:?} {aad:?}");
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
