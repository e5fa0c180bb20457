//! Who is at the machine, read from logind over a real system bus: a
//! private `dbus-daemon` listening where the D-Bus specification puts the
//! system bus under a host root (`ROOT/run/dbus/system_bus_socket`), and a
//! stand-in for logind (a virtual machine has none) owning
//! `org.freedesktop.login1` with the manager's `ListSessions` and each
//! session's properties as logind publishes them.

#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt as _;
use sobrio_agent::sampler::Sampler;
use sobrio_tests::dbus::Bus;
use zbus::{Connection, MessageStream, Variant, message::Type};

/// A guard against hanging on a failure, not a timing assertion.
const GUARD: Duration = Duration::from_secs(20);

/// One session as logind lists it, and the properties it publishes.
struct Session {
    id: &'static str,
    uid: u32,
    name: &'static str,
    class: &'static str,
    active: bool,
    idle: bool,
    locked: bool,
    /// Ended between `ListSessions` and `GetAll`: its object is gone.
    gone: bool,
}

impl Session {
    fn path(&self) -> String {
        format!("/org/freedesktop/login1/session/_3{}", self.id)
    }
}

/// A system bus under a host root of its own.
struct Host {
    root: tempfile::TempDir,
    bus: Bus,
}

fn host() -> Option<Host> {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("run/dbus")).unwrap();
    let bus = Bus::system_at(&root.path().join("run/dbus/system_bus_socket"))?;
    Some(Host { root, bus })
}

/// The stand-in logind on `bus`, answering until the test ends; counts
/// the calls it answered.
async fn logind(
    bus: &Bus,
    sessions: Vec<Session>,
) -> (Connection, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let connection = zbus::connection::Builder::address(bus.address.as_str())
        .build()
        .await
        .unwrap();
    let mut calls = MessageStream::from(&connection);
    connection
        .request_name("org.freedesktop.login1")
        .await
        .unwrap();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = connection.clone();
    let count = answered.clone();
    tokio::spawn(async move {
        while let Some(Ok(call)) = calls.next().await {
            if call.message_type() != Type::MethodCall {
                continue;
            }
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let header = call.header();
            let member = header.member().map(|m| m.as_str().to_owned());
            let path = header.path().map(|p| p.as_str().to_owned());
            match member.as_deref() {
                Some("ListSessions") => {
                    let listed: Vec<(&str, u32, &str, &str, zbus::ObjectPath<'_>)> = sessions
                        .iter()
                        .map(|s| {
                            let path = zbus::ObjectPath::try_from(s.path()).unwrap();
                            (s.id, s.uid, s.name, "seat0", path)
                        })
                        .collect();
                    server.reply(&header, &(listed,)).await.unwrap();
                }
                Some("GetAll") => {
                    let session = sessions.iter().find(|s| !s.gone && Some(s.path()) == path);
                    let Some(s) = session else {
                        server
                            .reply_error(
                                &header,
                                "org.freedesktop.DBus.Error.UnknownObject",
                                &("no such session",),
                            )
                            .await
                            .unwrap();
                        continue;
                    };
                    let properties: HashMap<&str, Variant<'_>> = HashMap::from([
                        ("Id", Variant::from(s.id)),
                        ("Name", Variant::from(s.name)),
                        ("Class", Variant::from(s.class)),
                        ("Type", Variant::from("wayland")),
                        ("State", Variant::from("active")),
                        ("Active", Variant::Bool(s.active)),
                        ("IdleHint", Variant::Bool(s.idle)),
                        ("IdleSinceHint", Variant::U64(0)),
                        ("LockedHint", Variant::Bool(s.locked)),
                        ("Remote", Variant::Bool(false)),
                    ]);
                    server.reply(&header, &(properties,)).await.unwrap();
                }
                _ => {
                    server
                        .reply_error(
                            &header,
                            "org.freedesktop.DBus.Error.UnknownMethod",
                            &("unknown method",),
                        )
                        .await
                        .unwrap();
                }
            }
        }
    });
    (connection, answered)
}

fn session(id: &'static str, name: &'static str, class: &'static str) -> Session {
    Session {
        id,
        uid: 1000,
        name,
        class,
        active: true,
        idle: false,
        locked: false,
        gone: false,
    }
}

#[tokio::test]
async fn user_sessions_and_their_use_come_from_logind_on_the_system_bus() {
    let Some(host) = host() else {
        return;
    };
    let (_logind, answered) = logind(
        &host.bus,
        vec![
            session("2", "alice", "user"),
            Session {
                idle: true,
                ..session("3", "bob", "user")
            },
            Session {
                locked: true,
                ..session("4", "carol", "user")
            },
            session("c1", "gdm", "greeter"),
            Session {
                gone: true,
                ..session("5", "dave", "user")
            },
        ],
    )
    .await;
    let mut sampler = Sampler::new(host.root.path(), None);
    let sample = tokio::time::timeout(GUARD, sampler.sample(false))
        .await
        .expect("logind answered");
    let mut sessions = sample.sessions.clone();
    sessions.sort();
    assert_eq!(
        sessions,
        [
            ("alice".to_owned(), true),
            ("bob".to_owned(), false),
            ("carol".to_owned(), false),
        ],
        "the greeter is no user, idle and locked sessions are not in use, \
         and a session gone between the calls is skipped"
    );
    assert_eq!(sample.active, Some(true));
    assert!(sampler.has_logind());
    // ListSessions, then one GetAll for each of the five sessions listed.
    assert_eq!(answered.load(std::sync::atomic::Ordering::Relaxed), 6);

    // The connection is kept: the next sample asks again, on it.
    let again = tokio::time::timeout(GUARD, sampler.sample(false))
        .await
        .unwrap();
    assert_eq!(again.sessions.len(), 3);
    assert_eq!(answered.load(std::sync::atomic::Ordering::Relaxed), 12);
}

#[tokio::test]
async fn without_logind_on_the_bus_activity_is_unknown_until_it_answers() {
    let Some(host) = host() else {
        return;
    };
    let mut sampler = Sampler::new(host.root.path(), None);
    let sample = tokio::time::timeout(GUARD, sampler.sample(false))
        .await
        .expect("the bus answered that nobody owns the name");
    assert_eq!(sample.active, None, "unknown, never 'not in use'");
    assert!(sample.sessions.is_empty());
    assert!(!sampler.has_logind());
    // logind starting after the agent is found at the next sample.
    let (_logind, answered) = logind(&host.bus, vec![session("2", "alice", "user")]).await;
    let sample = tokio::time::timeout(GUARD, sampler.sample(false))
        .await
        .unwrap();
    assert_eq!(sample.active, Some(true));
    assert!(sampler.has_logind());
    assert_eq!(answered.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[tokio::test]
async fn without_a_system_bus_activity_is_unknown() {
    let root = tempfile::tempdir().unwrap();
    let mut sampler = Sampler::new(root.path(), None);
    let sample = sampler.sample(false).await;
    assert_eq!(sample.active, None);
    assert!(!sampler.has_logind());
}
