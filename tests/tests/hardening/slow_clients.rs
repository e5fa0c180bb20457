//! Slow clients cannot take the collector down: sockets that send part of
//! a request's headers and stall are closed after the header timeout, one
//! address holds a bounded number of connections, and gRPC ingest goes on
//! meanwhile — every call answered.

use std::time::{Duration, Instant};

use sobrio_collector::config::CollectorConfig;
use sobrio_proto::Message;
use sobrio_tests::{TestCollector, valid_report};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Slow sockets the flood opens.
const FLOOD: usize = 300;
const HEADER_TIMEOUT_SECS: u32 = 2;
const PER_ADDRESS: usize = 16;

/// `GET /healthz` from `source`: the status line.
async fn healthz_from(source: &str, http: std::net::SocketAddr) -> String {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(source.parse().unwrap()).unwrap();
    let mut stream = socket.connect(http).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

/// Whether the server closed `stream` (end of stream or reset).
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buffer = [0; 64];
    matches!(
        tokio::time::timeout(Duration::from_millis(10), stream.read(&mut buffer)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_flood_neither_stops_ingest_nor_keeps_its_sockets() {
    let mut config = CollectorConfig::default();
    config.limits.http_header_timeout_secs = HEADER_TIMEOUT_SECS;
    config.limits.http_max_connections_per_address = PER_ADDRESS;
    let collector = TestCollector::start_with(config).await;
    let http = collector.running.http_addr;
    let device = collector.enroll("IT", "pc").await;

    // Ingest's pace before the flood: the cycle later bounds are drawn from.
    let submit = || async {
        let started = Instant::now();
        device
            .client
            .submit(vec![valid_report().encode_to_vec()])
            .await
            .expect("ingest answers");
        started.elapsed()
    };
    let mut before = Vec::new();
    for _ in 0..20 {
        before.push(submit().await);
    }

    // The flood: partial headers, never finished, from one address.
    let mut slow = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        let mut stream = TcpStream::connect(http).await.unwrap();
        // Written to the socket's buffer even when the server closed it.
        let _ = stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await;
        slow.push(stream);
    }
    let flooded = Instant::now();

    // Ingest goes on, and another address still gets the dashboards.
    let mut during = Vec::new();
    for _ in 0..20 {
        during.push(submit().await);
    }
    assert_eq!(healthz_from("127.0.0.2:0", http).await, "HTTP/1.1 200 OK");

    // Beyond its share, the flood's sockets were closed at once; the rest
    // are closed once the header timeout passes.
    let mut open = FLOOD;
    let deadline = Duration::from_secs(u64::from(HEADER_TIMEOUT_SECS) * 30);
    while open > 0 && flooded.elapsed() < deadline {
        open = 0;
        for stream in &mut slow {
            if !closed(stream).await {
                open += 1;
            }
        }
        if open > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let p99 = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() * 99 / 100]
    };
    println!(
        "{FLOOD} slow sockets: all closed after {:.1?} (header timeout {HEADER_TIMEOUT_SECS} s); \
         Submit worst of 20 before {:.1?}, during {:.1?}",
        flooded.elapsed(),
        p99(before),
        p99(during),
    );
    assert_eq!(open, 0, "slow sockets still open after {deadline:?}");
    // The dashboards serve the flooding address again.
    assert_eq!(healthz_from("127.0.0.1:0", http).await, "HTTP/1.1 200 OK");
    collector.running.shutdown().await.unwrap();
}
