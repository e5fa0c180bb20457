//! Browser sessions of the dashboards: the cookie value is 256 random bits,
//! kept as its SHA-256 digest, with the session's CSRF token and expiry.
//! Every replica sharing the store sees the same sessions.

use super::{Principal, Store, StoreError};

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub principal: Principal,
    /// The token every form of this session carries.
    pub csrf_token: String,
    pub created_unix_ms: i64,
    pub expires_unix_ms: i64,
}

/// A live session with one of its user's roles (none: the user has no
/// role).
#[derive(sqlx::FromRow)]
struct SessionRoleRow {
    name: String,
    csrf_token: String,
    created_unix_ms: i64,
    expires_unix_ms: i64,
    role: Option<String>,
}

fn digest(secret: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

impl Store {
    /// The argon2id hash of an enabled user's password; `None` for an
    /// unknown or disabled user, or one without a password.
    ///
    /// # Errors
    /// On a database error.
    pub async fn password_hash(&self, name: &str) -> Result<Option<String>, StoreError> {
        let hash: Option<Option<String>> = sqlx::query_scalar(
            "SELECT password_argon2 FROM users WHERE name = $1 AND disabled_unix_ms IS NULL",
        )
        .bind(name.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(hash.flatten())
    }

    /// Opens a session for `name`.
    ///
    /// # Errors
    /// On a database error.
    pub async fn open_session(
        &self,
        secret: &str,
        name: &str,
        csrf_token: &str,
        now_unix_ms: i64,
        expires_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        // Expired sessions are swept whenever someone signs in.
        sqlx::query("DELETE FROM sessions WHERE expires_unix_ms < $1")
            .bind(now_unix_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_sha256, name, csrf_token, created_unix_ms, expires_unix_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(digest(secret))
        .bind(name.to_owned())
        .bind(csrf_token.to_owned())
        .bind(now_unix_ms)
        .bind(expires_unix_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session a cookie value names, with its user's roles; `None`
    /// when unknown, expired, or its user is disabled.
    ///
    /// # Errors
    /// On a database error.
    pub async fn session(
        &self,
        secret: &str,
        now_unix_ms: i64,
    ) -> Result<Option<BrowserSession>, StoreError> {
        let rows = sqlx::query_as::<_, SessionRoleRow>(
            "SELECT u.name, s.csrf_token, s.created_unix_ms, s.expires_unix_ms, r.role
             FROM sessions s
             JOIN users u ON u.name = s.name AND u.disabled_unix_ms IS NULL
             LEFT JOIN user_roles r ON r.name = u.name
             WHERE s.id_sha256 = $1 AND s.expires_unix_ms > $2",
        )
        .bind(digest(secret))
        .bind(now_unix_ms)
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
        Ok(Some(BrowserSession {
            principal: Principal {
                name: first.name,
                roles: super::accounts::roles_of(roles),
            },
            csrf_token: first.csrf_token,
            created_unix_ms: first.created_unix_ms,
            expires_unix_ms: first.expires_unix_ms,
        }))
    }

    /// Moves a session's expiry (idle timeout).
    ///
    /// # Errors
    /// On a database error.
    pub async fn extend_session(
        &self,
        secret: &str,
        expires_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        sqlx::query("UPDATE sessions SET expires_unix_ms = $1 WHERE id_sha256 = $2")
            .bind(expires_unix_ms)
            .bind(digest(secret))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a session (sign-out).
    ///
    /// # Errors
    /// On a database error.
    pub async fn close_session(&self, secret: &str) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1")
            .bind(digest(secret))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
