//! Oblivious pseudonym evaluation (`Ingest.EvaluatePseudonyms`).
//!
//! A device obtains the pseudonyms of the people who use it by sending
//! their logins blinded; the collector evaluates them with the
//! organisation's key, which never leaves it (see
//! [`sobrio_proto::pseudonym`]). Since the collector cannot see which logins
//! it evaluates, what it bounds is how many: a device obtains at most its
//! bound of people — the one that also bounds the people it may report
//! (`[indicators] people_per_device`, or what IT set for a shared device) —
//! in any 28 days. Each evaluation is in the audit log; a refusal is a
//! privacy alert on the administration page.

use sobrio_proto::v1::EvaluatePseudonymsResponse;

use super::IngestError;
use crate::app::App;
use crate::app::now_unix_ms;
use crate::store::Charged;

/// The window over which a device's evaluations are counted.
pub const WINDOW_MS: i64 = 28 * 86_400_000;

/// Audit action: a device obtained pseudonyms.
pub const PSEUDONYM_EVALUATED: &str = "pseudonym.evaluated";
/// Audit action: a device asked for more pseudonyms than its bound.
pub const PRIVACY_PSEUDONYM_BOUND: &str = "privacy.pseudonym_bound_reached";

/// Evaluates `blinded` for `device_id` within its bound.
///
/// # Errors
/// `INVALID_ARGUMENT` for a malformed request, `RESOURCE_EXHAUSTED` beyond
/// the bound, `UNAVAILABLE` when the store is.
pub async fn evaluate(
    shared: &App,
    device_id: &str,
    blinded: &[Vec<u8>],
) -> Result<EvaluatePseudonymsResponse, IngestError> {
    // Evaluated first, so that a malformed request costs nothing.
    let (evaluated_elements, proof) = shared.pseudonyms.evaluate(blinded)?;
    let unavailable = |error: crate::store::StoreError| {
        tracing::warn!(device = %device_id, %error, "pseudonyms not evaluated");
        IngestError::Store(error)
    };
    let store = &shared.store;
    let bound = store
        .device_max_people(device_id)
        .await
        .map_err(unavailable)?
        .unwrap_or(shared.config.indicators.people_per_device);
    let count = u32::try_from(blinded.len()).unwrap_or(u32::MAX);
    let now = now_unix_ms();
    match store
        .charge_pseudonyms(device_id, count, bound, now - WINDOW_MS, now)
        .await
        .map_err(unavailable)?
    {
        Charged::Within(used) => {
            store
                .audit(
                    now,
                    "collector",
                    PSEUDONYM_EVALUATED,
                    device_id,
                    &format!("{count} pseudonyms ({used} of the {bound} it may obtain in 28 days)"),
                )
                .await
                .map_err(unavailable)?;
            Ok(EvaluatePseudonymsResponse {
                evaluated_elements,
                proof,
            })
        }
        Charged::Over(used) => {
            let today = jiff::Timestamp::from_millisecond(now)
                .map_or(jiff::civil::Date::MIN, |t| {
                    t.to_zoned(jiff::tz::TimeZone::UTC).date()
                });
            let week = crate::indicators::Week::containing(today);
            tracing::warn!(
                device = %device_id,
                asked = count,
                used,
                bound,
                "a device asked for more pseudonyms than its bound"
            );
            store
                .audit_once(
                    now,
                    "collector",
                    PRIVACY_PSEUDONYM_BOUND,
                    device_id,
                    &format!(
                        "week {week}: asked for {count} more pseudonyms after obtaining {used} of \
                         the {bound} it may obtain in 28 days; refused (a shared device? raise its \
                         bound with `sobrio-collector device shared {device_id} --max-people N`)"
                    ),
                    &format!("week {week}:"),
                )
                .await
                .map_err(unavailable)?;
            Err(IngestError::PseudonymBound { used, bound, count })
        }
    }
}
