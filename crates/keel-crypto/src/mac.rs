//! Infallible HMAC keying (RFC 2104 key preprocessing done here, so no `Result` to ignore).

use hmac::digest::{Digest, Key, KeyInit};
use hmac::{EagerHash, Hmac};
use zeroize::Zeroize;

/// An HMAC keyed with `key` of any length: keys up to the hash's block size are zero-padded,
/// longer keys are hashed first (RFC 2104 §2), exactly as `Hmac::new_from_slice` does, but
/// through the infallible block-sized constructor.
pub(crate) fn keyed_hmac<D>(key: &[u8]) -> Hmac<D>
where
    D: EagerHash + Digest,
{
    let mut block = Key::<Hmac<D>>::default();
    if key.len() <= block.len() {
        block[..key.len()].copy_from_slice(key);
    } else {
        let mut hash = D::digest(key);
        let n = hash.len().min(block.len());
        block[..n].copy_from_slice(&hash[..n]);
        hash.as_mut_slice().zeroize();
    }
    let mac = <Hmac<D> as KeyInit>::new(&block);
    block.as_mut_slice().zeroize();
    mac
}

#[cfg(test)]
mod tests {
    use hmac::Mac;

    use super::*;

    #[test]
    fn matches_new_from_slice_for_all_key_lengths() {
        for len in [0usize, 1, 20, 32, 63, 64, 65, 128, 129, 300] {
            let key: Vec<u8> = (0..len)
                .map(|i| u8::try_from(i * 7 % 251).unwrap())
                .collect();
            let mut ours = keyed_hmac::<sha2::Sha256>(&key);
            let mut theirs = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
            ours.update(b"msg");
            theirs.update(b"msg");
            assert_eq!(
                ours.finalize().into_bytes(),
                theirs.finalize().into_bytes(),
                "{len}"
            );
            let mut ours = keyed_hmac::<sha2::Sha512>(&key);
            let mut theirs = <Hmac<sha2::Sha512> as KeyInit>::new_from_slice(&key).unwrap();
            ours.update(b"msg");
            theirs.update(b"msg");
            assert_eq!(
                ours.finalize().into_bytes(),
                theirs.finalize().into_bytes(),
                "{len}"
            );
        }
    }
}
