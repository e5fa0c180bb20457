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
        if !crate::secret::same_secret(digest, &credentials.bearer_secret_sha256) {
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

/// Why a change to a device was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("no device with id {0:?}")]
    Unknown(String),
    #[error("a device may report 1 to 50 people a week, not {0}")]
    PeopleBound(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Coded for DeviceError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Unknown(_) => ErrorCode::NotFound,
            Self::PeopleBound(_) => ErrorCode::InvalidArgument,
            Self::Store(error) => error.code(),
        }
    }
}

/// Revokes a device: its next call is refused. Audited as `device.revoke`.
///
/// # Errors
/// An unknown device, or a store error.
pub async fn revoke(
    store: &Store,
    device_id: &str,
    actor: &str,
    now_unix_ms: i64,
) -> Result<(), DeviceError> {
    if !store.revoke_device(device_id, now_unix_ms).await? {
        return Err(DeviceError::Unknown(device_id.to_owned()));
    }
    store
        .audit(now_unix_ms, actor, "device.revoke", device_id, "")
        .await?;
    Ok(())
}

/// Erases a device and everything it reported; audited as
/// `device.forget`.
///
/// # Errors
/// An unknown device, or a store error.
pub async fn forget(
    store: &Store,
    device_id: &str,
    actor: &str,
    now_unix_ms: i64,
) -> Result<(), DeviceError> {
    if !store.forget_device(device_id, actor, now_unix_ms).await? {
        return Err(DeviceError::Unknown(device_id.to_owned()));
    }
    Ok(())
}

/// Sets how many people a shared device may report a week (`None`: the
/// configured default); audited as `device.shared`.
///
/// # Errors
/// A bound outside 1 to 50, an unknown device, or a store error.
pub async fn set_people_bound(
    store: &Store,
    device_id: &str,
    max_people: Option<u32>,
    actor: &str,
    now_unix_ms: i64,
) -> Result<(), DeviceError> {
    if let Some(bound) = max_people
        && !(1..=50).contains(&bound)
    {
        return Err(DeviceError::PeopleBound(bound));
    }
    if !store.set_device_max_people(device_id, max_people).await? {
        return Err(DeviceError::Unknown(device_id.to_owned()));
    }
    let bound = max_people.map_or_else(|| "the default".to_owned(), |n| n.to_string());
    store
        .audit(
            now_unix_ms,
            actor,
            "device.shared",
            device_id,
            &format!("max people: {bound}"),
        )
        .await?;
    Ok(())
}
