//! TLS to the server (feature `rustls`): the rustls client configuration for each
//! [`SslMode`], the two certificate verifiers libpq's modes need that rustls does not
//! ship (`require` without roots: encryption only; `verify-ca`: chain without host
//! name), and the classification of handshake failures into [`TlsFailure`].

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::config::SslMode;
use crate::error::TlsFailure;

/// Where the root certificates come from.
#[derive(Debug, Clone)]
pub(crate) enum RootCerts {
    Pem(Arc<[u8]>),
    File(PathBuf),
}

impl RootCerts {
    fn load(&self) -> Result<RootCertStore, String> {
        let (pem, origin): (std::borrow::Cow<'_, [u8]>, String) = match self {
            Self::Pem(pem) => (pem[..].into(), "the root certificate PEM".to_owned()),
            Self::File(path) => (
                std::fs::read(path)
                    .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?
                    .into(),
                format!("sslrootcert {}", path.display()),
            ),
        };
        let mut store = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("{origin} is not valid PEM: {e}"))?;
            store
                .add(cert)
                .map_err(|e| format!("{origin} holds an unusable certificate: {e}"))?;
        }
        if store.is_empty() {
            return Err(format!("{origin} holds no CERTIFICATE block"));
        }
        Ok(store)
    }
}

/// The resolved TLS settings of a [`Config`](crate::Config): what was asked for (kept
/// for `to_builder`) and the client configuration used to connect.
#[derive(Clone)]
pub(crate) struct TlsSettings {
    pub(crate) mode: SslMode,
    pub(crate) roots: Option<RootCerts>,
    pub(crate) custom: Option<ClientConfig>,
    /// `None` for `disable`.
    pub(crate) client: Option<ClientConfig>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("mode", &self.mode)
            .field("roots", &self.roots.is_some())
            .field("custom", &self.custom.is_some())
            .finish_non_exhaustive()
    }
}

/// The process-wide rustls provider if one is installed, else *ring*.
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Decides the mode and builds the client configuration; the rules are those of
/// [`SslMode`]'s documentation.
pub(crate) fn resolve(
    mode: Option<SslMode>,
    roots: Option<RootCerts>,
    custom: Option<ClientConfig>,
) -> Result<TlsSettings, String> {
    if roots.is_some() && custom.is_some() {
        return Err(
            "give either root certificates (sslrootcert, ssl_root_cert_*) or a complete rustls ClientConfig (tls), not both"
                .to_owned(),
        );
    }
    // A root certificate or a whole TLS configuration means TLS was asked for: no
    // mode that could quietly end up in plain text is accepted with either.
    let tls_asked = roots.is_some() || custom.is_some();
    let mode = match mode {
        None if roots.is_some() => SslMode::VerifyFull,
        None if custom.is_some() => SslMode::Require,
        None => SslMode::Prefer,
        Some(m @ (SslMode::Prefer | SslMode::Disable)) if tls_asked => {
            return Err(format!(
                "sslmode={m} can connect in plain text, but a root certificate or TLS configuration was given \
                 to verify the server: use sslmode=verify-full (or verify-ca), or drop the TLS settings"
            ));
        }
        Some(SslMode::Require) if roots.is_some() => SslMode::VerifyCa,
        Some(m @ (SslMode::VerifyCa | SslMode::VerifyFull)) if !tls_asked => {
            return Err(format!(
                "sslmode={m} needs a root certificate: set sslrootcert=<file> in the URL, \
                 ConfigBuilder::ssl_root_cert_file/ssl_root_cert_pem, or a rustls ClientConfig with ConfigBuilder::tls"
            ));
        }
        Some(m) => m,
    };
    let client = if mode == SslMode::Disable {
        None
    } else if let Some(custom) = &custom {
        Some(custom.clone())
    } else {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("the rustls crypto provider is unusable: {e}"))?;
        let store = roots.as_ref().map(RootCerts::load).transpose()?;
        Some(match (mode, store) {
            (SslMode::VerifyFull, Some(store)) => {
                builder.with_root_certificates(store).with_no_client_auth()
            }
            (SslMode::VerifyCa, Some(store)) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly {
                    roots: Arc::new(store),
                    provider,
                }))
                .with_no_client_auth(),
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptionOnly { provider }))
                .with_no_client_auth(),
        })
    };
    Ok(TlsSettings {
        mode,
        roots,
        custom,
        client,
    })
}

/// `verify-ca`: the chain must lead to a configured root; the name is not checked.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

/// `prefer`/`require` without roots: encryption against passive eavesdropping only;
/// the handshake signatures are still checked against the presented certificate.
#[derive(Debug)]
struct EncryptionOnly {
    provider: Arc<CryptoProvider>,
}

macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

impl ServerCertVerifier for EncryptionOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

/// Finds a rustls error in a connection error's chain (tokio-rustls wraps it in an
/// `io::Error`, whose `source()` skips the wrapped error, so look inside).
pub(crate) fn classify(err: &(dyn StdError + 'static)) -> Option<TlsFailure> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        let rustls_err = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(r) = rustls_err {
            return Some(match r {
                rustls::Error::InvalidCertificate(c) => match c {
                    CertificateError::UnknownIssuer
                    | CertificateError::BadSignature
                    | CertificateError::UnsupportedSignatureAlgorithmContext { .. } => {
                        TlsFailure::UnknownIssuer
                    }
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. } => {
                        TlsFailure::HostnameMismatch
                    }
                    CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                        TlsFailure::Expired
                    }
                    CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                        TlsFailure::NotYetValid
                    }
                    _ => TlsFailure::BadCertificate,
                },
                _ => TlsFailure::Handshake,
            });
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(mode: Option<SslMode>, roots: bool, expected: &str) {
        let roots = roots.then(|| RootCerts::Pem(Arc::from(&b"unused"[..])));
        match resolve(mode, roots, None) {
            Err(m) => assert!(m.contains(expected), "{m:?} lacks {expected:?}"),
            Ok(s) => panic!("expected an error containing {expected:?}, got {s:?}"),
        }
    }

    #[test]
    fn modes_without_roots() {
        assert_eq!(resolve(None, None, None).unwrap().mode, SslMode::Prefer);
        let disabled = resolve(Some(SslMode::Disable), None, None).unwrap();
        assert!(disabled.client.is_none());
        let require = resolve(Some(SslMode::Require), None, None).unwrap();
        assert!(require.client.is_some());
        check_err(Some(SslMode::VerifyFull), false, "needs a root certificate");
        check_err(Some(SslMode::VerifyCa), false, "needs a root certificate");
    }

    #[test]
    fn roots_forbid_plain_text_fallback() {
        check_err(Some(SslMode::Prefer), true, "plain text");
        check_err(Some(SslMode::Disable), true, "plain text");
        // The roots are parsed only once the mode is accepted.
        check_err(None, true, "no CERTIFICATE block");
        check_err(Some(SslMode::Require), true, "no CERTIFICATE block");
    }

    #[test]
    fn a_tls_configuration_makes_tls_mandatory() {
        let custom = || {
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        };
        let s = resolve(None, None, Some(custom())).unwrap();
        assert_eq!(s.mode, SslMode::Require);
        let s = resolve(Some(SslMode::VerifyFull), None, Some(custom())).unwrap();
        assert_eq!(s.mode, SslMode::VerifyFull);
        let err = resolve(Some(SslMode::Prefer), None, Some(custom())).unwrap_err();
        assert!(err.contains("plain text"), "{err}");
        let roots = RootCerts::Pem(Arc::from(&b"unused"[..]));
        let err = resolve(None, Some(roots), Some(custom())).unwrap_err();
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn bad_root_files() {
        let missing = RootCerts::File(PathBuf::from("/nonexistent/keel/ca.pem"));
        assert!(
            missing
                .load()
                .unwrap_err()
                .contains("cannot read sslrootcert")
        );
        let garbage = RootCerts::Pem(Arc::from(
            &b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"[..],
        ));
        assert!(garbage.load().is_err());
    }
}
