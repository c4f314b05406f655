//! Rendering for `sockopt`: being written (issue 5).

use std::io::{self, Write};

use super::Style;
use crate::commands::sockopt::SockoptReport;

pub fn render(report: &SockoptReport, _style: Style, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}", report.command)
}
