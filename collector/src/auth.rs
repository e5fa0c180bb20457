//! Who is calling a gRPC service: what the device presents — a verified
//! client certificate or, in plaintext development mode, a bearer secret —
//! checked by the use case ([`crate::app::devices::authenticate`]).

use tonic::{Request, Status};

use crate::app::devices::{self, DeviceAuthError, Presented};
use crate::error::grpc_status;
use crate::pki::device_id_of;
use crate::store::{DeviceCredentials, Store};
use crate::transport::PeerInfo;

/// Identifies the enrolled, unrevoked device making `request`.
///
/// # Errors
/// `UNAUTHENTICATED` without credentials, `PERMISSION_DENIED` for an unknown
/// or revoked device, `UNAVAILABLE` when the store cannot answer.
pub async fn authenticate<T>(
    store: &Store,
    insecure_dev: bool,
    request: &Request<T>,
) -> Result<DeviceCredentials, Status> {
    let presented = presented(insecure_dev, request).map_err(|error| grpc_status(&error))?;
    devices::authenticate(store, presented)
        .await
        .map_err(|error| grpc_status(&error))
}

/// What `request` presents.
fn presented<T>(insecure_dev: bool, request: &Request<T>) -> Result<Presented, DeviceAuthError> {
    let peer = request.extensions().get::<PeerInfo>();
    match peer.and_then(|p| p.client_certificate.as_ref()) {
        Some(certificate) => Ok(Presented::Certificate {
            device_id: device_id_of(certificate).ok_or(DeviceAuthError::NoDeviceInCertificate)?,
        }),
        None if insecure_dev => bearer_credentials(request),
        None => Err(DeviceAuthError::CertificateRequired),
    }
}

/// `authorization: Bearer DEVICE_ID:SECRET`.
fn bearer_credentials<T>(request: &Request<T>) -> Result<Presented, DeviceAuthError> {
    let missing = || DeviceAuthError::CredentialsRequired;
    let header = request
        .metadata()
        .get("authorization")
        .ok_or_else(missing)?;
    let value = header.to_str().map_err(|_| missing())?;
    let credentials = value.strip_prefix("Bearer ").ok_or_else(missing)?;
    let (id, secret) = credentials.split_once(':').ok_or_else(missing)?;
    Ok(Presented::Bearer {
        device_id: id.to_owned(),
        secret: secret.to_owned(),
    })
}
