//! What to do with one device: repair, upgrade, or keep it longer.

use super::*;

/// What to do with one device no reuse claimed: repair a worn battery or
/// a failing disk, upgrade memory or disk that is full while the processor
/// keeps up, or keep a healthy device past its lifetime.
pub(super) fn device_suggestion(
    device: &Assessed<'_>,
    config: &AnalysisSettings,
    replacements: &keep::Replacements,
) -> Option<Suggestion> {
    if !device.healthy() && !device.cpu_bound {
        Some(repair(device, config))
    } else if (device.memory_bound || device.disk_bound) && !device.cpu_bound && device.healthy() {
        Some(upgrade(device, config))
    } else if device.due() && device.healthy() && !device.overloaded() {
        let replacement = replacements.of(device.category, device.replacement);
        let even = keep::BreakEven::of(&device.footprint, replacement, config.grid_kgco2e_per_kwh);
        Some(extend(device, config, even.as_ref()))
    } else {
        None
    }
}

/// Repair: a worn battery or a failing disk on an otherwise fit device.
fn repair(device: &Assessed<'_>, config: &AnalysisSettings) -> Suggestion {
    let mut parts = Vec::new();
    if device.worn_battery {
        parts.push(format!(
            "its battery holds {:.0}% of its design capacity{}",
            device.facts.battery_health_percent.unwrap_or(0.0),
            device
                .facts
                .battery_cycles
                .map_or(String::new(), |c| format!(" after {c} cycles"))
        ));
    }
    if device.failing_disk {
        parts.push("its disk reports failure".to_owned());
    }
    let part = if device.failing_disk {
        "disk"
    } else {
        "battery"
    };
    Suggestion {
        id: stable_id(Kind::Repair, &device.facts.device_id),
        kind: Kind::Repair,
        departments: vec![device.facts.department.clone()],
        devices: vec![device.facts.device_id.clone()],
        rationale: format!(
            "Repair {}: {}; it is otherwise fit ({}). Replace the {part}, not the {}.",
            device.label(),
            parts.join(" and "),
            device.age_text(),
            device.category.name()
        ),
        avoided_kgco2e: Avoided::of(device.replacement, 1.0),
        avoided_cost_eur: device.price(config),
        reuse: None,
        material_facts: format!(
            "{}|{}",
            device
                .facts
                .battery_health_percent
                .map_or(-1.0, |h| (h / 10.0).floor()),
            device.failing_disk
        ),
    }
}

/// Upgrade: memory or disk full while the processor keeps up.
fn upgrade(device: &Assessed<'_>, config: &AnalysisSettings) -> Suggestion {
    let mut parts = Vec::new();
    if device.memory_bound {
        parts.push(format!(
            "memory is full (p95 ≥ 90%) in {:.0}% of active hours with {:.0} GB",
            100.0
                * device
                    .facts
                    .usage
                    .hot_share(device.facts.usage.memory_hot_hours),
            gib(device.facts.memory_bytes.unwrap_or(0))
        ));
    }
    if device.disk_bound {
        parts.push(format!(
            "its disk is {:.0}% full",
            device.facts.usage.disk_fill_max_percent.unwrap_or(0.0)
        ));
    }
    Suggestion {
        id: stable_id(Kind::Upgrade, &device.facts.device_id),
        kind: Kind::Upgrade,
        departments: vec![device.facts.department.clone()],
        devices: vec![device.facts.device_id.clone()],
        rationale: format!(
            "Upgrade {} instead of replacing it: {}; its processor keeps up. Add {}.",
            device.label(),
            parts.join(" and "),
            if device.memory_bound && device.disk_bound {
                "memory and a larger disk"
            } else if device.memory_bound {
                "memory"
            } else {
                "a larger disk (or clean it)"
            }
        ),
        avoided_kgco2e: Avoided::of(device.replacement, 1.0),
        avoided_cost_eur: device.price(config),
        reuse: None,
        material_facts: format!("{}|{}", device.memory_bound, device.disk_bound),
    }
}

/// Extend: a healthy device past its lifetime, kept longer, with the
/// break-even against its replacement when both sides' use is known.
fn extend(
    device: &Assessed<'_>,
    config: &AnalysisSettings,
    even: Option<&keep::BreakEven>,
) -> Suggestion {
    let lifetime = device.footprint.lifetime_years;
    let extended = lifetime + config.extension_years;
    let per_year = |e: f64| e / lifetime - e / extended;
    let footprint = &device.footprint;
    Suggestion {
        id: stable_id(Kind::Extend, &device.facts.device_id),
        kind: Kind::Extend,
        departments: vec![device.facts.department.clone()],
        devices: vec![device.facts.device_id.clone()],
        rationale: format!(
            "Keep {} {} more years: it is {}, past the {lifetime:.0}-year lifetime of a {}, \
             healthy{} and not overloaded; {:.1} kgCO2e of manufacturing a year avoided{}.",
            device.label(),
            config.extension_years,
            device.age_text(),
            device.category.name(),
            device
                .facts
                .battery_health_percent
                .map_or(String::new(), |h| format!(" (battery {h:.0}%)")),
            per_year(footprint.embodied_kgco2e),
            even.map_or(String::new(), |even| format!("; {}", even.sentence()))
        ),
        avoided_kgco2e: Avoided {
            value: round1(per_year(footprint.embodied_kgco2e)),
            low: round1(per_year(footprint.low_kgco2e)),
            high: round1(per_year(footprint.high_kgco2e)),
            source: format!(
                "per year: embodied/lifetime − embodied/(lifetime + {}); {}",
                config.extension_years, footprint.source
            ),
        },
        avoided_cost_eur: device
            .price(config)
            .map(|p| round1(p / extended * config.extension_years)),
        reuse: None,
        material_facts: format!(
            "{}|{}",
            device.age_years.map_or(-1.0, f64::floor),
            device.healthy()
        ),
    }
}
