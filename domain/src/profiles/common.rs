//! Pieces shared by every profile kind: serial line settings, text encodings, hex byte strings,
//! identifiers, and the error collector used by validation.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{from_toml_error, ProfileError, ProfileErrorKind};

/// The baud rates a profile may use (the standard UART rates).
pub const STANDARD_BAUD_RATES: [u32; 14] = [
    300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
];

/// The kinds of device profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// A barcode / QR scanner on a serial line (`kind = "scanner"`).
    Scanner,
    /// An ESC/POS receipt printer (`kind = "printer"`).
    Printer,
    /// An exit-gate relay board on a serial line (`kind = "gate-relay"`).
    GateRelay,
    /// A customer-facing pole display on a serial line (`kind = "display"`).
    Display,
    /// A counter scale at a lane on a serial line (`kind = "counter-scale"`).
    CounterScale,
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKind::Scanner => "scanner",
            DeviceKind::Printer => "printer",
            DeviceKind::GateRelay => "gate relay",
            DeviceKind::Display => "customer display",
            DeviceKind::CounterScale => "counter scale",
        })
    }
}

/// How a printer may be connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionKind {
    /// A serial line (RS-232 or USB-serial), `/dev/ttyS*`, `/dev/ttyUSB*`.
    Serial,
    /// A USB printer-class device, `/dev/usb/lp*`.
    UsbLp,
    /// Raw TCP, usually port 9100.
    Tcp,
}

impl fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionKind::Serial => "serial",
            ConnectionKind::UsbLp => "usb-lp",
            ConnectionKind::Tcp => "tcp",
        })
    }
}

/// Parity of a serial line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Parity {
    /// No parity bit.
    None,
    /// Even parity.
    Even,
    /// Odd parity.
    Odd,
}

/// Flow control of a serial line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowControl {
    /// No flow control.
    None,
    /// Hardware flow control (RTS/CTS).
    RtsCts,
    /// Software flow control (XON/XOFF).
    XonXoff,
}

/// Validated serial line settings (the `[serial]` table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SerialSettings {
    /// One of [`STANDARD_BAUD_RATES`]. USB-CDC devices ignore it, but the port is still opened
    /// with it.
    pub baud: u32,
    /// 5, 6, 7 or 8.
    pub data_bits: u8,
    /// Parity.
    pub parity: Parity,
    /// 1 or 2.
    pub stop_bits: u8,
    /// Flow control.
    pub flow_control: FlowControl,
}

/// Text encoding a device expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextEncoding {
    /// 7-bit ASCII only.
    Ascii,
    /// IBM code page 437.
    Cp437,
    /// GBK (code page 936).
    Gbk,
    /// GB 18030 (a superset of GBK; what Chinese-market ESC/POS printers call their Chinese mode).
    Gb18030,
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextEncoding::Ascii => "ascii",
            TextEncoding::Cp437 => "cp437",
            TextEncoding::Gbk => "gbk",
            TextEncoding::Gb18030 => "gb18030",
        })
    }
}

impl TextEncoding {
    /// Whether Chinese characters can be sent as text in this encoding.
    pub fn is_chinese(self) -> bool {
        matches!(self, TextEncoding::Gbk | TextEncoding::Gb18030)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSerial {
    baud: u32,
    data_bits: u8,
    parity: Parity,
    stop_bits: u8,
    flow_control: FlowControl,
}

/// Collects every validation error of one document.
pub(super) struct Check<'a> {
    pub(super) file: &'a Path,
    pub(super) errors: Vec<ProfileError>,
}

impl<'a> Check<'a> {
    pub(super) fn new(file: &'a Path) -> Self {
        Self {
            file,
            errors: Vec::new(),
        }
    }

    /// Records an error about `field`.
    pub(super) fn err(&mut self, field: &str, kind: ProfileErrorKind) {
        self.errors.push(ProfileError::new(self.file, field, kind));
    }

    /// `Ok(value)` when nothing was recorded.
    pub(super) fn finish<T>(self, value: T) -> Result<T, Vec<ProfileError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }

    /// Validates a `[serial]` table found at `field`.
    pub(super) fn serial(&mut self, field: &str, raw: &RawSerial) -> SerialSettings {
        if !STANDARD_BAUD_RATES.contains(&raw.baud) {
            self.err(
                &format!("{field}.baud"),
                ProfileErrorKind::BadBaudRate(raw.baud),
            );
        }
        if !(5..=8).contains(&raw.data_bits) {
            self.err(
                &format!("{field}.data_bits"),
                ProfileErrorKind::OutOfRange {
                    value: raw.data_bits.into(),
                    allowed: "5, 6, 7 or 8",
                },
            );
        }
        if !(1..=2).contains(&raw.stop_bits) {
            self.err(
                &format!("{field}.stop_bits"),
                ProfileErrorKind::OutOfRange {
                    value: raw.stop_bits.into(),
                    allowed: "1 or 2",
                },
            );
        }
        SerialSettings {
            baud: raw.baud,
            data_bits: raw.data_bits,
            parity: raw.parity,
            stop_bits: raw.stop_bits,
            flow_control: raw.flow_control,
        }
    }

    /// Parses a hex byte string at `field`; records an error and returns no bytes when bad.
    pub(super) fn hex(&mut self, field: &str, text: &str) -> Vec<u8> {
        match parse_hex_bytes(text) {
            Ok(bytes) => bytes,
            Err(reason) => {
                self.err(
                    field,
                    ProfileErrorKind::BadHex {
                        text: text.to_string(),
                        reason,
                    },
                );
                Vec::new()
            }
        }
    }

    /// Checks what every profile starts with: the `kind` it declares, its `id`, `vendor` and
    /// `model`.
    pub(super) fn header(
        &mut self,
        expected: DeviceKind,
        found: DeviceKind,
        id: &str,
        vendor: &str,
        model: &str,
    ) {
        if found != expected {
            self.err("kind", ProfileErrorKind::WrongKind { expected, found });
        }
        self.id("id", id);
        self.text("vendor", vendor);
        self.text("model", model);
    }

    /// Checks a profile id at `field`: well formed, and equal to the file name.
    pub(super) fn id(&mut self, field: &str, id: &str) {
        if let Err(reason) = validate_id(id) {
            self.err(
                field,
                ProfileErrorKind::BadName {
                    value: id.to_string(),
                    what: "profile id",
                    reason,
                },
            );
        } else {
            self.matches_file_name(field, id);
        }
    }

    /// Checks that `value` equals the file name without `.toml` (not for text parsed with
    /// `from_toml_str`).
    pub(super) fn matches_file_name(&mut self, field: &str, value: &str) {
        if self.file == Path::new(super::INLINE) {
            return;
        }
        let stem = self
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if stem != value {
            self.err(
                field,
                ProfileErrorKind::NameMismatch {
                    value: value.to_string(),
                    expected: stem,
                },
            );
        }
    }

    /// Checks that a descriptive text (vendor, model name) is not blank.
    pub(super) fn text(&mut self, field: &str, text: &str) {
        if text.trim().is_empty() {
            self.err(field, ProfileErrorKind::Invalid("must not be empty".into()));
        }
    }

    /// Checks a number against an inclusive range.
    pub(super) fn range(
        &mut self,
        field: &str,
        value: u32,
        range: std::ops::RangeInclusive<u32>,
        allowed: &'static str,
    ) {
        if !range.contains(&value) {
            self.err(
                field,
                ProfileErrorKind::OutOfRange {
                    value: value.into(),
                    allowed,
                },
            );
        }
    }
}

/// Parses bytes written as two-digit hex numbers separated by spaces, e.g. `"1D 56 42 00"`.
///
/// Case does not matter; at least one and at most 256 bytes.
pub fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for token in text.split_whitespace() {
        if token.len() != 2 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{token}` is not a two-digit hex byte"));
        }
        let byte = u8::from_str_radix(token, 16).map_err(|e| e.to_string())?;
        bytes.push(byte);
    }
    if bytes.is_empty() {
        return Err("no bytes given".into());
    }
    if bytes.len() > 256 {
        return Err(format!("{} bytes, at most 256 allowed", bytes.len()));
    }
    Ok(bytes)
}

/// Formats bytes as `"1D 56 42 00"` (the inverse of [`parse_hex_bytes`]).
pub fn format_hex_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a profile id: 1–64 characters of `[a-z0-9-]`, starting with a letter or digit.
pub fn validate_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > 64 {
        return Err("must be 1–64 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may only contain a–z, 0–9 and '-'");
    }
    if id.starts_with('-') {
        return Err("must start with a letter or digit");
    }
    Ok(())
}

/// Deserialises a raw document, mapping TOML errors to a located [`ProfileError`].
pub(super) fn parse_raw<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<T, Vec<ProfileError>> {
    toml::from_str(text).map_err(|e| vec![from_toml_error(file, text, &e)])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hex_bytes_round_trip_and_reject_bad_text() {
        assert_eq!(
            parse_hex_bytes("1d 56 42 00").unwrap(),
            vec![0x1D, 0x56, 0x42, 0x00]
        );
        assert_eq!(
            format_hex_bytes(&[0x1B, 0x70, 0x00, 0x19, 0xFA]),
            "1B 70 00 19 FA"
        );
        assert!(parse_hex_bytes("").is_err());
        assert!(parse_hex_bytes("1D56").is_err());
        assert!(parse_hex_bytes("1G").is_err());
        assert!(parse_hex_bytes("0x1D").is_err());
        assert!(parse_hex_bytes("+1").is_err());
        assert!(parse_hex_bytes(&"00 ".repeat(257)).is_err());
    }

    #[test]
    fn ids() {
        assert!(validate_id("epson-tm-t88v").is_ok());
        assert!(validate_id("Epson").is_err());
        assert!(validate_id("-x").is_err());
        assert!(validate_id("").is_err());
        assert!(validate_id("a b").is_err());
    }
}
