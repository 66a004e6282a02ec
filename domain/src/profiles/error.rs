//! Errors from loading and validating device profiles and store inventories, and the mapping of
//! TOML parser errors to a file, line and field path.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{ConnectionKind, DeviceKind};

/// One problem in one file: where it is (file, line when known, dotted field path) and what it is.
///
/// `Display` gives a single line such as
/// `firmware-config/profiles/scanners/x.toml:4: serial.baud: baud rate 9601 is not a standard rate (…)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileError {
    /// The file the problem is in (`<inline>` for text parsed with `from_toml_str`).
    pub file: PathBuf,
    /// 1-based line number, when the parser could tell.
    pub line: Option<u32>,
    /// Dotted path of the offending field, e.g. `serial.baud` or `lanes[1].printer.tcp`; `None`
    /// when the problem concerns the file as a whole.
    pub field: Option<String>,
    /// What is wrong.
    pub kind: ProfileErrorKind,
}

impl ProfileError {
    /// An error about `field` (empty: the whole file) in `file`.
    pub fn new(file: &Path, field: &str, kind: ProfileErrorKind) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            field: (!field.is_empty()).then(|| field.to_string()),
            kind,
        }
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for ProfileError {}

/// What is wrong with a profile or inventory file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileErrorKind {
    /// The file or folder could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// The text is not valid TOML.
    #[error("not valid TOML: {0}")]
    Syntax(String),
    /// A required field is absent.
    #[error("required field is missing")]
    MissingField,
    /// A field that this kind of file does not have (often a typo).
    #[error("unknown field; {expected}")]
    UnknownField {
        /// The parser's list of the fields that are allowed here.
        expected: String,
    },
    /// A value of the wrong type, or not one of the allowed words.
    #[error("{0}")]
    BadValue(String),
    /// The file has no `kind`, or describes another kind of device than the caller expected.
    #[error("this is a {found} profile, expected a {expected} profile")]
    WrongKind {
        /// The kind the caller asked for.
        expected: DeviceKind,
        /// The kind the file declares.
        found: DeviceKind,
    },
    /// A baud rate that is not one of [`super::STANDARD_BAUD_RATES`].
    #[error("baud rate {0} is not a standard rate (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, …)")]
    BadBaudRate(u32),
    /// A number outside its allowed set or range.
    #[error("{value} is not allowed (allowed: {allowed})")]
    OutOfRange {
        /// The value found.
        value: i64,
        /// The allowed values, in words.
        allowed: &'static str,
    },
    /// Characters per line that no supported printer layout uses, or that do not fit the paper.
    #[error("{columns} columns is not a supported layout ({allowed})")]
    BadColumns {
        /// The columns found.
        columns: u16,
        /// What would be accepted here, in words.
        allowed: String,
    },
    /// A byte string that is not written as space-separated two-digit hex bytes.
    #[error("`{text}` is not a list of hex bytes like \"1D 56 42 00\": {reason}")]
    BadHex {
        /// The text found.
        text: String,
        /// Why it was refused.
        reason: String,
    },
    /// Valid hex bytes that are not the command they should be.
    #[error("bytes {bytes} are not {expected}")]
    BadCommand {
        /// The bytes found, as hex.
        bytes: String,
        /// What the bytes should be, e.g. "an ESC/POS cut command (`GS V m [n]`)".
        expected: &'static str,
    },
    /// An identifier, store code, lane or gate number that is badly formed.
    #[error("`{value}` is not a valid {what}: {reason}")]
    BadName {
        /// The value found.
        value: String,
        /// What it names, e.g. "profile id".
        what: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The `id` (or `store`) inside a file does not match the file's name.
    #[error("`{value}` does not match the file name (expected `{expected}`)")]
    NameMismatch {
        /// The value in the file.
        value: String,
        /// The value the file name asks for.
        expected: String,
    },
    /// Two profiles with the same id.
    #[error("profile id `{id}` is already used by {first}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The file that defined it first.
        first: PathBuf,
    },
    /// An inventory names a model that no profile defines.
    #[error("unknown {kind} model `{model}` (no profile with this id)")]
    UnknownModel {
        /// The kind of device expected in this slot.
        kind: DeviceKind,
        /// The model id named.
        model: String,
    },
    /// An inventory names a model that is a profile of another kind.
    #[error("`{model}` is a {found} profile, but a {expected} is needed here")]
    ModelOfOtherKind {
        /// The kind of device expected in this slot.
        expected: DeviceKind,
        /// The kind of the named profile.
        found: DeviceKind,
        /// The model id named.
        model: String,
    },
    /// An inventory names a model whose profile file exists but has errors.
    #[error("the profile of {kind} model `{model}` has errors (see its file)")]
    BrokenModel {
        /// The kind of device expected in this slot.
        kind: DeviceKind,
        /// The model id named.
        model: String,
    },
    /// Two devices of one machine (a lane or the edge agent) on the same port, or two printers
    /// at the same network address.
    #[error("`{port}` is already used by {first}")]
    DuplicatePort {
        /// The port, device file or `host:port`.
        port: String,
        /// The field path of the device that uses it first.
        first: String,
    },
    /// A printer connected in a way its profile does not allow.
    #[error(
        "printer model `{model}` cannot be connected by {connection} (its profile allows: {})",
        list(allowed)
    )]
    ConnectionNotAllowed {
        /// The printer model.
        model: String,
        /// The connection asked for.
        connection: ConnectionKind,
        /// The connections the profile allows.
        allowed: Vec<ConnectionKind>,
    },
    /// A lane or gate number used twice in one inventory.
    #[error("{what} {number} appears more than once")]
    DuplicateNumber {
        /// "lane" or "gate".
        what: &'static str,
        /// The number.
        number: u8,
    },
    /// A port path, device file or network address that is badly formed.
    #[error("`{value}` is not a valid {what}: {reason}")]
    BadAddress {
        /// The value found.
        value: String,
        /// "serial port", "USB line printer device" or "host:port".
        what: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Any other rule, explained in words.
    #[error("{0}")]
    Invalid(String),
}

fn list(kinds: &[ConnectionKind]) -> String {
    kinds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Converts a TOML parse/deserialise error into a [`ProfileError`] naming the line and field.
pub(super) fn from_toml_error(file: &Path, text: &str, err: &toml::de::Error) -> ProfileError {
    let message = err.message().trim();
    let span = err.span();
    let (mut line, path) = match &span {
        Some(span) => {
            let (line, path) = locate(text, span.clone());
            (Some(line), path)
        }
        None => (None, String::new()),
    };
    let backticked = || {
        message
            .split('`')
            .nth(1)
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    let join = |path: &str, name: &str| match (path.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (false, true) => path.to_string(),
        (false, false) => format!("{path}.{name}"),
    };
    // The deserialiser's errors and the parser's look alike; the text tells them apart.
    let is_syntax = toml::from_str::<toml::Table>(text).is_err();
    let (field, kind) = if is_syntax {
        let reason = if message.is_empty() {
            syntax_reason(err)
        } else {
            message
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("; ")
        };
        (path, ProfileErrorKind::Syntax(reason))
    } else if message.starts_with("missing field") {
        if path.is_empty() {
            // The "line" of the root table is just where its first key happens to be.
            line = None;
        }
        (join(&path, &backticked()), ProfileErrorKind::MissingField)
    } else if message.starts_with("unknown field") {
        let expected = message
            .split_once(", ")
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_else(|| "there are no fields here".to_string());
        (
            join(&path, &backticked()),
            ProfileErrorKind::UnknownField { expected },
        )
    } else {
        (path, ProfileErrorKind::BadValue(message.to_string()))
    };
    let mut error = ProfileError::new(file, &field, kind);
    error.line = line;
    error
}

/// The reason part of a TOML syntax error's `Display` (without the position line and the source
/// excerpt).
fn syntax_reason(err: &toml::de::Error) -> String {
    let text = err.to_string();
    let reason: Vec<&str> = text
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('|')
                && !l
                    .split_once(" |")
                    .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    if reason.is_empty() {
        "syntax error".to_string()
    } else {
        reason.join("; ")
    }
}

/// The 1-based line of `span.start` and the dotted key path of the table or value there.
///
/// TOML errors carry a byte span, not a key path; this recovers the path from the text:
/// the last table header before the span (with array-of-tables indexes), then the keys (and
/// inline-table keys) on the statement that contains the span.
pub(super) fn locate(text: &str, span: std::ops::Range<usize>) -> (u32, String) {
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    // The root table's span is empty when the document starts with a header.
    if span.is_empty() && start == 0 {
        return (1, String::new());
    }
    // Skip blank lines and comments at the start of the span (table spans may include them).
    let end = span.end.min(text.len()).max(start);
    let mut pos = start;
    loop {
        let rest = &text[pos..end];
        let trimmed = rest.trim_start();
        let skipped = rest.len() - trimmed.len();
        if trimmed.starts_with('#') {
            match trimmed.find('\n') {
                Some(nl) => pos += skipped + nl + 1,
                None => break,
            }
        } else {
            if !trimmed.is_empty() {
                pos += skipped;
            }
            break;
        }
    }
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line_no = u32::try_from(text[..pos].matches('\n').count() + 1).unwrap_or(u32::MAX);

    // Table header context up to and including this line.
    let mut aot_counts: std::collections::HashMap<String, usize> = Default::default();
    let mut header: Vec<String> = Vec::new();
    let mut header_line_start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if offset > line_start {
            break;
        }
        if let Some((segments, is_array)) = parse_header(line) {
            if is_array {
                *aot_counts.entry(segments.join(".")).or_insert(0) += 1;
            }
            header = segments;
            header_line_start = offset;
        }
        offset += line.len();
    }
    let mut header_path = String::new();
    for (i, segment) in header.iter().enumerate() {
        if i > 0 {
            header_path.push('.');
        }
        header_path.push_str(segment);
        if let Some(n) = aot_counts.get(&header[..=i].join(".")) {
            header_path.push_str(&format!("[{}]", n.saturating_sub(1)));
        }
    }
    if header_line_start == line_start && !header.is_empty() {
        return (line_no, header_path);
    }

    // The statement containing `pos`: back up over continuation lines of multi-line arrays.
    let mut stmt_start = line_start;
    while stmt_start > header_line_start {
        let line_end = text[stmt_start..]
            .find('\n')
            .map_or(text.len(), |i| stmt_start + i);
        let line = &text[stmt_start..line_end];
        if is_key_line(line) {
            break;
        }
        match text[..stmt_start.saturating_sub(1)].rfind('\n') {
            Some(i) => stmt_start = i + 1,
            None => {
                stmt_start = 0;
                break;
            }
        }
    }
    let keys = walk_keys(&text[stmt_start..pos]);
    let mut path = header_path;
    for key in keys {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&key);
    }
    (line_no, path)
}

/// `[a.b]` → (["a","b"], false); `[[a]]` → (["a"], true); other lines → None.
fn parse_header(line: &str) -> Option<(Vec<String>, bool)> {
    let line = line.trim();
    if !line.starts_with('[') {
        return None;
    }
    let is_array = line.starts_with("[[");
    let inner = if is_array {
        line.strip_prefix("[[")?.split("]]").next()?
    } else {
        line.strip_prefix('[')?.split(']').next()?
    };
    Some((
        inner
            .split('.')
            .map(|s| s.trim().trim_matches('"').trim_matches('\'').to_string())
            .collect(),
        is_array,
    ))
}

/// Whether a line starts a `key = value` statement.
fn is_key_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    let Some(first) = trimmed.chars().next() else {
        return false;
    };
    (first.is_ascii_alphanumeric() || matches!(first, '_' | '-' | '"' | '\''))
        && !walk_keys(trimmed).is_empty()
}

/// The open keys at the end of `text` (a statement prefix): the statement's key, then the keys
/// of the inline tables the end lies in.
fn walk_keys(text: &str) -> Vec<String> {
    enum Frame {
        Table {
            key: Option<String>,
            expecting_key: bool,
        },
        Array,
    }
    let mut frames = vec![Frame::Table {
        key: None,
        expecting_key: true,
    }];
    let mut pending_key = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let in_key = matches!(
            frames.last(),
            Some(Frame::Table {
                expecting_key: true,
                ..
            })
        );
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' | '\'' => {
                let mut s = String::new();
                let mut escaped = false;
                for c2 in chars.by_ref() {
                    if escaped {
                        escaped = false;
                        s.push(c2);
                    } else if c == '"' && c2 == '\\' {
                        escaped = true;
                    } else if c2 == c {
                        break;
                    } else {
                        s.push(c2);
                    }
                }
                if in_key {
                    if !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                    {
                        pending_key.push_str(&s);
                    } else {
                        pending_key.push('"');
                        pending_key.push_str(&s);
                        pending_key.push('"');
                    }
                }
            }
            '=' if in_key => {
                if let Some(Frame::Table { key, expecting_key }) = frames.last_mut() {
                    *key = Some(std::mem::take(&mut pending_key).trim().to_string());
                    *expecting_key = false;
                }
            }
            _ if in_key => {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                    pending_key.push(c);
                } else if c == '}' {
                    frames.pop();
                    pending_key.clear();
                }
            }
            '{' => frames.push(Frame::Table {
                key: None,
                expecting_key: true,
            }),
            '[' => frames.push(Frame::Array),
            '}' | ']' if frames.len() > 1 => {
                frames.pop();
            }
            ',' => {
                if let Some(Frame::Table { key, expecting_key }) = frames.last_mut() {
                    *key = None;
                    *expecting_key = true;
                }
            }
            _ => {}
        }
    }
    frames
        .into_iter()
        .filter_map(|f| match f {
            Frame::Table { key, .. } => key,
            Frame::Array => None,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> (u32, String) {
        let start = text.find(needle).unwrap();
        locate(text, start..start + needle.len())
    }

    #[test]
    fn locate_finds_header_keys_and_inline_tables() {
        let text = "id = 'a'\n[serial]\nbaud = 'x'\n[[lanes]]\nlane = 1\n[[lanes]]\nlane = 2\n\
                    scanner = { model = 'm', prt = 'p' }\n[lanes.printer]\nmodel = 'q'\n\
                    c = [\n  'a',\n  3,\n]\n";
        assert_eq!(at(text, "'a'"), (1, "id".into()));
        assert_eq!(at(text, "[serial]"), (2, "serial".into()));
        assert_eq!(at(text, "'x'"), (3, "serial.baud".into()));
        assert_eq!(at(text, "2"), (7, "lanes[1].lane".into()));
        assert_eq!(at(text, "'m'"), (8, "lanes[1].scanner.model".into()));
        assert_eq!(at(text, "prt"), (8, "lanes[1].scanner".into()));
        assert_eq!(at(text, "{ model"), (8, "lanes[1].scanner".into()));
        assert_eq!(at(text, "[lanes.printer]"), (9, "lanes[1].printer".into()));
        assert_eq!(at(text, "'q'"), (10, "lanes[1].printer.model".into()));
        assert_eq!(at(text, "3,"), (13, "lanes[1].printer.c".into()));
        assert_eq!(locate(text, 0..0), (1, String::new()));
        let text = "[aim]\nenabled = true\n[aim.ids]\n\"]E0\" = \"ean13\"\n\"]Q1\" = 3 # qr\n";
        assert_eq!(at(text, "3 #"), (5, "aim.ids.\"]Q1\"".into()));
    }

    #[test]
    fn toml_errors_name_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            id: String,
            serial: Serial,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Serial {
            baud: u32,
        }
        let file = Path::new("x.toml");
        let check = |text: &str| {
            let err = toml::from_str::<Doc>(text).unwrap_err();
            from_toml_error(file, text, &err)
        };
        let e = check("id = 'a'\n[serial]\n");
        assert_eq!(e.field.as_deref(), Some("serial.baud"));
        assert_eq!(e.kind, ProfileErrorKind::MissingField);
        let e = check("[serial]\nbaud = 1\n");
        assert_eq!(e.field.as_deref(), Some("id"));
        let e = check("# comment\nid = 'a'\n[serial]\nbaud = 1\nbuad = 2\n");
        assert_eq!(e.field.as_deref(), Some("serial.buad"));
        assert_eq!(e.line, Some(5));
        assert!(matches!(e.kind, ProfileErrorKind::UnknownField { .. }));
        let e = check("id = 'a'\nserial = { baud = -1 }\n");
        assert_eq!(e.field.as_deref(), Some("serial.baud"));
        assert!(matches!(e.kind, ProfileErrorKind::BadValue(_)));
        let e = check("id = 'a'\n[serial\n");
        assert!(matches!(e.kind, ProfileErrorKind::Syntax(_)), "{e}");
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().starts_with("x.toml:2: "), "{e}");
    }
}
