//! Prometheus metrics through `prometheus-client`: counters of ingest and
//! jobs, the batch-size histogram, and the devices by status, counted at
//! scrape time. Served in the OpenMetrics text format.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the batch-size histogram (reports per transaction).
const BATCH_BUCKETS: [f64; 8] = [1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 500.0];

/// The Content-Type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    /// `undecodable`, `too_large`, `invalid`, `over_people_bound`.
    reason: String,
    /// The field's path, indices left out.
    field: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

/// The collector's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    submit_calls: Counter,
    reports_accepted: Counter,
    reports_new: Counter,
    batch_failures: Counter,
    batch_reports: Histogram,
    batch_seconds: Counter<f64, AtomicU64>,
    rejects: Family<RejectLabels, Counter>,
    jobs: Family<JobLabels, Counter>,
    devices: Family<StatusLabels, Gauge>,
    agent_drops: Counter,
    store_up: Gauge,
    reported_last_day: Gauge,
    ca_not_after: Gauge,
    last_backup: Gauge,
    https_not_after: Gauge,
    /// Held while the devices are set and the text encoded, so that
    /// concurrent scrapes each see their own counts.
    rendering: std::sync::Mutex<()>,
}

/// Devices by status, counted at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeviceCounts {
    pub active: i64,
    pub revoked: i64,
    pub silent: i64,
    /// Unrevoked devices that reported in the last 24 hours.
    pub reported_last_day: i64,
}

/// What a scrape reads besides the counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScrapeFacts {
    /// The devices by status; `None` when the store did not answer.
    pub devices: Option<DeviceCounts>,
    /// When the CA certificate expires, Unix seconds.
    pub ca_not_after: Option<i64>,
    /// When the last backup was taken, Unix seconds.
    pub last_backup: Option<i64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let submit_calls = Counter::default();
        let reports_accepted = Counter::default();
        let reports_new = Counter::default();
        let batch_failures = Counter::default();
        let batch_reports = Histogram::new(BATCH_BUCKETS);
        let batch_seconds = Counter::<f64, AtomicU64>::default();
        let rejects = Family::<RejectLabels, Counter>::default();
        let jobs = Family::<JobLabels, Counter>::default();
        let devices = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "sobrio_submit_calls",
            "Submit calls answered",
            submit_calls.clone(),
        );
        registry.register(
            "sobrio_reports_accepted",
            "Reports acknowledged (new or already stored)",
            reports_accepted.clone(),
        );
        registry.register(
            "sobrio_reports_stored",
            "Reports stored for the first time",
            reports_new.clone(),
        );
        registry.register(
            "sobrio_ingest_batch_failures",
            "Transactions of reports that failed",
            batch_failures.clone(),
        );
        registry.register(
            "sobrio_reports_rejected",
            "Reports rejected, by reason class and field",
            rejects.clone(),
        );
        registry.register(
            "sobrio_ingest_batch_reports",
            "Reports per ingest transaction",
            batch_reports.clone(),
        );
        registry.register(
            "sobrio_ingest_batch_seconds",
            "Time spent in ingest transactions",
            batch_seconds.clone(),
        );
        registry.register(
            "sobrio_job_runs",
            "Periodic job runs on this replica, by job and outcome",
            jobs.clone(),
        );
        registry.register(
            "sobrio_devices",
            "Enrolled devices by status (silent: no report for 7 days)",
            devices.clone(),
        );
        let agent_drops = Counter::default();
        registry.register(
            "sobrio_agent_reports_with_drops",
            "Reports accepted whose agent says its spool dropped reports (full or too old)",
            agent_drops.clone(),
        );
        let store_up = Gauge::default();
        registry.register(
            "sobrio_store_up",
            "Whether the store answered at this scrape (1) or not (0)",
            store_up.clone(),
        );
        let reported_last_day = Gauge::default();
        registry.register(
            "sobrio_devices_reported_last_day",
            "Unrevoked devices that reported in the last 24 hours",
            reported_last_day.clone(),
        );
        let ca_not_after = Gauge::default();
        registry.register(
            "sobrio_ca_not_after_timestamp_seconds",
            "When the CA certificate agents pin expires (Unix time)",
            ca_not_after.clone(),
        );
        let last_backup = Gauge::default();
        registry.register(
            "sobrio_last_backup_timestamp_seconds",
            "When `sobrio-collector backup` last copied the store (Unix time; 0: never)",
            last_backup.clone(),
        );
        // Known label values start at 0, so that rates over them exist
        // before the first failure.
        for job in ["analysis", "retention"] {
            for outcome in ["ok", "error"] {
                jobs.get_or_create(&JobLabels {
                    job: job.to_owned(),
                    outcome: outcome.to_owned(),
                })
                .inc_by(0);
            }
        }
        let https_not_after = Gauge::default();
        registry.register(
            "sobrio_https_certificate_not_after_timestamp_seconds",
            "When the dashboards' HTTPS certificate expires (Unix time; 0: no HTTPS)",
            https_not_after.clone(),
        );
        Self {
            registry,
            https_not_after,
            agent_drops,
            store_up,
            reported_last_day,
            ca_not_after,
            last_backup,
            submit_calls,
            reports_accepted,
            reports_new,
            batch_failures,
            batch_reports,
            batch_seconds,
            rejects,
            jobs,
            devices,
            rendering: std::sync::Mutex::default(),
        }
    }
}

impl Metrics {
    /// One Submit call answered: `accepted` reports acknowledged, `new` of
    /// them stored for the first time.
    pub fn record_submit(&self, accepted: usize, new: u64) {
        self.submit_calls.inc();
        self.reports_accepted.inc_by(accepted as u64);
        self.reports_new.inc_by(new);
    }

    /// A report rejected for `class` at `field`.
    pub fn record_reject(&self, class: &str, field: &str) {
        // Field paths carry indices (usage.hours[3].…): keep the shape only.
        let field: String = field.chars().filter(|c| !c.is_ascii_digit()).collect();
        self.rejects
            .get_or_create(&RejectLabels {
                reason: class.to_owned(),
                field,
            })
            .inc();
    }

    /// One ingest transaction of `reports`, committed (`ok`) or failed.
    pub fn record_batch(&self, reports: usize, elapsed: Duration, ok: bool) {
        if !ok {
            self.batch_failures.inc();
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        self.batch_reports.observe(reports as f64);
        self.batch_seconds.inc_by(elapsed.as_secs_f64());
    }

    /// The HTTPS certificate now served expires at `unix_secs`.
    pub fn set_https_not_after(&self, unix_secs: i64) {
        self.https_not_after.set(unix_secs);
    }

    /// `reports` accepted whose agent reported dropped reports.
    pub fn record_agent_drops(&self, reports: u64) {
        self.agent_drops.inc_by(reports);
    }

    /// A periodic job's run on this replica.
    pub fn record_job(&self, job: &str, outcome: &str) {
        self.jobs
            .get_or_create(&JobLabels {
                job: job.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The exposition text (OpenMetrics, [`CONTENT_TYPE`]), with the devices
    /// by status when they could be counted.
    pub fn render(&self, facts: ScrapeFacts) -> String {
        let _rendering = self.rendering.lock().unwrap_or_else(|e| e.into_inner());
        self.devices.clear();
        self.store_up.set(i64::from(facts.devices.is_some()));
        self.ca_not_after.set(facts.ca_not_after.unwrap_or(0));
        self.last_backup.set(facts.last_backup.unwrap_or(0));
        if let Some(devices) = facts.devices {
            self.reported_last_day.set(devices.reported_last_day);
            for (status, value) in [
                ("active", devices.active),
                ("silent", devices.silent),
                ("revoked", devices.revoked),
            ] {
                self.devices
                    .get_or_create(&StatusLabels {
                        status: status.to_owned(),
                    })
                    .set(value);
            }
        }
        let mut out = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_batches_and_rejects() {
        let metrics = Metrics::default();
        metrics.record_batch(7, Duration::from_millis(2), true);
        metrics.record_reject("invalid", "usage.hours[12].powered_minutes");
        metrics.record_submit(3, 2);
        metrics.record_agent_drops(2);
        let text = metrics.render(ScrapeFacts {
            devices: Some(DeviceCounts {
                active: 3,
                revoked: 1,
                silent: 0,
                reported_last_day: 2,
            }),
            ca_not_after: Some(2_000_000_000),
            last_backup: None,
        });
        assert!(
            text.contains("sobrio_ingest_batch_reports_bucket{le=\"10.0\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sobrio_ingest_batch_reports_bucket{le=\"5.0\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("field=\"usage.hours[].powered_minutes\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sobrio_devices{status=\"revoked\"} 1"),
            "{text}"
        );
        assert!(text.contains("sobrio_submit_calls_total 1"), "{text}");
        assert!(text.contains("sobrio_reports_accepted_total 3"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        for line in [
            "sobrio_store_up 1",
            "sobrio_devices_reported_last_day 2",
            "sobrio_ca_not_after_timestamp_seconds 2000000000",
            "sobrio_last_backup_timestamp_seconds 0",
            "sobrio_agent_reports_with_drops_total 2",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
        // The store did not answer: no devices line at all, and it says so.
        let text = metrics.render(ScrapeFacts::default());
        assert!(!text.contains("sobrio_devices{"), "{text}");
        assert!(text.contains("sobrio_store_up 0"), "{text}");
    }
}
