//! Where the store is: a data directory's SQLite database, or a URL.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Store;

/// Where the store is: the data directory (which also holds `ca.pem` for
/// agents to pin) and, instead of its SQLite database, a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLocation {
    pub data_dir: PathBuf,
    /// `postgres://user@host/db` or `sqlite:///path/to/file.db`.
    pub database_url: Option<String>,
}

impl StoreLocation {
    /// Opens the store, creating the data directory (0700) and migrating
    /// the database.
    ///
    /// # Errors
    /// When the directory cannot be created or the database opened; the
    /// message names the database without its password.
    pub async fn open(&self) -> anyhow::Result<Store> {
        create_data_dir(&self.data_dir)?;
        match &self.database_url {
            Some(url) => Store::connect(url)
                .await
                .with_context(|| format!("cannot open database {}", redact_url(url))),
            None => Store::open_data_dir(&self.data_dir).await.with_context(|| {
                format!("cannot open the database in {}", self.data_dir.display())
            }),
        }
    }
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn create_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}
