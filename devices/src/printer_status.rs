//! Real-time printer status: a pure codec for the Epson ESC/POS **real-time status
//! transmission** `DLE EOT n` (`10 04 n`), beside the receipt encoder ([`crate::receipt`]). The
//! I/O that asks a printer over a connection is in [`crate::printer`].
//!
//! The host sends `DLE EOT n`; the printer answers one byte at once — also while it is off-line,
//! out of paper or in an error state, which is why a lane can ask before it sends a receipt:
//!
//! | `n` | request | answer |
//! |---|---|---|
//! | 1 | `10 04 01` | printer status ([`PrinterState`]) |
//! | 2 | `10 04 02` | off-line cause ([`OfflineCause`]) |
//! | 3 | `10 04 03` | error cause ([`ErrorCause`]) |
//! | 4 | `10 04 04` | roll paper sensor status ([`RollPaper`]) |
//!
//! Every answer byte has the same **fixed bits** (Epson ESC/POS reference, `DLE EOT`): bit 0 = 0,
//! bit 1 = 1, bit 4 = 1, bit 7 = 0 — mask `0x93`, value `0x12`. They tell a status byte from the
//! first byte of an Automatic Status Back block and from line noise; a byte that breaks them is
//! bad input ([`StatusError::FixedBits`]), never guessed at. The other bits (0 = off, 1 = on):
//!
//! **n = 1, printer status**
//!
//! | bit | hex | off | on |
//! |---|---|---|---|
//! | 0 | 01 | fixed | — |
//! | 1 | 02 | — | fixed |
//! | 2 | 04 | drawer kick-out connector pin 3 low | pin 3 high |
//! | 3 | 08 | online | **off-line** |
//! | 4 | 10 | — | fixed |
//! | 5 | 20 | not waiting for online recovery | waiting for online recovery |
//! | 6 | 40 | paper feed button not pressed | paper feed button pressed |
//! | 7 | 80 | fixed | — |
//!
//! **n = 2, off-line cause**
//!
//! | bit | hex | off | on |
//! |---|---|---|---|
//! | 2 | 04 | cover closed | **cover open** |
//! | 3 | 08 | paper not being fed by the feed button | paper being fed by the feed button |
//! | 5 | 20 | no paper-end stop | **printing stopped by paper end** |
//! | 6 | 40 | no error | **error** |
//!
//! **n = 3, error cause**
//!
//! | bit | hex | off | on |
//! |---|---|---|---|
//! | 2 | 04 | no recoverable error | recoverable error (mechanical error on older models) |
//! | 3 | 08 | no autocutter error | autocutter error (e.g. paper jam at the cutter) |
//! | 5 | 20 | no unrecoverable error | unrecoverable error (circuit failure) |
//! | 6 | 40 | no automatically recoverable error | automatically recoverable error (head overheat) |
//!
//! **n = 4, roll paper sensor status**
//!
//! | bits | hex | off (00) | on (11) |
//! |---|---|---|---|
//! | 2, 3 | 0C | near-end sensor: paper adequate | near-end sensor: **paper near end** |
//! | 5, 6 | 60 | end sensor: paper present | end sensor: **paper not present** |
//!
//! Epson defines only `00` and `11` for each pair of n = 4; printers with two separate sensors
//! (Citizen, Bixolon and others) set one bit per sensor, so either bit of a pair counts.
//!
//! What the lane does with the four answers ([`PrinterStatus::fault`], in this order): cover
//! open → [`PrinterFault::CoverOpen`] (with the cover open the paper sensor may be wrong); paper
//! end (n = 4 bits 5/6, or n = 2 bit 5) → [`PrinterFault::PaperOut`]; an error (n = 2 bit 6 or
//! any error cause) → [`PrinterFault::Error`]; still off-line (n = 1 bit 3, e.g. paper being fed
//! or waiting for online recovery) → [`PrinterFault::Offline`]. Paper near end is a warning
//! ([`PrinterStatus::paper_low`]): the receipt prints.

use std::fmt;

/// `DLE` (data link escape).
pub const DLE: u8 = 0x10;
/// `EOT` (end of transmission).
pub const EOT: u8 = 0x04;
/// The bits every status answer has fixed.
pub const FIXED_MASK: u8 = 0x93;
/// Their values: bit 1 and bit 4 on, bits 0 and 7 off.
pub const FIXED_VALUE: u8 = 0x12;

/// One real-time status request, `DLE EOT n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusRequest {
    /// n = 1: printer status.
    Printer,
    /// n = 2: off-line cause.
    OfflineCause,
    /// n = 3: error cause.
    ErrorCause,
    /// n = 4: roll paper sensor status.
    RollPaper,
}

impl StatusRequest {
    /// The four requests, in the order the lane asks them.
    pub const ALL: [StatusRequest; 4] = [
        StatusRequest::Printer,
        StatusRequest::OfflineCause,
        StatusRequest::ErrorCause,
        StatusRequest::RollPaper,
    ];

    /// The `n` of `DLE EOT n`.
    pub fn n(self) -> u8 {
        match self {
            StatusRequest::Printer => 1,
            StatusRequest::OfflineCause => 2,
            StatusRequest::ErrorCause => 3,
            StatusRequest::RollPaper => 4,
        }
    }

    /// The request for `n` (1–4); `None` for any other byte.
    pub fn from_n(n: u8) -> Option<StatusRequest> {
        StatusRequest::ALL.into_iter().find(|r| r.n() == n)
    }

    /// The bytes sent: `10 04 n`.
    pub fn bytes(self) -> [u8; 3] {
        [DLE, EOT, self.n()]
    }

    /// Checks an answer's fixed bits (before the other answers are asked for).
    pub fn check(self, byte: u8) -> Result<u8, StatusError> {
        check_fixed(self, byte).map(|()| byte)
    }
}

impl fmt::Display for StatusRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            StatusRequest::Printer => "printer status",
            StatusRequest::OfflineCause => "off-line cause",
            StatusRequest::ErrorCause => "error cause",
            StatusRequest::RollPaper => "roll paper sensor status",
        };
        write!(f, "DLE EOT {} ({what})", self.n())
    }
}

/// A status answer that is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// The byte breaks the fixed bits (bit 0 off, bit 1 on, bit 4 on, bit 7 off).
    #[error(
        "the printer answered {byte:#04x} to {request}, which is not a status byte: bits 0 and 7 \
         must be off and bits 1 and 4 on ({found})"
    )]
    FixedBits {
        /// What was asked.
        request: StatusRequest,
        /// The byte received.
        byte: u8,
        /// Which fixed bits are wrong, in words.
        found: String,
    },
}

fn bit(byte: u8, n: u8) -> bool {
    byte & (1 << n) != 0
}

fn check_fixed(request: StatusRequest, byte: u8) -> Result<(), StatusError> {
    if byte & FIXED_MASK == FIXED_VALUE {
        return Ok(());
    }
    let mut wrong = Vec::new();
    for (n, on) in [(0, false), (1, true), (4, true), (7, false)] {
        if bit(byte, n) != on {
            wrong.push(format!("bit {n} is {}", if on { "off" } else { "on" }));
        }
    }
    Err(StatusError::FixedBits {
        request,
        byte,
        found: wrong.join(", "),
    })
}

fn with_bits(bits: &[(u8, bool)]) -> u8 {
    bits.iter()
        .filter(|(_, on)| *on)
        .fold(FIXED_VALUE, |byte, (n, _)| byte | (1 << n))
}

/// The answer to n = 1, printer status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PrinterState {
    /// Bit 2: the drawer kick-out connector's pin 3 is high (the drawer sensor; its meaning
    /// depends on the drawer).
    pub drawer_pin3_high: bool,
    /// Bit 3: the printer is off-line.
    pub offline: bool,
    /// Bit 5: waiting for online recovery.
    pub waiting_for_online_recovery: bool,
    /// Bit 6: the paper feed button is being pressed.
    pub feed_button_pressed: bool,
}

impl PrinterState {
    /// Decodes the answer byte.
    pub fn decode(byte: u8) -> Result<Self, StatusError> {
        check_fixed(StatusRequest::Printer, byte)?;
        Ok(Self {
            drawer_pin3_high: bit(byte, 2),
            offline: bit(byte, 3),
            waiting_for_online_recovery: bit(byte, 5),
            feed_button_pressed: bit(byte, 6),
        })
    }

    /// The answer byte a printer in this state sends.
    pub fn encode(self) -> u8 {
        with_bits(&[
            (2, self.drawer_pin3_high),
            (3, self.offline),
            (5, self.waiting_for_online_recovery),
            (6, self.feed_button_pressed),
        ])
    }
}

/// The answer to n = 2, off-line cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OfflineCause {
    /// Bit 2: the cover is open.
    pub cover_open: bool,
    /// Bit 3: paper is being fed by the paper feed button.
    pub feeding_by_button: bool,
    /// Bit 5: printing stopped because the paper ran out.
    pub paper_end_stop: bool,
    /// Bit 6: an error occurred (the cause is in [`ErrorCause`]).
    pub error: bool,
}

impl OfflineCause {
    /// Decodes the answer byte.
    pub fn decode(byte: u8) -> Result<Self, StatusError> {
        check_fixed(StatusRequest::OfflineCause, byte)?;
        Ok(Self {
            cover_open: bit(byte, 2),
            feeding_by_button: bit(byte, 3),
            paper_end_stop: bit(byte, 5),
            error: bit(byte, 6),
        })
    }

    /// The answer byte.
    pub fn encode(self) -> u8 {
        with_bits(&[
            (2, self.cover_open),
            (3, self.feeding_by_button),
            (5, self.paper_end_stop),
            (6, self.error),
        ])
    }
}

/// The answer to n = 3, error cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ErrorCause {
    /// Bit 2: a recoverable error (a mechanical error on older models; undefined on some).
    pub recoverable: bool,
    /// Bit 3: an autocutter error.
    pub autocutter: bool,
    /// Bit 5: an unrecoverable error.
    pub unrecoverable: bool,
    /// Bit 6: an automatically recoverable error (print head overheated).
    pub auto_recoverable: bool,
}

impl ErrorCause {
    /// Decodes the answer byte.
    pub fn decode(byte: u8) -> Result<Self, StatusError> {
        check_fixed(StatusRequest::ErrorCause, byte)?;
        Ok(Self {
            recoverable: bit(byte, 2),
            autocutter: bit(byte, 3),
            unrecoverable: bit(byte, 5),
            auto_recoverable: bit(byte, 6),
        })
    }

    /// The answer byte.
    pub fn encode(self) -> u8 {
        with_bits(&[
            (2, self.recoverable),
            (3, self.autocutter),
            (5, self.unrecoverable),
            (6, self.auto_recoverable),
        ])
    }

    /// Whether any error cause is reported.
    pub fn any(self) -> bool {
        self.recoverable || self.autocutter || self.unrecoverable || self.auto_recoverable
    }

    /// The causes in words (`autocutter error, head overheated`); empty when none.
    pub fn describe(self) -> String {
        [
            (self.autocutter, "autocutter error"),
            (self.unrecoverable, "unrecoverable error"),
            (self.auto_recoverable, "head overheated"),
            (self.recoverable, "recoverable error"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, what)| *what)
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// The answer to n = 4, roll paper sensor status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RollPaper {
    /// Bits 2, 3: the near-end sensor sees the roll running low.
    pub near_end: bool,
    /// Bits 5, 6: the end sensor sees no paper.
    pub paper_absent: bool,
}

impl RollPaper {
    /// Decodes the answer byte (either bit of a pair counts).
    pub fn decode(byte: u8) -> Result<Self, StatusError> {
        check_fixed(StatusRequest::RollPaper, byte)?;
        Ok(Self {
            near_end: byte & 0x0C != 0,
            paper_absent: byte & 0x60 != 0,
        })
    }

    /// The answer byte an Epson printer sends (both bits of a pair).
    pub fn encode(self) -> u8 {
        with_bits(&[
            (2, self.near_end),
            (3, self.near_end),
            (5, self.paper_absent),
            (6, self.paper_absent),
        ])
    }
}

/// The four answers together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PrinterStatus {
    /// n = 1.
    pub printer: PrinterState,
    /// n = 2.
    pub offline_cause: OfflineCause,
    /// n = 3.
    pub error_cause: ErrorCause,
    /// n = 4.
    pub roll_paper: RollPaper,
}

impl PrinterStatus {
    /// A printer that is online with paper, cover closed, no error.
    pub const READY: PrinterStatus = PrinterStatus {
        printer: PrinterState {
            drawer_pin3_high: false,
            offline: false,
            waiting_for_online_recovery: false,
            feed_button_pressed: false,
        },
        offline_cause: OfflineCause {
            cover_open: false,
            feeding_by_button: false,
            paper_end_stop: false,
            error: false,
        },
        error_cause: ErrorCause {
            recoverable: false,
            autocutter: false,
            unrecoverable: false,
            auto_recoverable: false,
        },
        roll_paper: RollPaper {
            near_end: false,
            paper_absent: false,
        },
    };

    /// What an Epson printer reports when the roll has run out: off-line, stopped by paper end,
    /// both sensors without paper.
    pub fn paper_out() -> PrinterStatus {
        let mut s = Self::READY;
        s.printer.offline = true;
        s.offline_cause.paper_end_stop = true;
        s.roll_paper = RollPaper {
            near_end: true,
            paper_absent: true,
        };
        s
    }

    /// Online, but the near-end sensor sees the roll running low.
    pub fn paper_near_end() -> PrinterStatus {
        let mut s = Self::READY;
        s.roll_paper.near_end = true;
        s
    }

    /// Off-line with the cover open.
    pub fn cover_open() -> PrinterStatus {
        let mut s = Self::READY;
        s.printer.offline = true;
        s.offline_cause.cover_open = true;
        s
    }

    /// Decodes the answers to n = 1, 2, 3, 4 (in that order).
    pub fn decode(answers: [u8; 4]) -> Result<PrinterStatus, StatusError> {
        Ok(PrinterStatus {
            printer: PrinterState::decode(answers[0])?,
            offline_cause: OfflineCause::decode(answers[1])?,
            error_cause: ErrorCause::decode(answers[2])?,
            roll_paper: RollPaper::decode(answers[3])?,
        })
    }

    /// The answer byte to `request`.
    pub fn answer(&self, request: StatusRequest) -> u8 {
        match request {
            StatusRequest::Printer => self.printer.encode(),
            StatusRequest::OfflineCause => self.offline_cause.encode(),
            StatusRequest::ErrorCause => self.error_cause.encode(),
            StatusRequest::RollPaper => self.roll_paper.encode(),
        }
    }

    /// Why a receipt must not be sent now, if anything (see the module docs for the order).
    pub fn fault(&self) -> Option<PrinterFault> {
        if self.offline_cause.cover_open {
            Some(PrinterFault::CoverOpen)
        } else if self.roll_paper.paper_absent || self.offline_cause.paper_end_stop {
            Some(PrinterFault::PaperOut)
        } else if self.offline_cause.error || self.error_cause.any() {
            Some(PrinterFault::Error(self.error_cause.describe()))
        } else if self.printer.offline {
            Some(PrinterFault::Offline)
        } else {
            None
        }
    }

    /// The roll is running low (a warning: receipts still print).
    pub fn paper_low(&self) -> bool {
        self.roll_paper.near_end
    }
}

/// Why the printer cannot print a receipt now, as the status says.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PrinterFault {
    /// The cover is open.
    CoverOpen,
    /// The roll has run out.
    PaperOut,
    /// An error state; the causes in words (empty: the printer gave none).
    Error(String),
    /// Off-line for another reason (paper being fed by the button, waiting for recovery).
    Offline,
}

impl PrinterFault {
    /// The short text of the cashier's status bar (`缺纸 PAPER OUT`).
    pub fn status_text(&self) -> &'static str {
        match self {
            PrinterFault::CoverOpen => "盖开 COVER OPEN",
            PrinterFault::PaperOut => "缺纸 PAPER OUT",
            PrinterFault::Error(_) => "故障 ERROR",
            PrinterFault::Offline => "OFFLINE",
        }
    }
}

impl fmt::Display for PrinterFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrinterFault::CoverOpen => f.write_str("打印机盖未关 printer cover open"),
            PrinterFault::PaperOut => f.write_str("打印机缺纸 printer out of paper"),
            PrinterFault::Error(causes) if causes.is_empty() => {
                f.write_str("打印机故障 printer error")
            }
            PrinterFault::Error(causes) => write!(f, "打印机故障 printer error ({causes})"),
            PrinterFault::Offline => {
                f.write_str("打印机离线 printer off-line (feeding paper or waiting to recover)")
            }
        }
    }
}

/// The cashier's warning when the roll runs low.
pub const PAPER_LOW: &str = "打印纸将尽 printer paper near end: load a new roll soon";
/// The status bar's text for it.
pub const PAPER_LOW_STATUS: &str = "纸将尽 PAPER LOW";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every byte with the fixed bits right: the four free bits in all 16 combinations.
    fn valid_bytes() -> impl Iterator<Item = u8> {
        (0u8..16).map(|free| {
            FIXED_VALUE
                | ((free & 1) << 2)
                | (((free >> 1) & 1) << 3)
                | (((free >> 2) & 1) << 5)
                | (((free >> 3) & 1) << 6)
        })
    }

    #[test]
    fn requests_are_dle_eot_n() {
        assert_eq!(StatusRequest::Printer.bytes(), [0x10, 0x04, 0x01]);
        assert_eq!(StatusRequest::OfflineCause.bytes(), [0x10, 0x04, 0x02]);
        assert_eq!(StatusRequest::ErrorCause.bytes(), [0x10, 0x04, 0x03]);
        assert_eq!(StatusRequest::RollPaper.bytes(), [0x10, 0x04, 0x04]);
        for r in StatusRequest::ALL {
            assert_eq!(StatusRequest::from_n(r.n()), Some(r));
        }
        assert_eq!(StatusRequest::ErrorCause.check(0x12), Ok(0x12));
        assert!(StatusRequest::ErrorCause.check(0x00).is_err());
        assert_eq!(StatusRequest::from_n(0), None);
        assert_eq!(StatusRequest::from_n(5), None);
        assert_eq!(
            StatusRequest::RollPaper.to_string(),
            "DLE EOT 4 (roll paper sensor status)"
        );
    }

    #[test]
    fn printer_status_bits() {
        // 0x12: online, nothing set.
        assert_eq!(PrinterState::decode(0x12).unwrap(), PrinterState::default());
        let one = |byte| PrinterState::decode(byte).unwrap();
        assert!(one(0x16).drawer_pin3_high);
        assert_eq!(
            one(0x16),
            PrinterState {
                drawer_pin3_high: true,
                ..Default::default()
            }
        );
        assert_eq!(
            one(0x1A),
            PrinterState {
                offline: true,
                ..Default::default()
            }
        );
        assert_eq!(
            one(0x32),
            PrinterState {
                waiting_for_online_recovery: true,
                ..Default::default()
            }
        );
        assert_eq!(
            one(0x52),
            PrinterState {
                feed_button_pressed: true,
                ..Default::default()
            }
        );
        for byte in valid_bytes() {
            assert_eq!(one(byte).encode(), byte, "{byte:#04x} round trip");
        }
    }

    #[test]
    fn offline_cause_bits() {
        let one = |byte| OfflineCause::decode(byte).unwrap();
        assert_eq!(one(0x12), OfflineCause::default());
        assert_eq!(
            one(0x16),
            OfflineCause {
                cover_open: true,
                ..Default::default()
            }
        );
        assert_eq!(
            one(0x1A),
            OfflineCause {
                feeding_by_button: true,
                ..Default::default()
            }
        );
        assert_eq!(
            one(0x32),
            OfflineCause {
                paper_end_stop: true,
                ..Default::default()
            }
        );
        assert_eq!(
            one(0x52),
            OfflineCause {
                error: true,
                ..Default::default()
            }
        );
        for byte in valid_bytes() {
            assert_eq!(one(byte).encode(), byte, "{byte:#04x} round trip");
        }
    }

    #[test]
    fn error_cause_bits() {
        let one = |byte| ErrorCause::decode(byte).unwrap();
        assert_eq!(one(0x12), ErrorCause::default());
        assert!(!one(0x12).any());
        assert_eq!(one(0x12).describe(), "");
        assert_eq!(
            one(0x16),
            ErrorCause {
                recoverable: true,
                ..Default::default()
            }
        );
        assert_eq!(
            one(0x1A),
            ErrorCause {
                autocutter: true,
                ..Default::default()
            }
        );
        assert_eq!(
            one(0x32),
            ErrorCause {
                unrecoverable: true,
                ..Default::default()
            }
        );
        assert_eq!(
            one(0x52),
            ErrorCause {
                auto_recoverable: true,
                ..Default::default()
            }
        );
        assert_eq!(one(0x5A).describe(), "autocutter error, head overheated");
        for byte in valid_bytes() {
            assert_eq!(one(byte).any(), byte != 0x12);
            assert_eq!(one(byte).encode(), byte, "{byte:#04x} round trip");
        }
    }

    #[test]
    fn roll_paper_bits() {
        let one = |byte| RollPaper::decode(byte).unwrap();
        assert_eq!(one(0x12), RollPaper::default());
        // Epson: both bits of a pair together.
        assert_eq!(
            one(0x1E),
            RollPaper {
                near_end: true,
                paper_absent: false
            }
        );
        assert_eq!(
            one(0x72),
            RollPaper {
                near_end: false,
                paper_absent: true
            }
        );
        assert_eq!(
            one(0x7E),
            RollPaper {
                near_end: true,
                paper_absent: true
            }
        );
        // One bit per sensor (printers with two sensors): either bit counts.
        assert!(one(0x16).near_end);
        assert!(one(0x1A).near_end);
        assert!(one(0x32).paper_absent);
        assert!(one(0x52).paper_absent);
        assert!(!one(0x32).near_end && !one(0x16).paper_absent);
        assert_eq!(RollPaper::default().encode(), 0x12);
        assert_eq!(
            RollPaper {
                near_end: true,
                paper_absent: true
            }
            .encode(),
            0x7E
        );
    }

    #[test]
    fn bytes_that_break_the_fixed_bits_are_refused() {
        for request in StatusRequest::ALL {
            let decode = |byte: u8| match request {
                StatusRequest::Printer => PrinterState::decode(byte).map(|_| ()),
                StatusRequest::OfflineCause => OfflineCause::decode(byte).map(|_| ()),
                StatusRequest::ErrorCause => ErrorCause::decode(byte).map(|_| ()),
                StatusRequest::RollPaper => RollPaper::decode(byte).map(|_| ()),
            };
            // Every one of the 256 bytes: accepted exactly when the fixed bits are right.
            for byte in 0..=255u8 {
                assert_eq!(
                    decode(byte).is_ok(),
                    byte & 0x93 == 0x12,
                    "{request} {byte:#04x}"
                );
            }
            // Each fixed bit on its own, named in the error.
            for (byte, wrong) in [
                (0x13, "bit 0 is on"),
                (0x10, "bit 1 is off"),
                (0x02, "bit 4 is off"),
                (0x92, "bit 7 is on"),
            ] {
                let e = decode(byte).unwrap_err();
                assert_eq!(
                    e,
                    StatusError::FixedBits {
                        request,
                        byte,
                        found: wrong.into()
                    }
                );
                assert!(e.to_string().contains(wrong), "{e}");
            }
        }
        // Typical garbage: zero, all ones, an XON, an ASB first byte.
        for byte in [0x00, 0xFF, 0x11, 0x10] {
            assert!(PrinterStatus::decode([byte, 0x12, 0x12, 0x12]).is_err());
            assert!(PrinterStatus::decode([0x12, 0x12, 0x12, byte]).is_err());
        }
        let e = PrinterStatus::decode([0x12, 0x12, 0x00, 0x12]).unwrap_err();
        assert!(e.to_string().contains("DLE EOT 3 (error cause)"), "{e}");
        assert!(e.to_string().contains("0x00"), "{e}");
    }

    #[test]
    fn faults_and_warnings() {
        let ready = PrinterStatus::decode([0x12; 4]).unwrap();
        assert_eq!(ready, PrinterStatus::READY);
        assert_eq!(ready.fault(), None);
        assert!(!ready.paper_low());

        // What a TM-T88V answers with the roll out: off-line, paper-end stop, no paper.
        let out = PrinterStatus::decode([0x1A, 0x32, 0x12, 0x7E]).unwrap();
        assert_eq!(out, PrinterStatus::paper_out());
        assert_eq!(out.fault(), Some(PrinterFault::PaperOut));
        assert_eq!(
            out.fault().unwrap().to_string(),
            "打印机缺纸 printer out of paper"
        );
        // The end sensor alone, or the paper-end stop alone, is enough.
        let sensor_only = PrinterStatus::decode([0x12, 0x12, 0x12, 0x72]).unwrap();
        assert_eq!(sensor_only.fault(), Some(PrinterFault::PaperOut));
        let stop_only = PrinterStatus::decode([0x1A, 0x32, 0x12, 0x12]).unwrap();
        assert_eq!(stop_only.fault(), Some(PrinterFault::PaperOut));

        // Cover open wins over the paper sensor (which may be wrong with the cover open).
        let cover = PrinterStatus::decode([0x1A, 0x16, 0x12, 0x7E]).unwrap();
        assert_eq!(cover.fault(), Some(PrinterFault::CoverOpen));
        assert_eq!(
            PrinterStatus::cover_open().fault(),
            Some(PrinterFault::CoverOpen)
        );
        assert!(cover.fault().unwrap().to_string().contains("cover open"));

        // Errors, with their causes.
        let cutter = PrinterStatus::decode([0x1A, 0x52, 0x1A, 0x12]).unwrap();
        assert_eq!(
            cutter.fault(),
            Some(PrinterFault::Error("autocutter error".into()))
        );
        assert_eq!(
            cutter.fault().unwrap().to_string(),
            "打印机故障 printer error (autocutter error)"
        );
        let bare = PrinterStatus::decode([0x1A, 0x52, 0x12, 0x12]).unwrap();
        assert_eq!(bare.fault(), Some(PrinterFault::Error(String::new())));
        let cause_only = PrinterStatus::decode([0x12, 0x12, 0x32, 0x12]).unwrap();
        assert_eq!(
            cause_only.fault(),
            Some(PrinterFault::Error("unrecoverable error".into()))
        );

        // Off-line without a cause given (feeding paper): still no receipt.
        let feeding = PrinterStatus::decode([0x1A, 0x1A, 0x12, 0x12]).unwrap();
        assert_eq!(feeding.fault(), Some(PrinterFault::Offline));
        assert_eq!(PrinterFault::Offline.status_text(), "OFFLINE");

        // Near end: a warning only.
        let low = PrinterStatus::decode([0x12, 0x12, 0x12, 0x1E]).unwrap();
        assert_eq!(low, PrinterStatus::paper_near_end());
        assert_eq!(low.fault(), None);
        assert!(low.paper_low());
        // The drawer sensor, the feed button and waiting for recovery alone are no fault.
        let busy = PrinterStatus::decode([0x76, 0x12, 0x12, 0x12]).unwrap();
        assert_eq!(busy.fault(), None);

        // The answers a status gives are the bytes it decodes from.
        for status in [
            PrinterStatus::READY,
            out,
            cover,
            cutter,
            low,
            PrinterStatus::paper_out(),
        ] {
            let answers = StatusRequest::ALL.map(|r| status.answer(r));
            assert_eq!(PrinterStatus::decode(answers).unwrap(), status);
        }
    }

    fn any_status() -> impl proptest::strategy::Strategy<Value = PrinterStatus> {
        use proptest::prelude::*;
        (
            any::<[bool; 4]>(),
            any::<[bool; 4]>(),
            any::<[bool; 4]>(),
            any::<[bool; 2]>(),
        )
            .prop_map(|(p, o, e, r)| PrinterStatus {
                printer: PrinterState {
                    drawer_pin3_high: p[0],
                    offline: p[1],
                    waiting_for_online_recovery: p[2],
                    feed_button_pressed: p[3],
                },
                offline_cause: OfflineCause {
                    cover_open: o[0],
                    feeding_by_button: o[1],
                    paper_end_stop: o[2],
                    error: o[3],
                },
                error_cause: ErrorCause {
                    recoverable: e[0],
                    autocutter: e[1],
                    unrecoverable: e[2],
                    auto_recoverable: e[3],
                },
                roll_paper: RollPaper {
                    near_end: r[0],
                    paper_absent: r[1],
                },
            })
    }

    proptest::proptest! {
        /// Any four answer bytes (a printer, a cable picking up noise, an attacker on the
        /// network printer's port) decode to a status or a clear error, never a panic; the
        /// result is an error exactly when one of them breaks its fixed bits.
        #[test]
        fn any_answers_decode_or_are_refused(answers in proptest::prelude::any::<[u8; 4]>()) {
            let all_fixed = answers.iter().all(|b| b & FIXED_MASK == FIXED_VALUE);
            let decoded = PrinterStatus::decode(answers);
            proptest::prop_assert_eq!(decoded.is_ok(), all_fixed);
            if let Ok(status) = decoded {
                let _ = status.fault();
                let _ = status.paper_low();
                let _ = status.error_cause.describe();
            }
            for (request, byte) in StatusRequest::ALL.into_iter().zip(answers) {
                proptest::prop_assert_eq!(request.check(byte).is_ok(), byte & FIXED_MASK == FIXED_VALUE);
            }
        }

        /// What a printer in any state answers decodes back to that state.
        #[test]
        fn answers_roundtrip(status in any_status()) {
            let answers = StatusRequest::ALL.map(|r| status.answer(r));
            proptest::prop_assert_eq!(PrinterStatus::decode(answers), Ok(status));
        }

        #[test]
        fn requests_roundtrip(n in proptest::prelude::any::<u8>()) {
            match StatusRequest::from_n(n) {
                Some(request) => {
                    proptest::prop_assert_eq!(request.n(), n);
                    proptest::prop_assert_eq!(request.bytes(), [DLE, EOT, n]);
                }
                None => proptest::prop_assert!(!(1..=4).contains(&n)),
            }
        }
    }
}
