//! Dashboard and API accounts: users with roles, their argon2id password
//! hashes, and API bearer tokens kept as SHA-256 digests.

use super::{Store, StoreError};
use crate::domain::{Role, UserName};

/// A signed-in or token-bearing user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub roles: Vec<Role>,
}

impl Principal {
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }
}

/// What [`Store::upsert_user`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserUpsert {
    pub created: bool,
    /// A disabled user given a new password is enabled again.
    pub re_enabled: bool,
    /// A disabled user given no new password stays disabled.
    pub still_disabled: bool,
    /// Sessions the old password had opened, now ended.
    pub sessions_ended: u64,
    /// API tokens issued before the new password, now revoked.
    pub tokens_revoked: u64,
}

impl UserUpsert {
    /// The audit detail of an account added or updated: its roles, and what
    /// a new password ended.
    #[must_use]
    pub fn audit_detail(&self, roles: &[Role]) -> String {
        use std::fmt::Write;
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let mut detail = roles.join(",");
        if self.re_enabled {
            detail.push_str("; enabled again");
        }
        if !self.created {
            let _ = write!(
                detail,
                "; password changed: {} sessions ended, {} API tokens revoked",
                self.sessions_ended, self.tokens_revoked
            );
        }
        detail
    }
}

/// An API token as stored: its digest, never the token.
#[derive(sqlx::FromRow)]
struct ApiTokenRow {
    token_sha256: Vec<u8>,
    created_unix_ms: i64,
    revoked_unix_ms: Option<i64>,
}

/// A user with one of their roles (none: the user has no role).
#[derive(sqlx::FromRow)]
struct UserRoleRow {
    name: String,
    role: Option<String>,
}

/// The id an API token is listed and revoked by.
fn token_id(digest: &[u8]) -> String {
    crate::secret::to_hex(&digest[..digest.len().min(8)])
}

/// Roles as stored (the schema's CHECK admits only these).
pub(super) fn roles_of(names: impl IntoIterator<Item = String>) -> Vec<Role> {
    names.into_iter().filter_map(|r| r.parse().ok()).collect()
}

fn sha256(text: &str) -> Vec<u8> {
    crate::secret::sha256(text).to_vec()
}

impl Store {
    /// Creates or updates a user: password hash (if given) and roles
    /// (added to those the user has). A new password ends what the old one
    /// opened: the user's sessions and API tokens. A disabled user is
    /// enabled again only with a new password.
    ///
    /// # Errors
    /// On a database error.
    pub async fn upsert_user(
        &self,
        name: &UserName,
        password_argon2: Option<&str>,
        roles: &[Role],
        now: i64,
    ) -> Result<UserUpsert, StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let name = name.as_str().to_owned();
        let existing: Option<Option<i64>> =
            sqlx::query_scalar("SELECT disabled_unix_ms FROM users WHERE name = $1")
                .bind(name.clone())
                .fetch_optional(&mut *tx)
                .await?;
        let mut outcome = UserUpsert {
            created: existing.is_none(),
            ..UserUpsert::default()
        };
        match existing {
            None => {
                sqlx::query(
                    "INSERT INTO users (name, password_argon2, created_unix_ms) VALUES ($1, $2, $3)",
                )
                .bind(name.clone())
                .bind(password_argon2.map(str::to_owned))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Some(disabled) => {
                if let Some(hash) = password_argon2 {
                    sqlx::query(
                        "UPDATE users SET password_argon2 = $1, disabled_unix_ms = NULL WHERE name = $2",
                    )
                    .bind(hash.to_owned())
                    .bind(name.clone())
                    .execute(&mut *tx)
                    .await?;
                    outcome.re_enabled = disabled.is_some();
                    outcome.sessions_ended = sqlx::query("DELETE FROM sessions WHERE name = $1")
                        .bind(name.clone())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    outcome.tokens_revoked = sqlx::query(
                        "UPDATE api_tokens SET revoked_unix_ms = $1
                         WHERE name = $2 AND revoked_unix_ms IS NULL",
                    )
                    .bind(now)
                    .bind(name.clone())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                } else if disabled.is_some() {
                    outcome.still_disabled = true;
                }
            }
        }
        for role in roles {
            sqlx::query(
                "INSERT INTO user_roles (name, role) VALUES ($1, $2) ON CONFLICT (name, role) DO NOTHING",
            )
            .bind(name.clone())
            .bind(role.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// A user's API tokens, newest first: (id, created, revoked). The id
    /// is the first 16 hex digits of the token's digest: it names the
    /// token and tells nothing of it.
    ///
    /// # Errors
    /// On a database error.
    pub async fn api_tokens(
        &self,
        name: &str,
    ) -> Result<Vec<(String, i64, Option<i64>)>, StoreError> {
        let rows = sqlx::query_as::<_, ApiTokenRow>(
            "SELECT token_sha256, created_unix_ms, revoked_unix_ms FROM api_tokens
             WHERE name = $1 ORDER BY created_unix_ms DESC",
        )
        .bind(name.to_owned())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                (
                    token_id(&row.token_sha256),
                    row.created_unix_ms,
                    row.revoked_unix_ms,
                )
            })
            .collect())
    }

    /// Revokes the live API token of `name` whose id is `id`; `false` when
    /// there is none.
    ///
    /// # Errors
    /// On a database error.
    pub async fn revoke_api_token(
        &self,
        name: &str,
        id: &str,
        now_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let live = self.api_tokens(name).await?;
        let Some(digest_prefix) = live
            .iter()
            .find(|(token, _, revoked)| token == id && revoked.is_none())
            .map(|(token, _, _)| token.clone())
        else {
            return Ok(false);
        };
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let digests: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT token_sha256 FROM api_tokens WHERE name = $1 AND revoked_unix_ms IS NULL",
        )
        .bind(name.to_owned())
        .fetch_all(&mut *tx)
        .await?;
        let mut done = false;
        for digest in digests {
            if token_id(&digest) == digest_prefix {
                done = sqlx::query(
                    "UPDATE api_tokens SET revoked_unix_ms = $1 WHERE token_sha256 = $2",
                )
                .bind(now_unix_ms)
                .bind(digest)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0;
            }
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Whether the user exists.
    ///
    /// # Errors
    /// On a database error.
    pub async fn user_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM users WHERE name = $1 AND disabled_unix_ms IS NULL")
                .bind(name.to_owned())
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Keeps an API token (its digest) for `name`.
    ///
    /// # Errors
    /// On a database error.
    pub async fn add_api_token(
        &self,
        name: &str,
        token: &str,
        now_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        sqlx::query(
            "INSERT INTO api_tokens (token_sha256, name, created_unix_ms) VALUES ($1, $2, $3)",
        )
        .bind(sha256(token))
        .bind(name.to_owned())
        .bind(now_unix_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user an API token belongs to, with their roles; `None` for an
    /// unknown or revoked token, or a disabled user.
    ///
    /// # Errors
    /// On a database error.
    pub async fn principal_for_token(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let rows = sqlx::query_as::<_, UserRoleRow>(
            "SELECT u.name, r.role FROM api_tokens t
             JOIN users u ON u.name = t.name AND u.disabled_unix_ms IS NULL
             LEFT JOIN user_roles r ON r.name = u.name
             WHERE t.token_sha256 = $1 AND t.revoked_unix_ms IS NULL",
        )
        .bind(sha256(token))
        .fetch_all(&self.pool)
        .await?;
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        let roles = first
            .role
            .into_iter()
            .chain(rows.filter_map(|row| row.role));
        Ok(Some(Principal {
            name: first.name,
            roles: roles_of(roles),
        }))
    }
}
