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

#[test]
fn the_asset_register_import_reports_line_numbers_and_exports_for_glpi_and_snipeit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let file = dir.path().join("register.csv");
    std::fs::write(
        &file,
        "\u{feff}serial;hostname;category;purchase_date;price_eur;department;warranty_end\n\
         SN-1;pc-1;laptop;2021-03-15;1 099,00;Finance;2024-03-15\n\
         SN-2;pc-2;laptop;15/03/2021;900;Finance;\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let dry = stdout(&run(
        "sobrio-collector",
        &[
            "--data-dir",
            data,
            "assets",
            "import",
            file,
            "--dry-run",
            "--json",
        ],
    ));
    let dry: serde_json::Value = serde_json::from_str(&dry).unwrap();
    assert_eq!(
        (dry["created"].as_u64(), dry["dry_run"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(dry["rejected"][0]["line"], 3);
    assert!(
        dry["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("YYYY-MM-DD")
    );
    let text = stdout(&run(
        "sobrio-collector",
        &["--data-dir", data, "assets", "import", file],
    ));
    assert!(
        text.contains("1 created") && text.contains("line 3:"),
        "{text}"
    );
    let again = stdout(&run(
        "sobrio-collector",
        &["--data-dir", data, "assets", "import", file],
    ));
    assert!(
        again.contains("0 created, 0 updated, 1 unchanged"),
        "{again}"
    );
    for (format, header) in [
        ("glpi", "Name;Serial number;"),
        ("snipeit", "Item Name,Serial Number,"),
    ] {
        let csv = stdout(&run(
            "sobrio-collector",
            &["--data-dir", data, "assets", "export", "--format", format],
        ));
        assert!(csv.starts_with(header), "{csv}");
    }
}
