//! One code for every kind of failure, and the status each protocol gives
//! it: the JSON API, the pages and the gRPC services derive their statuses
//! here, so that they cannot disagree. Every error a use case returns says
//! its code ([`Coded`]).

use axum::http::StatusCode;

/// What kind of failure an error is, whatever the adapter that tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed or a value breaks its rule: fix the input.
    InvalidArgument,
    /// What the request names does not exist.
    NotFound,
    /// The request conflicts with the current state (a decision already
    /// taken, a week not published yet).
    Conflict,
    /// No credentials, or credentials not recognised.
    Unauthenticated,
    /// Known caller, not allowed.
    PermissionDenied,
    /// Too many attempts or a bound reached: wait, or ask IT.
    TooManyRequests,
    /// A dependency (the database) cannot answer now: retry later.
    Unavailable,
    /// A fault of the collector's: the log says more, the caller is told
    /// nothing of it.
    Internal,
}

impl ErrorCode {
    /// The HTTP status of this code.
    #[must_use]
    pub const fn http_status(self) -> StatusCode {
        match self {
            Self::InvalidArgument => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC status code of this code.
    #[must_use]
    pub const fn grpc_code(self) -> tonic::Code {
        match self {
            Self::InvalidArgument => tonic::Code::InvalidArgument,
            Self::NotFound => tonic::Code::NotFound,
            Self::Conflict => tonic::Code::FailedPrecondition,
            Self::Unauthenticated => tonic::Code::Unauthenticated,
            Self::PermissionDenied => tonic::Code::PermissionDenied,
            Self::TooManyRequests => tonic::Code::ResourceExhausted,
            Self::Unavailable => tonic::Code::Unavailable,
            Self::Internal => tonic::Code::Internal,
        }
    }

    /// Whether the error's own text may reach the caller: not for faults
    /// of the collector's or of its database, whose text is for the log.
    #[must_use]
    pub const fn tells_caller(self) -> bool {
        !matches!(self, Self::Unavailable | Self::Internal)
    }
}

impl ErrorCode {
    /// What the caller is told of an error whose own text is for the log.
    #[must_use]
    pub const fn general_message(self) -> &'static str {
        match self {
            Self::Unavailable => {
                "the collector's store is unavailable; nothing of this request was kept: \
                 retry later"
            }
            Self::Internal => "internal error; see the collector's log",
            Self::InvalidArgument => "invalid request",
            Self::NotFound => "not found",
            Self::Conflict => "the request conflicts with the current state",
            Self::Unauthenticated => "credentials required",
            Self::PermissionDenied => "not allowed",
            Self::TooManyRequests => "too many requests: wait, then retry",
        }
    }
}

/// A configuration error names the key, the value and what is expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid value {value} for {key}: {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
}

impl ConfigError {
    /// A value refused: its key (relative to its section), the value, what
    /// is expected.
    pub fn invalid(key: &str, value: impl std::fmt::Display, expected: &str) -> Self {
        Self::Invalid {
            key: key.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// The error with its key placed in `section`.
    #[must_use]
    pub fn within(self, section: &str) -> Self {
        match self {
            Self::Invalid {
                key,
                value,
                expected,
            } => Self::Invalid {
                key: format!("{section}.{key}"),
                value,
                expected,
            },
            other => other,
        }
    }

    /// Checks that `value` lies in `range`, else names it.
    ///
    /// # Errors
    /// When it does not.
    pub fn check_range<T: PartialOrd + std::fmt::Display>(
        key: &str,
        value: T,
        range: std::ops::RangeInclusive<T>,
        unit: &str,
    ) -> Result<T, Self> {
        if range.contains(&value) {
            Ok(value)
        } else {
            let unit = if unit.is_empty() {
                String::new()
            } else {
                format!(" {unit}")
            };
            Err(Self::invalid(
                key,
                &value,
                &format!("expected {} to {}{unit}", range.start(), range.end()),
            ))
        }
    }
}

/// An error that says what kind of failure it is.
pub trait Coded: std::error::Error {
    /// Its code.
    fn code(&self) -> ErrorCode;
}

/// What the caller of a failed request is told: the error's own words,
/// or, for a fault of the collector's or of its database, its code's
/// general message (the error goes to the log, here).
pub fn caller_message<E: Coded + ?Sized>(error: &E) -> String {
    let code = error.code();
    if code.tells_caller() {
        error.to_string()
    } else {
        tracing::error!(%error, ?code, "request failed");
        code.general_message().to_owned()
    }
}

/// The gRPC status of a failed call: the error's code, and what the caller
/// is told of it ([`caller_message`]).
pub fn grpc_status<E: Coded + ?Sized>(error: &E) -> tonic::Status {
    tonic::Status::new(error.code().grpc_code(), caller_message(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ErrorCode; 8] = [
        ErrorCode::InvalidArgument,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::TooManyRequests,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Failure {
        code: ErrorCode,
        text: &'static str,
    }

    impl Coded for Failure {
        fn code(&self) -> ErrorCode {
            self.code
        }
    }

    #[test]
    fn the_caller_reads_its_own_mistakes_never_the_collector_s_faults() {
        let told = |code| {
            grpc_status(&Failure {
                code,
                text: "database error: connection refused to 10.0.0.5",
            })
        };
        let mistake = told(ErrorCode::InvalidArgument);
        assert_eq!(mistake.code(), tonic::Code::InvalidArgument);
        assert!(mistake.message().contains("10.0.0.5"));
        for fault in [ErrorCode::Unavailable, ErrorCode::Internal] {
            let status = told(fault);
            assert_eq!(status.code(), fault.grpc_code());
            assert!(!status.message().contains("10.0.0.5"), "{fault:?}");
            assert_eq!(status.message(), fault.general_message());
        }
    }

    #[test]
    fn each_code_has_its_own_statuses_and_only_faults_are_hidden() {
        let http: std::collections::BTreeSet<u16> =
            ALL.iter().map(|c| c.http_status().as_u16()).collect();
        let grpc: std::collections::BTreeSet<i32> =
            ALL.iter().map(|c| c.grpc_code() as i32).collect();
        assert_eq!(http.len(), ALL.len());
        assert_eq!(grpc.len(), ALL.len());
        for code in ALL {
            assert_eq!(
                code.tells_caller(),
                code.http_status().is_client_error(),
                "{code:?}"
            );
        }
    }
}
