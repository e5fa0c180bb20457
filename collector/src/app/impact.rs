//! The fleet's impact as a use case: footprint, avoided emissions, ages and
//! renewals, from the facts stored.

use std::collections::HashMap;

use crate::analysis::{impact, reference_data, week_start};

/// The fleet's impact now.
///
/// # Errors
/// On a database error or unreadable reference data.
pub async fn current_impact(
    store: &crate::store::Store,
    config: &crate::config::CollectorConfig,
    now_unix_ms: i64,
) -> anyhow::Result<impact::Impact> {
    let analysis = &config.analysis;
    let end = week_start(now_unix_ms);
    let mut devices = store.device_facts(end - 7 * 86_400_000, end).await?;
    let index: HashMap<String, usize> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.device_id.clone(), i))
        .collect();
    store.add_reclaimable(&mut devices, &index).await?;
    let embodied = reference_data(analysis)?;
    let today = jiff::Timestamp::from_millisecond(now_unix_ms)?
        .to_zoned(analysis.time_zone.clone())
        .date();
    let done = store.done_avoided().await?;
    let done_suggestions = store
        .suggestion_counts()
        .await?
        .iter()
        .filter(|(_, status, _, _)| status == "done")
        .map(|(_, _, count, _)| u64::try_from(*count).unwrap_or(0))
        .sum();
    let retired = store.retired_device_facts().await?;
    Ok(impact::impact(
        &devices,
        &retired,
        &done,
        done_suggestions,
        &embodied,
        &analysis.default_price_eur,
        today,
    ))
}

/// The report of `year`: its footprint in both views (from `impact`), what
/// that year's decisions avoided, the lifetimes its retired devices
/// reached and the share that went to reuse.
///
/// # Errors
/// On a database error or unreadable reference data.
pub async fn yearly_report(
    store: &crate::store::Store,
    embodied: &crate::analysis::embodied::Embodied,
    impact: &impact::Impact,
    year: i16,
) -> anyhow::Result<crate::analysis::report::YearlyReport> {
    use crate::analysis::report::{Avoidance, yearly_report};
    let ledger: Vec<Avoidance> = store
        .avoided_ledger()
        .await?
        .into_iter()
        .map(|entry| Avoidance {
            view: entry.view,
            kind: entry.kind,
            year: entry.year,
            kgco2e: entry.kgco2e,
            low: entry.kgco2e_low,
            high: entry.kgco2e_high,
        })
        .collect();
    let disposals = crate::app::devices::disposals(store).await?;
    let reuse = crate::analysis::disposal::reuse_report(&disposals);
    Ok(yearly_report(
        year,
        &impact.accounting,
        &ledger,
        &disposals,
        &reuse,
        embodied,
    ))
}
