//! HTTPS for the dashboards and the API, without a proxy: the certificate
//! and key files an organisation's PKI (or ACME client) renews are served
//! over TLS 1.2 and 1.3, and taken up again when they change (checked every
//! few seconds) or on SIGHUP. A renewal that does not load (a key that does
//! not match, a half-written file) is logged and the certificate in service
//! stays; connections in progress keep theirs.
//!
//! In front of every request, [`front`] says where it came from: over TLS
//! here, or through a trusted reverse proxy (`server.trusted_proxies`),
//! whose `X-Forwarded-For` and `X-Forwarded-Proto` are then believed, and
//! only then. Plain HTTP is answered only on loopback; HTTPS answers carry
//! HSTS.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TrustedProxies;
use crate::metrics::Metrics;

/// How often the files are looked at for a renewal.
pub const WATCH_EVERY: Duration = Duration::from_secs(5);

/// HSTS: browsers come back over HTTPS for a year.
const HSTS: &str = "max-age=31536000";

/// Why a certificate was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("{path} holds no usable PEM private key: {reason}")]
    NoKey { path: String, reason: String },
    #[error("the key in {key} does not match the certificate in {certificate}: {reason}")]
    Mismatch {
        certificate: String,
        key: String,
        reason: String,
    },
}

/// What identifies a version of the files: their modification times and
/// sizes.
type Stamp = Option<(SystemTime, u64, SystemTime, u64)>;

/// The certificate served, reloaded from its files.
#[derive(Debug)]
pub struct HttpsCertificate {
    certificate_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files as last loaded.
    stamp: Mutex<Stamp>,
    /// When the certificate served expires, Unix seconds.
    not_after: Mutex<i64>,
}

fn stamp(certificate: &Path, key: &Path) -> Stamp {
    let of = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    let (c, k) = (of(certificate)?, of(key)?);
    Some((c.0, c.1, k.0, k.1))
}

/// Reads and checks a certificate chain and its key.
fn read(certificate: &Path, key: &Path) -> Result<(CertifiedKey, i64), HttpsError> {
    let text = |path: &Path| {
        std::fs::read(path).map_err(|source| HttpsError::Read {
            path: path.display().to_string(),
            source,
        })
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text(certificate)?)
        .filter_map(Result::ok)
        .collect();
    let Some(leaf) = chain.first() else {
        return Err(HttpsError::NoCertificate {
            path: certificate.display().to_string(),
        });
    };
    let not_after = crate::pki::not_after_unix_secs(leaf).unwrap_or(0);
    let private = PrivateKeyDer::from_pem_slice(&text(key)?).map_err(|e| HttpsError::NoKey {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let certified =
        CertifiedKey::from_der(chain, private, &provider).map_err(|e| HttpsError::Mismatch {
            certificate: certificate.display().to_string(),
            key: key.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok((certified, not_after))
}

impl HttpsCertificate {
    /// Loads the certificate chain and key files.
    ///
    /// # Errors
    /// A file that cannot be read, holds no certificate or key, or a key
    /// that does not match the certificate.
    pub fn load(certificate_file: &Path, key_file: &Path) -> Result<Arc<Self>, HttpsError> {
        let before = stamp(certificate_file, key_file);
        let (certified, not_after) = read(certificate_file, key_file)?;
        Ok(Arc::new(Self {
            certificate_file: certificate_file.to_owned(),
            key_file: key_file.to_owned(),
            current: RwLock::new(Arc::new(certified)),
            stamp: Mutex::new(before),
            not_after: Mutex::new(not_after),
        }))
    }

    /// When the certificate served expires, Unix seconds (0: unknown).
    pub fn not_after(&self) -> i64 {
        *self.not_after.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads the files again if they changed (or always, with `force`):
    /// `Ok(true)` when a new certificate is served.
    ///
    /// # Errors
    /// The new files do not load: the certificate in service stays.
    pub fn reload(&self, force: bool) -> Result<bool, HttpsError> {
        let now = stamp(&self.certificate_file, &self.key_file);
        {
            let seen = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *seen == now {
                return Ok(false);
            }
        }
        let loaded = read(&self.certificate_file, &self.key_file);
        // Whatever the outcome, this version of the files was looked at:
        // a broken renewal is reported once, not every few seconds.
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = now;
        let (certified, not_after) = loaded?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(certified);
        *self.not_after.lock().unwrap_or_else(|e| e.into_inner()) = not_after;
        Ok(true)
    }

    /// The TLS configuration of the HTTP listener: TLS 1.2 and 1.3, this
    /// certificate (as reloaded), HTTP/1.1.
    ///
    /// # Panics
    /// Never: the protocol versions are ring's own.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Takes renewals up until `shutdown`: every [`WATCH_EVERY`] when the
    /// files changed, and on SIGHUP whatever they look like; the metrics
    /// follow the certificate served.
    pub async fn watch(
        self: Arc<Self>,
        metrics: Arc<Metrics>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        metrics.set_https_not_after(self.not_after());
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            let force = tokio::select! {
                () = tokio::time::sleep(WATCH_EVERY) => false,
                Some(()) = async {
                    match &mut hangup {
                        Some(signal) => signal.recv().await,
                        None => std::future::pending().await,
                    }
                } => true,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.reload(force)).await {
                Ok(Ok(true)) => {
                    metrics.set_https_not_after(self.not_after());
                    tracing::info!(
                        certificate = %self.certificate_file.display(),
                        not_after = self.not_after(),
                        "HTTPS certificate reloaded"
                    );
                }
                Ok(Ok(false)) => {}
                Ok(Err(error)) => tracing::error!(
                    %error,
                    "the renewed HTTPS certificate does not load: the previous one is still served"
                ),
                Err(error) => tracing::error!(%error, "the HTTPS reload failed"),
            }
        }
    }
}

impl ResolvesServerCert for HttpsCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// How a request reached the collector, as [`crate::http::serve`] saw the
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    /// Over TLS, here.
    pub tls: bool,
}

/// Where the front looks: the trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct Front {
    pub proxies: TrustedProxies,
    /// Development (`insecure_dev`): plain HTTP from anywhere.
    pub insecure_dev: bool,
}

/// The client behind a trusted proxy: the rightmost `X-Forwarded-For`
/// address that is not itself a trusted proxy.
fn forwarded_client(headers: &axum::http::HeaderMap, proxies: &TrustedProxies) -> Option<IpAddr> {
    let list: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    list.into_iter().rev().find(|a| !proxies.contains(*a))
}

/// Decides, for each request, whether it came over HTTPS and from which
/// client: forwarding headers are believed from trusted proxies only (and
/// removed from anyone else's requests); the client address becomes the
/// one the proxy names. Plain HTTP from beyond this machine is refused,
/// but for health checks and scrapes; HTTPS answers carry HSTS.
pub async fn front(State(front): State<Arc<Front>>, mut request: Request, next: Next) -> Response {
    let tls = request
        .extensions()
        .get::<Transport>()
        .is_some_and(|t| t.tls);
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let trusted = peer.is_some_and(|p| front.proxies.contains(p.ip()));
    let headers = request.headers_mut();
    let proxied_https = trusted
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let client = if trusted {
        forwarded_client(headers, &front.proxies)
    } else {
        None
    };
    // What the pages read: set here, from what is known, never from the
    // client's say.
    headers.remove("x-forwarded-for");
    headers.remove("x-forwarded-proto");
    let https = tls || proxied_https;
    if https {
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    }
    if let (Some(client), Some(peer)) = (client, peer) {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
    }
    let local = peer.is_some_and(|p| p.ip().is_loopback());
    // Health checks and scrapes carry no session: load balancers and
    // Prometheus may ask over plain HTTP (`/metrics` has its own token).
    let probe = matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics");
    if !https && !local && !probe && !front.insecure_dev {
        return (
            StatusCode::FORBIDDEN,
            "plain HTTP is served on this machine only: use the collector's HTTPS address\n",
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    if https {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (certificate.pem(), key.serialize_pem())
    }

    #[test]
    fn a_renewal_is_taken_up_and_a_broken_one_leaves_the_certificate_in_service() {
        let dir = tempfile::tempdir().unwrap();
        let (certificate, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let (first_cert, first_key) = pair("first.example.org");
        std::fs::write(&certificate, &first_cert).unwrap();
        std::fs::write(&key, &first_key).unwrap();
        let https = HttpsCertificate::load(&certificate, &key).unwrap();
        let served = || https.current.read().unwrap().cert[0].clone();
        let first = served();
        assert!(
            !https.reload(false).unwrap(),
            "unchanged files: nothing to do"
        );

        // A renewal: both files replaced.
        let (second_cert, second_key) = pair("second.example.org");
        std::fs::write(&certificate, &second_cert).unwrap();
        std::fs::write(&key, &second_key).unwrap();
        assert!(https.reload(true).unwrap());
        let second = served();
        assert_ne!(first, second);

        // Half a renewal: a certificate whose key is not there yet.
        let (third_cert, _) = pair("third.example.org");
        std::fs::write(&certificate, &third_cert).unwrap();
        let error = https.reload(true).unwrap_err();
        assert!(matches!(error, HttpsError::Mismatch { .. }), "{error}");
        assert_eq!(served(), second, "the certificate in service stays");

        // Files that are not PEM at all.
        std::fs::write(&certificate, b"garbage").unwrap();
        assert!(matches!(
            https.reload(true).unwrap_err(),
            HttpsError::NoCertificate { .. }
        ));
        assert!(HttpsCertificate::load(&certificate, &key).is_err());
    }

    /// A request through `front` from `peer`, over TLS or not, with
    /// `headers`: the status, whether HSTS came back, and the client
    /// address the pages saw.
    async fn through_front(
        path: &str,
        peer: &str,
        tls: bool,
        headers: &[(&str, &str)],
    ) -> (StatusCode, bool, String) {
        use tower::ServiceExt;
        let front = Arc::new(Front {
            proxies: TrustedProxies::parse(&["10.0.0.5".into()]).unwrap(),
            insecure_dev: false,
        });
        let app = axum::Router::new()
            .route(
                "/{*path}",
                axum::routing::get(|ConnectInfo(client): ConnectInfo<SocketAddr>| async move {
                    client.ip().to_string()
                }),
            )
            .layer(axum::middleware::from_fn_with_state(front, super::front));
        let mut request = axum::http::Request::builder().uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(axum::body::Body::empty()).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo::<SocketAddr>(peer.parse().unwrap()));
        request.extensions_mut().insert(Transport { tls });
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let hsts = response
            .headers()
            .contains_key(header::STRICT_TRANSPORT_SECURITY);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        (status, hsts, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn plain_http_from_afar_is_refused_but_for_probes_and_trusted_proxies() {
        // Plain HTTP from another machine: refused, but for health checks.
        let (status, _, _) = through_front("/login", "203.0.113.9:4000", false, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, hsts, _) = through_front("/readyz", "203.0.113.9:4000", false, &[]).await;
        assert_eq!((status, hsts), (StatusCode::OK, false));
        // A forged X-Forwarded-Proto from an untrusted address changes
        // nothing.
        let forged = [
            ("x-forwarded-proto", "https"),
            ("x-forwarded-for", "1.2.3.4"),
        ];
        let (status, _, _) = through_front("/login", "203.0.113.9:4000", false, &forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Over TLS: served with HSTS, the peer as the client.
        let (status, hsts, client) = through_front("/login", "203.0.113.9:4000", true, &[]).await;
        assert_eq!(
            (status, hsts, client.as_str()),
            (StatusCode::OK, true, "203.0.113.9")
        );
        // Through the trusted proxy: HTTPS as it says, the client it names.
        let (status, hsts, client) = through_front("/login", "10.0.0.5:4000", false, &forged).await;
        assert_eq!(
            (status, hsts, client.as_str()),
            (StatusCode::OK, true, "1.2.3.4")
        );
        // On this machine, plain HTTP is served, without HSTS.
        let (status, hsts, _) = through_front("/login", "127.0.0.1:4000", false, &[]).await;
        assert_eq!((status, hsts), (StatusCode::OK, false));
    }

    #[test]
    fn only_trusted_proxies_name_the_client() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        assert!(proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(proxies.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!proxies.contains("11.0.0.1".parse().unwrap()));
        assert!(proxies.contains("::1".parse().unwrap()));
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.7, 10.0.0.2"),
        );
        // The rightmost address that is not a trusted proxy: the client
        // the proxy saw (anything left of it is the client's own say).
        assert_eq!(
            forwarded_client(&headers, &proxies),
            Some("198.51.100.7".parse().unwrap())
        );
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.example.org".into()]).is_err());
    }
}
