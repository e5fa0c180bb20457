//! Who is calling: the device behind a verified client certificate, or, in
//! plaintext development mode, behind a bearer secret.

use tonic::{Request, Status};

use crate::pki::device_id_of;
use crate::store::{DeviceCredentials, Store, rfc3339};
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
    let peer = request.extensions().get::<PeerInfo>();
    let (device_id, bearer_secret) = match peer.and_then(|p| p.client_certificate.as_ref()) {
        Some(certificate) => {
            let id = device_id_of(certificate)
                .ok_or_else(|| Status::unauthenticated("the client certificate names no device"))?;
            (id, None)
        }
        None if insecure_dev => bearer_credentials(request)?,
        None => {
            return Err(Status::unauthenticated(
                "a client certificate is required for this call: enroll the device first \
                 (sobrio-agent enroll)",
            ));
        }
    };
    let credentials = store
        .device_credentials(&device_id)
        .await
        .map_err(|error| {
            tracing::error!(%error, "device lookup failed");
            Status::unavailable("the collector's store is unavailable: retry later")
        })?;
    let Some(credentials) = credentials else {
        return Err(Status::permission_denied(format!(
            "device {device_id} is not enrolled with this collector: enroll it again"
        )));
    };
    if let Some(secret) = bearer_secret
        && ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref()
            != credentials.bearer_secret_sha256.as_slice()
    {
        return Err(Status::unauthenticated(
            "wrong bearer secret for this device",
        ));
    }
    if let Some(revoked) = credentials.revoked_unix_ms {
        return Err(Status::permission_denied(format!(
            "device {device_id} was revoked at {}: enroll it again with a new token",
            rfc3339(revoked)
        )));
    }
    Ok(credentials)
}

/// `authorization: Bearer DEVICE_ID:SECRET`.
fn bearer_credentials<T>(request: &Request<T>) -> Result<(String, Option<String>), Status> {
    let missing = || {
        Status::unauthenticated(
            "credentials required: a client certificate, or in development mode \
             `authorization: Bearer DEVICE_ID:SECRET`",
        )
    };
    let header = request
        .metadata()
        .get("authorization")
        .ok_or_else(missing)?;
    let value = header.to_str().map_err(|_| missing())?;
    let credentials = value.strip_prefix("Bearer ").ok_or_else(missing)?;
    let (id, secret) = credentials.split_once(':').ok_or_else(missing)?;
    Ok((id.to_owned(), Some(secret.to_owned())))
}
