//! Every export is safe to open in a spreadsheet: host names, models and
//! departments — which any enrolled device or imported register may set —
//! never reach a CSV as a formula, through the asset register export (GLPI
//! and Snipe-IT), the dashboards' tables and the audit log.

use sobrio_collector::assets::ExportFormat;
use sobrio_proto::Message;
use sobrio_proto::v1::{Chassis, Inventory, Report};
use sobrio_tests::{TestCollector, add_user, http_exchange, sign_in, valid_report};

/// Values a spreadsheet would run, each with a prefix that marks where it
/// landed in an export.
const HOSTILE_HOST: &str = "=HYPERLINK(\"http://x\",\"y\")";
const HOSTILE_MODEL: &str = "+cmd|' /C calc'!A0";
const HOSTILE_VENDOR: &str = "-1-1-calc";
const HOSTILE_DEPARTMENT: &str = "@SUM(1+1)";
const PREFIXES: [&str; 4] = ["=HYPERLINK(", "+cmd|", "-1-1-calc", "@SUM("];

/// Every place a hostile value starts in `csv` is right after the
/// apostrophe that defuses it.
fn assert_defused(export: &str, csv: &str) {
    let mut found = 0;
    for prefix in PREFIXES {
        for (at, _) in csv.match_indices(prefix) {
            found += 1;
            assert!(
                csv[..at].ends_with('\''),
                "{export}: {prefix:?} not defused in\n{csv}"
            );
        }
    }
    assert!(found > 0, "{export} holds none of the values:\n{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_never_reach_a_csv_as_formulas() {
    let collector = TestCollector::start().await;
    let device = collector.enroll(HOSTILE_DEPARTMENT, HOSTILE_HOST).await;
    let report = Report {
        inventory: Some(Inventory {
            hostname: HOSTILE_HOST.into(),
            vendor: Some(HOSTILE_VENDOR.into()),
            model: Some(HOSTILE_MODEL.into()),
            serial_number: Some("SN-1".into()),
            chassis: Chassis::Laptop.into(),
            ..Inventory::default()
        }),
        ..valid_report()
    };
    let response = device
        .client
        .submit(vec![report.encode_to_vec()])
        .await
        .unwrap();
    assert_eq!(response.accepted.len(), 1, "{:?}", response.rejected);

    for format in [ExportFormat::Glpi, ExportFormat::Snipeit] {
        let mut out = Vec::new();
        sobrio_collector::assets::export(&collector.store, format, &mut out)
            .await
            .unwrap();
        assert_defused(&format!("{format:?}"), &String::from_utf8(out).unwrap());
    }

    // The audit log records what devices and people name (subjects,
    // details): one such entry.
    collector
        .store
        .audit(
            sobrio_collector::app::now_unix_ms(),
            "collector",
            "device.renamed",
            HOSTILE_HOST,
            HOSTILE_MODEL,
        )
        .await
        .unwrap();

    let data = collector.dir.path().to_str().unwrap().to_owned();
    let addr = collector.running.http_addr.to_string();
    add_user(&data, "ines", "it", "a long enough passphrase");
    add_user(&data, "ada", "admin", "a long enough passphrase");
    let it = sign_in(&addr, "ines", "a long enough passphrase").unwrap();
    let admin = sign_in(&addr, "ada", "a long enough passphrase").unwrap();
    for (cookie, path) in [
        (&it, "/devices?csv=all"),
        (&admin, "/admin?csv=departments"),
        (&admin, "/admin?csv=audit"),
    ] {
        let (status, _, body) = http_exchange(&addr, "GET", path, &[("Cookie", cookie)], "");
        assert_eq!(status, 200, "{path}: {body}");
        assert_defused(path, &body);
    }
    collector.running.shutdown().await.unwrap();
}
