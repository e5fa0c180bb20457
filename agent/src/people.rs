//! The people using this device, for their digital load: a notification
//! monitor per session user (run as that user: a session bus accepts no one
//! else), each user's calendar sources read when a day completes, and each
//! user's recent days kept for `sobrio-agent me`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::ToSpan;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::calendar::{self, CalendarConfig};
use crate::load::WeekHours;
#[cfg(any(windows, target_os = "macos", test))]
use crate::platform::offload::Offloaded;
use crate::probe::accounts::{self, Account};
use crate::probe::notifications::{NotificationCategory, Notified};
use crate::tally::Tally;

/// Calendars are read again at least this often (moved or new meetings of
/// the days not reported yet).
const CALENDAR_REFRESH: Duration = Duration::from_secs(6 * 3600);
/// People's files are written at least this often.
const SAVE_INTERVAL: Duration = Duration::from_secs(600);
/// Windows and macOS notification databases are read this often.
#[cfg(any(windows, target_os = "macos", test))]
const DATABASE_INTERVAL: Duration = Duration::from_secs(300);
/// How often a monitor asks the sound server who records.
pub const CAPTURE_INTERVAL: Duration = Duration::from_secs(30);
/// A monitor that stopped is started again after this long.
const MONITOR_RETRY: Duration = Duration::from_secs(60);

/// What a monitor says, one line each on its standard output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorLine {
    /// The notification monitor is in place: from now on, counts are complete.
    Ready,
    Notified(Notified),
    /// The applications recording from a microphone through the session's
    /// sound server (process names), just now.
    Capture(Vec<String>),
}

impl MonitorLine {
    /// The line's text: `ready`, `UNIX_MS CATEGORY` or `capture NAME,…`.
    pub fn to_line(&self) -> String {
        match self {
            Self::Ready => "ready".to_owned(),
            Self::Notified(n) => format!("{} {}", n.at_unix_ms, category_name(n.category)),
            Self::Capture(names) => format!("capture {}", names.join(",")).trim_end().to_owned(),
        }
    }

    /// Parses a line; anything else is ignored by the caller.
    pub fn parse(line: &str) -> Option<Self> {
        if line.trim() == "ready" {
            return Some(Self::Ready);
        }
        if let Some(names) = line.trim().strip_prefix("capture") {
            return Some(Self::Capture(
                names
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ));
        }
        let (at, category) = line.trim().split_once(' ')?;
        Some(Self::Notified(Notified {
            at_unix_ms: at.parse().ok()?,
            category: match category {
                "chat" => NotificationCategory::Chat,
                "mail" => NotificationCategory::Mail,
                "calendar" => NotificationCategory::Calendar,
                "other" => NotificationCategory::Other,
                _ => return None,
            },
        }))
    }
}

fn category_name(category: NotificationCategory) -> &'static str {
    match category {
        NotificationCategory::Chat => "chat",
        NotificationCategory::Mail => "mail",
        NotificationCategory::Calendar => "calendar",
        NotificationCategory::Other => "other",
    }
}

/// Session events kept between two samples (a minute): beyond, they are
/// dropped and counted.
const EVENTS_CAPACITY: usize = 4096;

/// Monitors, calendars and people's files.
#[derive(Debug)]
pub struct People {
    root: PathBuf,
    /// The agent's own login, watched when logind lists no session.
    own_login: Option<String>,
    people_dir: PathBuf,
    /// Per user: the monitor task and what it watches (notifications, capture).
    monitors: HashMap<String, (tokio::task::JoinHandle<()>, (bool, bool))>,
    /// Per user: the applications recording through the sound server, and
    /// when the monitor said so.
    capture: HashMap<String, (Vec<String>, Instant)>,
    /// What the session monitors saw, read once a minute; bounded at
    /// [`EVENTS_CAPACITY`] (events beyond are dropped and counted in
    /// `events_dropped`).
    events_tx: mpsc::Sender<(String, MonitorLine)>,
    events_rx: mpsc::Receiver<(String, MonitorLine)>,
    events_dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// When calendars were last read, and the first unreported day then.
    calendars_read: Option<(Instant, Option<jiff::civil::Date>)>,
    last_saved: Option<Instant>,
    /// Windows and macOS: each user's notification database reader.
    #[cfg(any(windows, target_os = "macos", test))]
    databases: Offloaded<HashMap<String, crate::probe::notifications::database::NotificationDb>>,
    #[cfg(any(windows, target_os = "macos", test))]
    databases_read: Option<Instant>,
}

impl People {
    pub fn new(root: &Path, people_dir: PathBuf) -> Self {
        let (events_tx, events_rx) = mpsc::channel(EVENTS_CAPACITY);
        Self {
            own_login: accounts::own_uid()
                .and_then(|u| accounts::by_uid(root, u))
                .map(|a| a.login),
            root: root.to_owned(),
            people_dir,
            monitors: HashMap::new(),
            capture: HashMap::new(),
            events_tx,
            events_rx,
            events_dropped: std::sync::Arc::default(),
            calendars_read: None,
            last_saved: None,
            #[cfg(any(windows, target_os = "macos", test))]
            databases: Offloaded::new(HashMap::new()),
            #[cfg(any(windows, target_os = "macos", test))]
            databases_read: None,
        }
    }

    /// After a usage sample: starts a monitor for each session user who has
    /// none — their notifications and their sound server's capture streams,
    /// as the signals allow — and hands over what the monitors saw. Returns
    /// the applications recording through the sessions' sound servers, for
    /// the next samples' call detection.
    pub async fn after_sample(
        &mut self,
        tally: &mut Tally,
        notifications: bool,
        calls: bool,
    ) -> Vec<String> {
        let wanted = (notifications, calls);
        self.monitors
            .retain(|_, (task, watching)| !task.is_finished() && *watching == wanted);
        if !notifications && !calls {
            for (_, (monitor, _)) in self.monitors.drain() {
                monitor.abort();
            }
        } else if cfg!(target_os = "linux") {
            let mut users: Vec<String> = tally.session_users().to_vec();
            if users.is_empty()
                && let Some(own) = &self.own_login
            {
                // No logind (a container, a test): the agent's own user.
                users.push(own.clone());
            }
            for login in users {
                if self.monitors.contains_key(&login) {
                    continue;
                }
                let Some(account) = accounts::find(&self.root, &login) else {
                    continue;
                };
                let address = if notifications {
                    bus_address(&self.root, &account)
                } else {
                    None
                };
                if address.is_none() && !calls {
                    continue;
                }
                let tx = self.events_tx.clone();
                let runtime_dir = self.root.join(format!("run/user/{}", account.uid));
                let dropped = self.events_dropped.clone();
                let task = tokio::spawn(monitor(account, address, calls, runtime_dir, tx, dropped));
                self.monitors.insert(login, (task, wanted));
            }
        }
        #[cfg(any(windows, target_os = "macos", test))]
        if notifications {
            self.read_databases(tally).await;
        }
        while let Ok((login, line)) = self.events_rx.try_recv() {
            match line {
                MonitorLine::Ready => tally.watch_notifications(&login),
                MonitorLine::Notified(notified) => tally.record_notification(&login, notified),
                MonitorLine::Capture(names) => {
                    self.capture.insert(login, (names, Instant::now()));
                }
            }
        }
        // What the sound servers said in the last two minutes counts with
        // the next sample's /proc reading.
        self.capture
            .retain(|_, (_, at)| at.elapsed() < 2 * CAPTURE_INTERVAL + Duration::from_secs(30));
        let mut streams: Vec<String> = self
            .capture
            .values()
            .flat_map(|(names, _)| names.iter().cloned())
            .collect();
        streams.sort();
        streams.dedup();
        streams
    }

    /// Windows and macOS: each session user's notification database, read
    /// every few minutes for what arrived since the last reading (since the
    /// agent started, the first time: earlier days may have been reported).
    /// SQLite reads block: they run on the blocking pool.
    #[cfg(any(windows, target_os = "macos", test))]
    async fn read_databases(&mut self, tally: &mut Tally) {
        use crate::probe::notifications::database::NotificationDb;
        if self
            .databases_read
            .is_some_and(|at| at.elapsed() < DATABASE_INTERVAL)
        {
            return;
        }
        self.databases_read = Some(Instant::now());
        let now = crate::report::now_unix_ms();
        let users = tally.session_users().to_vec();
        let root = self.root.clone();
        let read = self
            .databases
            .run(move |databases| {
                let mut read = Vec::new();
                for login in users {
                    if !databases.contains_key(&login) {
                        let Some(database) = NotificationDb::find(&home_of(&root, &login)) else {
                            continue;
                        };
                        databases.insert(login.clone(), database.since(now));
                    }
                    if let Some(database) = databases.get_mut(&login) {
                        read.push((login, database.read_new_at(now)));
                    }
                }
                read
            })
            .await;
        for (login, shown) in read {
            match shown {
                Ok(shown) => {
                    tally.watch_notifications(&login);
                    for notified in shown {
                        tally.record_notification(&login, notified);
                    }
                }
                Err(error) => {
                    tracing::warn!(user = %login, %error, "notification database");
                }
            }
        }
    }

    /// Reads each user's calendar sources when a day completed since the
    /// last reading, or every few hours; keeps only meeting times.
    pub async fn refresh_calendars(&mut self, tally: &mut Tally) {
        let tz = &tally.time_zone().clone();
        let first = tally.activity().first_unreported_day();
        let due = self
            .calendars_read
            .is_none_or(|(at, day)| at.elapsed() >= CALENDAR_REFRESH || day != first);
        if !due {
            return;
        }
        self.calendars_read = Some((Instant::now(), first));
        let today = jiff::Zoned::now().with_time_zone(tz.clone()).date();
        let from_day = first.unwrap_or(today).min(today).saturating_sub(1.day());
        let to_day = today.saturating_add(2.days());
        let (Ok(from), Ok(to)) = (from_day.to_zoned(tz.clone()), to_day.to_zoned(tz.clone()))
        else {
            return;
        };
        let users: Vec<String> = tally.activity().users().map(str::to_owned).collect();
        for login in users {
            let Some(account) = accounts::find(&self.root, &login) else {
                continue;
            };
            let config = match CalendarConfig::for_home(&account.home) {
                Ok(Some(config)) if !config.sources.is_empty() => config,
                Ok(_) => continue,
                Err(error) => {
                    tracing::warn!(%error, "calendar settings skipped");
                    continue;
                }
            };
            let meetings = calendar::read(
                &config,
                from.timestamp(),
                to.timestamp(),
                tz,
                calendar::fetch::Limits::default(),
            )
            .await;
            for problem in &meetings.problems {
                tracing::warn!(user = %login, %problem, "calendar source");
            }
            tally.set_meetings(&login, meetings);
        }
    }

    /// Writes each user's recent days for `me` (every few minutes, and
    /// before a report forgets the completed days).
    pub fn save(&mut self, tally: &Tally, hours: &WeekHours, force: bool) {
        if !force
            && self
                .last_saved
                .is_some_and(|at| at.elapsed() < SAVE_INTERVAL)
        {
            return;
        }
        self.last_saved = Some(Instant::now());
        let now = crate::report::now_unix_ms();
        let days = tally.activity().peek_days(now, hours);
        let today = jiff::Zoned::now().date();
        let users: Vec<&str> = tally.activity().users().collect();
        for login in users {
            let Some(account) = accounts::find(&self.root, login) else {
                continue;
            };
            let mine: Vec<_> = days.iter().filter(|d| d.login == login).cloned().collect();
            if let Err(error) = crate::me::save(&self.people_dir, &account, hours, &mine, today) {
                tracing::warn!(error = %format!("{error:#}"), "cannot keep the person's days for `me`");
            }
        }
    }
}

/// A user's home: from the accounts file, else where the system puts homes
/// (macOS and Windows keep most accounts elsewhere).
#[cfg(any(windows, target_os = "macos", test))]
fn home_of(root: &Path, login: &str) -> PathBuf {
    accounts::find(root, login).map_or_else(
        || {
            if cfg!(windows) {
                PathBuf::from(r"C:\Users").join(login)
            } else if cfg!(target_os = "macos") {
                PathBuf::from("/Users").join(login)
            } else {
                PathBuf::from("/home").join(login)
            }
        },
        |a| a.home,
    )
}

/// The user's session bus: the agent's own environment when it runs as
/// that user, else `/run/user/UID/bus`.
fn bus_address(root: &Path, account: &Account) -> Option<String> {
    if accounts::own_uid() == Some(account.uid)
        && let Ok(address) = std::env::var("DBUS_SESSION_BUS_ADDRESS")
    {
        return Some(address);
    }
    #[cfg(target_os = "linux")]
    {
        crate::probe::notifications::session_bus_address(account.uid, root)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = root;
        None
    }
}

/// Runs `sobrio-agent session-monitor` as the session's user (a session bus
/// and a sound server serve no one else) and forwards its lines, restarting
/// it while the session lasts.
async fn monitor(
    account: Account,
    address: Option<String>,
    capture: bool,
    runtime_dir: PathBuf,
    tx: mpsc::Sender<(String, MonitorLine)>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use tokio::io::AsyncBufReadExt;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    loop {
        // The session ended: its runtime folder or bus socket is gone. A new
        // session starts a new monitor.
        let bus_gone = address
            .as_deref()
            .and_then(|a| a.strip_prefix("unix:path="))
            .is_some_and(|path| !Path::new(path).exists());
        if bus_gone || (address.is_none() && !runtime_dir.exists()) {
            return;
        }
        let mut command = tokio::process::Command::new(&exe);
        command.arg("session-monitor");
        if let Some(address) = &address {
            command.args(["--bus", address]);
        }
        if capture {
            command.arg("--capture");
        }
        command
            .env_clear()
            .env("SOBRIO_LOG", "warn")
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        if accounts::own_uid() == Some(0) && account.uid != 0 {
            // std drops root's supplementary groups when it sets the uid.
            command.uid(account.uid).gid(account.gid);
        }
        match command.spawn() {
            Ok(mut child) => {
                if let Some(stdout) = child.stdout.take() {
                    let mut lines = tokio::io::BufReader::new(stdout).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let Some(parsed) = MonitorLine::parse(&line) else {
                            continue;
                        };
                        match tx.try_send((account.login.clone(), parsed)) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                let count =
                                    dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                                if count.is_power_of_two() {
                                    tracing::warn!(
                                        dropped = count,
                                        "session events dropped: more in a minute than the agent keeps"
                                    );
                                }
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => return,
                        }
                    }
                }
                let _ = child.wait().await;
            }
            Err(error) => {
                tracing::warn!(user = %account.login, %error, "cannot start the session monitor");
            }
        }
        tokio::time::sleep(MONITOR_RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_round_trip_and_junk_is_ignored() {
        for line in [
            MonitorLine::Ready,
            MonitorLine::Capture(vec!["chromium".into(), "zoom".into()]),
            MonitorLine::Capture(Vec::new()),
            MonitorLine::Notified(Notified {
                at_unix_ms: 1_764_400_000_000,
                category: NotificationCategory::Mail,
            }),
        ] {
            assert_eq!(MonitorLine::parse(&line.to_line()), Some(line.clone()));
        }
        assert_eq!(MonitorLine::parse("12 secret"), None);
        assert_eq!(MonitorLine::parse("hello world"), None);
    }
}
