//! `/admin` for administrators: enrollment tokens (create, revoke),
//! departments and their working hours, users (add, disable), the policy
//! sent to agents, retention, and the audit log.
//!
//! Departments' working hours, the policy and retention come from the
//! configuration file, which is reviewed and versioned like any other
//! deployment file: the page shows what is in force and where to change it.

use crate::domain::Role;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::table::{Cell, Table};
use super::{Ctx, NONE, PageError, Visitor, csv, render, url_encode, when};
use crate::app::App;
use crate::app::accounts::{self, AccountError};
use crate::app::now_unix_ms;
use crate::domain::UserName;

/// Audit entries shown on the page; the CSV holds more.
const AUDIT_SHOWN: i64 = 100;
const AUDIT_CSV: i64 = 100_000;

#[derive(Debug, Default, Deserialize)]
pub struct AdminQuery {
    csv: Option<String>,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    ctx: Ctx,
    /// A token just created: shown once.
    new_token: Option<(String, String)>,
    tokens: Table,
    /// Live tokens: (id, label) for their revoke buttons.
    live_tokens: Vec<(String, String)>,
    departments: Table,
    department_names: Vec<String>,
    users: Table,
    /// Enabled users other than the viewer: their disable buttons.
    disable: Vec<String>,
    /// Live API tokens of enabled users: (user, id, created), each with
    /// its revoke button.
    api_tokens: Vec<(String, String, String)>,
    roles: Vec<(&'static str, String)>,
    policy: Vec<(String, String)>,
    retention: Vec<(String, String)>,
    /// Devices reporting more people than their bound, people on many
    /// devices: signs that someone tries to single a person out.
    privacy_alerts: Table,
    audit: Table,
}

async fn admin_page(
    shared: &App,
    visitor: &Visitor,
    ctx: Ctx,
    new_token: Option<(String, String)>,
) -> Result<AdminPage, PageError> {
    let tr = ctx.tr;
    let now = now_unix_ms();
    let token_rows = shared
        .store
        .enrollment_tokens()
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    let mut tokens = Table::new(
        "tokens",
        tr.t("admin.tokens").to_owned(),
        &[
            (tr.t("admin.token_id"), false),
            (tr.t("col.department"), false),
            (tr.t("admin.created"), false),
            (tr.t("admin.expires"), false),
            (tr.t("admin.uses"), true),
            (tr.t("col.status"), false),
        ],
    );
    let mut live_tokens = Vec::new();
    for t in &token_rows {
        let status = if t.revoked_unix_ms.is_some() {
            "admin.token_revoked"
        } else if t.expires_unix_ms <= now {
            "admin.token_expired"
        } else if t.max_uses.is_some_and(|m| t.uses >= m) {
            "admin.token_used_up"
        } else {
            live_tokens.push((
                t.id.clone(),
                format!("{} · {}", t.id.get(..12).unwrap_or(&t.id), t.department),
            ));
            "admin.token_live"
        };
        tokens.rows.push(vec![
            Cell::text(t.id.get(..12).unwrap_or(&t.id).to_owned()),
            Cell::text(t.department.clone()),
            Cell::text(when(t.created_unix_ms)),
            Cell::text(when(t.expires_unix_ms)),
            Cell::number(
                t.max_uses.map_or_else(
                    || tr.int(t.uses),
                    |m| format!("{} / {}", tr.int(t.uses), tr.int(m)),
                ),
                t.uses,
            ),
            Cell::text(tr.t(status).to_owned()),
        ]);
    }
    tokens.empty = tr.t("admin.no_tokens").to_owned();

    let counts = shared
        .store
        .department_device_counts()
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    let mut departments = Table::new(
        "departments",
        tr.t("admin.departments").to_owned(),
        &[
            (tr.t("col.department"), false),
            (tr.t("col.devices"), true),
            (tr.t("admin.working_hours"), false),
            (tr.t("admin.hours_source"), false),
        ],
    );
    let hours_text = |h: &crate::working_hours::WorkingHours| h.to_string();
    for (name, devices) in &counts {
        let (hours, source) = match shared.config.policy.departments.get(name) {
            Some(h) => (hours_text(h), tr.t("admin.hours_own")),
            None => (
                hours_text(&shared.config.policy.working_hours),
                tr.t("admin.hours_default"),
            ),
        };
        departments.rows.push(vec![
            Cell::text(name.clone()).link(format!("/devices?department={}", url_encode(name))),
            Cell::number(tr.int(*devices), devices),
            Cell::text(hours),
            Cell::text(source.to_owned()),
        ]);
    }

    let user_rows = shared
        .store
        .users()
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    let mut users = Table::new(
        "users",
        tr.t("admin.users").to_owned(),
        &[
            (tr.t("admin.user"), false),
            (tr.t("admin.roles"), false),
            (tr.t("admin.created"), false),
            (tr.t("admin.api_tokens"), true),
            (tr.t("col.status"), false),
        ],
    );
    let me = visitor
        .session
        .as_ref()
        .map(|s| s.principal.name.clone())
        .unwrap_or_default();
    let mut disable = Vec::new();
    let mut api_tokens = Vec::new();
    for u in &user_rows {
        if u.disabled_unix_ms.is_none() && u.name != me {
            disable.push(u.name.clone());
        }
        if u.disabled_unix_ms.is_none() && u.api_tokens > 0 {
            let tokens = shared
                .store
                .api_tokens(&u.name)
                .await
                .map_err(|e| PageError::coded(&ctx, &e))?;
            api_tokens.extend(
                tokens
                    .into_iter()
                    .filter(|(_, _, revoked)| revoked.is_none())
                    .map(|(id, created, _)| (u.name.clone(), id, when(created))),
            );
        }
        users.rows.push(vec![
            Cell::text(u.name.clone()),
            Cell::text(u.roles.join(", ")),
            Cell::text(when(u.created_unix_ms)),
            Cell::number(tr.int(u.api_tokens), u.api_tokens),
            Cell::text(u.disabled_unix_ms.map_or_else(
                || tr.t("admin.enabled").to_owned(),
                |at| tr.f("admin.disabled_at", &[("when", &when(at))]),
            )),
        ]);
    }

    let policy = &shared.config.policy;
    let signals = policy.signals;
    let on = |b: bool| tr.t(if b { "admin.on" } else { "admin.off" }).to_owned();
    let policy_rows = vec![
        (
            tr.t("admin.report_interval").to_owned(),
            format!("{} s", tr.int(i64::from(policy.report_interval_secs))),
        ),
        (
            tr.t("admin.default_hours").to_owned(),
            hours_text(&policy.working_hours),
        ),
        (
            tr.t("admin.signal_inventory").to_owned(),
            on(signals.inventory),
        ),
        (tr.t("admin.signal_usage").to_owned(), on(signals.usage)),
        (tr.t("admin.signal_storage").to_owned(), on(signals.storage)),
        (
            tr.t("admin.signal_calendar").to_owned(),
            on(signals.calendar),
        ),
        (tr.t("admin.signal_calls").to_owned(), on(signals.calls)),
        (
            tr.t("admin.signal_notifications").to_owned(),
            on(signals.notifications),
        ),
        (
            tr.t("admin.signal_activity").to_owned(),
            on(signals.activity),
        ),
        (
            tr.t("admin.scan_roots").to_owned(),
            if policy.scan_roots.is_empty() {
                tr.t("admin.scan_roots_default").to_owned()
            } else {
                policy.scan_roots.join(", ")
            },
        ),
        (
            tr.t("admin.scan_budget").to_owned(),
            format!("{} s", tr.int(i64::from(policy.storage_scan_budget_secs))),
        ),
        (
            tr.t("admin.k").to_owned(),
            shared.config.indicators.k.to_string(),
        ),
    ];
    let retention = shared.config.retention;
    let days = |d: i64| tr.f("admin.days", &[("days", &tr.int(d))]);
    let retention_rows = vec![
        (
            tr.t("admin.retention_raw").to_owned(),
            days(retention.raw_days),
        ),
        (
            tr.t("admin.retention_person_days").to_owned(),
            days(retention.person_day_days),
        ),
        (
            tr.t("admin.retention_aggregates").to_owned(),
            days(retention.aggregate_days),
        ),
    ];

    let audit = audit_table(shared, &ctx, AUDIT_SHOWN).await?;
    let privacy_alerts = privacy_alerts_table(shared, &ctx).await?;
    let mut page = AdminPage {
        new_token,
        tokens,
        live_tokens,
        department_names: counts.iter().map(|(n, _)| n.clone()).collect(),
        departments,
        users,
        disable,
        api_tokens,
        roles: Role::ALL
            .iter()
            .map(|r| (r.as_str(), tr.t(&format!("role.{r}")).to_owned()))
            .collect(),
        policy: policy_rows,
        retention: retention_rows,
        privacy_alerts,
        audit,
        ctx,
    };
    for (table, id) in [
        (&mut page.tokens, "tokens"),
        (&mut page.departments, "departments"),
        (&mut page.users, "users"),
        (&mut page.privacy_alerts, "privacy-alerts"),
        (&mut page.audit, "audit"),
    ] {
        table.csv_href = Some(format!("/admin?csv={id}"));
        if table.empty.is_empty() {
            table.empty = page.ctx.t("table.empty").to_owned();
        }
    }
    Ok(page)
}

async fn audit_table(shared: &App, ctx: &Ctx, limit: i64) -> Result<Table, PageError> {
    let tr = ctx.tr;
    let entries = shared
        .store
        .audit_log(limit)
        .await
        .map_err(|e| PageError::coded(ctx, &e))?;
    let mut audit = Table::new(
        "audit",
        tr.t("admin.audit").to_owned(),
        &[
            (tr.t("admin.at"), false),
            (tr.t("admin.actor"), false),
            (tr.t("admin.action"), false),
            (tr.t("admin.subject"), false),
            (tr.t("admin.detail"), false),
        ],
    );
    for (at, actor, action, subject, detail) in entries {
        audit.rows.push(vec![
            Cell::text(when(at)),
            Cell::text(actor),
            Cell::text(action),
            Cell::text(subject),
            Cell::text(if detail.is_empty() {
                NONE.into()
            } else {
                detail
            }),
        ]);
    }
    Ok(audit)
}

/// Privacy alerts shown on the page.
const PRIVACY_ALERTS_SHOWN: i64 = 50;

async fn privacy_alerts_table(shared: &App, ctx: &Ctx) -> Result<Table, PageError> {
    let tr = ctx.tr;
    let alerts = shared
        .store
        .privacy_alerts(PRIVACY_ALERTS_SHOWN)
        .await
        .map_err(|e| PageError::coded(ctx, &e))?;
    let mut table = Table::new(
        "privacy-alerts",
        tr.t("admin.privacy_alerts").to_owned(),
        &[
            (tr.t("admin.at"), false),
            (tr.t("admin.action"), false),
            (tr.t("admin.subject"), false),
            (tr.t("admin.detail"), false),
        ],
    );
    for (at, action, subject, detail) in alerts {
        let kind = tr
            .t(&format!("admin.{}", action.replace('.', "_")))
            .to_owned();
        table.rows.push(vec![
            Cell::text(when(at)),
            Cell::text(kind),
            Cell::text(subject),
            Cell::text(detail),
        ]);
    }
    table.empty = tr.t("admin.privacy_alerts_none").to_owned();
    Ok(table)
}

/// `GET /admin?csv=`.
pub async fn page(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Query(query): Query<AdminQuery>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::Admin], "admin")?;
    if let Some(name) = query.csv.as_deref() {
        if name == "audit" {
            let audit = audit_table(&shared, &ctx, AUDIT_CSV).await?;
            return Ok(csv("audit", audit.to_csv()));
        }
        let page = admin_page(&shared, &visitor, ctx.clone(), None).await?;
        return match name {
            "tokens" => Ok(csv("enrollment-tokens", page.tokens.to_csv())),
            "departments" => Ok(csv("departments", page.departments.to_csv())),
            "users" => Ok(csv("users", page.users.to_csv())),
            "privacy-alerts" => Ok(csv("privacy-alerts", page.privacy_alerts.to_csv())),
            other => Err(PageError::not_found(ctx, format!("csv={other}"))),
        };
    }
    let page = admin_page(&shared, &visitor, ctx, None).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    max_uses: String,
}

fn refused(ctx: &Ctx, message: String) -> PageError {
    PageError::refused(
        ctx.clone(),
        StatusCode::BAD_REQUEST,
        message,
        "/admin".into(),
    )
}

/// `POST /admin/tokens`: the new token is shown once, on the page this
/// answers with.
pub async fn create_token(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::Admin], "admin")?;
    visitor.check_csrf(&ctx, &form.csrf)?;
    let Ok(department) = crate::domain::DepartmentName::parse(&form.department) else {
        return Err(refused(&ctx, ctx.t("admin.department_needed").to_owned()));
    };
    let department = department.as_str();
    let number = |value: &str, field: &str, max: i64| -> Result<Option<i64>, PageError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        value
            .parse::<i64>()
            .ok()
            .filter(|v| (1..=max).contains(v))
            .map(Some)
            .ok_or_else(|| {
                refused(
                    &ctx,
                    ctx.tr.f(
                        "error.number",
                        &[
                            ("field", ctx.t(field)),
                            ("value", value),
                            ("min", "1"),
                            ("max", &max.to_string()),
                        ],
                    ),
                )
            })
    };
    let days = number(&form.days, "admin.valid_days", 365)?.unwrap_or(30);
    let max_uses = number(&form.max_uses, "admin.max_uses", 1_000_000)?;
    let token = crate::app::enrollment::create_token(
        &shared.store,
        department,
        std::time::Duration::from_secs(u64::try_from(days).unwrap_or(30) * 86_400),
        max_uses,
        &visitor.actor(),
        now_unix_ms(),
    )
    .await
    .map_err(|e| PageError::coded(&ctx, &e))?;
    let page = admin_page(&shared, &visitor, ctx, Some((token, department.to_owned()))).await?;
    Ok(render(StatusCode::CREATED, &page))
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::Admin], "admin")?;
    visitor.check_csrf(&ctx, &form.csrf)?;
    if !crate::app::enrollment::revoke_token(&shared.store, &id, &visitor.actor(), now_unix_ms())
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?
    {
        return Err(PageError::not_found(
            ctx.clone(),
            ctx.tr.f("admin.no_token", &[("id", &id)]),
        ));
    }
    Ok(Redirect::to("/admin").into_response())
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    admin: Option<String>,
    #[serde(default)]
    it: Option<String>,
    #[serde(default)]
    hr: Option<String>,
}

/// `POST /admin/users`: a new account (or new roles and password for an
/// existing one).
pub async fn add_user(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Form(form): Form<UserForm>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::Admin], "admin")?;
    visitor.check_csrf(&ctx, &form.csrf)?;
    let Ok(name) = UserName::parse(&form.name) else {
        return Err(refused(
            &ctx,
            ctx.tr.f("admin.bad_name", &[("name", form.name.trim())]),
        ));
    };

    let roles: Vec<Role> = [
        (Role::Admin, &form.admin),
        (Role::It, &form.it),
        (Role::Hr, &form.hr),
    ]
    .iter()
    .filter(|(_, checked)| checked.is_some())
    .map(|(role, _)| *role)
    .collect();
    accounts::set_user(
        &shared.store,
        &name,
        &form.password,
        &roles,
        &visitor.actor(),
        now_unix_ms(),
    )
    .await
    .map_err(|error| match error {
        AccountError::Password => refused(&ctx, ctx.t("admin.short_password").to_owned()),
        AccountError::NoRole => refused(&ctx, ctx.t("admin.role_needed").to_owned()),
        other => PageError::coded(&ctx, &other),
    })?;
    Ok(Redirect::to("/admin").into_response())
}

/// `POST /admin/users/{name}/tokens/{id}/revoke`: one API token stops.
pub async fn revoke_api_token(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Path((name, id)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::Admin], "admin")?;
    visitor.check_csrf(&ctx, &form.csrf)?;
    accounts::revoke_api_token(&shared.store, &name, &id, &visitor.actor(), now_unix_ms())
        .await
        .map_err(|error| match error {
            AccountError::UnknownApiToken { .. } => {
                PageError::not_found(ctx.clone(), format!("{name} {id}"))
            }
            other => PageError::coded(&ctx, &other),
        })?;
    Ok(Redirect::to("/admin").into_response())
}

/// `POST /admin/users/{name}/disable`: sessions end, API tokens stop.
pub async fn disable_user(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Path(name): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::Admin], "admin")?;
    visitor.check_csrf(&ctx, &form.csrf)?;
    let own_name = visitor.session.as_ref().map(|s| s.principal.name.as_str());
    accounts::disable_user(
        &shared.store,
        &name,
        &visitor.actor(),
        own_name,
        now_unix_ms(),
    )
    .await
    .map_err(|error| match error {
        AccountError::Yourself => refused(&ctx, ctx.t("admin.not_yourself").to_owned()),
        AccountError::UnknownUser(_) => PageError::not_found(ctx.clone(), name.clone()),
        other => PageError::coded(&ctx, &other),
    })?;
    Ok(Redirect::to("/admin").into_response())
}
