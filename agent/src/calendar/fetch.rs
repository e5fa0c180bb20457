//! Reading calendar sources: local files, or HTTPS GET with the system's
//! trusted roots, redirects followed, size and time bounded.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use rustls_pki_types::ServerName;

/// Bounds on one source.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 16 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

const MAX_REDIRECTS: usize = 5;

/// A URL for messages: scheme and host only (published calendar URLs carry
/// secrets in their path or query).
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}/…")
}

/// Reads a calendar file.
///
/// # Errors
/// A message saying what failed (never the content).
pub async fn file(path: &Path, limits: Limits) -> Result<String, String> {
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("cannot read: {e}"))?;
    if metadata.len() > limits.max_bytes as u64 {
        return Err(format!(
            "larger than {} MiB; export a shorter range",
            limits.max_bytes >> 20
        ));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())
}

fn tls() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(
            "no trusted root certificates found on this system (install ca-certificates)".into(),
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Fetches a calendar over HTTPS (`webcal://` is read as `https://`).
///
/// # Errors
/// A message saying what failed: plain HTTP refused, DNS, TLS, status,
/// size, timeout.
pub async fn https(url: &str, limits: Limits) -> Result<String, String> {
    tokio::time::timeout(limits.timeout, fetch(url, limits))
        .await
        .map_err(|_| format!("no answer within {} s", limits.timeout.as_secs()))?
}

async fn fetch(url: &str, limits: Limits) -> Result<String, String> {
    let config = tls()?;
    let mut url = match url.strip_prefix("webcal://") {
        Some(rest) => format!("https://{rest}"),
        None => url.to_owned(),
    };
    for _ in 0..=MAX_REDIRECTS {
        let uri: hyper::Uri = url.parse().map_err(|_| "not a valid URL".to_owned())?;
        if uri.scheme_str() != Some("https") {
            return Err("only https:// (or webcal://) calendar URLs are read".into());
        }
        let host = uri.host().ok_or("the URL has no host")?.to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let name = ServerName::try_from(host.clone()).map_err(|_| "invalid host name")?;
        let stream = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP: {e}"))?;
        let driver = tokio::spawn(connection);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = hyper::Request::get(path)
            .header(hyper::header::HOST, host.as_str())
            .header(hyper::header::ACCEPT, "text/calendar")
            .header(
                hyper::header::USER_AGENT,
                concat!("sobrio-agent/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(authority) = uri.authority()
            && let Some((userinfo, _)) = authority.as_str().rsplit_once('@')
        {
            use std::fmt::Write as _;
            let mut basic = String::from("Basic ");
            let _ = write!(basic, "{}", base64(userinfo.as_bytes()));
            request = request.header(hyper::header::AUTHORIZATION, basic);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("HTTP: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or("redirect without a location")?;
            url = if location.starts_with("https://") || location.starts_with("http://") {
                location.to_owned()
            } else {
                format!("https://{host}:{port}{location}")
            };
            driver.abort();
            continue;
        }
        if !status.is_success() {
            driver.abort();
            return Err(format!("the server answered {status}"));
        }
        let body = Limited::new(response.into_body(), limits.max_bytes)
            .collect()
            .await
            .map_err(|_| {
                format!(
                    "larger than {} MiB, or the transfer failed",
                    limits.max_bytes >> 20
                )
            })?
            .to_bytes();
        driver.abort();
        return String::from_utf8(body.to_vec()).map_err(|_| "not UTF-8 text".to_owned());
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// Standard base64, for HTTP basic authentication.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_secrets() {
        assert_eq!(
            redact("https://user:pass@cal.example.org/private-abc/basic.ics?token=x"),
            "https://cal.example.org/…"
        );
    }

    #[test]
    fn basic_credentials_are_base64() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[tokio::test]
    async fn plain_http_is_refused_and_large_files_too() {
        let error = https("http://example.org/cal.ics", Limits::default())
            .await
            .unwrap_err();
        assert!(error.contains("only https://"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.ics");
        std::fs::write(&path, vec![b'x'; 2 << 20]).unwrap();
        let limits = Limits {
            max_bytes: 1 << 20,
            ..Limits::default()
        };
        assert!(
            file(&path, limits)
                .await
                .unwrap_err()
                .contains("larger than 1 MiB")
        );
    }
}
