//! `sobrio-collector demo`: a fleet file's history goes through the real
//! gRPC/mTLS path, this machine's agent joins, and a rerun stores nothing twice.

use sobrio_tests::run;

fn devices(data: &str) -> Vec<serde_json::Value> {
    let output = run(
        "sobrio-collector",
        &["--data-dir", data, "device", "list", "--json"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_demo_stores_a_fleet_files_history_once_with_this_machines_agent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let fleet = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/fleet.toml");
    let demo = || {
        let output = run(
            "sobrio-collector",
            &[
                "--data-dir",
                data,
                "demo",
                "--fleet",
                fleet,
                "--once",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ],
        );
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let summary = demo();
    assert!(summary.contains("7 devices in 3 departments"), "{summary}");
    assert!(
        summary.contains("This machine's agent runs as device"),
        "{summary}"
    );
    let first = devices(data);
    let simulated: Vec<_> = first.iter().filter(|d| d["department"] != "IT").collect();
    assert_eq!(simulated.len(), 6);
    // 12 weeks of daily reports, from the purchase date on.
    let finance_laptop = first
        .iter()
        .find(|d| d["hostname"] == "fin-lt-001")
        .unwrap();
    assert_eq!(finance_laptop["reports"], 84);
    assert_eq!(
        first.iter().filter(|d| d["department"] == "IT").count(),
        1,
        "this machine's agent"
    );

    demo();
    let second = devices(data);
    assert_eq!(second.len(), first.len(), "a rerun reuses the devices");
    for (before, after) in first.iter().zip(&second) {
        if before["department"] != "IT" {
            assert_eq!(
                before["reports"], after["reports"],
                "{} stored twice",
                before["hostname"]
            );
        }
    }
}
