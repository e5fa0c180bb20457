//! What the administration page lists and changes: enrollment tokens, users
//! and departments.

use super::{Store, StoreError};

/// An enrollment token as the administration page lists it: never the
/// token itself, which exists only as a digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnrollmentTokenRow {
    /// Hex SHA-256 of the token: what revoking names.
    pub id: String,
    pub department: String,
    pub created_unix_ms: i64,
    pub expires_unix_ms: i64,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub revoked_unix_ms: Option<i64>,
}

/// A dashboard account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserRow {
    pub name: String,
    pub roles: Vec<String>,
    pub created_unix_ms: i64,
    pub disabled_unix_ms: Option<i64>,
    /// Live API tokens.
    pub api_tokens: i64,
}

/// An enrollment token as stored.
#[derive(sqlx::FromRow)]
struct StoredToken {
    token_sha256: Vec<u8>,
    department: String,
    created_unix_ms: i64,
    expires_unix_ms: i64,
    max_uses: Option<i64>,
    uses: i64,
    revoked_unix_ms: Option<i64>,
}

impl From<StoredToken> for EnrollmentTokenRow {
    fn from(token: StoredToken) -> Self {
        Self {
            id: hex(&token.token_sha256),
            department: token.department,
            created_unix_ms: token.created_unix_ms,
            expires_unix_ms: token.expires_unix_ms,
            max_uses: token.max_uses,
            uses: token.uses,
            revoked_unix_ms: token.revoked_unix_ms,
        }
    }
}

/// An account with one of its roles (none: the account has no role).
#[derive(sqlx::FromRow)]
struct UserRoleRow {
    name: String,
    created_unix_ms: i64,
    disabled_unix_ms: Option<i64>,
    api_tokens: i64,
    role: Option<String>,
}

/// A department with its enrolled devices.
#[derive(sqlx::FromRow)]
struct DepartmentDevices {
    name: String,
    devices: i64,
}

fn hex(bytes: &[u8]) -> String {
    crate::secret::to_hex(bytes)
}

/// A token digest's hex (64 characters) back to its bytes.
fn unhex(text: &str) -> Option<Vec<u8>> {
    crate::secret::from_hex(text).filter(|bytes| bytes.len() == 32)
}

impl Store {
    /// Enrollment tokens, newest first.
    ///
    /// # Errors
    /// On a database error.
    pub async fn enrollment_tokens(&self) -> Result<Vec<EnrollmentTokenRow>, StoreError> {
        let rows = sqlx::query_as::<_, StoredToken>(
            "SELECT token_sha256, department, created_unix_ms, expires_unix_ms, max_uses, uses,
                revoked_unix_ms
             FROM enrollment_tokens ORDER BY created_unix_ms DESC, department",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(EnrollmentTokenRow::from).collect())
    }

    /// Revokes an enrollment token by its id (hex digest): no device enrolls
    /// with it any more. `false` when no live token has that id.
    ///
    /// # Errors
    /// On a database error.
    pub async fn revoke_enrollment_token(
        &self,
        id: &str,
        now_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let Some(digest) = unhex(id) else {
            return Ok(false);
        };
        let _writer = self.writer().await;
        let done = sqlx::query(
            "UPDATE enrollment_tokens SET revoked_unix_ms = $1
             WHERE token_sha256 = $2 AND revoked_unix_ms IS NULL",
        )
        .bind(now_unix_ms)
        .bind(digest)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every account with its roles, by name.
    ///
    /// # Errors
    /// On a database error.
    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows = sqlx::query_as::<_, UserRoleRow>(
            "SELECT u.name, u.created_unix_ms, u.disabled_unix_ms,
                (SELECT COUNT(*) FROM api_tokens t WHERE t.name = u.name AND t.revoked_unix_ms IS NULL)
                    AS api_tokens,
                r.role
             FROM users u LEFT JOIN user_roles r ON r.name = u.name
             ORDER BY u.name, r.role",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut users: Vec<UserRow> = Vec::new();
        for row in rows {
            if users.last().is_none_or(|u| u.name != row.name) {
                users.push(UserRow {
                    name: row.name,
                    roles: Vec::new(),
                    created_unix_ms: row.created_unix_ms,
                    disabled_unix_ms: row.disabled_unix_ms,
                    api_tokens: row.api_tokens,
                });
            }
            if let (Some(role), Some(user)) = (row.role, users.last_mut()) {
                user.roles.push(role);
            }
        }
        Ok(users)
    }

    /// Disables an account: its sessions end and its API tokens stop
    /// working. `false` for an unknown or already disabled account.
    ///
    /// # Errors
    /// On a database error.
    pub async fn disable_user(&self, name: &str, now_unix_ms: i64) -> Result<bool, StoreError> {
        let _writer = self.writer().await;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET disabled_unix_ms = $1 WHERE name = $2 AND disabled_unix_ms IS NULL",
        )
        .bind(now_unix_ms)
        .bind(name.to_owned())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE name = $1")
            .bind(name.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Departments with their enrolled (not revoked) devices, by name.
    ///
    /// # Errors
    /// On a database error.
    pub async fn department_device_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query_as::<_, DepartmentDevices>(
            "SELECT p.name, COALESCE(c.n, 0) AS devices FROM departments p
             LEFT JOIN (SELECT department, COUNT(*) AS n FROM devices
                        WHERE revoked_unix_ms IS NULL GROUP BY department) c
               ON c.department = p.name
             ORDER BY p.name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| (r.name, r.devices)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{hex, unhex};

    #[test]
    fn token_ids_round_trip_and_anything_else_is_no_id() {
        let digest: Vec<u8> = (0..32).collect();
        assert_eq!(unhex(&hex(&digest)), Some(digest));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex(&"zz".repeat(32)), None);
    }
}
