//! Scheme `usrv`: usrv's ECIES wire format, byte for byte, for existing usrv clients.
//!
//! In scope: usrv's key derivation, AES-256-CTR body encoding, and its signed messages.
//! Out of scope: header parsing and policy (timestamps, replays), which `server.rs` applies to
//! both schemes alike.
//!
//! The format (see `shared/vectors/README.md`, reproduced by this file's tests):
//! - `shared_x` = x-coordinate of ECDH(ephemeral, recipient), 32 bytes;
//! - `secret_hex` = lower-case hex of SHA-256(`shared_x`), 64 ASCII characters;
//! - `aes256_key` = SHA-256(ASCII `secret_hex`);
//! - body = lower-case hex of AES-256-CTR(`aes256_key`, counter = 128-bit big-endian starting at
//!   `00…01`, plaintext); there is no tag: integrity rests on the signature alone;
//! - the request signature signs `body_hex ‖ Ephemeral-Public-Key ‖ Nonce` (header texts as sent),
//!   the response signature signs `body_hex ‖ Ephemeral-Public-Key`;
//! - a signature is 64 bytes `r ‖ s`, base64, either BIP-340 Schnorr over SHA-256(message) or ECDSA
//!   with z = SHA-256(message) (S normalised to low-S before verifying).

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};

use super::error::CryptoError;
use super::identity::{Identity, PublicKey, sha256, verify_ecdsa, verify_schnorr};

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// usrv's initial counter block: pyaes' `Counter(initial_value = 1)`.
const IV: [u8; 16] = {
    let mut iv = [0u8; 16];
    iv[15] = 1;
    iv
};

/// Derives usrv's AES-256 key from the ECDH shared x-coordinate.
pub(crate) fn derive_key(shared_x: &[u8; 32]) -> [u8; 32] {
    let secret_hex = hex_lower(&sha256(shared_x));
    sha256(secret_hex.as_bytes())
}

/// Applies usrv's AES-256-CTR keystream (encryption and decryption are the same operation).
pub(crate) fn apply_ctr(key: &[u8; 32], data: &mut [u8]) {
    let mut cipher = Aes256Ctr::new(key.into(), &IV.into());
    cipher.apply_keystream(data);
}

/// Encrypts `plaintext` to `recipient` with the ephemeral identity `ephemeral`; returns body hex.
pub(crate) fn encrypt_with(
    ephemeral: &Identity,
    recipient: &PublicKey,
    plaintext: &[u8],
) -> String {
    let key = derive_key(&ephemeral.shared_x(recipient));
    let mut buf = plaintext.to_vec();
    apply_ctr(&key, &mut buf);
    hex_lower(&buf)
}

/// Decrypts a usrv hex body sent with ephemeral key `ephemeral` to `recipient`.
pub(crate) fn decrypt(
    recipient: &Identity,
    ephemeral: &PublicKey,
    body_hex: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut buf = hex_decode(body_hex).ok_or(CryptoError::MalformedBody)?;
    let key = derive_key(&recipient.shared_x(ephemeral));
    apply_ctr(&key, &mut buf);
    Ok(buf)
}

/// Verifies a usrv signature over `message`: BIP-340 Schnorr or (low-S normalised) ECDSA.
pub(crate) fn verify(key: &PublicKey, message: &[u8], sig: &[u8; 64]) -> bool {
    let digest = sha256(message);
    verify_schnorr(key, &digest, sig) || verify_ecdsa(key, &digest, sig)
}

/// Signs `message` as usrv does: BIP-340 Schnorr over SHA-256(message).
pub(crate) fn sign(identity: &Identity, message: &[u8]) -> Result<[u8; 64], CryptoError> {
    identity.sign_schnorr(&sha256(message))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes hex (either case); `None` on an odd length or a non-hex character.
pub(crate) fn hex_decode(text: &[u8]) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use k256::elliptic_curve::ops::Reduce;

    struct Vectors(serde_json::Value);

    impl Vectors {
        fn load() -> Self {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/vectors/usrv-ecies.json"
            );
            let text = std::fs::read_to_string(path).expect("usrv-ecies.json beside the clone");
            Vectors(serde_json::from_str(&text).unwrap())
        }
        fn s(&self, key: &str) -> &str {
            self.0[key].as_str().unwrap()
        }
        fn hex32(&self, key: &str) -> [u8; 32] {
            hex_decode(self.s(key).as_bytes())
                .unwrap()
                .try_into()
                .unwrap()
        }
        fn sig(&self, key: &str) -> [u8; 64] {
            B64.decode(self.s(key)).unwrap().try_into().unwrap()
        }
    }

    #[test]
    fn passphrase_derivation_reproduces_usrv_keys() {
        let v = Vectors::load();
        for who in ["server", "client"] {
            let id = Identity::from_passphrase(v.s(&format!("{who}_secret"))).unwrap();
            assert_eq!(
                id.secret_bytes(),
                v.hex32(&format!("{who}_prk")),
                "{who} prk"
            );
            assert_eq!(
                id.public_key_b64(),
                v.s(&format!("{who}_puk_b64")),
                "{who} puk"
            );
        }
    }

    #[test]
    fn ephemeral_key_and_shared_secret_match_vectors() {
        let v = Vectors::load();
        let eph = Identity::from_secret_bytes(&v.hex32("ephemeral_prk")).unwrap();
        assert_eq!(eph.public_key_b64(), v.s("ephemeral_puk_b64"));
        let server = PublicKey::from_b64(v.s("server_puk_b64")).unwrap();
        let shared = eph.shared_x(&server);
        assert_eq!(shared, v.hex32("shared_x"));
        assert_eq!(hex_lower(&sha256(&shared)), v.s("secret_hex"));
        assert_eq!(derive_key(&shared), v.hex32("aes256_key"));
    }

    #[test]
    fn encryption_reproduces_usrv_ciphertext() {
        let v = Vectors::load();
        let eph = Identity::from_secret_bytes(&v.hex32("ephemeral_prk")).unwrap();
        let server = PublicKey::from_b64(v.s("server_puk_b64")).unwrap();
        let body = encrypt_with(&eph, &server, v.s("plaintext").as_bytes());
        assert_eq!(body, v.s("ciphertext_hex"));
    }

    #[test]
    fn server_decrypts_usrv_ciphertext() {
        let v = Vectors::load();
        let server = Identity::from_passphrase(v.s("server_secret")).unwrap();
        let eph = PublicKey::from_b64(v.s("ephemeral_puk_b64")).unwrap();
        let plain = decrypt(&server, &eph, v.s("ciphertext_hex").as_bytes()).unwrap();
        assert_eq!(plain, v.s("plaintext").as_bytes());
    }

    #[test]
    fn signed_message_is_body_hex_then_ephemeral_key_then_nonce() {
        let v = Vectors::load();
        let built = format!(
            "{}{}{}",
            v.s("ciphertext_hex"),
            v.s("ephemeral_puk_b64"),
            v.s("nonce")
        );
        assert_eq!(built, v.s("signed_message"));
    }

    #[test]
    fn schnorr_signature_reproduces_usrv_bytes() {
        let v = Vectors::load();
        let client = Identity::from_passphrase(v.s("client_secret")).unwrap();
        let digest = sha256(v.s("signed_message").as_bytes());
        let sig = client
            .sign_schnorr_with_aux(&digest, &v.hex32("schnorr_aux_rand"))
            .unwrap();
        assert_eq!(B64.encode(sig), v.s("schnorr_sig_b64"));
    }

    #[test]
    fn ecdsa_signature_with_pinned_k_reproduces_usrv_bytes() {
        let v = Vectors::load();
        let client = Identity::from_passphrase(v.s("client_secret")).unwrap();
        let d = k256::NonZeroScalar::try_from(client.secret_bytes().as_slice()).unwrap();
        let k = k256::NonZeroScalar::try_from(v.hex32("ecdsa_k").as_slice()).unwrap();
        let z = sha256(v.s("signed_message").as_bytes());
        let (sig, _) = ecdsa_core_sign(&d, &k, &z);
        assert_eq!(B64.encode(sig), v.s("ecdsa_sig_b64"));
    }

    fn ecdsa_core_sign(
        d: &k256::NonZeroScalar,
        k: &k256::NonZeroScalar,
        z: &[u8; 32],
    ) -> ([u8; 64], ()) {
        let (sig, _) = ecdsa::hazmat::sign_prehashed::<k256::Secp256k1>(d, k, z).unwrap();
        (sig.to_bytes().into(), ())
    }

    #[test]
    fn every_usrv_signature_verifies_and_high_s_is_accepted() {
        let v = Vectors::load();
        let client = PublicKey::from_b64(v.s("client_puk_b64")).unwrap();
        let msg = v.s("signed_message").as_bytes();
        for key in [
            "schnorr_sig_b64",
            "ecdsa_sig_b64",
            "ecdsa_sig_high_s_b64",
            "k256_schnorr_sig_b64_random_aux",
        ] {
            assert!(verify(&client, msg, &v.sig(key)), "{key} must verify");
        }
    }

    #[test]
    fn high_s_signature_is_the_negation_of_the_low_s_one() {
        let v = Vectors::load();
        let low = v.sig("ecdsa_sig_b64");
        let high = v.sig("ecdsa_sig_high_s_b64");
        assert_eq!(low[..32], high[..32]);
        let s_low = k256::Scalar::reduce(&k256::FieldBytes::from(
            <[u8; 32]>::try_from(&low[32..]).unwrap(),
        ));
        let s_high = k256::Scalar::reduce(&k256::FieldBytes::from(
            <[u8; 32]>::try_from(&high[32..]).unwrap(),
        ));
        assert_eq!(s_low, -s_high);
    }

    #[test]
    fn usrv_signatures_are_refused_for_another_message_or_key() {
        let v = Vectors::load();
        let client = PublicKey::from_b64(v.s("client_puk_b64")).unwrap();
        let server = PublicKey::from_b64(v.s("server_puk_b64")).unwrap();
        let msg = v.s("signed_message").as_bytes();
        let mut other = msg.to_vec();
        other[0] ^= 1;
        for key in ["schnorr_sig_b64", "ecdsa_sig_b64", "ecdsa_sig_high_s_b64"] {
            assert!(
                !verify(&client, &other, &v.sig(key)),
                "{key} on another message"
            );
            assert!(
                !verify(&server, msg, &v.sig(key)),
                "{key} under another key"
            );
        }
    }

    #[test]
    fn hex_decoding_refuses_odd_length_and_non_hex() {
        assert_eq!(hex_decode(b"0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(hex_decode(b"abc"), None);
        assert_eq!(hex_decode(b"zz"), None);
    }
}
