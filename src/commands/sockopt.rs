//! `sockdoc sockopt`: being written (issue 5).

use serde::Serialize;

use super::Context;
use crate::cli::SockoptArgs;
use crate::exit::Exit;

#[derive(Debug, Serialize)]
pub struct SockoptReport {
    pub command: &'static str,
}

pub fn run(_args: &SockoptArgs, _ctx: &Context) -> anyhow::Result<(SockoptReport, Exit)> {
    anyhow::bail!("sockopt is not available yet")
}
