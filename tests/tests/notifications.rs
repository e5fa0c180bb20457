//! Notification counting on a real D-Bus session bus: a private
//! `dbus-daemon`, a stand-in notification server owning
//! `org.freedesktop.Notifications`, applications calling `Notify`, and the
//! agent's monitor counting them by category.

#![cfg(target_os = "linux")]

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt as _;
use sobrio_agent::probe::notifications::{
    NotificationCategory, NotificationError, Notified, watch_session_bus,
};
use sobrio_tests::dbus::{Bus, process_uid};
use zbus::{Connection, MessageStream, message::Type};

/// A guard against hanging on a failure, not a timing assertion: each step
/// takes milliseconds.
const GUARD: Duration = Duration::from_secs(5);

const NOTIFICATIONS: &str = "org.freedesktop.Notifications";

/// `Notify(app_name, replaces_id, app_icon, summary, body, actions, hints,
/// expire_timeout)`, as the server receives it.
type NotifyArgs = (
    String,
    u32,
    String,
    String,
    String,
    Vec<String>,
    HashMap<String, zbus::OwnedVariant>,
    i32,
);

/// The stand-in notification server: owns `org.freedesktop.Notifications`
/// and answers each `Notify` with an id until the bus goes away; yields the
/// (application, summary) of each.
async fn serve_notifications(
    bus: &Bus,
) -> tokio::task::JoinHandle<zbus::Result<Vec<(String, String)>>> {
    let server = zbus::connection::Builder::address(bus.address.as_str())
        .build()
        .await
        .unwrap();
    // The stream exists before the name does: no call is missed.
    let mut calls = MessageStream::from(&server);
    server.request_name(NOTIFICATIONS).await.unwrap();
    tokio::spawn(async move {
        let mut shown = Vec::new();
        // The stream ends, or fails, when the bus goes away.
        while let Some(Ok(call)) = calls.next().await {
            let header = call.header();
            if call.message_type() != Type::MethodCall
                || header.member().map(|m| m.as_str()) != Some("Notify")
            {
                continue;
            }
            let body = call.body();
            let (app, _, _, summary, ..): NotifyArgs = body.deserialize()?;
            shown.push((app, summary));
            let id = u32::try_from(shown.len()).unwrap();
            server.reply(&header, &(id,)).await?;
        }
        Ok(shown)
    })
}

/// A connection to `bus`.
async fn connect(bus: &Bus) -> Connection {
    zbus::connection::Builder::address(bus.address.as_str())
        .build()
        .await
        .unwrap()
}

/// Shows a notification as an application does; returns its id.
async fn notify(
    client: &Connection,
    app: &str,
    desktop_entry: Option<&str>,
    summary: &str,
    body: &str,
) -> u32 {
    let mut hints = HashMap::from([("urgency", zbus::Variant::U8(1))]);
    if let Some(entry) = desktop_entry {
        hints.insert("desktop-entry", zbus::Variant::from(entry));
    }
    let reply = client
        .call_method(
            Some(NOTIFICATIONS),
            "/org/freedesktop/Notifications",
            Some(NOTIFICATIONS),
            "Notify",
            &(
                app,
                0_u32,
                "dialog-information",
                summary,
                body,
                vec!["default", "Open"],
                hints,
                -1_i32,
            ),
        )
        .await
        .unwrap();
    reply.body().deserialize::<u32>().unwrap()
}

/// Waits until a connection's unique name is released while the bus stays
/// up: what a connection becoming a monitor looks like to the others.
async fn a_monitor_started(signals: &mut MessageStream) {
    while let Some(signal) = signals.next().await {
        let signal = signal.unwrap();
        if signal.header().member().map(|m| m.as_str()) != Some("NameOwnerChanged") {
            continue;
        }
        let (name, old, new): (String, String, String) = signal.body().deserialize().unwrap();
        if name.starts_with(':') && old == name && new.is_empty() {
            return;
        }
    }
    panic!("the bus went away");
}

/// A notification server on `bus`, and a monitor sending what it sees to a
/// channel of `capacity`, started: (server, monitor, receiver).
async fn serve_and_watch(
    bus: &Bus,
    capacity: usize,
) -> (
    tokio::task::JoinHandle<zbus::Result<Vec<(String, String)>>>,
    tokio::task::JoinHandle<Result<(), NotificationError>>,
    tokio::sync::mpsc::Receiver<Notified>,
) {
    let server = serve_notifications(bus).await;
    let observer = connect(bus).await;
    let mut signals = MessageStream::from(&observer);
    observer
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "AddMatch",
            &(
                "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',\
               member='NameOwnerChanged'",
            ),
        )
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<Notified>(capacity);
    let mut watcher = tokio::spawn({
        let address = bus.address.clone();
        async move { watch_session_bus(&address, tx, || {}).await }
    });
    tokio::select! {
        () = a_monitor_started(&mut signals) => {}
        stopped = &mut watcher => panic!("the monitor stopped before it started: {stopped:?}"),
        () = tokio::time::sleep(GUARD) => panic!("the monitor did not start"),
    }
    (server, watcher, rx)
}

#[tokio::test]
async fn notify_calls_on_the_session_bus_are_counted_by_category() {
    use NotificationCategory::{Calendar, Chat, Mail, Other};
    let Some(bus) = Bus::session(None) else {
        return;
    };

    let (server, watcher, mut rx) = serve_and_watch(&bus, 1024).await;

    let sent = [
        ("Slack", None, Chat),
        ("Thunderbird", None, Mail),
        ("evolution-alarm-notify", None, Calendar),
        ("notify-send", None, Other),
        ("Slack", None, Chat),
        ("", Some("org.mozilla.Thunderbird"), Mail),
        ("", Some("slack"), Chat),
        ("Firefox", None, Other),
        ("", None, Other),
    ];
    let before = now_unix_ms();
    let client = connect(&bus).await;
    for (n, (app, desktop_entry, _)) in sent.iter().enumerate() {
        let summary = format!("Quarterly figures {n}");
        let body = format!("Please review the attached draft before Friday ({n})");
        let id = notify(&client, app, *desktop_entry, &summary, &body).await;
        assert_eq!(id as usize, n + 1, "the server's reply to {app:?}");
    }

    let mut counted = BTreeMap::new();
    let mut seen = 0;
    let all_counted = tokio::time::timeout(GUARD, async {
        while seen < sent.len() {
            let notified = rx.recv().await.expect("the monitor stopped");
            assert!(
                (before..=now_unix_ms()).contains(&notified.at_unix_ms),
                "{notified:?} is stamped when it is seen"
            );
            *counted.entry(notified.category).or_insert(0) += 1;
            seen += 1;
        }
    })
    .await;
    assert!(
        all_counted.is_ok(),
        "the monitor counted {seen} of {} notifications: {counted:?}",
        sent.len()
    );
    let mut expected = BTreeMap::new();
    for (_, _, category) in sent {
        *expected.entry(category).or_insert(0) += 1;
    }
    assert_eq!(counted, expected);
    assert_eq!(
        expected,
        BTreeMap::from([(Chat, 3), (Mail, 2), (Calendar, 1), (Other, 3)])
    );
    assert!(rx.try_recv().is_err(), "each notification is counted once");

    // The bus going away (the session ends) ends the monitor without error.
    drop(bus);
    let stopped = tokio::time::timeout(GUARD, watcher)
        .await
        .expect("the monitor outlived its bus")
        .unwrap();
    assert!(stopped.is_ok(), "{stopped:?}");
    let shown = server.await.unwrap().unwrap();
    let shown_apps: Vec<&str> = shown.iter().map(|(app, _)| app.as_str()).collect();
    let sent_apps: Vec<&str> = sent.iter().map(|(app, _, _)| *app).collect();
    assert_eq!(
        shown_apps, sent_apps,
        "the monitor left every call to the server"
    );
    assert_eq!(shown[0].1, "Quarterly figures 0");
}

#[tokio::test]
async fn a_lagging_reader_loses_counted_notifications_not_memory() {
    let Some(bus) = Bus::session(None) else {
        return;
    };
    // A channel of two that nobody reads.
    let (_server, watcher, mut rx) = serve_and_watch(&bus, 2).await;
    let before = sobrio_agent::probe::notifications::dropped_notifications();
    let client = connect(&bus).await;
    for n in 0..10 {
        notify(&client, "Slack", None, &format!("message {n}"), "").await;
    }
    // The monitor sees all ten: two wait in the channel, eight are dropped
    // and counted. It waits for the count, not for a time.
    let counted = tokio::time::timeout(GUARD * 6, async {
        while sobrio_agent::probe::notifications::dropped_notifications() - before < 8 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        counted.is_ok(),
        "dropped {} of 10",
        sobrio_agent::probe::notifications::dropped_notifications() - before
    );
    assert!(rx.try_recv().is_ok() && rx.try_recv().is_ok());
    assert!(rx.try_recv().is_err(), "no more than the channel holds");
    assert!(!watcher.is_finished(), "the monitor goes on");
    watcher.abort();
}

/// The agent runs as root, yet another user's session bus refuses root: the
/// monitor has to run as the session's user.
#[tokio::test]
async fn another_users_session_bus_refuses_root() {
    if process_uid() != 0 {
        eprintln!("skipping: this test runs as root, to connect to another user's bus");
        return;
    }
    let nobody = 65534;
    let Some(bus) = Bus::session(Some(nobody)) else {
        return;
    };
    let (tx, _rx) = tokio::sync::mpsc::channel(1024);
    let refused = tokio::time::timeout(GUARD, watch_session_bus(&bus.address, tx, || {}))
        .await
        .expect("the bus neither accepted nor refused root");
    assert!(
        matches!(refused, Err(NotificationError::Connect { .. })),
        "{refused:?}"
    );
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("session's user"), "{message}");
}

fn now_unix_ms() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(elapsed.as_millis()).unwrap()
}

/// The agent's own monitor process (`sobrio-agent session-monitor`, what
/// the service runs as each session's user) on a real bus; what it prints
/// goes through the agent's counters into a report and its spool, and no
/// byte of any notification's text is found in its output, the report, the
/// spool or the person's local file.
#[tokio::test]
async fn the_agent_monitor_counts_into_the_report_and_keeps_no_text() {
    use sobrio_agent::config::LocalSignals;
    use sobrio_agent::people::MonitorLine;
    use sobrio_agent::pseudonyms::PseudonymBook;
    use sobrio_agent::sampler::Sampler;
    use sobrio_agent::spool::{Spool, SpoolLimits};
    use sobrio_agent::tally::Tally;
    use sobrio_proto::Message;
    use tokio::io::AsyncBufReadExt;

    let Some(bus) = Bus::session(None) else {
        return;
    };
    let _server = serve_notifications(&bus).await;

    let mut monitor = tokio::process::Command::new(sobrio_tests::binary("sobrio-agent"))
        .args(["session-monitor", "--bus", &bus.address])
        .env("SOBRIO_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(monitor.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(GUARD, lines.next_line())
        .await
        .unwrap();
    assert_eq!(first.unwrap().as_deref(), Some("ready"));

    let secrets = [
        (
            "Microsoft Teams",
            "Merger talks with Globex",
            "Layoffs planned in Lyon",
        ),
        ("Thunderbird", "Salary review: Alice", "Your raise is 4.5%"),
        (
            "evolution-alarm-notify",
            "Doctor appointment",
            "Oncology, room 12",
        ),
    ];
    let client = connect(&bus).await;
    for (app, summary, body) in secrets {
        notify(&client, app, None, summary, body).await;
    }
    let mut output = String::new();
    let mut tally = Tally::new(jiff::tz::TimeZone::system());
    tally.watch_notifications("alice");
    for _ in secrets {
        let line = tokio::time::timeout(GUARD, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        output += &line;
        let Some(MonitorLine::Notified(mut notified)) = MonitorLine::parse(&line) else {
            panic!("unexpected line {line:?}");
        };
        // As if shown yesterday: a report carries completed days only.
        notified.at_unix_ms -= 86_400_000;
        tally.record_notification("alice", notified);
    }
    drop(monitor);

    let policy = sobrio_proto::v1::Policy {
        pseudonym_public_key: b"collector public key".to_vec(),
        ..Default::default()
    };
    let mut book = PseudonymBook::default();
    book.learn(
        b"collector public key",
        &["alice".to_owned()],
        vec!["a".repeat(64)],
    );
    let mut sampler = Sampler::new(std::path::Path::new("/nonexistent"), None);
    let report = sobrio_agent::report::collect(
        &mut sampler,
        &mut tally,
        &mut book,
        LocalSignals::default(),
        Some(&policy),
    )
    .await;
    let day = &report.digital_load.as_ref().expect("a completed day").days[0];
    assert_eq!(day.notifications_total, Some(3));
    let by_category = day.notifications_by_category.unwrap();
    assert_eq!(
        (
            by_category.chat,
            by_category.mail,
            by_category.calendar,
            by_category.other
        ),
        (1, 1, 1, 0)
    );

    let state = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(
        &state.path().join("spool"),
        SpoolLimits {
            max_bytes: 1 << 20,
            max_age_ms: 86_400_000,
        },
    )
    .unwrap();
    spool
        .push(&report.report_id, &report.encode_to_vec())
        .unwrap();
    let account = sobrio_agent::probe::accounts::Account {
        login: "alice".into(),
        uid: process_uid(),
        gid: 0,
        home: state.path().into(),
    };
    let hours = sobrio_agent::load::WeekHours::default();
    sobrio_agent::me::save(
        &state.path().join("people"),
        &account,
        &hours,
        &tally.activity().peek_days(now_unix_ms(), &hours),
        jiff::Zoned::now().date(),
    )
    .unwrap();

    let mut stored = report.encode_to_vec();
    stored.extend(serde_json::to_vec(&report).unwrap());
    stored.extend(output.as_bytes());
    for entry in walkdir(state.path()) {
        stored.extend(std::fs::read(entry).unwrap());
    }
    for (app, summary, body) in secrets {
        for text in [summary, body] {
            for word in text.split_whitespace().filter(|w| w.len() > 3) {
                assert!(
                    !stored.windows(word.len()).any(|w| w == word.as_bytes()),
                    "{word:?} from a notification was stored"
                );
            }
        }
        assert!(
            !output.contains(app),
            "the application name stays in the monitor"
        );
    }
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walkdir(&path));
        } else {
            files.push(path);
        }
    }
    files
}
