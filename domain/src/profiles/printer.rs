//! ESC/POS receipt printer profiles (`kind = "printer"`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::{format_hex_bytes, parse_raw, Check, RawSerial};
use super::error::ProfileErrorKind;
use super::{ConnectionKind, DeviceKind, ProfileError, SerialSettings, TextEncoding, INLINE};

/// How Chinese text reaches the paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChineseText {
    /// Sent as text in the printer's Chinese (GB18030/GBK) mode, printed with its own font.
    Native,
    /// Rendered by the host and sent as a raster image (`GS v 0`).
    Raster,
}

/// QR error-correction level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QrErrorCorrection {
    /// About 7 % recovery.
    L,
    /// About 15 % recovery.
    M,
    /// About 25 % recovery.
    Q,
    /// About 30 % recovery.
    H,
}

impl QrErrorCorrection {
    /// The `n` of `GS ( k pL pH 49 69 n` (function 169): 48 for L … 51 for H.
    pub fn escpos_value(self) -> u8 {
        match self {
            QrErrorCorrection::L => 48,
            QrErrorCorrection::M => 49,
            QrErrorCorrection::Q => 50,
            QrErrorCorrection::H => 51,
        }
    }
}

/// Text settings (the `[text]` table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PrinterText {
    /// Encoding of text sent to the printer.
    pub encoding: TextEncoding,
    /// Native Chinese text or raster.
    pub chinese: ChineseText,
    /// The `n` of `ESC t n` for single-byte characters, if one must be selected.
    pub code_page: Option<u8>,
    /// Characters per line in font A (12×24): 32 on 58 mm paper, 48 (or 42) on 80 mm.
    pub font_a_columns: u16,
    /// Characters per line in font B (9×17), if the layout uses it.
    pub font_b_columns: Option<u16>,
}

/// QR settings (the `[qr]` table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QrSettings {
    /// Whether the printer renders QR codes itself (`GS ( k`, model 2); otherwise the host sends
    /// a raster image.
    pub native: bool,
    /// Module size in dots (1–16).
    pub module_size: u8,
    /// Error-correction level.
    pub error_correction: QrErrorCorrection,
}

/// Command bytes (the `[commands]` table), checked against the ESC/POS reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PrinterCommands {
    /// The cut command (`GS V m` or `GS V m n`), `None` for a printer without a cutter.
    pub cut: Option<Vec<u8>>,
    /// The cash-drawer kick (`ESC p m t1 t2` or `DLE DC4 1 m t`), `None` without a drawer port.
    pub drawer_kick: Option<Vec<u8>>,
}

/// Real-time status support (the optional `[status]` table): the printer answers the Epson
/// ESC/POS real-time status transmission `DLE EOT n` (`10 04 n`) over a two-way connection
/// (serial or TCP; a USB line-printer device file is write-only here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RealTimeStatus {
    /// How long to wait for each one-byte answer before the printer counts as offline
    /// (100–5000 ms; default 1000).
    pub timeout_ms: u32,
}

/// Default wait for a status answer.
pub const DEFAULT_STATUS_TIMEOUT_MS: u32 = 1000;

/// A validated receipt printer profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterProfile {
    /// Profile id (equal to the file name without `.toml`), referenced by inventories.
    pub id: String,
    /// Manufacturer.
    pub vendor: String,
    /// Model name as printed on the device.
    pub model: String,
    /// Free-text notes.
    pub notes: Option<String>,
    /// Paper width: 58 or 80 mm.
    pub paper_width_mm: u16,
    /// Printable dots per line (384 on 58 mm, 576 or 512 on 80 mm).
    pub dots_per_line: u16,
    /// The connections this model supports (an inventory may use only these).
    pub connections: Vec<ConnectionKind>,
    /// Serial settings; present exactly when `connections` includes `serial`.
    pub serial: Option<SerialSettings>,
    /// Text settings.
    pub text: PrinterText,
    /// QR settings.
    pub qr: QrSettings,
    /// Command bytes.
    pub commands: PrinterCommands,
    /// Real-time status (`DLE EOT n`), when the model answers it (`[status] real_time = true`);
    /// `None`: receipts are sent without asking (write-only).
    pub real_time_status: Option<RealTimeStatus>,
}

impl PrinterProfile {
    /// Parses and validates a printer profile (all problems, not just the first).
    pub fn from_toml_str(text: &str) -> Result<Self, Vec<ProfileError>> {
        Self::parse(Path::new(INLINE), text)
    }

    /// Whether an inventory may connect this printer by `connection`.
    pub fn allows(&self, connection: ConnectionKind) -> bool {
        self.connections.contains(&connection)
    }

    pub(super) fn parse(file: &Path, text: &str) -> Result<Self, Vec<ProfileError>> {
        let raw: RawPrinter = parse_raw(file, text)?;
        let mut check = Check::new(file);
        check.header(
            DeviceKind::Printer,
            raw.kind,
            &raw.id,
            &raw.vendor,
            &raw.model,
        );

        let paper = raw.paper_width_mm;
        let paper_ok = matches!(paper, 58 | 80);
        if !paper_ok {
            check.err(
                "paper_width_mm",
                ProfileErrorKind::OutOfRange {
                    value: paper.into(),
                    allowed: "58 or 80",
                },
            );
        }
        let dots = raw.dots_per_line;
        if dots == 0 || !dots.is_multiple_of(8) || (paper_ok && dots > paper * 8) {
            check.err(
                "dots_per_line",
                ProfileErrorKind::Invalid(format!(
                    "{dots} dots per line: must be a positive multiple of 8 and fit the paper \
                     (at most {} dots on {paper} mm at 203 dpi)",
                    paper.saturating_mul(8)
                )),
            );
        }

        // Connections and serial settings.
        if raw.connections.is_empty() {
            check.err(
                "connections",
                ProfileErrorKind::Invalid("at least one connection kind is needed".into()),
            );
        }
        for (i, c) in raw.connections.iter().enumerate() {
            if raw.connections[..i].contains(c) {
                check.err(
                    "connections",
                    ProfileErrorKind::Invalid(format!("`{c}` is listed twice")),
                );
            }
        }
        let wants_serial = raw.connections.contains(&ConnectionKind::Serial);
        let serial = match (&raw.serial, wants_serial) {
            (Some(s), true) => Some(check.serial("serial", s)),
            (None, true) => {
                check.err("serial", ProfileErrorKind::MissingField);
                None
            }
            (Some(_), false) => {
                check.err(
                    "serial",
                    ProfileErrorKind::Invalid(
                        "serial settings are given but `serial` is not in `connections`".into(),
                    ),
                );
                None
            }
            (None, false) => None,
        };

        // Text.
        let t = &raw.text;
        if t.chinese == ChineseText::Native && !t.encoding.is_chinese() {
            check.err(
                "text.encoding",
                ProfileErrorKind::Invalid(format!(
                    "native Chinese text needs encoding \"gb18030\" or \"gbk\", not \"{}\" \
                     (or set chinese = \"raster\")",
                    t.encoding
                )),
            );
        }
        let (font_a_allowed, font_a_words): (&[u16], &str) = match paper {
            58 => (&[32], "32 on 58 mm paper"),
            80 => (&[48, 42], "48 or 42 on 80 mm paper"),
            _ => (&[32, 42, 48], "32, 42 or 48"),
        };
        if !font_a_allowed.contains(&t.font_a_columns) {
            check.err(
                "text.font_a_columns",
                ProfileErrorKind::BadColumns {
                    columns: t.font_a_columns,
                    allowed: font_a_words.into(),
                },
            );
        } else if u32::from(t.font_a_columns) * 12 > u32::from(dots) {
            check.err(
                "text.font_a_columns",
                ProfileErrorKind::BadColumns {
                    columns: t.font_a_columns,
                    allowed: format!("12-dot characters do not fit in {dots} dots"),
                },
            );
        }
        if let Some(b) = t.font_b_columns {
            let (allowed, words): (&[u16], &str) = match paper {
                58 => (&[42], "42 on 58 mm paper"),
                80 => (&[64, 56], "64 or 56 on 80 mm paper"),
                _ => (&[42, 56, 64], "42, 56 or 64"),
            };
            if !allowed.contains(&b) {
                check.err(
                    "text.font_b_columns",
                    ProfileErrorKind::BadColumns {
                        columns: b,
                        allowed: words.into(),
                    },
                );
            } else if u32::from(b) * 9 > u32::from(dots) {
                check.err(
                    "text.font_b_columns",
                    ProfileErrorKind::BadColumns {
                        columns: b,
                        allowed: format!("9-dot characters do not fit in {dots} dots"),
                    },
                );
            }
        }

        // QR.
        check.range(
            "qr.module_size",
            raw.qr.module_size.into(),
            1..=16,
            "1 to 16 dots",
        );

        // Commands.
        let cut = raw.commands.cut.as_deref().map(|text| {
            let bytes = check.hex("commands.cut", text);
            if !bytes.is_empty() && !is_cut(&bytes) {
                check.err(
                    "commands.cut",
                    ProfileErrorKind::BadCommand {
                        bytes: format_hex_bytes(&bytes),
                        expected: "an ESC/POS cut: GS V m (1D 56 m, m = 00/01/30/31) or \
                                   GS V m n (1D 56 m n, m = 41/42/61/62/67/68)",
                    },
                );
            }
            bytes
        });
        let drawer_kick = raw.commands.drawer_kick.as_deref().map(|text| {
            let bytes = check.hex("commands.drawer_kick", text);
            if !bytes.is_empty() && !is_drawer_kick(&bytes) {
                check.err(
                    "commands.drawer_kick",
                    ProfileErrorKind::BadCommand {
                        bytes: format_hex_bytes(&bytes),
                        expected: "an ESC/POS drawer kick: ESC p m t1 t2 (1B 70 m t1 t2, \
                                   m = 00/01/30/31) or DLE DC4 1 m t (10 14 01 m t, m = 00/01, \
                                   t = 01–08)",
                    },
                );
            }
            bytes
        });

        // Real-time status.
        let real_time_status = match &raw.status {
            None => None,
            Some(status) => {
                if let Some(ms) = status.timeout_ms {
                    check.range("status.timeout_ms", ms, 100..=5000, "100 to 5000 ms");
                    if !status.real_time {
                        check.err(
                            "status.timeout_ms",
                            ProfileErrorKind::Invalid(
                                "a status timeout is given but real_time is false".into(),
                            ),
                        );
                    }
                }
                let two_way = raw
                    .connections
                    .iter()
                    .any(|c| matches!(c, ConnectionKind::Serial | ConnectionKind::Tcp));
                if status.real_time && !two_way {
                    check.err(
                        "status.real_time",
                        ProfileErrorKind::Invalid(
                            "real-time status (DLE EOT) needs a two-way connection: add \"serial\" \
                             or \"tcp\" to connections (usb-lp is write-only), or set \
                             real_time = false"
                                .into(),
                        ),
                    );
                }
                status.real_time.then_some(RealTimeStatus {
                    timeout_ms: status.timeout_ms.unwrap_or(DEFAULT_STATUS_TIMEOUT_MS),
                })
            }
        };

        check.finish(PrinterProfile {
            id: raw.id,
            vendor: raw.vendor,
            model: raw.model,
            notes: raw.notes,
            paper_width_mm: paper,
            dots_per_line: dots,
            connections: raw.connections,
            serial,
            text: PrinterText {
                encoding: t.encoding,
                chinese: t.chinese,
                code_page: t.code_page,
                font_a_columns: t.font_a_columns,
                font_b_columns: t.font_b_columns,
            },
            qr: QrSettings {
                native: raw.qr.native,
                module_size: raw.qr.module_size,
                error_correction: raw.qr.error_correction,
            },
            commands: PrinterCommands { cut, drawer_kick },
            real_time_status,
        })
    }
}

/// `GS V m` (function A) or `GS V m n` (functions B, C, D) per the Epson ESC/POS reference.
fn is_cut(bytes: &[u8]) -> bool {
    match bytes {
        [0x1D, 0x56, m] => matches!(m, 0 | 1 | 48 | 49),
        [0x1D, 0x56, m, _] => matches!(m, 65 | 66 | 97 | 98 | 103 | 104),
        _ => false,
    }
}

/// `ESC p m t1 t2` or `DLE DC4 fn=1 m t` per the Epson ESC/POS reference.
fn is_drawer_kick(bytes: &[u8]) -> bool {
    match bytes {
        [0x1B, 0x70, m, _, _] => matches!(m, 0 | 1 | 48 | 49),
        [0x10, 0x14, 0x01, m, t] => matches!(m, 0 | 1) && (1..=8).contains(t),
        _ => false,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrinter {
    kind: DeviceKind,
    id: String,
    vendor: String,
    model: String,
    notes: Option<String>,
    paper_width_mm: u16,
    dots_per_line: u16,
    connections: Vec<ConnectionKind>,
    serial: Option<RawSerial>,
    text: RawText,
    qr: RawQr,
    commands: RawCommands,
    status: Option<RawStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    real_time: bool,
    timeout_ms: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawText {
    encoding: TextEncoding,
    chinese: ChineseText,
    code_page: Option<u8>,
    font_a_columns: u16,
    font_b_columns: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQr {
    native: bool,
    module_size: u8,
    error_correction: QrErrorCorrection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommands {
    cut: Option<String>,
    drawer_kick: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) mod tests {
    use super::*;

    pub(crate) const GOOD: &str = r#"
kind = "printer"
id = "test-printer"
vendor = "Acme"
model = "P80"
paper_width_mm = 80
dots_per_line = 576
connections = ["serial", "usb-lp", "tcp"]

[serial]
baud = 38400
data_bits = 8
parity = "none"
stop_bits = 1
flow_control = "rts-cts"

[text]
encoding = "gb18030"
chinese = "native"
font_a_columns = 48
font_b_columns = 64

[qr]
native = true
module_size = 6
error_correction = "m"

[commands]
cut = "1D 56 42 00"
drawer_kick = "1B 70 00 19 FA"

[status]
real_time = true
timeout_ms = 800
"#;

    /// A 58 mm printer that may only be connected over USB.
    pub(crate) const GOOD_58_USB: &str = r#"
kind = "printer"
id = "test-printer-58"
vendor = "Acme"
model = "P58"
paper_width_mm = 58
dots_per_line = 384
connections = ["usb-lp"]

[text]
encoding = "gbk"
chinese = "native"
font_a_columns = 32

[qr]
native = false
module_size = 4
error_correction = "l"

[commands]
cut = "1D 56 01"
"#;

    fn one(text: &str) -> ProfileError {
        let errors = PrinterProfile::from_toml_str(text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn good_profiles_parse() {
        let p = PrinterProfile::from_toml_str(GOOD).unwrap();
        assert_eq!(p.text.font_a_columns, 48);
        assert_eq!(
            p.commands.cut.as_deref(),
            Some(&[0x1D, 0x56, 0x42, 0x00][..])
        );
        assert_eq!(
            p.commands.drawer_kick.as_deref(),
            Some(&[0x1B, 0x70, 0x00, 0x19, 0xFA][..])
        );
        assert_eq!(p.serial.unwrap().baud, 38400);
        assert!(p.allows(ConnectionKind::Tcp));
        assert_eq!(p.qr.error_correction.escpos_value(), 49);
        let p = PrinterProfile::from_toml_str(GOOD_58_USB).unwrap();
        assert_eq!(p.serial, None);
        assert_eq!(p.commands.drawer_kick, None);
        assert!(!p.allows(ConnectionKind::Serial));
        assert_eq!(p.real_time_status, None, "no [status] table: write-only");
    }

    #[test]
    fn real_time_status_needs_a_two_way_connection() {
        let p = PrinterProfile::from_toml_str(GOOD).unwrap();
        assert_eq!(p.real_time_status, Some(RealTimeStatus { timeout_ms: 800 }));
        // The timeout defaults to 1000 ms.
        let p = PrinterProfile::from_toml_str(&GOOD.replace("timeout_ms = 800\n", "")).unwrap();
        assert_eq!(
            p.real_time_status,
            Some(RealTimeStatus {
                timeout_ms: DEFAULT_STATUS_TIMEOUT_MS
            })
        );
        // Switched off: no status asked.
        let off = GOOD
            .replace("real_time = true", "real_time = false")
            .replace("timeout_ms = 800\n", "");
        assert_eq!(
            PrinterProfile::from_toml_str(&off)
                .unwrap()
                .real_time_status,
            None
        );
        // A USB line printer device is write-only.
        let usb_only = format!("{GOOD_58_USB}\n[status]\nreal_time = true\n");
        let e = one(&usb_only);
        assert_eq!(e.field.as_deref(), Some("status.real_time"));
        assert!(e.to_string().contains("two-way connection"), "{e}");
        let e = one(&GOOD.replace("timeout_ms = 800", "timeout_ms = 20"));
        assert_eq!(e.field.as_deref(), Some("status.timeout_ms"));
        assert!(matches!(
            e.kind,
            ProfileErrorKind::OutOfRange { value: 20, .. }
        ));
        let e = one(&GOOD.replace("real_time = true", "real_time = false"));
        assert_eq!(e.field.as_deref(), Some("status.timeout_ms"));
        // Typos and wrong types are the parser's clear errors.
        let e = one(&GOOD.replace("real_time = true", "real_time = \"yes\""));
        assert_eq!(e.field.as_deref(), Some("status.real_time"));
        let e = one(&GOOD.replace("real_time = true", "realtime = true"));
        assert!(
            matches!(e.kind, ProfileErrorKind::UnknownField { .. }),
            "{e}"
        );
    }

    #[test]
    fn columns_must_match_the_paper() {
        let e = one(&GOOD.replace("font_a_columns = 48", "font_a_columns = 40"));
        assert_eq!(e.field.as_deref(), Some("text.font_a_columns"));
        assert!(matches!(
            e.kind,
            ProfileErrorKind::BadColumns { columns: 40, .. }
        ));
        let e = one(&GOOD.replace("font_a_columns = 48", "font_a_columns = 32"));
        assert!(matches!(
            e.kind,
            ProfileErrorKind::BadColumns { columns: 32, .. }
        ));
        let e = one(&GOOD_58_USB.replace("font_a_columns = 32", "font_a_columns = 48"));
        assert!(matches!(
            e.kind,
            ProfileErrorKind::BadColumns { columns: 48, .. }
        ));
        let e = one(&GOOD.replace("font_b_columns = 64", "font_b_columns = 42"));
        assert_eq!(e.field.as_deref(), Some("text.font_b_columns"));
        // 48 columns of 12 dots do not fit in 512 dots; 42 do.
        let errors = PrinterProfile::from_toml_str(
            &GOOD.replace("dots_per_line = 576", "dots_per_line = 512"),
        )
        .unwrap_err();
        let fields: Vec<_> = errors.iter().filter_map(|e| e.field.as_deref()).collect();
        assert_eq!(fields, ["text.font_a_columns", "text.font_b_columns"]);
        let ok = GOOD
            .replace("dots_per_line = 576", "dots_per_line = 512")
            .replace("font_a_columns = 48", "font_a_columns = 42")
            .replace("font_b_columns = 64", "font_b_columns = 56");
        assert!(PrinterProfile::from_toml_str(&ok).is_ok());
    }

    #[test]
    fn paper_and_dots() {
        let e = one(&GOOD.replace("dots_per_line = 576", "dots_per_line = 700"));
        assert_eq!(e.field.as_deref(), Some("dots_per_line"));
        let errors = PrinterProfile::from_toml_str(
            &GOOD.replace("paper_width_mm = 80", "paper_width_mm = 76"),
        )
        .unwrap_err();
        assert_eq!(errors[0].field.as_deref(), Some("paper_width_mm"));
    }

    #[test]
    fn bad_hex_bytes() {
        let e = one(&GOOD.replace("1D 56 42 00", "1D 56 4Z 00"));
        assert_eq!(e.field.as_deref(), Some("commands.cut"));
        assert!(matches!(e.kind, ProfileErrorKind::BadHex { .. }));
        let e = one(&GOOD.replace("1B 70 00 19 FA", "1B7000"));
        assert_eq!(e.field.as_deref(), Some("commands.drawer_kick"));
        assert!(matches!(e.kind, ProfileErrorKind::BadHex { .. }));
        let e = one(&GOOD.replace("1B 70 00 19 FA", ""));
        assert!(matches!(e.kind, ProfileErrorKind::BadHex { .. }));
    }

    #[test]
    fn commands_are_checked_against_escpos() {
        // GS V 66 without its n byte.
        let e = one(&GOOD.replace("1D 56 42 00", "1D 56 42"));
        assert_eq!(e.field.as_deref(), Some("commands.cut"));
        assert!(matches!(e.kind, ProfileErrorKind::BadCommand { .. }));
        // ESC i (a non-standard partial cut) is not accepted.
        assert!(matches!(
            one(&GOOD.replace("1D 56 42 00", "1B 69")).kind,
            ProfileErrorKind::BadCommand { .. }
        ));
        let e = one(&GOOD.replace("1B 70 00 19 FA", "1B 70 02 19 FA"));
        assert_eq!(e.field.as_deref(), Some("commands.drawer_kick"));
        assert!(matches!(e.kind, ProfileErrorKind::BadCommand { .. }));
        assert!(
            PrinterProfile::from_toml_str(&GOOD.replace("1B 70 00 19 FA", "10 14 01 00 05"))
                .is_ok()
        );
    }

    #[test]
    fn serial_settings_follow_connections() {
        let e = one(&GOOD.replace("connections = [\"serial\", ", "connections = ["));
        assert_eq!(e.field.as_deref(), Some("serial"));
        let e = one(&GOOD_58_USB.replace("[\"usb-lp\"]", "[\"usb-lp\", \"serial\"]"));
        assert_eq!(e.field.as_deref(), Some("serial"));
        assert_eq!(e.kind, ProfileErrorKind::MissingField);
        let e = one(&GOOD.replace("baud = 38400", "baud = 38000"));
        assert_eq!(e.kind, ProfileErrorKind::BadBaudRate(38000));
        let e = one(&GOOD.replace("\"usb-lp\", \"tcp\"", "\"usb\", \"tcp\""));
        assert_eq!(e.field.as_deref(), Some("connections"));
        assert!(matches!(e.kind, ProfileErrorKind::BadValue(_)));
        let e = one(&GOOD.replace("\"usb-lp\", \"tcp\"", "\"tcp\", \"tcp\""));
        assert_eq!(e.field.as_deref(), Some("connections"));
        let e = one(&GOOD_58_USB.replace("[\"usb-lp\"]", "[]"));
        assert_eq!(e.field.as_deref(), Some("connections"));
    }

    #[test]
    fn text_and_qr() {
        let e = one(&GOOD.replace("encoding = \"gb18030\"", "encoding = \"cp437\""));
        assert_eq!(e.field.as_deref(), Some("text.encoding"));
        assert!(PrinterProfile::from_toml_str(
            &GOOD
                .replace("encoding = \"gb18030\"", "encoding = \"cp437\"")
                .replace("chinese = \"native\"", "chinese = \"raster\"")
        )
        .is_ok());
        let e = one(&GOOD.replace("module_size = 6", "module_size = 17"));
        assert_eq!(e.field.as_deref(), Some("qr.module_size"));
        let e = one(&GOOD.replace("error_correction = \"m\"", "error_correction = \"x\""));
        assert_eq!(e.field.as_deref(), Some("qr.error_correction"));
        let e = one(&GOOD.replace("[qr]\nnative = true\n", "[qr]\n"));
        assert_eq!(e.field.as_deref(), Some("qr.native"));
        assert_eq!(e.kind, ProfileErrorKind::MissingField);
    }
}
