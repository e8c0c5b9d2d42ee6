//! Where output goes: lines on standard output or into a file, a closed pipe ending the
//! command quietly; events as one line each for people; progress bars on standard error.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use staticbus_store::StoredEvent;

use crate::error::Failure;

/// A line-oriented output: standard output (a closed pipe is a quiet success) or a file
/// (an error naming it).
pub(crate) struct Out {
    name: String,
    stdout: bool,
    writer: Box<dyn Write>,
}

impl Out {
    /// Standard output, buffered (flushed by [`flush`](Out::flush) and at the end).
    pub(crate) fn stdout() -> Out {
        Out {
            name: "standard output".to_owned(),
            stdout: true,
            writer: Box::new(BufWriter::new(io::stdout())),
        }
    }

    /// The file at `path`, created or truncated.
    pub(crate) fn file(path: &Path) -> Result<Out, Failure> {
        let name = path.display().to_string();
        let file = File::create(path).map_err(|e| Failure::io(&name, "create", &e))?;
        Ok(Out {
            name,
            stdout: false,
            writer: Box::new(BufWriter::new(file)),
        })
    }

    /// Whether this is standard output and that is a terminal.
    pub(crate) fn is_terminal(&self) -> bool {
        self.stdout && io::stdout().is_terminal()
    }

    /// Writes `line` and a newline.
    pub(crate) fn line(&mut self, line: &str) -> Result<(), Failure> {
        let written = self
            .writer
            .write_all(line.as_bytes())
            .and_then(|()| self.writer.write_all(b"\n"));
        written.map_err(|e| self.failure(&e))
    }

    /// Writes out what is buffered.
    pub(crate) fn flush(&mut self) -> Result<(), Failure> {
        self.writer.flush().map_err(|e| self.failure(&e))
    }

    fn failure(&self, error: &io::Error) -> Failure {
        if self.stdout && error.kind() == io::ErrorKind::BrokenPipe {
            Failure::pipe_closed()
        } else {
            Failure::io(&self.name, "write to", error)
        }
    }
}

/// A progress bar on standard error for `total` steps (`None`: unknown, a spinner), drawn
/// only when standard error is a terminal, `--json` is not given and `data_on_terminal`
/// (the command's own output going to the same terminal) is false; hidden otherwise.
pub(crate) fn progress(
    total: Option<u64>,
    what: &str,
    json: bool,
    data_on_terminal: bool,
) -> ProgressBar {
    if json || data_on_terminal || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let template = match total {
        Some(_) => "{msg} [{bar:40}] {pos}/{len} ({eta})",
        None => "{msg} {spinner} {pos}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// An event on one line for people: position, stream@revision, topic, time, id, payload.
pub(crate) fn event_line(event: &StoredEvent) -> String {
    format!(
        "{:>8}  {}@{}  {}  {}  {}  {}",
        event.position,
        event.stream,
        event.revision,
        event.topic,
        event.timestamp,
        event.id,
        payload_preview(&event.payload)
    )
}

/// The payload as text if it is short printable UTF-8, else its size.
fn payload_preview(payload: &[u8]) -> String {
    const MAX: usize = 120;
    match std::str::from_utf8(payload) {
        Ok("") => "<empty>".to_owned(),
        Ok(text) if !text.chars().any(char::is_control) => {
            if text.chars().count() <= MAX {
                text.to_owned()
            } else {
                let cut: String = text.chars().take(MAX - 3).collect();
                format!("{cut}... ({} bytes)", payload.len())
            }
        }
        _ => format!("<{} bytes>", payload.len()),
    }
}
