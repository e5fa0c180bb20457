//! `/`: the fleet at a glance for IT — devices by department and category,
//! ages, the renewals of the next four quarters, reclaimable storage, the
//! embodied kgCO2e and what was avoided so far.

use crate::domain::Role;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::table::{Cell, Section, Table, link_csv, section_table};
use super::{Ctx, PageError, Visitor, charts, csv, render};
use crate::analysis::impact::{Impact, Range};
use crate::app::App;

/// A headline figure.
pub struct Figure {
    pub label: String,
    pub value: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    ctx: Ctx,
    figures: Vec<Figure>,
    sections: Vec<Section>,
    sources: Vec<(String, String)>,
}

#[derive(Debug, Deserialize)]
pub struct OverviewQuery {
    csv: Option<String>,
}

fn range(ctx: &Ctx, range: &Range) -> (String, String) {
    (
        ctx.tr.dec(range.value, 0),
        ctx.tr.f(
            "overview.range",
            &[
                ("low", &ctx.tr.dec(range.low, 0)),
                ("high", &ctx.tr.dec(range.high, 0)),
            ],
        ),
    )
}

/// `low–high`, for a range column.
fn bounds(ctx: &Ctx, range: &Range) -> String {
    format!("{}–{}", ctx.tr.dec(range.low, 0), ctx.tr.dec(range.high, 0))
}

fn figures(ctx: &Ctx, impact: &Impact) -> Vec<Figure> {
    let figure = |label: &str, (value, note): (String, String)| Figure {
        label: ctx.t(label).to_owned(),
        value,
        note,
    };
    let reclaimable: i64 = impact
        .reclaimable_bytes
        .iter()
        .filter(|(kind, _)| kind.as_str() != "duplicates")
        .map(|(_, bytes)| bytes)
        .sum();
    #[allow(clippy::cast_possible_wrap)]
    let count = |n: u64| ctx.tr.int(n as i64);
    vec![
        figure("overview.devices", (count(impact.devices), String::new())),
        figure("overview.embodied", range(ctx, &impact.embodied_kgco2e)),
        figure(
            "overview.embodied_per_year",
            range(ctx, &impact.embodied_kgco2e_per_year),
        ),
        figure(
            "overview.avoided_done",
            (
                ctx.tr.dec(impact.avoided_by_done_kgco2e.value, 0),
                ctx.tr.f(
                    "overview.avoided_done_note",
                    &[("count", &count(impact.done_suggestions))],
                ),
            ),
        ),
        figure(
            "overview.avoided_done_per_year",
            range(ctx, &impact.avoided_by_done_kgco2e_per_year),
        ),
        figure(
            "overview.avoided_extension",
            range(ctx, &impact.avoided_by_extension_kgco2e_per_year),
        ),
        figure(
            "overview.overdue",
            (
                count(impact.overdue_devices),
                ctx.t("overview.overdue_note").to_owned(),
            ),
        ),
        figure(
            "overview.reclaimable",
            (
                ctx.tr.bytes(reclaimable),
                ctx.tr.f(
                    "overview.reclaimable_note",
                    &[("count", &count(impact.scanned_devices))],
                ),
            ),
        ),
    ]
}

#[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
fn sections(ctx: &Ctx, impact: &Impact) -> Vec<Section> {
    let tr = ctx.tr;
    let n = |v: u64| Cell::number(tr.int(v as i64), v);

    // Departments × categories.
    let categories: Vec<&String> = impact.by_category.keys().collect();
    let mut headers: Vec<(String, bool)> = vec![(tr.t("col.department").to_owned(), false)];
    headers.extend(categories.iter().map(|c| (ctx.tr.category(c), true)));
    headers.push((tr.t("col.total").to_owned(), true));
    let header_refs: Vec<(&str, bool)> = headers.iter().map(|(h, n)| (h.as_str(), *n)).collect();
    let mut fleet = Table::new("fleet", tr.t("overview.fleet").to_owned(), &header_refs);
    for (department, by_category) in &impact.by_department_category {
        let mut row = vec![Cell::text(department.clone()).link(format!(
            "/devices?department={}",
            super::url_encode(department)
        ))];
        row.extend(
            categories
                .iter()
                .map(|c| n(by_category.get(*c).copied().unwrap_or(0))),
        );
        row.push(n(by_category.values().sum()));
        fleet.rows.push(row);
    }

    // Ages.
    let mut ages = Table::new(
        "ages",
        tr.t("overview.ages").to_owned(),
        &[(tr.t("col.age_years"), false), (tr.t("col.devices"), true)],
    );
    let mut buckets: Vec<(&String, &u64)> = impact.age_histogram.iter().collect();
    buckets.sort_by_key(|(bucket, _)| {
        bucket
            .trim_end_matches('+')
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    let mut bars = Vec::new();
    for (bucket, count) in buckets {
        let label = if bucket.as_str() == "unknown" {
            tr.t("overview.age_unknown").to_owned()
        } else {
            bucket.clone()
        };
        bars.push((label.clone(), *count as f64));
        ages.rows.push(vec![Cell::text(label), n(*count)]);
    }
    let ages_svg = charts::bars(&bars, &|v| tr.dec(v, 0));

    // Renewals.
    let mut renewals = Table::new(
        "renewals",
        tr.t("overview.renewals").to_owned(),
        &[
            (tr.t("col.quarter"), false),
            (tr.t("col.devices"), true),
            (tr.t("col.cost_eur"), true),
            (tr.t("col.categories"), false),
        ],
    );
    let mut renewal_bars = Vec::new();
    for quarter in &impact.renewal_forecast {
        renewal_bars.push((quarter.quarter.clone(), quarter.devices as f64));
        let categories = quarter
            .by_category
            .iter()
            .map(|(c, k)| format!("{} {}", ctx.tr.category(c), k))
            .collect::<Vec<_>>()
            .join(", ");
        renewals.rows.push(vec![
            Cell::text(quarter.quarter.clone()),
            n(quarter.devices),
            Cell::number(tr.dec(quarter.cost_eur, 0), quarter.cost_eur),
            Cell::text(categories),
        ]);
    }
    let renewals_svg = charts::bars(&renewal_bars, &|v| tr.dec(v, 0));

    // Both accounting views, year by year.
    let mut accounting = Table::new(
        "accounting",
        tr.t("overview.accounting").to_owned(),
        &[
            (tr.t("col.year"), false),
            (tr.t("col.devices_bought"), true),
            (tr.t("col.capital_goods"), true),
            (tr.t("col.capital_goods_range"), false),
            (tr.t("col.lifetime_allocation"), true),
            (tr.t("col.lifetime_allocation_range"), false),
        ],
    );
    let mut accounting_bars = Vec::new();
    for year in &impact.accounting {
        let label = if year.forecast {
            tr.f(
                "overview.forecast_year",
                &[("year", &year.year.to_string())],
            )
        } else {
            year.year.to_string()
        };
        let (capital, lifetime) = (
            &year.total.capital_goods_kgco2e,
            &year.total.lifetime_allocation_kgco2e,
        );
        accounting_bars.push((year.year.to_string(), lifetime.value));
        accounting.rows.push(vec![
            Cell::text(label),
            n(year.total.devices_bought),
            Cell::number(tr.dec(capital.value, 1), capital.value),
            Cell::text(bounds(ctx, capital)),
            Cell::number(tr.dec(lifetime.value, 1), lifetime.value),
            Cell::text(bounds(ctx, lifetime)),
        ]);
    }
    let accounting_svg = charts::bars(&accounting_bars, &|v| tr.dec(v, 0));

    // Reclaimable storage.
    let mut storage = Table::new(
        "storage",
        tr.t("overview.storage").to_owned(),
        &[(tr.t("col.kind"), false), (tr.t("col.bytes"), true)],
    );
    for (kind, bytes) in &impact.reclaimable_bytes {
        storage.rows.push(vec![
            Cell::text(tr.t(&format!("storage.{kind}")).to_owned()),
            Cell::number(tr.bytes(*bytes), bytes),
        ]);
    }

    let mut sections = vec![
        Section {
            heading: tr.t("overview.fleet").to_owned(),
            svg: None,
            table: fleet,
        },
        Section {
            heading: tr.t("overview.ages").to_owned(),
            svg: Some(ages_svg),
            table: ages,
        },
        Section {
            heading: tr.t("overview.renewals").to_owned(),
            svg: Some(renewals_svg),
            table: renewals,
        },
        Section {
            heading: tr.t("overview.accounting").to_owned(),
            svg: Some(accounting_svg),
            table: accounting,
        },
        Section {
            heading: tr.t("overview.storage").to_owned(),
            svg: None,
            table: storage,
        },
    ];
    link_csv(&mut sections, "/", tr.t("table.empty"));
    sections
}

/// `GET /`.
pub async fn page(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Query(query): Query<OverviewQuery>,
) -> Result<Response, PageError> {
    // HR has no overview of devices: its landing page is the digital load.
    if let Some(session) = &visitor.session
        && !session.principal.has_any(&[Role::It, Role::Admin])
        && session.principal.has_any(&[Role::Hr])
    {
        return Ok(Redirect::to("/digital-load").into_response());
    }
    let ctx = visitor.require(&[Role::It, Role::Admin], "overview")?;
    let impact = shared
        .impact()
        .await
        .map_err(|e| PageError::internal(&ctx, format!("{e:#}")))?;
    let sections = sections(&ctx, &impact);
    if let Some(name) = query.csv {
        return match section_table(&sections, &name) {
            Some(table) => Ok(csv(&name, table.to_csv())),
            None => Err(PageError::not_found(ctx, format!("csv={name}"))),
        };
    }
    let page = OverviewPage {
        figures: figures(&ctx, &impact),
        sources: impact
            .sources
            .iter()
            .map(|(c, s)| (ctx.tr.category(c), s.clone()))
            .chain(
                impact
                    .model_sources
                    .iter()
                    .map(|(m, s)| (m.clone(), s.clone())),
            )
            .chain(std::iter::once((
                ctx.t("overview.factor_set").to_owned(),
                ctx.tr.f(
                    "overview.factor_set_note",
                    &[
                        ("version", &impact.factor_set),
                        (
                            "register",
                            &impact
                                .footprint_basis
                                .get("register")
                                .copied()
                                .unwrap_or(0)
                                .to_string(),
                        ),
                        (
                            "model",
                            &impact
                                .footprint_basis
                                .get("model")
                                .copied()
                                .unwrap_or(0)
                                .to_string(),
                        ),
                        (
                            "category",
                            &impact
                                .footprint_basis
                                .get("category")
                                .copied()
                                .unwrap_or(0)
                                .to_string(),
                        ),
                    ],
                ),
            )))
            .collect(),
        sections,
        ctx,
    };
    Ok(render(StatusCode::OK, &page))
}
