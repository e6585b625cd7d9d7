//! A conversation's summary as stored: its template (the vertical), its
//! items and where each came from, and how it renders. Building one is
//! `engram-context`'s (the extractive summarizer).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::ids::MessageId;
use crate::model::Role;
use crate::time::Timestamp;

/// The template a summary follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vertical {
    General,
    Medical,
    Dental,
    Legal,
}

/// Where an item goes in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Identity,
    History,
    Decisions,
    NextSteps,
    Other,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Identity,
        Section::History,
        Section::Decisions,
        Section::NextSteps,
        Section::Other,
    ];

    pub fn title(self, vertical: Vertical) -> &'static str {
        match (self, vertical) {
            (Section::Identity, _) => "Identity and contact",
            (Section::History, Vertical::Medical) => "Clinical history",
            (Section::History, Vertical::Dental) => "Dental history",
            (Section::History, Vertical::Legal) => "Case facts",
            (Section::History, Vertical::General) => "Background",
            (Section::Decisions, _) => "Decisions and preferences",
            (Section::NextSteps, _) => "Next steps",
            (Section::Other, _) => "Other",
        }
    }
}

/// One kept sentence and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryItem {
    pub message_id: MessageId,
    pub seq: u64,
    pub role: Role,
    pub created_at: Timestamp,
    pub sentence: String,
    pub section: Section,
    pub score: f32,
    /// Tokens (o200k) of the item rendered alone, under its section title:
    /// an upper bound of what it adds to a summary.
    #[serde(default)]
    pub tokens: u32,
}

/// A summary of a conversation's messages `from_seq..=to_seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub vertical: Vertical,
    pub from_seq: u64,
    pub to_seq: u64,
    /// In time order.
    pub items: Vec<SummaryItem>,
    /// Tokens (o200k) of the summarized messages.
    pub source_tokens: u64,
}

impl Summary {
    /// The rendered text: sections in a fixed order, items in time order.
    pub fn text(&self) -> String {
        render(&self.items, self.vertical)
    }

    /// Ids of the messages the summary quotes.
    pub fn sources(&self) -> Vec<MessageId> {
        let mut seen = HashSet::new();
        self.items
            .iter()
            .filter(|i| seen.insert(i.message_id.clone()))
            .map(|i| i.message_id.clone())
            .collect()
    }
}

/// Renders items under their sections' titles.
pub fn render(items: &[SummaryItem], vertical: Vertical) -> String {
    let mut text = String::new();
    for section in Section::ALL {
        let mut lines = items.iter().filter(|i| i.section == section).peekable();
        if lines.peek().is_none() {
            continue;
        }
        text.push_str(section.title(vertical));
        text.push_str(":\n");
        for item in lines {
            text.push_str("- ");
            text.push_str(item.role.as_str());
            text.push_str(" (");
            text.push_str(&item.created_at.to_minute_string()[..10]);
            text.push_str("): ");
            text.push_str(&item.sentence);
            text.push('\n');
        }
    }
    text
}
