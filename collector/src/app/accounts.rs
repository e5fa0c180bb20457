//! Accounts of the dashboards and the API: added or changed, disabled, and
//! their API tokens — each change in the audit log, whoever makes it (the
//! administration page or IT's command line).

use crate::domain::{Role, UserName};
use crate::error::{Coded, ErrorCode};
use crate::store::{Store, StoreError, UserUpsert};

/// Fewest characters of a password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most bytes of a password (hashing cost stays bounded).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Prefix of API tokens, so that a leaked one is recognisable.
const API_TOKEN_PREFIX: &str = "sbu_";

/// Why a change to an account was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(
        "the password must have at least {MIN_PASSWORD_CHARS} characters and at most \
         {MAX_PASSWORD_BYTES} bytes"
    )]
    Password,
    #[error("an account needs at least one role: admin, it or hr")]
    NoRole,
    #[error("no user {0:?}")]
    UnknownUser(String),
    #[error("user {user:?} has no live API token {id:?}")]
    UnknownApiToken { user: String, id: String },
    #[error("an administrator cannot disable their own account")]
    Yourself,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Coded for AccountError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Password | Self::NoRole => ErrorCode::InvalidArgument,
            Self::UnknownUser(_) | Self::UnknownApiToken { .. } => ErrorCode::NotFound,
            Self::Yourself => ErrorCode::Conflict,
            Self::Hashing(_) => ErrorCode::Internal,
            Self::Store(error) => error.code(),
        }
    }
}

/// Checks a new password against the rule.
///
/// # Errors
/// When it is too short or too long.
pub fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::Password);
    }
    Ok(())
}

/// Adds an account, or gives an existing one a new password and these
/// roles (its sessions end, its API tokens stop); audited as `user.add`.
///
/// # Errors
/// A password that breaks the rule, no role, or a store error.
pub async fn set_user(
    store: &Store,
    name: &UserName,
    password: &str,
    roles: &[Role],
    actor: &str,
    now_unix_ms: i64,
) -> Result<UserUpsert, AccountError> {
    check_password(password)?;
    if roles.is_empty() {
        return Err(AccountError::NoRole);
    }
    // Hashing costs tens of milliseconds of CPU: off the async workers.
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || crate::secret::hash_password(&password))
        .await
        .map_err(|error| AccountError::Hashing(error.to_string()))?
        .map_err(|error| AccountError::Hashing(error.to_string()))?;
    let outcome = store
        .upsert_user(name, Some(&hash), roles, now_unix_ms)
        .await?;
    store
        .audit(
            now_unix_ms,
            actor,
            "user.add",
            name.as_str(),
            &outcome.audit_detail(roles),
        )
        .await?;
    Ok(outcome)
}

/// Disables an account: its sessions end, its API tokens stop; audited as
/// `user.disable`. `actor_name` is the account of whoever asks, which may
/// not disable itself.
///
/// # Errors
/// Disabling oneself, an unknown or already disabled account, or a store
/// error.
pub async fn disable_user(
    store: &Store,
    name: &str,
    actor: &str,
    actor_name: Option<&str>,
    now_unix_ms: i64,
) -> Result<(), AccountError> {
    if actor_name == Some(name) {
        return Err(AccountError::Yourself);
    }
    if !store.disable_user(name, now_unix_ms).await? {
        return Err(AccountError::UnknownUser(name.to_owned()));
    }
    store
        .audit(now_unix_ms, actor, "user.disable", name, "")
        .await?;
    Ok(())
}

/// Creates an API token for an enabled account; returns the token, which is
/// kept only as a digest. Audited as `user.token.create`.
///
/// # Errors
/// An unknown or disabled account, or a store error.
pub async fn create_api_token(
    store: &Store,
    name: &str,
    actor: &str,
    now_unix_ms: i64,
) -> Result<String, AccountError> {
    if !store.user_exists(name).await? {
        return Err(AccountError::UnknownUser(name.to_owned()));
    }
    let token = format!("{API_TOKEN_PREFIX}{}", crate::secret::random_secret());
    store.add_api_token(name, &token, now_unix_ms).await?;
    store
        .audit(now_unix_ms, actor, "user.token.create", name, "")
        .await?;
    Ok(token)
}

/// Revokes one live API token of an account; audited as
/// `user.token.revoke`.
///
/// # Errors
/// No such live token, or a store error.
pub async fn revoke_api_token(
    store: &Store,
    name: &str,
    id: &str,
    actor: &str,
    now_unix_ms: i64,
) -> Result<(), AccountError> {
    if !store.revoke_api_token(name, id, now_unix_ms).await? {
        return Err(AccountError::UnknownApiToken {
            user: name.to_owned(),
            id: id.to_owned(),
        });
    }
    store
        .audit(now_unix_ms, actor, "user.token.revoke", name, id)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_has_twelve_characters_to_a_kilobyte() {
        assert!(check_password("short").is_err());
        assert!(check_password("ééééééééééé").is_err(), "11 characters");
        assert!(
            check_password("éééééééééééé").is_ok(),
            "12 characters, 24 bytes"
        );
        assert!(check_password(&"x".repeat(1024)).is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }
}
