//! Who may call the administrative RPCs: bearer tokens with scopes, or
//! client certificates (mTLS) whose DNS or URI name is mapped to scopes,
//! from the configuration. The configuration holds only each token's
//! SHA-256 (`engram hash-token` prints it), never the token; no identity
//! is written in the source.

use std::fmt;
use std::str::FromStr;

use ring::digest;

/// What an administrative token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminScope {
    /// ExportSubjectData.
    Export,
    /// EraseSubject.
    Erase,
    /// PutRetentionPolicy, RunRetention, SetLegalHold.
    Retention,
    /// VerifyAuditLog.
    Audit,
    /// GetMemoryStats.
    Stats,
}

impl AdminScope {
    const ALL: [AdminScope; 5] = [
        AdminScope::Export,
        AdminScope::Erase,
        AdminScope::Retention,
        AdminScope::Audit,
        AdminScope::Stats,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdminScope::Export => "export",
            AdminScope::Erase => "erase",
            AdminScope::Retention => "retention",
            AdminScope::Audit => "audit",
            AdminScope::Stats => "stats",
        }
    }
}

/// One `--admin-token`: `NAME:SCOPE+SCOPE:SHA256HEX` (scope `all` for
/// every scope).
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken {
    name: String,
    scopes: Vec<AdminScope>,
    sha256: [u8; 32],
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminToken")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The SHA-256 of a token, hex: what the configuration holds.
pub fn token_hash(token: &str) -> String {
    digest::digest(&digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl FromStr for AdminToken {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (Some(name), Some(scopes), Some(hash)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("expected NAME:SCOPES:SHA256HEX, e.g. dpo:export+erase:<64 hex>".into());
        };
        let (name, list) = name_and_scopes(name, scopes)?;
        let sha256 = hex32(&hash.to_ascii_lowercase()).ok_or_else(|| {
            format!("token {name:?}: the third part must be the token's SHA-256 in hex (engram hash-token)")
        })?;
        Ok(Self {
            name,
            scopes: list,
            sha256,
        })
    }
}

/// A token's or an identity's name and scopes, checked.
fn name_and_scopes(name: &str, scopes: &str) -> Result<(String, Vec<AdminScope>), String> {
    {
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
        {
            return Err(format!("token name {name:?}: 1-64 of [a-z0-9_.-]"));
        }
        let mut list = Vec::new();
        for scope in scopes.split('+') {
            match scope {
                "all" => list.extend(AdminScope::ALL),
                s => list.push(
                    AdminScope::ALL
                        .into_iter()
                        .find(|a| a.as_str() == s)
                        .ok_or_else(|| {
                            format!(
                                "unknown scope {s:?}: export, erase, retention, audit, stats or all"
                            )
                        })?,
                ),
            }
        }
        Ok((name.to_owned(), list))
    }
}

/// One `--admin-identity`: `NAME:SCOPE+SCOPE:CERTNAME`, CERTNAME a DNS or
/// URI subject alternative name of a client certificate the mTLS CA signed
/// (`dpo.ops.example`, `spiffe://clinic/dpo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    name: String,
    scopes: Vec<AdminScope>,
    subject: String,
}

impl FromStr for AdminIdentity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (Some(name), Some(scopes), Some(subject)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(
                "expected NAME:SCOPES:CERTNAME, e.g. dpo:export+erase:dpo.ops.example".into(),
            );
        };
        let (name, scopes) = name_and_scopes(name, scopes)?;
        if subject.is_empty() || subject.contains(char::is_whitespace) {
            return Err(format!(
                "identity {name:?}: the third part is a certificate's DNS or URI name"
            ));
        }
        Ok(Self {
            name,
            scopes,
            subject: subject.to_owned(),
        })
    }
}

/// Why a call was refused, and who made it (for the audit log).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub actor: String,
    pub status: tonic::Status,
}

/// The configured administrative tokens and certificate identities.
#[derive(Debug, Clone, Default)]
pub struct Admins {
    tokens: Vec<AdminToken>,
    identities: Vec<AdminIdentity>,
}

impl Admins {
    pub fn new(tokens: Vec<AdminToken>) -> Self {
        Self::with_identities(tokens, Vec::new())
    }

    pub fn with_identities(tokens: Vec<AdminToken>, identities: Vec<AdminIdentity>) -> Self {
        Self { tokens, identities }
    }

    /// The name of the caller's token — or, without a token, of the
    /// identity its client certificate (`client`, DER, verified by the
    /// mTLS handshake) is mapped to — when it carries `scope`.
    pub fn authorize(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        client: Option<&[u8]>,
        scope: AdminScope,
    ) -> Result<String, Refusal> {
        let refuse = |actor: &str, status| Refusal {
            actor: actor.to_owned(),
            status,
        };
        if self.tokens.is_empty() && self.identities.is_empty() {
            return Err(refuse(
                "anonymous",
                tonic::Status::permission_denied(
                    "administrative calls are disabled: no --admin-token or --admin-identity is configured",
                ),
            ));
        }
        let bearer = metadata.get("authorization").is_some();
        if !bearer && let Some(der) = client {
            return self.authorize_certificate(der, scope);
        }
        let Some(token) = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
        else {
            return Err(refuse(
                "anonymous",
                tonic::Status::unauthenticated(
                    "an administrative call needs `authorization: Bearer <token>`",
                ),
            ));
        };
        let presented = digest::digest(&digest::SHA256, token.trim().as_bytes());
        // Every configured hash is compared, in constant time each.
        let found = self.tokens.iter().fold(None, |found, t| {
            if constant_time_eq(&t.sha256, presented.as_ref()) {
                Some(t)
            } else {
                found
            }
        });
        let Some(found) = found else {
            return Err(refuse(
                "unknown-token",
                tonic::Status::unauthenticated("the bearer token is not a configured admin token"),
            ));
        };
        if !found.scopes.contains(&scope) {
            return Err(refuse(
                &found.name,
                tonic::Status::permission_denied(format!(
                    "token {:?} lacks the {:?} scope",
                    found.name,
                    scope.as_str()
                )),
            ));
        }
        Ok(found.name.clone())
    }

    /// The identity a client certificate's DNS or URI names map to.
    fn authorize_certificate(&self, der: &[u8], scope: AdminScope) -> Result<String, Refusal> {
        let refuse = |actor: &str, status| Refusal {
            actor: actor.to_owned(),
            status,
        };
        let der = rustls_pki_types::CertificateDer::from(der);
        let names: Vec<String> = match webpki::EndEntityCert::try_from(&der) {
            Ok(cert) => cert
                .valid_dns_names()
                .chain(cert.valid_uri_names())
                .map(str::to_owned)
                .collect(),
            Err(_) => Vec::new(),
        };
        let Some(found) = self.identities.iter().find(|i| names.contains(&i.subject)) else {
            return Err(refuse(
                "unknown-certificate",
                tonic::Status::unauthenticated(
                    "the client certificate is no configured admin identity (and no bearer token was sent)",
                ),
            ));
        };
        if !found.scopes.contains(&scope) {
            return Err(refuse(
                &found.name,
                tonic::Status::permission_denied(format!(
                    "identity {:?} lacks the {:?} scope",
                    found.name,
                    scope.as_str()
                )),
            ));
        }
        Ok(found.name.clone())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(token: Option<&str>) -> tonic::metadata::MetadataMap {
        let mut m = tonic::metadata::MetadataMap::new();
        if let Some(t) = token {
            m.insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        m
    }

    #[test]
    fn tokens_parse_and_authorize_by_scope() {
        let spec = format!("dpo:export+erase:{}", token_hash("s3cret"));
        let admins = Admins::new(vec![spec.parse().unwrap()]);
        assert_eq!(
            admins
                .authorize(&metadata(Some("s3cret")), None, AdminScope::Erase)
                .unwrap(),
            "dpo"
        );
        let denied = admins
            .authorize(&metadata(Some("s3cret")), None, AdminScope::Stats)
            .unwrap_err();
        assert_eq!(denied.actor, "dpo");
        assert_eq!(denied.status.code(), tonic::Code::PermissionDenied);
        let wrong = admins
            .authorize(&metadata(Some("guess")), None, AdminScope::Erase)
            .unwrap_err();
        assert_eq!(wrong.status.code(), tonic::Code::Unauthenticated);
        let none = admins
            .authorize(&metadata(None), None, AdminScope::Erase)
            .unwrap_err();
        assert_eq!(none.actor, "anonymous");
        let off = Admins::default()
            .authorize(&metadata(Some("s3cret")), None, AdminScope::Erase)
            .unwrap_err();
        assert_eq!(off.status.code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn bad_specs_are_refused() {
        let hash = token_hash("x");
        for bad in [
            "dpo".to_owned(),
            format!("DPO:all:{hash}"),
            format!("dpo:root:{hash}"),
            "dpo:all:abc".to_owned(),
            format!(":all:{hash}"),
        ] {
            assert!(bad.parse::<AdminToken>().is_err(), "{bad}");
        }
        let all: AdminToken = format!("ops:all:{hash}").parse().unwrap();
        assert_eq!(all.scopes.len(), 5);
        for bad in [
            "dpo:erase",
            "dpo:erase:",
            "DPO:erase:dpo.example",
            "dpo:root:x.example",
        ] {
            assert!(bad.parse::<AdminIdentity>().is_err(), "{bad}");
        }
        let spiffe: AdminIdentity = "dpo:erase:spiffe://clinic/dpo".parse().unwrap();
        assert_eq!(spiffe.subject, "spiffe://clinic/dpo");
    }
}
