//! Label scales (price-computing scales that print barcode labels at the fresh counter): the
//! Dahua (大华) TM-series PLU download over TCP, byte by byte, and an async client of it.
//!
//! # The protocol
//!
//! The scale listens on TCP port **4001**. The host connects as a client and sends ASCII
//! commands, each ended by `CR LF`; the scale answers each command with bytes ending in
//! `CR LF ETX` (`0D 0A 03`) when it took it. Two commands are used:
//!
//! * `!0IA` — clear the scale's whole PLU table (sent before a full download);
//! * `!0V` — write one PLU record:
//!
//! ```text
//! !0V KKKK A IIIIIII PPPPPP M S1 S2 S3 LLL FF ** CCCCCCCCCCCCC TTTTT NN <26 × 0> B <name> C <remark> D <remark> E
//! ```
//!
//! | field | digits | meaning |
//! |---|---|---|
//! | `KKKK` | 4 | the PLU key (the scale's slot / hot-key number, 0001–9999) |
//! | `A` | | separator |
//! | `IIIIIII` | 7 | item code (商品编号): the number the scale prints into the barcode |
//! | `PPPPPP` | 6 | unit price in fen (per kg for a weighed item, per piece for a counted one) |
//! | `M` | 1 | mode (模式): `0` weighed (计重), `1` counted (计件) |
//! | `S1 S2 S3` | 2 each | special information 1–3 (特殊信息), `00` |
//! | `LLL` | 3 | shelf life in days (有效期), `000` none |
//! | `FF` | 2 | barcode flag (the label's leading digits, "店号"; `20`–`29`) |
//! | `**` | 2 | reserved, `00` |
//! | `C…` | 13 | a fixed 13-digit code, all `0` when the scale makes the barcode |
//! | `TTTTT` | 5 | tare in grams (皮重) |
//! | `NN` | 2 | label format number (标签号), `00` the scale's default |
//! | | 26 | reserved, all `0` |
//! | `B` `name` | | the name as GB2312 区位码: four decimal digits (row, cell) per character, ASCII first made full-width |
//! | `C` `D` `E` | | two remark fields (empty here), then the end of the record |
//!
//! Sources (public material, read and re-implemented here; no code copied):
//! * the "DHTMA07" field list and `!0IA` / `!0V` sender in `BarcodeScales.cs` of the Oybab
//!   trading system (GitHub `oybab/TradingSystem`, `Oybab.ServicePC/DialogWindow/BarcodeScales.cs`):
//!   port 4001, clear with `!0IA`, one `!0V` record per item, each ended by `0D 0A` and
//!   answered by bytes ending `0D 0A 03`, names as 区位码;
//! * "Integración balanza TM-30AB / TM-A30 por TCP/IP" (a captured TM-A30 frame,
//!   `!0V0017A4525925000500000…B066097110097110097000C000D000E`): the 73 characters between
//!   `A` and `B` of that capture match the field list above digit for digit (the sum of
//!   7, 6, 1, 6, 3, 2, 2, 13, 5, 2 and 26). That firmware writes names as 3-digit ASCII codes
//!   instead; the Chinese TM firmware this module targets takes 区位码.
//!
//! The published material gives no command to delete one PLU or to read the table back, so a
//! removal is a full download (clear, then every record), and the host keeps what it loaded
//! (see the edge agent's `scales` module).
//!
//! [`encode_plu`] / [`decode_plu`] and [`encode_name`] / [`decode_name`] are pure; the
//! [`LabelScaleClient`] drives any `AsyncRead + AsyncWrite` stream (a TCP connection to the
//! scale, a test pipe) with a timeout on every answer; [`LabelScaleProfile`] is a scale model's
//! profile from `firmware-config/label-scales/`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use encoding_rs::GBK;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The scale's TCP port for PLU downloads.
pub const DEFAULT_PORT: u16 = 4001;
/// Clears the scale's PLU table (with its `CR LF`).
pub const CLEAR_ALL: &[u8] = b"!0IA\r\n";
/// What the scale answers to a command it took.
pub const ACK: &[u8] = b"\r\n\x03";
/// End of an answer.
pub const ETX: u8 = 0x03;
/// Longest name, in characters, written to the scale (longer names are cut).
pub const MAX_NAME_CHARS: usize = 12;
/// Longest answer read before it is called garbage.
const MAX_ANSWER: usize = 64;

/// Weighed or counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PluMode {
    /// Sold by weight: the unit price is per kg (mode `0`).
    Weighed,
    /// Sold by the piece: the unit price is per piece (mode `1`).
    Counted,
}

impl PluMode {
    fn digit(self) -> char {
        match self {
            PluMode::Weighed => '0',
            PluMode::Counted => '1',
        }
    }
}

/// One PLU record as the scale holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PluRecord {
    /// The PLU key (slot), 1–9999.
    pub key: u16,
    /// The item code printed in the barcode, 0–9 999 999.
    pub item_code: u32,
    /// Unit price in fen (per kg or per piece), 0–999 999.
    pub unit_price_fen: u32,
    /// Weighed or counted.
    pub mode: PluMode,
    /// Shelf life in days, 0–999 (0: none printed).
    pub shelf_life_days: u16,
    /// The barcode flag (the label's two leading digits), 0–99; 20–29 for in-store labels.
    pub barcode_flag: u8,
    /// Tare in grams, 0–99 999.
    pub tare_g: u32,
    /// Label format number, 0–99 (0: the scale's default).
    pub label_no: u8,
    /// The item name (at most [`MAX_NAME_CHARS`] characters of GB2312).
    pub name: String,
}

/// Why a record cannot be encoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    /// A number does not fit its field.
    #[error("PLU {key}: {field} {value} does not fit (at most {max})")]
    OutOfRange {
        /// The PLU key.
        key: u16,
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
        /// Its largest value.
        max: u64,
    },
    /// A name character has no GB2312 code.
    #[error("PLU {key}: the name {name:?} has {ch:?}, which a GB2312 scale cannot print")]
    Unprintable {
        /// The PLU key.
        key: u16,
        /// The name.
        name: String,
        /// The character.
        ch: char,
    },
}

/// Why bytes are not a command of the protocol.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Not `!0IA` nor `!0V…`.
    #[error("not a label-scale command: {0}")]
    UnknownCommand(String),
    /// A `!0V` record of the wrong shape.
    #[error("malformed PLU record: {0}")]
    Malformed(String),
}

/// A command the scale receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleCommand {
    /// `!0IA`: clear every PLU.
    ClearAll,
    /// `!0V…`: write one PLU.
    Plu(PluRecord),
}

fn fixed(
    out: &mut String,
    key: u16,
    field: &'static str,
    value: u64,
    digits: u32,
) -> Result<(), EncodeError> {
    let max = 10u64.pow(digits) - 1;
    if value > max {
        return Err(EncodeError::OutOfRange {
            key,
            field,
            value,
            max,
        });
    }
    let _ = write!(out, "{value:0width$}", width = digits as usize);
    Ok(())
}

/// The name as GB2312 区位码 digits (four per character), cut to [`MAX_NAME_CHARS`]
/// characters; ASCII is made full-width first (a space becomes the ideographic space).
///
/// # Errors
/// A character outside GB2312 ([`EncodeError::Unprintable`]; `key` names the record).
pub fn encode_name(key: u16, name: &str) -> Result<String, EncodeError> {
    let mut out = String::new();
    for ch in name.trim().chars().take(MAX_NAME_CHARS) {
        let wide = match ch {
            ' ' => '\u{3000}',
            '!'..='~' => char::from_u32(u32::from(ch) + 0xFEE0).unwrap_or(ch),
            other => other,
        };
        let mut buf = [0u8; 4];
        let (encoded, _, had_errors) = GBK.encode(wide.encode_utf8(&mut buf));
        let unprintable = || EncodeError::Unprintable {
            key,
            name: name.to_owned(),
            ch,
        };
        if had_errors {
            return Err(unprintable());
        }
        match encoded.as_ref() {
            [hi @ 0xA1..=0xF7, lo @ 0xA1..=0xFE] => {
                let _ = write!(out, "{:02}{:02}", hi - 0xA0, lo - 0xA0);
            }
            _ => return Err(unprintable()),
        }
    }
    Ok(out)
}

/// Reads 区位码 digits back into text (full-width ASCII made half-width again).
///
/// # Errors
/// Not a multiple of four digits, or a code that is no GB2312 character.
pub fn decode_name(digits: &str) -> Result<String, DecodeError> {
    let bad = || DecodeError::Malformed(format!("name {digits:?} is not 区位码"));
    if !digits.len().is_multiple_of(4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let mut out = String::new();
    for chunk in digits.as_bytes().chunks(4) {
        let row = (chunk[0] - b'0') * 10 + (chunk[1] - b'0');
        let cell = (chunk[2] - b'0') * 10 + (chunk[3] - b'0');
        if !(1..=87).contains(&row) || !(1..=94).contains(&cell) {
            return Err(bad());
        }
        let pair = [row + 0xA0, cell + 0xA0];
        let (text, had_errors) = GBK.decode_without_bom_handling(&pair);
        if had_errors {
            return Err(bad());
        }
        for ch in text.chars() {
            out.push(match ch {
                '\u{3000}' => ' ',
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(ch) - 0xFEE0).unwrap_or(ch),
                other => other,
            });
        }
    }
    Ok(out)
}

/// The `!0V` record of `plu`, with its `CR LF`.
///
/// # Errors
/// A number that does not fit its field, or a name the scale cannot print.
pub fn encode_plu(plu: &PluRecord) -> Result<Vec<u8>, EncodeError> {
    let key = plu.key;
    let mut out = String::with_capacity(160);
    out.push_str("!0V");
    if key == 0 {
        return Err(EncodeError::OutOfRange {
            key,
            field: "key",
            value: 0,
            max: 9999,
        });
    }
    fixed(&mut out, key, "key", key.into(), 4)?;
    out.push('A');
    fixed(&mut out, key, "item code", plu.item_code.into(), 7)?;
    fixed(
        &mut out,
        key,
        "unit price (fen)",
        plu.unit_price_fen.into(),
        6,
    )?;
    out.push(plu.mode.digit());
    out.push_str("000000");
    fixed(
        &mut out,
        key,
        "shelf life (days)",
        plu.shelf_life_days.into(),
        3,
    )?;
    fixed(&mut out, key, "barcode flag", plu.barcode_flag.into(), 2)?;
    out.push_str("00");
    out.push_str("0000000000000");
    fixed(&mut out, key, "tare (g)", plu.tare_g.into(), 5)?;
    fixed(&mut out, key, "label number", plu.label_no.into(), 2)?;
    out.push_str(&"0".repeat(26));
    out.push('B');
    out.push_str(&encode_name(key, &plu.name)?);
    out.push_str("CDE\r\n");
    Ok(out.into_bytes())
}

/// Length of the fixed part between `A` and `B`.
const FIXED_LEN: usize = 73;

fn digits_at(s: &str, from: usize, len: usize, what: &str) -> Result<u64, DecodeError> {
    let part = s
        .get(from..from + len)
        .ok_or_else(|| DecodeError::Malformed(format!("{what} missing")))?;
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::Malformed(format!(
            "{what} {part:?} is not digits"
        )));
    }
    part.parse()
        .map_err(|_| DecodeError::Malformed(format!("{what} {part:?}")))
}

/// Reads one `!0V` record (with or without its `CR LF`).
///
/// # Errors
/// Anything that is not exactly the record layout above.
pub fn decode_plu(line: &[u8]) -> Result<PluRecord, DecodeError> {
    let text = std::str::from_utf8(line)
        .map_err(|_| DecodeError::Malformed("not ASCII".into()))?
        .trim_end_matches(['\r', '\n']);
    let body = text
        .strip_prefix("!0V")
        .ok_or_else(|| DecodeError::UnknownCommand(text.chars().take(16).collect()))?;
    let key = digits_at(body, 0, 4, "key")?;
    if body.as_bytes().get(4) != Some(&b'A') {
        return Err(DecodeError::Malformed("no A after the key".into()));
    }
    let f = &body[5.min(body.len())..];
    if f.len() < FIXED_LEN + 1 || f.as_bytes()[FIXED_LEN] != b'B' {
        return Err(DecodeError::Malformed(format!(
            "the fixed part must be {FIXED_LEN} digits then B"
        )));
    }
    let item_code = digits_at(f, 0, 7, "item code")?;
    let price = digits_at(f, 7, 6, "unit price")?;
    let mode = match &f[13..14] {
        "0" => PluMode::Weighed,
        "1" => PluMode::Counted,
        other => return Err(DecodeError::Malformed(format!("mode {other:?}"))),
    };
    digits_at(f, 14, 6, "special information")?;
    let shelf = digits_at(f, 20, 3, "shelf life")?;
    let flag = digits_at(f, 23, 2, "barcode flag")?;
    digits_at(f, 25, 15, "reserved")?;
    let tare = digits_at(f, 40, 5, "tare")?;
    let label_no = digits_at(f, 45, 2, "label number")?;
    digits_at(f, 47, 26, "reserved")?;
    let rest = &f[FIXED_LEN + 1..];
    let (name, rest) = rest
        .split_once('C')
        .ok_or_else(|| DecodeError::Malformed("no C after the name".into()))?;
    let (_, rest) = rest
        .split_once('D')
        .ok_or_else(|| DecodeError::Malformed("no D".into()))?;
    if !rest.ends_with('E') {
        return Err(DecodeError::Malformed("no E at the end".into()));
    }
    let small = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
    let key = small(key);
    if key == 0 {
        return Err(DecodeError::Malformed("key 0000".into()));
    }
    Ok(PluRecord {
        key,
        item_code: u32::try_from(item_code).unwrap_or(u32::MAX),
        unit_price_fen: u32::try_from(price).unwrap_or(u32::MAX),
        mode,
        shelf_life_days: small(shelf),
        barcode_flag: u8::try_from(flag).unwrap_or(u8::MAX),
        tare_g: u32::try_from(tare).unwrap_or(u32::MAX),
        label_no: u8::try_from(label_no).unwrap_or(u8::MAX),
        name: decode_name(name)?,
    })
}

/// Reads one command line (as the scale does).
///
/// # Errors
/// An unknown command or a malformed record.
pub fn decode_command(line: &[u8]) -> Result<ScaleCommand, DecodeError> {
    let trimmed: &[u8] = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .unwrap_or(line);
    if trimmed == b"!0IA" {
        return Ok(ScaleCommand::ClearAll);
    }
    decode_plu(trimmed).map(ScaleCommand::Plu)
}

/// Whether `answer` (up to and including its `ETX`) says the scale took the command.
///
/// # Errors
/// [`ScaleError::Garbage`] for anything but `… CR LF ETX`.
pub fn check_answer(answer: &[u8]) -> Result<(), ScaleError> {
    if answer.ends_with(ACK) {
        Ok(())
    } else {
        Err(ScaleError::Garbage(hex(answer)))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(32)
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What went wrong talking to a scale.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    /// The connection could not be made.
    #[error("cannot connect to the label scale at {addr}: {reason}")]
    Connect {
        /// Where.
        addr: String,
        /// Why.
        reason: String,
    },
    /// No (complete) answer in time.
    #[error("the label scale did not answer within {0} ms")]
    Timeout(u128),
    /// The scale closed the connection.
    #[error("the label scale closed the connection")]
    Disconnected,
    /// An answer that is not `CR LF ETX`.
    #[error("the label scale answered garbage: {0}")]
    Garbage(String),
    /// A record could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Another I/O error.
    #[error("label scale I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// A label scale on a byte stream.
pub struct LabelScaleClient<S> {
    stream: S,
    timeout: Duration,
}

impl LabelScaleClient<tokio::net::TcpStream> {
    /// Connects to a scale at `addr` (`host:port`) within `timeout`.
    ///
    /// # Errors
    /// [`ScaleError::Connect`] when refused, unreachable or too slow.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Self, ScaleError> {
        let failed = |reason: String| ScaleError::Connect {
            addr: addr.to_owned(),
            reason,
        };
        let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| failed(format!("no connection within {} ms", timeout.as_millis())))?
            .map_err(|e| failed(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        Ok(Self::new(stream, timeout))
    }

    /// Whether the connection is still open: the scale has not closed it (switched off,
    /// restarted) and sent nothing unasked. Waits at most 20 ms.
    pub async fn is_open(&self) -> bool {
        match tokio::time::timeout(Duration::from_millis(20), self.stream.readable()).await {
            Err(_) => true,
            Ok(Err(_)) => false,
            Ok(Ok(())) => {
                let mut probe = [0u8; 16];
                matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> LabelScaleClient<S> {
    /// A client on an open stream; `timeout` bounds every answer.
    pub fn new(stream: S, timeout: Duration) -> Self {
        Self { stream, timeout }
    }

    /// Sends one command and waits for the scale's answer.
    async fn command(&mut self, bytes: &[u8]) -> Result<(), ScaleError> {
        self.stream.write_all(bytes).await.map_err(lost)?;
        self.stream.flush().await.map_err(lost)?;
        let mut answer = Vec::with_capacity(8);
        let read = async {
            let mut byte = [0u8; 1];
            loop {
                match self.stream.read(&mut byte).await {
                    Ok(0) => return Err(ScaleError::Disconnected),
                    Ok(_) => {
                        answer.push(byte[0]);
                        if byte[0] == ETX {
                            return check_answer(&answer);
                        }
                        if answer.len() >= MAX_ANSWER {
                            return Err(ScaleError::Garbage(hex(&answer)));
                        }
                    }
                    Err(err) => return Err(lost(err)),
                }
            }
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(result) => result,
            Err(_) if !answer.is_empty() => Err(ScaleError::Garbage(hex(&answer))),
            Err(_) => Err(ScaleError::Timeout(self.timeout.as_millis())),
        }
    }

    /// Clears the scale's PLU table.
    ///
    /// # Errors
    /// No answer, garbage, or a lost connection.
    pub async fn clear_all(&mut self) -> Result<(), ScaleError> {
        self.command(CLEAR_ALL).await
    }

    /// Writes one PLU.
    ///
    /// # Errors
    /// A record that cannot be encoded (nothing sent), no answer, garbage, or a lost connection.
    pub async fn write_plu(&mut self, plu: &PluRecord) -> Result<(), ScaleError> {
        let bytes = encode_plu(plu)?;
        self.command(&bytes).await
    }

    /// A full download: clear, then every record in order.
    ///
    /// # Errors
    /// The first failure; what was written before it stays on the scale.
    pub async fn download_all(&mut self, plus: &[PluRecord]) -> Result<(), ScaleError> {
        self.clear_all().await?;
        for plu in plus {
            self.write_plu(plu).await?;
        }
        Ok(())
    }
}

/// A write or read failure: a reset or broken pipe is the scale going away.
fn lost(err: std::io::Error) -> ScaleError {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    if matches!(
        err.kind(),
        BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof
    ) {
        ScaleError::Disconnected
    } else {
        ScaleError::Io(err)
    }
}

/// A label-scale model's profile, `firmware-config/label-scales/<id>.toml`:
///
/// ```toml
/// id = "dahua-tm-a30"
/// vendor = "Dahua 大华"
/// model = "TM-A30"
/// protocol = "dahua-tm"       # the only protocol implemented
/// port = 4001                 # default TCP port
/// answer_timeout_ms = 2000    # each command's answer
/// max_plus = 4000             # PLU memory
/// name_chars = 12             # name characters printed (≤ 12)
/// notes = "…"
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LabelScaleProfile {
    /// Profile id (the file name without `.toml`).
    pub id: String,
    /// Manufacturer.
    pub vendor: String,
    /// Model name.
    pub model: String,
    /// The protocol: `dahua-tm`.
    pub protocol: String,
    /// Default TCP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// How long each answer may take, in ms (100–60 000).
    pub answer_timeout_ms: u64,
    /// How many PLUs the scale holds (1–9999).
    pub max_plus: u16,
    /// Name characters printed (1–12).
    pub name_chars: usize,
    /// Free text.
    #[serde(default)]
    pub notes: Option<String>,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

/// Why a profile was refused.
#[derive(Debug, thiserror::Error)]
#[error("label-scale profile {file}: {reason}")]
pub struct ProfileError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub reason: String,
}

impl LabelScaleProfile {
    /// Parses and checks a profile's text.
    ///
    /// # Errors
    /// Syntax, unknown keys, an unknown protocol or values out of range.
    pub fn from_toml_str(file: &str, text: &str) -> Result<Self, ProfileError> {
        let fail = |reason: String| ProfileError {
            file: file.to_owned(),
            reason,
        };
        let profile: Self = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        if profile.protocol != "dahua-tm" {
            return Err(fail(format!(
                "protocol {:?} is not implemented (dahua-tm)",
                profile.protocol
            )));
        }
        if !(100..=60_000).contains(&profile.answer_timeout_ms) {
            return Err(fail("answer_timeout_ms must be 100 to 60000".into()));
        }
        if !(1..=9999).contains(&profile.max_plus) {
            return Err(fail("max_plus must be 1 to 9999".into()));
        }
        if !(1..=MAX_NAME_CHARS).contains(&profile.name_chars) {
            return Err(fail(format!("name_chars must be 1 to {MAX_NAME_CHARS}")));
        }
        if profile.port == 0 {
            return Err(fail("port must not be 0".into()));
        }
        Ok(profile)
    }

    /// Loads `<firmware_config>/label-scales/<id>.toml` and checks that its `id` is `id`.
    ///
    /// # Errors
    /// A missing file or an invalid profile.
    pub fn load(firmware_config: &Path, id: &str) -> Result<Self, ProfileError> {
        let path = firmware_config
            .join("label-scales")
            .join(format!("{id}.toml"));
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| ProfileError {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        let profile = Self::from_toml_str(&file, &text)?;
        if profile.id != id {
            return Err(ProfileError {
                file,
                reason: format!("id {:?} is not the file name {id:?}", profile.id),
            });
        }
        Ok(profile)
    }

    /// The answer timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.answer_timeout_ms)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn apples() -> PluRecord {
        PluRecord {
            key: 1,
            item_code: 10001,
            unit_price_fen: 1280,
            mode: PluMode::Weighed,
            shelf_life_days: 7,
            barcode_flag: 20,
            tare_g: 5,
            label_no: 0,
            name: "红富士苹果".into(),
        }
    }

    /// The captured TM-A30 frame of the published description, up to its name: PLU 17,
    /// item code 4525925, ¥5.00, everything else zero.
    const CAPTURED_FIXED: &str =
        "!0V0017A4525925000500000000000000000000000000000000000000000000000000000000000000B";

    #[test]
    fn the_fixed_part_matches_the_captured_frame_digit_for_digit() {
        let plu = PluRecord {
            key: 17,
            item_code: 4_525_925,
            unit_price_fen: 500,
            mode: PluMode::Weighed,
            shelf_life_days: 0,
            barcode_flag: 0,
            tare_g: 0,
            label_no: 0,
            name: String::new(),
        };
        let bytes = encode_plu(&plu).unwrap();
        assert_eq!(&bytes[..CAPTURED_FIXED.len()], CAPTURED_FIXED.as_bytes());
        assert_eq!(&bytes[CAPTURED_FIXED.len()..], b"CDE\r\n");
    }

    #[test]
    fn a_record_is_encoded_field_by_field() {
        let bytes = encode_plu(&apples()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        // 红 = BA EC → 区 26 位 76; 富 = B8 BB → 24 27; 士 = CA BF → 42 31;
        // 苹 = C6 BB → 38 27; 果 = B9 FB → 25 91.
        let expected = format!(
            "!0V0001A{}{}{}{}{}{}{}{}{}{}{}B26762427423138272591CDE\r\n",
            "0010001",       // item code
            "001280",        // ¥12.80 per kg
            "0",             // weighed
            "000000",        // special 1–3
            "007",           // shelf life
            "20",            // barcode flag
            "00",            // reserved
            "0000000000000", // fixed code
            "00005",         // tare 5 g
            "00",            // label number
            "0".repeat(26),
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn ascii_is_written_full_width_and_read_back() {
        // Ａ = A3 C1 → 03 33; space → A1 A1 → 01 01; ５ = A3 B5 → 03 21.
        assert_eq!(encode_name(1, "A 5").unwrap(), "033301010321");
        assert_eq!(decode_name("033301010321").unwrap(), "A 5");
        let name = "ABC 鸡蛋 30枚装 extra";
        let digits = encode_name(1, name).unwrap();
        assert_eq!(digits.len(), MAX_NAME_CHARS * 4, "cut to 12 characters");
        assert_eq!(decode_name(&digits).unwrap(), "ABC 鸡蛋 30枚装 ");
        assert!(matches!(
            encode_name(3, "🍎"),
            Err(EncodeError::Unprintable { key: 3, .. })
        ));
        // Characters of GBK outside GB2312 are refused too (丂 is GBK 81 40).
        assert!(encode_name(3, "丂").is_err());
        assert!(decode_name("123").is_err());
        assert!(decode_name("9901").is_err());
    }

    #[test]
    fn records_round_trip_and_numbers_out_of_range_are_refused() {
        let mut plu = apples();
        plu.mode = PluMode::Counted;
        let bytes = encode_plu(&plu).unwrap();
        assert_eq!(
            decode_command(&bytes).unwrap(),
            ScaleCommand::Plu(plu.clone())
        );
        assert_eq!(decode_command(CLEAR_ALL).unwrap(), ScaleCommand::ClearAll);
        for (field, change) in [
            (
                "item code",
                (|p: &mut PluRecord| p.item_code = 10_000_000) as fn(&mut PluRecord),
            ),
            ("unit price (fen)", |p| p.unit_price_fen = 1_000_000),
            ("shelf life (days)", |p| p.shelf_life_days = 1000),
            ("tare (g)", |p| p.tare_g = 100_000),
            ("key", |p| p.key = 10_000),
            ("barcode flag", |p| p.barcode_flag = 100),
        ] {
            let mut bad = apples();
            change(&mut bad);
            match encode_plu(&bad) {
                Err(EncodeError::OutOfRange { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let mut zero = apples();
        zero.key = 0;
        assert!(encode_plu(&zero).is_err());
    }

    #[test]
    fn malformed_commands_are_refused() {
        let good = String::from_utf8(encode_plu(&apples()).unwrap()).unwrap();
        for bad in [
            "!0X0001".to_owned(),
            "hello".to_owned(),
            good.replace("!0V0001A", "!0V001A"),
            good.replacen("001280", "0012X0", 1),
            good.replace("CDE", "CD"),
            good.replace("B2676", "2676"),
            good[..40].to_owned(),
        ] {
            assert!(decode_command(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_must_end_with_cr_lf_etx() {
        assert!(check_answer(b"\r\n\x03").is_ok());
        assert!(check_answer(b"0\r\n\x03").is_ok());
        assert!(
            matches!(check_answer(b"ERR\x03"), Err(ScaleError::Garbage(g)) if g == "45 52 52 03")
        );
    }

    #[tokio::test]
    async fn the_client_sends_commands_and_checks_each_answer() {
        let (host, mut scale) = tokio::io::duplex(4096);
        let mut client = LabelScaleClient::new(host, Duration::from_millis(300));
        let served = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 4096];
            // Answer the clear and one record, then garbage, then silence, then hang up.
            for answer in [&b"\r\n\x03"[..], b"\r\n\x03", b"NAK\x03", b""] {
                let n = scale.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
                scale.write_all(answer).await.unwrap();
            }
            let n = scale.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
            drop(scale);
            seen
        });
        client.clear_all().await.unwrap();
        client.write_plu(&apples()).await.unwrap();
        assert!(
            matches!(client.write_plu(&apples()).await, Err(ScaleError::Garbage(g)) if g == "4E 41 4B 03")
        );
        assert!(matches!(
            client.write_plu(&apples()).await,
            Err(ScaleError::Timeout(300))
        ));
        assert!(matches!(
            client.clear_all().await,
            Err(ScaleError::Disconnected)
        ));
        let seen = served.await.unwrap();
        assert!(seen.starts_with(b"!0IA\r\n!0V0001A"));
    }

    #[test]
    fn profiles_are_checked() {
        let good = "id = \"dahua-tm-a30\"\nvendor = \"Dahua\"\nmodel = \"TM-A30\"\nprotocol = \"dahua-tm\"\nanswer_timeout_ms = 2000\nmax_plus = 4000\nname_chars = 12\n";
        let p = LabelScaleProfile::from_toml_str("x", good).unwrap();
        assert_eq!(p.port, DEFAULT_PORT);
        assert!(
            LabelScaleProfile::from_toml_str("x", &good.replace("dahua-tm\"", "aclas\"")).is_err()
        );
        assert!(LabelScaleProfile::from_toml_str("x", &good.replace("12", "13")).is_err());
        assert!(LabelScaleProfile::from_toml_str("x", &format!("{good}colour = 1\n")).is_err());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-config");
        for id in ["dahua-tm-a30", "dahua-tm-ab"] {
            let p = LabelScaleProfile::load(&dir, id).unwrap();
            assert_eq!(p.id, id);
        }
    }
}
