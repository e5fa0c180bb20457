//! Departments' requests for devices, which reuse suggestions fulfil: one
//! rule for what a request may ask, whoever adds it (the suggestions page
//! or IT's command line).

use crate::analysis::{Category, DeviceRequest};
use crate::domain::DepartmentName;
use crate::error::{Coded, ErrorCode};
use crate::store::{Store, StoreError};

/// Most devices one request asks for.
pub const MAX_QUANTITY: u32 = 1000;
/// Largest memory a request may ask for, in bytes (4096 GB).
pub const MAX_MEMORY_BYTES: i64 = 4096 * 1_000_000_000;
/// Most logical cores a request may ask for.
pub const MAX_LOGICAL_CORES: i64 = 1024;
/// Largest storage a request may ask for, in bytes (100,000 GB).
pub const MAX_STORAGE_BYTES: i64 = 100_000 * 1_000_000_000;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Department(#[from] crate::domain::Invalid),
    #[error("unknown category {0:?}: expected laptop, desktop, tablet or thin_client")]
    Category(String),
    #[error("quantity {0}: expected 1 to {MAX_QUANTITY}")]
    Quantity(u32),
    #[error("{field} {value}: expected 1 to {max}")]
    Minimum {
        field: &'static str,
        value: i64,
        max: i64,
    },
    #[error("no open request #{0}")]
    Unknown(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Coded for RequestError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Department(_) | Self::Category(_) | Self::Quantity(_) | Self::Minimum { .. } => {
                ErrorCode::InvalidArgument
            }
            Self::Unknown(_) => ErrorCode::NotFound,
            Self::Store(error) => error.code(),
        }
    }
}

/// What a department asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub department: String,
    /// A requestable category's name, any case.
    pub category: String,
    pub quantity: u32,
    pub min_memory_bytes: Option<i64>,
    pub min_logical_cores: Option<i64>,
    pub min_storage_bytes: Option<i64>,
}

/// The request as stored, once it keeps the rule.
///
/// # Errors
/// The first value that breaks it.
pub fn checked(request: &NewRequest) -> Result<DeviceRequest, RequestError> {
    let department = DepartmentName::parse(&request.department)?;
    let category = request.category.trim().to_ascii_lowercase();
    if !Category::REQUESTABLE.iter().any(|c| c.name() == category) {
        return Err(RequestError::Category(category));
    }
    if !(1..=MAX_QUANTITY).contains(&request.quantity) {
        return Err(RequestError::Quantity(request.quantity));
    }
    for (field, value, max) in [
        ("minimum memory", request.min_memory_bytes, MAX_MEMORY_BYTES),
        (
            "minimum cores",
            request.min_logical_cores,
            MAX_LOGICAL_CORES,
        ),
        (
            "minimum storage",
            request.min_storage_bytes,
            MAX_STORAGE_BYTES,
        ),
    ] {
        if let Some(value) = value
            && !(1..=max).contains(&value)
        {
            return Err(RequestError::Minimum { field, value, max });
        }
    }
    Ok(DeviceRequest {
        id: 0,
        department: department.into_string(),
        category,
        quantity: request.quantity,
        min_memory_bytes: request.min_memory_bytes,
        min_logical_cores: request.min_logical_cores,
        min_storage_bytes: request.min_storage_bytes,
    })
}

/// Adds a request; returns its id. Audited as `request.add`.
///
/// # Errors
/// A value that breaks the rule, or a store error.
pub async fn add(
    store: &Store,
    request: NewRequest,
    actor: &str,
    now_unix_ms: i64,
) -> Result<i64, RequestError> {
    let request = checked(&request)?;
    Ok(store.add_request(&request, actor, now_unix_ms).await?)
}

/// Closes an open request. Audited as `request.close`.
///
/// # Errors
/// No open request with that id, or a store error.
pub async fn close(
    store: &Store,
    id: i64,
    actor: &str,
    now_unix_ms: i64,
) -> Result<(), RequestError> {
    if !store.close_request(id, actor, now_unix_ms).await? {
        return Err(RequestError::Unknown(id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> NewRequest {
        NewRequest {
            department: "Sales".into(),
            category: "Laptop".into(),
            quantity: 2,
            min_memory_bytes: Some(16_000_000_000),
            min_logical_cores: None,
            min_storage_bytes: None,
        }
    }

    #[test]
    fn a_request_keeps_one_rule() {
        let stored = checked(&request()).unwrap();
        assert_eq!((stored.category.as_str(), stored.quantity), ("laptop", 2));
        let refused = |change: fn(&mut NewRequest)| {
            let mut request = request();
            change(&mut request);
            checked(&request).unwrap_err()
        };
        assert!(matches!(
            refused(|r| r.department = " ".into()),
            RequestError::Department(_)
        ));
        assert!(matches!(
            refused(|r| r.category = "server".into()),
            RequestError::Category(_)
        ));
        assert!(matches!(
            refused(|r| r.quantity = 0),
            RequestError::Quantity(0)
        ));
        assert!(matches!(
            refused(|r| r.quantity = MAX_QUANTITY + 1),
            RequestError::Quantity(_)
        ));
        assert!(matches!(
            refused(|r| r.min_logical_cores = Some(0)),
            RequestError::Minimum { .. }
        ));
        assert!(matches!(
            refused(|r| r.min_storage_bytes = Some(MAX_STORAGE_BYTES + 1)),
            RequestError::Minimum { .. }
        ));
    }
}
