//! Customer-facing text displays (VFD pole displays at a lane, the exit gate's display;
//! docs/DESIGN.md §7–§8): the pure byte encoding of a screen ([`DisplayLayout`]) and a lane's display on its
//! line ([`CustomerDisplay`]).
//!
//! The bytes come from the display's profile in `firmware-config/profiles/displays/`
//! (`kind = "display"`): `commands.init` once (when the display starts), then for every screen
//! `commands.clear`, `commands.home` and the rows, each padded with spaces to `columns` so the
//! display's own wrap moves to the next row (the Epson DM-D overwrite mode; no line feed is
//! sent). Text is encoded in the profile's `encoding`: a character the display cannot show
//! becomes `?`, a control character a space, and a Chinese character takes two columns (GBK /
//! GB18030 displays). A `\t` in a row separates a left label from a right-aligned value
//! ([`row`]).
//!
//! [`CustomerDisplay`] sends a screen over the display's line (a serial port kept open, a file,
//! or TCP) only when it changed. A display that fails does not stop the sale: the error is
//! reported once and retried with the next change.

use std::io::Write;

use encoding_rs::{GB18030, GBK};
use retail_domain::profiles::{DisplayProfile, TextEncoding};

use crate::printer::{PrintError, PrinterSink};

/// A display's layout and command bytes (from its profile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayLayout {
    /// Text rows.
    pub rows: usize,
    /// Columns per row.
    pub columns: usize,
    /// Text encoding.
    pub encoding: TextEncoding,
    /// Sent once when the display starts.
    pub init: Option<Vec<u8>>,
    /// Clears the screen.
    pub clear: Vec<u8>,
    /// Cursor to the top-left position.
    pub home: Vec<u8>,
}

/// A label and a value as one row: [`DisplayLayout::encode_row`] right-aligns the value.
pub fn row(label: &str, value: &str) -> String {
    format!("{label}\t{value}")
}

impl DisplayLayout {
    /// The layout of a display profile.
    pub fn from_profile(profile: &DisplayProfile) -> Self {
        Self {
            rows: usize::from(profile.rows),
            columns: usize::from(profile.columns),
            encoding: profile.encoding,
            init: profile.commands.init.clone(),
            clear: profile.commands.clear.clone(),
            home: profile.commands.home.clone(),
        }
    }

    /// Whether the display shows Chinese (a GBK or GB18030 display).
    pub fn is_chinese(&self) -> bool {
        matches!(self.encoding, TextEncoding::Gbk | TextEncoding::Gb18030)
    }

    /// The bytes of a screen: `init` (when `with_init` and the profile has one), clear, home,
    /// then each of `rows` (at most [`Self::rows`] of them) as [`Self::encode_row`] encodes it.
    pub fn screen(&self, rows: &[String], with_init: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if with_init {
            if let Some(init) = &self.init {
                out.extend_from_slice(init);
            }
        }
        out.extend_from_slice(&self.clear);
        out.extend_from_slice(&self.home);
        for text in rows.iter().take(self.rows) {
            out.extend(self.encode_row(text));
        }
        out
    }

    /// One row of text as exactly [`Self::columns`] bytes: a `\t` separates a left label from a
    /// right-aligned value (the label is cut when both do not fit with a space between them),
    /// the text is cut at the last whole character that fits and padded with spaces.
    pub fn encode_row(&self, text: &str) -> Vec<u8> {
        let line = match text.split_once('\t') {
            Some((left, right)) => {
                let right = self.truncate(right, self.columns);
                let room = self.columns.saturating_sub(self.width(&right) + 1);
                let left = self.truncate(left, room);
                let gap = self
                    .columns
                    .saturating_sub(self.width(&left) + self.width(&right));
                format!("{left}{}{right}", " ".repeat(gap))
            }
            None => text.to_owned(),
        };
        let mut bytes = Vec::with_capacity(self.columns);
        for c in line.chars() {
            let encoded = self.encode_char(c);
            if bytes.len() + encoded.len() > self.columns {
                break;
            }
            bytes.extend_from_slice(&encoded);
        }
        bytes.resize(self.columns, b' ');
        bytes
    }

    /// The text of one encoded row as the display shows it (for simulations and logs).
    pub fn decode_row(&self, row: &[u8]) -> String {
        if self.is_chinese() {
            GB18030.decode(row).0.into_owned()
        } else {
            String::from_utf8_lossy(row).into_owned()
        }
    }

    /// Splits `text` into at most `max_rows` rows of at most [`Self::columns`] display columns,
    /// at spaces where it can (a word longer than a row is cut into row-sized pieces).
    pub fn wrap(&self, text: &str, max_rows: usize) -> Vec<String> {
        let mut rows: Vec<String> = Vec::new();
        let mut current = String::new();
        for word in text.split_whitespace() {
            let candidate = if current.is_empty() {
                word.to_owned()
            } else {
                format!("{current} {word}")
            };
            if self.width(&candidate) <= self.columns {
                current = candidate;
                continue;
            }
            if !current.is_empty() {
                rows.push(std::mem::take(&mut current));
            }
            let mut piece = String::new();
            for c in word.chars() {
                if self.width(&piece) + self.char_width(c) > self.columns {
                    rows.push(std::mem::take(&mut piece));
                }
                piece.push(c);
            }
            current = piece;
        }
        if !current.is_empty() {
            rows.push(current);
        }
        rows.truncate(max_rows);
        rows
    }

    /// Columns `c` takes on the display (its encoded length).
    pub fn char_width(&self, c: char) -> usize {
        self.encode_char(c).len()
    }

    /// Columns `text` takes on the display.
    pub fn width(&self, text: &str) -> usize {
        text.chars().map(|c| self.char_width(c)).sum()
    }

    /// The longest prefix of `text` that fits in `columns`, never splitting a character.
    fn truncate(&self, text: &str, columns: usize) -> String {
        let mut used = 0;
        let mut out = String::new();
        for c in text.chars() {
            let width = self.char_width(c);
            if used + width > columns {
                break;
            }
            used += width;
            out.push(c);
        }
        out
    }

    /// One character in the display's encoding (`?` when it has no such character, a space for
    /// a control character).
    fn encode_char(&self, c: char) -> Vec<u8> {
        if c.is_ascii() {
            return vec![if c.is_ascii_control() { b' ' } else { c as u8 }];
        }
        let encoding = match self.encoding {
            TextEncoding::Gbk => GBK,
            TextEncoding::Gb18030 => GB18030,
            TextEncoding::Ascii | TextEncoding::Cp437 => return vec![b'?'],
        };
        let mut buf = [0u8; 4];
        let (bytes, _, unmappable) = encoding.encode(c.encode_utf8(&mut buf));
        if unmappable {
            vec![b'?']
        } else {
            bytes.into_owned()
        }
    }
}

/// How the display is reached: a serial line kept open for the life of the lane (reopened
/// after a failure), or another sink (file, TCP) written per screen.
enum Line {
    Serial {
        path: String,
        baud: u32,
        port: Option<Box<dyn serialport::SerialPort>>,
    },
    Other(PrinterSink),
}

impl Line {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), PrintError> {
        match self {
            Line::Other(sink) => sink.print(bytes).await,
            Line::Serial { path, baud, port } => {
                let (path, baud, open, bytes) = (path.clone(), *baud, port.take(), bytes.to_vec());
                let (kept, result) = tokio::task::spawn_blocking(move || {
                    let mut port = match open {
                        Some(port) => port,
                        None => match serialport::new(&path, baud)
                            .timeout(std::time::Duration::from_secs(2))
                            .open()
                        {
                            Ok(port) => port,
                            Err(e) => return (None, Err(PrintError::Offline(e.to_string()))),
                        },
                    };
                    let written = port.write_all(&bytes).and_then(|()| port.flush());
                    match written {
                        Ok(()) => (Some(port), Ok(())),
                        // A failed line is closed and opened again with the next screen.
                        Err(e) => (None, Err(PrintError::Offline(e.to_string()))),
                    }
                })
                .await
                .unwrap_or_else(|e| (None, Err(PrintError::Offline(e.to_string()))));
                *port = kept;
                result
            }
        }
    }
}

/// The customer display of a lane (see the [module documentation](self)).
pub struct CustomerDisplay {
    layout: DisplayLayout,
    line: Line,
    shown: Option<Vec<String>>,
    initialised: bool,
    failed: bool,
}

impl CustomerDisplay {
    /// A display with its profile, reached through `sink` (a serial sink is kept open).
    pub fn new(profile: DisplayProfile, sink: PrinterSink) -> Self {
        let line = match sink {
            PrinterSink::Serial { path, baud } => Line::Serial {
                path,
                baud,
                port: None,
            },
            other => Line::Other(other),
        };
        Self {
            layout: DisplayLayout::from_profile(&profile),
            line,
            shown: None,
            initialised: false,
            failed: false,
        }
    }

    /// Shows `rows` unless they are what is shown already. Answers an error only the first time
    /// the display fails (the cashier is told once; it is retried with every change, and a
    /// display that comes back is initialised again).
    pub async fn show(&mut self, rows: Vec<String>) -> Result<(), PrintError> {
        if self.shown.as_ref() == Some(&rows) {
            return Ok(());
        }
        let bytes = self.layout.screen(&rows, !self.initialised);
        match self.line.write(&bytes).await {
            Ok(()) => {
                self.initialised = true;
                self.failed = false;
                self.shown = Some(rows);
                Ok(())
            }
            Err(e) => {
                self.initialised = false;
                if self.failed {
                    Ok(())
                } else {
                    self.failed = true;
                    Err(e)
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use serialport::SerialPort;

    use super::*;

    fn profile() -> DisplayProfile {
        DisplayProfile::from_toml_str(include_str!(
            "../../firmware-config/profiles/displays/vfd-2x20-epson-dmd.toml"
        ))
        .unwrap()
    }

    fn layout() -> DisplayLayout {
        DisplayLayout::from_profile(&profile())
    }

    #[test]
    fn screen_bytes_are_clear_home_and_two_padded_rows() {
        let l = layout();
        let bytes = l.screen(&[row("TOTAL", "123.45"), row("DUE", "3.45")], true);
        let mut expected = vec![0x1B, 0x40, 0x0C, 0x0B];
        expected.extend_from_slice(b"TOTAL         123.45");
        expected.extend_from_slice(b"DUE             3.45");
        assert_eq!(bytes, expected);
        // Without init, and text the display cannot show becomes '?'.
        let bytes = l.screen(&["牛奶 milk".into()], false);
        assert_eq!(&bytes[..2], &[0x0C, 0x0B]);
        assert_eq!(&bytes[2..], format!("{:<20}", "?? milk").as_bytes());
    }

    #[test]
    fn long_rows_are_cut_to_the_width() {
        let l = layout();
        let bytes = l.screen(&[row("A VERY LONG LABEL INDEED", "99999.99")], false);
        assert_eq!(&bytes[2..], b"A VERY LONG 99999.99");
        let bytes = l.screen(&["x".repeat(50), "y".into(), "z".into()], false);
        assert_eq!(bytes.len(), 2 + 40);
    }

    #[test]
    fn a_double_width_character_never_straddles_the_row_end() {
        let l = DisplayLayout {
            encoding: TextEncoding::Gbk,
            ..layout()
        };
        let long = l.wrap("一二三四五六七八九十一", 1);
        assert_eq!(long, vec!["一二三四五六七八九十".to_owned()]);
        // Label and value on a Chinese display: two columns a character.
        let bytes = l.encode_row(&row("合计", "12.30"));
        let mut expected = GBK.encode("合计").0.into_owned();
        expected.extend_from_slice(&[b' '; 11]);
        expected.extend_from_slice(b"12.30");
        assert_eq!(bytes, expected);
        assert_eq!(l.decode_row(&bytes).trim_end(), "合计           12.30");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_customer_display_over_a_serial_line() {
        let profile = profile();
        // A pseudo-terminal pair stands in for the display's serial line.
        let (mut master, slave) = serialport::TTYPort::pair().expect("pty");
        let path = slave.name().expect("name");
        // The display opens the line itself (exclusively, as a real port).
        drop(slave);
        let mut display = CustomerDisplay::new(
            profile.clone(),
            PrinterSink::Serial {
                path: path.clone(),
                baud: 9600,
            },
        );
        let first = vec!["TOTAL\t12.30".to_owned(), "DUE\t2.30".to_owned()];
        let last = vec!["THANK YOU".to_owned(), "CHANGE\t0.00".to_owned()];
        display.show(first.clone()).await.expect("show");
        display.show(first.clone()).await.expect("unchanged");
        display.show(last.clone()).await.expect("show");
        let layout = DisplayLayout::from_profile(&profile);
        let expected = [layout.screen(&first, true), layout.screen(&last, false)].concat();
        let n = expected.len();
        let got = tokio::task::spawn_blocking(move || {
            master
                .set_timeout(Duration::from_secs(10))
                .expect("timeout");
            let mut buf = vec![0u8; n];
            master.read_exact(&mut buf).map(|_| buf)
        })
        .await
        .expect("join")
        .expect("read the display line");
        assert_eq!(
            got, expected,
            "init once, and the unchanged screen not sent again"
        );

        // A display that is not there: the cashier is told once, the lane goes on.
        let mut gone = CustomerDisplay::new(
            profile,
            PrinterSink::Serial {
                path: "/dev/no-such-display".into(),
                baud: 9600,
            },
        );
        assert!(gone.show(first).await.is_err());
        assert!(gone.show(last).await.is_ok(), "reported once");
    }
}
