//! The barcode scanner line protocol (docs/DESIGN.md §8).
//!
//! A scanner on a serial line (USB-CDC or RS-232) sends one frame per scan: the code text,
//! optionally preceded by a three-character AIM symbology identifier (`]E0`, `]Q1`, …), ended by
//! CR, LF or CR LF. [`ScanFrameCodec`] turns that byte stream into [`ScanFrame`]s; it is a
//! [`tokio_util::codec::Decoder`], so it works over anything that is `AsyncRead` (a serial port,
//! a pseudo-terminal, a test buffer) through [`tokio_util::codec::FramedRead`].
//!
//! The lane must survive whatever comes down the wire, so the codec never panics and never gets
//! stuck:
//!
//! * any of CR, LF or CR LF ends a frame, whatever the profile's suffix says; empty frames (the
//!   LF of a CR LF, blank lines) are skipped; leading and trailing whitespace is trimmed;
//! * a frame with a byte that is not printable ASCII is reported as [`ScanFrame::Garbled`] and
//!   decoding carries on with the next frame;
//! * a frame longer than the maximum length is reported once as [`ScanFrame::Garbled`] as soon as
//!   it is known to be too long, and its bytes are discarded up to the next terminator;
//! * a frame cut off by a disconnect is reported as [`ScanFrame::Garbled`] at end of stream;
//! * the only [`ScanError`] is an I/O error from the underlying reader.
//!
//! [`classify_scan`] then tells what a frame's text is: a product barcode (GTIN, variable-measure
//! or internal code), one of the signed codes of docs/DESIGN.md §7, or unknown with a reason the cashier
//! can read.

use std::collections::BTreeMap;

use bytes::BytesMut;
use retail_domain::barcode::{classify_product_code, ScannedCode, VariableMeasureLayout};
use retail_domain::codes::{self, CodeKind};
use retail_domain::profiles::{FrameSuffix, ScannerProfile, Symbology};
use tokio_util::codec::Decoder;

/// One frame read from a scanner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanFrame {
    /// A well-formed frame.
    Code {
        /// The scanned text, trimmed, without the AIM identifier. Printable ASCII, never empty.
        text: String,
        /// The AIM symbology identifier without its `]`, e.g. `"E0"` (EAN-13) or `"Q1"` (QR), if
        /// the frame carried one. [`ScanFrameCodec::symbology`] names it.
        symbology: Option<String>,
    },
    /// Something arrived that is not a usable frame; the reason is for the cashier and the log.
    Garbled {
        /// What was wrong, e.g. `"frame longer than 512 bytes"`.
        reason: String,
    },
}

/// Errors that end a scanner stream: only I/O errors of the underlying reader (bad data is
/// reported as [`ScanFrame::Garbled`] instead).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Reading from the scanner failed (e.g. the device was unplugged).
    #[error("scanner read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Frame settings for a [`ScanFrameCodec`] given explicitly rather than from a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanFrameSettings {
    /// The suffix the scanner is programmed to send. Decoding accepts any of CR, LF or CR LF
    /// regardless, so a scanner reprogrammed behind the lane's back still works.
    pub suffix: FrameSuffix,
    /// Whether the scanner is programmed to send AIM identifiers. Decoding strips an identifier
    /// whenever a frame starts with one either way (`]` begins no code this system reads).
    pub aim_enabled: bool,
    /// The longest frame accepted, in bytes, without the suffix.
    pub max_length: usize,
}

/// Decoder of the scanner line protocol; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct ScanFrameCodec {
    settings: ScanFrameSettings,
    /// AIM identifiers (`"]E0"`) the profile names.
    aim_ids: BTreeMap<String, Symbology>,
    /// Bytes at the front of the buffer already known to hold no terminator.
    scanned: usize,
    /// An overlong frame was reported; its remaining bytes are dropped up to the next terminator.
    discarding: bool,
}

impl ScanFrameCodec {
    /// A codec for the given settings (no AIM identifier is named by [`Self::symbology`]).
    pub fn new(settings: ScanFrameSettings) -> Self {
        Self {
            settings,
            aim_ids: BTreeMap::new(),
            scanned: 0,
            discarding: false,
        }
    }

    /// A codec for a scanner profile: its suffix, maximum frame length and AIM identifiers.
    pub fn from_profile(profile: &ScannerProfile) -> Self {
        let mut codec = Self::new(ScanFrameSettings {
            suffix: profile.frame.suffix,
            aim_enabled: profile.aim.enabled,
            max_length: usize::try_from(profile.frame.max_length).unwrap_or(usize::MAX),
        });
        codec.aim_ids = profile.aim.ids.clone();
        codec
    }

    /// The settings this codec was built with.
    pub fn settings(&self) -> ScanFrameSettings {
        self.settings
    }

    /// The symbology the profile maps an AIM identifier to; `id` may be given with or without
    /// its `]` (`"E0"` as in [`ScanFrame::Code`], or `"]E0"`).
    pub fn symbology(&self, id: &str) -> Option<Symbology> {
        let id = id.strip_prefix(']').unwrap_or(id);
        self.aim_ids.get(&format!("]{id}")).copied()
    }

    fn overlong(&self) -> ScanFrame {
        ScanFrame::Garbled {
            reason: format!("frame longer than {} bytes", self.settings.max_length),
        }
    }

    /// Turns the bytes of one frame (without its terminator) into a frame, or `None` when there
    /// is nothing in it.
    fn frame(&self, raw: &[u8]) -> Option<ScanFrame> {
        if raw.len() > self.settings.max_length {
            return Some(self.overlong());
        }
        let trimmed = raw.trim_ascii();
        if trimmed.is_empty() {
            return None;
        }
        let leading = raw.len() - raw.trim_ascii_start().len();
        if let Some((pos, byte)) = trimmed
            .iter()
            .enumerate()
            .find(|(_, b)| !(0x20..=0x7e).contains(*b))
        {
            return Some(ScanFrame::Garbled {
                reason: format!(
                    "frame contains byte 0x{byte:02X} at position {}, which is not printable \
                     ASCII",
                    pos + leading
                ),
            });
        }
        let (symbology, data) = match trimmed {
            [b']', c, m, rest @ ..] if c.is_ascii_alphabetic() && m.is_ascii_alphanumeric() => {
                (Some(format!("{}{}", char::from(*c), char::from(*m))), rest)
            }
            _ => (None, trimmed),
        };
        let data = data.trim_ascii();
        if data.is_empty() {
            return Some(ScanFrame::Garbled {
                reason: format!(
                    "AIM identifier ]{} without any data",
                    symbology.unwrap_or_default()
                ),
            });
        }
        // All printable ASCII, so always valid UTF-8.
        let text = String::from_utf8_lossy(data).into_owned();
        Some(ScanFrame::Code { text, symbology })
    }
}

impl From<&ScannerProfile> for ScanFrameCodec {
    fn from(profile: &ScannerProfile) -> Self {
        Self::from_profile(profile)
    }
}

fn is_terminator(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

impl Decoder for ScanFrameCodec {
    type Item = ScanFrame;
    type Error = ScanError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ScanFrame>, ScanError> {
        loop {
            let start = self.scanned.min(buf.len());
            let Some(end) = buf[start..]
                .iter()
                .position(|&b| is_terminator(b))
                .map(|i| start + i)
            else {
                if self.discarding {
                    buf.clear();
                    self.scanned = 0;
                } else if buf.len() > self.settings.max_length {
                    buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    return Ok(Some(self.overlong()));
                } else {
                    self.scanned = buf.len();
                }
                return Ok(None);
            };
            let line = buf.split_to(end + 1);
            self.scanned = 0;
            if self.discarding {
                // The overlong frame was already reported when it grew too long.
                self.discarding = false;
                continue;
            }
            if let Some(frame) = self.frame(&line[..end]) {
                return Ok(Some(frame));
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<ScanFrame>, ScanError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        let pending = !buf.trim_ascii().is_empty() && !self.discarding;
        buf.clear();
        self.scanned = 0;
        self.discarding = false;
        Ok(pending.then(|| ScanFrame::Garbled {
            reason: "incomplete frame at disconnect".into(),
        }))
    }
}

/// What a scanned frame is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scan {
    /// A product barcode: GTIN, variable-measure code (price or weight inside) or internal code.
    Product(ScannedCode),
    /// A member code from the shopper's phone (`MC1.…`, not yet verified).
    MemberCode(String),
    /// A pickup code (`PK1.…`, not yet verified).
    PickupCode(String),
    /// A scan-and-go exit pass (`EX1.…`, not yet verified).
    ExitPass(String),
    /// A receipt code (`RC2.…` or `RC1.…`, not yet verified).
    ReceiptCode(String),
    /// A store code (`ST1.…`, not yet parsed).
    StoreCode(String),
    /// Nothing this lane can use; `reason` is for the cashier's screen.
    Unknown {
        /// The scanned text (trimmed).
        text: String,
        /// Why it was not recognised, e.g. `"check digit is 3, expected 7"`.
        reason: String,
    },
}

/// Tells what a frame's text is.
///
/// A text is routed to a signed-code kind (docs/DESIGN.md §7) when its prefix names one — two letters
/// and a version number, see [`codes::classify`] — **and** a `.` follows the version, as in every
/// code text; signatures, expiry and fields are for the caller to verify. Other texts are read as
/// product codes with [`classify_product_code`] (so a retailer's internal code such as `ST100`,
/// which can never contain a `.`, is still a product). Anything else is [`Scan::Unknown`] with the
/// reason.
pub fn classify_scan(frame_text: &str, layouts: &[VariableMeasureLayout]) -> Scan {
    let text = frame_text.trim();
    let kind = codes::classify(text);
    let looks_signed = text
        .get(2..)
        .map(|rest| rest.trim_start_matches(|c: char| c.is_ascii_digit()))
        .is_some_and(|rest| rest.starts_with('.'));
    if looks_signed {
        let text = text.to_string();
        match kind {
            CodeKind::Member => return Scan::MemberCode(text),
            CodeKind::Pickup => return Scan::PickupCode(text),
            CodeKind::ExitPass => return Scan::ExitPass(text),
            CodeKind::Receipt => return Scan::ReceiptCode(text),
            CodeKind::Store => return Scan::StoreCode(text),
            CodeKind::Unknown => {}
        }
    }
    match classify_product_code(text, layouts) {
        Ok(code) => Scan::Product(code),
        Err(e) => Scan::Unknown {
            text: text.to_string(),
            reason: e.to_string(),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};
    use futures_util::StreamExt;
    use proptest::prelude::*;
    use retail_domain::barcode::{ean13_from_body, GtinKind, Measure};
    use retail_domain::codes::{
        CodeSigner, ExitPass, MemberCode, PickupCode, SignedCode, StoreCode,
    };
    use retail_domain::money::Money;
    use tokio::io::AsyncWriteExt;
    use tokio_util::codec::FramedRead;
    use uuid::Uuid;

    const PROFILE: &str = r#"
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
max_length = 32

[aim]
enabled = true
ids = { "]E0" = "ean13", "]E4" = "ean8", "]Q1" = "qr", "]C0" = "code128" }
"#;

    fn codec() -> ScanFrameCodec {
        ScanFrameCodec::from_profile(&ScannerProfile::from_toml_str(PROFILE).unwrap())
    }

    fn code(text: &str, symbology: Option<&str>) -> ScanFrame {
        ScanFrame::Code {
            text: text.into(),
            symbology: symbology.map(Into::into),
        }
    }

    fn garbled(reason: &str) -> ScanFrame {
        ScanFrame::Garbled {
            reason: reason.into(),
        }
    }

    /// Feeds `chunks` one after another, draining frames after each, then ends the stream.
    fn decode_chunks<'a>(
        codec: &mut ScanFrameCodec,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Vec<ScanFrame> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                out.push(frame);
            }
        }
        while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
            out.push(frame);
        }
        assert!(buf.is_empty());
        out
    }

    async fn read_all(reader: impl tokio::io::AsyncRead + Unpin) -> Vec<ScanFrame> {
        FramedRead::new(reader, codec())
            .map(|r| r.unwrap())
            .collect()
            .await
    }

    #[tokio::test]
    async fn cr_lf_and_crlf_terminators() {
        let input: &[u8] = b"4006381333931\r96385074\n036000291452\r\n\r\n  ABC123 \r";
        assert_eq!(
            read_all(input).await,
            [
                code("4006381333931", None),
                code("96385074", None),
                code("036000291452", None),
                code("ABC123", None),
            ]
        );
    }

    #[tokio::test]
    async fn aim_identifier_is_stripped_and_named() {
        let input: &[u8] = b"]E04006381333931\r]Q1MC1.abc\r]d1X\r]E0\r";
        let frames = read_all(input).await;
        assert_eq!(
            frames,
            [
                code("4006381333931", Some("E0")),
                code("MC1.abc", Some("Q1")),
                code("X", Some("d1")),
                garbled("AIM identifier ]E0 without any data"),
            ]
        );
        let codec = codec();
        assert_eq!(codec.symbology("E0"), Some(Symbology::Ean13));
        assert_eq!(codec.symbology("]Q1"), Some(Symbology::Qr));
        assert_eq!(codec.symbology("d1"), None);
        let ScanFrame::Code { text, .. } = &frames[0] else {
            panic!()
        };
        assert_eq!(
            classify_scan(text, &[]),
            Scan::Product(ScannedCode::Gtin {
                code: "4006381333931".into(),
                kind: GtinKind::Ean13
            })
        );
    }

    #[tokio::test]
    async fn frames_split_byte_by_byte() {
        // Directly, one byte per decode call.
        let input = b"]E04006381333931\r\n96385074\r";
        let frames = decode_chunks(&mut codec(), input.chunks(1));
        assert_eq!(
            frames,
            [code("4006381333931", Some("E0")), code("96385074", None)]
        );
        // Through a reader that hands over one byte per read.
        let (rx, mut tx) = tokio::io::simplex(1);
        let writer = tokio::spawn(async move {
            for b in input {
                tx.write_all(&[*b]).await.unwrap();
                tokio::task::yield_now().await;
            }
            // Dropping one half of a simplex does not close it; shutting down does.
            tx.shutdown().await.unwrap();
        });
        assert_eq!(read_all(rx).await, frames);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn garbage_is_reported_and_the_next_frame_still_decodes() {
        let input: &[u8] = b"\xff\x00\xfe\r12\x0734\r\xe4\xb8\xad\n96385074\r";
        assert_eq!(
            read_all(input).await,
            [
                garbled("frame contains byte 0xFF at position 0, which is not printable ASCII"),
                garbled("frame contains byte 0x07 at position 2, which is not printable ASCII"),
                garbled("frame contains byte 0xE4 at position 0, which is not printable ASCII"),
                code("96385074", None),
            ]
        );
    }

    #[tokio::test]
    async fn overlong_frame_then_a_good_one() {
        // In one read: detected at the terminator.
        let mut input = vec![b'7'; 100];
        input.extend_from_slice(b"\r96385074\r");
        let expected = [
            garbled("frame longer than 32 bytes"),
            code("96385074", None),
        ];
        assert_eq!(read_all(&input[..]).await, expected);
        // Byte by byte: reported once as soon as it is too long, the rest discarded.
        assert_eq!(decode_chunks(&mut codec(), input.chunks(1)), expected);
        assert_eq!(decode_chunks(&mut codec(), input.chunks(7)), expected);
        // Exactly the maximum is fine.
        let exact = format!("{}\r", "A".repeat(32));
        assert_eq!(
            read_all(exact.as_bytes()).await,
            [code(&"A".repeat(32), None)]
        );
    }

    #[tokio::test]
    async fn disconnect_mid_frame() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            tx.write_all(b"96385074\r40063813").await.unwrap();
            drop(tx);
        });
        assert_eq!(
            read_all(rx).await,
            [
                code("96385074", None),
                garbled("incomplete frame at disconnect")
            ]
        );
        writer.await.unwrap();
        // Only whitespace pending, or an overlong frame already reported: nothing more.
        assert_eq!(
            read_all(&b"96385074\r  "[..]).await,
            [code("96385074", None)]
        );
        let long = [b'1'; 40];
        assert_eq!(
            decode_chunks(&mut codec(), long.chunks(10)),
            [garbled("frame longer than 32 bytes")]
        );
    }

    #[test]
    fn variable_measure_code() {
        let full = ean13_from_body("201234501234").unwrap();
        let frames = decode_chunks(&mut codec(), [format!("]E0{full}\r").as_bytes()]);
        let [ScanFrame::Code { text, .. }] = &frames[..] else {
            panic!("{frames:?}")
        };
        assert_eq!(
            classify_scan(text, &[VariableMeasureLayout::cn_default()]),
            Scan::Product(ScannedCode::VariableMeasure {
                plu: "12345".into(),
                measure: Measure::Price(Money::from_fen(1234)),
                code: full.clone(),
            })
        );
        // Without the layout it is just an EAN-13.
        assert!(matches!(
            classify_scan(text, &[]),
            Scan::Product(ScannedCode::Gtin { .. })
        ));
    }

    #[test]
    fn signed_codes_are_told_apart() {
        let signer = CodeSigner::generate();
        let expires_at = Utc::now() + Duration::seconds(60);
        let member = signer.sign(&SignedCode::Member(MemberCode {
            member_id: Uuid::now_v7(),
            expires_at,
        }));
        let pickup = signer.sign(&SignedCode::Pickup(PickupCode {
            order_id: Uuid::now_v7(),
            short_code: "123456".into(),
        }));
        let exit = signer.sign(&SignedCode::ExitPass(ExitPass {
            session_id: Uuid::now_v7(),
            store: "SH001".into(),
            item_count: 3,
            total: Money::from_fen(4599),
            expires_at,
            visit: Some(2),
        }));
        let receipt = signer
            .sign_receipt(Uuid::now_v7(), "SH001")
            .expect("receipt code");
        let store = StoreCode {
            store: "SH001".into(),
        }
        .encode();
        let stream = format!("]Q1{member}\r]Q1{pickup}\r]Q1{exit}\r]Q1{receipt}\r]Q1{store}\r");
        let mut codec = ScanFrameCodec::new(ScanFrameSettings {
            suffix: FrameSuffix::Cr,
            aim_enabled: true,
            max_length: 512,
        });
        let scans: Vec<Scan> = decode_chunks(&mut codec, [stream.as_bytes()])
            .into_iter()
            .map(|f| match f {
                ScanFrame::Code { text, symbology } => {
                    assert_eq!(symbology.as_deref(), Some("Q1"));
                    classify_scan(&text, &[])
                }
                ScanFrame::Garbled { reason } => panic!("{reason}"),
            })
            .collect();
        assert_eq!(
            scans,
            [
                Scan::MemberCode(member),
                Scan::PickupCode(pickup),
                Scan::ExitPass(exit),
                Scan::ReceiptCode(receipt),
                Scan::StoreCode(store),
            ]
        );
    }

    #[test]
    fn unknown_codes_say_why() {
        let unknown = |text: &str| match classify_scan(text, &[]) {
            Scan::Unknown { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(unknown("4006381333937"), "check digit is 7, expected 1");
        assert_eq!(unknown("96385075"), "check digit is 5, expected 4");
        assert!(unknown("ABC-123").contains("not a GTIN or an internal code"));
        assert_eq!(unknown(""), "barcode is empty");
        // Prefix alone does not make a signed code: internal codes keep working.
        assert_eq!(
            classify_scan("ST100", &[]),
            Scan::Product(ScannedCode::Internal("ST100".into()))
        );
        assert_eq!(
            classify_scan("MC1", &[]),
            Scan::Product(ScannedCode::Internal("MC1".into()))
        );
        // Unknown prefix with a dot is not a signed code either.
        assert!(matches!(
            classify_scan("XX1.abc", &[]),
            Scan::Unknown { .. }
        ));
    }

    /// A `Code` frame as it could appear on the wire: uppercase letters and digits, short enough
    /// for the test profile's 32 bytes with an AIM identifier.
    fn good_text() -> impl Strategy<Value = String> {
        "[A-Z0-9]{1,29}"
    }

    fn terminator() -> impl Strategy<Value = &'static [u8]> {
        prop_oneof![Just(&b"\r"[..]), Just(&b"\n"[..]), Just(&b"\r\n"[..])]
    }

    /// Splits `bytes` at the given (arbitrary) cut points.
    fn split_at<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts
            .iter()
            .map(|c| c % (bytes.len() + 1))
            .chain([0, bytes.len()])
            .collect();
        points.sort_unstable();
        points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_or_stall(
            bytes in proptest::collection::vec(any::<u8>(), 0..2000),
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
            max_length in 0usize..64,
        ) {
            let mut codec = ScanFrameCodec::new(ScanFrameSettings {
                suffix: FrameSuffix::CrLf,
                aim_enabled: false,
                max_length,
            });
            // decode_chunks asserts the buffer is drained; every frame needs at least one byte.
            let frames = decode_chunks(&mut codec, split_at(&bytes, &cuts));
            prop_assert!(frames.len() <= bytes.len());
            for frame in frames {
                if let ScanFrame::Code { text, .. } = frame {
                    prop_assert!(!text.is_empty() && text.len() <= max_length);
                    prop_assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)));
                }
            }
        }

        /// The same under every frame setting, with AIM identifiers on, through the profile's
        /// codec too: every byte stream ends in frames, never a panic or a stall.
        #[test]
        fn arbitrary_bytes_under_any_settings(
            bytes in proptest::collection::vec(any::<u8>(), 0..1500),
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
            suffix in prop_oneof![Just(FrameSuffix::Cr), Just(FrameSuffix::Lf), Just(FrameSuffix::CrLf)],
            aim_enabled in any::<bool>(),
            max_length in 0usize..600,
        ) {
            let mut codec = ScanFrameCodec::new(ScanFrameSettings { suffix, aim_enabled, max_length });
            let frames = decode_chunks(&mut codec, split_at(&bytes, &cuts));
            prop_assert!(frames.len() <= bytes.len());
            let frames = decode_chunks(&mut self::codec(), split_at(&bytes, &cuts));
            for frame in frames {
                if let ScanFrame::Code { text, .. } = frame {
                    let _ = classify_scan(&text, &[VariableMeasureLayout::cn_default()]);
                }
            }
        }

        /// Whatever text a frame holds, it is classified (a product, a code kind, or unknown
        /// with a reason), never a panic.
        #[test]
        fn any_text_is_classified(text in any::<String>(), shaped in "(MC|PK|EX|RC|ST|XX)[0-9]{0,3}\\.?[A-Za-z0-9._-]{0,40}") {
            let layouts = [VariableMeasureLayout::cn_default()];
            for t in [&text, &shaped] {
                if let Scan::Unknown { reason, .. } = classify_scan(t, &layouts) {
                    prop_assert!(!reason.is_empty());
                }
            }
        }

        /// A signed code scanned from its QR is routed to its kind, whatever it carries.
        #[test]
        fn signed_codes_are_routed_to_their_kind(id in any::<u128>(), store in "[A-Z0-9-]{1,16}", short in "[0-9]{6}", seed in any::<[u8; 32]>()) {
            let signer = CodeSigner::from_seed(&seed);
            let id = Uuid::from_u128(id);
            let expires_at = Utc::now() + Duration::seconds(60);
            let member = signer.sign(&SignedCode::Member(MemberCode { member_id: id, expires_at }));
            let pickup = signer.sign(&SignedCode::Pickup(PickupCode { order_id: id, short_code: short }));
            let exit = signer.sign(&SignedCode::ExitPass(ExitPass {
                session_id: id, store: store.clone(), item_count: 1, total: Money::from_fen(100),
                expires_at, visit: None,
            }));
            let receipt = signer.sign_receipt(id, &store).unwrap();
            let store_code = StoreCode { store }.encode();
            prop_assert_eq!(classify_scan(&member, &[]), Scan::MemberCode(member.clone()));
            prop_assert_eq!(classify_scan(&pickup, &[]), Scan::PickupCode(pickup.clone()));
            prop_assert_eq!(classify_scan(&exit, &[]), Scan::ExitPass(exit.clone()));
            prop_assert_eq!(classify_scan(&receipt, &[]), Scan::ReceiptCode(receipt.clone()));
            prop_assert_eq!(classify_scan(&store_code, &[]), Scan::StoreCode(store_code.clone()));
        }

        #[test]
        fn good_frames_between_garbage_are_found(
            parts in proptest::collection::vec(
                (
                    proptest::collection::vec(any::<u8>(), 0..80),
                    terminator(),
                    proptest::option::of("[A-Za-z][0-9]"),
                    good_text(),
                    terminator(),
                ),
                1..8,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..30),
        ) {
            let mut stream = Vec::new();
            for (garbage, t1, aim, good, t2) in &parts {
                stream.extend_from_slice(garbage);
                stream.extend_from_slice(t1);
                if let Some(aim) = aim {
                    stream.push(b']');
                    stream.extend_from_slice(aim.as_bytes());
                }
                stream.extend_from_slice(good.as_bytes());
                stream.extend_from_slice(t2);
            }
            let frames = decode_chunks(&mut codec(), split_at(&stream, &cuts));
            // Every good frame appears, in order, with its symbology (garbage may add frames).
            let mut found = frames.iter();
            for (_, _, aim, good, _) in &parts {
                let want = code(good, aim.as_deref());
                prop_assert!(
                    found.any(|f| *f == want),
                    "{want:?} not found in {frames:?}"
                );
            }
        }
    }
}
