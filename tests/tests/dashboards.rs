//! The dashboards end to end: a fleet file's history goes through the real
//! gRPC path (`demo --fleet … --once`), then `sobrio-collector serve` serves
//! the pages. Over plain HTTP: every page for every role and for an
//! anonymous visitor, page weight and requests, escaping, CSRF, the
//! sign-in limit, languages and the API description. In headless Chromium
//! over WebDriver: signing in as each role, reviewing suggestions so that the
//! decisions persist, and what HR may not see.

use std::collections::HashMap;

use sobrio_tests::{
    CollectorProcess, add_user, cookies, header, hidden, http_exchange, missing, run, seed_fleet,
    sign_in,
};

const PASSWORD: &str = "a long enough passphrase";
/// A host name that would run script if it were not escaped.
const HOSTILE: &str = "<img src=x onerror=alert(1)>fin-lt-002";

/// Five people each in Legal and Sales, one laptop each: with Finance and
/// Design under k, one of them joins "other teams" (complementary
/// suppression) and the other is published.
fn legal_and_sales() -> String {
    let mut fleet = String::new();
    for department in ["Legal", "Sales"] {
        fleet += &format!("\n[[departments]]\nname = \"{department}\"\n");
        for i in 1..=5 {
            let prefix = department[..3].to_lowercase();
            fleet += &format!(
                "\n[[devices]]\nhostname = \"{prefix}-lt-00{i}\"\ndepartment = \"{department}\"\n\
                 person = \"{prefix}{i}@example.org\"\ncategory = \"laptop\"\nvendor = \"Dell\"\n\
                 model = \"Latitude 7420\"\nmemory_gb = 16\nlogical_cores = 8\nstorage_gb = 512\n\
                 purchase_date = \"2023-0{i}-10\"\nprofile = \"office\"\n"
            );
        }
    }
    // A department whose name holds HTML and SQL, with a model that is a
    // script: stored and shown verbatim, and inert.
    fleet += &format!(
        "\n[[departments]]\nname = {HOSTILE_DEPARTMENT:?}\n\n[[devices]]\nhostname = \"lab-pc-001\"\n\
         department = {HOSTILE_DEPARTMENT:?}\ncategory = \"desktop\"\nvendor = \"Acme\"\n\
         model = {HOSTILE_MODEL:?}\nmemory_gb = 8\nlogical_cores = 4\nstorage_gb = 256\n\
         purchase_date = \"2018-02-01\"\nprofile = \"office\"\n"
    );
    fleet
}

const HOSTILE_DEPARTMENT: &str = "R&D <b>Lab</b>'; DROP TABLE devices; --";
const HOSTILE_MODEL: &str = "<script>alert(1)</script>";

/// A collector serving a fleet with a hostile host name, and users it, hr,
/// admin and one to lock out.
struct Site {
    _dir: tempfile::TempDir,
    collector: CollectorProcess,
    /// Host name → device id.
    devices: HashMap<String, String>,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap().to_owned();
    let fleet = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/fleet.toml"
    ))
    .unwrap()
    .replace(
        "hostname = \"fin-lt-002\"",
        &format!("hostname = \"{HOSTILE}\""),
    ) + &legal_and_sales();
    let fleet_path = dir.path().join("fleet.toml");
    std::fs::write(&fleet_path, fleet).unwrap();
    seed_fleet(&data, fleet_path.to_str().unwrap());
    for (name, role) in [
        ("ines", "it"),
        ("hugo", "hr"),
        ("ada", "admin"),
        ("locked", "it"),
    ] {
        add_user(&data, name, role, PASSWORD);
    }
    let listed = run(
        "sobrio-collector",
        &["--data-dir", &data, "device", "list", "--json"],
    );
    let devices: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    let devices = devices
        .iter()
        .map(|d| {
            (
                d["hostname"].as_str().unwrap().to_owned(),
                d["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let collector = CollectorProcess::serve(&data, &[]);
    Site {
        _dir: dir,
        collector,
        devices,
    }
}

/// A page's weight: the HTML and every resource it links, fetched as a
/// browser would but uncompressed (the stricter measure; the dashboards
/// benchmark reports what gzip transfers); (bytes, requests, third-party
/// links).
fn weigh(addr: &str, cookie: &str, path: &str) -> (usize, usize, Vec<String>) {
    let (status, _, body) = http_exchange(addr, "GET", path, &[("Cookie", cookie)], "");
    assert!(status == 200, "{path}: {status}");
    let mut bytes = body.len();
    let mut requests = 1;
    let mut outside = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in body.match_indices(attribute) {
            let rest = &body[at + attribute.len()..];
            let url = &rest[..rest.find('"').unwrap()];
            if url.starts_with("http:") || url.starts_with("https:") || url.starts_with("//") {
                outside.push(url.to_owned());
            }
            // Resources the browser loads by itself: the stylesheet (links
            // and forms load only when followed).
            let tag_start = body[..at].rfind('<').unwrap();
            let tag = &body[tag_start..at];
            let loads = tag.starts_with("<img")
                || tag.starts_with("<script")
                || (tag.starts_with("<link") && tag.contains("stylesheet"));
            if loads && !url.starts_with("data:") {
                let (status, _, resource) = http_exchange(addr, "GET", url, &[], "");
                assert_eq!(status, 200, "{url}");
                bytes += resource.len();
                requests += 1;
            }
        }
    }
    (bytes, requests, outside)
}

#[test]
fn pages_follow_the_roles_stay_light_and_show_hostile_text_inert() {
    let site = site();
    let addr = site.collector.http_addr.as_str();
    let hostile_id = site.devices[HOSTILE].clone();
    let device_page = format!("/devices/{hostile_id}");
    let pages = [
        "/",
        "/devices",
        "/devices?sort=age&dir=desc",
        device_page.as_str(),
        "/suggestions",
        "/reports/2026",
        "/digital-load",
        "/admin",
    ];

    // Anonymous: every page sends to sign-in, and comes back after.
    for page in pages {
        let (status, headers, _) = http_exchange(addr, "GET", page, &[], "");
        assert_eq!(status, 303, "{page}");
        let location = header(&headers, "location").unwrap();
        assert!(
            location.starts_with("/login?next=%2F"),
            "{page}: {location}"
        );
    }

    // A form sent without a session goes to sign-in, then to the start page.
    let (status, headers, _) = http_exchange(
        addr,
        "POST",
        "/requests",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "csrf=x&department=Finance",
    );
    assert_eq!(
        (status, header(&headers, "location")),
        (303, Some("/login?next=%2F"))
    );

    let it = sign_in(addr, "ines", PASSWORD).unwrap();
    let hr = sign_in(addr, "hugo", PASSWORD).unwrap();
    let admin = sign_in(addr, "ada", PASSWORD).unwrap();
    // The role matrix of the pages, as the README gives it.
    let expected: [(&str, &str, [u16; 8]); 3] = [
        ("it", &it, [200, 200, 200, 200, 200, 200, 403, 403]),
        ("hr", &hr, [303, 403, 403, 403, 403, 403, 200, 403]),
        ("admin", &admin, [200, 200, 200, 200, 200, 200, 403, 200]),
    ];
    println!("page weight (budget: 100 KB and 10 requests, no third party):");
    for (role, cookie, statuses) in &expected {
        for (page, want) in pages.iter().zip(statuses) {
            let (status, headers, body) =
                http_exchange(addr, "GET", page, &[("Cookie", cookie)], "");
            assert_eq!(status, *want, "{role} {page}: {body}");
            if status == 200 {
                assert_eq!(
                    header(&headers, "content-security-policy")
                        .map(|c| c.contains("default-src 'none'")),
                    Some(true)
                );
                let (bytes, requests, outside) = weigh(addr, cookie, page);
                println!("  {role:<6} {page:<40} {bytes:>7} B  {requests} requests");
                assert!(bytes <= 100_000, "{role} {page}: {bytes} bytes");
                assert!(requests <= 10, "{role} {page}: {requests} requests");
                assert!(
                    outside.is_empty(),
                    "{role} {page} links outside: {outside:?}"
                );
                // Every table can be downloaded.
                assert!(
                    body.matches("<table").count() <= body.matches(" download>").count(),
                    "{role} {page}: a table without its CSV"
                );
            }
        }
    }
    // Browsers that accept gzip get pages compressed.
    let (_, headers, _) = http_exchange(
        addr,
        "GET",
        "/devices",
        &[("Cookie", &it), ("Accept-Encoding", "gzip")],
        "",
    );
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));

    // HR's landing page is the digital load, which shows groups only.
    let (_, headers, _) = http_exchange(addr, "GET", "/", &[("Cookie", &hr)], "");
    assert_eq!(header(&headers, "location"), Some("/digital-load"));
    let (_, _, load) = http_exchange(addr, "GET", "/digital-load", &[("Cookie", &hr)], "");
    assert!(load.contains("Organisation") && load.contains("What the indicators mean"));
    // One of Legal and Sales is published with its five people's figures;
    // the other joins "other teams" so that Finance and Design stay hidden.
    let card = |group: &str| {
        let card = &load[load.find(&format!("<h3>{group}")).expect("a card")..];
        card[..card.find("</li>").unwrap()].to_owned()
    };
    let (legal, sales) = (card("Legal"), card("Sales"));
    let published: Vec<&String> = [&legal, &sales]
        .into_iter()
        .filter(|c| c.contains("5 people") && c.contains("median"))
        .collect();
    assert_eq!(published.len(), 1, "{legal}\n{sales}");
    assert!(card("Other teams").contains("median"));
    assert!(card("Finance").contains("Not shown"));
    for (hostname, id) in &site.devices {
        assert!(!load.contains(id.as_str()), "a device id on HR's page");
        let name = hostname.rsplit('>').next().unwrap();
        assert!(!load.contains(name), "host name {name} on HR's page");
    }

    // Hostile text is shown as text.
    for page in ["/devices?sort=hostname", device_page.as_str()] {
        let (_, _, body) = http_exchange(addr, "GET", page, &[("Cookie", &it)], "");
        // Escaped as character references (askama writes `&#60;`).
        assert!(
            body.contains("&#60;img src=x onerror=alert(1)&#62;fin-lt-002"),
            "{page}"
        );
        assert!(!body.contains("<img"), "{page}");
    }
    // So are a department and a model holding HTML and SQL.
    let (_, _, overview) = http_exchange(addr, "GET", "/", &[("Cookie", &it)], "");
    assert!(overview.contains("R&#38;D &#60;b&#62;Lab&#60;/b&#62;&#39;; DROP TABLE devices; --"));
    assert!(!overview.contains("<b>") && !overview.contains("<script"));
    let filtered = format!(
        "/devices?department={}",
        sobrio_collector::web::url_encode(HOSTILE_DEPARTMENT)
    );
    let (status, _, lab) = http_exchange(addr, "GET", &filtered, &[("Cookie", &it)], "");
    assert_eq!(status, 200);
    assert!(
        lab.contains("Devices (1)") && lab.contains("lab-pc-001"),
        "{lab}"
    );
    assert!(lab.contains("&#60;script&#62;alert(1)&#60;/script&#62;") && !lab.contains("<script"));
    let (_, headers, csv) = http_exchange(addr, "GET", "/devices?csv=all", &[("Cookie", &it)], "");
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert!(csv.contains(HOSTILE), "the CSV keeps the name verbatim");
    assert!(csv.contains(HOSTILE_MODEL) && csv.contains("R&D <b>Lab</b>"));

    // A form without the session's CSRF token is refused, and changes nothing.
    let (_, _, before) = http_exchange(
        addr,
        "GET",
        "/suggestions?status=accepted",
        &[("Cookie", &it)],
        "",
    );
    let (_, _, list) = http_exchange(
        addr,
        "GET",
        "/suggestions?status=open",
        &[("Cookie", &it)],
        "",
    );
    let id = list
        .split("id=\"s-")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (status, _, _) = http_exchange(
        addr,
        "POST",
        &format!("/suggestions/{id}/accept"),
        &[
            ("Cookie", &it),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "csrf=forged",
    );
    assert_eq!(status, 403);
    let (_, _, after) = http_exchange(
        addr,
        "GET",
        "/suggestions?status=accepted",
        &[("Cookie", &it)],
        "",
    );
    assert_eq!(
        before.matches("class=\"card\"").count(),
        after.matches("class=\"card\"").count()
    );

    // The API takes the session for reading, and wants the CSRF header to write.
    let (status, _, _) = http_exchange(addr, "GET", "/api/v1/impact", &[("Cookie", &it)], "");
    assert_eq!(status, 200);
    let (status, _, _) = http_exchange(addr, "GET", "/api/v1/impact", &[("Cookie", &hr)], "");
    assert_eq!(status, 403);
    let (status, _, _) = http_exchange(
        addr,
        "POST",
        &format!("/api/v1/suggestions/{id}/accept"),
        &[("Cookie", &it)],
        "",
    );
    assert_eq!(status, 401);

    // Every route the OpenAPI document describes exists and wants credentials.
    let (status, _, spec) = http_exchange(addr, "GET", "/api/v1/openapi.json", &[], "");
    assert_eq!(status, 200);
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
    for (path, methods) in spec["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", &id).replace("{action}", "accept");
        for method in methods.as_object().unwrap().keys() {
            let (status, _, _) = http_exchange(addr, &method.to_uppercase(), &concrete, &[], "");
            let want = if path.ends_with("openapi.json") {
                200
            } else {
                401
            };
            assert_eq!(status, want, "{method} {path}");
        }
    }

    // French from the browser's languages, English from the switch.
    let (_, _, french) = http_exchange(
        addr,
        "GET",
        "/",
        &[
            ("Cookie", &it),
            ("Accept-Language", "fr-FR,fr;q=0.9,en;q=0.5"),
        ],
        "",
    );
    assert!(french.contains("<html lang=\"fr\">") && french.contains("Équipements"));
    let (status, headers, _) = http_exchange(
        addr,
        "GET",
        "/lang/en?back=%2Fdevices",
        &[("Accept-Language", "fr")],
        "",
    );
    assert_eq!(
        (status, header(&headers, "location")),
        (303, Some("/devices"))
    );
    let lang = cookies(&headers)
        .into_iter()
        .find(|(n, _)| n == "sobrio_lang")
        .unwrap();
    let (_, _, english) = http_exchange(
        addr,
        "GET",
        "/",
        &[
            ("Cookie", &format!("{it}; sobrio_lang={}", lang.1)),
            ("Accept-Language", "fr"),
        ],
        "",
    );
    assert!(english.contains("Fleet overview"));

    // Wrong passwords slow down the address that sends them, on that
    // account: three are free, the fourth makes it wait 30 s (then 1 min,
    // 2 min…), even for the right password.
    for _ in 0..4 {
        assert_eq!(sign_in(addr, "locked", "wrong password!!"), Err(401));
    }
    assert_eq!(sign_in(addr, "locked", PASSWORD), Err(429));
    assert!(
        sign_in(addr, "ines", PASSWORD).is_ok(),
        "other accounts still sign in"
    );
}

/// A chromedriver process on a free port, killed when dropped.
struct ChromeDriver {
    child: std::process::Child,
    url: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<ChromeDriver> {
    let found = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
    };
    if !found("chromedriver") || !(found("chromium") || found("chromium-browser")) {
        missing("chromium and chromedriver (Debian packages chromium, chromium-driver)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let driver = ChromeDriver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(driver);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("chromedriver did not listen on port {port}");
}

mod browser {
    use fantoccini::{Client, Locator};

    pub type Step = Result<(), String>;

    pub fn fail(what: &str, error: impl std::fmt::Display) -> String {
        format!("{what}: {error}")
    }

    pub async fn text(client: &Client, css: &str) -> Result<String, String> {
        client
            .find(Locator::Css(css))
            .await
            .map_err(|e| fail(css, e))?
            .text()
            .await
            .map_err(|e| fail(css, e))
    }

    pub async fn path(client: &Client) -> Result<String, String> {
        let url = client.current_url().await.map_err(|e| fail("url", e))?;
        Ok(match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        })
    }

    pub async fn goto(client: &Client, url: &str) -> Step {
        client.goto(url).await.map_err(|e| fail(url, e))
    }

    pub async fn sign_in(client: &Client, base: &str, user: &str, password: &str) -> Step {
        goto(client, &format!("{base}/login")).await?;
        for (css, value) in [("#username", user), ("#password", password)] {
            client
                .find(Locator::Css(css))
                .await
                .map_err(|e| fail(css, e))?
                .send_keys(value)
                .await
                .map_err(|e| fail(css, e))?;
        }
        click(client, "form.signin button[type=submit]").await?;
        arrive(client, |p| !p.starts_with("/login")).await
    }

    pub async fn sign_out(client: &Client) -> Step {
        click(client, "form[action='/logout'] button").await?;
        arrive(client, |p| p == "/login").await
    }

    /// Waits until the browser's page is one `at` accepts: a click that
    /// submits a form returns before the next page is there.
    pub async fn arrive(client: &Client, at: impl Fn(&str) -> bool) -> Step {
        let mut last = String::new();
        for _ in 0..200 {
            last = path(client).await?;
            if at(&last) {
                // And the new document is ready to be read.
                if client.find(Locator::Css("footer")).await.is_ok() {
                    return Ok(());
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(format!("the browser stayed at {last}"))
    }

    pub async fn click(client: &Client, css: &str) -> Step {
        client
            .find(Locator::Css(css))
            .await
            .map_err(|e| fail(css, e))?
            .click()
            .await
            .map_err(|e| fail(css, e))?;
        Ok(())
    }

    /// Saves a screenshot of the page under `$SOBRIO_SCREENSHOTS/NAME.png`
    /// when that variable names a folder (to look at the pages).
    pub async fn snap(client: &Client, name: &str) -> Step {
        if let Some(dir) = std::env::var_os("SOBRIO_SCREENSHOTS") {
            let png = client
                .screenshot()
                .await
                .map_err(|e| fail("screenshot", e))?;
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png)
                .map_err(|e| fail("screenshot", e))?;
        }
        Ok(())
    }

    /// Waits (5 s at most) for the element to hold the text.
    pub async fn expect(client: &Client, css: &str, want: &str) -> Step {
        let mut got = Err(String::new());
        for _ in 0..100 {
            got = text(client, css).await;
            if got.as_ref().is_ok_and(|t| t.contains(want)) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(format!("{css}: expected {want:?}, found {got:?}"))
    }
}

#[test]
fn in_a_browser_each_role_signs_in_and_it_reviews_suggestions_that_stay_decided() {
    let Some(driver) = chromedriver() else {
        return;
    };
    let site = site();
    let base = format!("http://{}", site.collector.http_addr);
    let hostile_id = site.devices[HOSTILE].clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use browser::{arrive, click, expect, fail, goto, path, sign_in, sign_out, snap, text};
        use fantoccini::Locator;
        let capabilities: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1280,1000",
                             "--lang=en-GB"]
                }
            }))
            .unwrap();
        let client = fantoccini::Client::with_capabilities_and_connector(
            &driver.url,
            &capabilities,
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .await
        .expect("a Chromium session through chromedriver");

        let steps = async {
            // Anonymous: sent to sign-in, then back where they were going.
            goto(&client, &format!("{base}/suggestions")).await?;
            let here = path(&client).await?;
            if here != "/login?next=%2Fsuggestions" {
                return Err(format!("anonymous visitor at {here}"));
            }
            snap(&client, "login").await?;
            for (css, value) in [("#username", "ines"), ("#password", PASSWORD)] {
                client
                    .find(Locator::Css(css))
                    .await
                    .map_err(|e| fail(css, e))?
                    .send_keys(value)
                    .await
                    .map_err(|e| fail(css, e))?;
            }
            click(&client, "form.signin button[type=submit]").await?;
            arrive(&client, |p| p == "/suggestions").await?;
            expect(&client, "h1", "Suggestions").await?;
            snap(&client, "suggestions").await?;
            goto(&client, &format!("{base}/")).await?;
            snap(&client, "overview").await?;
            goto(&client, &format!("{base}/devices/{hostile_id}")).await?;
            snap(&client, "device").await?;

            // Accept one suggestion, dismiss another with a reason. Each
            // form comes back to the list it was sent from.
            let open = "/suggestions?kind=&status=open&department=&page=1";
            goto(&client, &format!("{base}{open}")).await?;
            let accept = client
                .find(Locator::Css("form[action$='/accept']"))
                .await
                .map_err(|e| fail("accept form", e))?;
            let action = accept
                .attr("action")
                .await
                .map_err(|e| fail("action", e))?
                .unwrap_or_default();
            let accepted = action.split('/').nth(2).unwrap_or_default().to_owned();
            goto(&client, &format!("{base}/suggestions?status=open")).await?;
            click(
                &client,
                &format!("#s-{accepted} form[action$='/accept'] button"),
            )
            .await?;
            arrive(&client, |p| p == open).await?;
            let dismissed = client
                .find_all(Locator::Css("form[action$='/dismiss']"))
                .await
                .map_err(|e| fail("dismiss forms", e))?;
            let mut other = String::new();
            for form in dismissed {
                let action = form
                    .attr("action")
                    .await
                    .map_err(|e| fail("action", e))?
                    .unwrap_or_default();
                let id = action.split('/').nth(2).unwrap_or_default().to_owned();
                if id != accepted {
                    other = id;
                    break;
                }
            }
            goto(&client, &format!("{base}/suggestions?status=open")).await?;
            client
                .find(Locator::Css(&format!("#reason-{other}")))
                .await
                .map_err(|e| fail("reason", e))?
                .send_keys("Design keeps it for the print studio")
                .await
                .map_err(|e| fail("reason", e))?;
            click(
                &client,
                &format!("#s-{other} form[action$='/dismiss'] button"),
            )
            .await?;
            arrive(&client, |p| p == open).await?;

            // Both persist: seen again after reloading.
            goto(&client, &format!("{base}/suggestions?status=accepted")).await?;
            client.refresh().await.map_err(|e| fail("reload", e))?;
            expect(&client, &format!("#s-{accepted} .status"), "accepted").await?;
            goto(&client, &format!("{base}/suggestions?status=dismissed")).await?;
            client.refresh().await.map_err(|e| fail("reload", e))?;
            expect(&client, &format!("#s-{other} .status"), "dismissed").await?;

            // A host name holding HTML is shown as text.
            goto(&client, &format!("{base}/devices?sort=hostname")).await?;
            let images = client
                .find_all(Locator::Css("main img"))
                .await
                .map_err(|e| fail("images", e))?;
            snap(&client, "devices").await?;
            if !images.is_empty() {
                return Err("the host name became an image element".into());
            }
            client
                .find(Locator::LinkText(HOSTILE))
                .await
                .map_err(|e| fail("the hostile name as link text", e))?;
            sign_out(&client).await?;
            expect(&client, "h1", "Sign in").await?;

            // HR lands on the digital load, and may not see a device.
            sign_in(&client, &base, "hugo", PASSWORD).await?;
            let here = path(&client).await?;
            if here != "/digital-load" {
                return Err(format!("hr landed on {here}"));
            }
            expect(&client, "h1", "Digital load").await?;
            expect(&client, "#h-organisation", "The organisation").await?;
            expect(&client, ".groups", "Legal").await?;
            expect(&client, ".groups", "Meeting hours per person").await?;
            snap(&client, "digital-load").await?;
            goto(&client, &format!("{base}/devices/{hostile_id}")).await?;
            expect(&client, "h1", "Not for your role").await?;
            sign_out(&client).await?;

            // The administrator signs in with the keyboard alone: the skip
            // link first, then the language switch, the fields, Enter.
            goto(&client, &format!("{base}/login")).await?;
            let tab = fantoccini::key::Key::Tab.to_string();
            let press = |keys: String| {
                let client = client.clone();
                async move {
                    client
                        .active_element()
                        .await
                        .map_err(|e| fail("focus", e))?
                        .send_keys(&keys)
                        .await
                        .map_err(|e| fail("keys", e))
                }
            };
            press(tab.clone()).await?;
            let focused = client
                .active_element()
                .await
                .map_err(|e| fail("focus", e))?
                .text()
                .await
                .map_err(|e| fail("focus", e))?;
            if focused != "Skip to content" {
                return Err(format!("the first Tab reached {focused:?}"));
            }
            press(tab.clone()).await?; // Français
            press(tab.clone()).await?;
            press("ada".into()).await?;
            press(tab).await?;
            press(format!("{PASSWORD}{}", fantoccini::key::Key::Enter)).await?;
            arrive(&client, |p| p == "/").await?;

            // The administrator sees administration, in French on request.
            goto(&client, &format!("{base}/admin")).await?;
            expect(&client, "h1", "Administration").await?;
            click(&client, "a[hreflang='fr']").await?;
            expect(&client, "#h-tokens", "Jetons d'enrôlement").await?;
            snap(&client, "admin-fr").await?;
            let _ = text(&client, "h1").await?;
            Ok::<(), String>(())
        }
        .await;

        if let Err(error) = steps {
            let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
            std::fs::create_dir_all(&shots).unwrap();
            let file = shots.join("dashboards-failure.png");
            if let Ok(png) = client.screenshot().await {
                std::fs::write(&file, png).unwrap();
            }
            let source = client.source().await.unwrap_or_default();
            let _ = client.close().await;
            panic!(
                "{error}\nscreenshot: {}\npage source:\n{source}",
                file.display()
            );
        }
        client.close().await.unwrap();
    });
}

/// Every HTTP route × anonymous and each role: allowed or refused as
/// the README says. Pages refuse with a sign-in redirect or 403, the API
/// with 401 or 403; a route a role may use answers anything else (forms
/// are sent with the session's CSRF token and ids that do not exist, so
/// that passing the role check changes nothing).
#[test]
fn every_route_answers_each_role_as_the_design_says() {
    let site = site();
    let addr = site.collector.http_addr.as_str();
    let data = site._dir.path().join("data");
    let data = data.to_str().unwrap();
    let device = site.devices["fin-lt-001"].clone();
    let mut sessions = HashMap::new();
    let mut tokens = HashMap::new();
    for (role, user) in [("it", "ines"), ("hr", "hugo"), ("admin", "ada")] {
        let cookie = sign_in(addr, user, PASSWORD).unwrap();
        let landing = if role == "hr" { "/digital-load" } else { "/" };
        let (_, _, page) = http_exchange(addr, "GET", landing, &[("Cookie", &cookie)], "");
        sessions.insert(role, (cookie, hidden(&page, "csrf")));
        tokens.insert(
            role,
            sobrio_tests::user_token(data, &format!("api-{role}"), role),
        );
    }
    let (it, hr, admin) = (&["it", "admin"][..], &["hr"][..], &["admin"][..]);
    let public = &["it", "hr", "admin", "anonymous"][..];
    let device_page = format!("/devices/{device}");
    let api_device = format!("/api/v1/devices/{device}");
    // (method, path, form body, roles allowed; "anonymous" when public).
    let pages: Vec<(&str, &str, &str, &[&str])> = vec![
        ("GET", "/", "", it),
        ("GET", "/devices", "", it),
        ("GET", &device_page, "", it),
        ("GET", "/suggestions", "", it),
        ("GET", "/suggestions?csv=all", "", it),
        ("GET", "/reports", "", it),
        ("GET", "/reports/2026", "", it),
        ("GET", "/reports/2026?csv=retired", "", it),
        ("GET", "/digital-load", "", hr),
        ("GET", "/digital-load?csv=groups", "", hr),
        ("GET", "/admin", "", admin),
        ("GET", "/admin?csv=audit", "", admin),
        ("POST", "/suggestions/no-such-id/accept", "", it),
        (
            "POST",
            "/requests",
            "department=&category=laptop&quantity=1",
            it,
        ),
        ("POST", "/requests/999999/close", "", it),
        ("POST", "/admin/tokens", "department=", admin),
        ("POST", "/admin/tokens/no-such-token/revoke", "", admin),
        ("POST", "/admin/users", "name=&password=", admin),
        ("POST", "/admin/users/no-such-user/disable", "", admin),
        ("GET", "/login", "", public),
        ("GET", "/static/sobrio.css", "", public),
        ("GET", "/healthz", "", public),
        ("GET", "/readyz", "", public),
        ("GET", "/metrics", "", public),
        ("GET", "/api/v1/openapi.json", "", public),
    ];
    let api: Vec<(&str, &str, &[&str])> = vec![
        ("GET", "/api/v1/suggestions", it),
        ("POST", "/api/v1/suggestions/no-such-id/accept", it),
        ("GET", "/api/v1/impact", it),
        ("GET", "/api/v1/devices", it),
        ("GET", &api_device, it),
        ("GET", "/api/v1/indicators", hr),
        ("GET", "/api/v1/indicators?week=2026-W40", hr),
    ];
    let mut checked = 0;
    for who in ["anonymous", "it", "hr", "admin"] {
        for (method, path, form, allowed) in &pages {
            let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
            let mut body = (*form).to_owned();
            let session;
            if let Some((cookie, csrf)) = sessions.get(who) {
                session = cookie.clone();
                headers.push(("Cookie", &session));
                if *method == "POST" {
                    body = if body.is_empty() {
                        format!("csrf={csrf}")
                    } else {
                        format!("csrf={csrf}&{body}")
                    };
                }
            }
            let (status, response, _) = http_exchange(addr, method, path, &headers, &body);
            let location = header(&response, "location").unwrap_or("");
            let to_sign_in = status == 303 && location.starts_with("/login");
            if allowed.contains(&who) {
                assert!(
                    status != 403 && !to_sign_in && status != 401,
                    "{who} {method} {path}: {status} {location}"
                );
            } else if who == "anonymous" {
                assert!(to_sign_in, "{who} {method} {path}: {status} {location}");
            } else if *path == "/" && who == "hr" {
                assert_eq!(location, "/digital-load", "hr's start page");
            } else {
                assert_eq!(status, 403, "{who} {method} {path}");
            }
            checked += 1;
        }
        for (method, path, allowed) in &api {
            let bearer;
            let mut headers = Vec::new();
            if let Some(token) = tokens.get(who) {
                bearer = format!("Bearer {token}");
                headers.push(("Authorization", bearer.as_str()));
            }
            let (status, _, body) = http_exchange(addr, method, path, &headers, "");
            let want_refusal = if who == "anonymous" { 401 } else { 403 };
            if allowed.contains(&who) {
                assert!(
                    status != 401 && status != 403,
                    "{who} {method} {path}: {status} {body}"
                );
            } else {
                assert_eq!(status, want_refusal, "{who} {method} {path}: {body}");
            }
            checked += 1;
        }
    }
    println!("{checked} route × role pairs checked");
}
