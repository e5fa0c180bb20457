//! `/reports/{year}`: the yearly report, printable — one page without
//! script that prints cleanly to PDF from a browser: the fleet's footprint
//! in both accounting views, what that year's decisions avoided, the
//! lifetimes its retired devices reached and the share that went to reuse,
//! with the method and the factor set.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::overview::Figure;
use super::table::{Cell, Section, Table, link_csv, section_table};
use super::{Ctx, PageError, Visitor, csv, render};
use crate::analysis::impact::{Range, Views};
use crate::analysis::report::YearlyReport;
use crate::app::App;
use crate::domain::Role;

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    ctx: Ctx,
    title: String,
    /// Whether the year is the coming one: its figures are a forecast.
    forecast: bool,
    figures: Vec<Figure>,
    sections: Vec<Section>,
    /// The other years with figures: (year, link).
    years: Vec<(String, String)>,
    /// Method notes, in the page's language.
    method: Vec<String>,
    generated: String,
}

#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    csv: Option<String>,
}

/// `GET /reports`: this year's report.
pub async fn current(visitor: Visitor) -> Result<Response, PageError> {
    visitor.require(&[Role::It, Role::Admin], "overview")?;
    let year = jiff::Zoned::now().year();
    Ok(Redirect::to(&format!("/reports/{year}")).into_response())
}

fn bounds(ctx: &Ctx, range: &Range) -> String {
    format!("{}–{}", ctx.tr.dec(range.low, 0), ctx.tr.dec(range.high, 0))
}

/// The rows of a table of both views, by a key (category or department).
fn views_table<'a>(
    ctx: &Ctx,
    id: &'static str,
    caption: String,
    key: &str,
    rows: impl Iterator<Item = (String, &'a Views)>,
) -> Table {
    let tr = ctx.tr;
    let mut table = Table::new(
        id,
        caption,
        &[
            (key, false),
            (tr.t("col.devices_bought"), true),
            (tr.t("col.capital_goods"), true),
            (tr.t("col.capital_goods_range"), false),
            (tr.t("col.lifetime_allocation"), true),
            (tr.t("col.lifetime_allocation_range"), false),
        ],
    );
    for (name, views) in rows {
        let (capital, lifetime) = (
            &views.capital_goods_kgco2e,
            &views.lifetime_allocation_kgco2e,
        );
        #[allow(clippy::cast_possible_wrap)]
        table.rows.push(vec![
            Cell::text(name),
            Cell::number(tr.int(views.devices_bought as i64), views.devices_bought),
            Cell::number(tr.dec(capital.value, 1), capital.value),
            Cell::text(bounds(ctx, capital)),
            Cell::number(tr.dec(lifetime.value, 1), lifetime.value),
            Cell::text(bounds(ctx, lifetime)),
        ]);
    }
    table
}

#[allow(clippy::too_many_lines, clippy::cast_possible_wrap)]
fn sections(ctx: &Ctx, report: &YearlyReport) -> Vec<Section> {
    let tr = ctx.tr;
    let n = |v: u64| Cell::number(tr.int(v as i64), v);
    let mut sections = Vec::new();
    if let Some(accounting) = &report.accounting {
        let by_category = views_table(
            ctx,
            "by_category",
            tr.t("report.by_category").to_owned(),
            tr.t("col.category"),
            accounting
                .by_category
                .iter()
                .map(|(c, v)| (ctx.tr.category(c), v)),
        );
        let by_department = views_table(
            ctx,
            "by_department",
            tr.t("report.by_department").to_owned(),
            tr.t("col.department"),
            accounting.by_department.iter().map(|(d, v)| (d.clone(), v)),
        );
        sections.push(Section {
            heading: tr.t("report.by_category").to_owned(),
            svg: None,
            table: by_category,
        });
        sections.push(Section {
            heading: tr.t("report.by_department").to_owned(),
            svg: None,
            table: by_department,
        });
    }

    let mut avoided = Table::new(
        "avoided",
        tr.t("report.avoided").to_owned(),
        &[
            (tr.t("col.view"), false),
            (tr.t("col.kind"), false),
            (tr.t("col.kgco2e"), true),
        ],
    );
    for (view, kinds) in &report.avoided_by_kind {
        for (kind, kgco2e) in kinds {
            avoided.rows.push(vec![
                Cell::text(tr.t(&format!("view.{view}")).to_owned()),
                Cell::text(tr.t(&format!("kind.{kind}")).to_owned()),
                Cell::number(tr.dec(*kgco2e, 1), kgco2e),
            ]);
        }
    }
    sections.push(Section {
        heading: tr.t("report.avoided").to_owned(),
        svg: None,
        table: avoided,
    });

    let mut lifetimes = Table::new(
        "lifetimes",
        tr.t("report.lifetimes").to_owned(),
        &[
            (tr.t("col.category"), false),
            (tr.t("col.retired_dated"), true),
            (tr.t("col.reached"), true),
            (tr.t("col.lifetime_years"), true),
        ],
    );
    for (category, (dated, reached, lifetime)) in &report.lifetimes.by_category {
        lifetimes.rows.push(vec![
            Cell::text(ctx.tr.category(category)),
            n(*dated),
            n(*reached),
            Cell::number(tr.dec(*lifetime, 0), lifetime),
        ]);
    }
    sections.push(Section {
        heading: tr.t("report.lifetimes").to_owned(),
        svg: None,
        table: lifetimes,
    });

    let mut retired = Table::new(
        "retired",
        tr.t("report.retired").to_owned(),
        &[(tr.t("col.outcome"), false), (tr.t("col.devices"), true)],
    );
    if let Some(reuse) = &report.reuse {
        for (outcome, count) in &reuse.by_outcome {
            retired.rows.push(vec![
                Cell::text(tr.t(&format!("outcome.{outcome}")).to_owned()),
                n(*count),
            ]);
        }
    }
    sections.push(Section {
        heading: tr.t("report.retired").to_owned(),
        svg: None,
        table: retired,
    });
    let page = format!("/reports/{}", report.year);
    link_csv(&mut sections, &page, tr.t("report.none"));
    sections
}

#[allow(clippy::cast_possible_wrap)]
fn figures(ctx: &Ctx, report: &YearlyReport) -> Vec<Figure> {
    let tr = ctx.tr;
    let range = |r: &Range| {
        (
            tr.dec(r.value, 0),
            tr.f(
                "overview.range",
                &[("low", &tr.dec(r.low, 0)), ("high", &tr.dec(r.high, 0))],
            ),
        )
    };
    let figure = |label: &str, (value, note): (String, String)| Figure {
        label: tr.t(label).to_owned(),
        value,
        note,
    };
    let mut figures = Vec::new();
    match &report.accounting {
        Some(accounting) => {
            figures.push(figure(
                "report.capital_goods",
                range(&accounting.total.capital_goods_kgco2e),
            ));
            figures.push(figure(
                "report.lifetime_allocation",
                range(&accounting.total.lifetime_allocation_kgco2e),
            ));
            figures.push(figure(
                "col.devices_bought",
                (
                    tr.int(accounting.total.devices_bought as i64),
                    String::new(),
                ),
            ));
        }
        None => figures.push(figure(
            "report.footprint",
            ("—".into(), tr.t("report.footprint_out_of_range").to_owned()),
        )),
    }
    let zero = Range::default();
    figures.push(figure(
        "report.avoided_capital_goods",
        range(report.avoided.get("capital_goods").unwrap_or(&zero)),
    ));
    figures.push(figure(
        "report.avoided_lifetime_allocation",
        range(report.avoided.get("lifetime_allocation").unwrap_or(&zero)),
    ));
    let lifetimes = &report.lifetimes;
    figures.push(figure(
        "report.lifetimes_reached",
        (
            format!(
                "{} / {}",
                tr.int(lifetimes.reached as i64),
                tr.int(lifetimes.dated as i64)
            ),
            lifetimes.median_years.map_or_else(
                || tr.t("report.no_retirement").to_owned(),
                |median| tr.f("report.median_years", &[("years", &tr.dec(median, 1))]),
            ),
        ),
    ));
    let reuse = report.reuse.as_ref();
    figures.push(figure(
        "report.reuse_share",
        (
            reuse
                .and_then(|r| r.share)
                .map_or_else(|| "—".into(), |s| format!("{} %", tr.dec(s * 100.0, 0))),
            match reuse {
                Some(r) => tr.f(
                    "report.reuse_note",
                    &[
                        ("reused", &tr.int(r.eligible_reused as i64)),
                        ("eligible", &tr.int(r.eligible as i64)),
                        (
                            "target",
                            &r.target.map_or_else(
                                || "—".into(),
                                |t| format!("{} %", tr.dec(t * 100.0, 0)),
                            ),
                        ),
                        (
                            "met",
                            tr.t(match r.met {
                                Some(true) => "report.met",
                                Some(false) => "report.not_met",
                                None => "report.no_target",
                            }),
                        ),
                    ],
                ),
                None => tr.t("report.no_retirement").to_owned(),
            },
        ),
    ));
    figures
}

/// `GET /reports/{year}`.
pub async fn page(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Path(year): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::It, Role::Admin], "overview")?;
    let Some(year) = year
        .parse::<i16>()
        .ok()
        .filter(|y| (2000..=2100).contains(y))
    else {
        return Err(PageError::not_found(ctx, format!("/reports/{year}")));
    };
    let impact = shared
        .impact()
        .await
        .map_err(|e| PageError::internal(&ctx, format!("{e:#}")))?;
    let embodied = shared
        .reference_data()
        .await
        .map_err(|e| PageError::internal(&ctx, format!("{e:#}")))?;
    let report = crate::app::impact::yearly_report(&shared.store, &embodied, &impact, year)
        .await
        .map_err(|e| PageError::internal(&ctx, format!("{e:#}")))?;
    let sections = sections(&ctx, &report);
    if let Some(name) = query.csv {
        return match section_table(&sections, &name) {
            Some(table) => Ok(csv(&name, table.to_csv())),
            None => Err(PageError::not_found(ctx, format!("csv={name}"))),
        };
    }
    let tr = ctx.tr;
    let method = [
        "report.method_capital_goods",
        "report.method_lifetime_allocation",
        "report.method_avoided",
        "report.method_reuse",
        "report.method_limits",
    ]
    .iter()
    .map(|key| tr.t(key).to_owned())
    .chain(std::iter::once(tr.f(
        "report.method_factors",
        &[("version", &report.factor_set)],
    )))
    .collect();
    let page = ReportPage {
        title: tr.f("report.title", &[("year", &year.to_string())]),
        forecast: report.accounting.as_ref().is_some_and(|a| a.forecast),
        figures: figures(&ctx, &report),
        sections,
        years: impact
            .accounting
            .iter()
            .filter(|a| a.year != year)
            .map(|a| (a.year.to_string(), format!("/reports/{}", a.year)))
            .collect(),
        method,
        generated: tr.f(
            "report.generated",
            &[("date", &jiff::Zoned::now().date().to_string())],
        ),
        ctx,
    };
    Ok(render(StatusCode::OK, &page))
}
