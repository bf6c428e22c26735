//! The server's logs: `tracing` to standard error, JSON or text, each event escaped as a whole
//! (`render::log_event`) before it is written.

use super::config::LogFormat;

/// Standard error for the logs, one event at a time: each event is gathered, then written with
/// its hidden characters escaped (`render::log_event`), so a name or message from a pull request
/// cannot split a log line or act on the terminal reading it.
#[derive(Clone, Copy)]
struct VisibleLogs {
    json: bool,
}

struct EventWriter {
    json: bool,
    buf: Vec<u8>,
}

impl std::io::Write for EventWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        use std::io::Write as _;
        if self.buf.is_empty() {
            return;
        }
        let text = crate::render::log_event(&String::from_utf8_lossy(&self.buf), self.json);
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for VisibleLogs {
    type Writer = EventWriter;
    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            json: self.json,
            buf: Vec::new(),
        }
    }
}

pub(super) fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CACHEBUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(VisibleLogs {
            json: matches!(format, LogFormat::Json),
        });
    let _ = match format {
        LogFormat::Json => b
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        // no colour: every ESC in an event is written out
        LogFormat::Text => b.with_ansi(false).try_init(),
    };
}
