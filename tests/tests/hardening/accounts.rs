//! Accounts over their life, as IT and an administrator handle them with
//! the command line beside a serving collector: a new password ends what
//! the old one opened, single API tokens are listed and revoked, and a
//! disabled user comes back only with a new password.

use sobrio_tests::{
    TestCollector, add_user, form, hidden, http_exchange, run, sign_in, user_token,
};

const OLD: &str = "the first long passphrase";
const NEW: &str = "the second long passphrase";

fn api(addr: &str, token: &str) -> u16 {
    let auth = format!("Bearer {token}");
    http_exchange(
        addr,
        "GET",
        "/api/v1/devices",
        &[("Authorization", &auth)],
        "",
    )
    .0
}

fn page(addr: &str, cookie: &str) -> u16 {
    http_exchange(addr, "GET", "/devices", &[("Cookie", cookie)], "").0
}

fn cli(data: &str, args: &[&str]) -> String {
    let mut all = vec!["--data-dir", data];
    all.extend_from_slice(args);
    let output = run("sobrio-collector", &all);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_ends_old_sessions_and_tokens_and_tokens_are_revoked_one_by_one() {
    let collector = TestCollector::start().await;
    let data = collector.dir.path().to_str().unwrap().to_owned();
    let addr = collector.running.http_addr.to_string();

    let old_token = user_token(&data, "ines", "it");
    add_user(&data, "ines", "it", OLD);
    let old_session = sign_in(&addr, "ines", OLD).unwrap();
    let second_token = cli(&data, &["user", "token", "create", "ines"])
        .trim()
        .to_owned();
    assert_eq!(page(&addr, &old_session), 200);
    assert_eq!(api(&addr, &second_token), 200);

    // The password is reset: the old session and both tokens stop working.
    add_user(&data, "ines", "it", NEW);
    assert_eq!(
        page(&addr, &old_session),
        303,
        "the old session signs in again"
    );
    assert_eq!(api(&addr, &old_token), 401);
    assert_eq!(api(&addr, &second_token), 401);
    assert_eq!(sign_in(&addr, "ines", OLD), Err(401));
    assert!(sign_in(&addr, "ines", NEW).is_ok());

    // Two new tokens; one is revoked by the id the list shows.
    let keep = cli(&data, &["user", "token", "create", "ines"])
        .trim()
        .to_owned();
    let drop = cli(&data, &["user", "token", "create", "ines"])
        .trim()
        .to_owned();
    let list: serde_json::Value =
        serde_json::from_str(&cli(&data, &["user", "token", "list", "ines", "--json"])).unwrap();
    let live: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["revoked_unix_ms"].is_null())
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(live.len(), 2, "{list:#}");
    // The newest comes first.
    cli(&data, &["user", "token", "revoke", "ines", live[0]]);
    assert_eq!(api(&addr, &drop), 401);
    assert_eq!(api(&addr, &keep), 200);
    let unknown = run(
        "sobrio-collector",
        &[
            "--data-dir",
            &data,
            "user",
            "token",
            "revoke",
            "ines",
            live[0],
        ],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("user token list ines"));

    // An administrator revokes the token left, from the page.
    add_user(&data, "ada", "admin", OLD);
    let admin = sign_in(&addr, "ada", OLD).unwrap();
    let (status, _, body) = http_exchange(&addr, "GET", "/admin", &[("Cookie", &admin)], "");
    assert_eq!(status, 200);
    let action = format!("/admin/users/ines/tokens/{}/revoke", live[1]);
    assert!(body.contains(&action), "no revoke button for {}", live[1]);
    let csrf = hidden(&body, "csrf");
    let (status, _, _) = http_exchange(
        &addr,
        "POST",
        &action,
        &[
            ("Cookie", &admin),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &form(&[("csrf", &csrf)]),
    );
    assert_eq!(status, 303);
    assert_eq!(api(&addr, &keep), 401);

    // A user name breaking the rule is refused by the command line as by
    // the page: one rule.
    let bad = run(
        "sobrio-collector",
        &[
            "--data-dir",
            &data,
            "user",
            "add",
            &"x".repeat(65),
            "--role",
            "it",
            "--password-stdin",
        ],
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("1 to 64 letters"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    collector.running.shutdown().await.unwrap();
}
