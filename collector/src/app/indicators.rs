//! HR's indicators as a use case: each week published once, from the
//! person-days stored, under the privacy settings; its trend.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;

use crate::indicators::{
    DeviceDay, DpNoise, Exact, Release, Week, dp, figures_per_cell, person_weeks, publication_day,
    release, week, with_history,
};

/// Why indicators could not be released.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorsError {
    #[error(transparent)]
    BadWeek(#[from] week::BadWeek),
    #[error(
        "week {week} is not published yet: a week is published once, {days} days after it ends (on {on}), so that late reports count and nothing changes it afterwards"
    )]
    NotPublished { week: Week, days: u32, on: Date },
    #[error("the privacy budget of week {0} is spent: its release cannot be drawn")]
    BudgetSpent(Week),
    #[error("the differential-privacy settings are invalid: {0}")]
    Settings(#[from] dp::DpError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl crate::error::Coded for IndicatorsError {
    fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            Self::BadWeek(_) => ErrorCode::InvalidArgument,
            Self::NotPublished { .. } | Self::BudgetSpent(_) => ErrorCode::Conflict,
            Self::Settings(_) => ErrorCode::Internal,
            Self::Store(error) => crate::error::Coded::code(error),
        }
    }
}

/// Weeks before a release whose published medians its trends compare with.
const TREND_WEEKS: i64 = 4;

/// The release of `week` (`YYYY-Www`, parsed strictly) on `today`.
///
/// A week is published once: on the first request or run of the hourly job
/// after `publish_after_days` have passed since it ended, its release is
/// computed (drawn, under differential privacy), stored, and from then on
/// served as stored — later reports never change it, and a replica that
/// loses the race serves the winner's. The current week, and any week not
/// yet due, is never served. The four weeks before are published first, so
/// that trends compare with what was published, never with a recomputation.
/// A published week is marked aggregated, so that its person-day rows age
/// out.
///
/// # Errors
/// A malformed week, a week not yet published, a spent budget under
/// differential privacy, or a database error.
pub async fn compute(
    store: &crate::store::Store,
    config: &crate::config::CollectorConfig,
    week: &str,
    today: Date,
) -> Result<Release, IndicatorsError> {
    let week: Week = week.parse()?;
    let settings = &config.indicators;
    let on = publication_day(week, settings);
    if on > today {
        return Err(IndicatorsError::NotPublished {
            week,
            days: settings.publish_after_days,
            on,
        });
    }
    if let Some(release) = stored_release(store, week).await? {
        return Ok(release);
    }
    let mut earlier = Vec::new();
    for back in (1..=TREND_WEEKS).rev() {
        let before = week.before(back);
        let release = match stored_release(store, before).await? {
            Some(release) => release,
            None => publish(store, config, before, &[]).await?,
        };
        earlier.push(release);
    }
    publish(store, config, week, &earlier).await
}

async fn stored_release(
    store: &crate::store::Store,
    week: Week,
) -> Result<Option<Release>, IndicatorsError> {
    let Some(json) = store.indicator_release(&week.to_string()).await? else {
        return Ok(None);
    };
    serde_json::from_str::<Release>(&json)
        .map(Some)
        .map_err(|e| {
            IndicatorsError::Store(crate::store::StoreError::Corrupt(format!(
                "indicator release of {week}: {e}"
            )))
        })
}

/// Computes, stores and returns `week`'s release, with trends against
/// `earlier` (the published weeks before, oldest first); the release already
/// stored when another got there first.
async fn publish(
    store: &crate::store::Store,
    config: &crate::config::CollectorConfig,
    week: Week,
    earlier: &[Release],
) -> Result<Release, IndicatorsError> {
    let settings = &config.indicators;
    let dp = &settings.differential_privacy;
    let (monday, sunday) = (week.monday(), week.sunday());
    let rows = store
        .person_day_rows(&monday.to_string(), &sunday.to_string())
        .await?;
    let homes = store
        .person_homes(
            &monday.to_string(),
            &sunday.to_string(),
            unix_ms(monday),
            unix_ms(week.next().monday()),
        )
        .await?;
    let departments = store.department_names().await?;
    let key = week.to_string();
    flag_people_on_many_devices(store, &rows, &key, settings.devices_per_person_alert).await?;
    // CPU-bound over every person-day of the week: on a blocking thread, so
    // that Submit calls and pages are not held up behind it.
    let (config_owned, key_owned, earlier_owned) = (config.clone(), key.clone(), earlier.to_vec());
    let (drawn, spent) = tokio::task::spawn_blocking(move || {
        let settings = &config_owned.indicators;
        let dp = &settings.differential_privacy;
        let weeks = person_weeks(&rows, monday, &homes, &|department: &str| {
            config_owned.working_hours(department).days
        });
        let (drawn, spent) = if dp.enabled {
            let mut noise = DpNoise::new(dp.epsilon, figures_per_cell(settings))?;
            let mut drawn = release(&key_owned, &weeks, &departments, settings, &mut noise);
            drawn.differential_privacy = true;
            (drawn, noise.spent())
        } else {
            (
                release(&key_owned, &weeks, &departments, settings, &mut Exact),
                Vec::new(),
            )
        };
        Ok::<_, dp::DpError>((with_history(drawn, &earlier_owned, settings), spent))
    })
    .await
    .unwrap_or_else(|panicked| std::panic::resume_unwind(panicked.into_panic()))?;
    let json = serde_json::to_string(&drawn).unwrap_or_default();
    let stored = match store
        .publish_indicator_release(
            &key,
            &json,
            &spent,
            dp.budget_per_week,
            crate::app::now_unix_ms(),
        )
        .await
    {
        Ok(Some(stored)) => stored,
        Ok(None) => return Err(IndicatorsError::BudgetSpent(week)),
        // Another replica published it first: serve theirs.
        Err(error) => match store.indicator_release(&key).await? {
            Some(stored) => stored,
            None => return Err(error.into()),
        },
    };
    let release = serde_json::from_str::<Release>(&stored).map_err(|e| {
        IndicatorsError::Store(crate::store::StoreError::Corrupt(format!(
            "indicator release of {week}: {e}"
        )))
    })?;
    tracing::info!(week = %week, differential_privacy = dp.enabled, "indicators published");
    store
        .mark_week_aggregated(monday, crate::app::now_unix_ms())
        .await?;
    Ok(release)
}

/// Audit action: one person was reported by many devices in a week.
pub const PRIVACY_PERSON_ON_MANY_DEVICES: &str = "privacy.person_on_many_devices";

/// Flags, once per week, each person reported with figures by more than
/// `alert` devices: a sign that devices report someone who does not use
/// them. The alert names the devices, never the person.
async fn flag_people_on_many_devices(
    store: &crate::store::Store,
    rows: &[DeviceDay],
    week: &str,
    alert: u32,
) -> Result<(), crate::store::StoreError> {
    let mut devices: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.has_figures()) {
        devices
            .entry(row.person_id.as_str())
            .or_default()
            .insert(row.device_id.as_str());
    }
    for seen in devices.values().filter(|d| d.len() > alert as usize) {
        let list: Vec<&str> = seen.iter().copied().collect();
        tracing::warn!(
            week,
            devices = list.len(),
            "one person reported by many devices"
        );
        let detail = format!(
            "week {week}: one person reported by {} devices (alert above {alert}): {}",
            list.len(),
            list.join(", ")
        );
        store
            .audit_once(
                crate::app::now_unix_ms(),
                "collector",
                PRIVACY_PERSON_ON_MANY_DEVICES,
                week,
                &detail,
                &detail,
            )
            .await?;
    }
    Ok(())
}

/// Midnight UTC of `day`, in Unix milliseconds.
fn unix_ms(day: Date) -> i64 {
    day.to_zoned(jiff::tz::TimeZone::UTC)
        .map_or(0, |z| z.timestamp().as_millisecond())
}
