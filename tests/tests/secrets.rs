//! Secrets at rest and in logs: the collector and the agent run for real,
//! logging at debug level, through enrollment, a report, a dashboard
//! sign-in, an API call and failed attempts; afterwards no secret appears
//! in anything either wrote, and every file holding one is private (0600,
//! in directories of 0700).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use sobrio_tests::{CollectorProcess, binary, http_exchange, sign_in, user_token};

const PASSWORD: &str = "correct horse battery staple";

/// Runs a binary with debug logging; returns its stdout and everything it
/// logged.
fn logged(name: &str, args: &[&str]) -> (String, String) {
    let output = Command::new(binary(name))
        .args(args)
        .env("SOBRIO_LOG", "debug")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{name} {args:?}: {stderr}");
    (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

/// A middle line of a PEM private key: enough to recognise it anywhere.
fn pem_line(pem: &str) -> String {
    let lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!lines.is_empty(), "not PEM: {pem}");
    lines[lines.len() / 2].to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir` (recursively) with its mode.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, u32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.push((path.clone(), mode(&path)));
            found.extend(files(&path));
        } else {
            found.push((path.clone(), mode(&path)));
        }
    }
    found
}

#[test]
fn no_secret_is_logged_and_every_secret_is_kept_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap();
    let state = dir.path().join("agent");
    let state = state.to_str().unwrap();
    let collector = CollectorProcess::serve_logged(data, &[], "debug");
    let mut logs = Vec::new();

    let (token, log) = logged(
        "sobrio-collector",
        &["--data-dir", data, "token", "create", "--department", "IT"],
    );
    let token = token.trim().to_owned();
    logs.push(("token create".to_owned(), log));
    // A wrong token first, then the right one.
    let server = format!("https://{}", collector.grpc_addr);
    let ca = format!("{data}/ca.pem");
    let refused = Command::new(binary("sobrio-agent"))
        .args(["--state-dir", state, "enroll", "--server", &server])
        .args(["--token", &format!("{token}x"), "--ca", &ca])
        .env("SOBRIO_LOG", "debug")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    logs.push((
        "agent enroll (refused)".to_owned(),
        String::from_utf8_lossy(&refused.stderr).into_owned(),
    ));
    let (_, log) = logged(
        "sobrio-agent",
        &[
            "--state-dir",
            state,
            "enroll",
            "--server",
            &server,
            "--token",
            &token,
            "--ca",
            &ca,
        ],
    );
    logs.push(("agent enroll".to_owned(), log));
    let (_, log) = logged("sobrio-agent", &["--state-dir", state, "run", "--once"]);
    logs.push(("agent run --once".to_owned(), log));

    // The dashboards: a sign-in, a failed one, an API call with a token.
    let api_token = user_token(data, "ada", "admin");
    sobrio_tests::add_user(data, "grace", "it", PASSWORD);
    let cookie = sign_in(&collector.http_addr, "grace", PASSWORD).unwrap();
    let session = cookie.trim_start_matches("sobrio_session=").to_owned();
    assert_eq!(
        sign_in(&collector.http_addr, "grace", "wrong horse battery staple"),
        Err(401),
        "a wrong password is refused"
    );
    let (status, _, _) = http_exchange(
        &collector.http_addr,
        "GET",
        "/api/v1/devices",
        &[("Authorization", &format!("Bearer {api_token}"))],
        "",
    );
    assert_eq!(status, 200);
    let (status, _, _) = http_exchange(
        &collector.http_addr,
        "GET",
        "/devices",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(status, 200);

    // Secrets, read from where they are kept.
    let enrollment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{state}/enrollment.json")).unwrap())
            .unwrap();
    let bearer = enrollment["bearer_secret"].as_str().unwrap().to_owned();
    let device_key = pem_line(&std::fs::read_to_string(format!("{state}/device.key")).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ca_key = runtime.block_on(async {
        let store = sobrio_collector::store::Store::open_data_dir(Path::new(data))
            .await
            .unwrap();
        let (_, key) = store.certificate_authority().await.unwrap().unwrap();
        pem_line(&key)
    });
    logs.push(("collector serve".to_owned(), collector.log()));
    drop(collector);
    let secrets = [
        ("the enrollment token", token.as_str()),
        ("the device's bearer secret", bearer.as_str()),
        ("the device's private key", device_key.as_str()),
        ("the CA's private key", ca_key.as_str()),
        ("a password", PASSWORD),
        ("a wrong password", "wrong horse battery staple"),
        ("a session cookie", session.as_str()),
        ("an API token", api_token.as_str()),
    ];
    let mut lines = 0;
    for (origin, log) in &logs {
        lines += log.lines().count();
        for (what, secret) in secrets {
            assert!(secret.len() >= 16, "{what} is too short to search for");
            assert!(
                !log.contains(secret),
                "{what} appears in the log of {origin}"
            );
        }
    }
    assert!(lines > 20, "debug logging was on: {lines} lines");
    println!(
        "{} secrets searched in {lines} log lines of {} commands",
        secrets.len(),
        logs.len()
    );

    // At rest: both directories 0700, so nothing in them is reachable by
    // others; the database (token digests, password hashes, the CA key) and
    // its journals, the device key, its enrollment (bearer secret) and the
    // spooled reports 0600 besides.
    let mut checked = 0;
    for root in [data, state] {
        assert_eq!(mode(Path::new(root)), 0o700, "{root}");
    }
    for (path, mode) in files(Path::new(data))
        .into_iter()
        .chain(files(Path::new(state)))
    {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let private = name.starts_with("sobrio.db")
            || ["device.key", "enrollment.json", "policy.pb"].contains(&name.as_str())
            || name.ends_with(".rpt");
        if private {
            assert_eq!(mode, 0o600, "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked} private files found");
    println!("{checked} private files are 0600");
}
