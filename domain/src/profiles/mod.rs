//! Device profiles and store device inventories (docs/DESIGN.md §8), loaded from the TOML data files in
//! `firmware-config/`.
//!
//! * `firmware-config/profiles/**/*.toml` — one file per device **model**: barcode scanners,
//!   ESC/POS receipt printers, exit-gate relays and customer displays. Each file says which kind
//!   it is (`kind = "scanner" | "printer" | "gate-relay" | "display"`), and its `id` equals the
//!   file name without `.toml`.
//! * `firmware-config/stores/<STORE>.toml` — one file per store: each lane's scanner, printer and
//!   customer display with their ports, and the edge agent's gates and pickup-counter printer.
//!
//! Everything is validated when loaded, with errors that name the file, the line when known and
//! the field (`serial.baud`, `lanes[1].printer.tcp`): unknown or missing fields, bad baud rates,
//! malformed hex bytes, cut / drawer bytes that are not the ESC/POS commands they claim to be,
//! printer columns that do not fit the paper, unknown models, two devices on one port, printer
//! connections the model does not allow, and more. The format is described in
//! `firmware-config/README.md`.
//!
//! Entry points: [`load_dir`] (the catalog of models), [`load_inventory`] (one store, checked
//! against the catalog), [`check_dir`] / [`inspect_dir`] (a whole folder, every error of every
//! file), and `from_toml_str` on each profile type for text in memory. Only `std::fs` is used;
//! nothing here opens a device.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod common;
mod counter_scale;
mod display;
mod error;
mod gate;
mod inventory;
mod printer;
mod scanner;

pub use common::{
    format_hex_bytes, parse_hex_bytes, validate_id, ConnectionKind, DeviceKind, FlowControl,
    Parity, SerialSettings, TextEncoding, STANDARD_BAUD_RATES,
};
pub use counter_scale::{CounterScaleProfile, ScaleProtocol};
pub use display::{DisplayCommands, DisplayProfile};
pub use error::{ProfileError, ProfileErrorKind};
pub use gate::{GateCommands, GateRelayProfile, GateTiming};
pub use inventory::{
    EdgeDevices, Gate, Lane, PrinterConnection, PrinterDevice, SerialDevice, StoreInventory,
};
pub use printer::{
    ChineseText, PrinterCommands, PrinterProfile, PrinterText, QrErrorCorrection, QrSettings,
    RealTimeStatus, DEFAULT_STATUS_TIMEOUT_MS,
};
pub use scanner::{
    AimSettings, FrameSettings, FrameSuffix, ScannerInterface, ScannerProfile, Symbology,
};

/// The file name used in errors from `from_toml_str`.
const INLINE: &str = "<inline>";

/// A device profile of any kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profile {
    /// A barcode scanner.
    Scanner(ScannerProfile),
    /// A receipt printer.
    Printer(PrinterProfile),
    /// A gate relay.
    GateRelay(GateRelayProfile),
    /// A customer display.
    Display(DisplayProfile),
    /// A counter scale.
    CounterScale(CounterScaleProfile),
}

impl Profile {
    /// Parses and validates a profile of the kind its `kind` field names (all problems, not
    /// just the first).
    pub fn from_toml_str(text: &str) -> Result<Self, Vec<ProfileError>> {
        Self::parse(Path::new(INLINE), text)
    }

    fn parse(file: &Path, text: &str) -> Result<Self, Vec<ProfileError>> {
        #[derive(Deserialize)]
        struct Probe {
            kind: DeviceKind,
        }
        let probe: Probe = common::parse_raw(file, text)?;
        Ok(match probe.kind {
            DeviceKind::Scanner => Profile::Scanner(ScannerProfile::parse(file, text)?),
            DeviceKind::Printer => Profile::Printer(PrinterProfile::parse(file, text)?),
            DeviceKind::GateRelay => Profile::GateRelay(GateRelayProfile::parse(file, text)?),
            DeviceKind::Display => Profile::Display(DisplayProfile::parse(file, text)?),
            DeviceKind::CounterScale => {
                Profile::CounterScale(CounterScaleProfile::parse(file, text)?)
            }
        })
    }

    /// The kind of device.
    pub fn kind(&self) -> DeviceKind {
        match self {
            Profile::Scanner(_) => DeviceKind::Scanner,
            Profile::Printer(_) => DeviceKind::Printer,
            Profile::GateRelay(_) => DeviceKind::GateRelay,
            Profile::Display(_) => DeviceKind::Display,
            Profile::CounterScale(_) => DeviceKind::CounterScale,
        }
    }

    /// The profile id.
    pub fn id(&self) -> &str {
        match self {
            Profile::Scanner(p) => &p.id,
            Profile::Printer(p) => &p.id,
            Profile::GateRelay(p) => &p.id,
            Profile::Display(p) => &p.id,
            Profile::CounterScale(p) => &p.id,
        }
    }

    /// A one-line description for reports, e.g. `printer epson-tm-t88v: Epson TM-T88V (…)`.
    pub fn summary(&self) -> String {
        match self {
            Profile::Scanner(p) => format!(
                "scanner {}: {} {} ({}, {}, suffix {}, AIM ids {})",
                p.id,
                p.vendor,
                p.model,
                match p.interface {
                    ScannerInterface::UsbCdc => "USB-CDC",
                    ScannerInterface::Rs232 => "RS-232",
                },
                serial_summary(&p.serial),
                match p.frame.suffix {
                    FrameSuffix::Cr => "CR",
                    FrameSuffix::Lf => "LF",
                    FrameSuffix::CrLf => "CRLF",
                },
                if p.aim.enabled { "on" } else { "off" },
            ),
            Profile::Printer(p) => format!(
                "printer {}: {} {} ({} mm, {} columns, {}, {} QR{}; {})",
                p.id,
                p.vendor,
                p.model,
                p.paper_width_mm,
                p.text.font_a_columns,
                p.text.encoding,
                if p.qr.native { "native" } else { "raster" },
                match p.real_time_status {
                    Some(s) => format!(", real-time status ({} ms)", s.timeout_ms),
                    None => String::new(),
                },
                p.connections
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Profile::GateRelay(p) => format!(
                "gate relay {}: {} {} ({}, open pulse {} ms)",
                p.id,
                p.vendor,
                p.model,
                serial_summary(&p.serial),
                p.timing.open_pulse_ms
            ),
            Profile::Display(p) => format!(
                "customer display {}: {} {} ({}×{}, {}, {})",
                p.id,
                p.vendor,
                p.model,
                p.rows,
                p.columns,
                p.encoding,
                serial_summary(&p.serial)
            ),
            Profile::CounterScale(p) => format!(
                "counter scale {}: {} {} ({:?}, up to {} g, {})",
                p.id,
                p.vendor,
                p.model,
                p.protocol,
                p.capacity_g,
                serial_summary(&p.serial)
            ),
        }
    }
}

/// `115200 8N1`.
fn serial_summary(s: &SerialSettings) -> String {
    let parity = match s.parity {
        Parity::None => 'N',
        Parity::Even => 'E',
        Parity::Odd => 'O',
    };
    format!("{} {}{}{}", s.baud, s.data_bits, parity, s.stop_bits)
}

/// All known device models, by profile id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceCatalog {
    /// Scanner profiles.
    pub scanners: BTreeMap<String, ScannerProfile>,
    /// Printer profiles.
    pub printers: BTreeMap<String, PrinterProfile>,
    /// Gate relay profiles.
    pub gates: BTreeMap<String, GateRelayProfile>,
    /// Customer display profiles.
    pub displays: BTreeMap<String, DisplayProfile>,
    /// Counter scale profiles.
    pub counter_scales: BTreeMap<String, CounterScaleProfile>,
}

impl DeviceCatalog {
    /// Same as the free function [`load_dir`].
    pub fn load_dir(path: &Path) -> Result<Self, ProfileError> {
        load_dir(path)
    }

    /// The kind of the profile with this id, if any.
    pub fn kind_of(&self, id: &str) -> Option<DeviceKind> {
        if self.scanners.contains_key(id) {
            Some(DeviceKind::Scanner)
        } else if self.printers.contains_key(id) {
            Some(DeviceKind::Printer)
        } else if self.gates.contains_key(id) {
            Some(DeviceKind::GateRelay)
        } else if self.displays.contains_key(id) {
            Some(DeviceKind::Display)
        } else if self.counter_scales.contains_key(id) {
            Some(DeviceKind::CounterScale)
        } else {
            None
        }
    }

    /// Adds a profile. Ids are unique across all kinds: returns `false` (and changes nothing)
    /// when the id is already taken.
    pub fn insert(&mut self, profile: Profile) -> bool {
        if self.kind_of(profile.id()).is_some() {
            return false;
        }
        match profile {
            Profile::Scanner(p) => {
                self.scanners.insert(p.id.clone(), p);
            }
            Profile::Printer(p) => {
                self.printers.insert(p.id.clone(), p);
            }
            Profile::GateRelay(p) => {
                self.gates.insert(p.id.clone(), p);
            }
            Profile::Display(p) => {
                self.displays.insert(p.id.clone(), p);
            }
            Profile::CounterScale(p) => {
                self.counter_scales.insert(p.id.clone(), p);
            }
        }
        true
    }

    /// Number of profiles.
    pub fn len(&self) -> usize {
        self.scanners.len()
            + self.printers.len()
            + self.gates.len()
            + self.displays.len()
            + self.counter_scales.len()
    }

    /// Whether there are no profiles.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The outcome of checking one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    /// The file (or folder, for folder-level problems).
    pub path: PathBuf,
    /// What the file describes, when it could be read (e.g. `store SH001: 3 lanes, …`).
    pub summary: Option<String>,
    /// Every problem found (empty: the file is valid).
    pub errors: Vec<ProfileError>,
}

/// The outcome of checking a whole `firmware-config` folder: one entry per file, valid or not.
///
/// `Display` prints one `OK` / `ERROR` line per file, each error indented under its file, then a
/// total line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// The folder checked.
    pub root: PathBuf,
    /// Profiles first, then inventories, each in path order.
    pub files: Vec<FileCheck>,
}

impl CheckReport {
    /// Whether every file is valid.
    pub fn is_ok(&self) -> bool {
        self.files.iter().all(|f| f.errors.is_empty())
    }

    /// Every error of every file.
    pub fn errors(&self) -> impl Iterator<Item = &ProfileError> {
        self.files.iter().flat_map(|f| f.errors.iter())
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            let path = file.path.strip_prefix(&self.root).unwrap_or(&file.path);
            let status = if file.errors.is_empty() {
                "OK   "
            } else {
                "ERROR"
            };
            write!(f, "{status} {}", path.display())?;
            if let Some(summary) = &file.summary {
                write!(f, " — {summary}")?;
            }
            writeln!(f)?;
            for e in &file.errors {
                write!(f, "      ")?;
                if let Some(line) = e.line {
                    write!(f, "line {line}: ")?;
                }
                if let Some(field) = &e.field {
                    write!(f, "{field}: ")?;
                }
                writeln!(f, "{}", e.kind)?;
            }
        }
        let bad = self.files.iter().filter(|f| !f.errors.is_empty()).count();
        write!(
            f,
            "{} files checked: {} OK, {bad} with errors ({} errors)",
            self.files.len(),
            self.files.len() - bad,
            self.errors().count()
        )
    }
}

/// Loads every profile under `path/profiles` (or under `path` itself when it has no
/// `profiles` subfolder), recursively, in path order. Fails on the first problem; use
/// [`check_dir`] to see them all.
pub fn load_dir(path: &Path) -> Result<DeviceCatalog, ProfileError> {
    let profiles = path.join("profiles");
    let dir = if profiles.is_dir() {
        profiles
    } else {
        path.to_path_buf()
    };
    let scan = scan_profiles(&dir);
    if let Some(e) = scan.files.into_iter().flat_map(|f| f.errors).next() {
        return Err(e);
    }
    if scan.catalog.is_empty() {
        return Err(ProfileError::new(
            &dir,
            "",
            ProfileErrorKind::Invalid("no profile files (*.toml) found".into()),
        ));
    }
    Ok(scan.catalog)
}

/// Loads one store inventory (`firmware-config/stores/SH001.toml`) and checks it against
/// `catalog`. Fails on the first problem.
pub fn load_inventory(
    path: &Path,
    catalog: &DeviceCatalog,
) -> Result<StoreInventory, ProfileError> {
    let (_, errors, inventory) = inventory_file(path, catalog, &BTreeSet::new());
    match (errors.into_iter().next(), inventory) {
        (None, Some(inventory)) => Ok(inventory),
        (Some(e), _) => Err(e),
        (None, None) => Err(ProfileError::new(
            path,
            "",
            ProfileErrorKind::Invalid("could not be loaded".into()),
        )),
    }
}

/// Checks a whole `firmware-config` folder: every profile under `profiles/` and every inventory
/// under `stores/` (against the valid profiles). Returns the report when everything is valid,
/// otherwise **all** errors of all files.
pub fn check_dir(path: &Path) -> Result<CheckReport, Vec<ProfileError>> {
    let report = inspect_dir(path);
    if report.is_ok() {
        Ok(report)
    } else {
        Err(report.errors().cloned().collect())
    }
}

/// Like [`check_dir`], but always returns the per-file report (valid files included), for
/// printing.
pub fn inspect_dir(path: &Path) -> CheckReport {
    let mut files = Vec::new();
    let profiles = path.join("profiles");
    let (catalog, broken) = if profiles.is_dir() {
        let scan = scan_profiles(&profiles);
        files.extend(scan.files);
        (scan.catalog, scan.broken)
    } else {
        files.push(FileCheck {
            path: profiles.clone(),
            summary: None,
            errors: vec![ProfileError::new(
                &profiles,
                "",
                ProfileErrorKind::Io(format!(
                    "not a folder; {} should hold profiles/ and stores/",
                    path.display()
                )),
            )],
        });
        Default::default()
    };
    let stores = path.join("stores");
    if stores.exists() {
        match toml_files(&stores) {
            Ok(paths) => {
                for file in paths {
                    let (summary, errors, _) = inventory_file(&file, &catalog, &broken);
                    files.push(FileCheck {
                        path: file,
                        summary,
                        errors,
                    });
                }
            }
            Err(e) => files.push(FileCheck {
                path: stores,
                summary: None,
                errors: vec![e],
            }),
        }
    }
    CheckReport {
        root: path.to_path_buf(),
        files,
    }
}

struct ProfileScan {
    catalog: DeviceCatalog,
    files: Vec<FileCheck>,
    /// Ids (file names) of profile files with errors.
    broken: BTreeSet<String>,
}

fn scan_profiles(dir: &Path) -> ProfileScan {
    let mut scan = ProfileScan {
        catalog: DeviceCatalog::default(),
        files: Vec::new(),
        broken: BTreeSet::new(),
    };
    let paths = match toml_files(dir) {
        Ok(paths) => paths,
        Err(e) => {
            scan.files.push(FileCheck {
                path: dir.to_path_buf(),
                summary: None,
                errors: vec![e],
            });
            return scan;
        }
    };
    let mut sources: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in paths {
        let stem = file_stem(&path);
        let mut summary = None;
        let errors = match read(&path).and_then(|text| Profile::parse(&path, &text)) {
            Err(errors) => errors,
            Ok(profile) => {
                summary = Some(profile.summary());
                let id = profile.id().to_string();
                if let Some(first) = sources.get(&id) {
                    vec![ProfileError::new(
                        &path,
                        "id",
                        ProfileErrorKind::DuplicateId {
                            id,
                            first: first.clone(),
                        },
                    )]
                } else {
                    sources.insert(id, path.clone());
                    scan.catalog.insert(profile);
                    Vec::new()
                }
            }
        };
        if !errors.is_empty() && !sources.contains_key(&stem) {
            scan.broken.insert(stem);
        }
        scan.files.push(FileCheck {
            path,
            summary,
            errors,
        });
    }
    scan
}

/// Reads and validates one inventory: (summary, errors, inventory when valid).
fn inventory_file(
    path: &Path,
    catalog: &DeviceCatalog,
    broken: &BTreeSet<String>,
) -> (Option<String>, Vec<ProfileError>, Option<StoreInventory>) {
    let parsed = read(path).and_then(|text| StoreInventory::parse(path, &text, catalog, broken));
    match parsed {
        Err(errors) => (None, errors, None),
        Ok(inventory) => (
            Some(inventory_summary(&inventory)),
            Vec::new(),
            Some(inventory),
        ),
    }
}

fn inventory_summary(inv: &StoreInventory) -> String {
    let mut parts = vec![plural(inv.lanes.len(), "lane")];
    if let Some(edge) = &inv.edge {
        parts.push(format!(
            "edge agent with {}",
            plural(edge.gates.len(), "gate")
        ));
        if edge.pickup_printer.is_some() {
            parts.push("a pickup printer".into());
        }
    }
    format!("store {}: {}", inv.store, parts.join(", "))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read(path: &Path) -> Result<String, Vec<ProfileError>> {
    std::fs::read_to_string(path).map_err(|e| {
        vec![ProfileError::new(
            path,
            "",
            ProfileErrorKind::Io(e.to_string()),
        )]
    })
}

/// Every `*.toml` file under `dir` (recursively, hidden entries skipped), sorted.
fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, ProfileError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ProfileError> {
        let io =
            |e: std::io::Error| ProfileError::new(dir, "", ProfileErrorKind::Io(e.to_string()));
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type().map_err(io)?.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    out.sort();
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn real_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-config")
    }

    #[test]
    fn the_real_firmware_config_folder_is_valid() {
        let root = real_dir();
        let report = match check_dir(&root) {
            Ok(report) => report,
            Err(errors) => panic!(
                "firmware-config has errors:\n{}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        };
        let catalog = load_dir(&root).unwrap();
        assert!(catalog.scanners.len() >= 3, "{:?}", catalog.scanners.keys());
        assert!(catalog.printers.values().any(|p| p.paper_width_mm == 58));
        assert!(catalog.printers.values().any(|p| p.paper_width_mm == 80));
        assert!(!catalog.gates.is_empty());
        assert!(!catalog.displays.is_empty());
        // Same catalog from the profiles folder itself.
        assert_eq!(load_dir(&root.join("profiles")).unwrap(), catalog);

        let sh001 = load_inventory(&root.join("stores/SH001.toml"), &catalog).unwrap();
        assert_eq!(sh001.store, "SH001");
        assert!(!sh001.lanes.is_empty());
        let edge = sh001.edge.as_ref().unwrap();
        assert!(!edge.gates.is_empty());
        assert!(edge.pickup_printer.is_some());
        let stores = report
            .files
            .iter()
            .filter(|f| f.path.starts_with(root.join("stores")))
            .count();
        assert!(stores >= 1);
        let text = report.to_string();
        assert!(
            text.contains("OK    stores/SH001.toml — store SH001"),
            "{text}"
        );
        assert!(text.ends_with("0 with errors (0 errors)"), "{text}");
    }

    #[test]
    fn any_kind_parses_by_its_kind_field() {
        let p = Profile::from_toml_str(scanner::tests::GOOD).unwrap();
        assert_eq!((p.kind(), p.id()), (DeviceKind::Scanner, "test-scanner"));
        let p = Profile::from_toml_str(gate::tests::GOOD).unwrap();
        assert_eq!(p.kind(), DeviceKind::GateRelay);
        let errors = Profile::from_toml_str("kind = \"printr\"\n").unwrap_err();
        assert_eq!(errors[0].field.as_deref(), Some("kind"));
        assert!(matches!(errors[0].kind, ProfileErrorKind::BadValue(_)));
        let errors = Profile::from_toml_str("id = \"x\"\n").unwrap_err();
        assert_eq!(errors[0].field.as_deref(), Some("kind"));
        assert_eq!(errors[0].kind, ProfileErrorKind::MissingField);
        let errors = Profile::from_toml_str("kind = \"scanner\"\nid = [\n").unwrap_err();
        assert!(matches!(errors[0].kind, ProfileErrorKind::Syntax(_)));
    }

    #[test]
    fn catalog_ids_are_unique_across_kinds() {
        let mut catalog = DeviceCatalog::default();
        assert!(catalog.insert(Profile::from_toml_str(scanner::tests::GOOD).unwrap()));
        let clash = display::tests::GOOD.replace("test-display", "test-scanner");
        assert!(!catalog.insert(Profile::from_toml_str(&clash).unwrap()));
        assert_eq!(catalog.len(), 1);
        assert_eq!(catalog.kind_of("test-scanner"), Some(DeviceKind::Scanner));
    }

    /// A scratch folder under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "retail-profiles-{name}-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(dir.join("profiles/scanners")).unwrap();
            std::fs::create_dir_all(dir.join("stores")).unwrap();
            Scratch(dir)
        }

        fn write(&self, rel: &str, text: &str) {
            std::fs::write(self.0.join(rel), text).unwrap();
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn check_dir_reports_every_error_of_every_file() {
        let dir = Scratch::new("errors");
        let scanner = scanner::tests::GOOD;
        dir.write("profiles/scanners/test-scanner.toml", scanner);
        // Duplicate id in another folder.
        std::fs::create_dir_all(dir.0.join("profiles/zz")).unwrap();
        dir.write("profiles/zz/test-scanner.toml", scanner);
        // Two problems in one file; its id becomes "broken".
        dir.write(
            "profiles/test-display.toml",
            &display::tests::GOOD
                .replace("baud = 9600", "baud = 9601")
                .replace("clear = \"0C\"", "clear = \"0X\""),
        );
        dir.write("profiles/notes.txt", "not a profile");
        dir.write("profiles/bad-syntax.toml", "kind = \"scanner\"\nid = \n");
        dir.write(
            "stores/SH001.toml",
            "store = \"SH001\"\n[[lanes]]\nlane = 1\n\
             scanner = { model = \"test-scanner\", port = \"/dev/ttyACM0\" }\n\
             printer = { model = \"nope\", usb_lp = \"/dev/usb/lp0\" }\n\
             display = { model = \"test-display\", port = \"/dev/ttyACM0\" }\n",
        );
        dir.write(
            "stores/SH002.toml",
            "store = \"SH003\"\n[[lanes]]\nlane = 1\n\
             scanner = { model = \"test-scanner\", port = \"/dev/ttyACM0\" }\n\
             printer = { model = \"test-scanner\", usb_lp = \"/dev/usb/lp0\" }\n",
        );

        let errors = check_dir(&dir.0).unwrap_err();
        let described: Vec<String> = errors
            .iter()
            .map(|e| {
                format!(
                    "{} {} {:?}",
                    e.file.strip_prefix(&dir.0).unwrap().display(),
                    e.field.as_deref().unwrap_or("-"),
                    std::mem::discriminant(&e.kind)
                )
            })
            .collect();
        assert_eq!(errors.len(), 9, "{described:#?}");
        let kinds: Vec<&ProfileErrorKind> = errors.iter().map(|e| &e.kind).collect();
        assert!(matches!(kinds[0], ProfileErrorKind::Syntax(_)), "{kinds:?}");
        assert_eq!(kinds[1], &ProfileErrorKind::BadBaudRate(9601));
        assert!(matches!(kinds[2], ProfileErrorKind::BadHex { .. }));
        assert!(matches!(kinds[3], ProfileErrorKind::DuplicateId { .. }));
        assert!(matches!(kinds[4], ProfileErrorKind::UnknownModel { .. }));
        assert!(matches!(kinds[5], ProfileErrorKind::BrokenModel { .. }));
        assert!(matches!(kinds[6], ProfileErrorKind::DuplicatePort { .. }));
        assert!(matches!(kinds[7], ProfileErrorKind::NameMismatch { .. }));
        assert!(matches!(
            kinds[8],
            ProfileErrorKind::ModelOfOtherKind { .. }
        ));

        let report = inspect_dir(&dir.0);
        assert_eq!(report.files.len(), 6);
        let text = report.to_string();
        assert!(
            text.contains("OK    profiles/scanners/test-scanner.toml — scanner test-scanner"),
            "{text}"
        );
        assert!(text.contains("ERROR profiles/test-display.toml"), "{text}");
        assert!(text.contains("serial.baud: baud rate 9601"), "{text}");
        assert!(
            text.ends_with("6 files checked: 1 OK, 5 with errors (9 errors)"),
            "{text}"
        );

        // load_dir stops at the first error.
        let first = load_dir(&dir.0).unwrap_err();
        assert!(matches!(first.kind, ProfileErrorKind::Syntax(_)));
    }

    #[test]
    fn id_must_match_the_file_name_and_folders_must_exist() {
        let dir = Scratch::new("names");
        dir.write("profiles/scanners/other-name.toml", scanner::tests::GOOD);
        let errors = check_dir(&dir.0).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field.as_deref(), Some("id"));
        assert_eq!(
            errors[0].kind,
            ProfileErrorKind::NameMismatch {
                value: "test-scanner".into(),
                expected: "other-name".into()
            }
        );

        let missing = dir.0.join("nowhere");
        let errors = check_dir(&missing).unwrap_err();
        assert!(matches!(errors[0].kind, ProfileErrorKind::Io(_)));
        assert!(matches!(
            load_dir(&missing).unwrap_err().kind,
            ProfileErrorKind::Io(_)
        ));
        let empty = Scratch::new("empty");
        assert!(matches!(
            load_dir(&empty.0).unwrap_err().kind,
            ProfileErrorKind::Invalid(_)
        ));
        let catalog = DeviceCatalog::default();
        assert!(matches!(
            load_inventory(&empty.0.join("stores/XX.toml"), &catalog)
                .unwrap_err()
                .kind,
            ProfileErrorKind::Io(_)
        ));
    }
}
