//! The Enrollment gRPC service: parses each call, runs the use case
//! ([`crate::app::enrollment`]), answers with its result or its error's
//! status.

use std::sync::Arc;

use sobrio_proto::v1::enrollment_server::Enrollment;
use sobrio_proto::v1::{EnrollRequest, EnrollResponse, RenewRequest, RenewResponse};
use tonic::{Request, Response, Status};

use crate::app::enrollment::{self, EnrollmentRequest};
use crate::app::{App, now_unix_ms};
use crate::auth::authenticate;
use crate::error::grpc_status;
use crate::policy::policy_for;

/// The Enrollment gRPC service.
#[derive(Clone)]
pub struct EnrollmentService {
    pub(crate) shared: Arc<App>,
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
        let request = request.into_inner();
        let app = &self.shared;
        let enrolled = enrollment::enroll(
            app,
            EnrollmentRequest {
                token: request.token,
                hostname: request.hostname,
                agent_version: request.agent_version,
                csr_pem: request.csr_pem,
                address,
            },
            now_unix_ms(),
        )
        .await
        .map_err(|error| grpc_status(&error))?;
        Ok(Response::new(EnrollResponse {
            device_id: enrolled.device_id,
            certificate_pem: enrolled.certificate.certificate_pem,
            ca_chain_pem: app.ca.certificate_pem().to_owned(),
            certificate_not_after_unix_ms: enrolled.certificate.not_after_unix_ms,
            policy: Some(policy_for(
                &app.config,
                &enrolled.department,
                app.pseudonyms.public_key(),
            )),
            bearer_secret: enrolled.bearer_secret,
            department: enrolled.department,
        }))
    }

    async fn renew(
        &self,
        request: Request<RenewRequest>,
    ) -> Result<Response<RenewResponse>, Status> {
        let app = &self.shared;
        let device = authenticate(&app.store, app.config.server.insecure_dev, &request).await?;
        let certificate = enrollment::renew(app, &device.id, &request.into_inner().csr_pem)
            .await
            .map_err(|error| grpc_status(&error))?;
        Ok(Response::new(RenewResponse {
            certificate_pem: certificate.certificate_pem,
            ca_chain_pem: app.ca.certificate_pem().to_owned(),
            certificate_not_after_unix_ms: certificate.not_after_unix_ms,
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
