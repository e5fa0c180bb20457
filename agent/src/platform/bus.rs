//! D-Bus, through `zbus` on the agent's runtime: a user's session bus (the
//! notification monitor) and the system bus (logind's sessions). Where the
//! buses are under the host's root, and how long a peer may take to answer.
//!
//! zbus authenticates with SASL `EXTERNAL` as the process's user, reads
//! messages of either byte order (a monitor sees other peers' messages as
//! they were sent) and checks each one's header as it arrives; a body is
//! checked as far as it is read.

use std::path::Path;
use std::time::Duration;

pub use zbus::{Connection, Error, Message, MessageStream, message::Type as MessageType};

/// How long a call to a peer on a bus may take before it counts as
/// unanswered: a hung logind must not hold a sample back.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The bus daemon's own name, path and interfaces.
pub const BUS_NAME: &str = "org.freedesktop.DBus";
pub const BUS_PATH: &str = "/org/freedesktop/DBus";

/// Connects to the bus at `address` (a D-Bus address, `unix:path=…`), says
/// `Hello`, and bounds every call made on it by [`CALL_TIMEOUT`].
///
/// # Errors
/// When the address is not one, the socket does not answer, or the bus
/// refuses this process's user.
pub async fn connect(address: &str) -> zbus::Result<Connection> {
    zbus::connection::Builder::address(address)
        .method_timeout(CALL_TIMEOUT)
        .build()
        .await
}

/// The address of the bus listening on the socket `path`, when it is one.
fn socket_address(path: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::FileTypeExt;
    let metadata = std::fs::metadata(path).ok()?;
    metadata.file_type().is_socket().then(|| {
        format!(
            "unix:path={}",
            escape_address_value(path.as_os_str().as_bytes())
        )
    })
}

/// The session bus of user `uid` under the host root `root`
/// (`unix:path=ROOT/run/user/UID/bus`), when that socket exists.
pub fn session_bus_address(uid: u32, root: &Path) -> Option<String> {
    socket_address(&root.join(format!("run/user/{uid}/bus")))
}

/// The system bus under the host root `root`, at the place the D-Bus
/// specification gives it (`ROOT/run/dbus/system_bus_socket`), when that
/// socket exists.
pub fn system_bus_address(root: &Path) -> Option<String> {
    socket_address(&root.join("run/dbus/system_bus_socket"))
}

/// `bytes` escaped for a D-Bus address value: bytes outside
/// `[-0-9A-Za-z_/.\\*]` as `%xx`.
pub fn escape_address_value(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut escaped = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-_/.\\*".contains(&byte) {
            escaped.push(char::from(byte));
        } else {
            escaped.push('%');
            escaped.push(char::from(HEX[usize::from(byte >> 4)]));
            escaped.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buses_are_the_sockets_at_their_places_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run/user/1000");
        std::fs::create_dir_all(&dir).unwrap();
        let _session = std::os::unix::net::UnixListener::bind(dir.join("bus")).unwrap();
        assert_eq!(
            session_bus_address(1000, root.path()).unwrap(),
            format!(
                "unix:path={}",
                escape_address_value(dir.join("bus").as_os_str().as_encoded_bytes())
            )
        );
        assert_eq!(session_bus_address(1001, root.path()), None);
        std::fs::create_dir_all(root.path().join("run/user/1002")).unwrap();
        std::fs::write(root.path().join("run/user/1002/bus"), "").unwrap();
        assert_eq!(
            session_bus_address(1002, root.path()),
            None,
            "a regular file is no bus"
        );
        assert_eq!(system_bus_address(root.path()), None);
        std::fs::create_dir_all(root.path().join("run/dbus")).unwrap();
        let _system =
            std::os::unix::net::UnixListener::bind(root.path().join("run/dbus/system_bus_socket"))
                .unwrap();
        assert!(
            system_bus_address(root.path())
                .unwrap()
                .starts_with("unix:path=/")
        );
    }

    #[test]
    fn address_values_escape_what_the_specification_does_not_allow() {
        assert_eq!(
            escape_address_value(b"/run/user/1000/bus"),
            "/run/user/1000/bus"
        );
        assert_eq!(
            escape_address_value(b"/tmp/a b,c=d;%"),
            "/tmp/a%20b%2cc%3dd%3b%25"
        );
        assert_eq!(escape_address_value("/tmp/é".as_bytes()), "/tmp/%c3%a9");
    }
}
