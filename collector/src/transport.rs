//! The gRPC listener: TLS 1.3 only, with an optional client certificate.
//!
//! The rustls configuration asks every client for a certificate signed by the
//! collector CA but lets the handshake finish without one, so that `Enroll`
//! works on the same port; the services then require a verified certificate on
//! every other call. Handshakes run on their own tasks so a slow client never
//! holds up the accept loop. Plaintext is only for `--insecure-dev`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

/// How long a client may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the services learn about the connection a call came on.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub remote_addr: Option<SocketAddr>,
    /// The client certificate, verified against the CA by rustls; `None` when
    /// the client sent none (or the connection is plaintext).
    pub client_certificate: Option<CertificateDer<'static>>,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// An accepted connection, TLS or (development only) plaintext.
pub enum Conn {
    Tls(Box<TlsStream<TcpStream>>, PeerInfo),
    Plain(TcpStream, PeerInfo),
}

impl Connected for Conn {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        match self {
            Self::Tls(_, info) | Self::Plain(_, info) => info.clone(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tls(stream, _) => Pin::new(stream.as_mut()).poll_read(cx, buf),
            Self::Plain(stream, _) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tls(stream, _) => Pin::new(stream.as_mut()).poll_write(cx, buf),
            Self::Plain(stream, _) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tls(stream, _) => Pin::new(stream.as_mut()).poll_flush(cx),
            Self::Plain(stream, _) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tls(stream, _) => Pin::new(stream.as_mut()).poll_shutdown(cx),
            Self::Plain(stream, _) => Pin::new(stream).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tls(stream, _) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
            Self::Plain(stream, _) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tls(stream, _) => stream.is_write_vectored(),
            Self::Plain(stream, _) => stream.is_write_vectored(),
        }
    }
}

/// Errors building the TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("invalid TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("invalid client CA: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
}

/// The rustls provider of the whole workspace: ring.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's rustls configuration: TLS 1.3 only, ALPN h2, client
/// certificates verified against `client_ca` but optional at the handshake.
///
/// # Errors
/// When the certificate or key is unusable.
pub fn server_tls_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: CertificateDer<'static>,
) -> Result<rustls::ServerConfig, TransportError> {
    let provider = crypto_provider();
    let mut roots = RootCertStore::empty();
    roots.add(client_ca)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Accepts connections on `listener`, completing TLS handshakes (when `tls`
/// is given) on their own tasks, and yields them to tonic.
pub fn incoming(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> ReceiverStream<io::Result<Conn>> {
    let (sender, receiver) = mpsc::channel(128);
    let acceptor = tls.map(TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                // The server shut down: stop listening.
                () = sender.closed() => break,
            };
            let (stream, remote_addr) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let sender = sender.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let conn = match acceptor {
                    None => Conn::Plain(
                        stream,
                        PeerInfo {
                            remote_addr: Some(remote_addr),
                            client_certificate: None,
                            tls: false,
                        },
                    ),
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                        let stream = match handshake {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                tracing::info!(peer = %remote_addr, %error, "TLS handshake refused");
                                return;
                            }
                            Err(_) => {
                                tracing::info!(peer = %remote_addr, "TLS handshake timed out");
                                return;
                            }
                        };
                        let client_certificate = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|chain| chain.first())
                            .map(|certificate| certificate.clone().into_owned());
                        let info = PeerInfo {
                            remote_addr: Some(remote_addr),
                            client_certificate,
                            tls: true,
                        };
                        Conn::Tls(Box::new(stream), info)
                    }
                };
                // The receiver is gone only when the server shuts down.
                let _ = sender.send(Ok(conn)).await;
            });
        }
    });
    ReceiverStream::new(receiver)
}
