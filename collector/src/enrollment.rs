//! The Enrollment service and enrollment tokens.

use std::sync::Arc;
use std::time::Duration;

use sobrio_proto::v1::enrollment_server::Enrollment;
use sobrio_proto::v1::{EnrollRequest, EnrollResponse, RenewRequest, RenewResponse};
use tonic::{Request, Response, Status};

use crate::app::App;
use crate::auth::authenticate;
use crate::pki::PkiError;
use crate::policy::policy_for;
use crate::secret::{random_secret, sha256};
use crate::store::{
    EnrollError, NewDevice, NewToken, Store, StoreError, TokenRefusal, now_unix_ms,
};

/// Prefix of enrollment tokens, so that a leaked one is recognisable.
const TOKEN_PREFIX: &str = "sbt_";
/// Largest CSR accepted.
const MAX_CSR_BYTES: usize = 16 * 1024;

/// Creates an enrollment token for `department`; returns the token, which is
/// stored only as a digest.
///
/// # Errors
/// On a store error.
pub async fn create_token(
    store: &Store,
    department: &str,
    expires_in: Duration,
    max_uses: Option<i64>,
) -> Result<String, StoreError> {
    let token = format!("{TOKEN_PREFIX}{}", random_secret());
    let now = now_unix_ms();
    let expires_ms = i64::try_from(expires_in.as_millis()).unwrap_or(i64::MAX);
    store
        .create_token(&NewToken {
            sha256: sha256(&token),
            department: department.to_owned(),
            created_unix_ms: now,
            expires_unix_ms: now.saturating_add(expires_ms),
            max_uses,
        })
        .await?;
    Ok(token)
}

/// The Enrollment gRPC service.
#[derive(Clone)]
pub struct EnrollmentService {
    pub(crate) shared: Arc<App>,
}

fn store_unavailable(error: &StoreError) -> Status {
    tracing::error!(%error, "store error during enrollment");
    Status::unavailable("the collector's store is unavailable: retry later")
}

fn certificate_error(error: PkiError) -> Status {
    match error {
        PkiError::InvalidCsr(reason) => {
            Status::invalid_argument(format!("invalid certificate signing request: {reason}"))
        }
        other => {
            tracing::error!(error = %other, "certificate signing failed");
            Status::internal("the collector could not sign the certificate")
        }
    }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), Status> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(Status::invalid_argument(format!(
            "{field} must be 1 to {max} bytes of text without control characters"
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl Enrollment for EnrollmentService {
    async fn enroll(
        &self,
        request: Request<EnrollRequest>,
    ) -> Result<Response<EnrollResponse>, Status> {
        let address = request
            .extensions()
            .get::<crate::transport::PeerInfo>()
            .and_then(|peer| peer.remote_addr)
            .map_or_else(
                || "unknown".to_owned(),
                |addr| crate::limiter::client_network(addr.ip()),
            );
        let limiter = &self.shared.enrollment_limiter;
        let key = format!("address:{address}");
        let request = request.into_inner();
        check_text("token", &request.token, 128)?;
        // Past the limit, an address's unknown tokens are refused before any
        // work (one indexed lookup); a real token still enrolls, so that
        // guesses from one address behind a site's NAT never lock out the
        // site's devices. Tokens are 256 random bits: the block slows
        // scanning, it is not what keeps them secret.
        if let Some(wait) = limiter.blocked(&[(&key, crate::app::ENROLLMENT_REFUSALS_PER_ADDRESS)])
            && !self
                .shared
                .store
                .enrollment_token_known(&sha256(&request.token))
                .await
                .map_err(|error| store_unavailable(&error))?
        {
            limiter.failed(&[&key]);
            tracing::warn!(%address, "enrollment refused: unknown token, too many from this address");
            return Err(Status::resource_exhausted(format!(
                "unknown enrollment token, and too many from {address}: unknown tokens from it are \
                 refused for {} s more; a valid token still enrolls (an administrator creates one \
                 with `sobrio-collector token create`)",
                wait.as_secs().max(1)
            )));
        }
        crate::domain::HostName::parse(&request.hostname)
            .map_err(|error| Status::invalid_argument(error.to_string()))?;
        check_text("agent_version", &request.agent_version, 64)?;
        if request.csr_pem.len() > MAX_CSR_BYTES {
            return Err(Status::invalid_argument("csr_pem is larger than 16 KiB"));
        }
        let shared = &self.shared;
        let device_id = uuid::Uuid::now_v7().to_string();
        let issued = shared
            .ca
            .sign_device_csr(
                &request.csr_pem,
                &device_id,
                shared.client_certificate_validity(),
            )
            .map_err(certificate_error)?;
        let bearer_secret = random_secret();
        let device = NewDevice {
            id: device_id.clone(),
            hostname: request.hostname.clone(),
            agent_version: request.agent_version,
            enrolled_unix_ms: now_unix_ms(),
            certificate_serial: issued.serial,
            certificate_not_after_unix_ms: issued.not_after_unix_ms,
            bearer_secret_sha256: sha256(&bearer_secret),
        };
        let department = match shared
            .store
            .enroll_device(&sha256(&request.token), &device)
            .await
        {
            Ok(department) => department,
            Err(EnrollError::Refused(refusal)) => {
                // Guesses count; a real token that expired, was used up
                // or revoked (a roll-out with an old token) does not.
                if matches!(refusal, TokenRefusal::Unknown) {
                    limiter.failed(&[&key]);
                }
                tracing::info!(hostname = %request.hostname, %address, reason = %refusal, "enrollment refused");
                return Err(Status::unauthenticated(refusal.to_string()));
            }
            Err(EnrollError::Store(error)) => return Err(store_unavailable(&error)),
        };
        tracing::info!(device = %device_id, hostname = %request.hostname, %department, "device enrolled");
        Ok(Response::new(EnrollResponse {
            device_id,
            certificate_pem: issued.certificate_pem,
            ca_chain_pem: shared.ca.certificate_pem().to_owned(),
            certificate_not_after_unix_ms: issued.not_after_unix_ms,
            policy: Some(policy_for(
                &shared.config,
                &department,
                shared.pseudonyms.public_key(),
            )),
            bearer_secret,
            department,
        }))
    }

    async fn renew(
        &self,
        request: Request<RenewRequest>,
    ) -> Result<Response<RenewResponse>, Status> {
        let shared = &self.shared;
        let device =
            authenticate(&shared.store, shared.config.server.insecure_dev, &request).await?;
        let request = request.into_inner();
        if request.csr_pem.len() > MAX_CSR_BYTES {
            return Err(Status::invalid_argument("csr_pem is larger than 16 KiB"));
        }
        let issued = shared
            .ca
            .sign_device_csr(
                &request.csr_pem,
                &device.id,
                shared.client_certificate_validity(),
            )
            .map_err(certificate_error)?;
        shared
            .store
            .record_certificate(&device.id, &issued.serial, issued.not_after_unix_ms)
            .await
            .map_err(|e| store_unavailable(&e))?;
        tracing::info!(device = %device.id, "certificate renewed");
        Ok(Response::new(RenewResponse {
            certificate_pem: issued.certificate_pem,
            ca_chain_pem: shared.ca.certificate_pem().to_owned(),
            certificate_not_after_unix_ms: issued.not_after_unix_ms,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::limiter::client_network;

    #[test]
    fn refusals_count_per_ipv4_address_and_per_ipv6_network() {
        let ip = |text: &str| text.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(client_network(ip("192.0.2.7")), "192.0.2.7");
        assert_eq!(client_network(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(
            client_network(ip("2001:db8:1:2:aaaa::1")),
            client_network(ip("2001:db8:1:2:bbbb::9")),
            "one host hopping inside its /64"
        );
        assert_eq!(client_network(ip("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_ne!(
            client_network(ip("2001:db8:1:2::1")),
            client_network(ip("2001:db8:1:3::1"))
        );
    }
}
