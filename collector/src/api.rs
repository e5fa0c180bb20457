//! The JSON API: suggestions and their review, and the fleet's impact, for
//! the `it` and `admin` roles. Credentials: `Authorization: Bearer TOKEN`
//! (`sobrio-collector user token create NAME`), or a signed-in browser's
//! session (with `X-CSRF-Token` on calls that change something). 401
//! without valid credentials, 403 for a role that may not see a route. The
//! routes are described by `/api/v1/openapi.json`.

use crate::domain::Role;
use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::app::{App, now_unix_ms};
use crate::store::Principal;

/// An API error: status and a message saying what to do.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl ApiError {
    /// The error's status from its code; its text unless it is a fault of
    /// the collector's (logged, and told in general terms).
    fn coded(error: &impl crate::error::Coded) -> Self {
        Self(
            error.code().http_status(),
            crate::error::caller_message(error),
        )
    }
}

/// A fault of the collector's: logged, told in general terms.
fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "API request failed");
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        crate::error::ErrorCode::Internal.general_message().into(),
    )
}

/// The caller, authenticated by a bearer token.
pub struct Caller(pub Principal);

impl FromRequestParts<crate::web::WebState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::web::WebState,
    ) -> Result<Self, Self::Rejection> {
        let shared = &state.app;
        let unauthorized = || {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "credentials required: Authorization: Bearer TOKEN \
                 (sobrio-collector user token create NAME)"
                    .into(),
            )
        };
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(header) = header else {
            // A signed-in browser may call the API too.
            let session = crate::web::session::api_session(parts, shared)
                .await
                .map_err(|e| ApiError::coded(&e))?
                .ok_or_else(unauthorized)?;
            return Ok(Self(session.principal));
        };
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(unauthorized)?;
        let principal = shared
            .store
            .principal_for_token(token)
            .await
            .map_err(|e| ApiError::coded(&e))?
            .ok_or_else(unauthorized)?;
        Ok(Self(principal))
    }
}

impl Caller {
    fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.0.has_any(roles) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError(
                StatusCode::FORBIDDEN,
                format!("this route needs the role {}", names.join(" or ")),
            ))
        }
    }

    fn actor(&self) -> String {
        format!("user:{}", self.0.name)
    }
}

/// The API's routes.
pub fn routes() -> axum::Router<crate::web::WebState> {
    axum::Router::new()
        .route("/api/v1/suggestions", get(list_suggestions))
        .route("/api/v1/suggestions/{id}/{action}", post(decide))
        .route("/api/v1/impact", get(impact))
        .route("/api/v1/devices", get(devices))
        .route("/api/v1/devices/{id}", get(device))
        .route("/api/v1/devices/{id}/disposal", post(retire))
        .route(
            "/api/v1/devices/{id}/department",
            get(department_history).post(move_device),
        )
        .route("/api/v1/reports/disposals", get(disposals))
        .route("/api/v1/reports/esrs", get(esrs))
        .route("/api/v1/indicators", get(indicators))
        .route("/api/v1/openapi.json", get(openapi))
}

/// The API's description (OpenAPI 3.1), public like any API document.
async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

/// `/api/v1/openapi.json`, checked against the routes by the tests.
pub const OPENAPI: &str = include_str!("openapi.json");

#[derive(Debug, Deserialize)]
struct ListQuery {
    kind: Option<String>,
}

async fn list_suggestions(
    State(shared): State<Arc<App>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::It, Role::Admin])?;
    if let Some(kind) = &query.kind
        && crate::analysis::Kind::parse(kind).is_none()
    {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("unknown kind {kind:?}: pool, reuse, extend, repair, upgrade or storage"),
        ));
    }
    let list = shared
        .store
        .suggestions(query.kind.as_deref())
        .await
        .map_err(|e| ApiError::coded(&e))?;
    Ok(Json(list).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct DecisionBody {
    #[serde(default)]
    reason: String,
    /// Where the device a reuse replaces went, when it is marked done.
    #[serde(default)]
    outcome: Option<String>,
}

async fn decide(
    State(shared): State<Arc<App>>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(&[Role::It, Role::Admin])?;
    // The body is optional: `{"reason": "…"}` for a dismissal,
    // `{"outcome": "donated"}` for a reuse that replaces a device.
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        DecisionBody::default()
    } else {
        json_body::<DecisionBody>(&body, r#"{"reason": "…", "outcome": "donated"}"#)?
    };
    let decided = shared
        .decide(
            &id,
            &action,
            &body.reason,
            &caller.actor(),
            body.outcome.as_deref(),
        )
        .await
        .map_err(|e| ApiError::coded(&e))?;
    Ok(Json(decided).into_response())
}

/// A request's JSON body; 400 with an example of the expected shape when
/// it is not one.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], example: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("expected a JSON body like {example}: {e}"),
        )
    })
}

/// `{"retired_on": "2026-11-02", "outcome": "donated", "note": "…"}`.
#[derive(serde::Deserialize)]
struct DisposalBody {
    retired_on: String,
    outcome: String,
    #[serde(default)]
    note: String,
}

async fn retire(
    State(shared): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(&[Role::It, Role::Admin])?;
    let body: DisposalBody = json_body(
        &body,
        r#"{"retired_on": "2026-11-02", "outcome": "donated"}"#,
    )?;
    crate::app::devices::retire(
        &shared.store,
        &id,
        &body.retired_on,
        &body.outcome,
        &body.note,
        &caller.actor(),
        now_unix_ms(),
    )
    .await
    .map_err(|e| ApiError::coded(&e))?;
    shared.impact_changed().await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{"department": "Finance"}`.
#[derive(serde::Deserialize)]
struct MoveBody {
    department: String,
}

async fn move_device(
    State(shared): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(&[Role::It, Role::Admin])?;
    let body: MoveBody = json_body(&body, r#"{"department": "Finance"}"#)?;
    let left = crate::app::devices::move_to(
        &shared.store,
        &id,
        &body.department,
        &caller.actor(),
        now_unix_ms(),
    )
    .await
    .map_err(|e| ApiError::coded(&e))?;
    shared.impact_changed().await;
    Ok(Json(serde_json::json!({
        "department": body.department.trim(),
        "left": left,
    }))
    .into_response())
}

async fn department_history(
    State(shared): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::It, Role::Admin])?;
    let history = shared
        .store
        .department_history(&id)
        .await
        .map_err(|e| ApiError::coded(&e))?;
    if history.is_empty() {
        return Err(ApiError::coded(&crate::app::devices::DeviceError::Unknown(
            id,
        )));
    }
    Ok(Json(history).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EsrsQuery {
    year: i16,
}

async fn esrs(
    State(shared): State<Arc<App>>,
    caller: Caller,
    query: Result<Query<EsrsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::It, Role::Admin])?;
    let Query(query) = query.map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("expected ?year=YYYY, one of the five years before this one or this one: {e}"),
        )
    })?;
    let impact = shared.impact().await.map_err(internal)?;
    let disposals = crate::app::devices::reuse_report(&shared.store)
        .await
        .map_err(|e| ApiError::coded(&e))?;
    let report = crate::analysis::esrs::esrs(&impact, &disposals, query.year)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    Ok(Json(report).into_response())
}

async fn disposals(State(shared): State<Arc<App>>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&[Role::It, Role::Admin])?;
    let report = crate::app::devices::reuse_report(&shared.store)
        .await
        .map_err(|e| ApiError::coded(&e))?;
    Ok(Json(report).into_response())
}

async fn impact(State(shared): State<Arc<App>>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&[Role::It, Role::Admin])?;
    let impact = shared.impact().await.map_err(internal)?;
    Ok(Json(&*impact).into_response())
}

/// HR's indicators: fixed groups only. The one parameter is `week`; any
/// other is refused rather than ignored, so that no crafted query is taken
/// for a filter.
async fn indicators(
    State(shared): State<Arc<App>>,
    caller: Caller,
    Query(query): Query<std::collections::BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Hr])?;
    if let Some(other) = query.keys().find(|k| k.as_str() != "week") {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("unknown parameter {other:?}: indicators take only week=YYYY-Www"),
        ));
    }
    let tz = shared.config.analysis.time_zone.clone();
    let today = jiff::Zoned::now().with_time_zone(tz).date();
    let week = match query.get("week") {
        Some(week) => week.clone(),
        None => crate::indicators::latest_published(today, &shared.config.indicators).to_string(),
    };
    let release = crate::app::indicators::compute(&shared.store, &shared.config, &week, today)
        .await
        .map_err(|error| ApiError::coded(&error))?;
    shared
        .store
        .audit(
            now_unix_ms(),
            &caller.actor(),
            "indicators.view",
            &release.week,
            "",
        )
        .await
        .map_err(|e| ApiError::coded(&e))?;
    Ok(Json(release).into_response())
}

/// Devices per page.
const PAGE_SIZE: i64 = 100;

async fn devices(
    State(shared): State<Arc<App>>,
    caller: Caller,
    Query(query): Query<std::collections::BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::It, Role::Admin])?;
    let page: i64 = match query.get("page") {
        None => 1,
        Some(page) => page
            .parse()
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .ok_or_else(|| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("invalid page {page:?}: expected a number from 1"),
                )
            })?,
    };
    let (devices, total) = shared
        .store
        .devices_page(page, PAGE_SIZE)
        .await
        .map_err(|e| ApiError::coded(&e))?;
    Ok(Json(serde_json::json!({
        "page": page,
        "page_size": PAGE_SIZE,
        "total": total,
        "devices": devices,
    }))
    .into_response())
}

async fn device(
    State(shared): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::It, Role::Admin])?;
    let (summary, inventories) = shared
        .store
        .device_detail(&id)
        .await
        .map_err(|e| ApiError::coded(&e))?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no device {id}")))?;
    let mut value = serde_json::to_value(summary).map_err(internal)?;
    value["inventories"] = serde_json::Value::Array(inventories);
    Ok(Json(value).into_response())
}
