//! Prose that fits the output width, and sizes as people read them.
//!
//! Wrapping goes through textwrap: it measures display columns (µ, ✓, →, wide characters in
//! process names), skips the ANSI escapes of coloured labels, and breaks a word longer than
//! the line instead of letting it overflow.

use std::io::{self, Write};

use textwrap::{Options, WordSeparator, WordSplitter};

use super::Style;

/// The columns `text` takes on a terminal, ANSI escapes not counted.
pub(crate) fn display_width(text: &str) -> usize {
    // Printable ASCII (no escape sequence, no control character) is one column a byte: the
    // common case, and a hot one (every cell of a listing of hundreds of thousands of rows).
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.len();
    }
    textwrap::core::display_width(text)
}

/// Writes `text` wrapped to the style's width: the first line starts with `first` (which
/// may be a coloured label), the following ones with `rest`, a hanging indent.
pub(crate) fn wrap(
    out: &mut (impl Write + ?Sized),
    style: Style,
    first: &str,
    rest: &str,
    text: &str,
) -> io::Result<()> {
    wrap_to(out, usize::from(style.width), first, rest, text)
}

/// [`wrap`] at an explicit width.
pub(crate) fn wrap_to(
    out: &mut (impl Write + ?Sized),
    width: usize,
    first: &str,
    rest: &str,
    text: &str,
) -> io::Result<()> {
    for line in wrapped(width, first, rest, text) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The lines of [`wrap_to`], for callers that lay them out themselves.
pub(crate) fn wrapped(width: usize, first: &str, rest: &str, text: &str) -> Vec<String> {
    // Breaking at spaces only keeps paths, sysctl keys, `a/b` pairs and hyphenated words
    // (`--format`, `Send-Q`) whole.
    let options = Options::new(width)
        .initial_indent(first)
        .subsequent_indent(rest)
        .word_separator(WordSeparator::AsciiSpace)
        .word_splitter(WordSplitter::NoHyphenation)
        .break_words(true);
    let lines = textwrap::wrap(text, options);
    if lines.is_empty() {
        // An empty text still prints its label.
        return vec![first.trim_end().to_string()];
    }
    lines
        .into_iter()
        .map(std::borrow::Cow::into_owned)
        .collect()
}

/// A label in bold followed by its wrapped text: `Verdict: …`, continued two columns in.
pub(crate) fn labelled(
    out: &mut (impl Write + ?Sized),
    style: Style,
    label: &str,
    text: &str,
) -> io::Result<()> {
    let first = format!("{} ", super::table::heading(style, label));
    wrap(out, style, &first, "  ", text)
}

/// A heading that may be longer than a line, wrapped, each line styled as a heading.
pub(crate) fn heading(out: &mut (impl Write + ?Sized), style: Style, text: &str) -> io::Result<()> {
    for line in wrapped(usize::from(style.width), "", "", text) {
        writeln!(out, "{}", super::table::heading(style, &line))?;
    }
    Ok(())
}

/// `Note: …` lines, continued two columns in.
pub(crate) fn notes(
    out: &mut (impl Write + ?Sized),
    style: Style,
    notes: &[String],
) -> io::Result<()> {
    for note in notes {
        wrap(out, style, "Note: ", "  ", note)?;
    }
    Ok(())
}

pub use crate::units::human_size;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_of_printable_ascii_is_its_length_and_escapes_take_none() {
        for text in ["", "127.0.0.1:8080", "ESTABLISHED", "nginx/1234"] {
            assert_eq!(display_width(text), text.len());
            assert_eq!(display_width(text), textwrap::core::display_width(text));
        }
        assert_eq!(display_width("\x1b[1mbold\x1b[0m"), 4);
        assert_eq!(display_width("naïve…"), 6);
    }

    #[test]
    fn wrapping_keeps_every_line_within_the_width() {
        let text = "word ".repeat(40) + &"x".repeat(90);
        let lines = wrapped(40, "Verdict: ", "  ", &text);
        assert!(lines.len() > 3);
        assert!(lines[0].starts_with("Verdict: word"));
        assert!(lines[1].starts_with("  word"));
        for line in &lines {
            assert!(display_width(line) <= 40, "too wide: {line:?}");
        }
    }

    #[test]
    fn coloured_labels_do_not_count_towards_the_width() {
        let label = "\u{1b}[1mNote:\u{1b}[0m ";
        let lines = wrapped(20, label, "  ", "aaaa bbbb cccc dddd eeee");
        assert_eq!(lines[0], format!("{label}aaaa bbbb cccc"));
    }
}
