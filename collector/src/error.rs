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

/// An error that says what kind of failure it is.
pub trait Coded: std::error::Error {
    /// Its code.
    fn code(&self) -> ErrorCode;
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
