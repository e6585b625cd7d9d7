//! Validated identifiers. A value of these types has passed validation, so
//! code past the API edge never re-checks, and a tenant id can be placed in
//! an SQL identifier or a key prefix safely.

use std::fmt;

use crate::error::{Error, Result};

/// Longest conversation, user, message or operator id, in bytes.
pub const MAX_ID_LEN: usize = 128;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        // Ids may hold personal data (a phone number as user id): Debug
        // prints the length only, so a stray `?id` in a log leaks nothing.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(<{} bytes>)"), self.0.len())
            }
        }
    };
}

id_type!(
    /// A tenant: `[a-z0-9][a-z0-9_-]{0,60}`, so that its Postgres schema
    /// `t_<tenant>` fits the 63 bytes of an identifier (longer names would
    /// be truncated, and two tenants could share a schema).
    TenantId
);
id_type!(
    /// A conversation id.
    ConversationId
);
id_type!(
    /// A user (end customer) id.
    UserId
);
id_type!(
    /// A message id, unique within its conversation.
    MessageId
);
id_type!(
    /// A fact key: `[A-Za-z0-9_.:-]{1,128}`.
    FactKey
);
id_type!(
    /// A human operator (an attendant, a receptionist, a lawyer).
    OperatorId
);
id_type!(
    /// A handover: server-assigned (UUIDv7).
    HandoverId
);

impl TenantId {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        let ok = (1..=61).contains(&raw.len())
            && raw.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'_' || b == b'-'))
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::invalid(
                field,
                format!(
                    "tenant id {} must match [a-z0-9][a-z0-9_-]{{0,60}}",
                    crate::limits::quoted(raw)
                ),
            ))
        }
    }
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b".:_@+=#/-".contains(&b)
}

fn parse_id(field: &str, raw: &str) -> Result<String> {
    if raw.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if raw.len() > MAX_ID_LEN {
        return Err(Error::invalid(
            field,
            format!("is {} bytes; ids are at most {MAX_ID_LEN}", raw.len()),
        ));
    }
    if !raw.bytes().all(is_id_byte) {
        return Err(Error::invalid(
            field,
            "may only hold the characters [A-Za-z0-9._:@+=#/-]",
        ));
    }
    Ok(raw.to_owned())
}

impl ConversationId {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        parse_id(field, raw).map(Self)
    }
}

impl UserId {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        parse_id(field, raw).map(Self)
    }
}

impl MessageId {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        parse_id(field, raw).map(Self)
    }

    /// A new server-assigned id (UUIDv7: unique and time-ordered).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl OperatorId {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        parse_id(field, raw).map(Self)
    }
}

impl HandoverId {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        parse_id(field, raw).map(Self)
    }

    /// A new id (UUIDv7: unique and time-ordered).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl FactKey {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        let ok = (1..=MAX_ID_LEN).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::invalid(
                field,
                format!("fact key must match [A-Za-z0-9_.:-]{{1,{MAX_ID_LEN}}}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        for ok in ["a", "acme", "clinica-sp_01", "0", &"a".repeat(61)] {
            assert!(TenantId::parse("tenant_id", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "-a",
            "_a",
            "a b",
            "a;drop",
            "é",
            &"a".repeat(62),
            "a.b",
        ] {
            let err = TenantId::parse("tenant_id", bad).unwrap_err();
            assert!(err.to_string().starts_with("tenant_id is invalid"), "{err}");
        }
    }

    #[test]
    fn ids() {
        assert!(ConversationId::parse("c", "wa:+5511999998888/1").is_ok());
        assert!(UserId::parse("u", "joao@email.com").is_ok());
        assert!(UserId::parse("u", "").is_err());
        assert!(UserId::parse("u", "a b").is_err());
        assert!(UserId::parse("u", "{tag}").is_err());
        assert!(UserId::parse("u", &"x".repeat(129)).is_err());
        assert!(FactKey::parse("k", "preferred_time").is_ok());
        assert!(FactKey::parse("k", "a/b").is_err());
    }

    #[test]
    fn a_rejected_tenant_id_is_quoted_by_a_short_prefix() {
        let err = TenantId::parse("tenant_id", &"X".repeat(16_500)).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn debug_hides_the_value() {
        let user = UserId::parse("u", "5511999998888").unwrap();
        assert_eq!(format!("{user:?}"), "UserId(<13 bytes>)");
    }
}
