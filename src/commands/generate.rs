//! `completions` and `man`: text generated from sockdoc's own command line, so a shell's
//! completions and the man pages always describe the binary that printed them. The clap
//! definition is handed in by the entry layer (`lib.rs`): commands do not import `cli`.

use anyhow::Context as _;
use clap_complete::Generator;
use serde::Serialize;

use crate::commands::args::{CompletionsArgs, ManArgs};
use crate::exit::{Exit, UsageError};

/// A generated file's text, printed as it is (JSON puts it in `text`).
#[derive(Debug, Serialize)]
pub struct GeneratedText {
    pub kind: GeneratedKind,
    /// The name the file is installed under: `sockdoc.bash`, `_sockdoc` (zsh),
    /// `sockdoc.fish`, `sockdoc.1`, `sockdoc-nagle.1`.
    pub file_name: String,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratedKind {
    /// A shell's completion script.
    Completion,
    /// A man page in roff.
    ManPage,
}

/// The completion script for `args.shell`, from the command line `cli`.
pub fn completions(
    args: &CompletionsArgs,
    mut cli: clap::Command,
) -> anyhow::Result<(GeneratedText, Exit)> {
    let name = cli.get_name().to_owned();
    let mut text = Vec::new();
    clap_complete::generate(args.shell, &mut cli, &name, &mut text);
    let text = String::from_utf8(text).context("the completion script is not UTF-8")?;
    let generated = GeneratedText {
        kind: GeneratedKind::Completion,
        file_name: args.shell.file_name(&name),
        text,
    };
    Ok((generated, Exit::Clean))
}

/// The man page of the command line `cli` (sockdoc.1), or of one of its commands
/// (sockdoc-nagle.1): the top page lists the commands and names their pages.
pub fn man(args: &ManArgs, cli: clap::Command) -> anyhow::Result<(GeneratedText, Exit)> {
    // As clap_mangen::generate_to does: no `help` command (it would name a page nobody
    // ships), and built, so each command knows its page's name (sockdoc-nagle).
    let mut cli = cli.disable_help_subcommand(true);
    cli.build();
    // Every page says which release it documents (a command's page would say only "nagle").
    let source = format!(
        "{} {}",
        cli.get_name(),
        cli.get_version().unwrap_or_default()
    );
    let page = match &args.command {
        None => cli,
        Some(name) => cli.find_subcommand(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = cli.get_subcommands().map(clap::Command::get_name).collect();
            UsageError(format!(
                "invalid value '{name}' for '[COMMAND]': sockdoc has no such command (one of: {})",
                known.join(", ")
            ))
        })?,
    };
    let (page, examples) = for_man(page);
    let man = clap_mangen::Man::new(page).source(source);
    let mut text = Vec::new();
    man.render(&mut text).context("rendering the man page")?;
    let mut text = String::from_utf8(text).context("the man page is not UTF-8")?;
    if let Some(examples) = examples {
        text.push_str(&examples_section(&examples));
    }
    let generated = GeneratedText {
        kind: GeneratedKind::ManPage,
        file_name: man.get_filename(),
        text: ascii_roff(&text),
    };
    Ok((generated, Exit::Clean))
}

/// `page` as a man page shows it well, and its examples apart. In help a line break inside
/// the long description ends a step ("1. Lists …", "2. Reproduces …"); roff fills lines
/// into one paragraph, so each line becomes its own. The `Examples:` block leaves the
/// generic EXTRA section for an EXAMPLES section of its own.
fn for_man(mut page: clap::Command) -> (clap::Command, Option<String>) {
    if let Some(about) = page.get_long_about().map(ToString::to_string) {
        let paragraphs: Vec<&str> = about
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.is_empty())
            .collect();
        page = page.long_about(paragraphs.join("\n\n"));
    }
    let examples = page.get_after_long_help().and_then(|after| {
        after
            .to_string()
            .strip_prefix("Examples:\n")
            .map(str::to_owned)
    });
    if examples.is_some() {
        page = page.after_long_help(None::<&'static str>);
    }
    (page, examples)
}

/// `.SH EXAMPLES`, one command line a line as in help, unfilled so none runs into the next.
fn examples_section(examples: &str) -> String {
    use clap_mangen::roff::{Roff, roman};
    let mut roff = Roff::default();
    roff.control("SH", ["EXAMPLES"]);
    roff.control("nf", []);
    for line in examples.lines() {
        roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
    }
    roff.control("fi", []);
    // The page already defines the apostrophe string every rendering starts with.
    let preamble = Roff::default().render();
    let section = roff.render();
    section
        .strip_prefix(&preamble)
        .unwrap_or(&section)
        .to_owned()
}

/// The page in ASCII: every other character as groff's `\[uXXXX]` escape (which mandoc
/// reads too), so the page renders the same whatever input encoding a formatter assumes
/// (groff without preconv takes bytes as Latin-1).
fn ascii_roff(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            write!(out, "\\[u{:04X}]", u32::from(c)).expect("writing to a String never fails");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::{Arg, Command};
    use clap_complete::Shell;

    use super::*;

    fn cli() -> Command {
        Command::new("tool")
            .version("1.2.3")
            .about("A tool")
            .arg(Arg::new("verbose").long("verbose").num_args(0))
            .subcommand(
                Command::new("fetch")
                    .about("Fetch things")
                    .arg(Arg::new("url")),
            )
    }

    #[test]
    fn completions_name_the_file_each_shell_looks_for() {
        for (shell, file) in [
            (Shell::Bash, "tool.bash"),
            (Shell::Zsh, "_tool"),
            (Shell::Fish, "tool.fish"),
        ] {
            let (generated, exit) = completions(&CompletionsArgs { shell }, cli()).unwrap();
            assert_eq!(exit, Exit::Clean);
            assert_eq!(generated.kind, GeneratedKind::Completion);
            assert_eq!(generated.file_name, file);
            assert!(
                generated.text.contains("fetch"),
                "{shell}: {}",
                generated.text
            );
            assert!(generated.text.contains("verbose"), "{shell}");
        }
    }

    #[test]
    fn the_top_page_names_the_command_pages_and_a_command_has_its_own() {
        let (top, _) = man(&ManArgs { command: None }, cli()).unwrap();
        assert_eq!(
            (top.kind, top.file_name.as_str()),
            (GeneratedKind::ManPage, "tool.1")
        );
        assert!(
            top.text.starts_with(".ie \\n(.g .ds Aq \\(aq"),
            "{}",
            top.text
        );
        assert!(top.text.contains(".TH tool 1"), "{}", top.text);
        assert!(top.text.contains("tool\\-fetch(1)"), "{}", top.text);
        assert!(
            !top.text.contains("tool\\-help"),
            "no page for help: {}",
            top.text
        );

        let (page, _) = man(
            &ManArgs {
                command: Some("fetch".into()),
            },
            cli(),
        )
        .unwrap();
        assert_eq!(page.file_name, "tool-fetch.1");
        assert!(page.text.contains(".TH tool-fetch 1"), "{}", page.text);
    }

    #[test]
    fn an_unknown_command_is_a_usage_error_listing_the_known_ones() {
        let error = man(
            &ManArgs {
                command: Some("fecth".into()),
            },
            cli(),
        )
        .unwrap_err();
        assert_eq!(crate::exit::for_error(&error), Exit::Usage);
        let text = error.to_string();
        assert!(
            text.contains("'fecth'") && text.contains("one of: fetch"),
            "{text}"
        );
    }
}
