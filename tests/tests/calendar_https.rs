//! A calendar published over HTTPS, read by `sobrio-agent me --calendar
//! https://…`: a real TLS server on loopback with its own CA (trusted through
//! `SSL_CERT_FILE`, as the system's store would be), a redirect on the way,
//! and the same meeting minutes as from the file.

use std::sync::Arc;

use sobrio_collector::pki::CertificateAuthority;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CALENDAR: &str = include_str!("../../agent/tests/fixtures/calendar/week-2026-W44.ics");

/// Serves `/old.ics` as a redirect to `/week.ics`, and `/week.ics`.
async fn serve(listener: tokio::net::TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let mut request = Vec::new();
            let mut buffer = [0_u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let response = match path {
                "/old.ics" => {
                    "HTTP/1.1 302 Found\r\nLocation: /week.ics\r\nContent-Length: 0\r\n\r\n"
                        .to_owned()
                }
                "/week.ics" => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\n\r\n{CALENDAR}",
                    CALENDAR.len()
                ),
                _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
            };
            let _ = tls.write_all(response.as_bytes()).await;
            let _ = tls.shutdown().await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_calendar_is_read_over_https_through_a_redirect() {
    let (ca_pem, ca_key) = CertificateAuthority::generate().unwrap();
    let ca = CertificateAuthority::from_pem(&ca_pem, &ca_key).unwrap();
    let (chain, key) = ca
        .issue_server_certificate(&["localhost".to_owned()])
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(serve(
        listener,
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    ));
    let dir = tempfile::tempdir().unwrap();
    let trusted = dir.path().join("ca.pem");
    std::fs::write(&trusted, &ca_pem).unwrap();

    let me = |url: String| {
        let state = dir.path().join("state");
        let trusted = trusted.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(sobrio_tests::binary("sobrio-agent"))
                .args(["--state-dir", state.to_str().unwrap(), "me", "--json"])
                .args(["--week", "2026-W44", "--calendar", &url])
                .env("TZ", "Europe/Paris")
                .env("SSL_CERT_FILE", &trusted)
                .env("SOBRIO_LOG", "warn")
                .output()
                .unwrap()
        })
    };
    let output = me(format!("https://localhost:{port}/old.ics"))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let days: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(days[1]["date"], "2026-10-27");
    assert_eq!(days[1]["meeting_minutes"], 190, "as from the file");

    // A missing calendar is a note naming the host (never the path, which
    // may hold a secret), not a failure; its fields stay null.
    let output = me(format!("https://localhost:{port}/private-s3cr3t/basic.ics"))
        .await
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("404"), "{stderr}");
    assert!(
        stderr.contains(&format!("https://localhost:{port}/…")),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    let days: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(days[1]["meeting_minutes"].is_null());
}
