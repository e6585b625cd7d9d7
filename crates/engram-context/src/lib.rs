//! engram's context building, pure and deterministic: the composer that
//! fits a turn's context into a token budget ([`compose`]), the
//! extractive summarizer with vertical templates ([`summary`]) and the
//! summary the AI resumes from after a human handover ([`handover`]).

pub mod compose;
pub mod handover;
pub mod summary;
