//! The dashboards and the API over HTTPS without a proxy: a real TLS client
//! (rustls, trusting the organisation's CA only) gets answers with HSTS over
//! TLS 1.3 and 1.2; a certificate renewed on disk is served to the next
//! connections while requests go on, none failing; plain HTTP gets no page.
//! Behind a reverse proxy, forwarding headers count from trusted addresses
//! only; plain HTTP beyond loopback without either is refused at start.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, ServerName};
use sobrio_tests::{CollectorProcess, http_exchange, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The organisation's CA and a leaf for 127.0.0.1 and localhost it signs.
struct Pki {
    ca: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test organisation CA");
        let ca = params.self_signed(&key).unwrap();
        Self {
            ca,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf (certificate PEM, key PEM, DER).
    fn leaf(&self) -> (String, String, CertificateDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let leaf = params.signed_by(&key, &self.issuer).unwrap();
        (leaf.pem(), key.serialize_pem(), leaf.der().clone())
    }
}

/// Writes a certificate, its key and a configuration serving them.
fn https_config(
    config: &std::path::Path,
    (cert, cert_pem): (&std::path::Path, &str),
    (key, key_pem): (&std::path::Path, &str),
) {
    std::fs::write(cert, cert_pem).unwrap();
    std::fs::write(key, key_pem).unwrap();
    std::fs::write(
        config,
        format!(
            "[server]\nhttps_certificate_file = {:?}\nhttps_key_file = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    )
    .unwrap();
}

/// Replaces a file as renewal tools do: written beside, renamed over.
fn replace(path: &std::path::Path, text: &str) {
    let partial = path.with_extension("new");
    std::fs::write(&partial, text).unwrap();
    std::fs::rename(&partial, path).unwrap();
}

/// One HTTPS GET on a new connection: (status line and headers, the
/// certificate the server presented).
async fn get(
    addr: &str,
    path: &str,
    client: &Arc<rustls::ClientConfig>,
) -> std::io::Result<(String, CertificateDer<'static>)> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(client.clone());
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await?;
    Ok((String::from_utf8_lossy(&response).into_owned(), presented))
}

fn client(
    ca: &rcgen::Certificate,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    // Every connection a full handshake: a resumed session would report
    // the certificate of the session it resumes.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_with_hsts_and_takes_a_renewal_up_during_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (cert_pem, key_pem, first) = pki.leaf();
    let (cert, key) = (dir.path().join("https.pem"), dir.path().join("https.key"));
    let config = dir.path().join("collector.toml");
    https_config(&config, (&cert, &cert_pem), (&key, &key_pem));
    let data = dir.path().join("data");
    let collector =
        CollectorProcess::serve_with_config(data.to_str().unwrap(), config.to_str().unwrap());
    let addr = collector.http_addr.clone();

    // TLS 1.3 and 1.2, the organisation's CA trusted: answers with HSTS.
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let (response, presented) = get(&addr, "/healthz", &client(&pki.ca, versions))
            .await
            .unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("strict-transport-security: max-age=31536000"),
            "{response}"
        );
        assert_eq!(presented, first);
    }
    // The login page's cookie is Secure over HTTPS.
    let tls13 = client(&pki.ca, &[&rustls::version::TLS13]);
    let (login, _) = get(&addr, "/login", &tls13).await.unwrap();
    assert!(login.contains("Secure"), "{login}");
    // Plain HTTP on the HTTPS port gets no page.
    let plain = std::thread::spawn({
        let addr = addr.clone();
        move || {
            use std::io::{Read, Write};
            let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let _ = tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
            let mut answer = Vec::new();
            let _ = tcp.read_to_end(&mut answer);
            answer
        }
    })
    .join()
    .unwrap();
    assert!(
        !String::from_utf8_lossy(&plain).contains("200 OK"),
        "{}",
        String::from_utf8_lossy(&plain)
    );

    // Requests go on while the certificate is renewed on disk.
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let traffic = tokio::spawn({
        let (addr, tls13, stop) = (addr.clone(), tls13.clone(), stop.clone());
        let (served, failed) = (served.clone(), failed.clone());
        async move {
            while !stop.load(Ordering::SeqCst) {
                match get(&addr, "/healthz", &tls13).await {
                    Ok((response, _)) if response.starts_with("HTTP/1.1 200") => {
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }
    });
    let (renewed_pem, renewed_key, renewed) = pki.leaf();
    // The key first, then the certificate: between the two the files do
    // not match, and the certificate in service stays.
    replace(&key, &renewed_key);
    replace(&cert, &renewed_pem);
    let mut seen = first.clone();
    for _ in 0..600 {
        seen = get(&addr, "/healthz", &tls13).await.unwrap().1;
        if seen == renewed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    traffic.await.unwrap();
    assert_eq!(seen, renewed, "the renewed certificate is served");
    assert!(served.load(Ordering::SeqCst) > 0);
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed during the renewal"
    );
    // The metric follows the certificate served.
    let (metrics, _) = get(&addr, "/metrics", &tls13).await.unwrap();
    assert!(
        metrics.lines().any(|l| l
            .starts_with("sobrio_https_certificate_not_after_timestamp_seconds ")
            && !l.ends_with(" 0")),
        "{metrics}"
    );
    drop(collector);
}

#[test]
fn forwarding_headers_count_from_trusted_proxies_only() {
    let dir = tempfile::tempdir().unwrap();
    // Behind a proxy on this machine: its X-Forwarded-Proto is believed.
    let config = dir.path().join("proxied.toml");
    std::fs::write(
        &config,
        "[server]\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\n",
    )
    .unwrap();
    let proxied = CollectorProcess::serve_with_config(
        dir.path().join("a").to_str().unwrap(),
        config.to_str().unwrap(),
    );
    let forwarded = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-For", "198.51.100.7"),
    ];
    let (status, headers, _) = http_exchange(&proxied.http_addr, "GET", "/login", &forwarded, "");
    assert_eq!(status, 200);
    let header = |headers: &[(String, String)], name: &str| {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        header(&headers, "strict-transport-security"),
        ["max-age=31536000"]
    );
    assert!(
        header(&headers, "set-cookie")
            .iter()
            .all(|c| c.contains("Secure"))
    );
    drop(proxied);

    // Not a trusted proxy: the same headers are ignored.
    let direct = CollectorProcess::serve(dir.path().join("b").to_str().unwrap(), &[]);
    let (status, headers, _) = http_exchange(&direct.http_addr, "GET", "/login", &forwarded, "");
    assert_eq!(status, 200);
    assert!(header(&headers, "strict-transport-security").is_empty());
    assert!(
        header(&headers, "set-cookie")
            .iter()
            .all(|c| !c.contains("Secure"))
    );
    drop(direct);

    // Plain HTTP beyond loopback, without HTTPS or a proxy: refused at
    // start, naming the key.
    let config = dir.path().join("open.toml");
    std::fs::write(&config, "[server]\nhttp_addr = \"0.0.0.0:8080\"\n").unwrap();
    let refused = run(
        "sobrio-collector",
        &["config", "check", config.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(64));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("http_addr") && said.contains("https_certificate_file"),
        "{said}"
    );
    // A key that does not match its certificate: refused too.
    let pki = Pki::new();
    let (cert_pem, _, _) = pki.leaf();
    let (_, other_key, _) = pki.leaf();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("c.key"));
    https_config(&config, (&cert, &cert_pem), (&key, &other_key));
    let refused = run(
        "sobrio-collector",
        &["config", "check", config.to_str().unwrap()],
    );
    assert_eq!(
        refused.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does not match"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
