//! `sockdoc sysctl-advice`: being written (issue 4).

use serde::Serialize;

use super::Context;
use crate::cli::SysctlAdviceArgs;
use crate::exit::Exit;

#[derive(Debug, Serialize)]
pub struct SysctlReport {
    pub command: &'static str,
}

pub fn run(_args: &SysctlAdviceArgs, _ctx: &Context) -> anyhow::Result<(SysctlReport, Exit)> {
    anyhow::bail!("sysctl-advice is not available yet")
}
