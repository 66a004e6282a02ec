//! Barcode / QR scanner profiles (`kind = "scanner"`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::{parse_raw, Check, RawSerial};
use super::error::ProfileErrorKind;
use super::{DeviceKind, ProfileError, SerialSettings, INLINE};

/// How the scanner is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScannerInterface {
    /// USB in CDC-ACM ("USB serial emulation") mode, `/dev/ttyACM*`.
    UsbCdc,
    /// RS-232, usually through a USB-serial adapter, `/dev/ttyUSB*` or `/dev/ttyS*`.
    Rs232,
}

/// The bytes that end each scanned frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FrameSuffix {
    /// Carriage return (`0D`).
    #[serde(rename = "cr")]
    Cr,
    /// Line feed (`0A`).
    #[serde(rename = "lf")]
    Lf,
    /// Carriage return then line feed (`0D 0A`).
    #[serde(rename = "crlf")]
    CrLf,
}

impl FrameSuffix {
    /// The suffix bytes.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            FrameSuffix::Cr => b"\r",
            FrameSuffix::Lf => b"\n",
            FrameSuffix::CrLf => b"\r\n",
        }
    }
}

/// A barcode symbology, as named by an AIM symbology identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Symbology {
    /// EAN-13 (and UPC-A sent as 13 digits), AIM `]E0`.
    Ean13,
    /// EAN-8, AIM `]E4`.
    Ean8,
    /// UPC-A.
    UpcA,
    /// UPC-E.
    UpcE,
    /// Code 128, AIM `]C0`.
    Code128,
    /// GS1-128 (Code 128 with FNC1 first), AIM `]C1`.
    Gs1_128,
    /// Code 39, AIM `]A0`.
    Code39,
    /// Code 93, AIM `]G0`.
    Code93,
    /// Interleaved 2 of 5, AIM `]I0`.
    Itf,
    /// Codabar, AIM `]F0`.
    Codabar,
    /// QR Code (model 2), AIM `]Q1`.
    Qr,
    /// Data Matrix, AIM `]d1`.
    DataMatrix,
    /// PDF417, AIM `]L0`.
    Pdf417,
    /// GS1 DataBar, AIM `]e0`.
    Gs1Databar,
}

/// Frame settings (the `[frame]` table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameSettings {
    /// What ends each frame.
    pub suffix: FrameSuffix,
    /// The longest frame accepted, in bytes, without the suffix (longer input is garbage).
    pub max_length: u32,
}

/// AIM symbology identifier settings (the `[aim]` table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AimSettings {
    /// Whether every frame starts with a three-character AIM identifier (`]E0` …).
    pub enabled: bool,
    /// Which identifier means which symbology (empty when `enabled` is false).
    pub ids: BTreeMap<String, Symbology>,
}

/// A validated scanner profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannerProfile {
    /// Profile id (equal to the file name without `.toml`), referenced by inventories.
    pub id: String,
    /// Manufacturer.
    pub vendor: String,
    /// Model name as printed on the device.
    pub model: String,
    /// Free-text notes (how the scanner is programmed, …).
    pub notes: Option<String>,
    /// How the scanner is attached.
    pub interface: ScannerInterface,
    /// Serial line settings.
    pub serial: SerialSettings,
    /// Frame suffix and length limit.
    pub frame: FrameSettings,
    /// AIM identifiers.
    pub aim: AimSettings,
}

impl ScannerProfile {
    /// Parses and validates a scanner profile (all problems, not just the first).
    pub fn from_toml_str(text: &str) -> Result<Self, Vec<ProfileError>> {
        Self::parse(Path::new(INLINE), text)
    }

    pub(super) fn parse(file: &Path, text: &str) -> Result<Self, Vec<ProfileError>> {
        let raw: RawScanner = parse_raw(file, text)?;
        let mut check = Check::new(file);
        check.header(
            DeviceKind::Scanner,
            raw.kind,
            &raw.id,
            &raw.vendor,
            &raw.model,
        );
        let serial = check.serial("serial", &raw.serial);
        check.range(
            "frame.max_length",
            raw.frame.max_length,
            16..=8192,
            "16 to 8192 bytes",
        );
        for id in raw.aim.ids.keys() {
            if !is_aim_id(id) {
                check.err(
                    &format!("aim.ids.\"{id}\""),
                    ProfileErrorKind::BadName {
                        value: id.clone(),
                        what: "AIM symbology identifier",
                        reason: "must be `]`, a letter and a digit or letter, like `]E0` or `]d1`",
                    },
                );
            }
        }
        if raw.aim.enabled && raw.aim.ids.is_empty() {
            check.err(
                "aim.ids",
                ProfileErrorKind::Invalid(
                    "AIM identifiers are enabled but none is mapped to a symbology".into(),
                ),
            );
        }
        if !raw.aim.enabled && !raw.aim.ids.is_empty() {
            check.err(
                "aim.ids",
                ProfileErrorKind::Invalid(
                    "identifiers are mapped but `aim.enabled` is false (the scanner sends none)"
                        .into(),
                ),
            );
        }
        check.finish(ScannerProfile {
            id: raw.id,
            vendor: raw.vendor,
            model: raw.model,
            notes: raw.notes,
            interface: raw.interface,
            serial,
            frame: FrameSettings {
                suffix: raw.frame.suffix,
                max_length: raw.frame.max_length,
            },
            aim: AimSettings {
                enabled: raw.aim.enabled,
                ids: raw.aim.ids,
            },
        })
    }

    /// The symbology named by an AIM identifier (`"]E0"`), if the profile maps it.
    pub fn symbology(&self, aim_id: &str) -> Option<Symbology> {
        self.aim.ids.get(aim_id).copied()
    }
}

/// `]` + a letter + a letter or digit.
fn is_aim_id(id: &str) -> bool {
    matches!(id.as_bytes(), [b']', c, m] if c.is_ascii_alphabetic() && m.is_ascii_alphanumeric())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScanner {
    kind: DeviceKind,
    id: String,
    vendor: String,
    model: String,
    notes: Option<String>,
    interface: ScannerInterface,
    serial: RawSerial,
    frame: RawFrame,
    aim: RawAim,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrame {
    suffix: FrameSuffix,
    max_length: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAim {
    enabled: bool,
    #[serde(default)]
    ids: BTreeMap<String, Symbology>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) mod tests {
    use super::*;

    pub(crate) const GOOD: &str = r#"
kind = "scanner"
id = "test-scanner"
vendor = "Acme"
model = "S1"
interface = "usb-cdc"

[serial]
baud = 115200
data_bits = 8
parity = "none"
stop_bits = 1
flow_control = "none"

[frame]
suffix = "cr"
max_length = 512

[aim]
enabled = true
ids = { "]E0" = "ean13", "]E4" = "ean8", "]Q1" = "qr", "]C0" = "code128" }
"#;

    fn errors(text: &str) -> Vec<ProfileError> {
        ScannerProfile::from_toml_str(text).unwrap_err()
    }

    fn one(text: &str) -> ProfileError {
        let errors = errors(text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn good_profile_parses() {
        let p = ScannerProfile::from_toml_str(GOOD).unwrap();
        assert_eq!(p.id, "test-scanner");
        assert_eq!(p.serial.baud, 115200);
        assert_eq!(p.frame.suffix.bytes(), b"\r");
        assert_eq!(p.symbology("]Q1"), Some(Symbology::Qr));
        assert_eq!(p.symbology("]E0"), Some(Symbology::Ean13));
        assert_eq!(p.symbology("]X0"), None);
    }

    #[test]
    fn bad_baud_rate() {
        let e = one(&GOOD.replace("baud = 115200", "baud = 115201"));
        assert_eq!(e.field.as_deref(), Some("serial.baud"));
        assert_eq!(e.kind, ProfileErrorKind::BadBaudRate(115201));
        assert!(e.to_string().contains("not a standard rate"), "{e}");
    }

    #[test]
    fn missing_field_is_named_with_its_table() {
        let e = one(&GOOD.replace("parity = \"none\"\n", ""));
        assert_eq!(e.field.as_deref(), Some("serial.parity"));
        assert_eq!(e.kind, ProfileErrorKind::MissingField);
        assert_eq!(e.line, Some(8));
        let e = one(&GOOD.replace("vendor = \"Acme\"\n", ""));
        assert_eq!(e.field.as_deref(), Some("vendor"));
        assert_eq!(e.kind, ProfileErrorKind::MissingField);
    }

    #[test]
    fn unknown_field_is_refused() {
        let e = one(&GOOD.replace("max_length = 512", "max_length = 512\nprefix = \"\""));
        assert_eq!(e.field.as_deref(), Some("frame.prefix"));
        assert!(matches!(e.kind, ProfileErrorKind::UnknownField { .. }));
    }

    #[test]
    fn bad_enum_words() {
        let e = one(&GOOD.replace("suffix = \"cr\"", "suffix = \"tab\""));
        assert_eq!(e.field.as_deref(), Some("frame.suffix"));
        assert!(matches!(e.kind, ProfileErrorKind::BadValue(_)));
        let e = one(&GOOD.replace("\"]Q1\" = \"qr\"", "\"]Q1\" = \"qr-code\""));
        assert_eq!(e.field.as_deref(), Some("aim.ids.\"]Q1\""));
        let e = one(&GOOD.replace("parity = \"none\"", "parity = \"mark\""));
        assert_eq!(e.field.as_deref(), Some("serial.parity"));
    }

    #[test]
    fn bad_serial_numbers_are_all_reported() {
        let errors = errors(
            &GOOD
                .replace("data_bits = 8", "data_bits = 9")
                .replace("stop_bits = 1", "stop_bits = 3")
                .replace("baud = 115200", "baud = 100"),
        );
        let fields: Vec<_> = errors.iter().filter_map(|e| e.field.as_deref()).collect();
        assert_eq!(
            fields,
            ["serial.baud", "serial.data_bits", "serial.stop_bits"]
        );
    }

    #[test]
    fn bad_aim_ids() {
        let e = one(&GOOD.replace("\"]E4\"", "\"E4\""));
        assert_eq!(e.field.as_deref(), Some("aim.ids.\"E4\""));
        assert!(matches!(e.kind, ProfileErrorKind::BadName { .. }));
        let e = one(&GOOD.replace("enabled = true", "enabled = false"));
        assert_eq!(e.field.as_deref(), Some("aim.ids"));
        let text = GOOD.replace(
            "ids = { \"]E0\" = \"ean13\", \"]E4\" = \"ean8\", \"]Q1\" = \"qr\", \"]C0\" = \"code128\" }",
            "",
        );
        let e = one(&text);
        assert_eq!(e.field.as_deref(), Some("aim.ids"));
        assert!(
            ScannerProfile::from_toml_str(&text.replace("enabled = true", "enabled = false"))
                .is_ok()
        );
    }

    #[test]
    fn max_length_and_names() {
        let e = one(&GOOD.replace("max_length = 512", "max_length = 4"));
        assert_eq!(e.field.as_deref(), Some("frame.max_length"));
        let e = one(&GOOD.replace("id = \"test-scanner\"", "id = \"Test Scanner\""));
        assert_eq!(e.field.as_deref(), Some("id"));
        let e = one(&GOOD.replace("model = \"S1\"", "model = \" \""));
        assert_eq!(e.field.as_deref(), Some("model"));
    }

    #[test]
    fn wrong_kind() {
        let e = one(&GOOD.replace("kind = \"scanner\"", "kind = \"printer\""));
        assert_eq!(
            e.kind,
            ProfileErrorKind::WrongKind {
                expected: DeviceKind::Scanner,
                found: DeviceKind::Printer
            }
        );
    }
}
