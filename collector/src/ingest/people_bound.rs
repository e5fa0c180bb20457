//! How many people one device may report.
//!
//! A device reports the digital load of the people who use it: one or two
//! on a personal laptop, more on a shared desk machine. Without a bound, one
//! device (any local administrator holds its certificate) could invent
//! people and count them towards k. Each device may report at most its
//! bound of distinct people in an ISO week — the configured default
//! (`[indicators] people_per_device`) or what IT set for a shared device.
//! Rows of further people are not stored: the rest of the report (hardware,
//! usage, storage, the people within the bound) is, and the device is
//! flagged once per week in the audit log, where the administration page
//! shows it.

use std::collections::{BTreeMap, BTreeSet};

use crate::indicators::Week;
use crate::store::{IncomingReport, Store, StoreError};

/// What [`keep_within_bound`] left out.
#[derive(Debug, Default, PartialEq)]
pub struct OverBound {
    /// Per week: the people the device may report and how many more it
    /// tried to add.
    pub weeks: BTreeMap<Week, (u32, usize)>,
    /// Rows not stored.
    pub rows: usize,
}

/// Removes from `reports` the rows of people beyond the device's bound,
/// counting the people it reported earlier in the same weeks; returns what
/// was removed.
///
/// # Errors
/// On a database error.
pub async fn keep_within_bound(
    store: &Store,
    device_id: &str,
    default_bound: u32,
    reports: &mut [IncomingReport],
) -> Result<OverBound, StoreError> {
    let weeks: BTreeSet<Week> = reports
        .iter()
        .flat_map(|r| &r.person_days)
        .filter_map(|row| row.day.parse().ok().map(Week::containing))
        .collect();
    if weeks.is_empty() {
        return Ok(OverBound::default());
    }
    let bound = store
        .device_max_people(device_id)
        .await?
        .unwrap_or(default_bound);
    let mut known: BTreeMap<Week, BTreeSet<String>> = BTreeMap::new();
    for week in &weeks {
        let people = store
            .people_reported_by(
                device_id,
                &week.monday().to_string(),
                &week.sunday().to_string(),
            )
            .await?;
        known.insert(
            *week,
            people.into_iter().map(|(person, _)| person).collect(),
        );
    }
    // A person whose earlier pseudonym the reports link to their current
    // one is the same person.
    for (previous, current) in reports.iter().flat_map(|r| &r.pseudonym_links) {
        for people in known.values_mut() {
            if people.remove(previous) {
                people.insert(current.clone());
            }
        }
    }
    let mut over = OverBound::default();
    let mut refused: BTreeMap<Week, BTreeSet<String>> = BTreeMap::new();
    for report in reports.iter_mut() {
        report.person_days.retain(|row| {
            // Validated dates parse; a row that does not is left to validation.
            let Some(week) = row.day.parse().ok().map(Week::containing) else {
                return true;
            };
            let people = known.entry(week).or_default();
            if people.contains(&row.person_id) {
                return true;
            }
            if row.has_figures() && people.len() < bound as usize {
                people.insert(row.person_id.clone());
                return true;
            }
            if row.has_figures() {
                refused
                    .entry(week)
                    .or_default()
                    .insert(row.person_id.clone());
            }
            // Rows without figures of someone the device does not report
            // would count for nothing: they are not kept either.
            over.rows += 1;
            false
        });
    }
    over.weeks = refused
        .into_iter()
        .map(|(week, people)| (week, (bound, people.len())))
        .collect();
    Ok(over)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PersonDayRow;

    fn row(person: &str, day: &str, active: Option<i64>) -> PersonDayRow {
        PersonDayRow {
            person_id: person.into(),
            day: day.into(),
            active_minutes: active,
            ..PersonDayRow::default()
        }
    }

    fn report(rows: Vec<PersonDayRow>) -> IncomingReport {
        IncomingReport {
            report_id: uuid::Uuid::now_v7().to_string(),
            collected_unix_ms: 0,
            payload: Vec::new(),
            inventory: None,
            usage: Vec::new(),
            storage: None,
            person_days: rows,
            pseudonym_links: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_device_reports_at_most_its_bound_of_people_a_week() {
        let (_dir, store) = crate::store::tests_support::store_with_device("dev").await;
        let mut reports = vec![
            report(vec![
                row("a", "2026-11-16", Some(60)),
                row("b", "2026-11-16", Some(60)),
                row("c", "2026-11-16", Some(60)),
                // Empty rows neither count nor take a place.
                row("d", "2026-11-16", None),
            ]),
            // Another week starts afresh.
            report(vec![
                row("c", "2026-11-23", Some(60)),
                row("a", "2026-11-17", Some(30)),
            ]),
        ];
        let over = keep_within_bound(&store, "dev", 2, &mut reports)
            .await
            .unwrap();
        let kept: Vec<(&str, &str)> = reports
            .iter()
            .flat_map(|r| &r.person_days)
            .map(|r| (r.person_id.as_str(), r.day.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                ("a", "2026-11-16"),
                ("b", "2026-11-16"),
                ("c", "2026-11-23"),
                ("a", "2026-11-17")
            ]
        );
        assert_eq!(over.rows, 2);
        let week: Week = "2026-W47".parse().unwrap();
        assert_eq!(over.weeks, BTreeMap::from([(week, (2, 1))]));

        // Stored people count in the next call; a shared device may have more.
        store
            .store_batch(
                &[crate::store::DeviceReports {
                    device_id: "dev".into(),
                    department: "Sales".into(),
                    reports,
                }],
                1,
            )
            .await
            .unwrap();
        let mut later = vec![report(vec![row("e", "2026-11-18", Some(5))])];
        let over = keep_within_bound(&store, "dev", 2, &mut later)
            .await
            .unwrap();
        assert_eq!(over.rows, 1);
        assert!(store.set_device_max_people("dev", Some(3)).await.unwrap());
        let mut later = vec![report(vec![row("e", "2026-11-18", Some(5))])];
        let over = keep_within_bound(&store, "dev", 2, &mut later)
            .await
            .unwrap();
        assert_eq!((over.rows, later[0].person_days.len()), (0, 1));
    }
}
