//! Suggestions as a use case: computed from the facts stored, saved beside
//! the decisions already taken.

use crate::analysis::{Context, analyze, reference_data, week_start};
use crate::store::{DecisionError, MAX_REASON_CHARS, Store, StoredSuggestion};

/// Takes a decision on suggestion `id` for `actor`: `action` is `accept`,
/// `done`, `dismiss` or `undo` (both need a reason). Marking done a reuse
/// that replaces a device needs `replaced_outcome`: where the replaced
/// device went. Every adapter (the pages,
/// the API, the command line) decides through here.
///
/// # Errors
/// An unknown action or suggestion, a reason missing or too long, a
/// transition the lifecycle does not allow (open → accepted → done, or
/// dismissed), a database error; each says its code
/// ([`crate::error::Coded`]).
pub async fn decide(
    store: &Store,
    id: &str,
    action: &str,
    reason: &str,
    actor: &str,
    replaced_outcome: Option<&str>,
) -> Result<StoredSuggestion, DecisionError> {
    let to = match action {
        "accept" => "accepted",
        "done" => "done",
        "dismiss" => "dismissed",
        // Back from done: the ledger reverses what it avoided.
        "undo" => "accepted",
        other => return Err(DecisionError::UnknownAction(other.to_owned())),
    };
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(DecisionError::ReasonTooLong);
    }
    let outcome = match replaced_outcome.map(str::trim).filter(|o| !o.is_empty()) {
        Some(outcome) => Some(
            crate::analysis::disposal::Outcome::parse(outcome)
                .ok_or_else(|| DecisionError::UnknownOutcome(outcome.to_owned()))?
                .name(),
        ),
        None => None,
    };
    store
        .decide(id, to, reason, actor, crate::app::now_unix_ms(), outcome)
        .await
}

/// Reads the facts, computes the suggestions and stores them; returns what
/// changed and how many suggestions hold.
///
/// # Errors
/// On a database error or unreadable reference data.
pub async fn recompute(
    store: &Store,
    config: &crate::config::CollectorConfig,
    now_unix_ms: i64,
) -> anyhow::Result<(crate::store::RecomputeOutcome, usize)> {
    let analysis = &config.analysis;
    let end = week_start(now_unix_ms);
    let start = end - i64::from(analysis.weeks) * 7 * 86_400_000;
    let input = store.analysis_input(start, end).await?;
    let embodied = reference_data(analysis)?;
    // Each factor set's first use is recorded: a replaced file or updated
    // data shows in the audit log with the version its figures carry.
    let source = |file: Option<&std::path::Path>| {
        file.map_or_else(
            || "the built-in data".to_owned(),
            |p| p.display().to_string(),
        )
    };
    store
        .audit_once(
            now_unix_ms,
            "collector",
            "factor_set.in_use",
            embodied.version(),
            &format!(
                "{}: categories from {}; {} model footprints from {}",
                embodied.version(),
                source(analysis.embodied_file.as_deref()),
                embodied.models().len(),
                source(analysis.models_file.as_deref()),
            ),
            embodied.version(),
        )
        .await?;
    let tz = analysis.time_zone.clone();
    let today = jiff::Timestamp::from_millisecond(now_unix_ms)?
        .to_zoned(tz.clone())
        .date();
    // The computation is CPU-bound (half a second at 100,000 devices): on
    // a blocking thread, so that Submit calls and pages are not held up
    // behind it on the async workers.
    let config = config.clone();
    let suggestions = tokio::task::spawn_blocking(move || {
        let working = |department: &str| config.working_hours(department);
        analyze(
            &input,
            &Context {
                config: &config.analysis,
                embodied: &embodied,
                today,
                working_hours: &working,
                time_zone: tz,
            },
        )
    })
    .await?;
    let outcome = store.save_suggestions(&suggestions, now_unix_ms).await?;
    Ok((outcome, suggestions.len()))
}

/// Writes suggestions as CSV ([`crate::export`]: RFC 4180, formulas
/// defused).
///
/// # Errors
/// When writing fails.
pub fn write_csv(
    out: &mut impl std::io::Write,
    suggestions: &[StoredSuggestion],
) -> std::io::Result<()> {
    let mut writer = crate::export::CsvWriter::new(out);
    writer.record([
        "id",
        "kind",
        "status",
        "departments",
        "devices",
        "rationale",
        "avoided_kgco2e",
        "avoided_kgco2e_low",
        "avoided_kgco2e_high",
        "avoided_source",
        "avoided_cost_eur",
        "created",
        "updated",
    ])?;
    for s in suggestions {
        writer.record([
            s.id.clone(),
            s.kind.clone(),
            s.status.clone(),
            s.departments.join(";"),
            s.devices.join(";"),
            s.rationale.clone(),
            s.avoided_kgco2e.value.to_string(),
            s.avoided_kgco2e.low.to_string(),
            s.avoided_kgco2e.high.to_string(),
            s.avoided_kgco2e.source.clone(),
            s.avoided_cost_eur
                .map_or(String::new(), |c| format!("{c:.2}")),
            s.created.clone(),
            s.updated.clone(),
        ])?;
    }
    writer.finish()?;
    Ok(())
}
