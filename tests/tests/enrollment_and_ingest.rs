//! Enrollment over mTLS and idempotent ingest, against a real collector.

use std::sync::Arc;
use std::time::Duration;

use sobrio_agent::transport::{CollectorClient, CollectorEndpoint};
use sobrio_collector::app::now_unix_ms;
use sobrio_collector::config::CollectorConfig;
use sobrio_collector::store::NewToken;
use sobrio_proto::Message;
use sobrio_proto::v1::{Disk, Inventory};
use sobrio_tests::{TestCollector, certificate_refused, valid_report};
use tonic::Code;

#[tokio::test]
async fn an_enrolled_device_submits_and_its_report_is_stored() {
    let collector = TestCollector::start().await;
    let device = collector.enroll("Finance", "pc-finance-1").await;
    let report = valid_report();
    let response = device
        .client
        .submit(vec![report.encode_to_vec()])
        .await
        .unwrap();
    assert_eq!(response.accepted, vec![report.report_id.clone()]);
    assert!(response.rejected.is_empty());
    assert!(response.policy_version > 0);
    assert!(
        collector
            .store
            .report_exists(&report.report_id)
            .await
            .unwrap()
    );
    let devices = collector.store.list_devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(
        (devices[0].department.as_str(), devices[0].reports),
        ("Finance", 1)
    );
}

#[tokio::test]
async fn submit_without_a_client_certificate_is_refused() {
    let collector = TestCollector::start().await;
    let client = collector.anonymous_client().await;
    let status = client
        .submit(vec![valid_report().encode_to_vec()])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().contains("client certificate"),
        "{}",
        status.message()
    );
    let policy = client.get_policy().await.unwrap_err();
    assert_eq!(policy.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_revoked_device_is_refused_on_its_next_call() {
    let collector = TestCollector::start().await;
    let device = collector.enroll("IT", "pc-it-1").await;
    device
        .client
        .submit(vec![valid_report().encode_to_vec()])
        .await
        .unwrap();
    assert!(
        collector
            .store
            .revoke_device(&device.id, now_unix_ms())
            .await
            .unwrap()
    );
    let status = device
        .client
        .submit(vec![valid_report().encode_to_vec()])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("revoked"), "{}", status.message());
    let renew = device.client.renew(String::new()).await.unwrap_err();
    assert_eq!(renew.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let collector = TestCollector::start().await;
    let token = "sbt_expired-token-for-test";
    let now = now_unix_ms();
    collector
        .store
        .create_token(&NewToken {
            sha256: sobrio_collector::secret::sha256(token),
            department: "HR".into(),
            created_unix_ms: now - 40 * 86_400_000,
            expires_unix_ms: now - 10 * 86_400_000,
            max_uses: None,
        })
        .await
        .unwrap();
    let status = collector
        .enroll_with_token(token, "pc")
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("expired"), "{}", status.message());
    assert!(collector.store.list_devices().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_used_up_token_is_refused_and_an_unknown_one_too() {
    let collector = TestCollector::start().await;
    let token = collector
        .token("Sales", Duration::from_secs(3600), Some(1))
        .await;
    collector.enroll_with_token(&token, "pc-1").await.unwrap();
    let status = collector
        .enroll_with_token(&token, "pc-2")
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("used up"), "{}", status.message());
    let unknown = collector
        .enroll_with_token("sbt_nope", "pc-3")
        .await
        .err()
        .unwrap();
    assert!(
        unknown.message().contains("not recognised"),
        "{}",
        unknown.message()
    );
    assert_eq!(collector.store.list_devices().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_same_report_sent_twice_is_stored_once_and_acked_both_times() {
    let collector = TestCollector::start().await;
    let device = collector.enroll("Finance", "pc").await;
    let encoded = valid_report().encode_to_vec();
    let first = device.client.submit(vec![encoded.clone()]).await.unwrap();
    let second = device
        .client
        .submit(vec![encoded.clone(), encoded])
        .await
        .unwrap();
    assert_eq!(first.accepted.len(), 1);
    assert_eq!(
        second.accepted,
        vec![first.accepted[0].clone(), first.accepted[0].clone()]
    );
    let devices = collector.store.list_devices().await.unwrap();
    assert_eq!(devices[0].reports, 1);
}

#[tokio::test]
async fn bad_reports_are_rejected_alone_and_the_valid_ones_stored_whole() {
    let collector = TestCollector::start().await;
    let device = collector.enroll("Finance", "pc").await;
    let good_a = valid_report();
    let mut invalid = valid_report();
    invalid.inventory = Some(Inventory {
        hostname: "pc".into(),
        disks: vec![Disk {
            size_bytes: -512,
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut good_b = valid_report();
    good_b.inventory = Some(Inventory {
        hostname: "pc".into(),
        ..Default::default()
    });
    let batch = vec![
        good_a.encode_to_vec(),
        vec![0xff, 0xff, 0xff, 0x01, 0x02],
        invalid.encode_to_vec(),
        good_b.encode_to_vec(),
    ];
    let response = device.client.submit(batch.clone()).await.unwrap();
    assert_eq!(
        response.accepted,
        vec![good_a.report_id.clone(), good_b.report_id.clone()]
    );
    assert_eq!(response.rejected.len(), 2);
    let undecodable = &response.rejected[0];
    assert_eq!(
        (undecodable.index, undecodable.field.as_str()),
        (1, "report")
    );
    assert_eq!(undecodable.report_id, None);
    assert!(
        undecodable.reason.contains("undecodable"),
        "{}",
        undecodable.reason
    );
    let negative = &response.rejected[1];
    assert_eq!(
        (negative.index, negative.field.as_str()),
        (2, "inventory.disks[0].size_bytes")
    );
    assert_eq!(
        negative.report_id.as_deref(),
        Some(invalid.report_id.as_str())
    );
    assert!(negative.reason.contains("negative"), "{}", negative.reason);
    assert!(
        !collector
            .store
            .report_exists(&invalid.report_id)
            .await
            .unwrap()
    );
    for (report, encoded) in [(&good_a, &batch[0]), (&good_b, &batch[3])] {
        let stored = collector
            .store
            .report_payload(&report.report_id)
            .await
            .unwrap();
        assert_eq!(stored.as_ref(), Some(encoded), "stored byte for byte");
    }
}

#[tokio::test]
async fn too_many_reports_in_one_call_is_a_limit_error() {
    let mut config = CollectorConfig::default();
    config.limits.max_reports_per_submit = 10;
    let collector = TestCollector::start_with(config).await;
    let device = collector.enroll("IT", "pc").await;
    let batch = (0..11).map(|_| valid_report().encode_to_vec()).collect();
    let status = device.client.submit(batch).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("at most 10"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn the_policy_carries_the_departments_working_hours() {
    let config = CollectorConfig::parse(
        "[policy.departments.Support]\n\
         start = \"07:30\"\n\
         end = \"16:00\"\n\
         days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\"]\n",
        "test",
    )
    .unwrap();
    let collector = TestCollector::start_with(config).await;
    let support = collector.enroll("Support", "pc-s").await;
    let finance = collector.enroll("Finance", "pc-f").await;
    let hours = support
        .client
        .get_policy()
        .await
        .unwrap()
        .working_hours
        .unwrap();
    assert_eq!(
        (hours.start_minute, hours.end_minute, hours.days.len()),
        (450, 960, 6)
    );
    let hours = finance
        .client
        .get_policy()
        .await
        .unwrap()
        .working_hours
        .unwrap();
    assert_eq!(
        (hours.start_minute, hours.end_minute, hours.days.len()),
        (540, 1080, 5)
    );
}

#[tokio::test]
async fn a_renewed_certificate_works_and_names_the_same_device() {
    let collector = TestCollector::start().await;
    let device = collector.enroll("IT", "pc").await;
    let (key_pem, csr_pem) = sobrio_agent::enroll::key_and_csr("pc").unwrap();
    let renewed = device.client.renew(csr_pem).await.unwrap();
    assert_ne!(renewed.certificate_pem, device.certificate_pem);
    let endpoint = CollectorEndpoint {
        url: collector.url(),
        ca_pem: Some(collector.ca_pem()),
        identity: Some((renewed.certificate_pem, key_pem)),
        bearer: None,
    };
    let client = CollectorClient::connect(&endpoint).await.unwrap();
    client
        .submit(vec![valid_report().encode_to_vec()])
        .await
        .unwrap();
    let devices = collector.store.list_devices().await.unwrap();
    assert_eq!(
        (devices.len(), devices[0].id.as_str(), devices[0].reports),
        (1, device.id.as_str(), 1)
    );
}

#[tokio::test]
async fn a_tls_1_2_client_is_refused() {
    let collector = TestCollector::start().await;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in sobrio_collector::pki::pem_certificates(&collector.ca_pem()) {
        roots.add(certificate).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(collector.running.grpc_addr)
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let result = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await;
    let Err(error) = result else {
        panic!("a TLS 1.2 handshake must fail");
    };
    let error = error.to_string();
    assert!(
        error.to_lowercase().contains("protocol version") || error.contains("alert"),
        "{error}"
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let collector = TestCollector::start().await;
    let (foreign_ca, foreign_key) =
        sobrio_collector::pki::CertificateAuthority::generate().unwrap();
    let foreign =
        sobrio_collector::pki::CertificateAuthority::from_pem(&foreign_ca, &foreign_key).unwrap();
    let (key_pem, csr_pem) = sobrio_agent::enroll::key_and_csr("intruder").unwrap();
    let issued = foreign
        .sign_device_csr(&csr_pem, "intruder", Duration::from_secs(3600))
        .unwrap();
    assert!(certificate_refused(&collector, issued.certificate_pem, key_pem).await);
    assert!(collector.store.list_devices().await.unwrap().is_empty());
}

#[tokio::test]
async fn in_development_mode_a_device_authenticates_with_its_bearer_secret() {
    let mut config = CollectorConfig::default();
    config.server.insecure_dev = true;
    let collector = TestCollector::start_with(config).await;
    let device = collector.enroll("IT", "pc").await;
    device
        .client
        .submit(vec![valid_report().encode_to_vec()])
        .await
        .unwrap();
    let endpoint = CollectorEndpoint {
        url: collector.url(),
        ca_pem: None,
        identity: None,
        bearer: Some(format!("{}:wrong-secret", device.id)),
    };
    let impostor = CollectorClient::connect(&endpoint).await.unwrap();
    let status = impostor
        .submit(vec![valid_report().encode_to_vec()])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn person_day_rows_are_kept_apart_and_not_inside_the_stored_report() {
    let collector = TestCollector::start().await;
    let device = collector.enroll("HR", "pc-hr").await;
    let mut report = valid_report();
    report.digital_load = Some(sobrio_proto::v1::DigitalLoad {
        days: vec![sobrio_proto::v1::PersonDay {
            person_id: "ab".repeat(32),
            date: "2026-11-23".into(),
            active_minutes: Some(300),
            ..Default::default()
        }],
        links: Vec::new(),
    });
    device
        .client
        .submit(vec![report.encode_to_vec()])
        .await
        .unwrap();
    let stored = collector
        .store
        .report_payload(&report.report_id)
        .await
        .unwrap()
        .unwrap();
    let stored = sobrio_proto::v1::Report::decode(stored.as_slice()).unwrap();
    assert_eq!(
        stored.digital_load, None,
        "person-level rows do not live on in raw reports"
    );
    assert_eq!(stored.agent_health, report.agent_health);
    let counts: std::collections::HashMap<_, _> = collector
        .store
        .device_row_counts(&device.id)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(counts["person_days"], 1);
}

#[tokio::test]
async fn guessing_enrollment_tokens_is_stopped_per_address() {
    let collector = TestCollector::start().await;
    let limit = sobrio_collector::app::ENROLLMENT_REFUSALS_PER_ADDRESS;
    for guess in 0..limit {
        let status = collector
            .enroll_with_token(&format!("sbt_guess{guess}"), "pc")
            .await
            .err()
            .unwrap();
        assert_eq!(status.code(), Code::Unauthenticated, "guess {guess}");
    }
    // Past the limit, a further guess from this address is refused at
    // once, saying why and for how long.
    let status = collector
        .enroll_with_token("sbt_one-more-guess", "pc")
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("too many from 127.0.0.1")
            && status.message().contains("refused for")
            && status.message().contains("a valid token still enrolls"),
        "{}",
        status.message()
    );
    assert!(collector.store.list_devices().await.unwrap().is_empty());
    // The site's devices behind the same address are not locked out: a
    // real token enrolls.
    let token = collector.token("IT", Duration::from_secs(3600), None).await;
    collector.enroll_with_token(&token, "pc").await.unwrap();
    assert_eq!(collector.store.list_devices().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_expired_client_certificate_is_refused() {
    let collector = TestCollector::start().await;
    let device = collector.enroll("IT", "pc").await;
    let (key_pem, csr_pem) = sobrio_agent::enroll::key_and_csr("pc").unwrap();
    let issued = collector
        .running
        .shared
        .ca
        .sign_device_csr(&csr_pem, &device.id, Duration::from_secs(1))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        certificate_refused(&collector, issued.certificate_pem, key_pem).await,
        "an expired certificate must not authenticate"
    );
    let devices = collector.store.list_devices().await.unwrap();
    assert_eq!(devices[0].reports, 0);
    // The device's valid certificate still works.
    device
        .client
        .submit(vec![valid_report().encode_to_vec()])
        .await
        .unwrap();
}

#[tokio::test]
async fn plaintext_is_refused_unless_in_development_mode() {
    // A valid token sent in clear text to a TLS collector: the call fails
    // and no device is made (in development mode the same call succeeds,
    // see `in_development_mode_a_device_authenticates_with_its_bearer_secret`).
    let collector = TestCollector::start().await;
    let token = collector.token("IT", Duration::from_secs(3600), None).await;
    let endpoint = CollectorEndpoint {
        url: format!("http://{}", collector.running.grpc_addr),
        ca_pem: None,
        identity: None,
        bearer: None,
    };
    let (_, csr_pem) = sobrio_agent::enroll::key_and_csr("pc").unwrap();
    let request = sobrio_proto::v1::EnrollRequest {
        token,
        csr_pem,
        hostname: "pc".into(),
        agent_version: "test".into(),
    };
    let refused = match CollectorClient::connect(&endpoint).await {
        Err(_) => true,
        Ok(client) => client.enroll(request).await.is_err(),
    };
    assert!(refused, "plaintext gRPC must not reach a TLS collector");
    assert!(collector.store.list_devices().await.unwrap().is_empty());
}

/// Hostile reports in one call beside valid ones: each refused with the
/// field and the reason, the valid ones stored; a call of 10,000 reports is
/// refused whole with the limit named, and the device goes on afterwards.
#[tokio::test]
async fn hostile_reports_are_refused_each_with_its_reason_and_nothing_else_is_lost() {
    use sobrio_proto::v1::{Usage, UsageHour};
    let collector = TestCollector::start().await;
    let device = collector.enroll("IT", "pc").await;
    let megabyte = "x".repeat(1 << 20);
    let mut cases: Vec<(&str, Vec<u8>, &str, &str)> = Vec::new();
    let mut huge = valid_report();
    huge.inventory = Some(Inventory {
        hostname: megabyte.clone(),
        ..Default::default()
    });
    cases.push((
        "1 MB string",
        huge.encode_to_vec(),
        "report",
        "exceeds the limit",
    ));
    let mut long_model = valid_report();
    long_model.inventory = Some(Inventory {
        hostname: "pc".into(),
        model: Some(megabyte[..100_000].to_owned()),
        ..Default::default()
    });
    cases.push((
        "100 KB model",
        long_model.encode_to_vec(),
        "inventory.model",
        "bytes",
    ));
    // Invalid UTF-8 in a string field: the agent_version bytes replaced.
    let mut marked = valid_report();
    marked.agent_version = "MARKMARK".into();
    let mut bytes = marked.encode_to_vec();
    let at = bytes.windows(8).position(|w| w == b"MARKMARK").unwrap();
    bytes[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    cases.push(("invalid UTF-8", bytes, "report", "undecodable"));
    let mut future = valid_report();
    future.collected_unix_ms = i64::MAX;
    cases.push((
        "a date in the far future",
        future.encode_to_vec(),
        "collected_unix_ms",
        "",
    ));
    let mut past = valid_report();
    past.collected_unix_ms = -1;
    cases.push((
        "a negative date",
        past.encode_to_vec(),
        "collected_unix_ms",
        "",
    ));
    let mut bios = valid_report();
    bios.inventory = Some(Inventory {
        hostname: "pc".into(),
        bios_date: Some("9999-99-99".into()),
        ..Default::default()
    });
    cases.push((
        "an impossible BIOS date",
        bios.encode_to_vec(),
        "inventory.bios_date",
        "",
    ));
    let mut hours = valid_report();
    hours.usage = Some(Usage {
        hours: vec![UsageHour::default(); 100_000],
    });
    cases.push((
        "100,000 usage hours",
        hours.encode_to_vec(),
        "usage.hours",
        "",
    ));
    let mut busy = valid_report();
    busy.usage = Some(Usage {
        hours: vec![UsageHour {
            hour_start_unix_ms: (busy.collected_unix_ms / 3_600_000 - 1) * 3_600_000,
            powered_minutes: 1_000_000,
            ..Default::default()
        }],
    });
    cases.push((
        "a million powered minutes in an hour",
        busy.encode_to_vec(),
        "usage.hours[0].powered_minutes",
        "",
    ));
    // A singular field repeated on the wire: protobuf keeps the last value,
    // and the report is stored once under that id.
    let (first, last) = (valid_report(), valid_report());
    let mut repeated = first.encode_to_vec();
    repeated.extend(last.encode_to_vec());

    let good = valid_report();
    let mut batch = vec![good.encode_to_vec(), repeated];
    batch.extend(cases.iter().map(|(_, bytes, _, _)| bytes.clone()));
    let response = device.client.submit(batch).await.unwrap();
    assert_eq!(
        response.accepted,
        vec![good.report_id.clone(), last.report_id.clone()]
    );
    assert_eq!(response.rejected.len(), cases.len());
    for ((what, _, field, reason), rejected) in cases.iter().zip(&response.rejected) {
        assert!(
            rejected.field.starts_with(field),
            "{what}: refused on {} ({})",
            rejected.field,
            rejected.reason
        );
        assert!(
            rejected.reason.contains(reason) && !rejected.reason.is_empty(),
            "{what}: {}",
            rejected.reason
        );
        println!("{what}: refused on {}: {}", rejected.field, rejected.reason);
    }
    assert!(
        !collector
            .store
            .report_exists(&first.report_id)
            .await
            .unwrap()
    );

    let flood: Vec<Vec<u8>> = (0..10_000)
        .map(|_| valid_report().encode_to_vec())
        .collect();
    let status = device.client.submit(flood).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("at most"), "{}", status.message());
    let after = valid_report();
    let response = device
        .client
        .submit(vec![after.encode_to_vec()])
        .await
        .unwrap();
    assert_eq!(response.accepted, vec![after.report_id]);
    let devices = collector.store.list_devices().await.unwrap();
    assert_eq!(devices[0].reports, 3, "the valid reports and nothing else");
}
