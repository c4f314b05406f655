//! The severities every judging command shares (sysctl-advice, inspect), ordered so that
//! `>=` means "at least as serious".

use serde::Serialize;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Level {
    /// A sound value; nothing to do.
    Ok,
    /// Worth knowing; no change needed for this role.
    Info,
    /// A change is suggested.
    Advise,
    /// Harmful or broken: act on it.
    Warn,
}

impl Level {
    pub fn name(self) -> &'static str {
        self.into()
    }
}
