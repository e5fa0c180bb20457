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

/// Most attempts of one call.
const ATTEMPTS: u32 = 8;

/// Whether a status says "try again", as a real agent reads it: the
/// collector or its store busy or restarting, or the connection lost.
fn retryable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted
            | tonic::Code::Unknown
    )
}

/// Makes `call` until it succeeds, fails for good, or has failed
/// [`ATTEMPTS`] times, waiting 100 ms, then twice as long each time (at
/// most 5 s) — as agents retry. Submit is idempotent (report ids), so a
/// retried call stores nothing twice.
///
/// # Errors
/// The last status.
pub async fn retrying<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(status) if retryable(&status) && attempt < ATTEMPTS => {
                tracing::debug!(%status, attempt, "simulated agent retries");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            Err(status) => return Err(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_retryable_status_is_retried_and_a_refusal_is_not() {
        let calls = AtomicU32::new(0);
        let answer = retrying(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(tonic::Status::unavailable("database is locked")),
                1 => Err(tonic::Status::unknown("connection reset")),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(answer.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let refused: Result<(), _> = retrying(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(tonic::Status::invalid_argument("bad report"))
        })
        .await;
        assert_eq!(refused.unwrap_err().code(), tonic::Code::InvalidArgument);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let down: Result<(), _> = retrying(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(tonic::Status::unavailable("down"))
        })
        .await;
        assert_eq!(down.unwrap_err().code(), tonic::Code::Unavailable);
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }
}
