//! Devices: who is calling, from what it presents.

use crate::error::{Coded, ErrorCode};
use crate::store::{DeviceCredentials, Store, StoreError, rfc3339};

/// What a calling device presents.
#[derive(Debug, Clone)]
pub enum Presented {
    /// A client certificate the transport verified, naming the device.
    Certificate { device_id: String },
    /// In plaintext development mode: the device's id and bearer secret.
    Bearer { device_id: String, secret: String },
}

/// Why a device was not recognised.
#[derive(Debug, thiserror::Error)]
pub enum DeviceAuthError {
    #[error("the client certificate names no device")]
    NoDeviceInCertificate,
    #[error(
        "a client certificate is required for this call: enroll the device first \
         (sobrio-agent enroll)"
    )]
    CertificateRequired,
    #[error(
        "credentials required: a client certificate, or in development mode \
         `authorization: Bearer DEVICE_ID:SECRET`"
    )]
    CredentialsRequired,
    #[error("device {0} is not enrolled with this collector: enroll it again")]
    NotEnrolled(String),
    #[error("wrong bearer secret for this device")]
    WrongSecret,
    #[error("device {device_id} was revoked at {at}: enroll it again with a new token")]
    Revoked { device_id: String, at: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Coded for DeviceAuthError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NoDeviceInCertificate
            | Self::CertificateRequired
            | Self::CredentialsRequired
            | Self::WrongSecret => ErrorCode::Unauthenticated,
            Self::NotEnrolled(_) | Self::Revoked { .. } => ErrorCode::PermissionDenied,
            Self::Store(error) => error.code(),
        }
    }
}

/// The enrolled, unrevoked device behind what a caller presents.
///
/// # Errors
/// An unknown or revoked device, a wrong bearer secret, or a store error.
pub async fn authenticate(
    store: &Store,
    presented: Presented,
) -> Result<DeviceCredentials, DeviceAuthError> {
    let (device_id, secret) = match presented {
        Presented::Certificate { device_id } => (device_id, None),
        Presented::Bearer { device_id, secret } => (device_id, Some(secret)),
    };
    let Some(credentials) = store.device_credentials(&device_id).await? else {
        return Err(DeviceAuthError::NotEnrolled(device_id));
    };
    if let Some(secret) = secret {
        let digest = crate::secret::sha256(&secret);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            &digest[..],
            credentials.bearer_secret_sha256.as_slice(),
        )) {
            return Err(DeviceAuthError::WrongSecret);
        }
    }
    if let Some(revoked) = credentials.revoked_unix_ms {
        return Err(DeviceAuthError::Revoked {
            device_id,
            at: rfc3339(revoked),
        });
    }
    Ok(credentials)
}
