//! The README's configuration reference holds: every TOML example it shows
//! parses as the configuration its section names (collector, agent, fleet
//! file) — as written, and with its commented-out keys switched on — and
//! `sobrio-collector config check` accepts the collector's and refuses a bad
//! value with exit code 64, naming the key.

use std::path::Path;

use sobrio_tests::run;

/// The TOML blocks of the README, each with the heading above it.
fn toml_examples() -> Vec<(String, String, usize)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let mut examples = Vec::new();
    let (mut heading, mut block, mut start) = (String::new(), None::<String>, 0);
    for (index, line) in readme.lines().enumerate() {
        match &mut block {
            None if line.starts_with('#') => heading = line.to_owned(),
            None if line.starts_with("```toml") => {
                block = Some(String::new());
                start = index + 1;
            }
            Some(text) if line.starts_with("```") => {
                examples.push((heading.clone(), std::mem::take(text), start));
                block = None;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    examples
}

/// The block with its commented-out keys (`# key = value  # note`) switched
/// on.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| {
            let rest = line.trim_start().strip_prefix('#').map(str::trim_start);
            match rest {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(key, _)| {
                        !key.is_empty()
                            && key
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || "_.-\"".contains(c))
                    }) =>
                {
                    rest.to_owned()
                }
                _ => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_configuration_example_in_the_readme_parses() {
    let examples = toml_examples();
    let mut seen = [0; 3];
    for (heading, text, line) in &examples {
        for (variant, text) in [
            ("as written", text.clone()),
            ("uncommented", uncommented(text)),
        ] {
            let origin = format!("README.md line {line} ({variant})");
            let parsed: Result<(), String> = if heading.to_lowercase().contains("collector") {
                seen[0] += 1;
                sobrio_collector::config::CollectorConfig::parse(&text, &origin)
                    .map(drop)
                    .map_err(|e| e.to_string())
            } else if heading.contains("Agent") {
                seen[1] += 1;
                sobrio_agent::config::AgentConfig::parse(&text, &origin)
                    .map(drop)
                    .map_err(|e| e.to_string())
            } else if heading.contains("Fleet") {
                seen[2] += 1;
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("fleet.toml");
                std::fs::write(&path, &text).unwrap();
                sobrio_collector::demo::fleet::Fleet::load(&path)
                    .map(drop)
                    .map_err(|e| e.to_string())
            } else {
                Err(format!(
                    "{origin}: under {heading:?}, which names no configuration"
                ))
            };
            if let Err(error) = parsed {
                panic!("{origin}: {error}\n{text}");
            }
        }
    }
    assert!(
        seen.iter().all(|n| *n > 0),
        "collector, agent and fleet examples: {seen:?}"
    );
}

#[test]
fn config_check_accepts_the_readme_s_collector_example_and_names_a_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let collector: String = toml_examples()
        .into_iter()
        .filter(|(heading, _, _)| heading.contains("Collector"))
        .map(|(_, text, _)| text)
        .collect();
    let good = dir.path().join("collector.toml");
    std::fs::write(&good, &collector).unwrap();
    let output = run(
        "sobrio-collector",
        &["config", "check", good.to_str().unwrap()],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid"));

    let refused = |text: &str, expected: &[&str]| {
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, text).unwrap();
        let output = run(
            "sobrio-collector",
            &["config", "check", bad.to_str().unwrap()],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{text}: {stderr}");
        for word in expected {
            assert!(stderr.contains(word), "{text}: {word:?} in {stderr}");
        }
    };
    refused("[analysis]\nweeks = 40\n", &["weeks", "40"]);
    refused("[server]\nhttp_adr = \"127.0.0.1:8080\"\n", &["http_adr"]);
    refused(
        "[analysis]\nmodels_file = \"/nonexistent/models.csv\"\n",
        &["models_file", "/nonexistent/models.csv"],
    );
    refused(
        "[analysis.replacement_models]\nlaptop = \"Dell Latitude 9999 Ultra\"\n",
        &["replacement_models.laptop", "Latitude 9999"],
    );
}
