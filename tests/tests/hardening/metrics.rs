//! `/metrics` can be kept from whoever reaches the dashboards: on its own
//! address, behind a token, or both.

use sobrio_collector::config::CollectorConfig;
use sobrio_collector::store::Store;
use sobrio_tests::{TestCollector, http_request};

const TOKEN: &str = "0123456789abcdef0123456789abcdef-metrics";

fn scrape(addr: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    http_request(addr, "GET", "/metrics", &headers, "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_their_own_address_need_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("metrics.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut config = CollectorConfig::default();
    config.metrics.addr = Some("127.0.0.1:0".parse().unwrap());
    config.metrics.token_file = Some(token_file);
    let collector = TestCollector::start_with(config).await;
    let http = collector.running.http_addr.to_string();
    let metrics = collector.running.metrics_addr.unwrap().to_string();

    // Not on the dashboards' address any more.
    assert_eq!(scrape(&http, Some(TOKEN)).0, 404);
    // On its own, only with the token.
    let (status, body) = scrape(&metrics, None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Authorization: Bearer"), "{body}");
    assert_eq!(
        scrape(&metrics, Some("0123456789abcdef0123456789abcdef-wrong!")).0,
        401
    );
    let (status, body) = scrape(&metrics, Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("sobrio_"), "{body}");
    // Nothing else is served there.
    assert_eq!(http_request(&metrics, "GET", "/", &[], "").0, 404);
    collector.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_metrics_token_is_refused_at_start_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("metrics.token");
    std::fs::write(&token_file, "secret\n").unwrap();
    let mut config = CollectorConfig::default();
    config.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    config.server.http_addr = "127.0.0.1:0".parse().unwrap();
    config.metrics.token_file = Some(token_file);
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    let error = sobrio_collector::server::start(config, store, dir.path())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("metrics.token_file") && error.contains("32 characters"),
        "{error}"
    );
}
