//! The collector's and the agent's layers hold: read from their sources,
//! every module uses only its own layer and those below, and no module
//! depends on itself through others.

use std::path::Path;

use sobrio_tests::layers::{check, crate_paths};

fn src(krate: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src")
}

#[test]
fn the_collector_s_dependencies_point_down_and_form_no_cycle() {
    if let Err(problem) = check(&src("collector"), sobrio_collector::architecture::LAYERS) {
        panic!("collector: {problem} (layers in collector/src/architecture.rs)");
    }
}

#[test]
fn the_agent_s_dependencies_point_down_and_form_no_cycle() {
    if let Err(problem) = check(&src("agent"), sobrio_agent::architecture::LAYERS) {
        panic!("agent: {problem} (layers in agent/src/architecture.rs)");
    }
}

#[test]
fn crate_paths_are_read_from_uses_and_paths() {
    let text = "use crate::{\n    store::{Store, web_x},\n    web,\n};\nlet x = crate::analysis::f(); // crate::cli\n";
    let names: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(names, ["analysis", "store", "web"]);
}

#[test]
fn a_dependency_upwards_or_a_cycle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("low.rs", "use crate::high::X;\n");
    write("high.rs", "pub struct X;\n");
    let layers: sobrio_tests::layers::Layers<'_> = &[("low", &["low"]), ("high", &["high"])];
    let problem = check(dir.path(), layers).unwrap_err();
    assert!(problem.contains("(\"low\", \"high\")"), "{problem}");
    write("high.rs", "use crate::low::Y;\npub struct X;\n");
    let same: sobrio_tests::layers::Layers<'_> = &[("one", &["low", "high"])];
    let problem = check(dir.path(), same).unwrap_err();
    assert!(problem.contains("(\"low\", \"high\")"), "{problem}");
    write("low.rs", "pub struct Y;\n");
    assert_eq!(check(dir.path(), same), Ok(()));
    write("stray.rs", "pub struct Z;\n");
    assert!(check(dir.path(), same).unwrap_err().contains("stray"));
}
