//! Two collector processes on one PostgreSQL database serve one fleet: they
//! share the CA, a device enrolled through one is served by both, reports
//! spread over them (and retried on the other) are stored exactly once, and
//! the periodic retention job runs once per period, not once per replica.

use sobrio_agent::transport::{CollectorClient, CollectorEndpoint};
use sobrio_collector::app::now_unix_ms;
use sobrio_proto::Message;
use sobrio_proto::v1::EnrollRequest;
use sobrio_tests::{CollectorProcess, TestDatabase, http_get, valid_report};

const DEVICES: usize = 6;
const REPORTS_PER_DEVICE: usize = 20;
/// The retention job's default period (`[retention] interval_secs`).
const RETENTION_PERIOD_MS: i64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_serve_one_fleet_exactly_once() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let started = now_unix_ms();
    let replicas: Vec<CollectorProcess> = (0..2)
        .map(|i| {
            let data = dir.path().join(format!("replica-{i}"));
            CollectorProcess::serve(data.to_str().unwrap(), &["--database-url", &database.url])
        })
        .collect();

    let ca: Vec<String> = (0..2)
        .map(|i| std::fs::read_to_string(dir.path().join(format!("replica-{i}/ca.pem"))).unwrap())
        .collect();
    assert_eq!(ca[0], ca[1], "replicas share the CA kept in the store");

    let store = database.store().await;
    let token = sobrio_collector::app::enrollment::create_token(
        &store,
        "Finance",
        std::time::Duration::from_secs(600),
        None,
        "test",
        now_unix_ms(),
    )
    .await
    .unwrap();
    let endpoint =
        |replica: &CollectorProcess, identity: Option<(String, String)>| CollectorEndpoint {
            url: format!("https://{}", replica.grpc_addr),
            ca_pem: Some(ca[0].clone()),
            identity,
            bearer: None,
        };

    let mut sent = std::collections::HashSet::new();
    for device in 0..DEVICES {
        // Enroll through one replica, alternately.
        let enroller = &replicas[device % 2];
        let (key_pem, csr_pem) = sobrio_agent::enroll::key_and_csr("pc").unwrap();
        let anonymous = CollectorClient::connect(&endpoint(enroller, None))
            .await
            .unwrap();
        let enrolled = anonymous
            .enroll(EnrollRequest {
                token: token.clone(),
                csr_pem,
                hostname: format!("fin-{device}"),
                agent_version: "test".into(),
            })
            .await
            .unwrap();
        let identity = Some((enrolled.certificate_pem, key_pem));
        let clients = [
            CollectorClient::connect(&endpoint(&replicas[0], identity.clone()))
                .await
                .unwrap(),
            CollectorClient::connect(&endpoint(&replicas[1], identity))
                .await
                .unwrap(),
        ];
        for batch in 0..REPORTS_PER_DEVICE / 4 {
            let reports: Vec<_> = (0..4).map(|_| valid_report()).collect();
            let encoded: Vec<Vec<u8>> = reports.iter().map(Message::encode_to_vec).collect();
            // Sent to one replica, then retried on the other (as after a
            // lost ack behind a load balancer): acked by both, stored once.
            let first = clients[batch % 2].submit(encoded.clone()).await.unwrap();
            let retry = clients[(batch + 1) % 2].submit(encoded).await.unwrap();
            assert_eq!(first.accepted, retry.accepted);
            sent.extend(first.accepted);
        }
    }
    assert_eq!(sent.len(), DEVICES * REPORTS_PER_DEVICE);
    let devices = store.list_devices().await.unwrap();
    assert_eq!(devices.len(), DEVICES);
    let stored: i64 = devices.iter().map(|d| d.reports).sum();
    assert_eq!(
        stored,
        i64::try_from(sent.len()).unwrap(),
        "every report stored exactly once"
    );
    for id in &sent {
        assert!(store.report_exists(id).await.unwrap());
    }

    // Both replicas ran their jobs at start; the lease let one through per
    // period (two only if a period boundary fell between them).
    let runs = store.job_runs("retention", started).await.unwrap();
    let periods: std::collections::BTreeSet<i64> = runs
        .iter()
        .map(|(_, at)| at / RETENTION_PERIOD_MS)
        .collect();
    assert!(!runs.is_empty(), "retention ran");
    assert_eq!(
        runs.len(),
        periods.len(),
        "one run per period, not per replica: {runs:?}"
    );

    // Each replica counts what it served.
    for replica in &replicas {
        let (status, body) = http_get(&replica.http_addr, "/metrics");
        assert_eq!(status, 200);
        assert!(body.contains("sobrio_submit_calls_total"), "{body}");
        assert!(
            body.contains(&format!("sobrio_devices{{status=\"active\"}} {DEVICES}")),
            "{body}"
        );
    }
    drop(replicas);
    database.drop().await;
}
