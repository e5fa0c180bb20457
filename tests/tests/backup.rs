//! Backups hold what was acknowledged: a copy of the embedded store taken
//! while agents submit holds every report acked before it began, restores
//! into a fresh data directory that a collector then serves, and restoring
//! is refused under a running collector, over a database already there
//! (without --force) and from a file that is not a sound Sobrio database.
//! On PostgreSQL, the README's pg_dump / pg_restore procedure is run.

use std::path::Path;
use std::time::Duration;

use sobrio_collector::store::Store;
use sobrio_tests::load::{Load, enroll_at};
use sobrio_tests::{CollectorProcess, run};

fn collector(args: &[&str]) -> std::process::Output {
    run("sobrio-collector", args)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_every_acked_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collector");
    let data = data.to_str().unwrap().to_owned();
    let serving = CollectorProcess::serve(&data, &[]);
    let url = format!("https://{}", serving.grpc_addr);
    let ca = std::fs::read_to_string(format!("{data}/ca.pem")).unwrap();
    let token = collector(&["--data-dir", &data, "token", "create", "--department", "IT"]);
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let mut clients = Vec::new();
    for n in 0..4 {
        clients.push(
            enroll_at(&url, &ca, &token, &format!("pc-{n}"))
                .await
                .unwrap()
                .client,
        );
    }
    let load = Load::start(clients, Duration::from_millis(10));
    // Some reports acked, and more on the way while the copy is taken.
    while load.observed(|o| o.acked.len()) < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acked_before = load.observed(|o| o.acked.clone());
    let copy = dir.path().join("sobrio-backup.db");
    let copy = copy.to_str().unwrap().to_owned();
    let backup = {
        let (data, copy) = (data.clone(), copy.clone());
        tokio::task::spawn_blocking(move || collector(&["--data-dir", &data, "backup", &copy]))
            .await
            .unwrap()
    };
    assert!(backup.status.success(), "{}", stderr(&backup));
    let said = String::from_utf8_lossy(&backup.stdout);
    assert!(said.contains("the CA included"), "{said}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&copy).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the copy holds the CA's key: {mode:o}");
    // A second backup to the same file is refused, the first untouched.
    let again = collector(&["--data-dir", &data, "backup", &copy]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("exists already"),
        "{}",
        stderr(&again)
    );

    // Restoring under the running collector is refused.
    let refused = collector(&["--data-dir", &data, "restore", &copy, "--force"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("a collector is serving"),
        "{}",
        stderr(&refused)
    );
    let observed = load.drain(Duration::from_secs(120)).await;
    assert!(observed.failures.is_empty(), "{:?}", observed.failures);
    drop(serving);

    // Into a fresh directory: every report acked before the copy began.
    let fresh = dir.path().join("restored");
    let fresh = fresh.to_str().unwrap().to_owned();
    let restored = collector(&["--data-dir", &fresh, "restore", &copy]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    let store = Store::open_data_dir(Path::new(&fresh)).await.unwrap();
    for id in &acked_before {
        assert!(
            store.report_exists(id).await.unwrap(),
            "report {id}, acked before the backup, is not in it"
        );
    }
    assert_eq!(store.list_devices().await.unwrap().len(), 4);
    drop(store);
    // The restored directory serves, with the same CA: agents still trust it.
    let again = CollectorProcess::serve(&fresh, &[]);
    assert_eq!(
        std::fs::read_to_string(format!("{fresh}/ca.pem")).unwrap(),
        ca,
        "the restored collector keeps its CA"
    );
    drop(again);

    // Over a database already there: only with --force, the old one kept.
    let occupied = collector(&["--data-dir", &data, "restore", &copy]);
    assert!(!occupied.status.success());
    assert!(
        stderr(&occupied).contains("--force"),
        "{}",
        stderr(&occupied)
    );
    let forced = collector(&["--data-dir", &data, "restore", &copy, "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(
        String::from_utf8_lossy(&forced.stdout).contains("before-restore"),
        "{}",
        String::from_utf8_lossy(&forced.stdout)
    );

    // Not a Sobrio database: refused, nothing replaced.
    let bogus = dir.path().join("bogus.db");
    std::fs::write(&bogus, b"not a database at all, just bytes").unwrap();
    let refused = collector(&[
        "--data-dir",
        &fresh,
        "restore",
        bogus.to_str().unwrap(),
        "--force",
    ]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not a sound Sobrio database"),
        "{}",
        stderr(&refused)
    );
    let store = Store::open_data_dir(Path::new(&fresh)).await.unwrap();
    assert_eq!(store.list_devices().await.unwrap().len(), 4);
}

/// The README's procedure for PostgreSQL: pg_dump in the custom format,
/// pg_restore into an empty database, and the collector opens it with
/// everything in it.
#[tokio::test]
async fn the_postgres_procedure_dumps_and_restores_the_store() {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        sobrio_tests::missing("PostgreSQL (set TEST_DATABASE_URL=postgres://…)");
        return;
    };
    for program in ["pg_dump", "pg_restore"] {
        if sobrio_tests::on_path(program).is_none() {
            sobrio_tests::missing(program);
            return;
        }
    }
    sqlx::any::install_default_drivers();
    let admin = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
        .unwrap();
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let (source, target) = (
        format!("sobrio_src_{suffix}"),
        format!("sobrio_dst_{suffix}"),
    );
    for name in [&source, &target] {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
    }
    let url_of = |name: &str| {
        let (prefix, _) = base.rsplit_once('/').unwrap();
        format!("{prefix}/{name}")
    };
    let store = Store::connect(&url_of(&source)).await.unwrap();
    sobrio_collector::pki::CertificateAuthority::load_or_create(
        &store,
        None,
        sobrio_collector::app::now_unix_ms(),
    )
    .await
    .unwrap();
    sobrio_collector::app::enrollment::create_token(
        &store,
        "Finance",
        Duration::from_secs(86_400),
        None,
        "cli:test",
        sobrio_collector::app::now_unix_ms(),
    )
    .await
    .unwrap();
    let ca = store.certificate_authority().await.unwrap().unwrap();
    drop(store);

    let dump = tempfile::NamedTempFile::new().unwrap();
    let dumped = std::process::Command::new("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(dump.path())
        .arg(url_of(&source))
        .output()
        .unwrap();
    assert!(dumped.status.success(), "{}", stderr(&dumped));
    let restored = std::process::Command::new("pg_restore")
        .args(["--no-owner", "--dbname"])
        .arg(url_of(&target))
        .arg(dump.path())
        .output()
        .unwrap();
    assert!(restored.status.success(), "{}", stderr(&restored));

    let copy = Store::connect(&url_of(&target)).await.unwrap();
    assert_eq!(
        copy.schema_version().await.unwrap(),
        Store::known_schema(copy.dialect())
    );
    assert_eq!(copy.enrollment_tokens().await.unwrap().len(), 1);
    assert_eq!(copy.certificate_authority().await.unwrap(), Some(ca));
    drop(copy);
    for name in [&source, &target] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await
        .unwrap();
    }
}
