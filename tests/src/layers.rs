//! A crate's layers, read from its sources: every file's `crate::` paths
//! give the graph of its top-level modules, which [`check`] holds against
//! the layers the crate declares (`architecture::LAYERS`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The crate's layers, bottom first: each with its top-level modules.
pub type Layers<'a> = &'a [(&'a str, &'a [&'a str])];

/// The top-level modules of the crate whose sources are in `src`, each with
/// the top-level modules its files name through `crate::` (`lib.rs`,
/// `main.rs` and the layers' own declaration left out).
pub fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.to_path_buf()];
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
        let relative = path.strip_prefix(src).unwrap();
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
pub fn crate_paths(text: &str) -> BTreeSet<String> {
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

/// Whether the modules of `src` keep to `layers`: each in one layer, using
/// only its own layer and those below, and no cycle between modules of a
/// layer.
///
/// # Errors
/// What breaks the rule, said so that the fix is clear.
pub fn check(src: &Path, layers: Layers<'_>) -> Result<(), String> {
    let layer_of = |module: &str| {
        layers
            .iter()
            .position(|(_, modules)| modules.contains(&module))
    };
    let graph = module_graph(src);
    let unplaced: Vec<&String> = graph.keys().filter(|m| layer_of(m).is_none()).collect();
    if !unplaced.is_empty() {
        return Err(format!(
            "modules in no layer of `architecture::LAYERS`: {unplaced:?}"
        ));
    }
    let mut wrong = BTreeSet::new();
    for (module, used) in &graph {
        for target in used {
            let (Some(from), Some(to)) = (layer_of(module), layer_of(target)) else {
                continue;
            };
            // Upwards, or within a layer in a cycle.
            if to > from || (to == from && reaches(&graph, target, module)) {
                wrong.insert((module.clone(), target.clone()));
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "dependencies against the layers (module -> what it uses): {wrong:?}; \
             move the shared part down, or pass it in from above"
        ))
    }
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
