//! The real binaries, as IT and an employee use them: the collector serving,
//! a token made on the command line, the agent enrolling and reporting.

use sobrio_tests::{CollectorProcess, run};

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn the_agent_binary_enrolls_with_the_collector_binary_and_its_report_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap();
    let state = dir.path().join("agent");
    let state = state.to_str().unwrap();
    let collector = CollectorProcess::serve(data, &[]);

    let token = stdout(&run(
        "sobrio-collector",
        &[
            "--data-dir",
            data,
            "token",
            "create",
            "--department",
            "Finance",
            "--max-uses",
            "1",
        ],
    ));
    let token = token.trim();
    assert!(
        token.starts_with("sbt_") && !token.contains(char::is_whitespace),
        "only the token on stdout: {token:?}"
    );

    let ca = format!("{data}/ca.pem");
    let server = format!("https://{}", collector.grpc_addr);
    let enrolled = stdout(&run(
        "sobrio-agent",
        &[
            "--state-dir",
            state,
            "enroll",
            "--server",
            &server,
            "--token",
            token,
            "--ca",
            &ca,
        ],
    ));
    assert!(enrolled.contains("Finance"), "{enrolled}");
    stdout(&run(
        "sobrio-agent",
        &["--state-dir", state, "run", "--once"],
    ));

    let listed = stdout(&run(
        "sobrio-collector",
        &["--data-dir", data, "device", "list", "--json"],
    ));
    let devices: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let device = &devices.as_array().unwrap()[0];
    let keys: Vec<&str> = device
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in ["id", "hostname", "department", "last_seen", "reports"] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    assert_eq!(device["department"], "Finance");
    assert_eq!(device["reports"], 1);
    assert!(device["last_seen"].as_str().unwrap().ends_with('Z'));

    let status: serde_json::Value = serde_json::from_str(&stdout(&run(
        "sobrio-agent",
        &["--state-dir", state, "status", "--json"],
    )))
    .unwrap();
    assert_eq!(status["enrolled"], true);
    assert_eq!(status["device_id"], device["id"]);

    // The token allowed one device: a second enrollment is refused, clearly.
    let other = dir.path().join("other");
    let refused = run(
        "sobrio-agent",
        &[
            "--state-dir",
            other.to_str().unwrap(),
            "enroll",
            "--server",
            &server,
            "--token",
            token,
            "--ca",
            &ca,
        ],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("used up"));

    // Revoked from the command line: the agent's next cycle fails.
    let id = device["id"].as_str().unwrap();
    stdout(&run(
        "sobrio-collector",
        &["--data-dir", data, "device", "revoke", id],
    ));
    let after = run("sobrio-agent", &["--state-dir", state, "run", "--once"]);
    assert!(!after.status.success());
    assert!(String::from_utf8_lossy(&after.stderr).contains("revoked"));
}

#[test]
fn collect_once_json_prints_the_report_that_would_be_sent() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let output = stdout(&run(
        "sobrio-agent",
        &[
            "--state-dir",
            state.to_str().unwrap(),
            "collect",
            "--once",
            "--json",
        ],
    ));
    let report: serde_json::Value = serde_json::from_str(&output).unwrap();
    let id = uuid::Uuid::parse_str(report["report_id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert!(report["inventory"]["hostname"].is_string());
    assert!(report["inventory"]["chassis"].is_string());
    // Signals not collected are null, never 0.
    assert!(report["digital_load"].is_null());
    assert!(
        !state.exists(),
        "collecting sends nothing and writes no state"
    );
}

#[test]
fn a_bad_configuration_is_named_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    std::fs::write(&file, "report_interval_secs = 5\n").unwrap();
    let output = run("sobrio-agent", &["config", "check", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("report_interval_secs") && stderr.contains("60 to 86400"),
        "{stderr}"
    );

    std::fs::write(&file, "[signals]\nusage = false\n").unwrap();
    let output = run("sobrio-agent", &["config", "check", file.to_str().unwrap()]);
    assert!(output.status.success());

    let collector_config = dir.path().join("collector.toml");
    std::fs::write(
        &collector_config,
        "[policy.working_hours]\nstart = \"25:00\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let output = run(
        "sobrio-collector",
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
            "--config",
            collector_config.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("policy.working_hours.start") && stderr.contains("\"25:00\""),
        "{stderr}"
    );
}
