//! Demo (being written).
use crate::cli::{DemoArgs, StoreArgs};
pub async fn run(_store: &StoreArgs, _args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("demo not written yet")
}
