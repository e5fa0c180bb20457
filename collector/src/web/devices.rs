//! `/devices` and `/devices/{id}` for IT: the fleet list (sortable,
//! paginated, by department) and one device's inventory history, health,
//! use and storage. No digital load is ever read here.

use crate::domain::Role;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::table::{Cell, Header, Section, Table, link_csv, section_table};
use super::{Ctx, NONE, PageError, Visitor, charts, csv, render, url_encode, when};
use crate::app::App;
use crate::store::{DeviceListRow, DeviceSort};

/// Devices per page.
pub const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    sort: Option<String>,
    dir: Option<String>,
    page: Option<String>,
    department: Option<String>,
    csv: Option<String>,
}

/// Pagination links.
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    pub first: Option<String>,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub last: Option<String>,
}

impl Pager {
    /// "Page 2 of 7" in the page's language.
    pub fn position(&self, tr: &super::Catalogue) -> String {
        tr.f(
            "pager.position",
            &[("page", &tr.int(self.page)), ("pages", &tr.int(self.pages))],
        )
    }

    /// Links for `page` of `total` items, `base` ending with `?` or `&`.
    pub fn new(base: &str, page: i64, size: i64, total: i64) -> Self {
        let pages = (total + size - 1).max(1) / size.max(1);
        let pages = pages.max(1);
        let link = |p: i64| format!("{base}page={p}");
        Self {
            page,
            pages,
            total,
            first: (page > 1).then(|| link(1)),
            previous: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
            last: (page < pages).then(|| link(pages)),
        }
    }
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    ctx: Ctx,
    table: Table,
    pager: Pager,
    /// (name, selected).
    departments: Vec<(String, bool)>,
    sort: &'static str,
    dir: &'static str,
}

/// A page number from a query: 1 when absent.
///
/// # Errors
/// A message naming the bad value.
pub fn page_number(ctx: &Ctx, value: Option<&str>) -> Result<i64, String> {
    match value {
        None | Some("") => Ok(1),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .ok_or_else(|| ctx.tr.f("error.page", &[("value", text)])),
    }
}

fn age_years(ctx: &Ctx, since: Option<&str>) -> (String, String) {
    let Some(since) = since.and_then(|s| s.parse::<jiff::civil::Date>().ok()) else {
        return (NONE.into(), String::new());
    };
    let today = jiff::Zoned::now().date();
    let years = f64::from((today - since).get_days()) / 365.25;
    let years = years.max(0.0);
    (ctx.tr.dec(years, 1), format!("{years:.1}"))
}

fn device_row(ctx: &Ctx, device: &DeviceListRow) -> Vec<Cell> {
    let (age, age_raw) = age_years(ctx, device.age_since_date.as_deref());
    let mut name =
        Cell::text(device.hostname.clone()).link(format!("/devices/{}", url_encode(&device.id)));
    if device.revoked_unix_ms.is_some() {
        name.text = ctx
            .tr
            .f("devices.revoked_name", &[("name", &device.hostname)]);
    }
    vec![
        name,
        Cell::text(device.department.clone()),
        Cell::text(
            device
                .chassis
                .as_deref()
                .map_or_else(|| NONE.to_owned(), |c| ctx.tr.category(c)),
        ),
        Cell::text(device.model.clone().unwrap_or_else(|| NONE.into())),
        Cell::number(age, age_raw),
        Cell::text(device.last_seen_unix_ms.map_or_else(|| NONE.into(), when)),
    ]
}

/// `GET /devices?sort=&dir=&page=&department=&csv=all`.
pub async fn list(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::It, Role::Admin], "devices")?;
    let refuse = |message: String| {
        PageError::refused(
            ctx.clone(),
            StatusCode::BAD_REQUEST,
            message,
            "/devices".into(),
        )
    };
    let sort = match query.sort.as_deref() {
        None | Some("") => DeviceSort::default(),
        Some(name) => DeviceSort::parse(name)
            .ok_or_else(|| refuse(ctx.tr.f("error.sort", &[("value", name)])))?,
    };
    let descending = match query.dir.as_deref() {
        None | Some("" | "asc") => false,
        Some("desc") => true,
        Some(other) => return Err(refuse(ctx.tr.f("error.dir", &[("value", other)]))),
    };
    let page = page_number(&ctx, query.page.as_deref()).map_err(refuse)?;
    let department = query.department.clone().unwrap_or_default();
    let department_filter = (!department.is_empty()).then_some(department.as_str());
    let dir = if descending { "desc" } else { "asc" };
    let filter = if department.is_empty() {
        String::new()
    } else {
        format!("department={}&", url_encode(&department))
    };

    let headers = [
        (DeviceSort::Hostname, "col.hostname", false),
        (DeviceSort::Department, "col.department", false),
        (DeviceSort::Chassis, "col.category", false),
        (DeviceSort::Model, "col.model", false),
        (DeviceSort::Age, "col.age_years", true),
        (DeviceSort::LastSeen, "col.last_seen", false),
    ];
    let mut table = Table::new("devices", ctx.t("devices.caption").to_owned(), &[]);
    table.headers = headers
        .iter()
        .map(|(key, label, numeric)| {
            let current = *key == sort;
            let next_dir = if current && !descending {
                "desc"
            } else {
                "asc"
            };
            Header {
                label: ctx.t(label).to_owned(),
                numeric: *numeric,
                sort: Some((
                    format!("/devices?{filter}sort={}&dir={next_dir}", key.name()),
                    current.then_some(if descending {
                        "descending"
                    } else {
                        "ascending"
                    }),
                )),
            }
        })
        .collect();
    table.empty = ctx.t("devices.none").to_owned();
    table.csv_href = Some(format!(
        "/devices?{filter}sort={}&dir={dir}&csv=all",
        sort.name()
    ));

    if query.csv.is_some() {
        // The whole list, in the order shown, a page of the store at a time.
        let mut page = 1;
        loop {
            let (rows, total) = shared
                .store
                .device_list(sort, descending, department_filter, page, 5_000)
                .await
                .map_err(|e| PageError::coded(&ctx, &e))?;
            table.rows.extend(rows.iter().map(|d| device_row(&ctx, d)));
            if page * 5_000 >= total || rows.is_empty() {
                break;
            }
            page += 1;
        }
        return Ok(csv("devices", table.to_csv()));
    }

    let (rows, total) = shared
        .store
        .device_list(sort, descending, department_filter, page, PAGE_SIZE)
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    table.rows = rows.iter().map(|d| device_row(&ctx, d)).collect();
    table.caption = ctx
        .tr
        .f("devices.caption_count", &[("count", &ctx.tr.int(total))]);
    let departments = shared
        .store
        .department_names()
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    let page = DevicesPage {
        pager: Pager::new(
            &format!("/devices?{filter}sort={}&dir={dir}&", sort.name()),
            page,
            PAGE_SIZE,
            total,
        ),
        table,
        departments: departments
            .into_iter()
            .map(|name| {
                let selected = name == department;
                (name, selected)
            })
            .collect(),
        sort: sort.name(),
        dir,
        ctx,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    ctx: Ctx,
    hostname: String,
    facts: Vec<(String, String)>,
    sections: Vec<Section>,
    /// Where the move form posts, the departments it offers, and the one
    /// the device is in.
    move_action: String,
    departments: Vec<String>,
    current_department: String,
    /// Where the disposal form posts.
    retire_action: String,
    /// Outcomes a retired device may have: (name, label).
    outcomes: Vec<(String, String)>,
    /// The device's disposal, when it was retired: (date, outcome label).
    disposal: Option<(String, String)>,
}

/// The move form of a device page.
#[derive(Debug, Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    department: String,
}

/// `POST /devices/{id}/move`: moves the device, back to the page.
pub async fn move_to(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<MoveForm>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::It, Role::Admin], "devices")?;
    visitor.check_csrf(&ctx, &form.csrf)?;
    let back = format!("/devices/{}", url_encode(&id));
    match crate::app::devices::move_to(
        &shared.store,
        &id,
        &form.department,
        &visitor.actor(),
        crate::app::now_unix_ms(),
    )
    .await
    {
        Ok(_) => {
            shared.impact_changed().await;
            Ok(axum::response::IntoResponse::into_response(
                axum::response::Redirect::to(&back),
            ))
        }
        Err(crate::app::devices::DeviceError::Unknown(_)) => Err(PageError::not_found(
            ctx.clone(),
            ctx.tr.f("devices.unknown", &[("id", &id)]),
        )),
        Err(crate::app::devices::DeviceError::UnknownDepartment(department)) => {
            Err(PageError::refused(
                ctx.clone(),
                StatusCode::BAD_REQUEST,
                ctx.tr
                    .f("device.unknown_department", &[("department", &department)]),
                back,
            ))
        }
        Err(error) => Err(PageError::coded(&ctx, &error)),
    }
}

/// The disposal form of a device page.
#[derive(Debug, Deserialize)]
pub struct RetireForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    retired_on: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

/// `POST /devices/{id}/retire`: records the disposal, back to the page.
pub async fn retire(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<RetireForm>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::It, Role::Admin], "devices")?;
    visitor.check_csrf(&ctx, &form.csrf)?;
    let back = format!("/devices/{}", url_encode(&id));
    match crate::app::devices::retire(
        &shared.store,
        &id,
        form.retired_on.trim(),
        &form.outcome,
        &form.note,
        &visitor.actor(),
        crate::app::now_unix_ms(),
    )
    .await
    {
        Ok(()) => {
            shared.impact_changed().await;
            Ok(axum::response::IntoResponse::into_response(
                axum::response::Redirect::to(&back),
            ))
        }
        Err(error) => {
            use crate::error::Coded;
            let status = error.code().http_status();
            Err(PageError::refused(ctx, status, error.to_string(), back))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    csv: Option<String>,
}

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => NONE.into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `GET /devices/{id}`.
#[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
pub async fn detail(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Result<Response, PageError> {
    let ctx = visitor.require(&[Role::It, Role::Admin], "devices")?;
    let tr = ctx.tr;
    let Some((summary, inventories)) = shared
        .store
        .device_detail(&id)
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?
    else {
        return Err(PageError::not_found(
            ctx.clone(),
            ctx.tr.f("devices.unknown", &[("id", &id)]),
        ));
    };
    let latest = inventories.first().cloned().unwrap_or_default();
    let field = |name: &str| text(&latest[name]);
    let bytes = |v: &serde_json::Value| v.as_i64().map_or_else(|| NONE.into(), |b| tr.bytes(b));
    let mut facts = vec![
        (
            tr.t("col.department").to_owned(),
            summary.department.clone(),
        ),
        (
            tr.t("col.category").to_owned(),
            ctx.tr.category(&field("chassis")),
        ),
        (
            tr.t("col.model").to_owned(),
            format!("{} {}", field("vendor"), field("model")),
        ),
        (
            tr.t("col.cpu").to_owned(),
            format!(
                "{} ({} {})",
                field("cpu_model"),
                field("cpu_logical_cores"),
                tr.t("device.threads")
            ),
        ),
        (
            tr.t("col.memory").to_owned(),
            bytes(&latest["memory_bytes"]),
        ),
        (tr.t("col.disk").to_owned(), bytes(&latest["disk_bytes"])),
        (
            tr.t("col.os").to_owned(),
            format!("{} {}", field("os_name"), field("os_version")),
        ),
        (
            tr.t("col.age_since").to_owned(),
            format!("{} ({})", field("age_since_date"), field("age_source")),
        ),
        (
            tr.t("col.battery").to_owned(),
            latest["battery_health_percent"].as_f64().map_or_else(
                || NONE.into(),
                |h| {
                    tr.f(
                        "device.battery_value",
                        &[
                            ("health", &tr.dec(h, 0)),
                            ("cycles", &field("battery_cycles")),
                        ],
                    )
                },
            ),
        ),
        (
            tr.t("col.disk_health").to_owned(),
            latest["disk_health"]
                .as_str()
                .map_or_else(|| NONE.into(), |h| tr.t(&format!("health.{h}")).to_owned()),
        ),
        (
            tr.t("col.last_seen").to_owned(),
            summary.last_seen.clone().unwrap_or_else(|| NONE.into()),
        ),
        (tr.t("col.reports").to_owned(), tr.int(summary.reports)),
    ];
    if let Some(revoked) = &summary.revoked {
        facts.push((tr.t("col.revoked").to_owned(), revoked.clone()));
    }
    // The register's facts win where it has them: its category, its
    // purchase date as the age's source, its price and warranty.
    let identity = shared
        .store
        .device_identity(&id)
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?
        .unwrap_or_default();
    if let Some(serial) = &identity.register_serial {
        facts[1].1 = ctx.tr.category(&identity.category);
        if let Some(purchased) = &identity.purchase_date {
            facts[7].1 = format!("{purchased} ({})", tr.t("device.from_register"));
        }
        facts.push((tr.t("device.register").to_owned(), serial.clone()));
        if let Some(price) = identity.price_eur {
            facts.push((
                tr.t("col.price").to_owned(),
                format!("{} €", tr.dec(price, 0)),
            ));
        }
        if let Some(warranty) = &identity.warranty_end {
            facts.push((tr.t("col.warranty_end").to_owned(), warranty.clone()));
        }
    }
    let own = shared.reference_data().await.and_then(|embodied| {
        crate::app::devices::own_footprint(&identity, &embodied, &shared.config.analysis)
    });
    match own {
        Ok(Some(own)) => {
            let footprint = &own.footprint;
            facts.push((
                tr.t("device.footprint").to_owned(),
                tr.f(
                    "device.footprint_value",
                    &[
                        ("value", &tr.dec(footprint.embodied_kgco2e, 0)),
                        ("low", &tr.dec(footprint.low_kgco2e, 0)),
                        ("high", &tr.dec(footprint.high_kgco2e, 0)),
                        ("basis", tr.t(&format!("basis.{}", footprint.basis.name()))),
                        ("source", &footprint.source),
                        ("version", &own.factor_set),
                    ],
                ),
            ));
            if let Some(even) = &own.break_even {
                let value = match even.years {
                    Some(years) => tr.f(
                        "device.break_even_years",
                        &[
                            ("years", &tr.dec(years, 0)),
                            ("build", &tr.dec(even.replacement_kgco2e, 0)),
                            ("extra", &tr.dec(even.extra_use_kgco2e_per_year, 1)),
                        ],
                    ),
                    None => tr.f(
                        "device.break_even_never",
                        &[("build", &tr.dec(even.replacement_kgco2e, 0))],
                    ),
                };
                facts.push((tr.t("device.break_even").to_owned(), value));
            }
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "device page: no footprint"),
    }
    if let Some(member) = shared
        .store
        .pool_member(&id)
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?
    {
        facts.push((
            tr.t("device.pool").to_owned(),
            tr.f(
                "device.pool_value",
                &[
                    ("department", &member.department),
                    ("category", &ctx.tr.category(&member.category)),
                    ("since", &when(member.since_unix_ms)),
                    ("suggestion", &member.suggestion_id),
                ],
            ),
        ));
    }

    let mut history = Table::new(
        "inventory",
        tr.t("device.history").to_owned(),
        &[
            (tr.t("col.collected"), false),
            (tr.t("col.hostname"), false),
            (tr.t("col.os"), false),
            (tr.t("col.memory"), true),
            (tr.t("col.disk"), true),
            (tr.t("col.battery_health"), true),
            (tr.t("col.disk_health"), false),
        ],
    );
    for inventory in &inventories {
        history.rows.push(vec![
            Cell::text(text(&inventory["collected"])),
            Cell::text(text(&inventory["hostname"])),
            Cell::text(format!(
                "{} {}",
                text(&inventory["os_name"]),
                text(&inventory["os_version"])
            )),
            Cell::number(
                bytes(&inventory["memory_bytes"]),
                text(&inventory["memory_bytes"]),
            ),
            Cell::number(
                bytes(&inventory["disk_bytes"]),
                text(&inventory["disk_bytes"]),
            ),
            Cell::number(
                inventory["battery_health_percent"]
                    .as_f64()
                    .map_or_else(|| NONE.into(), |h| format!("{} %", tr.dec(h, 0))),
                text(&inventory["battery_health_percent"]),
            ),
            Cell::text(text(&inventory["disk_health"])),
        ]);
    }

    let weeks = shared
        .store
        .device_weeks(&id)
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    let mut usage = Table::new(
        "use",
        tr.t("device.use").to_owned(),
        &[
            (tr.t("col.week"), false),
            (tr.t("col.powered_hours"), true),
            (tr.t("col.active_hours"), true),
            (tr.t("col.cpu_hot_hours"), true),
            (tr.t("col.memory_hot_hours"), true),
            (tr.t("col.disk_fill"), true),
        ],
    );
    let recent: Vec<_> = weeks.iter().rev().take(12).rev().collect();
    let mut points = Vec::new();
    let mut powered = Vec::new();
    let mut active = Vec::new();
    for week in &recent {
        let label = crate::indicators::week_of(
            jiff::Timestamp::from_millisecond(week.week_start_unix_ms)
                .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
                .unwrap_or_default(),
        );
        points.push(label.get(5..).unwrap_or(&label).to_owned());
        powered.push(Some(week.powered_hours as f64));
        active.push(Some(week.active_hours as f64));
        usage.rows.push(vec![
            Cell::text(label),
            Cell::number(tr.int(week.powered_hours), week.powered_hours),
            Cell::number(tr.int(week.active_hours), week.active_hours),
            Cell::number(tr.int(week.cpu_hot_hours), week.cpu_hot_hours),
            Cell::number(tr.int(week.memory_hot_hours), week.memory_hot_hours),
            week.disk_fill_max_percent.map_or_else(
                || Cell::text(NONE),
                |f| Cell::number(format!("{} %", tr.dec(f, 0)), f),
            ),
        ]);
    }
    let usage_svg = (!recent.is_empty()).then(|| {
        charts::lines(
            &points,
            &[
                (tr.t("col.powered_hours").to_owned(), powered),
                (tr.t("col.active_hours").to_owned(), active),
            ],
            &|v| tr.dec(v, 0),
        )
    });

    let mut storage = Table::new(
        "storage",
        tr.t("device.storage").to_owned(),
        &[(tr.t("col.kind"), false), (tr.t("col.bytes"), true)],
    );
    if let Some((collected, snapshot)) = shared
        .store
        .latest_storage(&id)
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?
    {
        storage.caption = tr.f("device.storage_at", &[("when", &when(collected))]);
        let mut row = |key: &str, value: Option<i64>| {
            if let Some(value) = value {
                storage.rows.push(vec![
                    Cell::text(tr.t(key).to_owned()),
                    Cell::number(tr.bytes(value), value),
                ]);
            }
        };
        row("storage.total", Some(snapshot.total_bytes));
        row("storage.used", Some(snapshot.used_bytes));
        row("storage.duplicates", snapshot.duplicate_bytes);
        row("storage.temp", snapshot.temp_bytes);
        row("storage.cache", snapshot.cache_bytes);
        row("storage.trash", snapshot.trash_bytes);
        row("storage.stale", snapshot.stale_bytes);
        row("storage.mail_archives", snapshot.mail_archives_bytes);
        row("storage.old_downloads", snapshot.old_downloads_bytes);
    }

    let mut departments = Table::new(
        "departments",
        tr.t("device.departments").to_owned(),
        &[
            (tr.t("col.since"), false),
            (tr.t("col.department"), false),
            (tr.t("col.by"), false),
            (tr.t("col.reason"), false),
        ],
    );
    for spell in shared
        .store
        .department_history(&id)
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?
    {
        departments.rows.push(vec![
            Cell::text(when(spell.from_unix_ms)),
            Cell::text(spell.department),
            Cell::text(spell.recorded_by),
            Cell::text(match spell.suggestion_id {
                Some(suggestion) => format!("{} ({suggestion})", spell.reason),
                None => spell.reason,
            }),
        ]);
    }

    let base = format!("/devices/{}", url_encode(&id));
    let mut sections = vec![
        Section {
            heading: tr.t("device.departments").to_owned(),
            svg: None,
            table: departments,
        },
        Section {
            heading: tr.t("device.history").to_owned(),
            svg: None,
            table: history,
        },
        Section {
            heading: tr.t("device.use").to_owned(),
            svg: usage_svg,
            table: usage,
        },
        Section {
            heading: tr.t("device.storage").to_owned(),
            svg: None,
            table: storage,
        },
    ];
    link_csv(&mut sections, &base, tr.t("table.empty"));
    if let Some(name) = query.csv {
        return match section_table(&sections, &name) {
            Some(table) => Ok(csv(&name, table.to_csv())),
            None => Err(PageError::not_found(ctx, format!("csv={name}"))),
        };
    }
    let disposal = shared
        .store
        .disposal(&id)
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?
        .map(|d| {
            (
                d.retired_on,
                tr.t(&format!("outcome.{}", d.outcome)).to_owned(),
            )
        });
    let all_departments = shared
        .store
        .department_names()
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    let page = DevicePage {
        current_department: summary.department.clone(),
        hostname: summary.hostname,
        facts,
        sections,
        move_action: format!("{base}/move"),
        departments: all_departments,
        retire_action: format!("{base}/retire"),
        outcomes: tr.outcomes(),
        disposal,
        ctx,
    };
    Ok(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::Pager;

    #[test]
    fn pages_link_to_their_neighbours() {
        let pager = Pager::new("/devices?", 2, 50, 120);
        assert_eq!(pager.pages, 3);
        assert_eq!(pager.previous.as_deref(), Some("/devices?page=1"));
        assert_eq!(pager.next.as_deref(), Some("/devices?page=3"));
        let only = Pager::new("/devices?", 1, 50, 0);
        assert_eq!(only.pages, 1);
        assert!(only.next.is_none() && only.previous.is_none());
    }
}
