//! The fuzz targets' committed corpus replayed through the same entries
//! (`fuzz/entries.rs`), then random and mutated inputs by proptest: what
//! CI runs of the fuzzing, which itself runs on demand with `cargo fuzz`
//! (see RELIABILITY.md).

use std::path::PathBuf;

use proptest::prelude::*;

#[path = "../../fuzz/entries.rs"]
mod entries;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn the_committed_corpus_replays_without_a_panic() {
    let mut total = 0;
    for (target, entry) in entries::TARGETS {
        let inputs = corpus(target);
        assert!(!inputs.is_empty(), "fuzz/corpus/{target} holds no input");
        for input in &inputs {
            entry(input);
        }
        println!("{target}: {} inputs replayed", inputs.len());
        total += inputs.len();
    }
    println!("{total} inputs in all");
}

/// The notification monitor's corpus starts from bodies as senders write
/// them, in both byte orders: they read as Notify calls.
#[test]
fn the_notify_bodies_of_the_corpus_read_as_notify_calls() {
    use zbus::wire::{Endian, serialized::Context, serialized::Data};
    let read = corpus("notify_body")
        .iter()
        .filter_map(|input| {
            let (&order, body) = input.split_first()?;
            let endian = if order % 2 == 0 {
                Endian::Little
            } else {
                Endian::Big
            };
            let body = Data::new(body, Context::new(endian, 0));
            sobrio_agent::probe::notifications::notify_category(&body).ok()
        })
        .count();
    assert!(read >= 6, "{read} corpus bodies read as Notify calls");
}

/// A corpus input of `target` with bytes overwritten, inserted and removed.
fn mutated(target: usize) -> impl Strategy<Value = Vec<u8>> {
    let seeds = corpus(entries::TARGETS[target].0);
    (
        0..seeds.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3_u8), 1..16),
    )
        .prop_map(move |(seed, edits)| {
            let mut bytes = seeds[seed].clone();
            for (at, byte, how) in edits {
                let at = if bytes.is_empty() {
                    0
                } else {
                    at.index(bytes.len())
                };
                match how {
                    0 if !bytes.is_empty() => bytes[at] = byte,
                    1 if !bytes.is_empty() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, byte),
                }
            }
            bytes
        })
}

proptest! {
    // Failures are kept as corpus files (fuzz/corpus), not proptest's own.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_are_handled_by_every_target(
        target in 0..entries::TARGETS.len(),
        data in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        (entries::TARGETS[target].1)(&data);
    }

    #[test]
    fn mutated_reports_are_handled(data in mutated(0)) {
        entries::report(&data);
    }

    #[test]
    fn mutated_configurations_are_handled(
        collector in mutated(1),
        agent in mutated(2),
    ) {
        entries::collector_config(&collector);
        entries::agent_config(&agent);
    }

    #[test]
    fn mutated_calendars_are_handled(data in mutated(3)) {
        entries::ics(&data);
    }

    #[test]
    fn mutated_spool_entries_and_registers_are_handled(
        entry in mutated(4),
        register in mutated(5),
    ) {
        entries::spool_entry(&entry);
        entries::asset_csv(&register);
    }

    #[test]
    fn mutated_notify_bodies_are_handled(data in mutated(6)) {
        entries::notify_body(&data);
    }
}
