//! `completions` and `man`: the generated text, as it is. Colour and width do not apply: a
//! completion script or a roff page is for a shell or `man`, not for reading here.

use std::io::{self, Write};

use crate::commands::generate::GeneratedText;

pub fn render(generated: &GeneratedText, out: &mut impl Write) -> io::Result<()> {
    out.write_all(generated.text.as_bytes())
}
