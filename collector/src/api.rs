//! The JSON API: suggestions and their review, and the fleet's impact, for
//! the `it` and `admin` roles. Credentials: `Authorization: Bearer TOKEN`
//! (`sobrio-collector user token create NAME`). 401 without valid
//! credentials, 403 for a role that may not see a route.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::server::Shared;
use crate::store::{DecisionError, Principal, now_unix_ms};

/// An API error: status and a message saying what to do.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "API request failed");
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; see the collector's log".into(),
    )
}

/// The caller, authenticated by a bearer token.
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = || {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "credentials required: Authorization: Bearer TOKEN \
                 (sobrio-collector user token create NAME)"
                    .into(),
            )
        };
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(unauthorized)?;
        let principal = shared
            .store
            .principal_for_token(token)
            .await
            .map_err(internal)?
            .ok_or_else(unauthorized)?;
        Ok(Self(principal))
    }
}

impl Caller {
    fn require(&self, roles: &[&str]) -> Result<(), ApiError> {
        if self.0.has_any(roles) {
            Ok(())
        } else {
            Err(ApiError(
                StatusCode::FORBIDDEN,
                format!("this route needs the role {}", roles.join(" or ")),
            ))
        }
    }

    fn actor(&self) -> String {
        format!("user:{}", self.0.name)
    }
}

/// The API's routes.
pub fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/api/v1/suggestions", get(list_suggestions))
        .route("/api/v1/suggestions/{id}/{action}", post(decide))
        .route("/api/v1/impact", get(impact))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    kind: Option<String>,
}

async fn list_suggestions(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require(&["it", "admin"])?;
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
        .map_err(internal)?;
    Ok(Json(list).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct DecisionBody {
    #[serde(default)]
    reason: String,
}

async fn decide(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(&["it", "admin"])?;
    let to = match action.as_str() {
        "accept" => "accepted",
        "done" => "done",
        "dismiss" => "dismissed",
        _ => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                "actions: accept, dismiss (with {\"reason\": …}), done".into(),
            ));
        }
    };
    // The body is optional: `{"reason": "…"}` for a dismissal.
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        serde_json::from_slice::<DecisionBody>(&body)
            .map_err(|e| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("expected a JSON body like {{\"reason\": \"…\"}}: {e}"),
                )
            })?
            .reason
    };
    if reason.len() > 2000 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "the reason is longer than 2000 characters".into(),
        ));
    }
    match shared.store.decide(&id, to, &reason, &caller.actor()).await {
        Ok(suggestion) => Ok(Json(suggestion).into_response()),
        Err(DecisionError::Unknown(_)) => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no suggestion {id}"),
        )),
        Err(error @ DecisionError::Transition { .. }) => {
            Err(ApiError(StatusCode::CONFLICT, error.to_string()))
        }
        Err(error @ DecisionError::NoReason) => {
            Err(ApiError(StatusCode::BAD_REQUEST, error.to_string()))
        }
        Err(DecisionError::Store(error)) => Err(internal(error)),
    }
}

async fn impact(State(shared): State<Arc<Shared>>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&["it", "admin"])?;
    let impact = crate::analysis::current_impact(&shared.store, &shared.config, now_unix_ms())
        .await
        .map_err(internal)?;
    Ok(Json(impact).into_response())
}
