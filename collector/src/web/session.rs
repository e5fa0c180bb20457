//! Signing in and out, and who is visiting.
//!
//! - The session cookie (`sobrio_session`) holds 256 random bits; the store
//!   keeps its SHA-256 digest. It is `HttpOnly`, `SameSite=Lax`, and
//!   `Secure` except on plain HTTP to a loopback address (the demo); a
//!   session ends after [`IDLE`] without a page view and [`ABSOLUTE`] after
//!   sign-in at the latest.
//! - Every form carries the session's CSRF token. The sign-in form, before
//!   any session, carries a token that must equal its cookie
//!   (`sobrio_signin`), so that no other site can sign a browser in.
//! - Failed sign-ins are limited per account and per address
//!   ([`LoginLimiter`]); an unknown account costs the same argon2id
//!   verification as a known one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Catalogue, Ctx, Lang, PageError, render};
use crate::app::App;
use crate::app::now_unix_ms;
use crate::limiter::FailureLimiter;
use crate::secret::same_secret;
use crate::store::BrowserSession;

/// A session ends after this long without a page view.
pub const IDLE: Duration = Duration::from_secs(60 * 60);
/// And this long after sign-in at the latest.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);
/// The idle expiry is moved forward at most this often (a write).
const EXTEND_EVERY_MS: i64 = 5 * 60 * 1000;

const SESSION_COOKIE: &str = "sobrio_session";
const SIGNIN_COOKIE: &str = "sobrio_signin";
const LANG_COOKIE: &str = "sobrio_lang";

/// Failed sign-ins of one account from one address (an IPv6 client's /64)
/// that cost nothing; each further one doubles the wait (30 s, 1 min,
/// 2 min…, at most [`WINDOW`]).
const FREE_PER_PAIR: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_secs(30);
/// Failed sign-ins allowed per address (any accounts) in [`WINDOW`].
const PER_ADDRESS: u32 = 20;
/// Failed sign-ins of one account from all addresses in [`WINDOW`] beyond
/// which the account is closed — except to addresses it signed in from.
const PER_ACCOUNT: u32 = 100;
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// An address an account signed in from stays its own this long.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 86_400);

/// Throttles sign-ins without handing guessers a switch: guesses slow down
/// the guesser's own address on the account they try (growing delays),
/// an address guessing many accounts is stopped, and an account guessed
/// from everywhere closes — but never to the addresses its owner signed in
/// from, so that someone else's guesses cannot lock the owner out.
#[derive(Debug)]
pub struct LoginLimiter {
    pairs: crate::limiter::Backoff,
    counts: FailureLimiter,
    known: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self {
            pairs: crate::limiter::Backoff::new(FREE_PER_PAIR, FIRST_DELAY, WINDOW, WINDOW),
            counts: FailureLimiter::new(WINDOW),
            known: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

/// Keys of an attempt: (account, address, the pair).
fn keys(account: &str, address: &str) -> (String, String, String) {
    let account = account.to_lowercase();
    let network = crate::limiter::network_of(address);
    (
        format!("account:{account}"),
        format!("address:{network}"),
        format!("{account}|{network}"),
    )
}

impl LoginLimiter {
    /// When sign-in is refused for this account from this address: how long
    /// until it is allowed again.
    pub fn blocked(&self, account: &str, address: &str) -> Option<Duration> {
        let (account, address, pair) = keys(account, address);
        let known = self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pair)
            .is_some_and(|at| at.elapsed() < KNOWN_FOR);
        let mut limits = vec![(address.as_str(), PER_ADDRESS)];
        if !known {
            limits.push((account.as_str(), PER_ACCOUNT));
        }
        [self.pairs.blocked(&pair), self.counts.blocked(&limits)]
            .into_iter()
            .flatten()
            .max()
    }

    /// Records a failed sign-in.
    pub fn failed(&self, account: &str, address: &str) {
        let (account, address, pair) = keys(account, address);
        self.pairs.failed(&pair);
        self.counts.failed(&[&account, &address]);
    }

    /// After a sign-in: the address is the account's own, and its delays
    /// end.
    pub fn succeeded(&self, account: &str, address: &str) {
        let (_, _, pair) = keys(account, address);
        self.pairs.forget(&pair);
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= 10_000 {
            known.retain(|_, at| at.elapsed() < KNOWN_FOR);
        }
        if known.len() < 10_000 {
            known.insert(pair, std::time::Instant::now());
        }
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty() && value.len() <= 256)
}

/// Whether cookies may be sent over this connection only when secure:
/// always, except on plain HTTP to a loopback host.
fn secure_cookies(headers: &HeaderMap) -> bool {
    forwarded_https(headers) || !loopback_host(headers)
}

/// Whether a TLS proxy in front says the browser used HTTPS.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = if host.starts_with('[') {
        host.split(']').next().map_or("", |h| &h[1..])
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if secure_cookies(headers) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("cookie values are hex or a language tag")
}

/// Compares secrets in time independent of where they differ.
fn language(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .unwrap_or_else(|| {
            Lang::negotiate(
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
            )
        })
}

/// Who is asking, in which language, from where.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub tr: &'static Catalogue,
    pub session: Option<BrowserSession>,
    /// Path and query of the request.
    pub here: String,
    /// The client's address, for the sign-in limit.
    pub address: String,
    /// Whether the request reads (GET or HEAD): only then can sign-in send
    /// the browser back to it.
    pub reading: bool,
    pub headers: HeaderMap,
}

impl FromRequestParts<super::WebState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &super::WebState,
    ) -> Result<Self, Self::Rejection> {
        let shared = &state.app;
        let tr = language(&parts.headers).catalogue();
        let here = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string);
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
        let mut visitor = Self {
            tr,
            session: None,
            here,
            address,
            reading: parts.method == axum::http::Method::GET
                || parts.method == axum::http::Method::HEAD,
            headers: parts.headers.clone(),
        };
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(visitor);
        };
        let now = now_unix_ms();
        let session = shared
            .store
            .session(secret, now)
            .await
            .map_err(|e| PageError::coded(&visitor.ctx(""), &e))?;
        if let Some(session) = &session {
            let expires = idle_expiry(session.created_unix_ms, now);
            if expires - session.expires_unix_ms >= EXTEND_EVERY_MS {
                shared
                    .store
                    .extend_session(secret, expires)
                    .await
                    .map_err(|e| PageError::coded(&visitor.ctx(""), &e))?;
            }
        }
        visitor.session = session;
        Ok(visitor)
    }
}

#[allow(clippy::cast_possible_truncation)]
fn idle_expiry(created_unix_ms: i64, now: i64) -> i64 {
    (now + IDLE.as_millis() as i64).min(created_unix_ms + ABSOLUTE.as_millis() as i64)
}

impl Visitor {
    /// The layout's context for a page of `section`.
    pub fn ctx(&self, section: &'static str) -> Ctx {
        Ctx {
            tr: self.tr,
            user: self.session.as_ref().map(|s| s.principal.clone()),
            csrf: self
                .session
                .as_ref()
                .map(|s| s.csrf_token.clone())
                .unwrap_or_default(),
            here: self.here.clone(),
            section,
            stylesheet: super::STYLESHEET.as_str(),
        }
    }

    /// The context of a page that needs one of `roles`: to sign-in when
    /// nobody is signed in, 403 for the other roles.
    ///
    /// # Errors
    /// [`PageError::SignIn`] or [`PageError::Forbidden`].
    pub fn require(
        &self,
        roles: &[crate::domain::Role],
        section: &'static str,
    ) -> Result<Ctx, PageError> {
        let ctx = self.ctx(section);
        match &self.session {
            // A form sent after the session ended cannot be replayed: back
            // to the start page after sign-in.
            None if self.reading => Err(PageError::sign_in(self.here.clone())),
            None => Err(PageError::sign_in("/".into())),
            Some(session) if session.principal.has_any(roles) => Ok(ctx),
            Some(_) => Err(PageError::forbidden(ctx)),
        }
    }

    /// Checks a form's CSRF token against the session's.
    ///
    /// # Errors
    /// [`PageError::Refused`] (403) when it does not match.
    pub fn check_csrf(&self, ctx: &Ctx, token: &str) -> Result<(), PageError> {
        match &self.session {
            Some(session) if same_secret(&session.csrf_token, token) => Ok(()),
            _ => Err(PageError::refused(
                ctx.clone(),
                StatusCode::FORBIDDEN,
                ctx.t("error.csrf").to_owned(),
                self.here.clone(),
            )),
        }
    }

    /// The user's name for the audit log.
    pub fn actor(&self) -> String {
        self.session.as_ref().map_or_else(
            || "anonymous".into(),
            |s| format!("user:{}", s.principal.name),
        )
    }
}

/// A local path to come back to after sign-in (never the sign-in page
/// itself); anything else is `/`.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if !path.starts_with("/login") => local_or_root(Some(path)),
        _ => "/".into(),
    }
}

/// A path on this site; anything else (another host, `//host`) is `/`.
fn local_or_root(path: Option<&str>) -> String {
    match path {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".into(),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: Ctx,
    next: String,
    username: String,
    signin_token: String,
    error: Option<String>,
    /// Plain HTTP to a remote host: the browser will not keep a secure
    /// cookie, so sign-in cannot work; the page says why.
    insecure: bool,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_form(
    visitor: &Visitor,
    status: StatusCode,
    next: String,
    username: String,
    error: Option<String>,
) -> Response {
    let token = crate::secret::random_secret();
    let page = LoginPage {
        ctx: visitor.ctx("login"),
        next,
        username,
        signin_token: token.clone(),
        error,
        insecure: !forwarded_https(&visitor.headers) && !loopback_host(&visitor.headers),
    };
    let mut response = render(status, &page);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&visitor.headers, SIGNIN_COOKIE, &token, 3600),
    );
    response
}

/// `GET /login`.
pub async fn login_page(visitor: Visitor, Query(query): Query<NextQuery>) -> Response {
    let next = local_path(query.next.as_deref());
    if visitor.session.is_some() {
        return Redirect::to(&next).into_response();
    }
    login_form(&visitor, StatusCode::OK, next, String::new(), None)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: `username`, `password`, `csrf`, `next`.
pub async fn login(
    State(shared): State<Arc<App>>,
    State(login_limiter): State<Arc<LoginLimiter>>,
    visitor: Visitor,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let ctx = visitor.ctx("login");
    let next = local_path(Some(&form.next));
    let username = form.username.trim().to_owned();
    let expected = cookie(&visitor.headers, SIGNIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_secret(expected, &form.csrf) {
        return Ok(login_form(
            &visitor,
            StatusCode::FORBIDDEN,
            next,
            username,
            Some(ctx.t("login.error.csrf").to_owned()),
        ));
    }
    if let Some(wait) = login_limiter.blocked(&username, &visitor.address) {
        let minutes = wait.as_secs().div_ceil(60).to_string();
        let mut response = login_form(
            &visitor,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            username,
            Some(ctx.tr.f("login.error.limited", &[("minutes", &minutes)])),
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
        return Ok(response);
    }
    let stored = if username.is_empty() || username.len() > 128 || form.password.len() > 1024 {
        None
    } else {
        shared
            .store
            .password_hash(&username)
            .await
            .map_err(|e| PageError::coded(&ctx, &e))?
    };
    let known = stored.is_some();
    let hash = stored.unwrap_or_else(|| crate::secret::UNKNOWN_ACCOUNT_HASH.clone());
    let password = form.password;
    let matches =
        tokio::task::spawn_blocking(move || crate::secret::verify_password(&hash, &password))
            .await
            .unwrap_or(false);
    if !(known && matches) {
        login_limiter.failed(&username, &visitor.address);
        tracing::info!(address = %visitor.address, "sign-in refused");
        return Ok(login_form(
            &visitor,
            StatusCode::UNAUTHORIZED,
            next,
            username,
            Some(ctx.t("login.error.credentials").to_owned()),
        ));
    }
    login_limiter.succeeded(&username, &visitor.address);
    let secret = crate::secret::random_secret();
    let now = now_unix_ms();
    shared
        .store
        .open_session(
            &secret,
            &username,
            &crate::secret::random_secret(),
            now,
            idle_expiry(now, now),
        )
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    shared
        .store
        .audit(
            now_unix_ms(),
            &format!("user:{username}"),
            "session.open",
            &username,
            "",
        )
        .await
        .map_err(|e| PageError::coded(&ctx, &e))?;
    let mut response = Redirect::to(&next).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(
            &visitor.headers,
            SESSION_COOKIE,
            &secret,
            ABSOLUTE.as_secs(),
        ),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(&visitor.headers, SIGNIN_COOKIE, "", 0),
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(shared): State<Arc<App>>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let ctx = visitor.ctx("");
    if visitor.session.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    visitor.check_csrf(&ctx, &form.csrf)?;
    if let Some(secret) = cookie(&visitor.headers, SESSION_COOKIE) {
        shared
            .store
            .close_session(secret)
            .await
            .map_err(|e| PageError::coded(&ctx, &e))?;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&visitor.headers, SESSION_COOKIE, "", 0),
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct BackQuery {
    back: Option<String>,
}

/// `GET /lang/{tag}?back=PATH`: keeps the choice in a cookie and returns.
pub async fn switch_language(
    visitor: Visitor,
    Path(tag): Path<String>,
    Query(query): Query<BackQuery>,
) -> Response {
    // Back where the switch was, the sign-in page included.
    let back = local_or_root(query.back.as_deref());
    let mut response = Redirect::to(&back).into_response();
    if let Some(lang) = Lang::parse(&tag) {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(&visitor.headers, LANG_COOKIE, lang.tag(), 365 * 86_400),
        );
    }
    response
}

/// The browser session behind an API call without a bearer token, for the
/// JSON API: a call that changes something must also carry the session's
/// CSRF token in `X-CSRF-Token`.
pub async fn api_session(
    parts: &Parts,
    shared: &App,
) -> Result<Option<BrowserSession>, crate::store::StoreError> {
    let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = shared.store.session(secret, now_unix_ms()).await? else {
        return Ok(None);
    };
    let safe = parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD;
    let token = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok((safe || same_secret(&session.csrf_token, token)).then_some(session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path(Some("/devices?page=2")), "/devices?page=2");
        for outside in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/login",
            "",
        ] {
            assert_eq!(local_path(Some(outside)), "/", "{outside}");
        }
        assert_eq!(local_path(None), "/");
        assert_eq!(local_or_root(Some("/login?next=%2F")), "/login?next=%2F");
        assert_eq!(local_or_root(Some("//evil.example")), "/");
    }

    #[test]
    fn cookies_are_secure_except_on_plain_http_to_loopback() {
        let headers = |host: &str, proto: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            if let Some(proto) = proto {
                h.insert("x-forwarded-proto", HeaderValue::from_str(proto).unwrap());
            }
            h
        };
        assert!(!secure_cookies(&headers("127.0.0.1:8080", None)));
        assert!(!secure_cookies(&headers("localhost", None)));
        assert!(!secure_cookies(&headers("[::1]:8080", None)));
        assert!(secure_cookies(&headers("sobrio.example.org", None)));
        assert!(secure_cookies(&headers("127.0.0.1:8080", Some("https"))));
        let cookie = set_cookie(&headers("sobrio.example.org", None), "a", "b", 60);
        assert_eq!(
            cookie.to_str().unwrap(),
            "a=b; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn guesses_slow_the_guesser_and_never_lock_the_owner_out() {
        let limiter = LoginLimiter::default();
        // The owner signed in from their usual address once.
        limiter.succeeded("alice", "10.0.0.1");
        // Someone else guesses from another address: free at first, then
        // growing delays for that address on that account.
        for _ in 0..FREE_PER_PAIR {
            assert!(limiter.blocked("Alice", "10.0.0.66").is_none());
            limiter.failed("alice", "10.0.0.66");
        }
        assert!(limiter.blocked("alice", "10.0.0.66").is_none());
        limiter.failed("alice", "10.0.0.66");
        assert!(
            limiter.blocked("ALICE", "10.0.0.66").is_some(),
            "the guesser waits"
        );
        assert!(
            limiter.blocked("alice", "10.0.0.1").is_none(),
            "the owner does not"
        );
        // Guesses from everywhere close the account, except to the owner's
        // address.
        for n in 0..PER_ACCOUNT {
            limiter.failed("alice", &format!("192.0.2.{}", n % 250));
        }
        assert!(limiter.blocked("alice", "10.0.0.1").is_none());
        assert!(limiter.blocked("alice", "10.0.0.7").is_some());
        // An IPv6 guesser hopping within its /64 is one address.
        for n in 0..=FREE_PER_PAIR {
            limiter.failed("bob", &format!("2001:db8:1:2::{n:x}"));
        }
        assert!(limiter.blocked("bob", "2001:db8:1:2::ffff").is_some());
        assert!(limiter.blocked("bob", "2001:db8:1:3::1").is_none());
        // Many accounts from one address: the address is stopped.
        for n in 0..PER_ADDRESS {
            limiter.failed(&format!("user{n}"), "10.0.0.2");
        }
        assert!(limiter.blocked("carol", "10.0.0.2").is_some());
        // A sign-in ends the delays of its address.
        limiter.succeeded("alice", "10.0.0.66");
        assert!(limiter.blocked("alice", "10.0.0.66").is_none());
    }

    #[test]
    fn a_session_lives_an_idle_hour_and_twelve_hours_at_most() {
        let hour = 3_600_000;
        assert_eq!(idle_expiry(0, 0), hour);
        assert_eq!(idle_expiry(0, 5 * hour), 6 * hour);
        assert_eq!(idle_expiry(0, 11 * hour + 1), 12 * hour);
        assert_eq!(idle_expiry(0, 20 * hour), 12 * hour);
    }
}
