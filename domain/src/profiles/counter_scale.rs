//! Counter scale profiles (`kind = "counter-scale"`): the weighing scale at a lane, asked for
//! its weight over a serial line (issue 21).

use std::path::Path;

use serde::Deserialize;

use super::common::{parse_raw, Check, RawSerial};
use super::error::ProfileErrorKind;
use super::{DeviceKind, ProfileError, SerialSettings, INLINE};

/// The serial protocols a counter scale may speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScaleProtocol {
    /// The Mettler Toledo 8217 weight-only protocol: the host sends `W`, the scale answers
    /// `STX weight CR` when stable or `STX ? status CR` (`retail_devices::counter_scale`).
    #[serde(rename = "toledo-8217")]
    Toledo8217,
}

/// A validated counter scale profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterScaleProfile {
    /// Profile id (equal to the file name without `.toml`).
    pub id: String,
    /// Manufacturer.
    pub vendor: String,
    /// Model name.
    pub model: String,
    /// Free-text notes.
    pub notes: Option<String>,
    /// The protocol on the line.
    pub protocol: ScaleProtocol,
    /// Serial line settings (the 8217 protocol: 9600 7E1).
    pub serial: SerialSettings,
    /// Largest weight the scale weighs, in grams (1–100000).
    pub capacity_g: u32,
    /// How often the lane asks for the weight, in milliseconds (20–1000).
    pub poll_ms: u32,
    /// How long the lane waits for an answer, in milliseconds (50–5000).
    pub answer_timeout_ms: u32,
    /// A gross weight at or below this many grams counts as an empty platter (0–50): the lane
    /// requires it between two weighed items.
    pub zero_band_g: u32,
}

impl CounterScaleProfile {
    /// Parses and validates a counter scale profile (all problems, not just the first).
    pub fn from_toml_str(text: &str) -> Result<Self, Vec<ProfileError>> {
        Self::parse(Path::new(INLINE), text)
    }

    pub(super) fn parse(file: &Path, text: &str) -> Result<Self, Vec<ProfileError>> {
        let raw: RawScale = parse_raw(file, text)?;
        let mut check = Check::new(file);
        check.header(
            DeviceKind::CounterScale,
            raw.kind,
            &raw.id,
            &raw.vendor,
            &raw.model,
        );
        let serial = check.serial("serial", &raw.serial);
        if raw.protocol == ScaleProtocol::Toledo8217 && serial.data_bits < 7 {
            check.err(
                "serial.data_bits",
                ProfileErrorKind::Invalid("the 8217 protocol needs 7 or 8 data bits".into()),
            );
        }
        check.range("capacity_g", raw.capacity_g, 1..=100_000, "1 to 100000 g");
        check.range("poll_ms", raw.poll_ms, 20..=1_000, "20 to 1000 ms");
        check.range(
            "answer_timeout_ms",
            raw.answer_timeout_ms,
            50..=5_000,
            "50 to 5000 ms",
        );
        check.range("zero_band_g", raw.zero_band_g, 0..=50, "0 to 50 g");
        check.finish(CounterScaleProfile {
            id: raw.id,
            vendor: raw.vendor,
            model: raw.model,
            notes: raw.notes,
            protocol: raw.protocol,
            serial,
            capacity_g: raw.capacity_g,
            poll_ms: raw.poll_ms,
            answer_timeout_ms: raw.answer_timeout_ms,
            zero_band_g: raw.zero_band_g,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScale {
    kind: DeviceKind,
    id: String,
    vendor: String,
    model: String,
    notes: Option<String>,
    protocol: ScaleProtocol,
    serial: RawSerial,
    capacity_g: u32,
    #[serde(default = "default_poll_ms")]
    poll_ms: u32,
    #[serde(default = "default_answer_timeout_ms")]
    answer_timeout_ms: u32,
    #[serde(default = "default_zero_band_g")]
    zero_band_g: u32,
}

fn default_poll_ms() -> u32 {
    50
}

fn default_answer_timeout_ms() -> u32 {
    500
}

fn default_zero_band_g() -> u32 {
    2
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ARIVA: &str = r#"
kind = "counter-scale"
id = "mettler-toledo-ariva-s"
vendor = "Mettler Toledo"
model = "Ariva-S"
protocol = "toledo-8217"
capacity_g = 15000

[serial]
baud = 9600
data_bits = 7
parity = "even"
stop_bits = 1
flow_control = "none"
"#;

    #[test]
    fn parses_a_toledo_profile_with_defaults() {
        let p = CounterScaleProfile::from_toml_str(ARIVA).unwrap();
        assert_eq!(p.protocol, ScaleProtocol::Toledo8217);
        assert_eq!(p.serial.data_bits, 7);
        assert_eq!(
            (p.poll_ms, p.answer_timeout_ms, p.zero_band_g),
            (50, 500, 2)
        );
    }

    #[test]
    fn refuses_bad_ranges_and_protocols() {
        let bad = ARIVA.replace("capacity_g = 15000", "capacity_g = 0\npoll_ms = 5");
        let errors = CounterScaleProfile::from_toml_str(&bad).unwrap_err();
        let text = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("capacity_g"), "{text}");
        assert!(text.contains("poll_ms"), "{text}");
        let unknown = ARIVA.replace("toledo-8217", "dibal-g");
        assert!(CounterScaleProfile::from_toml_str(&unknown).is_err());
    }
}
