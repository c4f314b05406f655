//! Rendering for `sysctl-advice`: being written (issue 4).

use std::io::{self, Write};

use super::Style;
use crate::commands::sysctl_advice::SysctlReport;

pub fn render(report: &SysctlReport, _style: Style, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}", report.command)
}
