//! `roster import` (SPEC §5): NDJSON (one customer per line) or a JSON array,
//! validated record by record while the store writes them, in one
//! transaction. One bad record and nothing is written; the error names it
//! (`line N` or `record N`, 1-based) and says why.
//!
//! Reading and validating run on one thread, the database writes on another,
//! so a large file costs about the slower of the two, not their sum.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::de::{DeserializeSeed, Deserializer, Error as _, SeqAccess, Visitor};
use serde_json::Value;

use crate::domain::CustomerRecord;
use crate::store::{self, ImportError, ImportOutcome, RecordSink, Store};

/// Where a bad record is: NDJSON counts lines, an array counts elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Line(u64),
    Record(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Record(n) => write!(f, "record {n}"),
        }
    }
}

/// Why an import stopped before writing anything.
#[derive(Debug)]
pub enum ReadError {
    BadRecord {
        position: Position,
        reason: String,
    },
    /// The file itself could not be read.
    Io(std::io::Error),
    /// The writer gave up (its own error says why).
    WriterStopped,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::BadRecord { position, reason } => write!(f, "{position}: {reason}"),
            ReadError::Io(e) => write!(f, "reading the file: {e}"),
            ReadError::WriterStopped => f.write_str("the database writer stopped"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Imports `path` (`-` for standard input) into `store`, all or nothing.
pub async fn import_file(store: &dyn Store, path: PathBuf) -> Result<ImportOutcome> {
    let (source, progress) = open_source(&path)?;
    let outcome = store::import_with(store, move |records| read_records(source, records).map(|_| ())).await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    outcome.map_err(|error| match error {
        ImportError::Records(reason) => anyhow::Error::new(reason).context("nothing was imported"),
        // The import's transaction rolled back: say so, whatever broke.
        ImportError::Store(error) => error.context("nothing was imported"),
    })
}

/// Opens the file, with a progress bar on a terminal.
fn open_source(path: &Path) -> Result<(Box<dyn Read + Send>, Option<ProgressBar>)> {
    if path == Path::new("-") {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if !std::io::stderr().is_terminal() || size < 1 << 20 {
        return Ok((Box::new(file), None));
    }
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "importing {bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("a valid template"),
    );
    Ok((Box::new(bar.wrap_read(file)), Some(bar)))
}

/// Reads, validates and sends every record; the format is decided by the
/// first character (`[`: an array, else NDJSON).
pub fn read_records(source: Box<dyn Read + Send>, records: &mut impl RecordSink) -> Result<u64, ReadError> {
    let mut source = BufReader::with_capacity(1 << 16, source);
    let is_array = loop {
        let buffer = source.fill_buf().map_err(ReadError::Io)?;
        let Some(&first) = buffer.first() else {
            return Ok(0);
        };
        let skip = if buffer.starts_with("\u{feff}".as_bytes()) {
            3
        } else if first.is_ascii_whitespace() {
            1
        } else {
            break first == b'[';
        };
        source.consume(skip);
    };
    let mut sink = Sink {
        records,
        count: 0,
        failure: None,
    };
    if is_array {
        read_array(source, &mut sink)?;
    } else {
        read_lines(source, &mut sink)?;
    }
    Ok(sink.count)
}

struct Sink<'a, R> {
    records: &'a mut R,
    count: u64,
    failure: Option<ReadError>,
}

impl<R: RecordSink> Sink<'_, R> {
    fn accept(&mut self, position: Position, value: Value) -> Result<(), ReadError> {
        let record = CustomerRecord::from_json(value).map_err(|e| ReadError::BadRecord { position, reason: e.0 })?;
        self.records.send(record).map_err(|_| ReadError::WriterStopped)?;
        self.count += 1;
        Ok(())
    }
}

fn read_lines(mut source: impl BufRead, sink: &mut Sink<'_, impl RecordSink>) -> Result<(), ReadError> {
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        number += 1;
        let position = Position::Line(number);
        match source.read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(ReadError::BadRecord {
                    position,
                    reason: "not valid UTF-8".into(),
                });
            }
            Err(e) => return Err(ReadError::Io(e)),
        }
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|e| ReadError::BadRecord {
            position,
            reason: format!("invalid JSON: {e}"),
        })?;
        sink.accept(position, value)?;
    }
}

fn read_array(source: impl Read, sink: &mut Sink<'_, impl RecordSink>) -> Result<(), ReadError> {
    let mut deserializer = serde_json::Deserializer::from_reader(source);
    let streamed = ArrayOfRecords { sink: &mut *sink }.deserialize(&mut deserializer);
    if let Some(failure) = sink.failure.take() {
        return Err(failure);
    }
    let (ended, context) = match streamed {
        Ok(()) => (deserializer.end(), "invalid JSON after the array"),
        Err(e) => (Err(e), "invalid JSON"),
    };
    ended.map_err(|e| {
        if e.is_io() {
            ReadError::Io(e.into())
        } else {
            ReadError::BadRecord {
                position: Position::Record(sink.count + 1),
                reason: format!("{context}: {e}"),
            }
        }
    })
}

/// Streams the elements of the top-level array into the sink, one at a time,
/// so a large array never sits in memory whole.
struct ArrayOfRecords<'s, 'a, R> {
    sink: &'s mut Sink<'a, R>,
}

impl<'de, R: RecordSink> DeserializeSeed<'de> for ArrayOfRecords<'_, '_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, R: RecordSink> Visitor<'de> for ArrayOfRecords<'_, '_, R> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of customers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            let position = Position::Record(self.sink.count + 1);
            if let Err(failure) = self.sink.accept(position, value) {
                self.sink.failure = Some(failure);
                return Err(A::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CustomerRecord;

    /// Reads `input` as the importer would, collecting what it would write.
    fn read(input: &str) -> (Result<u64, String>, Vec<String>) {
        let mut records: Vec<CustomerRecord> = Vec::new();
        let outcome =
            read_records(Box::new(std::io::Cursor::new(input.to_owned())), &mut records).map_err(|e| e.to_string());
        (outcome, records.into_iter().map(|record| record.customer_id).collect())
    }

    fn customer(id: &str) -> String {
        format!(
            r#"{{"customerId":"{id}","resellerId":"R1","status":"1000","companyProfile":{{"companyName":"Co {id}"}},"creationDate":"2024-01-02T03:04:05Z"}}"#
        )
    }

    #[test]
    fn ndjson_and_arrays() {
        let ndjson = format!("{}\n\n{}\n", customer("A"), customer("B"));
        assert_eq!(read(&ndjson), (Ok(2), vec!["A".into(), "B".into()]));
        let array = format!("\u{feff} [ {},\n {} ]\n", customer("A"), customer("B"));
        assert_eq!(read(&array), (Ok(2), vec!["A".into(), "B".into()]));
        assert_eq!(read("").0, Ok(0));
        assert_eq!(read("[]").0, Ok(0));
    }

    #[test]
    fn names_the_bad_record() {
        let bad = customer("C").replace("\"1000\"", "\"999\"");
        let ndjson = format!("{}\n\n{bad}\n{}\n", customer("A"), customer("B"));
        assert_eq!(
            read(&ndjson).0,
            Err("line 3: status: must be one of 1000, 1002, 1004, 1010, 1012, 1014, 1026".into())
        );
        let array = format!("[{},{bad}]", customer("A"));
        assert_eq!(
            read(&array).0,
            Err("record 2: status: must be one of 1000, 1002, 1004, 1010, 1012, 1014, 1026".into())
        );
        assert_eq!(
            read(&format!("{}\n{{nope\n", customer("A"))).0,
            Err("line 2: invalid JSON: key must be a string at line 1 column 2".into())
        );
        assert_eq!(
            read(&format!("[{}, {{nope", customer("A"))).0.unwrap_err(),
            "record 2: invalid JSON: key must be a string at line 1 column 135"
        );
        assert_eq!(
            read(&format!("[{}] trailing", customer("A"))).0.unwrap_err(),
            "record 2: invalid JSON after the array: trailing characters at line 1 column 134"
        );
        assert_eq!(read("{\"a\":1}").0.unwrap_err(), "line 1: customerId: is required");
    }
}
