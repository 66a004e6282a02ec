//! The counter scale at a lane (issue 21): the Mettler Toledo **8217** weight-only serial
//! protocol as a pure codec ([`Toledo8217Codec`], [`parse_frame`], [`encode_weight`],
//! [`encode_status`]), a scale over any `AsyncRead + AsyncWrite` stream ([`CounterScale`]), the
//! lane's watch that asks it for the weight every `poll_ms` and publishes what it sees
//! ([`watch_scale`], [`run_serial_scale`]), and a virtual scale that speaks the protocol
//! ([`VirtualCounterScale`]).
//!
//! ## The protocol
//!
//! As described in the scale's service manual (8217 "weight-only" protocol, option 3 of the
//! Ariva-S setup menu) and as Odoo's IoT box drives it (`addons/hw_drivers/iot_handlers/drivers/
//! SerialScaleDriver.py`, `Toledo8217Protocol`: 9600 baud, 7 data bits, even parity, one stop
//! bit; measure regexp `\x02\s*([0-9.]+)N?\r`, status regexp `\x02\s*(\?.)\r`; and the older
//! `hw_scale` driver's `_toledo8217StatusParse` for the status bits):
//!
//! | host sends | meaning | the scale answers |
//! |---|---|---|
//! | `W` | weight, please | `STX` weight `CR` when the load is stable, e.g. `02 30 31 2E 32 33 34 0D` (`01.234` kg); or `STX ? status CR` |
//! | `Z` | zero the scale (an empty platter becomes 0) | nothing |
//! | `T` | tare: the load now on the platter is the tare | nothing (weights are then net) |
//! | `C` | clear the tare | nothing |
//!
//! The weight is in kilograms with a decimal point (a trailing `N` marks a net weight). The
//! status byte's bits: 0 in motion, 1 over capacity, 2 under zero (a negative weight), 3 outside
//! the zero-capture range, 4 centre of zero, 5 net weight; bit 6 is always set so the byte is
//! printable (`@` nothing, `A` in motion, `B` over capacity, `D` under zero).
//!
//! A weight is therefore only ever sent when the scale has settled: the lane never reads an
//! unstable weight. Everything else on the line — bytes outside `STX … CR`, a frame that never
//! ends, a weight that is not a number — is reported as garbage ([`ScaleFrame::Garbled`]) and
//! never stops the reader.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::{SinkExt, StreamExt};
use retail_domain::profiles::CounterScaleProfile;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::{Decoder, Encoder, Framed};

/// Start of a frame.
pub const STX: u8 = 0x02;
/// End of a frame.
pub const CR: u8 = 0x0D;
/// The longest frame body the codec waits for (the 8217 sends at most 7 characters).
pub const MAX_BODY: usize = 16;
/// Grams the 8217's weight field can carry at most (`99.999` kg).
const MAX_GRAMS: i64 = 99_999;

/// What the host asks of the scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleCommand {
    /// `W`: send the weight.
    Weigh,
    /// `Z`: zero the scale.
    Zero,
    /// `T`: tare what is on the platter.
    Tare,
    /// `C`: clear the tare.
    ClearTare,
}

impl ScaleCommand {
    /// The command's byte on the line.
    pub fn byte(self) -> u8 {
        match self {
            ScaleCommand::Weigh => b'W',
            ScaleCommand::Zero => b'Z',
            ScaleCommand::Tare => b'T',
            ScaleCommand::ClearTare => b'C',
        }
    }

    /// The command for a byte received (the virtual scale's side).
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'W' => Some(ScaleCommand::Weigh),
            b'Z' => Some(ScaleCommand::Zero),
            b'T' => Some(ScaleCommand::Tare),
            b'C' => Some(ScaleCommand::ClearTare),
            _ => None,
        }
    }
}

/// The 8217 status byte (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ScaleStatus(pub u8);

impl ScaleStatus {
    /// The load is moving.
    pub const MOTION: u8 = 1;
    /// Over capacity.
    pub const OVER_CAPACITY: u8 = 1 << 1;
    /// Under zero (a negative weight).
    pub const UNDER_ZERO: u8 = 1 << 2;
    /// Outside the zero-capture range.
    pub const OUTSIDE_ZERO_RANGE: u8 = 1 << 3;
    /// Centre of zero.
    pub const CENTER_OF_ZERO: u8 = 1 << 4;
    /// Net weight (a tare is set).
    pub const NET: u8 = 1 << 5;

    /// Whether the load is moving.
    pub fn motion(self) -> bool {
        self.0 & Self::MOTION != 0
    }
    /// Whether the load is over capacity.
    pub fn over_capacity(self) -> bool {
        self.0 & Self::OVER_CAPACITY != 0
    }
    /// Whether the weight is under zero.
    pub fn under_zero(self) -> bool {
        self.0 & Self::UNDER_ZERO != 0
    }
    /// Whether the scale is outside its zero-capture range.
    pub fn outside_zero_range(self) -> bool {
        self.0 & Self::OUTSIDE_ZERO_RANGE != 0
    }
    /// Whether the scale is at the centre of zero.
    pub fn center_of_zero(self) -> bool {
        self.0 & Self::CENTER_OF_ZERO != 0
    }
    /// Whether a tare is set.
    pub fn net(self) -> bool {
        self.0 & Self::NET != 0
    }
}

/// One answer of the scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleReading {
    /// A stable weight in whole grams (net when a tare is set).
    Stable {
        /// Grams.
        grams: i64,
        /// Whether a tare was subtracted (the `N` suffix).
        net: bool,
    },
    /// No weight: the status says why.
    Status(ScaleStatus),
}

/// A frame off the line: a reading, or garbage (reported, never fatal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleFrame {
    /// A well-formed answer.
    Reading(ScaleReading),
    /// Bytes that are not an 8217 answer.
    Garbled {
        /// Why.
        reason: String,
    },
}

/// Why a frame body is not an 8217 answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScaleFrameError {
    /// `STX CR` with nothing between.
    #[error("an empty frame")]
    Empty,
    /// `?` without exactly one status byte after it.
    #[error("a status frame must be `?` and one status byte, got {0:?}")]
    BadStatus(String),
    /// Not a weight.
    #[error("not a weight: {0:?}")]
    BadWeight(String),
    /// Finer than a gram (more than 3 decimals of a kilogram) or larger than the field.
    #[error("weight {0:?} is out of range (whole grams up to 99.999 kg)")]
    OutOfRange(String),
}

/// Parses the body of a frame (between `STX` and `CR`).
pub fn parse_frame(body: &[u8]) -> Result<ScaleReading, ScaleFrameError> {
    let text = String::from_utf8_lossy(body).into_owned();
    let trimmed = body
        .iter()
        .position(|b| *b != b' ')
        .map_or(&body[body.len()..], |i| &body[i..]);
    if trimmed.is_empty() {
        return Err(ScaleFrameError::Empty);
    }
    if trimmed[0] == b'?' {
        return match trimmed {
            [b'?', status] if *status >= 0x40 && *status < 0x80 => {
                Ok(ScaleReading::Status(ScaleStatus(*status & 0x3F)))
            }
            _ => Err(ScaleFrameError::BadStatus(text)),
        };
    }
    let (digits, net) = match trimmed.split_last() {
        Some((b'N', rest)) => (rest, true),
        _ => (trimmed, false),
    };
    let digits =
        std::str::from_utf8(digits).map_err(|_| ScaleFrameError::BadWeight(text.clone()))?;
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && frac.is_empty() || !all_digits(whole) || !all_digits(frac) {
        return Err(ScaleFrameError::BadWeight(text));
    }
    if frac.len() > 3 || whole.len() > 2 {
        return Err(ScaleFrameError::OutOfRange(text));
    }
    let kg: i64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| ScaleFrameError::BadWeight(text.clone()))?
    };
    let mut frac_g: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse()
            .map_err(|_| ScaleFrameError::BadWeight(text.clone()))?
    };
    for _ in frac.len()..3 {
        frac_g *= 10;
    }
    let grams = kg * 1000 + frac_g;
    if grams > MAX_GRAMS {
        return Err(ScaleFrameError::OutOfRange(text));
    }
    Ok(ScaleReading::Stable { grams, net })
}

/// The scale's answer for a stable weight: `STX`, kilograms as `kk.ggg`, `N` when net, `CR`.
/// Weights are clamped to the field (0–99.999 kg).
pub fn encode_weight(grams: i64, net: bool) -> Vec<u8> {
    let g = grams.clamp(0, MAX_GRAMS);
    let mut out = vec![STX];
    out.extend_from_slice(format!("{:02}.{:03}", g / 1000, g % 1000).as_bytes());
    if net {
        out.push(b'N');
    }
    out.push(CR);
    out
}

/// The scale's answer when it has no weight to give: `STX ? status CR` (bit 6 set).
pub fn encode_status(status: ScaleStatus) -> Vec<u8> {
    vec![STX, b'?', 0x40 | (status.0 & 0x3F), CR]
}

/// The 8217 line codec: decodes the scale's frames, encodes the host's commands.
#[derive(Clone, Copy, Debug, Default)]
pub struct Toledo8217Codec;

impl Decoder for Toledo8217Codec {
    type Item = ScaleFrame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ScaleFrame>, std::io::Error> {
        if buf.is_empty() {
            return Ok(None);
        }
        if buf[0] != STX {
            let n = buf.iter().position(|b| *b == STX).unwrap_or(buf.len());
            let junk = buf.split_to(n);
            // Line noise of CR/LF between frames is not worth a report.
            if junk.iter().all(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return self.decode(buf);
            }
            return Ok(Some(ScaleFrame::Garbled {
                reason: format!(
                    "bytes outside a frame: {:02X?}",
                    &junk[..junk.len().min(16)]
                ),
            }));
        }
        match buf[1..].iter().position(|b| *b == CR) {
            Some(i) if i <= MAX_BODY => {
                let frame = buf.split_to(i + 2);
                Ok(Some(match parse_frame(&frame[1..=i]) {
                    Ok(reading) => ScaleFrame::Reading(reading),
                    Err(e) => ScaleFrame::Garbled {
                        reason: e.to_string(),
                    },
                }))
            }
            _ if buf.len() > MAX_BODY + 1 => {
                // No CR in time: drop up to the next STX.
                let next = buf[1..]
                    .iter()
                    .position(|b| *b == STX)
                    .map_or(buf.len(), |i| i + 1);
                buf.advance(next);
                Ok(Some(ScaleFrame::Garbled {
                    reason: format!("a frame without CR within {MAX_BODY} bytes"),
                }))
            }
            _ => Ok(None),
        }
    }
}

impl Encoder<ScaleCommand> for Toledo8217Codec {
    type Error = std::io::Error;

    fn encode(&mut self, cmd: ScaleCommand, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        dst.extend_from_slice(&[cmd.byte()]);
        Ok(())
    }
}

/// Why a weight could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    /// The line failed or closed.
    #[error("counter scale line: {0}")]
    Io(#[from] std::io::Error),
    /// The scale did not answer in time.
    #[error("the counter scale did not answer within {0} ms")]
    Timeout(u128),
    /// The scale answered garbage.
    #[error("the counter scale sent garbage: {0}")]
    Garbage(String),
    /// The line closed.
    #[error("the counter scale's line closed")]
    Closed,
}

/// A counter scale on a byte stream (a serial port's [`crate::serial::serial_stream`], a
/// pseudo-terminal, a test pipe).
pub struct CounterScale<S> {
    framed: Framed<S, Toledo8217Codec>,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> CounterScale<S> {
    /// A scale on `stream`, waiting `timeout` for each answer.
    pub fn new(stream: S, timeout: Duration) -> Self {
        Self {
            framed: Framed::new(stream, Toledo8217Codec),
            timeout,
        }
    }

    /// Sends a command that has no answer (`Z`, `T`, `C`).
    pub async fn send(&mut self, cmd: ScaleCommand) -> Result<(), ScaleError> {
        self.framed.send(cmd).await?;
        Ok(())
    }

    /// Asks for the weight (`W`) and waits for the answer. Frames left over from an earlier
    /// answer that came late are read first and dropped.
    pub async fn weigh(&mut self) -> Result<ScaleReading, ScaleError> {
        // Whatever arrived since the last answer is stale.
        while let Some(Some(_)) = futures_util::FutureExt::now_or_never(self.framed.next()) {}
        self.framed.send(ScaleCommand::Weigh).await?;
        match tokio::time::timeout(self.timeout, self.framed.next()).await {
            Err(_) => Err(ScaleError::Timeout(self.timeout.as_millis())),
            Ok(None) => Err(ScaleError::Closed),
            Ok(Some(Err(e))) => Err(ScaleError::Io(e)),
            Ok(Some(Ok(ScaleFrame::Reading(r)))) => Ok(r),
            Ok(Some(Ok(ScaleFrame::Garbled { reason }))) => Err(ScaleError::Garbage(reason)),
        }
    }
}

/// What the lane knows about its scale now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleState {
    /// Not heard from yet.
    Unknown,
    /// A stable weight (grams, net of the tare when `net`).
    Stable {
        /// Grams.
        grams: i64,
        /// Whether a tare is subtracted.
        net: bool,
    },
    /// The load is moving.
    Moving,
    /// A negative weight (under zero).
    UnderZero,
    /// Over capacity.
    OverCapacity,
    /// The scale answers, but not usefully (garbage, timeout): why.
    Fault(String),
    /// The line is gone (unplugged, port missing).
    Disconnected(String),
}

impl ScaleState {
    /// The state a reading means.
    pub fn from_reading(r: ScaleReading) -> Self {
        match r {
            ScaleReading::Stable { grams, net } => ScaleState::Stable { grams, net },
            ScaleReading::Status(s) if s.over_capacity() => ScaleState::OverCapacity,
            ScaleReading::Status(s) if s.under_zero() => ScaleState::UnderZero,
            // In motion, or a status without a weight for any other reason.
            ScaleReading::Status(_) => ScaleState::Moving,
        }
    }

    /// The stable weight, if any.
    pub fn stable_grams(&self) -> Option<i64> {
        match self {
            ScaleState::Stable { grams, .. } => Some(*grams),
            _ => None,
        }
    }

    /// A short text for screens: `1.234 kg`, `称重中 moving`, …
    pub fn text(&self) -> String {
        match self {
            ScaleState::Unknown => "—".into(),
            ScaleState::Stable { grams, net } => format!(
                "{}.{:03} kg{}",
                grams / 1000,
                grams % 1000,
                if *net { " NET" } else { "" }
            ),
            ScaleState::Moving => "称重中 moving".into(),
            ScaleState::UnderZero => "负重 under zero".into(),
            ScaleState::OverCapacity => "超载 over capacity".into(),
            ScaleState::Fault(why) => format!("故障 fault: {why}"),
            ScaleState::Disconnected(why) => format!("未连接 disconnected: {why}"),
        }
    }
}

/// Asks the scale for its weight every `poll` and publishes each change on `state`; sends the
/// commands received on `commands` between two weighings. Returns when the line fails or
/// closes (the state is then [`ScaleState::Disconnected`]), or when every receiver of `state`
/// is gone.
pub async fn watch_scale<S: AsyncRead + AsyncWrite + Unpin>(
    scale: &mut CounterScale<S>,
    poll: Duration,
    commands: &mut mpsc::Receiver<ScaleCommand>,
    state: &watch::Sender<ScaleState>,
) -> String {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(cmd) = commands.recv() => {
                if let Err(e) = scale.send(cmd).await {
                    let why = e.to_string();
                    state.send_replace(ScaleState::Disconnected(why.clone()));
                    return why;
                }
                // Ask at once: the cashier waits for the zero or tare to show.
                tick.reset_immediately();
            }
            _ = tick.tick() => {
                let next = match scale.weigh().await {
                    Ok(r) => ScaleState::from_reading(r),
                    Err(e @ (ScaleError::Timeout(_) | ScaleError::Garbage(_))) => {
                        ScaleState::Fault(e.to_string())
                    }
                    Err(e) => {
                        let why = e.to_string();
                        state.send_replace(ScaleState::Disconnected(why.clone()));
                        return why;
                    }
                };
                state.send_if_modified(|s| {
                    if *s == next {
                        false
                    } else {
                        *s = next;
                        true
                    }
                });
                if state.is_closed() {
                    return "nobody watches the scale".into();
                }
            }
        }
    }
}

/// Drives a counter scale on a serial port (or a pseudo-terminal's path) with its profile's
/// line settings until the lane stops: reopened a second after it fails or is unplugged.
pub async fn run_serial_scale(
    path: String,
    profile: CounterScaleProfile,
    mut commands: mpsc::Receiver<ScaleCommand>,
    state: watch::Sender<ScaleState>,
) {
    let poll = Duration::from_millis(u64::from(profile.poll_ms));
    let timeout = Duration::from_millis(u64::from(profile.answer_timeout_ms));
    loop {
        match crate::serial::open_stream(&path, &profile.serial) {
            Ok(stream) => {
                let mut scale = CounterScale::new(stream, timeout);
                let why = watch_scale(&mut scale, poll, &mut commands, &state).await;
                tracing::warn!(port = %path, %why, "counter scale stopped; reopening");
            }
            Err(e) => {
                state.send_if_modified(|s| {
                    let next = ScaleState::Disconnected(e.to_string());
                    let changed = *s != next;
                    *s = next;
                    changed
                });
            }
        }
        if state.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[derive(Debug, Default)]
struct VirtualState {
    /// Gross load in grams relative to the scale's zero (may be negative).
    gross: i64,
    /// Offset set by `Z`.
    zero: i64,
    tare: i64,
    motion: bool,
    garbage: bool,
    silent: bool,
    capacity: i64,
    commands: Vec<ScaleCommand>,
}

/// A virtual 8217 counter scale for demos, tests and benches: set its load, motion or garbage;
/// it answers `W`, and honours `Z`, `T` and `C` as a real one does. Clones share one scale.
#[derive(Clone, Debug)]
pub struct VirtualCounterScale {
    state: Arc<Mutex<VirtualState>>,
}

impl VirtualCounterScale {
    /// An empty, settled scale of `capacity_g` grams.
    pub fn new(capacity_g: i64) -> Self {
        Self {
            state: Arc::new(Mutex::new(VirtualState {
                capacity: capacity_g,
                ..VirtualState::default()
            })),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut VirtualState) -> T) -> T {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut s)
    }

    /// Puts a load on the platter (grams; negative stands for a scale under zero) and lets it
    /// settle.
    pub fn set_weight(&self, grams: i64) {
        self.with(|s| {
            s.gross = grams;
            s.motion = false;
        });
    }

    /// Whether the load is moving.
    pub fn set_motion(&self, motion: bool) {
        self.with(|s| s.motion = motion);
    }

    /// Whether the scale answers garbage.
    pub fn set_garbage(&self, garbage: bool) {
        self.with(|s| s.garbage = garbage);
    }

    /// Whether the scale answers at all.
    pub fn set_silent(&self, silent: bool) {
        self.with(|s| s.silent = silent);
    }

    /// The tare set (grams).
    pub fn tare(&self) -> i64 {
        self.with(|s| s.tare)
    }

    /// The commands received, oldest first.
    pub fn commands(&self) -> Vec<ScaleCommand> {
        self.with(|s| s.commands.clone())
    }

    /// The answer to `W` now.
    pub fn answer(&self) -> Option<Vec<u8>> {
        self.with(|s| {
            if s.silent {
                return None;
            }
            if s.garbage {
                return Some(b"\x02#@!x\r".to_vec());
            }
            let gross = s.gross - s.zero;
            let mut status = if s.tare != 0 { ScaleStatus::NET } else { 0 };
            if s.motion {
                status |= ScaleStatus::MOTION;
            } else if gross > s.capacity {
                status |= ScaleStatus::OVER_CAPACITY;
            } else if gross - s.tare < 0 {
                status |= ScaleStatus::UNDER_ZERO;
            } else {
                return Some(encode_weight(gross - s.tare, s.tare != 0));
            }
            Some(encode_status(ScaleStatus(status)))
        })
    }

    fn apply(&self, cmd: ScaleCommand) {
        self.with(|s| {
            s.commands.push(cmd);
            let gross = s.gross - s.zero;
            match cmd {
                ScaleCommand::Weigh => {}
                // A scale zeroes and tares only a settled load.
                ScaleCommand::Zero if !s.motion && s.tare == 0 => s.zero = s.gross,
                ScaleCommand::Tare if !s.motion && gross > 0 => s.tare = gross,
                ScaleCommand::ClearTare => s.tare = 0,
                _ => {}
            }
        });
    }

    /// Serves the scale on a byte stream until it closes.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut stream: S) {
        let mut buf = [0u8; 64];
        loop {
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            for b in &buf[..n] {
                let Some(cmd) = ScaleCommand::from_byte(*b) else {
                    continue;
                };
                self.apply(cmd);
                if cmd == ScaleCommand::Weigh {
                    if let Some(answer) = self.answer() {
                        if stream.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Serves the scale on a new pseudo-terminal pair and returns the path the lane opens as
    /// its scale port (`--simulate`), as a real `/dev/ttyUSB0`. The pty lives until the
    /// runtime stops. Call from within a Tokio runtime.
    pub fn spawn_pty(&self) -> serialport::Result<String> {
        let (master, slave) = serialport::TTYPort::pair()?;
        let path = serialport::SerialPort::name(&slave).unwrap_or_default();
        let (stream, _threads) = crate::serial::serial_stream(Box::new(master), &path)?;
        let scale = self.clone();
        tokio::spawn(async move {
            // Keep the slave open so the pty stays up between the lane's opens.
            let _slave = slave;
            scale.serve(stream).await;
        });
        Ok(path)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Vec<ScaleFrame> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(f) = Toledo8217Codec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn documented_weight_frames() {
        // STX "01.234" CR: 1.234 kg, stable.
        assert_eq!(
            parse_frame(b"01.234").unwrap(),
            ScaleReading::Stable {
                grams: 1234,
                net: false
            }
        );
        // Leading spaces (Odoo's `\s*`) and the N suffix of a net weight.
        assert_eq!(
            parse_frame(b"  0.500N").unwrap(),
            ScaleReading::Stable {
                grams: 500,
                net: true
            }
        );
        assert_eq!(
            parse_frame(b"00.000").unwrap(),
            ScaleReading::Stable {
                grams: 0,
                net: false
            }
        );
        // Fewer decimals are whole grams still.
        assert_eq!(
            parse_frame(b"2.5").unwrap(),
            ScaleReading::Stable {
                grams: 2500,
                net: false
            }
        );
    }

    #[test]
    fn documented_status_frames() {
        // '?' + status: bit 0 motion, 1 over capacity, 2 under zero (bit 6 always set).
        let ScaleReading::Status(s) = parse_frame(b"?A").unwrap() else {
            panic!()
        };
        assert!(s.motion() && !s.over_capacity() && !s.under_zero());
        let ScaleReading::Status(s) = parse_frame(b"?B").unwrap() else {
            panic!()
        };
        assert!(s.over_capacity());
        let ScaleReading::Status(s) = parse_frame(b"?D").unwrap() else {
            panic!()
        };
        assert!(s.under_zero());
        let ScaleReading::Status(s) = parse_frame(&[b'?', 0x40 | 0x20 | 0x01]).unwrap() else {
            panic!()
        };
        assert!(s.net() && s.motion());
        assert_eq!(
            ScaleState::from_reading(parse_frame(b"?D").unwrap()),
            ScaleState::UnderZero
        );
        assert_eq!(
            ScaleState::from_reading(parse_frame(b"?B").unwrap()),
            ScaleState::OverCapacity
        );
        assert_eq!(
            ScaleState::from_reading(parse_frame(b"?A").unwrap()),
            ScaleState::Moving
        );
    }

    #[test]
    fn bad_bodies_are_refused() {
        assert_eq!(parse_frame(b"").unwrap_err(), ScaleFrameError::Empty);
        assert!(matches!(
            parse_frame(b"?"),
            Err(ScaleFrameError::BadStatus(_))
        ));
        assert!(matches!(
            parse_frame(b"?AB"),
            Err(ScaleFrameError::BadStatus(_))
        ));
        assert!(matches!(
            parse_frame(b"?\x05"),
            Err(ScaleFrameError::BadStatus(_))
        ));
        assert!(matches!(
            parse_frame(b"-1.000"),
            Err(ScaleFrameError::BadWeight(_))
        ));
        assert!(matches!(
            parse_frame(b"1.2.3"),
            Err(ScaleFrameError::BadWeight(_))
        ));
        assert!(matches!(
            parse_frame(b"."),
            Err(ScaleFrameError::BadWeight(_))
        ));
        assert!(matches!(
            parse_frame(b"1.2345"),
            Err(ScaleFrameError::OutOfRange(_))
        ));
        assert!(matches!(
            parse_frame(b"123.000"),
            Err(ScaleFrameError::OutOfRange(_))
        ));
    }

    #[test]
    fn encoders_produce_the_documented_bytes() {
        assert_eq!(encode_weight(1234, false), b"\x0201.234\r");
        assert_eq!(encode_weight(500, true), b"\x0200.500N\r");
        assert_eq!(encode_status(ScaleStatus(ScaleStatus::MOTION)), b"\x02?A\r");
        assert_eq!(
            encode_status(ScaleStatus(ScaleStatus::UNDER_ZERO)),
            b"\x02?D\r"
        );
        let mut dst = BytesMut::new();
        for c in [
            ScaleCommand::Weigh,
            ScaleCommand::Zero,
            ScaleCommand::Tare,
            ScaleCommand::ClearTare,
        ] {
            Toledo8217Codec.encode(c, &mut dst).unwrap();
        }
        assert_eq!(&dst[..], b"WZTC");
        for g in [0, 1, 999, 1000, 15_000, 99_999] {
            assert_eq!(
                decode_all(&encode_weight(g, false)),
                vec![ScaleFrame::Reading(ScaleReading::Stable {
                    grams: g,
                    net: false
                })]
            );
        }
    }

    #[test]
    fn codec_splits_frames_and_reports_garbage() {
        let frames = decode_all(b"\x0201.234\r\r\nxyz\x02?A\r\x02abc\r");
        assert_eq!(frames.len(), 4, "{frames:?}");
        assert!(matches!(
            frames[0],
            ScaleFrame::Reading(ScaleReading::Stable { grams: 1234, .. })
        ));
        assert!(matches!(&frames[1], ScaleFrame::Garbled { reason } if reason.contains("outside")));
        assert!(matches!(
            frames[2],
            ScaleFrame::Reading(ScaleReading::Status(_))
        ));
        assert!(
            matches!(&frames[3], ScaleFrame::Garbled { reason } if reason.contains("not a weight"))
        );
        // A frame cut in two waits for its end.
        let mut buf = BytesMut::from(&b"\x0200.7"[..]);
        assert_eq!(Toledo8217Codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"50\r");
        assert_eq!(
            Toledo8217Codec.decode(&mut buf).unwrap(),
            Some(ScaleFrame::Reading(ScaleReading::Stable {
                grams: 750,
                net: false
            }))
        );
        // A frame that never ends is dropped, and the next one still reads.
        let mut long = vec![STX];
        long.extend_from_slice(&[b'1'; 40]);
        long.extend_from_slice(b"\x0200.001\r");
        let frames = decode_all(&long);
        assert!(matches!(frames[0], ScaleFrame::Garbled { .. }));
        assert_eq!(
            frames.last().unwrap(),
            &ScaleFrame::Reading(ScaleReading::Stable {
                grams: 1,
                net: false
            })
        );
    }

    #[tokio::test]
    async fn a_scale_over_a_pipe_against_the_virtual_scale() {
        let virt = VirtualCounterScale::new(15_000);
        let (ours, theirs) = tokio::io::duplex(256);
        let served = virt.clone();
        tokio::spawn(async move { served.serve(theirs).await });
        let mut scale = CounterScale::new(ours, Duration::from_millis(500));
        assert_eq!(
            scale.weigh().await.unwrap(),
            ScaleReading::Stable {
                grams: 0,
                net: false
            }
        );
        virt.set_weight(1234);
        virt.set_motion(true);
        assert_eq!(
            ScaleState::from_reading(scale.weigh().await.unwrap()),
            ScaleState::Moving
        );
        virt.set_motion(false);
        assert_eq!(
            scale.weigh().await.unwrap(),
            ScaleReading::Stable {
                grams: 1234,
                net: false
            }
        );
        // Tare the container: the weight is net, and what is added on top is weighed.
        scale.send(ScaleCommand::Tare).await.unwrap();
        assert_eq!(
            scale.weigh().await.unwrap(),
            ScaleReading::Stable {
                grams: 0,
                net: true
            }
        );
        virt.set_weight(1734);
        assert_eq!(
            scale.weigh().await.unwrap(),
            ScaleReading::Stable {
                grams: 500,
                net: true
            }
        );
        assert_eq!(virt.tare(), 1234);
        // Lifting everything off leaves the scale under zero until the tare is cleared.
        virt.set_weight(0);
        assert_eq!(
            ScaleState::from_reading(scale.weigh().await.unwrap()),
            ScaleState::UnderZero
        );
        scale.send(ScaleCommand::ClearTare).await.unwrap();
        assert_eq!(
            scale.weigh().await.unwrap(),
            ScaleReading::Stable {
                grams: 0,
                net: false
            }
        );
        virt.set_weight(20_000);
        assert_eq!(
            ScaleState::from_reading(scale.weigh().await.unwrap()),
            ScaleState::OverCapacity
        );
        virt.set_weight(-30);
        assert_eq!(
            ScaleState::from_reading(scale.weigh().await.unwrap()),
            ScaleState::UnderZero
        );
        virt.set_garbage(true);
        assert!(matches!(scale.weigh().await, Err(ScaleError::Garbage(_))));
        virt.set_garbage(false);
        virt.set_silent(true);
        assert!(matches!(scale.weigh().await, Err(ScaleError::Timeout(_))));
        virt.set_silent(false);
        virt.set_weight(250);
        assert_eq!(
            scale.weigh().await.unwrap(),
            ScaleReading::Stable {
                grams: 250,
                net: false
            }
        );
    }

    #[tokio::test]
    async fn the_watch_publishes_changes_and_sends_commands() {
        let virt = VirtualCounterScale::new(15_000);
        let (ours, theirs) = tokio::io::duplex(256);
        let served = virt.clone();
        tokio::spawn(async move { served.serve(theirs).await });
        let (cmd_tx, mut cmd_rx) = mpsc::channel(4);
        let (state_tx, mut state_rx) = watch::channel(ScaleState::Unknown);
        tokio::spawn(async move {
            let mut scale = CounterScale::new(ours, Duration::from_millis(300));
            watch_scale(
                &mut scale,
                Duration::from_millis(20),
                &mut cmd_rx,
                &state_tx,
            )
            .await
        });
        state_rx
            .wait_for(|s| {
                *s == ScaleState::Stable {
                    grams: 0,
                    net: false,
                }
            })
            .await
            .unwrap();
        virt.set_weight(812);
        state_rx
            .wait_for(|s| s.stable_grams() == Some(812))
            .await
            .unwrap();
        cmd_tx.send(ScaleCommand::Tare).await.unwrap();
        state_rx
            .wait_for(|s| {
                *s == ScaleState::Stable {
                    grams: 0,
                    net: true,
                }
            })
            .await
            .unwrap();
        assert!(virt.commands().contains(&ScaleCommand::Tare));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod pty_tests {
    use super::*;
    use retail_domain::profiles::{FlowControl, Parity, SerialSettings};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_virtual_scale_answers_on_its_pty_at_7e1() {
        let virt = VirtualCounterScale::new(15_000);
        let path = virt.spawn_pty().unwrap();
        virt.set_weight(812);
        let settings = SerialSettings {
            baud: 9600,
            data_bits: 7,
            parity: Parity::Even,
            stop_bits: 1,
            flow_control: FlowControl::None,
        };
        let stream = crate::serial::open_stream(&path, &settings)
            .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))
            .unwrap();
        let mut scale = CounterScale::new(stream, Duration::from_millis(500));
        assert_eq!(
            scale.weigh().await.unwrap(),
            ScaleReading::Stable {
                grams: 812,
                net: false
            }
        );
    }
}
