//! Customer (pole) display profiles (`kind = "display"`).

use std::path::Path;

use serde::Deserialize;

use super::common::{parse_raw, Check, RawSerial};
use super::{DeviceKind, ProfileError, SerialSettings, TextEncoding, INLINE};

/// Display command bytes (the `[commands]` table).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DisplayCommands {
    /// Sent once after opening the port (e.g. `ESC @`), if the display needs it.
    pub init: Option<Vec<u8>>,
    /// Clears the screen.
    pub clear: Vec<u8>,
    /// Moves the cursor to the top-left position.
    pub home: Vec<u8>,
}

/// A validated customer display profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayProfile {
    /// Profile id (equal to the file name without `.toml`), referenced by inventories.
    pub id: String,
    /// Manufacturer.
    pub vendor: String,
    /// Model name.
    pub model: String,
    /// Free-text notes.
    pub notes: Option<String>,
    /// Text rows (1–4).
    pub rows: u8,
    /// Characters per row (8–40).
    pub columns: u8,
    /// Encoding of text sent to the display.
    pub encoding: TextEncoding,
    /// Serial line settings.
    pub serial: SerialSettings,
    /// Command bytes.
    pub commands: DisplayCommands,
}

impl DisplayProfile {
    /// Parses and validates a customer display profile (all problems, not just the first).
    pub fn from_toml_str(text: &str) -> Result<Self, Vec<ProfileError>> {
        Self::parse(Path::new(INLINE), text)
    }

    pub(super) fn parse(file: &Path, text: &str) -> Result<Self, Vec<ProfileError>> {
        let raw: RawDisplay = parse_raw(file, text)?;
        let mut check = Check::new(file);
        check.header(
            DeviceKind::Display,
            raw.kind,
            &raw.id,
            &raw.vendor,
            &raw.model,
        );
        check.range("rows", raw.rows.into(), 1..=4, "1 to 4");
        check.range("columns", raw.columns.into(), 8..=40, "8 to 40");
        let serial = check.serial("serial", &raw.serial);
        let commands = DisplayCommands {
            init: raw
                .commands
                .init
                .as_deref()
                .map(|t| check.hex("commands.init", t)),
            clear: check.hex("commands.clear", &raw.commands.clear),
            home: check.hex("commands.home", &raw.commands.home),
        };
        check.finish(DisplayProfile {
            id: raw.id,
            vendor: raw.vendor,
            model: raw.model,
            notes: raw.notes,
            rows: raw.rows,
            columns: raw.columns,
            encoding: raw.encoding,
            serial,
            commands,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisplay {
    kind: DeviceKind,
    id: String,
    vendor: String,
    model: String,
    notes: Option<String>,
    rows: u8,
    columns: u8,
    encoding: TextEncoding,
    serial: RawSerial,
    commands: RawCommands,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommands {
    init: Option<String>,
    clear: String,
    home: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) mod tests {
    use super::*;
    use crate::profiles::error::ProfileErrorKind;

    pub(crate) const GOOD: &str = r#"
kind = "display"
id = "test-display"
vendor = "Acme"
model = "VFD 2x20"
rows = 2
columns = 20
encoding = "ascii"

[serial]
baud = 9600
data_bits = 8
parity = "none"
stop_bits = 1
flow_control = "none"

[commands]
init = "1B 40"
clear = "0C"
home = "0B"
"#;

    fn one(text: &str) -> ProfileError {
        let errors = DisplayProfile::from_toml_str(text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn good_profile_parses() {
        let p = DisplayProfile::from_toml_str(GOOD).unwrap();
        assert_eq!((p.rows, p.columns), (2, 20));
        assert_eq!(p.commands.clear, [0x0C]);
        assert_eq!(p.commands.init.as_deref(), Some(&[0x1B, 0x40][..]));
    }

    #[test]
    fn bad_values() {
        let e = one(&GOOD.replace("clear = \"0C\"", "clear = \"FF0C\""));
        assert_eq!(e.field.as_deref(), Some("commands.clear"));
        assert!(matches!(e.kind, ProfileErrorKind::BadHex { .. }));
        let e = one(&GOOD.replace("columns = 20", "columns = 80"));
        assert_eq!(e.field.as_deref(), Some("columns"));
        let e = one(&GOOD.replace("encoding = \"ascii\"", "encoding = \"utf-8\""));
        assert_eq!(e.field.as_deref(), Some("encoding"));
        let e = one(&GOOD.replace("stop_bits = 1", "stop_bits = 0"));
        assert_eq!(e.field.as_deref(), Some("serial.stop_bits"));
        let e = one(&GOOD.replace("home = \"0B\"", "home = \"0B\"\nbeep = \"07\""));
        assert_eq!(e.field.as_deref(), Some("commands.beep"));
        assert!(matches!(e.kind, ProfileErrorKind::UnknownField { .. }));
    }
}
