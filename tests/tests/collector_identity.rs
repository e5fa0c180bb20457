//! An agent meets a collector whose CA is not the one it enrolled with (a
//! reinstallation, a store restored from another installation): it does not
//! deliver to it, says so in its log and in `status` with what to do, and
//! keeps its reports for when the right collector is back.

use sobrio_tests::{CollectorProcess, binary, enroll_agent_binary, run};

#[test]
fn a_collector_whose_ca_changed_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second, state) = (
        dir.path().join("first"),
        dir.path().join("second"),
        dir.path().join("agent"),
    );
    let state = state.to_str().unwrap();
    let collector = CollectorProcess::serve(first.to_str().unwrap(), &[]);
    let grpc = collector.grpc_addr.clone();
    enroll_agent_binary(first.to_str().unwrap(), state, &grpc);
    drop(collector);

    // Another installation at the same address: a CA of its own.
    let other = CollectorProcess::serve_at(second.to_str().unwrap(), &[], &grpc);
    assert_ne!(
        std::fs::read(first.join("ca.pem")).unwrap(),
        std::fs::read(second.join("ca.pem")).unwrap()
    );
    let once = std::process::Command::new(binary("sobrio-agent"))
        .args(["--state-dir", state, "run", "--once"])
        .env("SOBRIO_LOG", "sobrio_agent=info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&once.stderr);
    assert!(
        log.contains("its CA changed") && log.contains("enroll --force"),
        "{log}"
    );
    let status = run("sobrio-agent", &["--state-dir", state, "status"]);
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(said.contains("COLLECTOR UNTRUSTED"), "{said}");
    assert!(
        !said.contains("spool:               0 reports"),
        "the report is kept: {said}"
    );
    // Nothing reached the other collector.
    let devices = run(
        "sobrio-collector",
        &[
            "--data-dir",
            second.to_str().unwrap(),
            "device",
            "list",
            "--json",
        ],
    );
    let devices: Vec<serde_json::Value> = serde_json::from_slice(&devices.stdout).unwrap();
    assert!(devices.is_empty(), "{devices:?}");
    drop(other);
}
