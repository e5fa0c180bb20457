//! Ingest: the Ingest gRPC service.
//!
//! Each report of a Submit call is decoded and validated on its own; the
//! valid ones are stored in one transaction and acked only after it commits.
//! Ingest stores and maps, it never analyses.

pub mod people_bound;
pub mod pseudonyms;
mod validate;
pub mod writer;

use std::sync::Arc;

use sobrio_proto::Message;
use sobrio_proto::v1::ingest_server::Ingest;
use sobrio_proto::v1::{
    Chassis, EvaluatePseudonymsRequest, EvaluatePseudonymsResponse, GetPolicyRequest, Inventory,
    PersonDay, Policy, Rejection, Report, Storage, SubmitRequest, SubmitResponse,
};
use tonic::{Request, Response, Status};

use crate::app::{App, now_unix_ms};
use crate::auth::authenticate;
use crate::policy::policy_for;
use crate::store::{
    DeviceReports, IncomingReport, InventoryRow, PersonDayRow, StorageRow, UsageHourRow,
};
use writer::IngestWriter;

pub use validate::{Invalid, validate_report};

/// Why a call of the Ingest service failed; its code gives the status
/// ([`crate::error::grpc_status`]).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// More reports than a call may carry.
    #[error("{count} reports in one call; at most {max} per call: send smaller batches")]
    TooManyReports { count: usize, max: usize },
    /// The blinded logins are malformed.
    #[error(transparent)]
    Blinded(#[from] sobrio_proto::pseudonym::PseudonymError),
    /// The device obtained its bound of pseudonyms.
    #[error(
        "this device obtained {used} of the {bound} pseudonyms it may obtain in 28 days; \
         {count} more are refused. If several people share it, IT raises its bound with \
         `sobrio-collector device shared DEVICE --max-people N`"
    )]
    PseudonymBound { used: u32, bound: u32, count: u32 },
    /// The store could not answer: nothing of the call was kept.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The reports could not be written: nothing of the call was kept.
    #[error(transparent)]
    Write(#[from] writer::WriteError),
}

impl crate::error::Coded for IngestError {
    fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            Self::TooManyReports { .. } | Self::PseudonymBound { .. } => ErrorCode::TooManyRequests,
            Self::Blinded(_) => ErrorCode::InvalidArgument,
            Self::Store(error) => error.code(),
            Self::Write(_) => ErrorCode::Unavailable,
        }
    }
}

impl From<IngestError> for Status {
    fn from(error: IngestError) -> Self {
        crate::error::grpc_status(&error)
    }
}

/// The Ingest gRPC service.
#[derive(Clone)]
pub struct IngestService {
    pub(crate) shared: Arc<App>,
    pub(crate) writer: IngestWriter,
}

#[tonic::async_trait]
impl Ingest for IngestService {
    async fn submit(
        &self,
        request: Request<SubmitRequest>,
    ) -> Result<Response<SubmitResponse>, Status> {
        let shared = &self.shared;
        let device =
            authenticate(&shared.store, shared.config.server.insecure_dev, &request).await?;
        let reports = request.into_inner().reports;
        let limits = &shared.config.limits;
        if reports.len() > limits.max_reports_per_submit {
            return Err(IngestError::TooManyReports {
                count: reports.len(),
                max: limits.max_reports_per_submit,
            }
            .into());
        }
        let now = now_unix_ms();
        let (accepted, rejected, dropping) = triage(reports, limits.max_report_bytes, now);
        shared.metrics.record_agent_drops(dropping);
        for rejection in &rejected {
            tracing::warn!(
                device = %device.id,
                index = rejection.index,
                field = %rejection.field,
                reason = %rejection.reason,
                "report rejected"
            );
            shared
                .metrics
                .record_reject(reject_class(rejection), &rejection.field);
        }
        let mut accepted = accepted;
        self.keep_people_within_bound(&device.id, &mut accepted)
            .await?;
        let accepted_ids: Vec<String> = accepted.iter().map(|r| r.report_id.clone()).collect();
        let new = if accepted.is_empty() {
            0
        } else {
            let group = DeviceReports {
                device_id: device.id.clone(),
                department: device.department.clone(),
                reports: accepted,
            };
            self.writer
                .store(group)
                .await
                .map_err(IngestError::from)
                .map_err(|error| {
                    tracing::warn!(device = %device.id, %error, "reports not stored");
                    Status::from(error)
                })?
        };
        shared.metrics.record_submit(accepted_ids.len(), new);
        let policy = policy_for(
            &shared.config,
            &device.department,
            shared.pseudonyms.public_key(),
        );
        Ok(Response::new(SubmitResponse {
            accepted: accepted_ids,
            rejected,
            policy_version: policy.version,
        }))
    }

    async fn get_policy(
        &self,
        request: Request<GetPolicyRequest>,
    ) -> Result<Response<Policy>, Status> {
        let shared = &self.shared;
        let device =
            authenticate(&shared.store, shared.config.server.insecure_dev, &request).await?;
        Ok(Response::new(policy_for(
            &shared.config,
            &device.department,
            shared.pseudonyms.public_key(),
        )))
    }

    async fn evaluate_pseudonyms(
        &self,
        request: Request<EvaluatePseudonymsRequest>,
    ) -> Result<Response<EvaluatePseudonymsResponse>, Status> {
        let shared = &self.shared;
        let device =
            authenticate(&shared.store, shared.config.server.insecure_dev, &request).await?;
        let blinded = request.into_inner().blinded_elements;
        pseudonyms::evaluate(shared, &device.id, &blinded)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}

impl IngestService {
    /// Leaves out the rows of people beyond the device's bound
    /// ([`people_bound`]), counts them, and flags the device once a week.
    async fn keep_people_within_bound(
        &self,
        device_id: &str,
        reports: &mut [IncomingReport],
    ) -> Result<(), IngestError> {
        let shared = &self.shared;
        let unavailable = |error: crate::store::StoreError| {
            tracing::warn!(device = %device_id, %error, "people bound not checked");
            IngestError::Store(error)
        };
        let over = people_bound::keep_within_bound(
            &shared.store,
            device_id,
            shared.config.indicators.people_per_device,
            reports,
        )
        .await
        .map_err(unavailable)?;
        for _ in 0..over.rows {
            shared
                .metrics
                .record_reject("over_people_bound", "digital_load.days.person_id");
        }
        for (week, (bound, more)) in &over.weeks {
            tracing::warn!(
                device = %device_id,
                week = %week,
                bound,
                more,
                "a device reported more people than its bound: their rows were not stored"
            );
            let detail = format!(
                "week {week}: {more} more people than the {bound} this device may report; \
                 their rows were not stored (a shared device? raise its bound with \
                 `sobrio-collector device shared {device_id} --max-people N`)"
            );
            shared
                .store
                .audit_once(
                    now_unix_ms(),
                    "collector",
                    PRIVACY_DEVICE_OVER_BOUND,
                    device_id,
                    &detail,
                    &format!("week {week}:"),
                )
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }
}

/// Audit action: a device reported more people than its bound.
pub const PRIVACY_DEVICE_OVER_BOUND: &str = "privacy.device_over_bound";

/// The reason class of a rejection, for metrics.
fn reject_class(rejection: &Rejection) -> &'static str {
    if rejection.field != "report" {
        "invalid"
    } else if rejection.reason.starts_with("undecodable") {
        "undecodable"
    } else {
        "too_large"
    }
}

/// Decodes and validates each report on its own: the valid ones, ready to
/// store, and a rejection for each other.
pub fn triage(
    reports: Vec<Vec<u8>>,
    max_report_bytes: usize,
    now_unix_ms: i64,
) -> (Vec<IncomingReport>, Vec<Rejection>, u64) {
    let mut accepted = Vec::with_capacity(reports.len());
    let mut rejected = Vec::new();
    // Reports whose agent says its spool dropped reports.
    let mut dropping = 0;
    for (index, payload) in reports.into_iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let reject = |report_id: Option<String>, field: &str, reason: String| Rejection {
            report_id,
            index,
            field: field.to_owned(),
            reason,
        };
        if payload.len() > max_report_bytes {
            rejected.push(reject(
                None,
                "report",
                format!(
                    "report of {} bytes exceeds the limit of {max_report_bytes} bytes",
                    payload.len()
                ),
            ));
            continue;
        }
        let report = match Report::decode(payload.as_slice()) {
            Ok(report) => report,
            Err(error) => {
                rejected.push(reject(
                    None,
                    "report",
                    format!("undecodable report: {error}"),
                ));
                continue;
            }
        };
        if let Err(Invalid { field, reason }) = validate_report(&report, now_unix_ms) {
            let id = uuid::Uuid::try_parse(&report.report_id)
                .ok()
                .map(|_| report.report_id);
            rejected.push(reject(id, &field, reason));
            continue;
        }
        dropping += u64::from(
            report
                .agent_health
                .as_ref()
                .and_then(|health| health.reports_dropped)
                .is_some_and(|dropped| dropped > 0),
        );
        accepted.push(incoming(report, payload));
    }
    (accepted, rejected, dropping)
}

/// Maps a valid report to what the store keeps.
///
/// The payload kept as received loses its digital-load section: person-day
/// rows live in their own table, which retention clears 35 days after their
/// week was aggregated, and must not outlive that inside raw reports (kept 90
/// days). Reports without digital load are kept byte for byte.
fn incoming(mut report: Report, payload: Vec<u8>) -> IncomingReport {
    let usage = report
        .usage
        .as_ref()
        .map(|usage| {
            usage
                .hours
                .iter()
                .map(|hour| UsageHourRow {
                    hour_start_unix_ms: hour.hour_start_unix_ms,
                    powered_minutes: hour.powered_minutes.into(),
                    active_minutes: hour.active_minutes.map(i64::from),
                    cpu_p95_percent: hour.cpu_p95_percent.map(f64::from),
                    memory_p95_percent: hour.memory_p95_percent.map(f64::from),
                    disk_fill_percent: hour.disk_fill_percent.map(f64::from),
                })
                .collect()
        })
        .unwrap_or_default();
    let load = report.digital_load.take().unwrap_or_default();
    let person_days: Vec<PersonDayRow> = load.days.iter().map(person_day_row).collect();
    let pseudonym_links: Vec<(String, String)> = load
        .links
        .into_iter()
        .map(|link| (link.previous_id, link.person_id))
        .collect();
    let payload = if person_days.is_empty() && pseudonym_links.is_empty() {
        payload
    } else {
        report.encode_to_vec()
    };
    IncomingReport {
        inventory: report.inventory.as_ref().map(inventory_row),
        usage,
        storage: report.storage.as_ref().map(storage_row),
        person_days,
        pseudonym_links,
        report_id: report.report_id,
        collected_unix_ms: report.collected_unix_ms,
        payload,
    }
}

fn storage_row(storage: &Storage) -> StorageRow {
    let reclaimable = storage.reclaimable.as_ref();
    let bytes = |pick: fn(
        &sobrio_proto::v1::ReclaimableStorage,
    ) -> Option<&sobrio_proto::v1::CategoryTotals>| {
        reclaimable.and_then(pick).map(|totals| totals.bytes)
    };
    let duplicates = reclaimable.and_then(|r| r.duplicates.as_ref());
    StorageRow {
        total_bytes: storage.volumes.iter().map(|v| v.total_bytes).sum(),
        used_bytes: storage.volumes.iter().map(|v| v.used_bytes).sum(),
        scanned_unix_ms: reclaimable.map(|r| r.scanned_unix_ms),
        duplicate_groups: duplicates.map(|d| d.groups),
        duplicate_files: duplicates.map(|d| d.files),
        duplicate_bytes: duplicates.map(|d| d.reclaimable_bytes),
        temp_bytes: bytes(|r| r.temp.as_ref()),
        cache_bytes: bytes(|r| r.cache.as_ref()),
        trash_bytes: bytes(|r| r.trash.as_ref()),
        stale_bytes: bytes(|r| r.stale.as_ref()),
        mail_archives_bytes: bytes(|r| r.mail_archives.as_ref()),
        old_downloads_bytes: bytes(|r| r.old_downloads.as_ref()),
    }
}

fn person_day_row(day: &PersonDay) -> PersonDayRow {
    let minutes = |value: Option<i32>| value.map(i64::from);
    let by_category = day.notifications_by_category.as_ref();
    PersonDayRow {
        person_id: day.person_id.clone(),
        day: day.date.clone(),
        meeting_minutes: minutes(day.meeting_minutes),
        meeting_count: minutes(day.meeting_count),
        conflicting_minutes: minutes(day.conflicting_minutes),
        back_to_back_count: minutes(day.back_to_back_count),
        after_hours_meeting_minutes: minutes(day.after_hours_meeting_minutes),
        call_minutes: minutes(day.call_minutes),
        notifications_total: minutes(day.notifications_total),
        notifications_after_hours: minutes(day.notifications_after_hours),
        notifications_chat: by_category.map(|c| i64::from(c.chat)),
        notifications_mail: by_category.map(|c| i64::from(c.mail)),
        notifications_calendar: by_category.map(|c| i64::from(c.calendar)),
        notifications_other: by_category.map(|c| i64::from(c.other)),
        focus_minutes: minutes(day.focus_minutes),
        active_minutes: minutes(day.active_minutes),
        after_hours_active_minutes: minutes(day.after_hours_active_minutes),
        weekend_active_minutes: minutes(day.weekend_active_minutes),
    }
}

fn inventory_row(inventory: &Inventory) -> InventoryRow {
    let chassis = Chassis::try_from(inventory.chassis).unwrap_or(Chassis::Unknown);
    let chassis_name = chassis
        .as_str_name()
        .trim_start_matches("CHASSIS_")
        .to_ascii_lowercase();
    let battery_health_percent = inventory.battery.as_ref().and_then(|battery| {
        let capacities = match (battery.full_capacity_mwh, battery.design_capacity_mwh) {
            (Some(full), Some(design)) => Some((full, design)),
            _ => battery.full_capacity_mah.zip(battery.design_capacity_mah),
        };
        #[allow(clippy::cast_precision_loss)]
        match capacities {
            Some((full, design)) if design > 0 => Some(full as f64 * 100.0 / design as f64),
            _ => battery.reported_health_percent.map(f64::from),
        }
    });
    InventoryRow {
        hostname: inventory.hostname.clone(),
        vendor: inventory.vendor.clone(),
        model: inventory.model.clone(),
        model_family: inventory.model_family.clone(),
        serial_number: inventory.serial_number.clone(),
        chassis: chassis_name,
        cpu_model: inventory.cpu_model.clone(),
        cpu_logical_cores: inventory.cpu_logical_cores.map(i64::from),
        memory_bytes: inventory.memory_bytes,
        disk_bytes: Some(inventory.disks.iter().map(|d| d.size_bytes).sum()),
        os_name: inventory.os_name.clone(),
        os_version: inventory.os_version.clone(),
        bios_date: inventory.bios_date.clone(),
        age_since_date: inventory.age.as_ref().map(|a| a.since_date.clone()),
        age_source: inventory.age.as_ref().and_then(|a| {
            sobrio_proto::v1::AgeSource::try_from(a.source)
                .ok()
                .map(|s| {
                    s.as_str_name()
                        .trim_start_matches("AGE_SOURCE_")
                        .to_ascii_lowercase()
                })
        }),
        battery_health_percent,
        battery_cycles: inventory
            .battery
            .as_ref()
            .and_then(|b| b.cycle_count)
            .map(i64::from),
        disk_health: inventory
            .disks
            .iter()
            .filter_map(|d| match sobrio_proto::v1::DiskHealth::try_from(d.health) {
                Ok(sobrio_proto::v1::DiskHealth::Ok) => Some(0),
                Ok(sobrio_proto::v1::DiskHealth::Warning) => Some(1),
                Ok(sobrio_proto::v1::DiskHealth::Failing) => Some(2),
                _ => None,
            })
            .max()
            .map(|worst| ["ok", "warning", "failing"][worst].to_owned()),
    }
}
