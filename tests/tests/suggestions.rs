//! Suggestions end to end: a fleet file's twelve weeks go through the real
//! gRPC path (`demo --fleet … --once`), the analysis runs on the rollups,
//! and IT reviews the result from the command line and the JSON API, with
//! roles enforced.

use sobrio_tests::{CollectorProcess, http_request, run, seed_fleet, user_token};

fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn collector(data: &str, args: &[&str]) -> String {
    let mut all = vec!["--data-dir", data];
    all.extend_from_slice(args);
    ok(&run("sobrio-collector", &all))
}

#[test]
fn a_fleet_files_suggestions_are_reviewed_from_the_cli_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let fleet = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/fleet.toml");
    let summary = seed_fleet(data, fleet);
    assert!(summary.contains("Suggestions for IT"), "{summary}");

    let devices: Vec<serde_json::Value> =
        serde_json::from_str(&collector(data, &["device", "list", "--json"])).unwrap();
    let id = |hostname: &str| {
        devices
            .iter()
            .find(|d| d["hostname"] == hostname)
            .unwrap_or_else(|| panic!("{hostname} enrolled"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&collector(data, &["suggestions", "list", "--json"])).unwrap();
    // Finance's idle 16 GB desktop (2023) replaces Design's overloaded 8 GB
    // desktop of 2017, past the 6-year lifetime: a desktop not bought.
    let reuse = list
        .iter()
        .find(|s| s["kind"] == "reuse")
        .unwrap_or_else(|| panic!("a reuse suggestion: {list:#?}"));
    assert_eq!(
        reuse["devices"],
        serde_json::json!([id("fin-pc-001"), id("des-pc-001")])
    );
    assert_eq!(
        reuse["departments"],
        serde_json::json!(["Design", "Finance"])
    );
    assert_eq!(reuse["avoided_kgco2e"]["value"], 204.4);
    assert_eq!(reuse["avoided_kgco2e"]["low"], 202.6);
    assert_eq!(reuse["avoided_kgco2e"]["high"], 328.0);
    assert!(
        reuse["avoided_kgco2e"]["source"]
            .as_str()
            .unwrap()
            .contains("ADEME")
    );
    assert_eq!(reuse["status"], "open");
    let reuse_id = reuse["id"].as_str().unwrap().to_owned();
    // The 2020 laptop with a 64% battery: repaired, not replaced.
    let repair = list
        .iter()
        .find(|s| s["kind"] == "repair")
        .unwrap_or_else(|| panic!("a repair suggestion: {list:#?}"));
    assert_eq!(repair["devices"], serde_json::json!([id("fin-lt-001")]));
    let mut seen = std::collections::HashSet::new();
    for s in &list {
        for device in s["devices"].as_array().unwrap() {
            assert!(seen.insert(device.clone()), "{device} in two suggestions");
        }
    }

    let it = user_token(data, "ines", "it");
    let hr = user_token(data, "hugo", "hr");
    let server = CollectorProcess::serve(data, &[]);
    let addr = server.http_addr.as_str();
    let bearer = |token: &str| format!("Bearer {token}");
    let get = |path: &str, token: Option<&str>| {
        let auth = token.map(bearer);
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        http_request(addr, "GET", path, &headers, "")
    };
    assert_eq!(get("/api/v1/suggestions", None).0, 401);
    assert_eq!(get("/api/v1/suggestions", Some("sbu_not-a-token")).0, 401);
    assert_eq!(
        get("/api/v1/suggestions", Some(&hr)).0,
        403,
        "hr sees no devices"
    );
    assert_eq!(get("/api/v1/impact", Some(&hr)).0, 403);
    let (status, body) = get("/api/v1/suggestions?kind=reuse", Some(&it));
    assert_eq!(status, 200, "{body}");
    let reuses: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert!(reuses.iter().all(|s| s["kind"] == "reuse"));
    assert_eq!(get("/api/v1/suggestions?kind=bogus", Some(&it)).0, 400);

    let post = |path: &str, body: &str| {
        let auth = bearer(&it);
        http_request(
            addr,
            "POST",
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    };
    let path = |action: &str| format!("/api/v1/suggestions/{reuse_id}/{action}");
    assert_eq!(post(&path("done"), "").0, 409, "open cannot become done");
    let (status, body) = post(&path("accept"), "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["status"],
        "accepted"
    );
    // Done retires the desktop it replaces: where that one went is asked.
    let (status, body) = post(&path("done"), "");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("des-pc-001"), "{body}");
    assert_eq!(post(&path("done"), r#"{"outcome": "binned"}"#).0, 400);
    let (status, body) = post(&path("done"), r#"{"outcome": "recycled"}"#);
    assert_eq!(status, 200, "{body}");
    // The fleet follows: Finance's desktop is Design's now, with its
    // history; Design's old one is retired.
    let (status, body) = get(
        &format!("/api/v1/devices/{}/department", id("fin-pc-001")),
        Some(&it),
    );
    assert_eq!(status, 200, "{body}");
    let spells: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(
        spells
            .iter()
            .map(|s| s["department"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Finance", "Design"]
    );
    assert_eq!(spells[1]["suggestion_id"], reuse_id.as_str());
    let (status, body) = get("/api/v1/reports/disposals", Some(&it));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"recycled\":1"), "{body}");
    // The CSRD data points through the API, for this year only or the five
    // before.
    let this_year = jiff::Zoned::now().year();
    let (status, body) = get(&format!("/api/v1/reports/esrs?year={this_year}"), Some(&it));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("E1-6") && body.contains("factor_set"),
        "{body}"
    );
    let (status, body) = get("/api/v1/reports/esrs?year=1999", Some(&it));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("five years before"), "{body}");
    assert_eq!(get("/api/v1/reports/esrs", Some(&it)).0, 400);
    assert_eq!(
        get(&format!("/api/v1/reports/esrs?year={this_year}"), Some(&hr)).0,
        403
    );
    // IT moves a device by hand, through the API.
    let moved = post(
        &format!("/api/v1/devices/{}/department", id("fin-lt-003")),
        r#"{"department": "Design"}"#,
    );
    assert_eq!(moved.0, 200, "{}", moved.1);
    assert!(moved.1.contains("\"left\":\"Finance\""), "{}", moved.1);
    assert_eq!(
        post(
            &format!("/api/v1/devices/{}/department", id("fin-lt-003")),
            r#"{"department": "Nowhere"}"#,
        )
        .0,
        404
    );
    assert_eq!(post("/api/v1/suggestions/nope/accept", "").0, 404);
    let repair_id = repair["id"].as_str().unwrap();
    let dismiss = format!("/api/v1/suggestions/{repair_id}/dismiss");
    assert_eq!(post(&dismiss, "{}").0, 400, "a dismissal needs a reason");
    assert_eq!(
        post(&dismiss, r#"{"reason": "battery replaced last week"}"#).0,
        200
    );

    let (status, body) = get("/api/v1/impact", Some(&it));
    assert_eq!(status, 200, "{body}");
    let impact: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(impact["done_suggestions"], 1);
    assert_eq!(impact["avoided_by_done_kgco2e"]["value"], 204.4);
    assert_eq!(impact["renewal_forecast"].as_array().unwrap().len(), 4);
    assert!(impact["embodied_kgco2e"]["value"].as_f64().unwrap() > 1000.0);
    // Each figure's basis and the factor set's version: the fleet's Dell
    // Latitude 5490 is in the manufacturers' data, its ThinkPads of 2020
    // and 2023 are not.
    assert!(
        impact["factor_set"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let basis = impact["footprint_basis"].as_object().unwrap();
    assert!(basis["model"].as_u64().unwrap() >= 1, "{basis:?}");
    assert_eq!(
        basis.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        impact["devices"].as_u64().unwrap()
    );
    assert!(
        impact["model_sources"]
            .as_object()
            .unwrap()
            .values()
            .any(|s| s.as_str().unwrap().contains("Latitude 5490")),
        "{}",
        impact["model_sources"]
    );
    // Both accounting views, the five years before this one to the coming one.
    assert_eq!(impact["accounting"].as_array().unwrap().len(), 7);
    drop(server);

    // Recomputing keeps the decisions: done stays done, dismissed stays
    // dismissed, and the audit trail names who decided.
    collector(data, &["suggestions", "refresh"]);
    let shown: serde_json::Value = serde_json::from_str(&collector(
        data,
        &["suggestions", "show", repair_id, "--json"],
    ))
    .unwrap();
    assert_eq!(shown["status"], "dismissed");
    assert_eq!(shown["decisions"][0]["actor"], "user:ines");
    assert_eq!(
        shown["decisions"][0]["reason"],
        "battery replaced last week"
    );
    let after: Vec<serde_json::Value> =
        serde_json::from_str(&collector(data, &["suggestions", "list", "--json"])).unwrap();
    let status_of = |id: &str| {
        after
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["status"].clone())
    };
    assert_eq!(status_of(&reuse_id), Some("done".into()));
    assert_eq!(status_of(repair_id), Some("dismissed".into()));
    let csv = collector(data, &["suggestions", "export", "--csv"]);
    assert!(csv.starts_with("id,kind,status,departments,devices,rationale,avoided_kgco2e"));
    assert_eq!(csv.lines().count(), after.len() + 1);

    // The ledger holds the reuse: the recipient's desktop not bought, once.
    // Undoing it (with a reason) reverses the entry; done again, it counts
    // again, once.
    let ledger = |data: &str| -> Vec<serde_json::Value> {
        serde_json::from_str(&collector(data, &["suggestions", "ledger", "--json"])).unwrap()
    };
    let entries = ledger(data);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["device_id"], id("des-pc-001"));
    assert_eq!(entries[0]["view"], "capital_goods");
    assert_eq!(entries[0]["kgco2e"], 204.4);
    let refused = run(
        "sobrio-collector",
        &[
            "--data-dir",
            data,
            "suggestions",
            "undo",
            &reuse_id,
            "--reason",
            " ",
        ],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("needs a reason"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    collector(
        data,
        &[
            "suggestions",
            "undo",
            &reuse_id,
            "--reason",
            "the desktop went to Sales instead",
        ],
    );
    let entries = ledger(data);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["kgco2e"], -204.4);
    assert_eq!(entries[1]["reverses"], entries[0]["id"]);
    collector(
        data,
        &["suggestions", "done", &reuse_id, "--outcome", "recycled"],
    );
    let standing: f64 = ledger(data)
        .iter()
        .map(|e| e["kgco2e"].as_f64().unwrap())
        .sum();
    assert!((standing - 204.4).abs() < 1e-9, "{standing}");

    // Disposals: a fleet with known retirements gives the decree's report.
    // fin-lt-003 (2018) donated and des-pc-001 (2017) recycled in 2025;
    // fin-lt-002 (2022) sold refurbished and fin-lt-001 (2020) recycled in
    // 2026.
    let retire = |host: &str, on: &str, outcome: &str| {
        run(
            "sobrio-collector",
            &[
                "--data-dir",
                data,
                "device",
                "retire",
                &id(host),
                "--on",
                on,
                "--outcome",
                outcome,
            ],
        )
    };
    let refused = retire("fin-lt-003", "2025-04-01", "thrown away");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("reused_internally, donated"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        !retire("fin-lt-003", "2999-01-01", "donated")
            .status
            .success()
    );
    for (host, on, outcome) in [
        ("fin-lt-003", "2025-04-01", "donated"),
        ("des-pc-001", "2025-09-12", "recycled"),
        ("fin-lt-002", "2026-02-03", "sold_refurbished"),
        ("fin-lt-001", "2026-03-04", "recycled"),
    ] {
        ok(&retire(host, on, outcome));
    }
    let report: Vec<serde_json::Value> =
        serde_json::from_str(&collector(data, &["device", "disposals", "--json"])).unwrap();
    assert_eq!(report.len(), 2, "{report:#?}");
    assert_eq!(report[0]["year"], 2025);
    assert_eq!(report[0]["retired"], 2);
    assert_eq!(report[0]["eligible"], 2);
    assert_eq!(report[0]["eligible_reused"], 1);
    assert_eq!(report[0]["share"], 0.5);
    assert_eq!(report[0]["met"], true);
    assert_eq!(report[1]["by_outcome"]["sold_refurbished"], 1);
    assert_eq!(report[1]["share"], 0.5);
    // A retired device is revoked and leaves the fleet's figures.
    let impact: serde_json::Value =
        serde_json::from_str(&collector(data, &["impact", "--json"])).unwrap();
    assert_eq!(impact["devices"], 2, "six devices, four retired");
    let text = collector(data, &["device", "disposals"]);
    assert!(text.contains("(target met)"), "{text}");

    // The CSRD export of this year: scope 3 category 2, devices bought,
    // devices retired by outcome, with the method note.
    let today = jiff::Zoned::now().date();
    ok(&retire(
        "des-lt-001",
        &today.to_string(),
        "reused_internally",
    ));
    let year = today.year().to_string();
    let esrs: serde_json::Value =
        serde_json::from_str(&collector(data, &["esrs", "--year", &year, "--json"])).unwrap();
    let points = esrs["data_points"].as_array().unwrap();
    let point = |name: &str| {
        points
            .iter()
            .find(|p| p["name"].as_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {points:#?}"))
            .clone()
    };
    assert_eq!(point("Gross scope 3")["disclosure"], "E1-6");
    assert_eq!(point("Gross scope 3")["unit"], "tCO2e");
    assert!(point("Resource outflows")["value"].as_f64().unwrap() >= 1.0);
    assert!(
        point("of which reused_internally")["value"]
            .as_f64()
            .unwrap()
            >= 1.0
    );
    assert!(esrs["method"].as_str().unwrap().contains("GHG Protocol"));
    let csv = collector(data, &["esrs", "--year", &year]);
    assert!(
        csv.starts_with("disclosure,data_point,value,low,high,unit"),
        "{csv}"
    );
    assert!(csv.lines().last().unwrap().starts_with("method,"), "{csv}");
    let future = run(
        "sobrio-collector",
        &["--data-dir", data, "esrs", "--year", "2999"],
    );
    assert!(!future.status.success());
    assert!(String::from_utf8_lossy(&future.stderr).contains("the export covers"));
}
