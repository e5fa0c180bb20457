//! The simulated agents' gRPC client: TLS 1.3 pinned to the collector's CA,
//! with the device's certificate — the same path a real agent takes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, ServerName};
use sobrio_proto::v1::enrollment_client::EnrollmentClient;
use sobrio_proto::v1::ingest_client::IngestClient;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::pki::pem_certificates;
use crate::transport::crypto_provider;

/// Connects to the collector at `addr`, pinning `ca_pem`, presenting
/// `identity` (certificate and key, PEM) when given.
///
/// # Errors
/// When the identity does not parse or the collector cannot be reached.
pub async fn connect(
    addr: SocketAddr,
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> anyhow::Result<Channel> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in pem_certificates(ca_pem) {
        roots.add(certificate)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((certificate_pem, key_pem)) => builder.with_client_auth_cert(
            pem_certificates(certificate_pem),
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?,
        )?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let config = Arc::new(config);
    let connector = tower::service_fn(move |_: Uri| {
        let config = config.clone();
        async move {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::IpAddress(addr.ip().into());
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .connect_with_connector(connector)
        .await?;
    Ok(channel)
}

/// Enrollment and Ingest clients on one channel.
pub fn clients(channel: Channel) -> (EnrollmentClient<Channel>, IngestClient<Channel>) {
    (
        EnrollmentClient::new(channel.clone()),
        IngestClient::new(channel).max_encoding_message_size(8 * 1024 * 1024),
    )
}
