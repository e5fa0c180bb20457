//! Notifications: how many were shown, when, and the coarse category of the
//! sending application — never their summary, body, icon or actions.
//!
//! On Linux, notifications are counted by monitoring the user's D-Bus session
//! bus ([`watch_session_bus`]): each `Notify` call to
//! `org.freedesktop.Notifications` is one notification, whichever daemon
//! shows it. A session bus refuses root: dbus-daemon 1.14 accepts the SASL
//! `EXTERNAL` authentication of uid 0 on another user's bus, then closes the
//! connection before `Hello` (only the uid the bus runs as may connect), so
//! the agent, a root system service, has to spawn the monitor as each
//! session's user.

use serde::Serialize;

#[cfg(target_os = "linux")]
use super::dbus::{Connection, DbusError, Message, Value};

/// The coarse category of a notification, from the application that sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationCategory {
    Chat,
    Mail,
    Calendar,
    Other,
}

/// Application identifiers (names, desktop entries, bundle ids, Windows
/// AppUserModelIDs) by category, matched as lower-case substrings. Calendar
/// is tried first (mail clients send calendar reminders under their own
/// name, e.g. `evolution-alarm-notify`), then mail, then chat.
const CALENDAR: [&str; 8] = [
    "calendar",
    "ical",
    "alarm-notify",
    "korganizer",
    "fantastical",
    "reminders",
    "remind",
    "agenda",
];
const MAIL: [&str; 10] = [
    "outlook",
    "thunderbird",
    "evolution",
    "mail",
    "geary",
    "kmail",
    "mailspring",
    "claws",
    "betterbird",
    "spark",
];
const CHAT: [&str; 20] = [
    "teams",
    "slack",
    "mattermost",
    "element",
    "signal",
    "telegram",
    "whatsapp",
    "rocket.chat",
    "rocketchat",
    "zulip",
    "skype",
    "discord",
    "tchap",
    "webex",
    "zoom",
    "messages",
    "mobilesms",
    "wire",
    "jitsi",
    "chat",
];

/// The category of the application identified by `app` (any of its names).
pub fn categorize(app: &str) -> NotificationCategory {
    let app = app.to_lowercase();
    let any = |keys: &[&str]| keys.iter().any(|k| app.contains(k));
    if any(&CALENDAR) {
        NotificationCategory::Calendar
    } else if any(&MAIL) {
        NotificationCategory::Mail
    } else if any(&CHAT) {
        NotificationCategory::Chat
    } else {
        NotificationCategory::Other
    }
}

/// One notification shown: when, and its category. Kept on the device only,
/// to be counted by local day and working hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notified {
    pub at_unix_ms: i64,
    pub category: NotificationCategory,
}

/// The match rule of the calls that show a notification.
#[cfg(target_os = "linux")]
const NOTIFY_RULE: &str =
    "type='method_call',interface='org.freedesktop.Notifications',member='Notify'";

/// Why notifications of a session could not be counted, and what to do.
#[cfg(target_os = "linux")]
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error(
        "cannot connect to the session bus at {address}: {source}; check that the user's session \
         is running and that the monitor runs as the session's user (a session bus accepts no \
         other user, root included)"
    )]
    Connect { address: String, source: DbusError },
    #[error(
        "the session bus at {address} does not let this connection monitor notifications: \
         {source}; the monitor must run as the session's user, on dbus-daemon 1.10 or later"
    )]
    Monitor { address: String, source: DbusError },
    #[error(
        "reading the session bus at {address} failed: {source}; notifications are not counted \
         until the monitor is started again"
    )]
    Read { address: String, source: DbusError },
}

/// The address of the session bus of user `uid` under the host root `root`
/// (`unix:path=ROOT/run/user/UID/bus`), when that socket exists.
#[cfg(target_os = "linux")]
pub fn session_bus_address(uid: u32, root: &std::path::Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::FileTypeExt;
    let path = root.join(format!("run/user/{uid}/bus"));
    let metadata = std::fs::metadata(&path).ok()?;
    metadata.file_type().is_socket().then(|| {
        format!(
            "unix:path={}",
            super::dbus::escape_address_value(path.as_os_str().as_bytes())
        )
    })
}

/// Notifications dropped because their reader lagged, since the process
/// started.
static DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Notifications [`watch_session_bus`] dropped because the channel it sends
/// to was full, since the process started.
pub fn dropped_notifications() -> u64 {
    DROPPED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Counts the notifications shown on the session bus at `address`: connects,
/// becomes a monitor of `Notify` calls and sends one [`Notified`] per call to
/// `tx`; `ready` is called once the monitor is in place.
///
/// Only the sending application's name (or, when it gives none, its
/// `desktop-entry` hint) is read, to categorize it; the summary, body, icon
/// and actions are never copied anywhere.
///
/// Returns `Ok(())` when the bus closes the connection (the session ended)
/// or when `tx`'s receiver is gone.
///
/// # Errors
/// When the bus cannot be reached, refuses the monitor, or sends something
/// unreadable.
#[cfg(target_os = "linux")]
pub async fn watch_session_bus(
    address: &str,
    tx: tokio::sync::mpsc::Sender<Notified>,
    ready: impl FnOnce(),
) -> Result<(), NotificationError> {
    let mut bus =
        Connection::connect(address)
            .await
            .map_err(|source| NotificationError::Connect {
                address: address.to_owned(),
                source,
            })?;
    bus.become_monitor(&[NOTIFY_RULE])
        .await
        .map_err(|source| NotificationError::Monitor {
            address: address.to_owned(),
            source,
        })?;
    // The bus answered BecomeMonitor: every Notify from now on is seen.
    ready();
    loop {
        let message = match bus.next_message().await {
            Ok(message) => message,
            Err(DbusError::Disconnected) => return Ok(()),
            Err(source) => {
                return Err(NotificationError::Read {
                    address: address.to_owned(),
                    source,
                });
            }
        };
        // A monitor also receives the bus's own signals to it (NameLost).
        if !message.is_call_to("org.freedesktop.Notifications", "Notify") {
            continue;
        }
        let category = match notify_category(&message) {
            Ok(category) => category,
            Err(error) => {
                // The bus checks what it forwards: this is a sender's
                // oddity, not worth stopping the count for.
                tracing::debug!("a Notify call was not readable: {error}");
                continue;
            }
        };
        let notified = Notified {
            at_unix_ms: crate::platform::clock::now_unix_ms(),
            category,
        };
        // The channel is bounded: when its reader lags, notifications are
        // dropped and counted rather than kept without limit.
        match tx.try_send(notified) {
            Ok(()) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                let dropped = DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "notifications dropped: their reader lags");
                }
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return Ok(()),
        }
    }
}

/// The category of a `Notify(app_name, replaces_id, app_icon, summary, body,
/// actions, hints, expire_timeout)` call.
#[cfg(target_os = "linux")]
fn notify_category(message: &Message) -> Result<NotificationCategory, DbusError> {
    if !message.signature.starts_with("susssasa{sv}") {
        return Err(DbusError::Malformed(
            "a Notify call without the specification's arguments",
        ));
    }
    let mut args = message.body();
    let app_name = args.next_str()?;
    if !app_name.is_empty() {
        return Ok(categorize(app_name));
    }
    // replaces_id, app_icon, summary, body and actions are skipped: read as
    // views into the message, which is dropped right after, never copied.
    let Some(Value::Array(hints)) = args.nth(5).transpose()? else {
        return Ok(NotificationCategory::Other);
    };
    for entry in hints {
        let Some(mut entry) = entry?.into_items() else {
            continue;
        };
        if entry.next_str()? == "desktop-entry" {
            let value = entry.next().transpose()?.map(Value::into_inner);
            return Ok(categorize(value.and_then(|v| v.as_str()).unwrap_or("")));
        }
    }
    Ok(NotificationCategory::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applications_fall_into_coarse_categories() {
        use NotificationCategory::{Calendar, Chat, Mail, Other};
        for (app, expected) in [
            ("Slack", Chat),
            ("Microsoft Teams", Chat),
            ("MSTeams_8wekyb3d8bbwe!MSTeams", Chat),
            ("com.tinyspeck.slackmacgap", Chat),
            ("Thunderbird", Mail),
            ("Microsoft.Office.OUTLOOK.EXE.15", Mail),
            ("com.apple.mail", Mail),
            ("evolution-alarm-notify", Calendar),
            ("org.gnome.Calendar", Calendar),
            ("com.apple.iCal", Calendar),
            ("Firefox", Other),
            ("notify-send", Other),
            ("", Other),
        ] {
            assert_eq!(categorize(app), expected, "{app}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_session_bus_is_the_socket_under_run_user() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run/user/1000");
        std::fs::create_dir_all(&dir).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(dir.join("bus")).unwrap();
        let address = session_bus_address(1000, root.path()).unwrap();
        assert_eq!(
            address,
            format!("unix:path={}/run/user/1000/bus", root.path().display())
        );
        assert_eq!(session_bus_address(1001, root.path()), None);
        std::fs::create_dir_all(root.path().join("run/user/1002")).unwrap();
        std::fs::write(root.path().join("run/user/1002/bus"), "").unwrap();
        assert_eq!(
            session_bus_address(1002, root.path()),
            None,
            "a regular file is no bus"
        );
    }
}
