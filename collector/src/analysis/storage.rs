//! Storage hygiene: what a department's devices could reclaim.

use super::*;

/// Storage hygiene: a department whose devices could reclaim a gigabyte
/// or more.
pub(super) fn storage_hygiene(input: &AnalysisInput) -> Vec<Suggestion> {
    let mut suggestions = Vec::new();
    let mut storage: BTreeMap<&str, (Reclaimable, usize)> = BTreeMap::new();
    for device in &input.devices {
        if let Some(r) = device.reclaimable {
            let entry = storage.entry(device.department.as_str()).or_default();
            entry.1 += 1;
            let e = &mut entry.0;
            e.duplicates += r.duplicates;
            e.temp += r.temp;
            e.cache += r.cache;
            e.trash += r.trash;
            e.stale += r.stale;
            e.mail_archives += r.mail_archives;
            e.old_downloads += r.old_downloads;
        }
    }
    for (department, (reclaimable, devices)) in storage {
        let total = reclaimable.total();
        if total < 1 << 30 {
            continue;
        }
        let mut parts: Vec<(&str, i64)> = reclaimable
            .parts()
            .into_iter()
            .filter(|(_, b)| *b > 0)
            .collect();
        parts.sort_by_key(|(_, b)| -b);
        let mut detail = String::new();
        for (name, bytes) in parts {
            if !detail.is_empty() {
                detail.push_str(", ");
            }
            let _ = write!(detail, "{name} {:.1} GB", gib(bytes));
        }
        suggestions.push(Suggestion {
            id: stable_id(Kind::Storage, department),
            kind: Kind::Storage,
            departments: vec![department.to_owned()],
            devices: Vec::new(),
            rationale: format!(
                "{department}: {:.1} GB reclaimable on {devices} devices — {detail}. People see \
                 their own files with `sobrio-agent storage`.",
                gib(total)
            ),
            avoided_kgco2e: Avoided::none(
                "not estimated: the footprint of stored data depends on where it is kept",
            ),
            avoided_cost_eur: None,
            reuse: None,
            material_facts: format!("{}", total >> 33),
        });
    }
    suggestions
}
