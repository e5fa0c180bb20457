//! Dashboard and API accounts: users with roles, their argon2id password
//! hashes, and API bearer tokens kept as SHA-256 digests.

use sqlx::Row;

use super::{Store, StoreError};

/// Roles, as the contract names them.
pub const ROLES: [&str; 3] = ["admin", "it", "hr"];

/// A signed-in or token-bearing user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub roles: Vec<String>,
}

impl Principal {
    pub fn has_any(&self, roles: &[&str]) -> bool {
        self.roles.iter().any(|r| roles.contains(&r.as_str()))
    }
}

fn sha256(text: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .to_vec()
}

impl Store {
    /// Creates or updates a user: password hash (if given) and roles
    /// (added to those the user has).
    ///
    /// # Errors
    /// On a database error.
    pub async fn upsert_user(
        &self,
        name: &str,
        password_argon2: Option<&str>,
        roles: &[String],
    ) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (name, password_argon2, created_unix_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET
                password_argon2 = COALESCE(excluded.password_argon2, users.password_argon2)",
        )
        .bind(name.to_owned())
        .bind(password_argon2.map(str::to_owned))
        .bind(super::now_unix_ms())
        .execute(&mut *tx)
        .await?;
        for role in roles {
            sqlx::query(
                "INSERT INTO user_roles (name, role) VALUES ($1, $2) ON CONFLICT (name, role) DO NOTHING",
            )
            .bind(name.to_owned())
            .bind(role.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
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
    pub async fn add_api_token(&self, name: &str, token: &str) -> Result<(), StoreError> {
        let _writer = self.writer().await;
        sqlx::query(
            "INSERT INTO api_tokens (token_sha256, name, created_unix_ms) VALUES ($1, $2, $3)",
        )
        .bind(sha256(token))
        .bind(name.to_owned())
        .bind(super::now_unix_ms())
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
        let rows = sqlx::query(
            "SELECT u.name, r.role FROM api_tokens t
             JOIN users u ON u.name = t.name AND u.disabled_unix_ms IS NULL
             LEFT JOIN user_roles r ON r.name = u.name
             WHERE t.token_sha256 = $1 AND t.revoked_unix_ms IS NULL",
        )
        .bind(sha256(token))
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(Principal {
            name: first.get(0),
            roles: rows
                .iter()
                .filter_map(|row| row.get::<Option<String>, _>(1))
                .collect(),
        }))
    }
}
