//! Per-store device inventories (`firmware-config/stores/<STORE>.toml`): which device model sits
//! on which port of which lane, and what the store's edge agent drives.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::Deserialize;

use super::common::{parse_raw, Check};
use super::error::ProfileErrorKind;
use super::scanner::Symbology;
use super::{ConnectionKind, DeviceCatalog, DeviceKind, ProfileError, INLINE};

/// A device on a serial line: its profile id and its port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SerialDevice {
    /// Profile id of the model.
    pub model: String,
    /// Serial port, e.g. `/dev/ttyACM0` (or `COM3`).
    pub port: String,
}

/// How a printer is reached.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PrinterConnection {
    /// A serial port (`serial = "/dev/ttyS0"`), opened with the profile's serial settings.
    Serial {
        /// The port.
        port: String,
    },
    /// A USB printer-class device file (`usb_lp = "/dev/usb/lp0"`).
    UsbLp {
        /// The device file.
        device: String,
    },
    /// Raw TCP (`tcp = "192.168.10.31:9100"`).
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// TCP port, usually 9100.
        port: u16,
    },
}

impl PrinterConnection {
    /// The kind of connection.
    pub fn kind(&self) -> ConnectionKind {
        match self {
            PrinterConnection::Serial { .. } => ConnectionKind::Serial,
            PrinterConnection::UsbLp { .. } => ConnectionKind::UsbLp,
            PrinterConnection::Tcp { .. } => ConnectionKind::Tcp,
        }
    }
}

/// A printer: its profile id and how it is connected.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PrinterDevice {
    /// Profile id of the model.
    pub model: String,
    /// The connection (allowed by the profile).
    pub connection: PrinterConnection,
}

/// One checkout lane (one POS terminal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lane {
    /// Lane number, 1–99 (two digits in sale numbers).
    pub lane: u8,
    /// The barcode scanner.
    pub scanner: SerialDevice,
    /// The receipt printer (the cash drawer hangs off it).
    pub printer: PrinterDevice,
    /// The customer display, if any.
    pub display: Option<SerialDevice>,
}

/// One scan-and-go exit gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gate {
    /// Gate number, 1–99.
    pub gate: u8,
    /// The QR scanner at the gate.
    pub scanner: SerialDevice,
    /// The relay board that opens the gate and drives the alarm.
    pub relay: SerialDevice,
    /// The display at the gate that tells the shopper the decision and its reason, if any.
    pub display: Option<SerialDevice>,
}

/// The devices of the store's edge agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeDevices {
    /// Exit gates (may be empty in a store without scan-and-go).
    pub gates: Vec<Gate>,
    /// The pickup-counter printer (pick slips), if any.
    pub pickup_printer: Option<PrinterDevice>,
}

/// A validated store device inventory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreInventory {
    /// Store code, e.g. `SH001` (equal to the file name without `.toml`).
    pub store: String,
    /// Human-facing store name.
    pub name: Option<String>,
    /// The checkout lanes, in file order.
    pub lanes: Vec<Lane>,
    /// The edge agent's devices, if the store has an edge agent.
    pub edge: Option<EdgeDevices>,
}

impl StoreInventory {
    /// Parses and validates an inventory against `catalog` (all problems, not just the first).
    pub fn from_toml_str(text: &str, catalog: &DeviceCatalog) -> Result<Self, Vec<ProfileError>> {
        Self::parse(Path::new(INLINE), text, catalog, &BTreeSet::new())
    }

    /// The lane with this number.
    pub fn lane(&self, lane: u8) -> Option<&Lane> {
        self.lanes.iter().find(|l| l.lane == lane)
    }

    /// Parses and validates; models in `broken` have a profile file with errors.
    pub(super) fn parse(
        file: &Path,
        text: &str,
        catalog: &DeviceCatalog,
        broken: &BTreeSet<String>,
    ) -> Result<Self, Vec<ProfileError>> {
        let raw: RawInventory = parse_raw(file, text)?;
        let mut v = Validator {
            check: Check::new(file),
            catalog,
            broken,
            tcp: HashMap::new(),
        };
        if crate::codes::validate_store(&raw.store).is_err() {
            v.check.err(
                "store",
                ProfileErrorKind::BadName {
                    value: raw.store.clone(),
                    what: "store code",
                    reason: "must be 1–16 characters of A–Z, 0–9 and '-'",
                },
            );
        } else {
            v.check.matches_file_name("store", &raw.store);
        }
        if raw.lanes.is_empty() && raw.edge.is_none() {
            v.check.err(
                "",
                ProfileErrorKind::Invalid("the inventory lists no lanes and no edge agent".into()),
            );
        }

        let mut lanes = Vec::new();
        let mut lane_numbers = Vec::new();
        for (i, raw_lane) in raw.lanes.into_iter().enumerate() {
            let at = format!("lanes[{i}]");
            v.number(
                &format!("{at}.lane"),
                "lane",
                raw_lane.lane,
                &mut lane_numbers,
            );
            let mut ports = HashMap::new();
            let scanner = v.scanner(&format!("{at}.scanner"), raw_lane.scanner, &mut ports);
            let printer = v.printer(&format!("{at}.printer"), raw_lane.printer, &mut ports);
            let display = raw_lane.display.map(|d| {
                v.serial_device(&format!("{at}.display"), d, DeviceKind::Display, &mut ports)
            });
            if let Some(printer) = printer {
                lanes.push(Lane {
                    lane: raw_lane.lane,
                    scanner,
                    printer,
                    display,
                });
            }
        }

        let edge = raw.edge.map(|raw_edge| {
            if raw_edge.gates.is_empty() && raw_edge.pickup_printer.is_none() {
                v.check.err(
                    "edge",
                    ProfileErrorKind::Invalid(
                        "lists neither gates nor a pickup printer (leave `[edge]` out instead)"
                            .into(),
                    ),
                );
            }
            // One machine: every port of the edge agent is distinct.
            let mut ports = HashMap::new();
            let mut gates = Vec::new();
            let mut gate_numbers = Vec::new();
            for (i, raw_gate) in raw_edge.gates.into_iter().enumerate() {
                let at = format!("edge.gates[{i}]");
                v.number(
                    &format!("{at}.gate"),
                    "gate",
                    raw_gate.gate,
                    &mut gate_numbers,
                );
                let scanner = v.scanner(&format!("{at}.scanner"), raw_gate.scanner, &mut ports);
                let relay = v.serial_device(
                    &format!("{at}.relay"),
                    raw_gate.relay,
                    DeviceKind::GateRelay,
                    &mut ports,
                );
                let display = raw_gate.display.map(|d| {
                    v.serial_device(&format!("{at}.display"), d, DeviceKind::Display, &mut ports)
                });
                gates.push(Gate {
                    gate: raw_gate.gate,
                    scanner,
                    relay,
                    display,
                });
            }
            let pickup_printer = raw_edge
                .pickup_printer
                .and_then(|p| v.printer("edge.pickup_printer", p, &mut ports));
            EdgeDevices {
                gates,
                pickup_printer,
            }
        });

        v.check.finish(StoreInventory {
            store: raw.store,
            name: raw.name,
            lanes,
            edge,
        })
    }
}

struct Validator<'a> {
    check: Check<'a>,
    catalog: &'a DeviceCatalog,
    broken: &'a BTreeSet<String>,
    /// `host:port` → the field that uses it, across the whole store.
    tcp: HashMap<String, String>,
}

impl Validator<'_> {
    /// Checks that `model` is a profile of `kind`.
    fn model(&mut self, field: &str, model: &str, kind: DeviceKind) -> bool {
        match self.catalog.kind_of(model) {
            Some(found) if found == kind => true,
            Some(found) => {
                self.check.err(
                    field,
                    ProfileErrorKind::ModelOfOtherKind {
                        expected: kind,
                        found,
                        model: model.to_string(),
                    },
                );
                false
            }
            None if self.broken.contains(model) => {
                self.check.err(
                    field,
                    ProfileErrorKind::BrokenModel {
                        kind,
                        model: model.to_string(),
                    },
                );
                false
            }
            None => {
                self.check.err(
                    field,
                    ProfileErrorKind::UnknownModel {
                        kind,
                        model: model.to_string(),
                    },
                );
                false
            }
        }
    }

    /// Checks a lane or gate number: 1–99 and not used before.
    fn number(&mut self, field: &str, what: &'static str, number: u8, seen: &mut Vec<u8>) {
        if !(1..=99).contains(&number) {
            self.check.err(
                field,
                ProfileErrorKind::OutOfRange {
                    value: number.into(),
                    allowed: "1 to 99",
                },
            );
        } else if seen.contains(&number) {
            self.check
                .err(field, ProfileErrorKind::DuplicateNumber { what, number });
        }
        seen.push(number);
    }

    /// Records a local port / device file of one machine; reports a second use.
    fn claim(&mut self, field: &str, port: &str, ports: &mut HashMap<String, String>) {
        if let Some(first) = ports.get(port) {
            self.check.err(
                field,
                ProfileErrorKind::DuplicatePort {
                    port: port.to_string(),
                    first: first.clone(),
                },
            );
        } else {
            ports.insert(port.to_string(), field.to_string());
        }
    }

    fn serial_device(
        &mut self,
        at: &str,
        raw: RawSerialDevice,
        kind: DeviceKind,
        ports: &mut HashMap<String, String>,
    ) -> SerialDevice {
        self.model(&format!("{at}.model"), &raw.model, kind);
        let field = format!("{at}.port");
        match check_local_path(&raw.port, true) {
            Ok(()) => self.claim(&field, &raw.port, ports),
            Err(reason) => self.check.err(
                &field,
                ProfileErrorKind::BadAddress {
                    value: raw.port.clone(),
                    what: "serial port",
                    reason,
                },
            ),
        }
        SerialDevice {
            model: raw.model,
            port: raw.port,
        }
    }

    /// A scanner slot: also checks that the scanner can report QR codes (phone-screen codes).
    fn scanner(
        &mut self,
        at: &str,
        raw: RawSerialDevice,
        ports: &mut HashMap<String, String>,
    ) -> SerialDevice {
        let device = self.serial_device(at, raw, DeviceKind::Scanner, ports);
        if let Some(profile) = self.catalog.scanners.get(&device.model) {
            if profile.aim.enabled && !profile.aim.ids.values().any(|s| *s == Symbology::Qr) {
                self.check.err(
                    &format!("{at}.model"),
                    ProfileErrorKind::Invalid(format!(
                        "scanner model `{}` sends AIM identifiers but maps none to QR; member \
                         codes, pickup codes and exit passes are QR codes",
                        device.model
                    )),
                );
            }
        }
        device
    }

    fn printer(
        &mut self,
        at: &str,
        raw: RawPrinterDevice,
        ports: &mut HashMap<String, String>,
    ) -> Option<PrinterDevice> {
        let known = self.model(&format!("{at}.model"), &raw.model, DeviceKind::Printer);
        let given: Vec<(&str, String)> = [
            ("serial", raw.serial),
            ("usb_lp", raw.usb_lp),
            ("tcp", raw.tcp),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        let [(key, value)] = <[_; 1]>::try_from(given).unwrap_or_else(|given| {
            let found = if given.is_empty() {
                "none".to_string()
            } else {
                given
                    .iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(" and ")
            };
            self.check.err(
                at,
                ProfileErrorKind::Invalid(format!(
                    "give exactly one connection: `serial`, `usb_lp` or `tcp` (found {found})"
                )),
            );
            [("", String::new())]
        });
        let field = format!("{at}.{key}");
        let connection = match key {
            "serial" | "usb_lp" => {
                let (what, serial) = if key == "serial" {
                    ("serial port", true)
                } else {
                    ("USB line printer device", false)
                };
                match check_local_path(&value, serial) {
                    Ok(()) => self.claim(&field, &value, ports),
                    Err(reason) => self.check.err(
                        &field,
                        ProfileErrorKind::BadAddress {
                            value: value.clone(),
                            what,
                            reason,
                        },
                    ),
                }
                if serial {
                    PrinterConnection::Serial { port: value }
                } else {
                    PrinterConnection::UsbLp { device: value }
                }
            }
            "tcp" => match parse_host_port(&value) {
                Ok((host, port)) => {
                    let endpoint = format!("{}:{port}", host.to_ascii_lowercase());
                    if let Some(first) = self.tcp.get(&endpoint) {
                        self.check.err(
                            &field,
                            ProfileErrorKind::DuplicatePort {
                                port: value.clone(),
                                first: first.clone(),
                            },
                        );
                    } else {
                        self.tcp.insert(endpoint, field.clone());
                    }
                    PrinterConnection::Tcp { host, port }
                }
                Err(reason) => {
                    self.check.err(
                        &field,
                        ProfileErrorKind::BadAddress {
                            value: value.clone(),
                            what: "host:port",
                            reason,
                        },
                    );
                    return None;
                }
            },
            _ => return None,
        };
        if known {
            if let Some(profile) = self.catalog.printers.get(&raw.model) {
                if !profile.allows(connection.kind()) {
                    self.check.err(
                        &field,
                        ProfileErrorKind::ConnectionNotAllowed {
                            model: raw.model.clone(),
                            connection: connection.kind(),
                            allowed: profile.connections.clone(),
                        },
                    );
                }
            }
        }
        Some(PrinterDevice {
            model: raw.model,
            connection,
        })
    }
}

/// A serial port (`/dev/…` style absolute path, or `COMn` when `allow_com`) or device file.
fn check_local_path(path: &str, allow_com: bool) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("must not be empty");
    }
    if path.len() > 255 || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be at most 255 characters without spaces");
    }
    let is_com = allow_com
        && path
            .strip_prefix("COM")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !path.starts_with('/') && !is_com {
        return Err(if allow_com {
            "must be an absolute path like /dev/ttyACM0 (or COMn)"
        } else {
            "must be an absolute path like /dev/usb/lp0"
        });
    }
    Ok(())
}

/// `host:port`, `a.b.c.d:port` or `[v6]:port`.
fn parse_host_port(text: &str) -> Result<(String, u16), &'static str> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or("an IPv6 address needs `[addr]:port`")?;
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err("bad IPv6 address");
        }
        (host, port)
    } else {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or("the port is missing (e.g. :9100)")?;
        if host.is_empty()
            || host.len() > 253
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            || host.starts_with(['-', '.'])
        {
            return Err("bad host name or IPv4 address");
        }
        (host, port)
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok((host.to_string(), p)),
        _ => Err("the port must be a number from 1 to 65535"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    store: String,
    name: Option<String>,
    #[serde(default)]
    lanes: Vec<RawLane>,
    edge: Option<RawEdge>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLane {
    lane: u8,
    scanner: RawSerialDevice,
    printer: RawPrinterDevice,
    display: Option<RawSerialDevice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSerialDevice {
    model: String,
    port: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrinterDevice {
    model: String,
    serial: Option<String>,
    usb_lp: Option<String>,
    tcp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEdge {
    #[serde(default)]
    gates: Vec<RawGate>,
    pickup_printer: Option<RawPrinterDevice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    gate: u8,
    scanner: RawSerialDevice,
    relay: RawSerialDevice,
    display: Option<RawSerialDevice>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::profiles::Profile;

    fn catalog() -> DeviceCatalog {
        let mut catalog = DeviceCatalog::default();
        for text in [
            crate::profiles::scanner::tests::GOOD,
            crate::profiles::printer::tests::GOOD,
            crate::profiles::printer::tests::GOOD_58_USB,
            crate::profiles::gate::tests::GOOD,
            crate::profiles::display::tests::GOOD,
        ] {
            assert!(catalog.insert(Profile::from_toml_str(text).unwrap()));
        }
        catalog
    }

    const GOOD: &str = r#"
store = "SH001"
name = "鲜邻超市 上海一店"

[[lanes]]
lane = 1
scanner = { model = "test-scanner", port = "/dev/ttyACM0" }
printer = { model = "test-printer", tcp = "192.168.10.31:9100" }
display = { model = "test-display", port = "/dev/ttyUSB0" }

[[lanes]]
lane = 2
scanner = { model = "test-scanner", port = "/dev/ttyACM0" }
printer = { model = "test-printer-58", usb_lp = "/dev/usb/lp0" }

[edge]
pickup_printer = { model = "test-printer", serial = "/dev/ttyS0" }

[[edge.gates]]
gate = 1
scanner = { model = "test-scanner", port = "/dev/ttyACM0" }
relay = { model = "test-relay", port = "/dev/ttyUSB0" }
"#;

    fn errors(text: &str) -> Vec<ProfileError> {
        StoreInventory::from_toml_str(text, &catalog()).unwrap_err()
    }

    fn one(text: &str) -> ProfileError {
        let errors = errors(text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn good_inventory_parses() {
        let inv = StoreInventory::from_toml_str(GOOD, &catalog()).unwrap();
        assert_eq!(inv.store, "SH001");
        assert_eq!(inv.lanes.len(), 2);
        assert_eq!(
            inv.lane(1).unwrap().printer.connection,
            PrinterConnection::Tcp {
                host: "192.168.10.31".into(),
                port: 9100
            }
        );
        assert_eq!(
            inv.lane(2).unwrap().printer.connection.kind(),
            ConnectionKind::UsbLp
        );
        let edge = inv.edge.unwrap();
        assert_eq!(edge.gates[0].relay.model, "test-relay");
        assert_eq!(
            edge.pickup_printer.unwrap().connection,
            PrinterConnection::Serial {
                port: "/dev/ttyS0".into()
            }
        );
    }

    #[test]
    fn unknown_model() {
        let e = one(&GOOD.replacen("model = \"test-scanner\"", "model = \"test-scaner\"", 1));
        assert_eq!(e.field.as_deref(), Some("lanes[0].scanner.model"));
        assert_eq!(
            e.kind,
            ProfileErrorKind::UnknownModel {
                kind: DeviceKind::Scanner,
                model: "test-scaner".into()
            }
        );
        assert!(
            e.to_string()
                .contains("unknown scanner model `test-scaner`"),
            "{e}"
        );
    }

    #[test]
    fn model_of_another_kind() {
        let e = one(&GOOD.replace(
            "relay = { model = \"test-relay\"",
            "relay = { model = \"test-display\"",
        ));
        assert_eq!(e.field.as_deref(), Some("edge.gates[0].relay.model"));
        assert_eq!(
            e.kind,
            ProfileErrorKind::ModelOfOtherKind {
                expected: DeviceKind::GateRelay,
                found: DeviceKind::Display,
                model: "test-display".into()
            }
        );
    }

    #[test]
    fn broken_model_is_reported_as_such() {
        let broken = BTreeSet::from(["test-broken".to_string()]);
        let text = GOOD.replace("model = \"test-display\"", "model = \"test-broken\"");
        let errors =
            StoreInventory::parse(Path::new("stores/SH001.toml"), &text, &catalog(), &broken)
                .unwrap_err();
        assert_eq!(
            errors[0].kind,
            ProfileErrorKind::BrokenModel {
                kind: DeviceKind::Display,
                model: "test-broken".into()
            }
        );
    }

    #[test]
    fn two_devices_on_one_port_of_one_machine() {
        let e = one(&GOOD.replace(
            "display = { model = \"test-display\", port = \"/dev/ttyUSB0\" }",
            "display = { model = \"test-display\", port = \"/dev/ttyACM0\" }",
        ));
        assert_eq!(e.field.as_deref(), Some("lanes[0].display.port"));
        assert_eq!(
            e.kind,
            ProfileErrorKind::DuplicatePort {
                port: "/dev/ttyACM0".into(),
                first: "lanes[0].scanner.port".into()
            }
        );
        // The edge agent's relay and pickup printer on one port.
        let e = one(&GOOD.replace("serial = \"/dev/ttyS0\"", "serial = \"/dev/ttyUSB0\""));
        assert_eq!(e.field.as_deref(), Some("edge.pickup_printer.serial"));
        assert!(
            e.to_string()
                .contains("already used by edge.gates[0].relay.port"),
            "{e}"
        );
    }

    #[test]
    fn two_printers_at_one_network_address() {
        let e = one(&GOOD
            .replace("usb_lp = \"/dev/usb/lp0\"", "tcp = \"192.168.10.31:9100\"")
            .replace("test-printer-58", "test-printer"));
        assert_eq!(e.field.as_deref(), Some("lanes[1].printer.tcp"));
        assert!(matches!(e.kind, ProfileErrorKind::DuplicatePort { .. }));
    }

    #[test]
    fn connection_not_allowed_by_profile() {
        let e = one(&GOOD.replace("usb_lp = \"/dev/usb/lp0\"", "tcp = \"10.0.0.5:9100\""));
        assert_eq!(e.field.as_deref(), Some("lanes[1].printer.tcp"));
        assert_eq!(
            e.kind,
            ProfileErrorKind::ConnectionNotAllowed {
                model: "test-printer-58".into(),
                connection: ConnectionKind::Tcp,
                allowed: vec![ConnectionKind::UsbLp]
            }
        );
    }

    #[test]
    fn exactly_one_printer_connection() {
        let e = one(&GOOD.replace(
            "usb_lp = \"/dev/usb/lp0\"",
            "usb_lp = \"/dev/usb/lp0\", serial = \"/dev/ttyS1\"",
        ));
        assert_eq!(e.field.as_deref(), Some("lanes[1].printer"));
        assert!(e.to_string().contains("serial and usb_lp"), "{e}");
        let e = one(&GOOD.replace(", usb_lp = \"/dev/usb/lp0\"", ""));
        assert_eq!(e.field.as_deref(), Some("lanes[1].printer"));
    }

    #[test]
    fn bad_addresses() {
        let e = one(&GOOD.replace("192.168.10.31:9100", "192.168.10.31"));
        assert_eq!(e.field.as_deref(), Some("lanes[0].printer.tcp"));
        assert!(matches!(e.kind, ProfileErrorKind::BadAddress { .. }));
        let e = one(&GOOD.replace("192.168.10.31:9100", "printer one:9100"));
        assert!(matches!(e.kind, ProfileErrorKind::BadAddress { .. }));
        let e = one(&GOOD.replace("192.168.10.31:9100", "p1:70000"));
        assert!(matches!(e.kind, ProfileErrorKind::BadAddress { .. }));
        let e = one(&GOOD.replace("\"/dev/usb/lp0\"", "\"lp0\""));
        assert_eq!(e.field.as_deref(), Some("lanes[1].printer.usb_lp"));
        let e = one(&GOOD.replacen("\"/dev/ttyACM0\"", "\"ttyACM0\"", 1));
        assert_eq!(e.field.as_deref(), Some("lanes[0].scanner.port"));
        assert!(parse_host_port("[fe80::1]:9100").is_ok());
        assert!(parse_host_port("printer-1.store.local:9100").is_ok());
        assert!(check_local_path("COM3", true).is_ok());
        assert!(check_local_path("COM3", false).is_err());
    }

    #[test]
    fn lane_numbers() {
        let e = one(&GOOD.replace("lane = 2", "lane = 1"));
        assert_eq!(e.field.as_deref(), Some("lanes[1].lane"));
        assert_eq!(
            e.kind,
            ProfileErrorKind::DuplicateNumber {
                what: "lane",
                number: 1
            }
        );
        let e = one(&GOOD.replace("lane = 2", "lane = 0"));
        assert!(matches!(
            e.kind,
            ProfileErrorKind::OutOfRange { value: 0, .. }
        ));
        let e = one(&GOOD.replace("lane = 2", "lane = 300"));
        assert_eq!(e.field.as_deref(), Some("lanes[1].lane"));
        assert!(matches!(e.kind, ProfileErrorKind::BadValue(_)));
    }

    #[test]
    fn gate_displays() {
        let with = GOOD.replace(
            "relay = { model = \"test-relay\", port = \"/dev/ttyUSB0\" }\n",
            "relay = { model = \"test-relay\", port = \"/dev/ttyUSB0\" }\ndisplay = { model = \"test-display\", port = \"/dev/ttyUSB1\" }\n",
        );
        let inv = StoreInventory::from_toml_str(&with, &catalog()).unwrap();
        let gate = &inv.edge.unwrap().gates[0];
        assert_eq!(
            gate.display,
            Some(SerialDevice {
                model: "test-display".into(),
                port: "/dev/ttyUSB1".into()
            })
        );
        // A display on the relay's port, or a relay profile as a display: refused.
        let e = one(&with.replace("/dev/ttyUSB1", "/dev/ttyUSB0"));
        assert_eq!(e.field.as_deref(), Some("edge.gates[0].display.port"));
        assert!(matches!(e.kind, ProfileErrorKind::DuplicatePort { .. }));
        let e = one(&with.replace(
            "display = { model = \"test-display\", port = \"/dev/ttyUSB1\"",
            "display = { model = \"test-relay\", port = \"/dev/ttyUSB1\"",
        ));
        assert_eq!(e.field.as_deref(), Some("edge.gates[0].display.model"));
        assert!(matches!(e.kind, ProfileErrorKind::ModelOfOtherKind { .. }));
    }

    #[test]
    fn gate_numbers_and_ports() {
        let text = format!(
            "{GOOD}\n[[edge.gates]]\ngate = 1\n\
             scanner = {{ model = \"test-scanner\", port = \"/dev/ttyACM1\" }}\n\
             relay = {{ model = \"test-relay\", port = \"/dev/ttyUSB0\" }}\n"
        );
        let errors = errors(&text);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].field.as_deref(), Some("edge.gates[1].gate"));
        assert_eq!(
            errors[0].kind,
            ProfileErrorKind::DuplicateNumber {
                what: "gate",
                number: 1
            }
        );
        assert_eq!(errors[1].field.as_deref(), Some("edge.gates[1].relay.port"));
        assert!(matches!(
            errors[1].kind,
            ProfileErrorKind::DuplicatePort { .. }
        ));
    }

    #[test]
    fn missing_and_unknown_fields() {
        let e = one(&GOOD.replace(
            ", port = \"/dev/ttyUSB0\" }\n\n[[lanes]]",
            " }\n\n[[lanes]]",
        ));
        assert_eq!(e.field.as_deref(), Some("lanes[0].display.port"));
        assert_eq!(e.kind, ProfileErrorKind::MissingField);
        let e = one(&GOOD.replace("gate = 1\n", ""));
        assert_eq!(e.field.as_deref(), Some("edge.gates[0].gate"));
        assert_eq!(e.kind, ProfileErrorKind::MissingField);
        let e = one(&GOOD.replace("lane = 2\n", "lane = 2\ndrawer = true\n"));
        assert_eq!(e.field.as_deref(), Some("lanes[1].drawer"));
        assert!(matches!(e.kind, ProfileErrorKind::UnknownField { .. }));
        let e = one(&GOOD.replace("store = \"SH001\"\n", ""));
        assert_eq!(e.field.as_deref(), Some("store"));
    }

    #[test]
    fn store_code_and_empty_inventories() {
        let e = one(&GOOD.replace("store = \"SH001\"", "store = \"sh 001\""));
        assert_eq!(e.field.as_deref(), Some("store"));
        let e = one("store = \"SH009\"\n");
        assert_eq!(e.field, None);
        let e = one("store = \"SH009\"\n[edge]\n");
        assert_eq!(e.field.as_deref(), Some("edge"));
    }

    #[test]
    fn scanners_must_report_qr() {
        let mut catalog = catalog();
        let scanner = catalog.scanners.get_mut("test-scanner").unwrap();
        scanner.aim.ids.retain(|_, s| *s != Symbology::Qr);
        let errors = StoreInventory::from_toml_str(GOOD, &catalog).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].field.as_deref(), Some("lanes[0].scanner.model"));
    }

    #[test]
    fn many_errors_are_all_reported() {
        let text = GOOD
            .replace("test-display", "nope")
            .replace("lane = 2", "lane = 1")
            .replace("192.168.10.31:9100", "x");
        let errors = errors(&text);
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}
