//! `/suggestions` for IT: what to pool, reuse, extend, repair, upgrade or
//! clean, by kind, status and department, with the rationale and the kgCO2e
//! avoided; accept, dismiss with a reason, mark done; the needs IT records
//! for departments; CSV export.

use crate::domain::Role;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::devices::{Pager, page_number};
use super::table::{Cell, Table};
use super::{Ctx, PageError, Visitor, csv, render, url_encode};
use crate::analysis::Category;
use crate::app::requests::{self, NewRequest, RequestError};
use crate::app::{App, now_unix_ms};
use crate::error::Coded;
use crate::store::{DecisionError, StoredSuggestion};

/// Suggestions per page.
const PAGE_SIZE: i64 = 25;
const STATUSES: [&str; 4] = ["open", "accepted", "done", "dismissed"];
const KINDS: [&str; 6] = ["pool", "reuse", "extend", "repair", "upgrade", "storage"];

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    kind: Option<String>,
    status: Option<String>,
    department: Option<String>,
    page: Option<String>,
    csv: Option<String>,
}

/// A suggestion as a card of the list.
pub struct Card {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub status_label: String,
    pub departments: String,
    /// (host name, link).
    pub devices: Vec<(String, String)>,
    pub rationale: String,
    pub avoided: String,
    pub avoided_range: String,
    pub cost: Option<String>,
    pub can_accept: bool,
    pub can_done: bool,
    pub can_dismiss: bool,
    /// Done: it may be undone, with a reason (the ledger reverses it).
    pub can_undo: bool,
    /// Marking it done retires a device (a reuse's replaced one): where it
    /// went is asked, as (outcome, label).
    pub replaced_outcomes: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "suggestions.html")]
struct SuggestionsPage {
    ctx: Ctx,
    summary: Table,
    cards: Vec<Card>,
    pager: Pager,
    total: String,
    /// Filter choices: (value, label, selected).
    kinds: Vec<(&'static str, String, bool)>,
    statuses: Vec<(&'static str, String, bool)>,
    department_choices: Vec<(String, bool)>,
    departments: Vec<String>,
    categories: Vec<(&'static str, String)>,
    /// Where a form comes back to: this page with its filters.
    back: String,
    csv_href: String,
    requests: Table,
    /// Open requests: (id, text) for their close buttons.
    request_ids: Vec<(i64, String)>,
}

fn check(
    ctx: &Ctx,
    allowed: &[&str],
    value: Option<&str>,
    name: &str,
) -> Result<String, PageError> {
    match value {
        None | Some("") => Ok(String::new()),
        Some(v) if allowed.contains(&v) => Ok(v.to_owned()),
        Some(v) => Err(PageError::refused(
            ctx.clone(),
            StatusCode::BAD_REQUEST,
            ctx.tr.f("error.filter", &[("name", name), ("value", v)]),
            "/suggestions".into(),
        )),
    }
}

/// `GET /suggestions?kind=&status=&department=&page=&csv=`.
#[allow(clippy::too_many_lines)]
pub async fn page(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::It, Role::Admin], "suggestions")?;
    let tr = ctx.tr;
    let kind = check(&ctx, &KINDS, query.kind.as_deref(), "kind")?;
    // The work list by default: what is open.
    let status = match query.status.as_deref() {
        None => "open".to_owned(),
        given => check(&ctx, &STATUSES, given, "status")?,
    };
    let department = query.department.clone().unwrap_or_default();
    let page = page_number(&ctx, query.page.as_deref()).map_err(|message| {
        PageError::refused(
            ctx.clone(),
            StatusCode::BAD_REQUEST,
            message,
            "/suggestions".into(),
        )
    })?;
    let filter = format!(
        "kind={}&status={}&department={}",
        url_encode(&kind),
        url_encode(&status),
        url_encode(&department)
    );

    if let Some(what) = query.csv.as_deref() {
        if what == "summary" {
            let summary = summary_table(&ctx, &shared).await?;
            return Ok(csv("suggestions-summary", summary.to_csv()));
        }
        if what == "requests" {
            let (requests, _) = requests_table(&ctx, &shared).await?;
            return Ok(csv("requests", requests.to_csv()));
        }
        let (all, _) = shared
            .store
            .suggestions_page(&kind, &status, &department, 1, i64::MAX / 2)
            .await
            .map_err(|e| PageError::coded(&ctx, &e))?;
        let mut out = Vec::new();
        crate::app::suggestions::write_csv(&mut out, &all)
            .map_err(|e| PageError::internal(&ctx, e))?;
        return Ok(csv(
            "suggestions",
            String::from_utf8_lossy(&out).into_owned(),
        ));
    }

    let (list, total) = shared
        .store
        .suggestions_page(&kind, &status, &department, page, PAGE_SIZE)
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    let ids: Vec<String> = list.iter().flat_map(|s| s.devices.clone()).collect();
    let names = shared
        .store
        .hostnames(&ids)
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    let cards = list.iter().map(|s| card(&ctx, s, &names)).collect();

    let (requests, request_ids) = requests_table(&ctx, &shared).await?;

    let departments = shared
        .store
        .department_names()
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    let back = format!("/suggestions?{filter}&page={page}");
    let page = SuggestionsPage {
        summary: summary_table(&ctx, &shared).await?,
        cards,
        pager: Pager::new(&format!("/suggestions?{filter}&"), page, PAGE_SIZE, total),
        total: tr.f("suggestions.count", &[("count", &tr.int(total))]),
        kinds: KINDS
            .iter()
            .map(|k| (*k, tr.t(&format!("kind.{k}")).to_owned(), *k == kind))
            .collect(),
        statuses: STATUSES
            .iter()
            .map(|s| (*s, tr.t(&format!("status.{s}")).to_owned(), *s == status))
            .collect(),
        department_choices: departments
            .iter()
            .map(|d| (d.clone(), *d == department))
            .collect(),
        departments,
        categories: Category::REQUESTABLE
            .iter()
            .map(|c| (c.name(), ctx.tr.category(c.name())))
            .collect(),
        back,
        csv_href: format!("/suggestions?{filter}&csv=all"),
        requests,
        request_ids,
        ctx,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Open requests as a table, and (id, label) for their close buttons.
async fn requests_table(ctx: &Ctx, shared: &App) -> Result<(Table, Vec<(i64, String)>), PageError> {
    let tr = ctx.tr;
    let requests_list = shared
        .store
        .open_requests()
        .await
        .map_err(|e| PageError::coded(ctx, &e))?;
    let mut requests = Table::new(
        "requests",
        tr.t("requests.caption").to_owned(),
        &[
            (tr.t("col.department"), false),
            (tr.t("col.category"), false),
            (tr.t("col.quantity"), true),
            (tr.t("col.min_memory"), true),
            (tr.t("col.min_cores"), true),
            (tr.t("col.min_storage"), true),
        ],
    );
    requests.empty = tr.t("requests.none").to_owned();
    let opt_bytes = |b: Option<i64>| {
        b.map_or_else(|| Cell::text(super::NONE), |b| Cell::number(tr.bytes(b), b))
    };
    let mut request_ids = Vec::new();
    for r in &requests_list {
        request_ids.push((
            r.id,
            format!(
                "{} · {} × {}",
                r.department,
                r.quantity,
                ctx.tr.category(&r.category)
            ),
        ));
        requests.rows.push(vec![
            Cell::text(r.department.clone()),
            Cell::text(ctx.tr.category(&r.category)),
            Cell::number(tr.int(i64::from(r.quantity)), r.quantity),
            opt_bytes(r.min_memory_bytes),
            r.min_logical_cores
                .map_or_else(|| Cell::text(super::NONE), |c| Cell::number(tr.int(c), c)),
            opt_bytes(r.min_storage_bytes),
        ]);
    }

    requests.csv_href = Some("/suggestions?csv=requests".into());
    Ok((requests, request_ids))
}

async fn summary_table(ctx: &Ctx, shared: &App) -> Result<Table, PageError> {
    let tr = ctx.tr;
    let counts = shared
        .suggestion_counts
        .get("", || shared.store.suggestion_counts())
        .await
        .map_err(|e| PageError::coded(ctx, &e))?;
    let mut headers: Vec<String> = vec![tr.t("col.kind").to_owned()];
    for s in STATUSES {
        headers.push(tr.t(&format!("status.{s}")).to_owned());
    }
    headers.push(tr.t("col.open_kgco2e").to_owned());
    let refs: Vec<(&str, bool)> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i > 0))
        .collect();
    let mut table = Table::new("summary", tr.t("suggestions.summary").to_owned(), &refs);
    for kind in KINDS {
        let mut row = vec![
            Cell::text(tr.t(&format!("kind.{kind}")).to_owned())
                .link(format!("/suggestions?kind={kind}")),
        ];
        for status in STATUSES {
            let n = counts
                .iter()
                .find(|c| c.0 == kind && c.1 == status)
                .map_or(0, |c| c.2);
            row.push(
                Cell::number(tr.int(n), n)
                    .link(format!("/suggestions?kind={kind}&status={status}")),
            );
        }
        let open: f64 = counts
            .iter()
            .filter(|c| c.0 == kind && (c.1 == "open" || c.1 == "accepted"))
            .map(|c| c.3)
            .sum();
        row.push(Cell::number(tr.dec(open, 0), format!("{open:.1}")));
        table.rows.push(row);
    }
    table.csv_href = Some("/suggestions?csv=summary".into());
    Ok(table)
}

fn card(
    ctx: &Ctx,
    s: &StoredSuggestion,
    names: &std::collections::HashMap<String, String>,
) -> Card {
    let tr = ctx.tr;
    Card {
        id: s.id.clone(),
        kind: tr.t(&format!("kind.{}", s.kind)).to_owned(),
        status: s.status.clone(),
        status_label: tr.t(&format!("status.{}", s.status)).to_owned(),
        departments: s.departments.join(" → "),
        devices: s
            .devices
            .iter()
            .map(|id| {
                (
                    names.get(id).cloned().unwrap_or_else(|| id.clone()),
                    format!("/devices/{}", url_encode(id)),
                )
            })
            .collect(),
        rationale: s.rationale.clone(),
        avoided: tr.dec(s.avoided_kgco2e.value, 1),
        avoided_range: tr.f(
            "suggestions.range",
            &[
                ("low", &tr.dec(s.avoided_kgco2e.low, 1)),
                ("high", &tr.dec(s.avoided_kgco2e.high, 1)),
            ],
        ),
        cost: s.avoided_cost_eur.map(|c| tr.dec(c, 0)),
        can_accept: s.status == "open",
        can_done: s.status == "accepted",
        can_dismiss: s.status == "open" || s.status == "accepted",
        can_undo: s.status == "done",
        replaced_outcomes: if s.kind == "reuse" && s.devices.len() > 1 {
            tr.outcomes()
        } else {
            Vec::new()
        },
    }
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    /// Where the device a reuse replaces went.
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    back: String,
}

fn back_to(back: &str) -> String {
    if back.starts_with("/suggestions") && !back.chars().any(char::is_control) {
        back.to_owned()
    } else {
        "/suggestions".into()
    }
}

/// `POST /suggestions/{id}/{accept|dismiss|done|undo}`.
pub async fn decide(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::It, Role::Admin], "suggestions")?;
    visitor.check_csrf(&ctx, &form.csrf)?;
    let back = back_to(&form.back);
    let refuse =
        |status, message: String| PageError::refused(ctx.clone(), status, message, back.clone());
    let decided = shared
        .decide(
            &id,
            &action,
            &form.reason,
            &visitor.actor(),
            Some(form.outcome.as_str()),
        )
        .await;
    let Err(error) = decided else {
        return Ok(Redirect::to(&back).into_response());
    };
    let status = error.code().http_status();
    Err(match error {
        DecisionError::Unknown(_) => PageError::not_found(ctx.clone(), id),
        DecisionError::UnknownAction(_) => PageError::not_found(ctx.clone(), action),
        DecisionError::Transition { from, to, .. } => refuse(
            status,
            ctx.tr.f(
                "suggestions.transition",
                &[
                    ("from", ctx.t(&format!("status.{from}"))),
                    ("to", ctx.t(&format!("status.{to}"))),
                ],
            ),
        ),
        DecisionError::NoReason => refuse(status, ctx.t("suggestions.reason_needed").to_owned()),
        DecisionError::ReasonTooLong => refuse(status, ctx.t("suggestions.reason_long").to_owned()),
        DecisionError::OutcomeNeeded(host) => refuse(
            status,
            ctx.tr.f("suggestions.outcome_needed", &[("host", &host)]),
        ),
        DecisionError::UnknownOutcome(outcome) => refuse(
            status,
            ctx.tr
                .f("suggestions.unknown_outcome", &[("outcome", &outcome)]),
        ),
        DecisionError::Store(e) => PageError::coded(&ctx, &e),
    })
}

#[derive(Debug, Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    min_memory_gb: String,
    #[serde(default)]
    min_cores: String,
    #[serde(default)]
    min_storage_gb: String,
    #[serde(default)]
    back: String,
}

/// An optional whole number from a form field, within `range`.
fn optional_number(
    ctx: &Ctx,
    value: &str,
    field: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse::<i64>()
        .ok()
        .filter(|v| range.contains(v))
        .map(Some)
        .ok_or_else(|| {
            ctx.tr.f(
                "error.number",
                &[
                    ("field", ctx.t(field)),
                    ("value", value),
                    ("min", &range.start().to_string()),
                    ("max", &range.end().to_string()),
                ],
            )
        })
}

/// `POST /requests`: a department's need, which reuse suggestions fulfil.
pub async fn add_request(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Form(form): Form<RequestForm>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::It, Role::Admin], "suggestions")?;
    visitor.check_csrf(&ctx, &form.csrf)?;
    let back = back_to(&form.back);
    let refuse = |message: String| {
        PageError::refused(ctx.clone(), StatusCode::BAD_REQUEST, message, back.clone())
    };
    let quantity = optional_number(&ctx, &form.quantity, "col.quantity", 1..=1000)
        .map_err(refuse)?
        .ok_or_else(|| refuse(ctx.t("requests.quantity_needed").to_owned()))?;
    let gb = 1_000_000_000;
    let memory =
        optional_number(&ctx, &form.min_memory_gb, "col.min_memory", 1..=4096).map_err(refuse)?;
    let cores =
        optional_number(&ctx, &form.min_cores, "col.min_cores", 1..=1024).map_err(refuse)?;
    let storage = optional_number(&ctx, &form.min_storage_gb, "col.min_storage", 1..=100_000)
        .map_err(refuse)?;
    requests::add(
        &shared.store,
        NewRequest {
            department: form.department.clone(),
            category: form.category.clone(),
            quantity: u32::try_from(quantity).unwrap_or(0),
            min_memory_bytes: memory.map(|m| m * gb),
            min_logical_cores: cores,
            min_storage_bytes: storage.map(|s| s * gb),
        },
        &visitor.actor(),
        now_unix_ms(),
    )
    .await
    .map_err(|error| match error {
        RequestError::Department(_) => refuse(ctx.t("requests.department_needed").to_owned()),
        RequestError::Category(category) => refuse(
            ctx.tr
                .f("requests.category_unknown", &[("value", &category)]),
        ),
        RequestError::Store(error) => PageError::coded(&ctx, &error),
        other => refuse(other.to_string()),
    })?;
    Ok(Redirect::to(&back).into_response())
}

/// `POST /requests/{id}/close`.
pub async fn close_request(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Path(id): Path<i64>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::It, Role::Admin], "suggestions")?;
    visitor.check_csrf(&ctx, &form.csrf)?;
    requests::close(&shared.store, id, &visitor.actor(), now_unix_ms())
        .await
        .map_err(|error| match error {
            RequestError::Unknown(_) => PageError::not_found(ctx.clone(), format!("request {id}")),
            other => PageError::coded(&ctx, &other),
        })?;
    Ok(Redirect::to(&back_to(&form.back)).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pages_kinds_are_the_analysis_kinds() {
        for kind in super::KINDS {
            assert!(crate::analysis::Kind::parse(kind).is_some(), "{kind}");
        }
    }
}
