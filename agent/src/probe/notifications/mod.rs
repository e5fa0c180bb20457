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

#[cfg(any(windows, target_os = "macos", test))]
pub mod database;

use serde::Serialize;

#[cfg(target_os = "linux")]
use crate::platform::bus::Error;

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
    Connect { address: String, source: Error },
    #[error(
        "the session bus at {address} does not let this connection monitor notifications: \
         {source}; the monitor must run as the session's user, on dbus-daemon 1.10 or later"
    )]
    Monitor { address: String, source: Error },
    #[error(
        "reading the session bus at {address} failed: {source}; notifications are not counted \
         until the monitor is started again"
    )]
    Read { address: String, source: Error },
}

/// The address of the session bus of user `uid` under the host root `root`
/// (`unix:path=ROOT/run/user/UID/bus`), when that socket exists.
#[cfg(target_os = "linux")]
pub fn session_bus_address(uid: u32, root: &std::path::Path) -> Option<String> {
    crate::platform::bus::session_bus_address(uid, root)
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
    use crate::platform::bus::{self, MessageStream, MessageType};
    use futures_util::StreamExt as _;
    let connection = bus::connect(address)
        .await
        .map_err(|source| NotificationError::Connect {
            address: address.to_owned(),
            source,
        })?;
    // The stream exists before the monitor does: nothing in between is lost.
    let mut messages = MessageStream::from(&connection);
    connection
        .call_method(
            Some(bus::BUS_NAME),
            bus::BUS_PATH,
            Some("org.freedesktop.DBus.Monitoring"),
            "BecomeMonitor",
            &(&[NOTIFY_RULE][..], 0_u32),
        )
        .await
        .map_err(|source| NotificationError::Monitor {
            address: address.to_owned(),
            source,
        })?;
    // The bus answered BecomeMonitor: every Notify from now on is seen.
    ready();
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(message) => message,
            // The bus closed the connection: the session ended.
            Err(Error::InputOutput(error)) if closed(error.kind()) => return Ok(()),
            Err(source) => {
                return Err(NotificationError::Read {
                    address: address.to_owned(),
                    source,
                });
            }
        };
        // A monitor also receives the bus's own signals to it (NameLost).
        let header = message.header();
        if message.message_type() != MessageType::MethodCall
            || header.interface().map(|i| i.as_str()) != Some("org.freedesktop.Notifications")
            || header.member().map(|m| m.as_str()) != Some("Notify")
        {
            continue;
        }
        let category = match notify_category(message.body().data()) {
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
    // The bus closed the connection: the session ended.
    Ok(())
}

/// Whether an I/O error says the peer closed the connection.
#[cfg(target_os = "linux")]
fn closed(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    matches!(
        kind,
        BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
    )
}

/// The arguments of `Notify(app_name, replaces_id, app_icon, summary, body,
/// actions, hints, expire_timeout)`, as views into the message: the texts are
/// never copied.
#[cfg(target_os = "linux")]
type NotifyArgs<'m> = (
    &'m str,
    u32,
    &'m str,
    &'m str,
    &'m str,
    Vec<&'m str>,
    std::collections::HashMap<&'m str, zbus::Variant<'m>>,
    i32,
);

/// The category of a `Notify` call from its body (`susssasa{sv}i`): the
/// application's name, or its `desktop-entry` hint when the name is empty.
///
/// # Errors
/// When the body does not hold the specification's arguments.
#[cfg(target_os = "linux")]
pub fn notify_category(
    body: &zbus::wire::serialized::Data<'_, '_>,
) -> Result<NotificationCategory, Error> {
    use zbus::Type as _;
    let ((app_name, _, _, _, _, _, hints, _), _): (NotifyArgs<'_>, usize) =
        body.deserialize_for_signature(NotifyArgs::SIGNATURE)?;
    if !app_name.is_empty() {
        return Ok(categorize(app_name));
    }
    Ok(match hints.get("desktop-entry") {
        Some(zbus::Variant::Str(entry)) => categorize(entry.as_str()),
        _ => NotificationCategory::Other,
    })
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

    /// A `Notify` body as a sender lays it out, little- or big-endian.
    #[cfg(target_os = "linux")]
    fn notify_body(
        app: &str,
        entry: Option<&str>,
        endian: zbus::wire::Endian,
    ) -> zbus::wire::serialized::Data<'static, 'static> {
        use zbus::wire::serialized::Context;
        let mut hints = std::collections::HashMap::new();
        hints.insert("urgency", zbus::Variant::U8(1));
        if let Some(entry) = entry {
            hints.insert("desktop-entry", zbus::Variant::from(entry));
        }
        let args: NotifyArgs<'_> = (
            app,
            0,
            "dialog-information",
            "Lunch?",
            "The secret body",
            vec!["default", "Open"],
            hints,
            -1,
        );
        zbus::wire::to_bytes(Context::new(endian, 0), &args).unwrap()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_notify_body_is_categorized_by_its_application_or_desktop_entry() {
        use zbus::wire::Endian::{Big, Little};
        for endian in [Little, Big] {
            let category = |app, entry| notify_category(&notify_body(app, entry, endian)).unwrap();
            assert_eq!(category("Slack", None), NotificationCategory::Chat);
            assert_eq!(
                category("", Some("org.gnome.Evolution")),
                NotificationCategory::Mail
            );
            assert_eq!(category("", None), NotificationCategory::Other);
            assert_eq!(
                category("notify-send", Some("thunderbird")),
                NotificationCategory::Other,
                "the name wins over the hint"
            );
        }
        let truncated = notify_body("Slack", None, Little);
        let bytes = &truncated.bytes()[..truncated.len() / 2];
        let truncated = zbus::wire::serialized::Data::new(
            bytes,
            zbus::wire::serialized::Context::new(Little, 0),
        );
        assert!(notify_category(&truncated).is_err());
    }
}
