//! `sockdoc nagle`: being written (issue 3).

use serde::Serialize;

use super::Context;
use crate::cli::NagleArgs;
use crate::exit::Exit;

#[derive(Debug, Serialize)]
pub struct NagleReport {
    pub command: &'static str,
}

pub fn run(_args: &NagleArgs, _ctx: &Context) -> anyhow::Result<(NagleReport, Exit)> {
    anyhow::bail!("nagle is not available yet")
}
