//! What an operator relies on: the shipped alerting rules are valid, fire
//! on what they are about and not on a healthy collector (`promtool`, from
//! Debian's prometheus package), and every metric they read is one the
//! collector exposes; logs come as one JSON object a line when asked.

use std::path::{Path, PathBuf};
use std::process::Command;

use sobrio_tests::{CollectorProcess, http_get, missing, on_path};

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus")
}

#[test]
fn the_alerting_rules_are_valid_and_fire_as_their_tests_say() {
    let Some(promtool) = on_path("promtool") else {
        missing("promtool (Debian's prometheus package)");
        return;
    };
    for args in [
        ["check", "rules", "sobrio.rules.yml"],
        ["test", "rules", "sobrio.rules.test.yml"],
    ] {
        let output = Command::new(&promtool)
            .args(args)
            .current_dir(rules_dir())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn every_metric_the_rules_read_is_exposed_and_logs_can_be_json() {
    let rules = std::fs::read_to_string(rules_dir().join("sobrio.rules.yml")).unwrap();
    let mut names: Vec<String> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("sobrio_"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 8, "{names:?}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let collector = CollectorProcess::serve_logged(data, &[], "info");
    let (status, metrics) = http_get(&collector.http_addr, "/metrics");
    assert_eq!(status, 200);
    // Rejects are labelled by reason and field, known only when one
    // happens: their family is registered, and shown from the first.
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../collector/src/metrics.rs"),
    )
    .unwrap();
    for name in &names {
        let family = name.trim_end_matches("_total");
        let exposed = metrics
            .lines()
            .any(|line| line.starts_with(&format!("# TYPE {family} ")));
        let labelled =
            family == "sobrio_reports_rejected" && source.contains(&format!("\"{family}\""));
        assert!(
            exposed || labelled,
            "{name} is read by the rules but not exposed:\n{metrics}"
        );
    }
    assert!(metrics.contains("sobrio_store_up 1"), "{metrics}");
    drop(collector);

    // JSON logs: every log line of the collector's start is an object.
    let json = CollectorProcess::serve_with_env(data, &[("SOBRIO_LOG_FORMAT", "json")]);
    // Something logged after the start: a scrape's request, the jobs.
    let _ = http_get(&json.http_addr, "/readyz");
    let log = json.log();
    drop(json);
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!lines.is_empty(), "{log}");
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            value["level"].is_string() && value["timestamp"].is_string(),
            "{line}"
        );
    }
}
