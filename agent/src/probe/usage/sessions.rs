//! Who is at the machine: logind's user sessions, asked over the system bus
//! (`org.freedesktop.login1`), each with whether it is in use — a user
//! session that is active, not idle and not locked. One connection, kept
//! between samples; `ListSessions` then one `GetAll` per session, no program
//! started.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use zbus::Variant;

use crate::platform::bus::{self, Connection};

const LOGIN1: &str = "org.freedesktop.login1";
const MANAGER_PATH: &str = "/org/freedesktop/login1";
const MANAGER: &str = "org.freedesktop.login1.Manager";
const SESSION: &str = "org.freedesktop.login1.Session";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// A user session: its user's login name, and whether it is in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    pub login: String,
    pub in_use: bool,
}

/// The user session a session's properties describe; `None` for other
/// classes (greeters, lock screens, background services) and for
/// properties that are not logind's.
pub fn user_session(properties: &HashMap<&str, Variant<'_>>) -> Option<UserSession> {
    let text = |key| match properties.get(key)? {
        Variant::Str(value) => Some(value.as_str()),
        _ => None,
    };
    let flag = |key| match properties.get(key)? {
        Variant::Bool(value) => Some(*value),
        _ => None,
    };
    if text("Class")? != "user" {
        return None;
    }
    let login = text("Name").filter(|name| !name.is_empty())?;
    let in_use = flag("Active")?
        && !flag("IdleHint").unwrap_or(false)
        && !flag("LockedHint").unwrap_or(false);
    Some(UserSession {
        login: login.to_owned(),
        in_use,
    })
}

/// logind, on the system bus under the host root.
#[derive(Debug)]
pub struct Logind {
    root: PathBuf,
    bus: Option<Connection>,
}

impl Logind {
    /// logind of the host at `root` (`/` but in tests); nothing is
    /// connected before the first [`Logind::sessions`].
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            bus: None,
        }
    }

    /// The user sessions logind knows; `None` when there is no system bus,
    /// no logind on it, or it did not answer within the bus's call timeout.
    /// A failed call drops the connection: the next sample connects again.
    pub async fn sessions(&mut self) -> Option<Vec<UserSession>> {
        if self.bus.is_none() {
            let address = bus::system_bus_address(&self.root)?;
            match bus::connect(&address).await {
                Ok(connection) => self.bus = Some(connection),
                Err(error) => {
                    tracing::debug!(%error, "the system bus does not answer");
                    return None;
                }
            }
        }
        let connection = self.bus.as_ref()?;
        match read_sessions(connection).await {
            Ok(sessions) => Some(sessions),
            Err(error) => {
                tracing::debug!(%error, "logind does not answer");
                self.bus = None;
                None
            }
        }
    }
}

async fn read_sessions(connection: &Connection) -> zbus::Result<Vec<UserSession>> {
    let reply = connection
        .call_method(
            Some(LOGIN1),
            MANAGER_PATH,
            Some(MANAGER),
            "ListSessions",
            &(),
        )
        .await?;
    // (id, uid, user name, seat, object path)
    let body = reply.body();
    let listed: Vec<(&str, u32, &str, &str, zbus::ObjectPath<'_>)> = body.deserialize()?;
    let mut sessions = Vec::with_capacity(listed.len());
    for (_, _, _, _, path) in listed {
        let reply = match connection
            .call_method(Some(LOGIN1), &path, Some(PROPERTIES), "GetAll", &(SESSION,))
            .await
        {
            Ok(reply) => reply,
            // The session ended between the two calls.
            Err(zbus::Error::MethodError(..) | zbus::Error::FDO(_)) => continue,
            Err(error) => return Err(error),
        };
        let body = reply.body();
        let properties: HashMap<&str, Variant<'_>> = body.deserialize()?;
        sessions.extend(user_session(&properties));
    }
    Ok(sessions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties<'a>(
        class: &'a str,
        name: &'a str,
        active: bool,
        idle: bool,
        locked: bool,
    ) -> HashMap<&'a str, Variant<'a>> {
        HashMap::from([
            ("Class", Variant::from(class)),
            ("Name", Variant::from(name)),
            ("Active", Variant::Bool(active)),
            ("IdleHint", Variant::Bool(idle)),
            ("LockedHint", Variant::Bool(locked)),
            ("Display", Variant::from(":0")),
        ])
    }

    #[test]
    fn a_user_session_is_in_use_when_active_unlocked_and_not_idle() {
        let session = |p: &HashMap<&str, Variant<'_>>| user_session(p).map(|s| s.in_use);
        assert_eq!(
            session(&properties("user", "alice", true, false, false)),
            Some(true)
        );
        assert_eq!(
            session(&properties("user", "alice", true, true, false)),
            Some(false)
        );
        assert_eq!(
            session(&properties("user", "alice", true, false, true)),
            Some(false)
        );
        assert_eq!(
            session(&properties("user", "alice", false, false, false)),
            Some(false)
        );
        assert_eq!(
            session(&properties("greeter", "gdm", true, false, false)),
            None
        );
        assert_eq!(
            user_session(&properties("user", "alice", true, false, false))
                .unwrap()
                .login,
            "alice"
        );
        let mut odd = properties("user", "alice", true, false, false);
        odd.insert("Active", Variant::from("yes"));
        assert_eq!(user_session(&odd), None, "a property of another type");
        odd.remove("Class");
        assert_eq!(user_session(&odd), None);
    }
}
