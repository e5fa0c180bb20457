//! The dashboards: pages rendered on the server from the templates in
//! `dashboards/templates` (askama, compiled in), for IT (`/`, `/devices`,
//! `/suggestions`), HR (`/digital-load`) and administrators (`/admin`).
//!
//! # Layout
//! - [`session`]: sign-in, sign-out, the session cookie, CSRF and the
//!   sign-in rate limit; the [`Visitor`] every page starts from.
//! - [`i18n`]: French and English catalogues and number formats.
//! - [`table`] and [`charts`]: every table can be downloaded as CSV; every
//!   chart is SVG drawn here, beside the table with its figures.
//! - one file per page.
//!
//! The pages practise what Sobrio measures: one stylesheet, no script, no
//! third-party request, a few kilobytes each; they work without JavaScript
//! and with the keyboard alone.

pub mod admin;
pub mod charts;
pub mod devices;
pub mod digital_load;
pub mod i18n;
pub mod overview;
pub mod report;
pub mod session;
pub mod suggestions;
pub mod table;

use crate::domain::Role;
use std::sync::Arc;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::app::App;
use crate::store::Principal;
pub use i18n::{Catalogue, Lang};
pub use session::{LoginLimiter, Visitor};

/// Where the stylesheet is served; the query changes with its content so
/// that browsers may keep it for a year.
pub static STYLESHEET: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let digest = ring::digest::digest(&ring::digest::SHA256, CSS.as_bytes());
    let short = crate::secret::to_hex(&digest.as_ref()[..6]);
    format!("/static/sobrio.css?v={short}")
});
const CSS: &str = include_str!("../../../dashboards/static/sobrio.css");

/// What the pages and the JSON API hold: the application, and the web's
/// own parts. Handlers take the part they need (`State<Arc<App>>`,
/// `State<Arc<LoginLimiter>>`).
#[derive(Clone)]
pub struct WebState {
    pub app: Arc<App>,
    /// Failed sign-ins, per account and address.
    pub login_limiter: Arc<LoginLimiter>,
}

impl WebState {
    /// The web's state over `app`, with no failed sign-in yet.
    #[must_use]
    pub fn new(app: Arc<App>) -> Self {
        Self {
            app,
            login_limiter: Arc::new(LoginLimiter::default()),
        }
    }
}

impl axum::extract::FromRef<WebState> for Arc<App> {
    fn from_ref(state: &WebState) -> Self {
        state.app.clone()
    }
}

impl axum::extract::FromRef<WebState> for Arc<LoginLimiter> {
    fn from_ref(state: &WebState) -> Self {
        state.login_limiter.clone()
    }
}

/// The pages' routes.
pub fn routes() -> axum::Router<WebState> {
    axum::Router::new()
        .route("/", get(overview::page))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/lang/{tag}", get(session::switch_language))
        .route("/devices", get(devices::list))
        .route("/devices/{id}", get(devices::detail))
        .route("/devices/{id}/retire", post(devices::retire))
        .route("/devices/{id}/move", post(devices::move_to))
        .route("/reports", get(report::current))
        .route("/reports/{year}", get(report::page))
        .route("/suggestions", get(suggestions::page))
        .route("/suggestions/{id}/{action}", post(suggestions::decide))
        .route("/requests", post(suggestions::add_request))
        .route("/requests/{id}/close", post(suggestions::close_request))
        .route("/digital-load", get(digital_load::page))
        .route("/admin", get(admin::page))
        .route("/admin/tokens", post(admin::create_token))
        .route("/admin/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/admin/users", post(admin::add_user))
        .route("/admin/users/{name}/disable", post(admin::disable_user))
        .route(
            "/admin/users/{name}/tokens/{id}/revoke",
            post(admin::revoke_api_token),
        )
        .route("/static/sobrio.css", get(stylesheet))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        CSS,
    )
        .into_response()
}

/// What every page's layout needs: the language, the signed-in user and
/// the session's CSRF token for the sign-out form.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub tr: &'static Catalogue,
    pub user: Option<Principal>,
    pub csrf: String,
    /// The current path and query: where the language switch comes back.
    pub here: String,
    /// The navigation entry to mark as current.
    pub section: &'static str,
    pub stylesheet: &'static str,
}

impl Ctx {
    /// The string for `key` in the page's language.
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.tr.t(key)
    }

    /// The page's language tag.
    pub fn lang(&self) -> &'static str {
        self.tr.lang.tag()
    }

    /// Whether the user holds one of `roles` (by name, for templates).
    pub fn can(&self, roles: &[&str]) -> bool {
        let roles: Vec<Role> = roles.iter().filter_map(|r| r.parse().ok()).collect();
        self.user.as_ref().is_some_and(|u| u.has_any(&roles))
    }

    /// `aria-current` for a navigation entry.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }

    /// The links of the language switch: (tag, name, href, current).
    pub fn languages(&self) -> Vec<(&'static str, &'static str, String, bool)> {
        Lang::ALL
            .iter()
            .map(|&lang| {
                (
                    lang.tag(),
                    match lang {
                        Lang::En => "English",
                        Lang::Fr => "Français",
                    },
                    format!("/lang/{}?back={}", lang.tag(), url_encode(&self.here)),
                    lang == self.tr.lang,
                )
            })
            .collect()
    }
}

/// Percent-encodes a query value: everything but RFC 3986's unreserved
/// characters.
pub fn url_encode(text: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, RESERVED).to_string()
}

/// A page's answer: HTML with the headers every page carries.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // No script runs, nothing loads from elsewhere, no page frames these.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Renders a template as a page.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => html(status, body),
        Err(error) => {
            tracing::error!(%error, "page not rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "page not rendered; see the collector's log\n",
            )
                .into_response()
        }
    }
}

/// A CSV download.
pub fn csv(name: &str, body: String) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The page that says what went wrong and what to do.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub ctx: Ctx,
    pub title: String,
    pub message: String,
    /// A link onwards: (href, label).
    pub onward: Option<(String, String)>,
}

/// A page's failure, shown in the page's language.
#[derive(Debug)]
pub struct PageError(Box<PageFailure>);

/// What went wrong with a page.
#[derive(Debug)]
pub enum PageFailure {
    /// Not signed in: to the sign-in page, then back here.
    SignIn(String),
    /// Signed in without a role the page needs.
    Forbidden(Ctx),
    NotFound(Ctx, String),
    /// A request the page refuses (bad form field, refused transition):
    /// status and message, with a link back.
    Refused(Ctx, StatusCode, String, String),
    /// The collector or its database failed, with the status its code
    /// gives (503 when the database cannot answer, else 500); logged, not
    /// shown.
    Internal(Ctx, StatusCode),
}

impl PageError {
    /// Logs an internal error and keeps the page context to answer in.
    pub fn internal(ctx: &Ctx, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, page = %ctx.here, "page failed");
        Self(Box::new(PageFailure::Internal(
            ctx.clone(),
            StatusCode::INTERNAL_SERVER_ERROR,
        )))
    }

    /// A failure that says its code ([`crate::error::Coded`]): the status
    /// the API and the gRPC services give it too. The caller's mistakes
    /// are shown in the error's words; the collector's own faults are
    /// logged and shown in general terms.
    pub fn coded(ctx: &Ctx, error: &(impl crate::error::Coded + ?Sized)) -> Self {
        let code = error.code();
        if code.tells_caller() {
            return Self::refused(
                ctx.clone(),
                code.http_status(),
                error.to_string(),
                ctx.here.clone(),
            );
        }
        tracing::error!(%error, page = %ctx.here, "page failed");
        Self(Box::new(PageFailure::Internal(
            ctx.clone(),
            code.http_status(),
        )))
    }

    /// To sign-in, then back to `here`.
    pub fn sign_in(here: String) -> Self {
        Self(Box::new(PageFailure::SignIn(here)))
    }

    /// 403.
    pub fn forbidden(ctx: Ctx) -> Self {
        Self(Box::new(PageFailure::Forbidden(ctx)))
    }

    /// 404, naming what was not found.
    pub fn not_found(ctx: Ctx, what: String) -> Self {
        Self(Box::new(PageFailure::NotFound(ctx, what)))
    }

    /// A refused request: its status, the message, and where to go back.
    pub fn refused(ctx: Ctx, status: StatusCode, message: String, back: String) -> Self {
        Self(Box::new(PageFailure::Refused(ctx, status, message, back)))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match *self.0 {
            PageFailure::SignIn(here) => {
                Redirect::to(&format!("/login?next={}", url_encode(&here))).into_response()
            }
            PageFailure::Forbidden(ctx) => {
                let page = MessagePage {
                    title: ctx.t("error.forbidden.title").to_owned(),
                    message: ctx.t("error.forbidden.text").to_owned(),
                    onward: Some(("/".into(), ctx.t("error.home").to_owned())),
                    ctx,
                };
                render(StatusCode::FORBIDDEN, &page)
            }
            PageFailure::NotFound(ctx, what) => {
                let page = MessagePage {
                    title: ctx.t("error.not_found.title").to_owned(),
                    message: ctx.tr.f("error.not_found.text", &[("what", &what)]),
                    onward: Some(("/".into(), ctx.t("error.home").to_owned())),
                    ctx,
                };
                render(StatusCode::NOT_FOUND, &page)
            }
            PageFailure::Refused(ctx, status, message, back) => {
                let page = MessagePage {
                    title: ctx.t("error.refused.title").to_owned(),
                    message,
                    onward: Some((back, ctx.t("error.back").to_owned())),
                    ctx,
                };
                render(status, &page)
            }
            PageFailure::Internal(ctx, status) => {
                let page = MessagePage {
                    title: ctx.t("error.internal.title").to_owned(),
                    message: ctx.t("error.internal.text").to_owned(),
                    onward: None,
                    ctx,
                };
                render(status, &page)
            }
        }
    }
}

/// Shown for a missing value.
pub const NONE: &str = "—";

/// A Unix time in ms as `YYYY-MM-DD HH:MM` UTC.
pub fn when(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| NONE.into())
}

#[cfg(test)]
mod tests {
    /// The stylesheet's colour pairs meet WCAG AA (4.5:1 for text), in the
    /// light and the dark scheme.
    #[test]
    fn text_colours_contrast_enough_with_their_backgrounds() {
        fn luminance(hex: &str) -> f64 {
            // #abc is #aabbcc.
            let long: String = if hex.len() == 4 {
                std::iter::once('#')
                    .chain(hex[1..].chars().flat_map(|c| [c, c]))
                    .collect()
            } else {
                hex.to_owned()
            };
            let hex = long.as_str();
            let channel = |i: usize| {
                let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
                if c <= 0.039_28 {
                    c / 12.92
                } else {
                    ((c + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
        }
        fn ratio(a: &str, b: &str) -> f64 {
            let (x, y) = (luminance(a), luminance(b));
            (x.max(y) + 0.05) / (x.min(y) + 0.05)
        }
        fn palette(block: &str) -> std::collections::HashMap<String, String> {
            block
                .split(';')
                .filter_map(|d| d.trim().strip_prefix("--")?.split_once(':'))
                .map(|(k, v)| (k.to_owned(), v.trim().trim_end_matches('}').to_owned()))
                .collect()
        }
        let light = palette(super::CSS.split(":root{").nth(1).unwrap());
        let dark_css = super::CSS
            .split("prefers-color-scheme:dark")
            .nth(1)
            .unwrap();
        let dark = palette(dark_css.split(":root{").nth(1).unwrap());
        for (scheme, colours, button_text) in
            [("light", &light, "#ffffff"), ("dark", &dark, "#0d1117")]
        {
            let c = |name: &str| colours[name].as_str();
            for (what, fg, bg) in [
                ("text", c("fg"), c("bg")),
                ("muted text", c("muted"), c("bg")),
                ("links", c("accent"), c("bg")),
                ("links on notices", c("accent"), c("accent-bg")),
                ("buttons", button_text, c("accent")),
                ("chart series 1", c("s0"), c("bg")),
                ("chart series 2", c("s1"), c("bg")),
                ("chart series 3", c("s2"), c("bg")),
            ] {
                let r = ratio(fg, bg);
                assert!(r >= 4.5, "{scheme}: {what} {fg} on {bg} is {r:.2}:1");
            }
        }
        assert!(ratio(&light["err"], &light["bg"]) >= 4.5);
    }
}
