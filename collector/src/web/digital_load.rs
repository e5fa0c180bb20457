//! `/digital-load` for HR: the week's indicators by department and for the
//! organisation, as published by [`crate::indicators`] — groups of at least
//! k people only, suppressed cells explained, never a person — with the
//! organisation's weekly trends and the definition of every indicator.

use crate::domain::Role;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::table::{Cell, Section, Table};
use super::{Ctx, NONE, PageError, Visitor, charts, csv, render};
use crate::app::indicators::IndicatorsError;
use crate::app::{App, now_unix_ms};
use crate::indicators::{self, Metrics, ORGANISATION, OTHER_TEAMS, TrendPoint};

/// Weeks the trend chart covers.
const TREND_WEEKS: i64 = 8;

#[derive(Debug, Default, Deserialize)]
pub struct LoadQuery {
    week: Option<String>,
    csv: Option<String>,
}

/// A group's card.
pub struct GroupCard {
    pub name: String,
    pub people: Option<String>,
    /// Why the figures are not shown.
    pub suppressed: Option<String>,
    /// (indicator, value, trend note).
    pub rows: Vec<(String, String, String)>,
    pub alerts: Vec<String>,
}

#[derive(Template)]
#[template(path = "digital_load.html")]
struct LoadPage {
    ctx: Ctx,
    week: String,
    previous_week: String,
    next_week: Option<String>,
    intro: String,
    dp: bool,
    organisation: GroupCard,
    departments: Vec<GroupCard>,
    table: Table,
    trend: Section,
    definitions: Vec<(String, String)>,
}

fn group_name(ctx: &Ctx, group: &str) -> String {
    match group {
        ORGANISATION => ctx.t("load.organisation").to_owned(),
        OTHER_TEAMS => ctx.t("load.other_teams").to_owned(),
        other => other.to_owned(),
    }
}

fn reason(ctx: &Ctx, reason: Option<&str>, k: u32) -> String {
    let k = k.to_string();
    let key = match reason.unwrap_or("") {
        r if r.starts_with("merged into") => "load.reason_merged",
        r if r.contains("counted in") => "load.reason_counted",
        _ => "load.reason_small",
    };
    ctx.tr.f(key, &[("k", &k)])
}

fn hours(ctx: &Ctx, value: Option<f64>) -> String {
    value.map_or_else(|| NONE.into(), |v| format!("{} h", ctx.tr.dec(v, 1)))
}

fn share(ctx: &Ctx, value: Option<f64>) -> String {
    value.map_or_else(
        || NONE.into(),
        |v| format!("{} %", ctx.tr.dec(v * 100.0, 0)),
    )
}

fn trend(ctx: &Ctx, change: Option<f64>) -> String {
    match change {
        Some(c) if c.abs() >= 0.05 => ctx.tr.f(
            "load.trend",
            &[(
                "change",
                &format!(
                    "{}{} h",
                    if c > 0.0 { "+" } else { "−" },
                    ctx.tr.dec(c.abs(), 1)
                ),
            )],
        ),
        Some(_) => ctx.t("load.trend_flat").to_owned(),
        None => String::new(),
    }
}

fn rows(ctx: &Ctx, m: &Metrics, settings: &indicators::Settings) -> Vec<(String, String, String)> {
    let spread = |s: Option<indicators::Spread>| {
        s.map_or_else(
            || NONE.into(),
            |s| {
                ctx.tr.f(
                    "load.median_p90",
                    &[
                        ("median", &hours(ctx, Some(s.median))),
                        ("p90", &hours(ctx, Some(s.p90))),
                    ],
                )
            },
        )
    };
    // Shares above each cut point, in the order of the cut points.
    let shares = |key: &str, map: &std::collections::BTreeMap<String, f64>| {
        let mut cuts: Vec<(f64, &String, f64)> = map
            .iter()
            .filter_map(|(cut, v)| Some((cut.parse::<f64>().ok()?, cut, *v)))
            .collect();
        cuts.sort_by(|a, b| a.0.total_cmp(&b.0));
        cuts.into_iter()
            .map(|(_, cut, v)| {
                (
                    ctx.tr.f(key, &[("hours", cut)]),
                    share(ctx, Some(v)),
                    String::new(),
                )
            })
            .collect::<Vec<_>>()
    };
    let mut rows = vec![(
        ctx.t("load.meeting_hours").to_owned(),
        spread(m.meeting_hours),
        trend(ctx, m.trend.meeting_hours),
    )];
    rows.extend(shares("load.meeting_share", &m.meeting_hours_share_above));
    rows.extend([
        (
            ctx.t("load.conflicting").to_owned(),
            hours(ctx, m.conflicting_hours_median),
            String::new(),
        ),
        (
            ctx.t("load.back_to_back").to_owned(),
            m.back_to_back_median
                .map_or_else(|| NONE.into(), |v| ctx.tr.dec(v, 1)),
            String::new(),
        ),
        (
            ctx.t("load.after_hours").to_owned(),
            spread(m.after_hours_hours),
            trend(ctx, m.trend.after_hours_hours),
        ),
    ]);
    rows.extend(shares("load.after_hours_share", &m.after_hours_share_above));
    rows.extend([
        (
            ctx.t("load.weekend").to_owned(),
            hours(ctx, m.weekend_active_hours_median),
            String::new(),
        ),
        (
            ctx.t("load.notifications").to_owned(),
            m.notifications_per_active_hour_median
                .map_or_else(|| NONE.into(), |v| ctx.tr.dec(v, 1)),
            String::new(),
        ),
        (
            ctx.t("load.notifications_after_hours").to_owned(),
            m.notifications_after_hours_median
                .map_or_else(|| NONE.into(), |v| ctx.tr.dec(v, 0)),
            String::new(),
        ),
        (
            ctx.t("load.focus").to_owned(),
            hours(ctx, m.focus_hours_median),
            trend(ctx, m.trend.focus_hours),
        ),
        (
            ctx.tr.f(
                "load.focus_share",
                &[("hours", &ctx.tr.dec(settings.focus_flag_hours, 0))],
            ),
            share(ctx, m.focus_share_under),
            String::new(),
        ),
    ]);
    rows
}

fn card(ctx: &Ctx, cell: &indicators::Cell, k: u32, settings: &indicators::Settings) -> GroupCard {
    let alerts = cell
        .metrics
        .as_ref()
        .map(|m| {
            m.alerts
                .iter()
                .map(|a| {
                    if a.starts_with("meeting") {
                        ctx.tr.f(
                            "load.alert_meetings",
                            &[("hours", &ctx.tr.dec(settings.alert_meeting_hours, 0))],
                        )
                    } else {
                        ctx.tr.f(
                            "load.alert_after_hours",
                            &[("hours", &ctx.tr.dec(settings.alert_after_hours, 0))],
                        )
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    GroupCard {
        name: group_name(ctx, &cell.group),
        #[allow(clippy::cast_possible_wrap)]
        people: cell
            .people
            .map(|p| ctx.tr.f("load.people", &[("count", &ctx.tr.int(p as i64))])),
        suppressed: cell
            .suppressed
            .then(|| reason(ctx, cell.reason.as_deref(), k)),
        rows: cell
            .metrics
            .as_ref()
            .map(|m| rows(ctx, m, settings))
            .unwrap_or_default(),
        alerts,
    }
}

/// The organisation's medians over the [`TREND_WEEKS`] weeks up to the one
/// starting on `monday`; weeks that cannot be released are left out.
async fn organisation_trend(
    shared: &App,
    monday: jiff::civil::Date,
    today: jiff::civil::Date,
) -> Result<Vec<TrendPoint>, crate::store::StoreError> {
    let mut points = Vec::new();
    for back in (0..TREND_WEEKS).rev() {
        let week = indicators::week_of(monday.saturating_sub(jiff::Span::new().days(7 * back)));
        let cell = match crate::app::indicators::compute(
            &shared.store,
            &shared.config,
            &week,
            today,
        )
        .await
        {
            Ok(release) => release.organisation,
            Err(IndicatorsError::Store(e)) => return Err(e),
            Err(_) => continue,
        };
        let m = cell.metrics.as_ref();
        points.push(TrendPoint {
            week,
            meeting: m.and_then(|m| m.meeting_hours.map(|s| s.median)),
            after_hours: m.and_then(|m| m.after_hours_hours.map(|s| s.median)),
            focus: m.and_then(|m| m.focus_hours_median),
        });
    }
    Ok(points)
}

fn error(ctx: &Ctx, error: IndicatorsError) -> PageError {
    let code = crate::error::Coded::code(&error);
    match error {
        IndicatorsError::Store(e) => PageError::coded(ctx, &e),
        IndicatorsError::Settings(e) => PageError::internal(ctx, e),
        IndicatorsError::BudgetSpent(_) | IndicatorsError::NotPublished { .. } => {
            PageError::refused(
                ctx.clone(),
                code.http_status(),
                error.to_string(),
                "/digital-load".into(),
            )
        }
        IndicatorsError::BadWeek(_) => PageError::refused(
            ctx.clone(),
            code.http_status(),
            ctx.tr.f("load.bad_week", &[("error", &error.to_string())]),
            "/digital-load".into(),
        ),
    }
}

/// `GET /digital-load?week=YYYY-Www&csv=`.
#[allow(clippy::too_many_lines)]
pub async fn page(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Query(query): Query<LoadQuery>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::Hr], "digital-load")?;
    let tr = ctx.tr;
    let settings = &shared.config.indicators;
    let tz = shared.config.analysis.time_zone.clone();
    let today = jiff::Zoned::now().with_time_zone(tz).date();
    let latest = indicators::latest_published(today, settings).to_string();
    let week = match query.week.as_deref() {
        None | Some("") => latest,
        Some(week) => week.to_owned(),
    };
    let release = crate::app::indicators::compute(&shared.store, &shared.config, &week, today)
        .await
        .map_err(|e| error(&ctx, e))?;
    shared
        .store
        .audit(
            now_unix_ms(),
            &visitor.actor(),
            "indicators.view",
            &release.week,
            "dashboard",
        )
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    let monday = indicators::monday_of(&release.week).map_err(|e| {
        PageError::refused(
            ctx.clone(),
            StatusCode::BAD_REQUEST,
            e,
            "/digital-load".into(),
        )
    })?;

    // The table of every published cell (and its CSV).
    let mut table = Table::new(
        "groups",
        tr.f("load.table_caption", &[("week", &release.week)]),
        &[
            (tr.t("load.group"), false),
            (tr.t("load.people_col"), true),
            (tr.t("load.meeting_median"), true),
            (tr.t("load.after_hours_median"), true),
            (tr.t("load.focus_median"), true),
            (tr.t("load.notifications"), true),
        ],
    );
    let raw = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v}"));
    for cell in std::iter::once(&release.organisation).chain(&release.departments) {
        let m = cell.metrics.as_ref();
        let suppressed = Cell::text(tr.t("load.suppressed_short"));
        #[allow(clippy::cast_possible_wrap)]
        let mut row = vec![
            Cell::text(group_name(&ctx, &cell.group)),
            cell.people
                .map_or_else(|| suppressed.clone(), |p| Cell::number(tr.int(p as i64), p)),
        ];
        if let Some(m) = m {
            let median = |s: Option<indicators::Spread>| s.map(|s| s.median);
            row.push(Cell::number(
                hours(&ctx, median(m.meeting_hours)),
                raw(median(m.meeting_hours)),
            ));
            row.push(Cell::number(
                hours(&ctx, median(m.after_hours_hours)),
                raw(median(m.after_hours_hours)),
            ));
            row.push(Cell::number(
                hours(&ctx, m.focus_hours_median),
                raw(m.focus_hours_median),
            ));
            row.push(Cell::number(
                m.notifications_per_active_hour_median
                    .map_or_else(|| NONE.into(), |v| tr.dec(v, 1)),
                raw(m.notifications_per_active_hour_median),
            ));
        } else {
            row.extend(std::iter::repeat_n(suppressed, 4));
        }
        table.rows.push(row);
    }
    table.csv_href = Some(format!("/digital-load?week={}&csv=groups", release.week));

    // The organisation's trend over the weeks up to this one.
    let mut points = Vec::new();
    let (mut meetings, mut after, mut focus) = (Vec::new(), Vec::new(), Vec::new());
    let mut trend_table = Table::new(
        "trend",
        tr.t("load.trend_caption").to_owned(),
        &[
            (tr.t("col.week"), false),
            (tr.t("load.meeting_median"), true),
            (tr.t("load.after_hours_median"), true),
            (tr.t("load.focus_median"), true),
        ],
    );
    let trend = shared
        .load_trend
        .get(&release.week, || organisation_trend(&shared, monday, today))
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    for point in trend.iter() {
        points.push(point.week.get(5..).unwrap_or(&point.week).to_owned());
        meetings.push(point.meeting);
        after.push(point.after_hours);
        focus.push(point.focus);
        trend_table.rows.push(vec![
            Cell::text(point.week.clone()),
            Cell::number(hours(&ctx, point.meeting), raw(point.meeting)),
            Cell::number(hours(&ctx, point.after_hours), raw(point.after_hours)),
            Cell::number(hours(&ctx, point.focus), raw(point.focus)),
        ]);
    }
    trend_table.csv_href = Some(format!("/digital-load?week={}&csv=trend", release.week));
    trend_table.empty = tr.t("table.empty").to_owned();
    let trend_svg = charts::lines(
        &points,
        &[
            (tr.t("load.meeting_median").to_owned(), meetings),
            (tr.t("load.after_hours_median").to_owned(), after),
            (tr.t("load.focus_median").to_owned(), focus),
        ],
        &|v| tr.dec(v, 0),
    );

    if let Some(name) = query.csv.as_deref() {
        return match name {
            "groups" => Ok(csv("digital-load", table.to_csv())),
            "trend" => Ok(csv("digital-load-trend", trend_table.to_csv())),
            other => Err(PageError::not_found(ctx, format!("csv={other}"))),
        };
    }

    let this_week = indicators::Week::containing(monday);
    let page = LoadPage {
        week: release.week.clone(),
        previous_week: this_week.before(1).to_string(),
        next_week: (indicators::publication_day(this_week.next(), settings) <= today)
            .then(|| this_week.next().to_string()),
        intro: tr.f("load.intro", &[("k", &release.k.to_string())]),
        dp: release.differential_privacy,
        organisation: card(&ctx, &release.organisation, release.k, settings),
        departments: release
            .departments
            .iter()
            .map(|c| card(&ctx, c, release.k, settings))
            .collect(),
        table,
        trend: Section {
            heading: tr.t("load.trend_title").to_owned(),
            svg: Some(trend_svg),
            table: trend_table,
        },
        definitions: [
            "meeting_hours",
            "conflicting",
            "back_to_back",
            "after_hours",
            "weekend",
            "notifications",
            "focus",
        ]
        .iter()
        .map(|key| {
            (
                tr.t(&format!("load.{key}")).to_owned(),
                tr.t(&format!("definition.{key}")).to_owned(),
            )
        })
        .collect(),
        ctx,
    };
    Ok(render(StatusCode::OK, &page))
}
