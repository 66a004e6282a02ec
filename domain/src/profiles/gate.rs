//! Exit-gate relay profiles (`kind = "gate-relay"`).

use std::path::Path;

use serde::Deserialize;

use super::common::{parse_raw, Check, RawSerial};
use super::error::ProfileErrorKind;
use super::{DeviceKind, ProfileError, SerialSettings, INLINE};

/// Relay command bytes (the `[commands]` table).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GateCommands {
    /// Energise the gate relay (open the gate).
    pub open: Vec<u8>,
    /// Release the gate relay (close the gate).
    pub close: Vec<u8>,
    /// Switch the alarm light / buzzer on (deny or audit).
    pub alarm_on: Vec<u8>,
    /// Switch the alarm light / buzzer off.
    pub alarm_off: Vec<u8>,
}

/// Timing (the `[timing]` table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GateTiming {
    /// How long the gate is held open before `close` is sent, in milliseconds (100–30000).
    pub open_pulse_ms: u32,
    /// How long the alarm stays on before `alarm_off` is sent, in milliseconds (100–60000).
    pub alarm_ms: u32,
}

/// A validated gate relay profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateRelayProfile {
    /// Profile id (equal to the file name without `.toml`), referenced by inventories.
    pub id: String,
    /// Manufacturer.
    pub vendor: String,
    /// Model name.
    pub model: String,
    /// Free-text notes (wiring, channel use, …).
    pub notes: Option<String>,
    /// Serial line settings.
    pub serial: SerialSettings,
    /// Command bytes.
    pub commands: GateCommands,
    /// Pulse and alarm durations.
    pub timing: GateTiming,
}

impl GateRelayProfile {
    /// Parses and validates a gate relay profile (all problems, not just the first).
    pub fn from_toml_str(text: &str) -> Result<Self, Vec<ProfileError>> {
        Self::parse(Path::new(INLINE), text)
    }

    pub(super) fn parse(file: &Path, text: &str) -> Result<Self, Vec<ProfileError>> {
        let raw: RawGate = parse_raw(file, text)?;
        let mut check = Check::new(file);
        check.header(
            DeviceKind::GateRelay,
            raw.kind,
            &raw.id,
            &raw.vendor,
            &raw.model,
        );
        let serial = check.serial("serial", &raw.serial);
        let commands = GateCommands {
            open: check.hex("commands.open", &raw.commands.open),
            close: check.hex("commands.close", &raw.commands.close),
            alarm_on: check.hex("commands.alarm_on", &raw.commands.alarm_on),
            alarm_off: check.hex("commands.alarm_off", &raw.commands.alarm_off),
        };
        let pairs = [
            ("commands.close", &commands.close, "open", &commands.open),
            (
                "commands.alarm_off",
                &commands.alarm_off,
                "alarm_on",
                &commands.alarm_on,
            ),
        ];
        for (field, a, other, b) in pairs {
            if !a.is_empty() && a == b {
                check.err(
                    field,
                    ProfileErrorKind::Invalid(format!(
                        "the same bytes as `commands.{other}`; the relay could never tell them apart"
                    )),
                );
            }
        }
        check.range(
            "timing.open_pulse_ms",
            raw.timing.open_pulse_ms,
            100..=30_000,
            "100 to 30000 ms",
        );
        check.range(
            "timing.alarm_ms",
            raw.timing.alarm_ms,
            100..=60_000,
            "100 to 60000 ms",
        );
        check.finish(GateRelayProfile {
            id: raw.id,
            vendor: raw.vendor,
            model: raw.model,
            notes: raw.notes,
            serial,
            commands,
            timing: GateTiming {
                open_pulse_ms: raw.timing.open_pulse_ms,
                alarm_ms: raw.timing.alarm_ms,
            },
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    kind: DeviceKind,
    id: String,
    vendor: String,
    model: String,
    notes: Option<String>,
    serial: RawSerial,
    commands: RawCommands,
    timing: RawTiming,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommands {
    open: String,
    close: String,
    alarm_on: String,
    alarm_off: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTiming {
    open_pulse_ms: u32,
    alarm_ms: u32,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) mod tests {
    use super::*;

    pub(crate) const GOOD: &str = r#"
kind = "gate-relay"
id = "test-relay"
vendor = "Acme"
model = "R2"

[serial]
baud = 9600
data_bits = 8
parity = "none"
stop_bits = 1
flow_control = "none"

[commands]
open = "A0 01 01 A2"
close = "A0 01 00 A1"
alarm_on = "A0 02 01 A3"
alarm_off = "A0 02 00 A2"

[timing]
open_pulse_ms = 1500
alarm_ms = 3000
"#;

    fn one(text: &str) -> ProfileError {
        let errors = GateRelayProfile::from_toml_str(text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn good_profile_parses() {
        let p = GateRelayProfile::from_toml_str(GOOD).unwrap();
        assert_eq!(p.commands.open, [0xA0, 0x01, 0x01, 0xA2]);
        assert_eq!(p.commands.alarm_off, [0xA0, 0x02, 0x00, 0xA2]);
        assert_eq!(p.timing.open_pulse_ms, 1500);
    }

    #[test]
    fn bad_hex_and_equal_commands() {
        let e = one(&GOOD.replace("A0 01 00 A1", "A0 01 00 A1 X"));
        assert_eq!(e.field.as_deref(), Some("commands.close"));
        assert!(matches!(e.kind, ProfileErrorKind::BadHex { .. }));
        let e = one(&GOOD.replace("A0 01 00 A1", "A0 01 01 A2"));
        assert_eq!(e.field.as_deref(), Some("commands.close"));
        assert!(matches!(e.kind, ProfileErrorKind::Invalid(_)));
        let e = one(&GOOD.replace("alarm_off = \"A0 02 00 A2\"\n", ""));
        assert_eq!(e.field.as_deref(), Some("commands.alarm_off"));
        assert_eq!(e.kind, ProfileErrorKind::MissingField);
    }

    #[test]
    fn timing_and_serial() {
        let e = one(&GOOD.replace("open_pulse_ms = 1500", "open_pulse_ms = 5"));
        assert_eq!(e.field.as_deref(), Some("timing.open_pulse_ms"));
        assert!(matches!(
            e.kind,
            ProfileErrorKind::OutOfRange { value: 5, .. }
        ));
        let e = one(&GOOD.replace("baud = 9600", "baud = 9601"));
        assert_eq!(e.kind, ProfileErrorKind::BadBaudRate(9601));
        let e = one(&GOOD.replace("open_pulse_ms = 1500", "open_pulse_ms = \"1.5s\""));
        assert_eq!(e.field.as_deref(), Some("timing.open_pulse_ms"));
        assert!(matches!(e.kind, ProfileErrorKind::BadValue(_)));
    }
}
