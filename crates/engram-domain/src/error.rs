//! The domain error: every failure a caller can see, with what was wrong.

/// A failure of an engram operation.
///
/// Each variant maps to exactly one gRPC status code (see the server's
/// `status` module); messages name the offending field or id and never carry
/// message content, fact values or other personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A request field is malformed.
    #[error("{field} is invalid: {reason}")]
    InvalidArgument { field: String, reason: String },
    /// A request field is over a size limit.
    #[error("{field} is too large: {size} {unit}, the limit is {limit}")]
    TooLarge {
        field: String,
        size: usize,
        limit: usize,
        unit: &'static str,
    },
    /// The thing named does not exist (in this tenant).
    #[error("{what} {id:?} not found")]
    NotFound { what: &'static str, id: String },
    /// A write conflicts with what is stored.
    #[error("{0}")]
    AlreadyExists(String),
    /// The system is not in the state the operation needs.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The operation lost a race with a concurrent one (a conversation
    /// deleted while appended to, again and again); nothing was written,
    /// and retrying may succeed.
    #[error("{0}")]
    Aborted(String),
    /// A backend the operation needs is unreachable; retrying may succeed.
    /// Nothing was acknowledged.
    #[error("{backend} unavailable: {reason}")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    /// The operation is part of the API but not built yet.
    #[error("{0} is not implemented yet")]
    Unimplemented(&'static str),
    /// A bug or corrupted data: not the caller's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A conversation named with a user other than the one it belongs to:
    /// the same refusal whichever call (append, compose) and backend.
    pub fn belongs_to_another_user(conversation: &str) -> Self {
        Self::FailedPrecondition(format!(
            "conversation {conversation:?} belongs to another user"
        ))
    }

    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn too_large(field: impl Into<String>, size: usize, limit: usize) -> Self {
        Self::TooLarge {
            field: field.into(),
            size,
            limit,
            unit: "bytes",
        }
    }

    pub fn too_many(field: impl Into<String>, size: usize, limit: usize) -> Self {
        Self::TooLarge {
            field: field.into(),
            size,
            limit,
            unit: "items",
        }
    }

    pub fn unavailable(backend: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Unavailable {
            backend,
            reason: reason.to_string(),
        }
    }

    /// True for failures of the storage itself, as opposed to a refusal of
    /// this particular request.
    pub fn is_backend_failure(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Internal(_))
    }
}

/// An error as it may appear in logs: the kind and the field, never the
/// ids or values a message may carry.
#[derive(Debug)]
pub struct Redacted<'a>(&'a Error);

impl Error {
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }
}

impl std::fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Error::InvalidArgument { field, .. } => write!(f, "invalid argument: {field}"),
            Error::TooLarge { field, .. } => write!(f, "too large: {field}"),
            Error::NotFound { what, .. } => write!(f, "{what} not found"),
            Error::AlreadyExists(_) => f.write_str("already exists"),
            Error::FailedPrecondition(_) => f.write_str("failed precondition"),
            Error::Aborted(_) => f.write_str("aborted"),
            // Backend errors are about the backend (connection refused, disk
            // full): they carry no request data.
            Error::Unavailable { backend, reason } => write!(f, "{backend} unavailable: {reason}"),
            Error::Unimplemented(what) => write!(f, "{what} is not implemented yet"),
            Error::Internal(reason) => write!(f, "internal error: {reason}"),
        }
    }
}
