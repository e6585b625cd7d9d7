//! E-mail addresses; an office's mailbox is no one's.

use super::{Finding, PiiKind};

// ---------------------------------------------------------------------------
// E-mail addresses.

/// Mailboxes of an office, not of a person ("contato@clinica.com.br",
/// "support@…"): no personal data, as a company's 0800 number is none.
const ROLE_MAILBOXES: &[&str] = &[
    "contato",
    "contact",
    "atendimento",
    "sac",
    "suporte",
    "support",
    "info",
    "noreply",
    "no-reply",
    "financeiro",
    "recepcao",
    "comercial",
    "vendas",
    "sales",
    "help",
    "faleconosco",
    "ouvidoria",
    "agendamento",
    "agendamentos",
    "secretaria",
    "billing",
    "hello",
    "office",
];

pub(super) fn emails(text: &str) -> Vec<Finding> {
    let b = text.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'.';
    let mut out = Vec::new();
    for (at, _) in text.match_indices('@') {
        let mut s = at;
        while s > 0 && local(b[s - 1]) {
            s -= 1;
        }
        while s < at && b[s] == b'.' {
            s += 1;
        }
        let mut e = at + 1;
        while e < b.len() && domain(b[e]) {
            e += 1;
        }
        while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let host = &text[at + 1..e];
        let tld_ok = host.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty() && tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic())
        });
        let role = ROLE_MAILBOXES.contains(&text[s..at].to_ascii_lowercase().as_str());
        if s < at && tld_ok && !host.contains("..") && !role {
            out.push(Finding {
                kind: PiiKind::Email,
                start: s,
                end: e,
                confidence: 0.98,
            });
        }
    }
    out
}
