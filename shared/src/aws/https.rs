//! The SDK's HTTPS client, trusting the Amazon Trust Services roots and nothing else.
//!
//! By default the SDK's client loads the system's trust store: it opens and parses every file
//! under `/etc/ssl/certs`, which took about three quarters of what a function's init adds to a
//! hello world's (docs/performance.md). Every endpoint this backend calls through the SDK
//! (DynamoDB, Secrets Manager, S3, STS) presents a chain to one of these five roots, so they are
//! bundled instead: five certificates parsed when the first connection is made.

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// Amazon Root CA 1 to 4 and Starfield Services Root Certificate Authority - G2 (which
/// cross-signs them for older clients), as PEM.
pub(crate) const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("amazon-trust-services.pem");

pub(super) fn client() -> SharedHttpClient {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS.as_bytes());
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::AwsLc,
    ));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // `build` cannot fail today (it only stores the trust store); should it ever, the SDK's
        // default TLS context (the system's roots) is slower to start but just as correct.
        Err(_) => builder.build_https(),
    }
}

#[cfg(test)]
mod tests {
    use super::AMAZON_TRUST_SERVICES_ROOTS;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    /// The SDK parses the bundle when it opens its first connection and panics on a bad one:
    /// every certificate in it must parse into a trust anchor now.
    #[test]
    fn every_bundled_root_parses_into_a_trust_anchor() {
        let certs = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(certs.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(certs);
        assert_eq!((added, ignored), (5, 0));
    }
}
