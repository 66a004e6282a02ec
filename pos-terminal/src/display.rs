//! The customer (pole) display facing the shopper: the running total and the amount due, the
//! QR payment's amount while the shopper pays, the change at the end.
//!
//! The display's profile (`firmware-config/profiles/displays/`) gives its size, its text
//! encoding and its command bytes; [`encode_screen`] is the pure encoder (clear, home, each row
//! padded to the width), and [`CustomerDisplay`] sends a screen over the display's line
//! (a serial port kept open, a file, or TCP) only when it changed. A display
//! that fails does not stop the sale: the error is reported once and retried with the next
//! change.

use std::io::Write;

use retail_domain::money::Money;
use retail_domain::profiles::{DisplayProfile, TextEncoding};

use crate::devices::{PrintError, PrinterSink};
use crate::lane::Lane;

/// What the shopper should see now, as the display's rows (before fitting to the width).
pub fn screen_for(lane: &Lane, last_change: Option<Money>) -> Vec<String> {
    if let Some(qr) = lane.pending_qr() {
        return vec!["SCAN QR TO PAY".into(), row("DUE", &qr.amount.to_string())];
    }
    match lane.priced() {
        Some(priced) => vec![
            row("TOTAL", &priced.total.to_string()),
            row("DUE", &lane.due().to_string()),
        ],
        None => match last_change {
            Some(change) => vec!["THANK YOU".into(), row("CHANGE", &change.to_string())],
            None => vec!["WELCOME".into(), String::new()],
        },
    }
}

/// A label and a value; [`encode_screen`] right-aligns the value.
fn row(label: &str, value: &str) -> String {
    format!("{label}\t{value}")
}

/// Encodes a screen: `init` (when `with_init`), clear, home, then each row fitted to the
/// display's width (a `\t` in a row separates a left label from a right-aligned value; text the
/// display's encoding cannot show becomes `?`). At most `rows` rows are sent.
pub fn encode_screen(profile: &DisplayProfile, rows: &[String], with_init: bool) -> Vec<u8> {
    let width = usize::from(profile.columns);
    let mut out = Vec::new();
    if with_init {
        if let Some(init) = &profile.commands.init {
            out.extend_from_slice(init);
        }
    }
    out.extend_from_slice(&profile.commands.clear);
    out.extend_from_slice(&profile.commands.home);
    // Every row is padded to the width: the cursor wraps to the next row after the last
    // column, so no line feed is needed.
    for text in rows.iter().take(usize::from(profile.rows)) {
        out.extend(encode_text(&fit(text, width), profile.encoding));
    }
    out
}

fn fit(text: &str, width: usize) -> String {
    let line = match text.split_once('\t') {
        Some((left, right)) => {
            let right: String = right.chars().take(width).collect();
            let room = width.saturating_sub(right.chars().count() + 1);
            let left: String = left.chars().take(room).collect();
            let gap = width.saturating_sub(left.chars().count() + right.chars().count());
            format!("{left}{}{right}", " ".repeat(gap))
        }
        None => text.to_owned(),
    };
    let mut line: String = line.chars().take(width).collect();
    while line.chars().count() < width {
        line.push(' ');
    }
    line
}

fn encode_text(text: &str, encoding: TextEncoding) -> Vec<u8> {
    match encoding {
        TextEncoding::Ascii | TextEncoding::Cp437 => text
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c as u8
                } else {
                    b'?'
                }
            })
            .collect(),
        TextEncoding::Gbk | TextEncoding::Gb18030 => {
            let (bytes, _, _) = encoding_rs::GB18030.encode(text);
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

/// The customer display of a lane.
pub struct CustomerDisplay {
    profile: DisplayProfile,
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
            profile,
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
        let bytes = encode_screen(&self.profile, &rows, !self.initialised);
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
    use super::*;

    fn profile() -> DisplayProfile {
        DisplayProfile::from_toml_str(include_str!(
            "../../firmware-config/profiles/displays/vfd-2x20-epson-dmd.toml"
        ))
        .unwrap()
    }

    #[test]
    fn screen_bytes_are_clear_home_and_two_padded_rows() {
        let p = profile();
        let bytes = encode_screen(&p, &[row("TOTAL", "123.45"), row("DUE", "3.45")], true);
        let mut expected = vec![0x1B, 0x40, 0x0C, 0x0B];
        expected.extend_from_slice(b"TOTAL         123.45");
        expected.extend_from_slice(b"DUE             3.45");
        assert_eq!(bytes, expected);
        // Without init, and text the display cannot show becomes '?'.
        let bytes = encode_screen(&p, &["牛奶 milk".into()], false);
        assert_eq!(&bytes[..2], &[0x0C, 0x0B]);
        assert_eq!(&bytes[2..], format!("{:<20}", "?? milk").as_bytes());
    }

    #[test]
    fn long_rows_are_cut_to_the_width() {
        let p = profile();
        let bytes = encode_screen(&p, &[row("A VERY LONG LABEL INDEED", "99999.99")], false);
        assert_eq!(&bytes[2..], b"A VERY LONG 99999.99");
        let bytes = encode_screen(&p, &["x".repeat(50), "y".into(), "z".into()], false);
        assert_eq!(bytes.len(), 2 + 40);
    }
}
