//! Where log lines go: stderr, through a buffer flushed every 100 ms, when
//! 32 KiB have gathered, at once for warnings and errors, and at exit.
//!
//! One access-log line per request written straight to stderr cost a system
//! call each (docs/PERFORMANCE.md, "Figures the code refers to", "Logs"); batching them keeps the line and drops most of
//! the cost.
//!
//! The access line of a successful request is also formatted here rather
//! than by tracing-subscriber: its generic formatter (Debug-escaping each
//! field, a float for the latency, the timestamp through `Display`) cost a
//! good part of a default page (docs/PERFORMANCE.md, "Figures the code refers to", "Logs"). [`Access`] writes the same
//! line in either format in a fraction of that. Every other event,
//! failed requests included, still goes through tracing.
//!
//! [`chain`] is how an error and its causes read in one line, on stderr
//! and in the logs.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use time::OffsetDateTime;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

const FLUSH_EVERY: Duration = Duration::from_millis(100);
const FLUSH_AT_BYTES: usize = 32 * 1024;

/// The format [`Access`] writes in; unset until logging is set up (as in
/// tests that run a server in-process), and then access lines go through
/// tracing like everything else.
static ACCESS_FORMAT: OnceLock<LogFormat> = OnceLock::new();

pub fn set_access_format(format: LogFormat) {
    let _ = ACCESS_FORMAT.set(format);
}

/// One successful request's access-log line.
pub struct Access<'a> {
    pub method: &'a str,
    pub route: Option<&'a str>,
    pub status: u16,
    pub latency: Duration,
    pub request_id: &'a str,
    pub client_id: Option<&'a str>,
}

impl Access<'_> {
    /// Writes the line, if `ROSTER_LOG` lets `roster::access` log at info.
    pub fn log(&self) {
        if !tracing::enabled!(target: "roster::access", Level::INFO) {
            return;
        }
        let Some(&format) = ACCESS_FORMAT.get() else {
            let Access {
                method,
                route,
                status,
                request_id,
                client_id,
                ..
            } = *self;
            let latency_ms = self.latency.as_secs_f64() * 1000.0;
            tracing::info!(
                target: "roster::access",
                method, route, status, latency_ms, request_id, client_id,
                "request"
            );
            return;
        };
        let mut line = Vec::with_capacity(320);
        self.write(format, OffsetDateTime::now_utc(), &mut line);
        let _ = BufferedStderr::global().line(false).write_all(&line);
    }

    /// The line tracing-subscriber would write for the same event, in
    /// `format`, except that the latency has exactly three decimals. Built
    /// from pieces rather than through `core::fmt`, which alone cost a
    /// microsecond here.
    fn write(&self, format: LogFormat, now: OffsetDateTime, out: &mut Vec<u8>) {
        let json = format == LogFormat::Json;
        let field = |out: &mut Vec<u8>, name: &str| {
            if json {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
            } else {
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                out.push(b'=');
            }
        };
        let string = |out: &mut Vec<u8>, value: &str| {
            if json {
                // Writing to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, value);
            } else {
                quoted(out, value);
            }
        };
        if json {
            out.extend_from_slice(b"{\"timestamp\":\"");
            timestamp(out, now);
            out.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"request\"");
        } else {
            timestamp(out, now);
            out.extend_from_slice(b"  INFO roster::access: request");
        }
        field(out, "method");
        if json {
            string(out, self.method);
        } else {
            out.extend_from_slice(self.method.as_bytes());
        }
        if let Some(route) = self.route {
            field(out, "route");
            string(out, route);
        }
        let mut number = itoa::Buffer::new();
        field(out, "status");
        out.extend_from_slice(number.format(self.status).as_bytes());
        field(out, "latency_ms");
        let micros = self.latency.as_micros();
        out.extend_from_slice(number.format(micros / 1000).as_bytes());
        out.push(b'.');
        padded(out, (micros % 1000) as u32, 3);
        field(out, "request_id");
        string(out, self.request_id);
        if let Some(client_id) = self.client_id {
            field(out, "client_id");
            string(out, client_id);
        }
        out.extend_from_slice(if json {
            b",\"target\":\"roster::access\"}\n"
        } else {
            b"\n"
        });
    }
}

/// `value` as `{:?}` writes it, without the formatting machinery for the
/// usual case of nothing to escape.
fn quoted(out: &mut Vec<u8>, value: &str) {
    // Every byte checked, without stopping at the first that needs escaping
    // (the rare case), so that the check runs over whole vectors of bytes.
    let plain = value.bytes().fold(true, |plain, b| {
        plain & b.is_ascii_graphic() & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        let _ = write!(out, "{value:?}");
    }
}

/// RFC 3339 in UTC with microseconds, as tracing-subscriber writes it.
fn timestamp(out: &mut Vec<u8>, t: OffsetDateTime) {
    padded(out, t.year().clamp(0, 9999) as u32, 4);
    out.push(b'-');
    padded(out, u8::from(t.month()).into(), 2);
    out.push(b'-');
    padded(out, t.day().into(), 2);
    out.push(b'T');
    padded(out, t.hour().into(), 2);
    out.push(b':');
    padded(out, t.minute().into(), 2);
    out.push(b':');
    padded(out, t.second().into(), 2);
    out.push(b'.');
    padded(out, t.microsecond(), 6);
    out.push(b'Z');
}

/// `value`'s last `width` decimal digits, zero-padded.
fn padded(out: &mut Vec<u8>, mut value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    for digit in digits[..width].iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    out.extend_from_slice(&digits[..width]);
}

/// A [`MakeWriter`] for tracing-subscriber that buffers stderr.
#[derive(Clone)]
pub struct BufferedStderr {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl BufferedStderr {
    /// The process's buffer (and its flushing thread, started once),
    /// borrowed: the access log reaches it on every request, and a clone
    /// would be one more contended reference count.
    pub fn global() -> &'static Self {
        static BUFFER: OnceLock<BufferedStderr> = OnceLock::new();
        BUFFER.get_or_init(|| {
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
    }

    /// Writes out whatever is buffered.
    pub fn flush_now(&self) {
        // Nothing sensible to do if stderr is gone: drop the lines.
        let _ = write_out(self.lock());
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.buffer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Writes the buffer's lines to stderr, outside the buffer's lock: other
/// threads keep logging meanwhile rather than sleeping on it (under load
/// the lock was held for each 32 KiB write). stderr is taken before the
/// buffer is let go, so batches still reach it in order.
fn write_out(mut buffer: MutexGuard<'_, Vec<u8>>) -> io::Result<()> {
    if buffer.is_empty() {
        return Ok(());
    }
    let full = std::mem::replace(&mut *buffer, Vec::with_capacity(FLUSH_AT_BYTES * 2));
    let mut stderr = io::stderr().lock();
    drop(buffer);
    stderr.write_all(&full)
}

/// One event's writer: appends to the buffer; an urgent event flushes it.
pub struct LogLine<'a> {
    buffered: &'a BufferedStderr,
    urgent: bool,
}

impl Write for LogLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut buffer = self.buffered.lock();
        buffer.extend_from_slice(bytes);
        if buffer.len() >= FLUSH_AT_BYTES {
            write_out(buffer)?;
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

impl BufferedStderr {
    fn line(&self, urgent: bool) -> LogLine<'_> {
        LogLine { buffered: self, urgent }
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        self.line(true)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        self.line(*meta.level() <= Level::WARN)
    }
}

/// `error` and its causes, joined by ": " as anyhow's `{:#}` joins them,
/// leaving out a cause the line already ends with. Some errors repeat
/// their source's text in their own; deadpool's did, and a refused
/// PostgreSQL connection read "…: error connecting to server: error
/// connecting to server: Connection refused".
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        let said = line
            .strip_suffix(text.as_str())
            .is_some_and(|before| before.is_empty() || before.ends_with(": "));
        if !said {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_says_each_cause_once() {
        #[derive(Debug)]
        struct Level(&'static str, Option<Box<Level>>);
        impl std::fmt::Display for Level {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Level {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|level| level as _)
            }
        }
        let refused = Level(
            "Error occurred while creating a new object: error connecting to server",
            Some(Box::new(Level(
                "error connecting to server",
                Some(Box::new(Level("Connection refused (os error 111)", None))),
            ))),
        );
        let error = anyhow::Error::new(refused).context("connecting to PostgreSQL");
        assert_eq!(
            chain(&*error),
            "connecting to PostgreSQL: Error occurred while creating a new object: \
             error connecting to server: Connection refused (os error 111)"
        );
        assert_eq!(chain(&*anyhow::anyhow!("alone")), "alone");
        let file = anyhow::Error::new(Level("roster.db", None)).context("opening /var/lib/roster.db");
        assert_eq!(
            chain(&*file),
            "opening /var/lib/roster.db: roster.db",
            "only a whole cause is left out"
        );
    }

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

    fn access_line(format: LogFormat, route: Option<&str>, client_id: Option<&str>) -> String {
        let access = Access {
            method: "GET",
            route,
            status: 200,
            latency: Duration::from_micros(1_064),
            request_id: r#"id-"quoted"\"#,
            client_id,
        };
        let mut line = Vec::new();
        access.write(
            format,
            time::macros::datetime!(2026-11-27 04:05:06.000789 UTC),
            &mut line,
        );
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn access_lines_read_like_tracing_subscriber_writes_them() {
        assert_eq!(
            access_line(
                LogFormat::Text,
                Some("/v3/resellers/{reseller_id}/customers"),
                Some("c1")
            ),
            "2026-11-27T04:05:06.000789Z  INFO roster::access: request method=GET \
             route=\"/v3/resellers/{reseller_id}/customers\" status=200 latency_ms=1.064 \
             request_id=\"id-\\\"quoted\\\"\\\\\" client_id=\"c1\"\n"
        );
        assert_eq!(
            access_line(LogFormat::Text, None, None),
            "2026-11-27T04:05:06.000789Z  INFO roster::access: request method=GET status=200 \
             latency_ms=1.064 request_id=\"id-\\\"quoted\\\"\\\\\"\n"
        );
        assert_eq!(
            access_line(LogFormat::Json, Some("/healthz"), Some("c1")),
            r#"{"timestamp":"2026-11-27T04:05:06.000789Z","level":"INFO","message":"request","method":"GET","route":"/healthz","status":200,"latency_ms":1.064,"request_id":"id-\"quoted\"\\","client_id":"c1","target":"roster::access"}"#
                .to_owned()
                + "\n"
        );
        let json: serde_json::Value = serde_json::from_str(&access_line(LogFormat::Json, None, None)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "timestamp": "2026-11-27T04:05:06.000789Z", "level": "INFO", "message": "request",
                "method": "GET", "status": 200, "latency_ms": 1.064, "request_id": "id-\"quoted\"\\",
                "target": "roster::access"
            })
        );
    }
}
