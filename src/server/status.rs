//! The one mapping from the domain error to a gRPC status. No catch-all
//! arm: a new error kind must be given its status on purpose.

use engram_domain::Error;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub fn to_status(error: Error) -> Status {
    let code = match &error {
        Error::InvalidArgument { .. } => Code::InvalidArgument,
        Error::TooLarge { .. } => Code::ResourceExhausted,
        Error::NotFound { .. } => Code::NotFound,
        Error::AlreadyExists(_) => Code::AlreadyExists,
        Error::FailedPrecondition(_) => Code::FailedPrecondition,
        Error::Aborted(_) => Code::Aborted,
        Error::Unavailable { .. } => Code::Unavailable,
        Error::Unimplemented(_) => Code::Unimplemented,
        Error::Internal(_) => Code::Internal,
    };
    if code == Code::Internal {
        tracing::error!(error = %error.redacted(), "internal error");
    }
    let message = capped(error.to_string());
    // The field as data (google.rpc.BadRequest), for clients that act on
    // it in any language, not only in the message.
    let violation = match &error {
        Error::InvalidArgument { field, reason } => Some((field, capped(reason.clone()))),
        Error::TooLarge { field, .. } => Some((field, message.clone())),
        _ => None,
    };
    match violation {
        Some((field, description)) => Status::with_error_details(
            code,
            message,
            ErrorDetails::with_bad_request_violation(field, description),
        ),
        None => Status::new(code, message),
    }
}

/// Longest status message: it travels in a header (grpc-message), and a
/// default client refuses headers past a few kilobytes with an error of its
/// own instead of the status.
const MAX_MESSAGE_BYTES: usize = 1024;

fn capped(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let cases = [
            (Error::invalid("tenant_id", "bad"), Code::InvalidArgument),
            (
                Error::too_large("messages[0].content", 40_000, 32_768),
                Code::ResourceExhausted,
            ),
            (
                Error::NotFound {
                    what: "conversation",
                    id: "c".into(),
                },
                Code::NotFound,
            ),
            (Error::AlreadyExists("x".into()), Code::AlreadyExists),
            (
                Error::FailedPrecondition("x".into()),
                Code::FailedPrecondition,
            ),
            (Error::Aborted("x".into()), Code::Aborted),
            (Error::unavailable("cold store", "down"), Code::Unavailable),
            (Error::Unimplemented("HandoverService"), Code::Unimplemented),
            (Error::Internal("bug".into()), Code::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(to_status(error).code(), code);
        }
        let status = to_status(Error::too_large("messages[0].content", 40_000, 32_768));
        assert_eq!(
            status.message(),
            "messages[0].content is too large: 40000 bytes, the limit is 32768"
        );
        let bad = to_status(Error::invalid("messages[0].role", "is not a role"))
            .get_details_bad_request()
            .expect("a BadRequest detail");
        assert_eq!(bad.field_violations[0].field, "messages[0].role");
        assert_eq!(bad.field_violations[0].description, "is not a role");
        let long = to_status(Error::invalid("x", "é".repeat(5000)));
        assert!(long.message().len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
    }
}
