//! The pages and the JSON API driven in-process through the HTTP router
//! (tower's `oneshot`): who may see what (the role matrix), and what
//! hostile or malformed requests get. Socket-level and browser tests stay
//! beside these, in the `tests` crate.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt;

use super::{http_routes, metrics_routes};
use crate::app::App;
use crate::config::CollectorConfig;
use crate::domain::{Role, UserName};
use crate::metrics::Metrics;
use crate::pki::CertificateAuthority;
use crate::store::Store;
use crate::web::WebState;

/// A collector's HTTP side over a fresh SQLite store, with one account per
/// role, each with an API token and a signed-in session.
struct Harness {
    _dir: tempfile::TempDir,
    router: axum::Router,
}

/// The API token and the session cookie of `role`'s account.
fn token_of(role: Role) -> String {
    format!("sbu_router_test_token_of_{role:?}_0123456789abcdef")
}

fn session_of(role: Role) -> String {
    format!("router-test-session-of-{role:?}-0123456789abcdef")
}

const CSRF: &str = "router-test-csrf-token-0123456789";

impl Harness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let now = crate::app::now_unix_ms();
        let ca = CertificateAuthority::load_or_create(&store, None, now)
            .await
            .unwrap();
        let pseudonyms =
            sobrio_proto::pseudonym::PseudonymKey::from_seed(&[7; 32]).expect("a 32-byte seed");
        for role in Role::ALL {
            let name = UserName::parse(&format!("{role:?}").to_lowercase()).unwrap();
            store.upsert_user(&name, None, &[role], now).await.unwrap();
            store
                .add_api_token(name.as_str(), &token_of(role), now)
                .await
                .unwrap();
            store
                .open_session(&session_of(role), name.as_str(), CSRF, now, now + 3_600_000)
                .await
                .unwrap();
        }
        let app = Arc::new(App::new(
            store,
            ca,
            CollectorConfig::default(),
            pseudonyms,
            Arc::new(Metrics::default()),
            "router-test".into(),
        ));
        let router = http_routes(Some(metrics_routes(None)), WebState::new(app));
        Self { _dir: dir, router }
    }

    /// The status, and the body (or, for a redirect, where it goes).
    async fn send(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        if let Some(location) = response.headers().get(header::LOCATION) {
            return (status, location.to_str().unwrap().to_owned());
        }
        let bytes = axum::body::to_bytes(response.into_body(), 4 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `method path` as `role` through the API (a bearer token), or
    /// anonymously.
    async fn api(&self, method: Method, path: &str, role: Option<Role>, body: &str) -> StatusCode {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(role) = role {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", token_of(role)));
        }
        let request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        self.send(request).await.0
    }

    /// `GET path` as `role`'s browser session, or anonymously.
    async fn page(&self, path: &str, role: Option<Role>) -> (StatusCode, String) {
        let mut request = Request::builder().uri(path);
        if let Some(role) = role {
            request = request.header(
                header::COOKIE,
                format!("sobrio_session={}", session_of(role)),
            );
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// A form `POST path` as `role`'s session, with `csrf`.
    async fn post_form(&self, path: &str, role: Role, form: &str) -> StatusCode {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(
                header::COOKIE,
                format!("sobrio_session={}", session_of(role)),
            )
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.send(request).await.0
    }
}

/// Whether `status` lets the caller in (whatever the content).
fn admitted(status: StatusCode) -> bool {
    !matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::SEE_OTHER
    )
}

#[tokio::test]
async fn each_role_sees_its_own_pages_and_api_and_nothing_else() {
    let harness = Harness::new().await;
    // (path, who may see it): HR never sees devices, IT and admins never
    // see digital load.
    let it_and_admin: &[Role] = &[Role::It, Role::Admin];
    let pages: [(&str, &[Role]); 7] = [
        ("/", it_and_admin),
        ("/devices", it_and_admin),
        ("/suggestions", it_and_admin),
        ("/reports/2026", it_and_admin),
        ("/reports/2026?csv=avoided", it_and_admin),
        ("/digital-load", &[Role::Hr]),
        ("/admin", &[Role::Admin]),
    ];
    for (path, allowed) in pages {
        for role in Role::ALL {
            let (status, body) = harness.page(path, Some(role)).await;
            if path == "/" && role == Role::Hr {
                // HR's home is the digital load.
                assert_eq!(
                    (status, body.as_str()),
                    (StatusCode::SEE_OTHER, "/digital-load")
                );
                continue;
            }
            assert_eq!(
                admitted(status),
                allowed.contains(&role),
                "{role:?} on {path}: {status}\n{body}"
            );
            if !allowed.contains(&role) {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} on {path}");
            }
        }
        // Nobody signed in: sent to sign in.
        let (status, location) = harness.page(path, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "anonymous on {path}");
        assert!(
            location.starts_with("/login"),
            "anonymous on {path}: {location}"
        );
    }
    let api: [(&str, &[Role]); 6] = [
        ("/api/v1/suggestions", it_and_admin),
        ("/api/v1/reports/esrs?year=2026", it_and_admin),
        ("/api/v1/impact", it_and_admin),
        ("/api/v1/reports/disposals", it_and_admin),
        ("/api/v1/devices", it_and_admin),
        ("/api/v1/indicators", &[Role::Hr]),
    ];
    for (path, allowed) in api {
        for role in Role::ALL {
            let status = harness.api(Method::GET, path, Some(role), "").await;
            if allowed.contains(&role) {
                assert!(admitted(status), "{role:?} on {path}: {status}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} on {path}");
            }
        }
        let status = harness.api(Method::GET, path, None, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "anonymous on {path}");
    }
    // Health, readiness and metrics need no account.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let (status, _) = harness.page(path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn hostile_and_malformed_requests_get_the_status_of_their_fault() {
    let harness = Harness::new().await;
    let it = Some(Role::It);
    // An unknown token is no account.
    let request = Request::builder()
        .uri("/api/v1/suggestions")
        .header(header::AUTHORIZATION, "Bearer sbu_not_a_token")
        .body(Body::empty())
        .unwrap();
    assert_eq!(harness.send(request).await.0, StatusCode::UNAUTHORIZED);
    // Decisions: an unknown action, a reason too long, an unknown
    // suggestion, a body that is not JSON.
    let path = "/api/v1/suggestions/no-such-id";
    let cases = [
        (
            format!("{path}/explode"),
            String::new(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("{path}/dismiss"),
            serde_json::json!({ "reason": "x".repeat(2001) }).to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{path}/dismiss"),
            r#"{"reason": "no longer needed"}"#.to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("{path}/dismiss"),
            "<reason>".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{path}/accept"),
            String::new(),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (uri, body, expected) in cases {
        let status = harness.api(Method::POST, &uri, it, &body).await;
        assert_eq!(status, expected, "POST {uri} {body:.40}");
    }
    // HR asking for a malformed week, or with an unknown parameter.
    for query in [
        "week=2026-W99",
        "week=%3Cscript%3E",
        "week=2026-W01&person=alice",
    ] {
        let status = harness
            .api(
                Method::GET,
                &format!("/api/v1/indicators?{query}"),
                Some(Role::Hr),
                "",
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
    // A device that does not exist, whatever its id.
    for id in ["nope", "%3Cscript%3E", "..%2F..%2Fetc"] {
        let status = harness
            .api(Method::GET, &format!("/api/v1/devices/{id}"), it, "")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
    // Pages' forms: without the session's CSRF token nothing happens; with
    // it, an unknown suggestion or action is not found; HR cannot decide,
    // even with a valid session and token.
    let with_csrf = |fields: &str| format!("{fields}csrf={CSRF}");
    let forms = [
        (
            "dismiss",
            Role::It,
            "reason=gone&csrf=forged".to_owned(),
            StatusCode::FORBIDDEN,
        ),
        (
            "dismiss",
            Role::It,
            with_csrf("reason=gone&"),
            StatusCode::NOT_FOUND,
        ),
        ("explode", Role::It, with_csrf(""), StatusCode::NOT_FOUND),
        ("accept", Role::Hr, with_csrf(""), StatusCode::FORBIDDEN),
    ];
    for (action, role, form, expected) in forms {
        let path = format!("/suggestions/no-such-id/{action}");
        let status = harness.post_form(&path, role, &form).await;
        assert_eq!(status, expected, "{role:?} POST {path} {form}");
    }
}
