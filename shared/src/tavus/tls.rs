//! TLS for the Tavus client: rustls with Mozilla's root set compiled in.
//!
//! reqwest's default verifier loads the system's trust store when the client is built, which the
//! first request of every new execution environment would pay (create-session's cold start). The
//! compiled-in roots are ready-made trust anchors: nothing is read or parsed. Every test that
//! calls the simulator or wiremock builds this configuration.

use std::sync::Arc;

pub(super) fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
