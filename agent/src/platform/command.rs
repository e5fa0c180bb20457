//! Every external program the agent runs (smartctl, pactl,
//! system_profiler, powershell, reg…) goes through [`run`]: with a timeout,
//! in a process group of its own that is killed whole when the time is up,
//! with its output capped, and every failure counted and logged under the
//! probe's name. A program that hangs or floods its output costs the probe
//! its fields (unknown, never zero) and never stops sampling or delivery;
//! `sobrio-agent status` names the probe.
//!
//! Called from the agent's runtime, [`run`] hands the runtime's worker over
//! (`block_in_place`) for the time the program takes: the notification
//! monitor and the other tasks go on meanwhile. A probe whose program
//! failed is not run again before its pause is over, so a hung program
//! costs its timeout once, not at every sample.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How often a running program is looked at once its output is read.
const POLL: Duration = Duration::from_millis(5);

/// What a program may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub timeout: Duration,
    /// Bytes of stdout (and, apart, of stderr).
    pub max_output: usize,
    /// How long a probe whose program failed (timed out, flooded) waits
    /// before its program is run again.
    pub pause_after_failure: Duration,
}

impl Limits {
    /// Enough for any probe's program on a slow machine; far below a
    /// sampling interval. For programs asked once per report (inventory):
    /// after a failure, not again for an hour.
    pub const DEFAULT: Self = Self {
        timeout: Duration::from_secs(10),
        max_output: 4 << 20,
        pause_after_failure: Duration::from_secs(3600),
    };

    /// For programs asked at every sample (sessions, calls): after a
    /// failure, not again for ten minutes.
    pub const SAMPLING: Self = Self {
        pause_after_failure: Duration::from_secs(600),
        ..Self::DEFAULT
    };

    /// For the service's own set-up (permissions, installer settings): run
    /// whenever asked, failures or not.
    pub const SETUP: Self = Self {
        pause_after_failure: Duration::ZERO,
        ..Self::DEFAULT
    };
}

/// Why a program gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{program} could not be started: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} did not finish within {} s: its process group was killed", .after.as_secs_f64())]
    TimedOut { program: String, after: Duration },
    #[error("{program} wrote more than {limit} bytes: its process group was killed")]
    TooMuchOutput { program: String, limit: usize },
    #[error("{program} is not run again before {} s after its last failure", .pause.as_secs())]
    BackingOff { program: String, pause: Duration },
}

impl RunError {
    /// Whether the program is simply not installed (not a failure worth
    /// reporting: the probe is unavailable here).
    #[must_use]
    pub fn not_installed(&self) -> bool {
        matches!(self, Self::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// A finished program's output.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A probe whose programs failed, as `status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeFailures {
    /// Failed runs since the agent started.
    pub failures: u64,
    /// The last failure, in words.
    pub last_error: String,
    /// RFC 3339 of the last failure.
    pub last_at: String,
    /// Whether the probe's last run failed (it is stuck now).
    pub failing: bool,
    /// When the last failure happened (monotonic), for the pause.
    #[serde(skip)]
    failed_at: Option<Instant>,
}

static FAILURES: Mutex<BTreeMap<String, ProbeFailures>> = Mutex::new(BTreeMap::new());

/// Whether `probe`'s last run failed, less than `pause` ago.
fn backing_off(probe: &str, pause: Duration) -> bool {
    FAILURES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(probe)
        .is_some_and(|f| f.failing && f.failed_at.is_some_and(|at| at.elapsed() < pause))
}

/// Probes whose programs failed since the agent started, by name.
pub fn failures() -> BTreeMap<String, ProbeFailures> {
    FAILURES.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn record(probe: &str, outcome: Result<(), &RunError>) {
    let mut failures = FAILURES.lock().unwrap_or_else(|e| e.into_inner());
    match outcome {
        Ok(()) => {
            if let Some(entry) = failures.get_mut(probe) {
                entry.failing = false;
            }
        }
        Err(error) => {
            tracing::warn!(probe, %error, "probe program failed; its fields stay unknown");
            let entry = failures.entry(probe.to_owned()).or_default();
            entry.failures += 1;
            entry.last_error = error.to_string();
            entry.last_at = super::clock::rfc3339(super::clock::now_unix_ms());
            entry.failing = true;
            entry.failed_at = Some(Instant::now());
        }
    }
}

/// Runs `command` for `probe` within `limits`: stdin closed, stdout and
/// stderr captured up to the cap, in its own process group (Unix), killed
/// whole at the timeout or beyond the cap.
///
/// On a multi-threaded runtime's worker, the worker is handed over for the
/// program's time (`block_in_place`); elsewhere (a blocking thread, no
/// runtime) the program simply runs.
///
/// # Errors
/// When it cannot start, times out or writes too much; each is counted
/// against `probe` (except a program that is not installed). When `probe`
/// failed less than `limits.pause_after_failure` ago, the program is not
/// run ([`RunError::BackingOff`]).
pub fn run(probe: &str, command: &mut Command, limits: Limits) -> Result<Output, RunError> {
    if backing_off(probe, limits.pause_after_failure) {
        return Err(RunError::BackingOff {
            program: command.get_program().to_string_lossy().into_owned(),
            pause: limits.pause_after_failure,
        });
    }
    let on_worker = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let result = if on_worker {
        tokio::task::block_in_place(|| run_unrecorded(command, limits))
    } else {
        run_unrecorded(command, limits)
    };
    match &result {
        Ok(_) => record(probe, Ok(())),
        Err(error) if error.not_installed() => {}
        Err(error) => record(probe, Err(error)),
    }
    result
}

fn run_unrecorded(command: &mut Command, limits: Limits) -> Result<Output, RunError> {
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(command, 0);
    #[cfg(windows)]
    {
        // CREATE_NO_WINDOW: no console flashes on the user's desktop.
        std::os::windows::process::CommandExt::creation_flags(command, 0x0800_0000);
    }
    let mut child = command.spawn().map_err(|source| RunError::Spawn {
        program: program.clone(),
        source,
    })?;
    // Two readers, one message each.
    let (sender, receiver) = mpsc::sync_channel(2);
    // Both pipes are captured: one reader each.
    for (index, pipe) in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    {
        if let Some(pipe) = pipe {
            read_capped(pipe, limits.max_output, index, sender.clone());
        }
    }
    drop(sender);
    let started = Instant::now();
    let mut outputs: [Option<Vec<u8>>; 2] = [None, None];
    let status = loop {
        // Wakes as soon as a reader finishes; once both have, polls the
        // child every few milliseconds (never spinning).
        match receiver.recv_timeout(POLL) {
            Ok((_, _, true)) => {
                kill_group(&mut child);
                return Err(RunError::TooMuchOutput {
                    program,
                    limit: limits.max_output,
                });
            }
            Ok((index, bytes, false)) => outputs[index] = Some(bytes),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Ok(Some(status)) = child.try_wait() {
                    break status;
                }
                std::thread::sleep(POLL);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if started.elapsed() >= limits.timeout {
            kill_group(&mut child);
            return Err(RunError::TimedOut {
                program,
                after: limits.timeout,
            });
        }
    };
    let [stdout, stderr] = outputs;
    Ok(Output {
        status,
        stdout: stdout.unwrap_or_default(),
        stderr: stderr.unwrap_or_default(),
    })
}

/// Reads `pipe` on its own thread, up to `cap` bytes; sends (index,
/// bytes, whether the cap was passed) once done.
fn read_capped(
    pipe: impl Read + Send + 'static,
    cap: usize,
    index: usize,
    sender: mpsc::SyncSender<(usize, Vec<u8>, bool)>,
) {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
        let _ = pipe.take(limit).read_to_end(&mut bytes);
        let overflow = bytes.len() > cap;
        bytes.truncate(cap);
        let _ = sender.send((index, bytes, overflow));
    });
}

/// Kills the child's whole process group (Unix) or the child (Windows),
/// then reaps it.
fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    {
        let pid = i32::try_from(child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    const QUICK: Limits = Limits {
        timeout: Duration::from_millis(300),
        max_output: 1 << 16,
        pause_after_failure: Duration::ZERO,
    };

    #[test]
    fn a_program_s_output_and_status_come_back() {
        let output = run(
            "test-echo",
            &mut sh("echo hello; echo oops >&2; exit 3"),
            QUICK,
        )
        .unwrap();
        assert_eq!(output.stdout, b"hello\n");
        assert_eq!(output.stderr, b"oops\n");
        assert_eq!(output.status.code(), Some(3));
    }

    #[test]
    fn a_hanging_program_is_killed_with_its_children_and_named() {
        let marker = tempfile::tempdir().unwrap();
        let pid_file = marker.path().join("grandchild.pid");
        // A grandchild that would outlive its parent if only the parent
        // were killed.
        let script = format!("sleep 600 & echo $! > {}; wait", pid_file.display());
        let error = run("test-hang", &mut sh(&script), QUICK).unwrap_err();
        assert!(matches!(error, RunError::TimedOut { .. }), "{error}");
        assert!(error.to_string().contains("did not finish within 0.3 s"));
        let grandchild = std::fs::read_to_string(&pid_file).unwrap();
        let proc_dir = format!("/proc/{}", grandchild.trim());
        // Killed (gone, or a zombie until its parent is reaped by init).
        let gone = || {
            std::fs::read_to_string(format!("{proc_dir}/stat"))
                .map_or(true, |stat| stat.split_whitespace().nth(2) == Some("Z"))
        };
        let waited = Instant::now();
        while !gone() && waited.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(gone(), "the grandchild survived the kill");
        let failures = failures();
        let entry = &failures["test-hang"];
        assert!(entry.failing && entry.failures >= 1, "{entry:?}");
        assert!(entry.last_error.contains("did not finish"));
    }

    #[test]
    fn a_program_that_closes_its_output_and_hangs_still_times_out() {
        let error = run("test-closed", &mut sh("exec >&- 2>&-; sleep 600"), QUICK).unwrap_err();
        assert!(matches!(error, RunError::TimedOut { .. }), "{error}");
    }

    #[test]
    fn a_flooding_program_is_cut_off_at_the_cap() {
        let error = run("test-flood", &mut Command::new("yes"), QUICK).unwrap_err();
        assert!(
            matches!(error, RunError::TooMuchOutput { limit: 65_536, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_failed_probe_waits_its_pause_before_its_program_runs_again() {
        let marker = tempfile::tempdir().unwrap();
        let ran = marker.path().join("ran");
        let script = format!("echo x >> {}; sleep 600", ran.display());
        let pausing = Limits {
            pause_after_failure: Duration::from_secs(3600),
            ..QUICK
        };
        let first = run("test-pause", &mut sh(&script), pausing).unwrap_err();
        assert!(matches!(first, RunError::TimedOut { .. }), "{first}");
        let second = run("test-pause", &mut sh(&script), pausing).unwrap_err();
        assert!(matches!(second, RunError::BackingOff { .. }), "{second}");
        // Started once; the pause is not a new failure.
        assert_eq!(std::fs::read_to_string(&ran).unwrap(), "x\n");
        assert_eq!(failures()["test-pause"].failures, 1);
        // Once the pause is over, the program runs again.
        let third = run("test-pause", &mut sh("echo back"), QUICK).unwrap();
        assert_eq!(third.stdout, b"back\n");
        assert!(!failures()["test-pause"].failing);
    }

    #[test]
    fn on_the_agent_s_runtime_a_program_leaves_the_other_tasks_running() {
        let runtime = crate::platform::runtime().unwrap();
        let marker = tempfile::tempdir().unwrap();
        let started = marker.path().join("started");
        let answered = marker.path().join("answered");
        // The program waits for an answer that another task gives once it
        // sees the program started: it finishes only if the worker that
        // runs it is handed over to that task meanwhile.
        let script = format!(
            "touch {}; while [ ! -e {} ]; do sleep 0.01; done; echo done",
            started.display(),
            answered.display()
        );
        let output = runtime.block_on(async move {
            let answer = answered.clone();
            let answering = tokio::spawn(async move {
                while !started.exists() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                std::fs::write(answer, "yes").unwrap();
            });
            let probing = tokio::spawn(async move {
                run(
                    "test-handover",
                    &mut sh(&script),
                    Limits {
                        timeout: Duration::from_secs(60),
                        ..QUICK
                    },
                )
            });
            let output = probing.await.unwrap();
            answering.await.unwrap();
            output
        });
        assert_eq!(output.unwrap().stdout, b"done\n");
    }

    #[test]
    fn a_missing_program_is_no_failure() {
        let error = run(
            "test-missing",
            &mut Command::new("/nonexistent/program"),
            QUICK,
        )
        .unwrap_err();
        assert!(error.not_installed());
        assert!(!failures().contains_key("test-missing"));
    }
}
