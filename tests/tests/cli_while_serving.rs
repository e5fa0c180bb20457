//! IT works on the embedded store while the collector serves it: the
//! documented CLI writes to the same SQLite data directory (tokens, users,
//! revocations, the asset register) while agents enroll and submit. Writers
//! from the two processes wait their turn; none fails.

use std::process::Stdio;
use std::time::Duration;

use sobrio_collector::store::Store;
use sobrio_tests::load::{Load, enroll_at};
use sobrio_tests::{CollectorProcess, add_user, run};

fn token(data: &str) -> String {
    let output = run(
        "sobrio-collector",
        &["--data-dir", data, "token", "create", "--department", "IT"],
    );
    assert!(
        output.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// One round of IT's writes; returns the failures, with their stderr.
fn cli_round(data: &str, round: usize, revoke: &str) -> Vec<String> {
    let csv = format!("{data}/register-{round}.csv");
    let rows: String = (0..20)
        .map(|i| format!("SN-{round}-{i},host-{round}-{i},laptop,2022-01-10,1100,IT,2025-01-10\n"))
        .collect();
    std::fs::write(
        &csv,
        format!("serial,hostname,category,purchase_date,price_eur,department,warranty_end\n{rows}"),
    )
    .unwrap();
    let commands: Vec<Vec<String>> = vec![
        vec![
            "token".into(),
            "create".into(),
            "--department".into(),
            "Sales".into(),
        ],
        vec!["assets".into(), "import".into(), csv],
        vec!["device".into(), "revoke".into(), revoke.into()],
    ];
    let mut failures = Vec::new();
    for command in commands {
        let mut args = vec!["--data-dir".to_owned(), data.to_owned()];
        args.extend(command);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run("sobrio-collector", &args);
        if !output.status.success() {
            failures.push(format!(
                "{args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    // `user add` reads its password from standard input.
    let added = std::process::Command::new(sobrio_tests::binary("sobrio-collector"))
        .args(["--data-dir", data, "user", "add", &format!("it-{round}")])
        .args(["--role", "it", "--password-stdin"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"a long enough passphrase\n")?;
            child.wait_with_output()
        })
        .unwrap();
    if !added.status.success() {
        failures.push(format!(
            "user add: {}",
            String::from_utf8_lossy(&added.stderr)
        ));
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_writes_while_agents_enroll_and_submit_and_nobody_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap().to_owned();
    let collector = CollectorProcess::serve(&data, &[]);
    let url = format!("https://{}", collector.grpc_addr);
    let ca = std::fs::read_to_string(format!("{data}/ca.pem")).unwrap();
    let token = token(&data);
    add_user(&data, "ada", "admin", "a long enough passphrase");

    let mut clients = Vec::new();
    for n in 0..8 {
        let device = enroll_at(&url, &ca, &token, &format!("pc-{n}"))
            .await
            .unwrap();
        clients.push(device.client);
    }
    // Devices that IT revokes during the run (none of the submitting ones).
    let mut spare = Vec::new();
    for n in 0..6 {
        spare.push(
            enroll_at(&url, &ca, &token, &format!("spare-{n}"))
                .await
                .unwrap()
                .id,
        );
    }
    let load = Load::start(clients, Duration::from_millis(20));

    // Enrollments go on beside the submissions and the CLI.
    let enrolling = {
        let (url, ca, token) = (url.clone(), ca.clone(), token.clone());
        tokio::spawn(async move {
            let mut refused = Vec::new();
            for n in 0..30 {
                if let Err(status) = enroll_at(&url, &ca, &token, &format!("new-{n}")).await {
                    refused.push(format!("new-{n}: {status}"));
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            refused
        })
    };
    let cli = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || {
            spare
                .iter()
                .enumerate()
                .flat_map(|(round, id)| cli_round(&data, round, id))
                .collect::<Vec<_>>()
        })
    };
    let cli_failures = cli.await.unwrap();
    let refused = enrolling.await.unwrap();
    let observed = load.drain(Duration::from_secs(120)).await;
    drop(collector);

    println!(
        "24 CLI writes beside 8 agents ({} calls acked) and 30 enrollments",
        observed.calls
    );
    assert_eq!(cli_failures, Vec::<String>::new(), "CLI commands failed");
    assert_eq!(refused, Vec::<String>::new(), "enrollments failed");
    assert!(
        observed.failures.is_empty(),
        "agent calls failed while the CLI wrote: {:?}",
        observed.failures
    );
    assert_eq!(observed.acked.len(), observed.made.len());
    let store = Store::open_data_dir(std::path::Path::new(&data))
        .await
        .unwrap();
    for id in &observed.acked {
        assert!(
            store.report_exists(id).await.unwrap(),
            "acked report {id} lost"
        );
    }
    let devices = store.list_devices().await.unwrap();
    assert_eq!(devices.len(), 8 + 6 + 30);
    let revoked = devices
        .iter()
        .filter(|d| d.hostname.starts_with("spare-") && d.revoked.is_some())
        .count();
    assert_eq!(revoked, 6, "IT's revocations were all stored");
}
