//! engram's rules: what a message holds and what the law asks of it.
//! The PII detectors ([`pii`]: numbers with their check digits, e-mail,
//! names by gazetteer and cue), fact extraction ([`extract`]),
//! classification, anonymization and the verticals' retention defaults
//! ([`compliance`]). Pure: word lists and rules change here without
//! recompiling a backend.

pub mod compliance;
pub mod extract;
pub mod pii;
