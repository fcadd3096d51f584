//! A target's error as every page shows it: one sentence (`connector_api::explain`, the one
//! place that words it), with the full text behind a "Details" toggle.

use connector_api::ConnectorError;
use connector_api::explain::{self, TargetNames};
use store::Integration;

/// An error to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError {
    pub sentence: String,
    /// The full text, when it says more than the sentence.
    pub details: Option<String>,
}

impl TargetError {
    fn from(e: explain::Explained) -> Self {
        Self {
            details: (e.details != e.sentence && !e.details.is_empty()).then_some(e.details),
            sentence: e.sentence,
        }
    }

    /// A recorded error text (an event's, a job's, a link's).
    pub fn of_text(names: TargetNames<'_>, text: &str) -> Self {
        Self::from(explain::explain_text(names, text))
    }

    /// A connector's error, as it happened.
    pub fn of(names: TargetNames<'_>, e: &ConnectorError) -> Self {
        Self::from(explain::explain(names, e))
    }
}

/// What the sentences call `i`'s target.
pub fn names_of(i: &Integration) -> TargetNames<'static> {
    crate::connectors::target_names(&i.connector_kind, &i.settings)
}
