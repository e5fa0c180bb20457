//! The connection to the collector: gRPC over TLS 1.3 pinned to the
//! collector's CA, with the device's client certificate once enrolled; or
//! plaintext with a bearer secret for a collector in development mode.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sobrio_proto::v1::enrollment_client::EnrollmentClient;
use sobrio_proto::v1::ingest_client::IngestClient;
use sobrio_proto::v1::{
    EnrollRequest, EnrollResponse, EvaluatePseudonymsRequest, EvaluatePseudonymsResponse,
    GetPolicyRequest, Policy, RenewRequest, RenewResponse, SubmitRequest, SubmitResponse,
};
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Request, Status};

/// Largest message the agent sends or accepts.
const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// Errors connecting to the collector.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("invalid collector URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("invalid CA certificate: {0}")]
    Ca(String),
    #[error("invalid client certificate or key: {0}")]
    Identity(String),
    #[error("cannot connect to the collector at {url}: {source}")]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
}

/// Where and how to reach the collector.
#[derive(Debug, Clone)]
pub struct CollectorEndpoint {
    /// `https://host:port` or `http://host:port`.
    pub url: String,
    /// The CA to pin (PEM); required for https.
    pub ca_pem: Option<String>,
    /// The device's certificate and key (PEM), once enrolled.
    pub identity: Option<(String, String)>,
    /// `DEVICE_ID:SECRET` for a plaintext development collector.
    pub bearer: Option<String>,
}

/// A connected collector client.
#[derive(Debug, Clone)]
pub struct CollectorClient {
    channel: Channel,
    bearer: Option<String>,
}

/// The rustls provider of the whole workspace: ring.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration: TLS 1.3 only, the CA pinned, ALPN h2.
///
/// # Errors
/// When the CA or identity does not parse.
pub fn client_tls_config(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<rustls::ClientConfig, TransportError> {
    let mut roots = RootCertStore::empty();
    let mut found = false;
    for certificate in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let certificate = certificate.map_err(|e| TransportError::Ca(e.to_string()))?;
        roots
            .add(certificate)
            .map_err(|e| TransportError::Ca(e.to_string()))?;
        found = true;
    }
    if !found {
        return Err(TransportError::Ca("no certificate in the CA file".into()));
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TransportError::Ca(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((certificate_pem, key_pem)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(certificate_pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| TransportError::Identity(e.to_string()))?;
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                .map_err(|e| TransportError::Identity(e.to_string()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TransportError::Identity(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

impl CollectorClient {
    /// Connects to the collector.
    ///
    /// # Errors
    /// When the URL, CA or identity is invalid, or the collector cannot be
    /// reached.
    pub async fn connect(endpoint: &CollectorEndpoint) -> Result<Self, TransportError> {
        let bad_url = |reason: &str| TransportError::Url {
            url: endpoint.url.clone(),
            reason: reason.into(),
        };
        let uri: Uri = endpoint
            .url
            .parse()
            .map_err(|_| bad_url("expected https://host:port"))?;
        let host = uri.host().ok_or_else(|| bad_url("no host"))?.to_owned();
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(bad_url(
                    "expected https://host:port (or http:// in development mode)",
                ));
            }
        };
        let port = uri.port_u16().unwrap_or(50051);
        // The connector below does TLS itself; tonic sees a plain h2 endpoint.
        let plain = Endpoint::from_shared(format!("http://{}", authority(&host, port)))
            .map_err(|_| bad_url("invalid host or port"))?
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(false);
        let connect = |source| TransportError::Connect {
            url: endpoint.url.clone(),
            source,
        };
        let channel = if tls {
            let ca = endpoint
                .ca_pem
                .as_deref()
                .ok_or_else(|| TransportError::Ca("a CA is required for https".into()))?;
            let identity = endpoint
                .identity
                .as_ref()
                .map(|(c, k)| (c.as_str(), k.as_str()));
            let config = Arc::new(client_tls_config(ca, identity)?);
            let server_name = ServerName::try_from(host.clone())
                .map_err(|_| bad_url("invalid host name"))?
                .to_owned();
            let connector = tower::service_fn(move |_: Uri| {
                let config = config.clone();
                let server_name = server_name.clone();
                let address = (host.clone(), port);
                async move {
                    let tcp = TcpStream::connect(address).await?;
                    tcp.set_nodelay(true)?;
                    let tls = tokio_rustls::TlsConnector::from(config)
                        .connect(server_name, tcp)
                        .await?;
                    Ok::<_, std::io::Error>(TokioIo::new(tls))
                }
            });
            plain
                .connect_with_connector(connector)
                .await
                .map_err(connect)?
        } else {
            plain.connect().await.map_err(connect)?
        };
        Ok(Self {
            channel,
            bearer: endpoint.bearer.clone(),
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(bearer) = &self.bearer
            && let Ok(value) = format!("Bearer {bearer}").parse()
        {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    /// `Enrollment.Enroll`.
    ///
    /// # Errors
    /// The collector's status.
    pub async fn enroll(&self, message: EnrollRequest) -> Result<EnrollResponse, Status> {
        let mut client = EnrollmentClient::new(self.channel.clone());
        Ok(client.enroll(self.request(message)).await?.into_inner())
    }

    /// `Enrollment.Renew`.
    ///
    /// # Errors
    /// The collector's status.
    pub async fn renew(&self, csr_pem: String) -> Result<RenewResponse, Status> {
        let mut client = EnrollmentClient::new(self.channel.clone());
        Ok(client
            .renew(self.request(RenewRequest { csr_pem }))
            .await?
            .into_inner())
    }

    /// `Ingest.Submit` with encoded reports.
    ///
    /// # Errors
    /// The collector's status.
    pub async fn submit(&self, reports: Vec<Vec<u8>>) -> Result<SubmitResponse, Status> {
        let mut client = IngestClient::new(self.channel.clone())
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        Ok(client
            .submit(self.request(SubmitRequest { reports }))
            .await?
            .into_inner())
    }

    /// `Ingest.EvaluatePseudonyms` with blinded elements.
    ///
    /// # Errors
    /// The collector's status.
    pub async fn evaluate_pseudonyms(
        &self,
        blinded_elements: Vec<Vec<u8>>,
    ) -> Result<EvaluatePseudonymsResponse, Status> {
        let mut client = IngestClient::new(self.channel.clone());
        Ok(client
            .evaluate_pseudonyms(self.request(EvaluatePseudonymsRequest { blinded_elements }))
            .await?
            .into_inner())
    }

    /// `Ingest.GetPolicy`.
    ///
    /// # Errors
    /// The collector's status.
    pub async fn get_policy(&self) -> Result<Policy, Status> {
        let mut client = IngestClient::new(self.channel.clone());
        Ok(client
            .get_policy(self.request(GetPolicyRequest {}))
            .await?
            .into_inner())
    }
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
