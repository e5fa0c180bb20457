//! What differs between the two databases, as values: the store holds one
//! [`Dialect`] and asks it, instead of branching on the backend.
//!
//! Everything else — the queries, the rows — is written once, with `$N`
//! placeholders both databases accept through sqlx's `Any` driver.

use std::fmt::Write as _;
use std::time::Duration;

use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded, one file; one writer at a time.
    Sqlite,
    /// A server shared by collector replicas.
    Postgres,
}

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// A database's SQL and connection rules.
#[derive(Debug)]
pub struct Dialect {
    /// The database.
    pub backend: Backend,
    /// The URL schemes that name it.
    schemes: &'static [&'static str],
    /// Its schema, as migrations.
    pub(super) migrations: &'static Migrator,
    /// How a write transaction begins, if not with the driver's own
    /// `BEGIN`.
    pub(super) begin_write: Option<&'static str>,
    /// Whether write transactions wait in turn in the process (one writer
    /// at a time: queueing costs nothing, where contending for the
    /// database's lock makes each writer sleep in its busy handler).
    pub(super) single_writer: bool,
    /// Whether statements number their placeholders (`$N`) or leave them
    /// anonymous (`?`).
    numbered_placeholders: bool,
    /// The function that concatenates text values with a separator.
    string_aggregate: &'static str,
    /// The function that takes the last characters of a text value, and
    /// how it counts them.
    last_characters: (&'static str, &'static str),
    /// Concurrent connections.
    max_connections: u32,
    /// What each new connection is told.
    connection_setup: Option<&'static str>,
    /// How long a caller waits for a connection before an error.
    acquire_timeout: Option<Duration>,
    /// Ingest writers when the configuration leaves it to the store.
    pub default_ingest_writers: usize,
    /// Appended to a read of device rows (alias `d`) that a write in the
    /// same transaction depends on, as (reading, about to update them):
    /// their department and category cannot change under it. Empty where
    /// writers are serialised already.
    pub(super) row_locks: (&'static str, &'static str),
}

/// SQLite, embedded.
pub static SQLITE: Dialect = Dialect {
    backend: Backend::Sqlite,
    schemes: &["sqlite:"],
    migrations: &SQLITE_MIGRATIONS,
    // A deferred transaction that reads and then writes cannot wait for a
    // writer in another process (IT's CLI on the same data directory):
    // SQLite answers "database is locked" at once, whatever the busy
    // timeout. An immediate one takes the write lock at once, waiting its
    // turn in the busy handler.
    begin_write: Some("BEGIN IMMEDIATE"),
    single_writer: true,
    // SQLite resolves each named placeholder (`$N`) by a linear search of
    // the names before it, which makes a statement of thousands of
    // parameters quadratic to prepare.
    numbered_placeholders: false,
    string_aggregate: "group_concat",
    last_characters: ("substr", "-"),
    max_connections: 8,
    // An acked report must survive a power cut: FULL syncs the WAL at
    // every commit.
    connection_setup: Some(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
    ),
    acquire_timeout: None,
    default_ingest_writers: 2,
    row_locks: ("", ""),
};

/// PostgreSQL, shared by replicas.
pub static POSTGRES: Dialect = Dialect {
    backend: Backend::Postgres,
    schemes: &["postgres:", "postgresql:"],
    migrations: &POSTGRES_MIGRATIONS,
    begin_write: None,
    single_writer: false,
    numbered_placeholders: true,
    string_aggregate: "string_agg",
    last_characters: ("right", ""),
    max_connections: 16,
    connection_setup: None,
    acquire_timeout: Some(Duration::from_secs(10)),
    default_ingest_writers: 4,
    row_locks: (" FOR SHARE OF d", " FOR UPDATE OF d"),
};

impl Dialect {
    /// The dialect of the database a URL names, if the store supports it.
    pub fn of_url(url: &str) -> Option<&'static Self> {
        [&SQLITE, &POSTGRES]
            .into_iter()
            .find(|dialect| dialect.schemes.iter().any(|s| url.starts_with(s)))
    }

    /// Pool options for this database.
    pub(super) fn pool_options(&self) -> AnyPoolOptions {
        let mut options = AnyPoolOptions::new().max_connections(self.max_connections);
        if let Some(timeout) = self.acquire_timeout {
            options = options.acquire_timeout(timeout);
        }
        if let Some(setup) = self.connection_setup {
            options = options.after_connect(move |connection, _| {
                Box::pin(async move {
                    connection.execute(setup).await?;
                    Ok(())
                })
            });
        }
        options
    }

    /// Appends the `n`th placeholder (from 1) to `sql`.
    pub(super) fn push_placeholder(&self, sql: &mut String, n: usize) {
        if self.numbered_placeholders {
            let _ = write!(sql, "${n}");
        } else {
            sql.push('?');
        }
    }

    /// An expression concatenating `expression` over a group, `separator`
    /// (a character that needs no quoting) between values.
    pub(super) fn string_aggregate(&self, expression: &str, separator: char) -> String {
        format!("{}({expression}, '{separator}')", self.string_aggregate)
    }

    /// An expression for the last `count` characters of `expression`.
    pub(super) fn last_characters(&self, expression: &str, count: u8) -> String {
        let (function, sign) = self.last_characters;
        format!("{function}({expression}, {sign}{count})")
    }
}

#[cfg(test)]
mod tests {
    use super::{Backend, Dialect, POSTGRES, SQLITE};

    #[test]
    fn a_url_names_its_dialect() {
        let backend = |url| Dialect::of_url(url).map(|d| d.backend);
        assert_eq!(
            backend("sqlite:///var/lib/sobrio/sobrio.db"),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            backend("postgres://sobrio@db/sobrio"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            backend("postgresql://sobrio@db/sobrio"),
            Some(Backend::Postgres)
        );
        assert_eq!(backend("mysql://sobrio@db/sobrio"), None);
    }

    #[test]
    fn each_dialect_writes_its_own_sql() {
        assert_eq!(SQLITE.last_characters("d.id", 2), "substr(d.id, -2)");
        assert_eq!(POSTGRES.last_characters("d.id", 2), "right(d.id, 2)");
        assert_eq!(
            SQLITE.string_aggregate("facts", ','),
            "group_concat(facts, ',')"
        );
        assert_eq!(
            POSTGRES.string_aggregate("facts", ','),
            "string_agg(facts, ',')"
        );
        let placeholders = |dialect: &Dialect| {
            let mut sql = String::new();
            dialect.push_placeholder(&mut sql, 1);
            dialect.push_placeholder(&mut sql, 2);
            sql
        };
        assert_eq!(placeholders(&SQLITE), "??");
        assert_eq!(placeholders(&POSTGRES), "$1$2");
    }
}
