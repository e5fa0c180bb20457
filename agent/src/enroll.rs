//! Enrollment: a fresh key that never leaves the device, a CSR, and the
//! collector's answer saved in the state directory. (Renewal, over mTLS, is
//! part of the delivery cycle in `run`.)

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use sobrio_proto::v1::EnrollRequest;

use crate::state::{Enrollment, StateDir, StateError};
use crate::transport::{CollectorClient, CollectorEndpoint, TransportError};

/// Errors of enrollment and renewal.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("cannot make a key or CSR: {0}")]
    Key(#[from] rcgen::Error),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("the collector refused: {}", .0.message())]
    Refused(tonic::Status),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(
        "this device is already enrolled as {device_id} with {server}: pass --force to enroll it again"
    )]
    AlreadyEnrolled { device_id: String, server: String },
}

/// A new key pair and a CSR for it, PEM.
///
/// # Errors
/// When key generation fails.
pub fn key_and_csr(hostname: &str) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, hostname);
    params.distinguished_name = name;
    let csr = params.serialize_request(&key)?.pem()?;
    Ok((key.serialize_pem(), csr))
}

/// Enrolls the device with the collector at `server`, pinning `ca_pem`.
///
/// # Errors
/// When the device is already enrolled (unless `force`), the collector
/// cannot be reached or refuses, or the state cannot be saved.
pub async fn enroll(
    state: &StateDir,
    server: &str,
    token: &str,
    ca_pem: &str,
    hostname: &str,
    force: bool,
) -> Result<Enrollment, EnrollError> {
    if !force && let Some(existing) = state.enrollment()? {
        return Err(EnrollError::AlreadyEnrolled {
            device_id: existing.device_id,
            server: existing.server,
        });
    }
    let (key_pem, csr_pem) = key_and_csr(hostname)?;
    let endpoint = CollectorEndpoint {
        url: server.to_owned(),
        ca_pem: Some(ca_pem.to_owned()),
        identity: None,
        bearer: None,
    };
    let client = CollectorClient::connect(&endpoint).await?;
    let response = client
        .enroll(EnrollRequest {
            token: token.to_owned(),
            csr_pem,
            hostname: hostname.to_owned(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        })
        .await
        .map_err(EnrollError::Refused)?;
    let enrollment = Enrollment {
        device_id: response.device_id,
        server: server.to_owned(),
        department: response.department,
        certificate_not_after_unix_ms: response.certificate_not_after_unix_ms,
        bearer_secret: response.bearer_secret,
    };
    // Keep pinning the CA the handshake was verified against.
    state.save_enrollment(
        &enrollment,
        &key_pem,
        &response.certificate_pem,
        ca_pem,
        response.policy.as_ref(),
    )?;
    Ok(enrollment)
}
