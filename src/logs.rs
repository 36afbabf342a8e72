//! Where log lines go: stderr, through a buffer flushed every 100 ms, when
//! 32 KiB have gathered, at once for warnings and errors, and at exit.
//!
//! One access-log line per request written straight to stderr cost a system
//! call each, about a tenth of a busy server's CPU (docs/PERFORMANCE.md);
//! batching them keeps the line and drops most of the cost.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

const FLUSH_EVERY: Duration = Duration::from_millis(100);
const FLUSH_AT_BYTES: usize = 32 * 1024;

/// A [`MakeWriter`] for tracing-subscriber that buffers stderr.
#[derive(Clone)]
pub struct BufferedStderr {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl BufferedStderr {
    /// The process's buffer (and its flushing thread, started once).
    pub fn global() -> Self {
        static BUFFER: OnceLock<BufferedStderr> = OnceLock::new();
        BUFFER
            .get_or_init(|| {
                let writer = BufferedStderr {
                    buffer: Arc::new(Mutex::new(Vec::with_capacity(FLUSH_AT_BYTES * 2))),
                };
                let flusher = writer.clone();
                std::thread::Builder::new()
                    .name("roster-logs".into())
                    .spawn(move || {
                        loop {
                            std::thread::sleep(FLUSH_EVERY);
                            flusher.flush_now();
                        }
                    })
                    .expect("starting the log flusher");
                writer
            })
            .clone()
    }

    /// Writes out whatever is buffered.
    pub fn flush_now(&self) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !buffer.is_empty() {
            // Nothing sensible to do if stderr is gone: drop the lines.
            let _ = io::stderr().lock().write_all(&buffer);
            buffer.clear();
        }
    }
}

/// One event's writer: appends to the buffer; an urgent event flushes it.
pub struct LogLine<'a> {
    buffered: &'a BufferedStderr,
    urgent: bool,
}

impl Write for LogLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut buffer = self
            .buffered
            .buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        buffer.extend_from_slice(bytes);
        if buffer.len() >= FLUSH_AT_BYTES {
            io::stderr().lock().write_all(&buffer)?;
            buffer.clear();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine<'_> {
    fn drop(&mut self) {
        if self.urgent {
            self.buffered.flush_now();
        }
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine {
            buffered: self,
            urgent: true,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LogLine {
            buffered: self,
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_until_flushed() {
        let logs = BufferedStderr {
            buffer: Arc::new(Mutex::new(Vec::new())),
        };
        let mut line = LogLine {
            buffered: &logs,
            urgent: false,
        };
        line.write_all(b"one line\n").unwrap();
        drop(line);
        assert_eq!(logs.buffer.lock().unwrap().as_slice(), b"one line\n");
        logs.flush_now();
        assert!(logs.buffer.lock().unwrap().is_empty());
    }
}
