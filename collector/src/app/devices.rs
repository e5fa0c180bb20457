//! Devices: who is calling, from what it presents.

use crate::error::{Coded, ErrorCode};
use crate::store::{DeviceCredentials, Move, Store, StoreError, rfc3339};

/// What a calling device presents.
#[derive(Debug, Clone)]
pub enum Presented {
    /// A client certificate the transport verified, naming the device.
    Certificate { device_id: String },
    /// In plaintext development mode: the device's id and bearer secret.
    Bearer { device_id: String, secret: String },
}

/// Why a device was not recognised.
#[derive(Debug, thiserror::Error)]
pub enum DeviceAuthError {
    #[error("the client certificate names no device")]
    NoDeviceInCertificate,
    #[error(
        "a client certificate is required for this call: enroll the device first \
         (sobrio-agent enroll)"
    )]
    CertificateRequired,
    #[error(
        "credentials required: a client certificate, or in development mode \
         `authorization: Bearer DEVICE_ID:SECRET`"
    )]
    CredentialsRequired,
    #[error("device {0} is not enrolled with this collector: enroll it again")]
    NotEnrolled(String),
    #[error("wrong bearer secret for this device")]
    WrongSecret,
    #[error("device {device_id} was revoked at {at}: enroll it again with a new token")]
    Revoked { device_id: String, at: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Coded for DeviceAuthError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NoDeviceInCertificate
            | Self::CertificateRequired
            | Self::CredentialsRequired
            | Self::WrongSecret => ErrorCode::Unauthenticated,
            Self::NotEnrolled(_) | Self::Revoked { .. } => ErrorCode::PermissionDenied,
            Self::Store(error) => error.code(),
        }
    }
}

/// The enrolled, unrevoked device behind what a caller presents.
///
/// # Errors
/// An unknown or revoked device, a wrong bearer secret, or a store error.
pub async fn authenticate(
    store: &Store,
    presented: Presented,
) -> Result<DeviceCredentials, DeviceAuthError> {
    let (device_id, secret) = match presented {
        Presented::Certificate { device_id } => (device_id, None),
        Presented::Bearer { device_id, secret } => (device_id, Some(secret)),
    };
    let Some(credentials) = store.device_credentials(&device_id).await? else {
        return Err(DeviceAuthError::NotEnrolled(device_id));
    };
    if let Some(secret) = secret {
        let digest = crate::secret::sha256(&secret);
        if !crate::secret::same_secret(digest, &credentials.bearer_secret_sha256) {
            return Err(DeviceAuthError::WrongSecret);
        }
    }
    if let Some(revoked) = credentials.revoked_unix_ms {
        return Err(DeviceAuthError::Revoked {
            device_id,
            at: rfc3339(revoked),
        });
    }
    Ok(credentials)
}

/// Why a change to a device was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("no device with id {0:?}")]
    Unknown(String),
    #[error("a device may report 1 to 50 people a week, not {0}")]
    PeopleBound(u32),
    #[error(
        "no outcome {0:?}: a retired device was reused_internally, donated, sold_refurbished or recycled"
    )]
    UnknownOutcome(String),
    #[error("retired on {0:?}: expected a date YYYY-MM-DD, not in the future")]
    RetiredOn(String),
    #[error(
        "no department {0:?}: `sobrio-collector token create --department` creates one; \
         `sobrio-collector device list` shows those in use"
    )]
    UnknownDepartment(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Coded for DeviceError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Unknown(_) | Self::UnknownDepartment(_) => ErrorCode::NotFound,
            Self::PeopleBound(_) | Self::UnknownOutcome(_) | Self::RetiredOn(_) => {
                ErrorCode::InvalidArgument
            }
            Self::Store(error) => error.code(),
        }
    }
}

/// Records that a device was retired on `retired_on` (`YYYY-MM-DD`) and
/// where it went (`outcome`, see [`crate::analysis::disposal::Outcome`]);
/// its department, category and first day of use are kept as they are
/// today. The device is revoked (a donated machine still running the agent
/// reports nothing more) and leaves the analysis. Recording it again
/// corrects the record. Audited as `device.retire`.
///
/// # Errors
/// An unknown device or outcome, a date that is not one or in the future,
/// or a store error.
pub async fn retire(
    store: &Store,
    device_id: &str,
    retired_on: &str,
    outcome: &str,
    note: &str,
    actor: &str,
    now_unix_ms: i64,
) -> Result<(), DeviceError> {
    let outcome = crate::analysis::disposal::Outcome::parse(outcome)
        .ok_or_else(|| DeviceError::UnknownOutcome(outcome.to_owned()))?;
    let today = jiff::Timestamp::from_millisecond(now_unix_ms)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
        .map_err(|_| DeviceError::RetiredOn(retired_on.to_owned()))?;
    let date = crate::domain::parse_date(retired_on)
        .filter(|d| *d <= today.saturating_add(jiff::ToSpan::days(1)))
        .ok_or_else(|| DeviceError::RetiredOn(retired_on.to_owned()))?;
    let note: String = note.trim().chars().take(500).collect();
    if !store
        .record_disposal(
            device_id,
            &date.to_string(),
            outcome.name(),
            &note,
            actor,
            now_unix_ms,
        )
        .await?
    {
        return Err(DeviceError::Unknown(device_id.to_owned()));
    }
    store.revoke_device(device_id, now_unix_ms).await?;
    store
        .audit(
            now_unix_ms,
            actor,
            "device.retire",
            device_id,
            &format!("{date} {}", outcome.name()),
        )
        .await?;
    Ok(())
}

/// Every disposal as the analysis reads it.
///
/// # Errors
/// A store error or a stored date or outcome that does not parse.
pub async fn disposals(
    store: &Store,
) -> Result<Vec<crate::analysis::disposal::Disposal>, DeviceError> {
    use crate::analysis::disposal::{Disposal, Outcome};
    let rows = store.disposals().await?;
    let mut disposals = Vec::with_capacity(rows.len());
    for row in rows {
        let corrupt = || StoreError::Corrupt(format!("disposal of {}", row.device_id));
        disposals.push(Disposal {
            category: row.category.clone(),
            first_use: row.first_use.as_deref().and_then(crate::domain::parse_date),
            retired_on: crate::domain::parse_date(&row.retired_on).ok_or_else(corrupt)?,
            outcome: Outcome::parse(&row.outcome).ok_or_else(corrupt)?,
        });
    }
    Ok(disposals)
}

/// The disposal report: per year of retirement, the share of eligible
/// devices that went to reuse, against the target.
///
/// # Errors
/// A store error or a stored date that does not parse.
pub async fn reuse_report(
    store: &Store,
) -> Result<Vec<crate::analysis::disposal::ReuseYear>, DeviceError> {
    Ok(crate::analysis::disposal::reuse_report(
        &disposals(store).await?,
    ))
}

/// Moves a device to another department from now on: its hours of use
/// from today count for the new department (pools, concurrency), its
/// history keeps the old one, and its next reports are filed under the
/// new one. Audited as `device.move`; moving it where it is changes
/// nothing. Returns the department it left (`None`: it was there).
///
/// # Errors
/// An unknown device or department, or a store error.
pub async fn move_to(
    store: &Store,
    device_id: &str,
    department: &str,
    actor: &str,
    now_unix_ms: i64,
) -> Result<Option<String>, DeviceError> {
    let department = department.trim();
    let left = match store
        .move_device(device_id, department, now_unix_ms, actor, "moved by IT")
        .await?
    {
        Move::Moved { from } => from,
        Move::Unchanged => return Ok(None),
        Move::UnknownDevice => return Err(DeviceError::Unknown(device_id.to_owned())),
        Move::UnknownDepartment => {
            return Err(DeviceError::UnknownDepartment(department.to_owned()));
        }
    };
    store
        .audit(
            now_unix_ms,
            actor,
            "device.move",
            device_id,
            &format!("{left} → {department}"),
        )
        .await?;
    Ok(Some(left))
}

/// A device's own embodied footprint as the analysis counts it, with the
/// version of the factor set and its keep-or-replace break-even.
#[derive(Debug, Clone)]
pub struct OwnFootprint {
    /// Pinned in the register, its model's manufacturer data, else its
    /// category's row.
    pub footprint: crate::analysis::embodied::Footprint,
    pub factor_set: String,
    /// Against the device that would replace it, when both use figures are
    /// known.
    pub break_even: Option<crate::analysis::keep::BreakEven>,
}

/// A device's own footprint from the reference data `embodied`; `None` for
/// a device of no category the analysis knows.
///
/// # Errors
/// A configured replacement model not in the data.
pub fn own_footprint(
    identity: &crate::store::DeviceIdentity,
    embodied: &crate::analysis::embodied::Embodied,
    analysis: &crate::analysis::AnalysisSettings,
) -> anyhow::Result<Option<OwnFootprint>> {
    use crate::analysis::{Category, DeviceFacts, device_footprint, footprints, keep};
    let Some((category, with_monitor)) = Category::from_name(&identity.category) else {
        return Ok(None);
    };
    let rows = footprints(embodied);
    let Some(row) = rows.get(&(category, with_monitor)) else {
        return Ok(None);
    };
    let facts = DeviceFacts {
        category: identity.category.clone(),
        vendor: identity.vendor.clone(),
        model: identity.model.clone(),
        model_family: identity.model_family.clone(),
        disk_bytes: identity.disk_bytes,
        pinned_kgco2e: identity.embodied_kgco2e,
        ..DeviceFacts::default()
    };
    let footprint = device_footprint(embodied, row, &facts);
    let replacements = keep::Replacements::resolve(embodied, analysis)?;
    let break_even = keep::BreakEven::of(
        &footprint,
        replacements.of(category, row),
        analysis.grid_kgco2e_per_kwh,
    );
    Ok(Some(OwnFootprint {
        footprint,
        factor_set: embodied.version().to_owned(),
        break_even,
    }))
}

/// Revokes a device: its next call is refused. Audited as `device.revoke`.
///
/// # Errors
/// An unknown device, or a store error.
pub async fn revoke(
    store: &Store,
    device_id: &str,
    actor: &str,
    now_unix_ms: i64,
) -> Result<(), DeviceError> {
    if !store.revoke_device(device_id, now_unix_ms).await? {
        return Err(DeviceError::Unknown(device_id.to_owned()));
    }
    store
        .audit(now_unix_ms, actor, "device.revoke", device_id, "")
        .await?;
    Ok(())
}

/// Erases a device and everything it reported; audited as
/// `device.forget`.
///
/// # Errors
/// An unknown device, or a store error.
pub async fn forget(
    store: &Store,
    device_id: &str,
    actor: &str,
    now_unix_ms: i64,
) -> Result<(), DeviceError> {
    if !store.forget_device(device_id, actor, now_unix_ms).await? {
        return Err(DeviceError::Unknown(device_id.to_owned()));
    }
    Ok(())
}

/// Sets how many people a shared device may report a week (`None`: the
/// configured default); audited as `device.shared`.
///
/// # Errors
/// A bound outside 1 to 50, an unknown device, or a store error.
pub async fn set_people_bound(
    store: &Store,
    device_id: &str,
    max_people: Option<u32>,
    actor: &str,
    now_unix_ms: i64,
) -> Result<(), DeviceError> {
    if let Some(bound) = max_people
        && !(1..=50).contains(&bound)
    {
        return Err(DeviceError::PeopleBound(bound));
    }
    if !store.set_device_max_people(device_id, max_people).await? {
        return Err(DeviceError::Unknown(device_id.to_owned()));
    }
    let bound = max_people.map_or_else(|| "the default".to_owned(), |n| n.to_string());
    store
        .audit(
            now_unix_ms,
            actor,
            "device.shared",
            device_id,
            &format!("max people: {bound}"),
        )
        .await?;
    Ok(())
}
