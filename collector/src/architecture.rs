//! The collector's layers, and the test that keeps its dependencies
//! pointing one way: read from the sources' `crate::` paths, a module may
//! use modules of its own layer or of the layers below it, never above, and
//! the top-level modules form no cycle.
//!
//! Bottom first:
//! - **domain**: values and rules, no I/O and no clock of their own;
//! - **store**: everything kept, on SQLite or PostgreSQL;
//! - **application**: the use cases and the state they share;
//! - **adapters**: gRPC services, JSON API, pages, CLI commands, jobs, demo;
//! - **wiring**: start-up, which assembles the rest.
//!
//! Run `cargo test -p sobrio-collector architecture` to check it.

/// Each layer with its top-level modules, bottom first.
pub const LAYERS: &[(&str, &[&str])] = &[
    (
        "domain",
        &[
            "domain",
            "error",
            "working_hours",
            "secret",
            "lifecycle",
            "analysis",
            "indicators",
            "policy",
            "export",
            "config",
        ],
    ),
    ("store", &["store"]),
    (
        "application",
        &["app", "assets", "pki", "limiter", "cache", "metrics"],
    ),
    (
        "adapters",
        &[
            "auth",
            "transport",
            "http",
            "ingest",
            "enrollment",
            "api",
            "web",
            "jobs",
            "demo",
            "cli",
        ],
    ),
    ("wiring", &["server"]),
];

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use super::LAYERS;

    /// Top-level modules, each with the top-level modules its files name
    /// through `crate::`.
    fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut files = vec![src.clone()];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(
                    std::fs::read_dir(&path)
                        .unwrap()
                        .map(|entry| entry.unwrap().path()),
                );
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let first = relative.components().next().unwrap();
            let module = first
                .as_os_str()
                .to_str()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned();
            if module == "lib" || module == "main" || module == "architecture" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let used = graph.entry(module.clone()).or_default();
            for name in crate_paths(&text) {
                if name != module {
                    used.insert(name);
                }
            }
        }
        graph
    }

    /// The first segments of the `crate::` paths in `text`, comments left
    /// out: `crate::store::Store` and `use crate::{store, web::x}` alike,
    /// over several lines too.
    fn crate_paths(text: &str) -> BTreeSet<String> {
        let code: String = text
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let identifier = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let mut names = BTreeSet::new();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let Some(group) = rest.strip_prefix('{') else {
                names.insert(identifier(rest));
                continue;
            };
            // The first segment of each item at the group's own depth.
            let mut depth = 1;
            let mut item_start = true;
            for (index, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 1 => break,
                    '}' => depth -= 1,
                    ',' if depth == 1 => item_start = true,
                    c if item_start && depth == 1 && !c.is_whitespace() => {
                        names.insert(identifier(&group[index..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        }
        names.remove("");
        names
    }

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS
            .iter()
            .position(|(_, modules)| modules.contains(&module))
    }

    #[test]
    fn every_module_has_a_layer() {
        let unplaced: Vec<String> = module_graph()
            .into_keys()
            .filter(|m| layer_of(m).is_none())
            .collect();
        assert!(
            unplaced.is_empty(),
            "modules in no layer of `architecture::LAYERS`: {unplaced:?}"
        );
    }

    #[test]
    fn dependencies_point_down_and_form_no_cycle() {
        let graph = module_graph();
        let mut wrong = BTreeSet::new();
        for (module, used) in &graph {
            for target in used {
                let (Some(from), Some(to)) = (layer_of(module), layer_of(target)) else {
                    continue;
                };
                if to > from {
                    wrong.insert((module.clone(), target.clone()));
                }
            }
        }
        // Within a layer: no cycle between modules.
        for (module, used) in &graph {
            for target in used {
                if reaches(&graph, target, module) && layer_of(module) == layer_of(target) {
                    wrong.insert((module.clone(), target.clone()));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "dependencies against the layers (module -> what it uses): {wrong:?}; \
             move the shared part down, or pass it in from above"
        );
    }

    /// Whether `to` is reachable from `from`.
    fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(module) = stack.pop() {
            if module == to {
                return true;
            }
            if seen.insert(module.clone())
                && let Some(used) = graph.get(&module)
            {
                stack.extend(used.iter().cloned());
            }
        }
        false
    }

    #[test]
    fn crate_paths_are_read_from_uses_and_paths() {
        let text = "use crate::{\n    store::{Store, web_x},\n    web,\n};\nlet x = crate::analysis::f(); // crate::cli\n";
        let names: Vec<String> = crate_paths(text).into_iter().collect();
        assert_eq!(names, ["analysis", "store", "web"]);
    }
}
