//! Enrollment: tokens IT hands out, devices that present one, certificates
//! renewed.

use std::time::Duration;

use crate::app::App;
use crate::domain::HostName;
use crate::error::{Coded, ErrorCode};
use crate::pki::{IssuedCertificate, PkiError};
use crate::secret::{random_secret, sha256};
use crate::store::{EnrollError, NewDevice, NewToken, Store, StoreError, TokenRefusal};

/// Prefix of enrollment tokens, so that a leaked one is recognisable.
const TOKEN_PREFIX: &str = "sbt_";
/// Largest token accepted.
const MAX_TOKEN_BYTES: usize = 128;
/// Largest agent version accepted.
const MAX_AGENT_VERSION_BYTES: usize = 64;
/// Largest CSR accepted.
const MAX_CSR_BYTES: usize = 16 * 1024;

/// Why an enrollment or a renewal was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnrollmentError {
    /// A text field is empty, too long or holds control characters.
    #[error("{field} must be 1 to {max} bytes of text without control characters")]
    Text { field: &'static str, max: usize },
    /// The host name breaks its rule.
    #[error(transparent)]
    HostName(#[from] crate::domain::Invalid),
    /// The CSR is larger than [`MAX_CSR_BYTES`].
    #[error("csr_pem is larger than 16 KiB")]
    CsrTooLarge,
    /// Unknown tokens from this address are refused for a while.
    #[error(
        "unknown enrollment token, and too many from {address}: unknown tokens from it are \
         refused for {wait_secs} s more; a valid token still enrolls (an administrator creates \
         one with `sobrio-collector token create`)"
    )]
    TooManyUnknownTokens { address: String, wait_secs: u64 },
    /// The token is unknown, expired, used up or revoked.
    #[error(transparent)]
    Refused(TokenRefusal),
    /// The CSR is malformed, or signing failed.
    #[error(transparent)]
    Certificate(#[from] PkiError),
    /// The store could not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Coded for EnrollmentError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Text { .. } | Self::HostName(_) | Self::CsrTooLarge => ErrorCode::InvalidArgument,
            Self::TooManyUnknownTokens { .. } => ErrorCode::TooManyRequests,
            Self::Refused(_) => ErrorCode::Unauthenticated,
            Self::Certificate(error) => error.code(),
            Self::Store(error) => error.code(),
        }
    }
}

impl From<EnrollError> for EnrollmentError {
    fn from(error: EnrollError) -> Self {
        match error {
            EnrollError::Refused(refusal) => Self::Refused(refusal),
            EnrollError::Store(error) => Self::Store(error),
        }
    }
}

/// What a device presents to enroll.
#[derive(Debug, Clone)]
pub struct EnrollmentRequest {
    pub token: String,
    pub hostname: String,
    pub agent_version: String,
    pub csr_pem: String,
    /// The client's network ([`crate::limiter::client_network`]), which
    /// unknown tokens count against.
    pub address: String,
}

/// An enrolled device's credentials.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub device_id: String,
    pub certificate: IssuedCertificate,
    /// Shown once, kept as a digest.
    pub bearer_secret: String,
    pub department: String,
}

/// Creates an enrollment token for `department`, valid from `now_unix_ms`
/// for `expires_in`; returns the token, which is stored only as a digest.
/// Audited as `token.create`.
///
/// # Errors
/// On a store error.
pub async fn create_token(
    store: &Store,
    department: &str,
    expires_in: Duration,
    max_uses: Option<i64>,
    actor: &str,
    now_unix_ms: i64,
) -> Result<String, StoreError> {
    let token = format!("{TOKEN_PREFIX}{}", random_secret());
    let expires_ms = i64::try_from(expires_in.as_millis()).unwrap_or(i64::MAX);
    store
        .create_token(&NewToken {
            sha256: sha256(&token),
            department: department.to_owned(),
            created_unix_ms: now_unix_ms,
            expires_unix_ms: now_unix_ms.saturating_add(expires_ms),
            max_uses,
        })
        .await?;
    let uses = max_uses.map_or_else(String::new, |n| format!(", {n} uses"));
    store
        .audit(
            now_unix_ms,
            actor,
            "token.create",
            department,
            &format!("{}{uses}", humantime::format_duration(expires_in)),
        )
        .await?;
    Ok(token)
}

/// Revokes an enrollment token (named by its id, a prefix of its digest):
/// devices no longer enroll with it. Audited as `token.revoke`. `false`
/// when no live token has that id.
///
/// # Errors
/// On a store error.
pub async fn revoke_token(
    store: &Store,
    id: &str,
    actor: &str,
    now_unix_ms: i64,
) -> Result<bool, StoreError> {
    if !store.revoke_enrollment_token(id, now_unix_ms).await? {
        return Ok(false);
    }
    store
        .audit(
            now_unix_ms,
            actor,
            "token.revoke",
            id.get(..12).unwrap_or(id),
            "",
        )
        .await?;
    Ok(true)
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), EnrollmentError> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(EnrollmentError::Text { field, max });
    }
    Ok(())
}

fn check_csr(csr_pem: &str) -> Result<(), EnrollmentError> {
    if csr_pem.len() > MAX_CSR_BYTES {
        return Err(EnrollmentError::CsrTooLarge);
    }
    Ok(())
}

/// Enrolls a device with a token: signs its CSR and keeps the device in the
/// token's department.
///
/// # Errors
/// A malformed field, too many unknown tokens from the address, a token
/// refused, a CSR that does not parse, or a store error.
pub async fn enroll(
    app: &App,
    request: EnrollmentRequest,
    now_unix_ms: i64,
) -> Result<Enrolled, EnrollmentError> {
    let limiter = &app.enrollment_limiter;
    let address = request.address;
    let key = format!("address:{address}");
    check_text("token", &request.token, MAX_TOKEN_BYTES)?;
    let token_sha256 = sha256(&request.token);
    // Past the limit, an address's unknown tokens are refused before any
    // work (one indexed lookup); a real token still enrolls, so that
    // guesses from one address behind a site's NAT never lock out the
    // site's devices. Tokens are 256 random bits: the block slows
    // scanning, it is not what keeps them secret.
    if let Some(wait) = limiter.blocked(&[(&key, super::ENROLLMENT_REFUSALS_PER_ADDRESS)])
        && !app.store.enrollment_token_known(&token_sha256).await?
    {
        limiter.failed(&[&key]);
        tracing::warn!(%address, "enrollment refused: unknown token, too many from this address");
        return Err(EnrollmentError::TooManyUnknownTokens {
            address,
            wait_secs: wait.as_secs().max(1),
        });
    }
    HostName::parse(&request.hostname)?;
    check_text(
        "agent_version",
        &request.agent_version,
        MAX_AGENT_VERSION_BYTES,
    )?;
    check_csr(&request.csr_pem)?;
    let device_id = uuid::Uuid::now_v7().to_string();
    let certificate = app.ca.sign_device_csr(
        &request.csr_pem,
        &device_id,
        app.client_certificate_validity(),
    )?;
    let bearer_secret = random_secret();
    let device = NewDevice {
        id: device_id.clone(),
        hostname: request.hostname.clone(),
        agent_version: request.agent_version,
        enrolled_unix_ms: now_unix_ms,
        certificate_serial: certificate.serial.clone(),
        certificate_not_after_unix_ms: certificate.not_after_unix_ms,
        bearer_secret_sha256: sha256(&bearer_secret),
    };
    let department = match app.store.enroll_device(&token_sha256, &device).await {
        Ok(department) => department,
        Err(EnrollError::Refused(refusal)) => {
            // Guesses count; a real token that expired, was used up or
            // revoked (a roll-out with an old token) does not.
            if matches!(refusal, TokenRefusal::Unknown) {
                limiter.failed(&[&key]);
            }
            tracing::info!(hostname = %request.hostname, %address, reason = %refusal, "enrollment refused");
            return Err(EnrollmentError::Refused(refusal));
        }
        Err(EnrollError::Store(error)) => return Err(error.into()),
    };
    tracing::info!(device = %device_id, hostname = %request.hostname, %department, "device enrolled");
    Ok(Enrolled {
        device_id,
        certificate,
        bearer_secret,
        department,
    })
}

/// Signs a new certificate for an enrolled device and records it.
///
/// # Errors
/// A CSR too large or that does not parse, or a store error.
pub async fn renew(
    app: &App,
    device_id: &str,
    csr_pem: &str,
) -> Result<IssuedCertificate, EnrollmentError> {
    check_csr(csr_pem)?;
    let certificate =
        app.ca
            .sign_device_csr(csr_pem, device_id, app.client_certificate_validity())?;
    app.store
        .record_certificate(
            device_id,
            &certificate.serial,
            certificate.not_after_unix_ms,
        )
        .await?;
    tracing::info!(device = %device_id, "certificate renewed");
    Ok(certificate)
}
