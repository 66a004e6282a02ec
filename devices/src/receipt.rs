//! The receipt encoder: a pure function from a completed sale ([`Receipt`]) and a printer layout
//! ([`ReceiptLayout`], from a `firmware-config` printer profile) to the ESC/POS bytes sent to the
//! printer (docs/DESIGN.md §7, §8; issue #3 "Receipt").
//!
//! Every command emitted here has been checked byte by byte against the Epson ESC/POS command
//! reference, and the unit tests below pin the exact bytes:
//!
//! | command | bytes | source |
//! |---|---|---|
//! | initialise | `ESC @` = `1B 40` | `escpos` `Printer::init` (correct) |
//! | Kanji (Chinese) mode on | `FS &` = `1C 26` | by hand: `escpos` has no helper |
//! | justification | `ESC a n` = `1B 61 00/01` | `escpos` `Printer::justify` (correct) |
//! | emphasis | `ESC E n` = `1B 45 00/01` | `escpos` `Printer::bold` (correct) |
//! | character size | `GS ! n` = `1D 21 01` (double height) / `1D 21 00` | `escpos` `Printer::size` (correct) |
//! | print and feed n lines | `ESC d n` = `1B 64 n` | `escpos` `Printer::feeds` (correct) |
//! | line feed | `LF` = `0A` | by hand |
//! | QR code, model 2 | `GS ( k` functions 165, 167, 169, 180, 181 | by hand from the `escpos` constants (see `native_qr`) |
//! | raster image | `GS v 0 m xL xH yL yH d…` | by hand: the `escpos` helper needs its `graphics` feature and an image file |
//! | cut, drawer kick | bytes from the printer profile (`1D 56 42 00`, `1B 70 00 19 FA`) | the profile is validated in `retail_domain::profiles` |
//!
//! `escpos` helpers found **wrong** against the Epson reference (not used here):
//! - `Printer::cash_drawer` / `ESC_CASH_DRAWER_2` emits `1B 70 00` only: `ESC p m t1 t2` needs the
//!   two pulse-time bytes, so the printer would swallow the next two bytes of the receipt.
//! - `Printer::partial_cut` emits `1D 56 41 01` (`GS V 65 1`): that is function B, a *full* cut
//!   after feeding 1 dot; a partial cut is `GS V 66 n` (`1D 56 42 n`).
//! - the QR helper clamps the module size to 15 (Epson allows 1–16) and lets 0 through (invalid),
//!   and `QRCodeOption::default()` selects model 1, not model 2.
//!
//! Text is encoded as GB18030. Only characters the printers' fonts carry are sent: printable
//! ASCII (one byte, one column) and GB18030 two-byte characters (the GBK range, printed as
//! full-width Kanji-mode characters, two columns). Control characters (which could inject
//! printer commands), private-use characters and everything that needs a four-byte GB18030
//! sequence (emoji, CJK extension B and beyond) are replaced by `?`. This also makes the column
//! width of a character exactly its encoded byte length.

use std::cell::RefCell;
use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use encoding_rs::GB18030;
use escpos::driver::Driver;
use escpos::printer::Printer;
use escpos::utils::{
    Encoder, JustifyMode, Protocol, GS_2D, GS_2D_QRCODE_CORRECTION_LEVEL, GS_2D_QRCODE_MODEL,
    GS_2D_QRCODE_PRINT_SYMBOL_DATA, GS_2D_QRCODE_SIZE,
};
use retail_domain::money::Money;
use retail_domain::profiles::PrinterProfile;
pub use retail_domain::wire::bus::ShippingLabel;

/// `LF`: print the line buffer and feed one line.
const LF: u8 = 0x0A;
/// `FS &`: select Kanji character mode. On Epson's Simplified Chinese models (TM-T88V-C etc.)
/// and on Chinese-market printers such as the Xprinter XP-58 this makes bytes 0x81–0xFE lead
/// bytes of GB18030/GBK double-byte characters. The Chinese models have a single, fixed double-byte
/// code system (GB18030), so `FS C n` (select Kanji code system, Japanese models only) is not sent;
/// nor is `ESC t n`, because no single byte above 0x7F is ever sent.
const FS_KANJI_ON: [u8; 2] = [0x1C, 0x26];
/// `GS v 0`: print raster bit image (followed by `m xL xH yL yH d1…dk`).
const GS_RASTER: [u8; 3] = [0x1D, 0x76, 0x30];
/// Width of one font A character in dots (12 × 24 font): 32 columns = 384 dots, 48 = 576.
const FONT_A_DOTS: usize = 12;
/// Largest QR data block the `GS ( k` function 180 accepts (Epson: 3 ≤ pL + pH × 256 ≤ 7092).
const QR_MAX_DATA: usize = 7089;
/// QR error correction level M (`GS ( k` function 169, n = 49), as docs/DESIGN.md §7 requires.
const QR_EC_M: u8 = 49;
/// QR model 2 (`GS ( k` function 165, n1 = 50).
const QR_MODEL_2: u8 = 50;
/// Quiet zone around a raster QR code, in modules (ISO/IEC 18004 requires 4).
const QR_QUIET_ZONE: usize = 4;
/// China Standard Time, UTC+08:00, in seconds.
const CHINA_OFFSET_SECS: i32 = 8 * 3600;

/// A completed sale as printed on the receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Store name, printed centred, bold and double height.
    pub store_name: String,
    /// Store code.
    pub store_code: String,
    /// Checkout lane.
    pub lane: String,
    /// Cashier name or number.
    pub cashier: String,
    /// Sale number.
    pub sale_no: String,
    /// When the sale completed; printed in China time (UTC+08:00).
    pub printed_at: DateTime<Utc>,
    /// Sale lines.
    pub lines: Vec<ReceiptLine>,
    /// Sum of the line amounts before the sale-level discount.
    pub subtotal: Money,
    /// Total discount (a positive amount is printed as `-x.xx`).
    pub discount: Money,
    /// Amount due.
    pub total: Money,
    /// Payments by method name (`现金`, `储值`, `积分`, `扫码`, `微信支付`, `支付宝`) and amount.
    pub payments: Vec<(String, Money)>,
    /// The payment providers' transaction ids of the electronic tenders, as (label, id), e.g.
    /// `("微信支付订单号", "4200…")`: printed under the payments, the id always whole (on a line
    /// of its own, flush right, when label and id do not fit on one).
    pub references: Vec<(String, String)>,
    /// Change given in cash.
    pub change: Money,
    /// The identified member, if any.
    pub member: Option<ReceiptMember>,
    /// The signed receipt code (docs/DESIGN.md §7), printed as a QR code.
    pub receipt_code: String,
    /// Footer lines, printed centred (wrapped when too long).
    pub footer: Vec<String>,
}

/// One sale line on the receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptLine {
    /// Product name.
    pub name: String,
    /// Quantity as printed, e.g. `"2"` or `"0.456kg"`.
    pub qty_text: String,
    /// Unit price.
    pub unit_price: Money,
    /// Line amount.
    pub amount: Money,
    /// Line discount (zero: no discount line is printed).
    pub discount: Money,
}

/// The member panel of the receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptMember {
    /// Masked phone number, e.g. `138****1234`.
    pub masked_phone: String,
    /// Points earned by this sale.
    pub points_earned: i64,
    /// Points balance after this sale.
    pub points_balance: i64,
}

/// Printer-dependent layout settings, normally from a printer profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptLayout {
    /// Font A characters per line: 32 on 58 mm paper, 48 (or 42) on 80 mm.
    pub columns: usize,
    /// Whether the printer renders QR codes itself (`GS ( k`); otherwise a raster image is sent.
    pub native_qr: bool,
    /// QR module size in dots (1–16).
    pub qr_module_size: u8,
    /// The cut command (empty: no cutter).
    pub cut: Vec<u8>,
    /// The cash-drawer kick command (empty: no drawer).
    pub drawer_kick: Vec<u8>,
}

impl ReceiptLayout {
    /// The layout for a validated printer profile.
    pub fn from_profile(profile: &PrinterProfile) -> ReceiptLayout {
        ReceiptLayout {
            columns: usize::from(profile.text.font_a_columns),
            native_qr: profile.qr.native,
            qr_module_size: profile.qr.module_size,
            cut: profile.commands.cut.clone().unwrap_or_default(),
            drawer_kick: profile.commands.drawer_kick.clone().unwrap_or_default(),
        }
    }
}

/// Why a receipt could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The layout is unusable (too few columns, bad QR module size).
    #[error("invalid receipt layout: {0}")]
    Layout(String),
    /// The receipt code does not fit in a QR code on this printer.
    #[error("receipt code cannot be printed as a QR code: {0}")]
    Qr(String),
    /// The `escpos` command builder refused a command.
    #[error("ESC/POS command builder: {0}")]
    Escpos(#[from] escpos::errors::PrinterError),
}

/// Narrowest layout accepted (the item table needs this much).
const MIN_COLUMNS: usize = 24;

/// Encodes `receipt` as ESC/POS bytes for a printer with `layout`; appends the drawer kick when
/// `open_drawer` (a cash payment). Pure: no I/O.
pub fn encode_receipt(
    receipt: &Receipt,
    layout: &ReceiptLayout,
    open_drawer: bool,
) -> Result<Vec<u8>, ReceiptError> {
    // Header: the store name (see `Out::begin`), its code.
    let mut out = Out::begin(layout, &receipt.store_name)?;
    let w = out.columns;
    out.line(&truncate(
        &format!("门店 {}", sanitize(&receipt.store_code)),
        w,
    ))?;
    out.p.justify(JustifyMode::LEFT)?;

    out.pair(
        &format!("收银台 {}", sanitize(&receipt.lane)),
        &format!("收银员 {}", sanitize(&receipt.cashier)),
    )?;
    out.pair("时间", &china_time(&receipt.printed_at))?;
    out.pair("单号", &sanitize(&receipt.sale_no))?;
    out.rule()?;

    // Items.
    let cols = ItemColumns::new(w);
    out.line(&cols.row("品名", "数量", "单价", "金额"))?;
    for item in &receipt.lines {
        let name = sanitize(&item.name);
        let qty = sanitize(&item.qty_text);
        let price = item.unit_price.to_string();
        let amount = item.amount.to_string();
        let numbers_fit = cols.numbers_fit(&qty, &price, &amount);
        if numbers_fit && width(&name) <= cols.name {
            out.line(&cols.row(&name, &qty, &price, &amount))?;
        } else {
            out.line(&truncate(&name, w))?;
            if numbers_fit {
                out.line(&cols.row("", &qty, &price, &amount))?;
            } else {
                out.pair(&format!("  {qty} x {price}"), &amount)?;
            }
        }
        if !item.discount.is_zero() {
            out.pair("  优惠", &negative(item.discount))?;
        }
    }
    out.rule()?;

    // Totals and payments.
    out.pair("小计", &receipt.subtotal.to_string())?;
    if !receipt.discount.is_zero() {
        out.pair("优惠", &negative(receipt.discount))?;
    }
    out.p.bold(true)?;
    out.pair("合计", &receipt.total.to_string())?;
    out.p.bold(false)?;
    for (method, amount) in &receipt.payments {
        out.pair(&sanitize(method), &amount.to_string())?;
    }
    for (label, id) in &receipt.references {
        let (label, id) = (sanitize(label), sanitize(id));
        if width(&label) + 1 + width(&id) <= w {
            out.pair(&label, &id)?;
        } else {
            out.line(&truncate(&label, w))?;
            for part in wrap(&id, w) {
                out.line(&pad_left(&part, w))?;
            }
        }
    }
    out.pair("找零", &receipt.change.to_string())?;

    if let Some(member) = &receipt.member {
        out.rule()?;
        out.pair("会员", &sanitize(&member.masked_phone))?;
        out.pair("本次积分", &format!("{:+}", member.points_earned))?;
        out.pair("积分余额", &member.points_balance.to_string())?;
    }
    out.rule()?;

    // Receipt code QR, centred, then the footer, cut and drawer.
    out.p.justify(JustifyMode::CENTER)?;
    out.qr(receipt.receipt_code.as_bytes(), layout)?;
    out.end(&receipt.footer, layout, open_drawer)
}

/// A generic counter slip (the edge agent's pick slips) printed with the receipt's primitives:
/// a title, key–value fields, item lines (with an optional note such as a shelf location), an
/// optional QR code and footer lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slip {
    /// Title, printed centred, bold and double height.
    pub title: String,
    /// `label  value` lines under the title.
    pub fields: Vec<(String, String)>,
    /// Item lines.
    pub items: Vec<SlipItem>,
    /// Data of a QR code printed after the items (e.g. a signed pickup code).
    pub qr: Option<String>,
    /// Footer lines, printed centred (wrapped when too long).
    pub footer: Vec<String>,
}

/// One item line of a [`Slip`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlipItem {
    /// Product name.
    pub name: String,
    /// Quantity as printed, e.g. `x2`.
    pub qty_text: String,
    /// A second, indented line (e.g. `货架 A-03`), if any.
    pub note: Option<String>,
}

/// Encodes `slip` as ESC/POS bytes for a printer with `layout` (same commands, text rules and
/// QR handling as [`encode_receipt`]). Pure: no I/O.
pub fn encode_slip(slip: &Slip, layout: &ReceiptLayout) -> Result<Vec<u8>, ReceiptError> {
    let mut out = Out::begin(layout, &slip.title)?;
    let w = out.columns;
    out.p.justify(JustifyMode::LEFT)?;
    for (label, value) in &slip.fields {
        out.pair(&sanitize(label), &sanitize(value))?;
    }
    out.rule()?;
    for item in &slip.items {
        out.pair(&sanitize(&item.name), &sanitize(&item.qty_text))?;
        if let Some(note) = &item.note {
            out.line(&truncate(&format!("  {}", sanitize(note)), w))?;
        }
    }
    if !slip.items.is_empty() {
        out.rule()?;
    }
    out.p.justify(JustifyMode::CENTER)?;
    if let Some(data) = &slip.qr {
        out.qr(data.as_bytes(), layout)?;
    }
    out.end(&slip.footer, layout, false)
}

/// Encodes a report slip (the shift's Z report, a return slip): a title, then `label  value`
/// rows, feed and (with `cut`) cut — a [`Slip`] without items. A layout too narrow for a slip
/// gets a plain text fallback of the same rows.
pub fn encode_report(
    title: &str,
    rows: &[(String, String)],
    layout: &ReceiptLayout,
    cut: bool,
) -> Vec<u8> {
    let slip = Slip {
        title: title.to_owned(),
        fields: rows.to_vec(),
        items: Vec::new(),
        qr: None,
        footer: Vec::new(),
    };
    let mut layout = layout.clone();
    layout.columns = layout.columns.max(MIN_COLUMNS);
    if !cut {
        layout.cut.clear();
    }
    encode_slip(&slip, &layout).unwrap_or_else(|_| {
        let mut bytes = title.as_bytes().to_vec();
        for (label, value) in rows {
            bytes.push(LF);
            bytes.extend_from_slice(format!("{label} {value}").as_bytes());
        }
        bytes.push(LF);
        bytes
    })
}

/// Encodes a [`ShippingLabel`] as ESC/POS bytes for a printer with `layout`, with the
/// receipt's commands and text rules: title `carrier waybill` centred, bold and double height;
/// `收件人`, `电话` and the address (wrapped, never cut); a rule; order number, slot and item
/// count; the sender; the waybill's QR code; feed and cut. Pure: no I/O.
pub fn encode_label(
    label: &ShippingLabel,
    layout: &ReceiptLayout,
) -> Result<Vec<u8>, ReceiptError> {
    let mut out = Out::begin(layout, &format!("{} {}", label.carrier, label.waybill))?;
    let w = out.columns;
    out.p.justify(JustifyMode::LEFT)?;
    out.p.bold(true)?;
    out.pair("收件人", &sanitize(&label.recipient))?;
    out.pair("电话", &sanitize(&label.phone))?;
    out.p.bold(false)?;
    out.line("地址")?;
    for piece in wrap(&sanitize(&label.address), w) {
        out.line(&piece)?;
    }
    out.rule()?;
    out.pair("订单", &sanitize(&label.order_no))?;
    if !label.slot.is_empty() {
        out.pair("时段", &sanitize(&label.slot))?;
    }
    out.pair("件数", &label.items.to_string())?;
    out.pair("寄件", &sanitize(&label.sender))?;
    out.rule()?;
    out.p.justify(JustifyMode::CENTER)?;
    out.qr(label.waybill.as_bytes(), layout)?;
    out.end(&[], layout, false)
}

/// Strips ESC/POS commands from `bytes` and decodes the remaining text from GB18030; `LF` becomes
/// `'\n'`. The `GS ( k` and `GS v 0` data blocks are skipped whole.
///
/// For tests and for the demo's human-readable receipt view. It understands the commands
/// [`encode_receipt`] sends (and a few common others); an unknown `ESC`/`FS`/`GS` command is
/// assumed to have one parameter byte.
pub fn decode_text(bytes: &[u8]) -> String {
    let mut text: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let rest = &bytes[i..];
        let skip = match b {
            0x1B => match rest.get(1) {
                Some(b'@') | Some(b'2') | Some(b'<') => 2,
                Some(b'p') => 5,
                Some(b'$') | Some(b'\\') => 4,
                Some(_) => 3,
                None => 1,
            },
            0x1C => match rest.get(1) {
                Some(b'&') | Some(b'.') => 2,
                Some(_) => 3,
                None => 1,
            },
            0x1D => match rest.get(1) {
                Some(b'V') => match rest.get(2) {
                    Some(65 | 66 | 97 | 98 | 103 | 104) => 4,
                    _ => 3,
                },
                Some(b'(') => {
                    // GS ( fn pL pH d1…dk, k = pL + pH × 256.
                    let k = usize::from(rest.get(3).copied().unwrap_or(0))
                        + 256 * usize::from(rest.get(4).copied().unwrap_or(0));
                    5 + k
                }
                Some(b'v') => {
                    // GS v 0 m xL xH yL yH d1…dk, k = (xL + xH × 256) × (yL + yH × 256).
                    let at = |n: usize| usize::from(rest.get(n).copied().unwrap_or(0));
                    8 + (at(4) + 256 * at(5)) * (at(6) + 256 * at(7))
                }
                Some(_) => 3,
                None => 1,
            },
            0x10 => match rest.get(1) {
                Some(0x14) => 5,
                Some(_) => 3,
                None => 1,
            },
            LF => {
                text.push(LF);
                1
            }
            0x00..=0x1F | 0x7F => 1,
            _ => {
                text.push(b);
                1
            }
        };
        i = i.saturating_add(skip);
    }
    let (decoded, _) = GB18030.decode_without_bom_handling(&text);
    decoded.into_owned()
}

/// The data of every native QR code (`GS ( k` function 180, "store the data") in ESC/POS
/// `bytes`, in order — what a phone or scanner reads from the printed codes (a receipt's
/// return code, for example). Blocks that are cut short or not UTF-8 are skipped.
pub fn qr_texts(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = bytes.get(i..).and_then(|rest| {
        rest.windows(8)
            .position(|w| w[..3] == [0x1D, 0x28, 0x6B] && w[5..8] == [0x31, 0x50, 0x30])
    }) {
        let start = i + at;
        let len = usize::from(bytes[start + 3]) + 256 * usize::from(bytes[start + 4]);
        let data = len
            .checked_sub(3)
            .and_then(|n| bytes.get(start + 8..start + 8 + n));
        if let Some(text) = data.and_then(|d| std::str::from_utf8(d).ok()) {
            out.push(text.to_owned());
        }
        i = start + 8;
    }
    out
}

/// The `GS ( k` model 2 QR sequence for `data`: model, module size, error correction M, store
/// data, print. Built from the `escpos` constants (checked: each equals the Epson bytes) rather
/// than its QR helper, which clamps the module size to 15.
fn native_qr(data: &[u8], module_size: u8) -> Result<Vec<u8>, ReceiptError> {
    if data.is_empty() || data.len() > QR_MAX_DATA {
        return Err(ReceiptError::Qr(format!(
            "{} bytes: GS ( k takes 1 to {QR_MAX_DATA}",
            data.len()
        )));
    }
    // pL pH = number of bytes after pH: cn fn m + data.
    let n = data.len() + 3;
    let (pl, ph) = ((n % 256) as u8, (n / 256) as u8);
    let mut cmd = Vec::with_capacity(data.len() + 40);
    // Function 165: GS ( k 04 00 31 41 n1 n2 — n1 = 50 (model 2), n2 = 0.
    cmd.extend_from_slice(GS_2D_QRCODE_MODEL);
    cmd.extend_from_slice(&[QR_MODEL_2, 0]);
    // Function 167: GS ( k 03 00 31 43 n — module size 1–16 dots.
    cmd.extend_from_slice(GS_2D_QRCODE_SIZE);
    cmd.push(module_size);
    // Function 169: GS ( k 03 00 31 45 n — n = 49 (level M).
    cmd.extend_from_slice(GS_2D_QRCODE_CORRECTION_LEVEL);
    cmd.push(QR_EC_M);
    // Function 180: GS ( k pL pH 31 50 30 d1…dk — store the data.
    cmd.extend_from_slice(GS_2D);
    cmd.extend_from_slice(&[pl, ph, 0x31, 0x50, 0x30]);
    cmd.extend_from_slice(data);
    // Function 181: GS ( k 03 00 31 51 30 — print the stored symbol.
    cmd.extend_from_slice(GS_2D_QRCODE_PRINT_SYMBOL_DATA);
    Ok(cmd)
}

/// The QR code for `data` (error correction M) as a `GS v 0` raster image, `module_size` dots per
/// module (reduced if the symbol would not fit in `max_dots`), with a 4-module quiet zone.
fn raster_qr(data: &[u8], module_size: u8, max_dots: usize) -> Result<Vec<u8>, ReceiptError> {
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M)
        .map_err(|e| ReceiptError::Qr(e.to_string()))?;
    let modules = code.width() + 2 * QR_QUIET_ZONE;
    let scale = usize::from(module_size).min(max_dots / modules);
    if scale == 0 {
        return Err(ReceiptError::Qr(format!(
            "{modules} modules do not fit in {max_dots} dots"
        )));
    }
    let colors = code.to_colors();
    let dots = modules * scale;
    let row_bytes = dots.div_ceil(8);
    let (Ok(x), Ok(y)) = (u16::try_from(row_bytes), u16::try_from(dots)) else {
        return Err(ReceiptError::Qr(format!("{dots} dots is too large")));
    };
    // GS v 0 m xL xH yL yH: m = 0 (normal density), x in bytes, y in dots.
    let mut cmd = Vec::with_capacity(8 + row_bytes * dots);
    cmd.extend_from_slice(&GS_RASTER);
    cmd.push(0);
    cmd.extend_from_slice(&x.to_le_bytes());
    cmd.extend_from_slice(&y.to_le_bytes());
    let dark = |mx: usize, my: usize| -> bool {
        let (Some(cx), Some(cy)) = (mx.checked_sub(QR_QUIET_ZONE), my.checked_sub(QR_QUIET_ZONE))
        else {
            return false;
        };
        cx < code.width()
            && cy < code.width()
            && colors.get(cy * code.width() + cx) == Some(&qrcode::Color::Dark)
    };
    for py in 0..dots {
        for bx in 0..row_bytes {
            let mut byte = 0u8;
            for bit in 0..8 {
                let px = bx * 8 + bit;
                // Bit 7 is the leftmost dot; 1 prints black.
                if px < dots && dark(px / scale, py / scale) {
                    byte |= 0x80 >> bit;
                }
            }
            cmd.push(byte);
        }
    }
    Ok(cmd)
}

/// Collects the bytes the `escpos` printer "sends".
#[derive(Default)]
struct MemoryDriver(RefCell<Vec<u8>>);

impl Driver for MemoryDriver {
    fn name(&self) -> String {
        "memory".to_owned()
    }

    fn write(&self, data: &[u8]) -> escpos::errors::Result<()> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }

    fn read(&self, _buf: &mut [u8]) -> escpos::errors::Result<usize> {
        Ok(0)
    }

    fn flush(&self) -> escpos::errors::Result<()> {
        Ok(())
    }
}

/// The receipt under construction.
struct Out {
    p: Printer<MemoryDriver>,
    columns: usize,
}

impl Out {
    /// Checks `layout`, then starts a receipt or slip: initialise, Chinese (Kanji) mode, and
    /// `title` centred, bold and double height (`GS ! 0x01`: width ×1, so the column count is
    /// unchanged); size and emphasis back to normal after it, still centred.
    fn begin(layout: &ReceiptLayout, title: &str) -> Result<Out, ReceiptError> {
        let w = layout.columns;
        if w < MIN_COLUMNS {
            return Err(ReceiptError::Layout(format!(
                "{w} columns: at least {MIN_COLUMNS} are needed"
            )));
        }
        if !(1..=16).contains(&layout.qr_module_size) {
            return Err(ReceiptError::Layout(format!(
                "QR module size {}: must be 1 to 16 dots",
                layout.qr_module_size
            )));
        }
        let mut out = Out::new(w);
        out.p.init()?;
        out.p.custom(&FS_KANJI_ON)?;
        out.p.justify(JustifyMode::CENTER)?;
        out.p.bold(true)?;
        out.p.size(1, 2)?;
        out.line(&truncate(&sanitize(title), w))?;
        out.p.reset_size()?;
        out.p.bold(false)?;
        Ok(out)
    }

    /// A QR code of `data`: native (`GS ( k`) when the printer renders QR codes, else a raster
    /// image as wide as the paper allows.
    fn qr(&mut self, data: &[u8], layout: &ReceiptLayout) -> Result<(), ReceiptError> {
        let command = if layout.native_qr {
            native_qr(data, layout.qr_module_size)?
        } else {
            raster_qr(data, layout.qr_module_size, self.columns * FONT_A_DOTS)?
        };
        self.p.custom(&command)?;
        Ok(())
    }

    /// Ends the document: the footer lines (wrapped), back to left justification, feed past
    /// the tear/cut position, cut, and open the drawer when `open_drawer`; the bytes.
    fn end(
        mut self,
        footer: &[String],
        layout: &ReceiptLayout,
        open_drawer: bool,
    ) -> Result<Vec<u8>, ReceiptError> {
        for text in footer {
            for piece in wrap(&sanitize(text), self.columns) {
                self.line(&piece)?;
            }
        }
        self.p.justify(JustifyMode::LEFT)?;
        self.p.feeds(3)?;
        if !layout.cut.is_empty() {
            self.p.custom(&layout.cut)?;
        }
        if open_drawer && !layout.drawer_kick.is_empty() {
            self.p.custom(&layout.drawer_kick)?;
        }
        self.finish()
    }

    fn new(columns: usize) -> Out {
        // Text reaches `Printer::write` already sanitised, so the GB18030 encoder never meets an
        // unmappable character.
        let protocol = Protocol::new(Encoder::new(GB18030));
        Out {
            p: Printer::new(MemoryDriver::default(), protocol, None),
            columns,
        }
    }

    /// One text line (already sanitised and fitted), ended by `LF`.
    fn line(&mut self, text: &str) -> Result<(), ReceiptError> {
        if !text.is_empty() {
            self.p.write(text)?;
        }
        self.p.custom(&[LF])?;
        Ok(())
    }

    /// `left` and `right` on one line, `right` flush right; `left` is truncated when both do not
    /// fit with one space between them.
    fn pair(&mut self, left: &str, right: &str) -> Result<(), ReceiptError> {
        let w = self.columns;
        let right = truncate(right, w);
        let room = w.saturating_sub(width(&right) + 1);
        let left = truncate(left, room);
        let gap = w - width(&left) - width(&right);
        self.line(&format!("{left}{}{right}", " ".repeat(gap)))
    }

    /// A full-width rule.
    fn rule(&mut self) -> Result<(), ReceiptError> {
        self.line(&"-".repeat(self.columns))
    }

    fn finish(mut self) -> Result<Vec<u8>, ReceiptError> {
        self.p.print()?;
        Ok(self.p.driver().0.into_inner())
    }
}

/// Widths of the item table: name (left aligned), quantity, unit price and amount (right aligned).
struct ItemColumns {
    name: usize,
    qty: usize,
    price: usize,
    amount: usize,
}

impl ItemColumns {
    fn new(columns: usize) -> ItemColumns {
        let (qty, price, amount) = match columns {
            48.. => (8, 10, 10),
            42..=47 => (8, 9, 9),
            _ => (6, 8, 8),
        };
        ItemColumns {
            name: columns.saturating_sub(qty + price + amount),
            qty,
            price,
            amount,
        }
    }

    /// Whether the numbers fit their columns with at least one space before each.
    fn numbers_fit(&self, qty: &str, price: &str, amount: &str) -> bool {
        width(qty) < self.qty && width(price) < self.price && width(amount) < self.amount
    }

    fn row(&self, name: &str, qty: &str, price: &str, amount: &str) -> String {
        format!(
            "{}{}{}{}",
            pad_right(name, self.name),
            pad_left(qty, self.qty),
            pad_left(price, self.price),
            pad_left(amount, self.amount)
        )
    }
}

/// Replaces every character the printer cannot print (see the module docs) by `?`.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if printable_width(c).is_some() { c } else { '?' })
        .collect()
}

/// Columns taken by `c` on paper (its GB18030 length), `None` if it must not be sent.
fn printable_width(c: char) -> Option<usize> {
    if c.is_ascii() {
        return (!c.is_ascii_control()).then_some(1);
    }
    if c.is_control() || ('\u{E000}'..='\u{F8FF}').contains(&c) {
        return None;
    }
    let mut buf = [0u8; 4];
    let (bytes, _, unmappable) = GB18030.encode(c.encode_utf8(&mut buf));
    (!unmappable && bytes.len() == 2).then_some(2)
}

/// Width in columns of sanitised text (unprintable characters count as their `?`).
fn width(text: &str) -> usize {
    text.chars().map(|c| printable_width(c).unwrap_or(1)).sum()
}

/// The longest prefix of `text` that fits in `columns`, never splitting a character.
fn truncate(text: &str, columns: usize) -> String {
    let mut used = 0;
    let mut out = String::new();
    for c in text.chars() {
        let cw = printable_width(c).unwrap_or(1);
        if used + cw > columns {
            break;
        }
        used += cw;
        out.push(c);
    }
    out
}

/// `text` cut into pieces of at most `columns` (at character boundaries).
fn wrap(text: &str, columns: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let piece = truncate(rest, columns);
        if piece.is_empty() {
            break;
        }
        rest = &rest[piece.len()..];
        pieces.push(piece);
    }
    if pieces.is_empty() {
        pieces.push(String::new());
    }
    pieces
}

fn pad_right(text: &str, columns: usize) -> String {
    let text = truncate(text, columns);
    let gap = columns - width(&text);
    format!("{text}{}", " ".repeat(gap))
}

fn pad_left(text: &str, columns: usize) -> String {
    let text = truncate(text, columns);
    let gap = columns - width(&text);
    format!("{}{text}", " ".repeat(gap))
}

/// A discount printed as a deduction: `2.00` → `-2.00` (already negative amounts as they are).
fn negative(amount: Money) -> String {
    if amount.is_negative() {
        amount.to_string()
    } else {
        format!("-{amount}")
    }
}

/// `printed_at` in China Standard Time, e.g. `2026-11-23 21:19:03`.
fn china_time(at: &DateTime<Utc>) -> String {
    match FixedOffset::east_opt(CHINA_OFFSET_SECS) {
        Some(tz) => fmt_time(&at.with_timezone(&tz)),
        None => fmt_time(at),
    }
}

fn fmt_time<Tz: chrono::TimeZone>(at: &DateTime<Tz>) -> String
where
    Tz::Offset: fmt::Display,
{
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const EPSON: &str = include_str!("../../firmware-config/profiles/printers/epson-tm-t88v.toml");
    const XPRINTER: &str =
        include_str!("../../firmware-config/profiles/printers/xprinter-xp-58.toml");

    fn m(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn layout_80() -> ReceiptLayout {
        ReceiptLayout::from_profile(&PrinterProfile::from_toml_str(EPSON).unwrap())
    }

    fn layout_58() -> ReceiptLayout {
        ReceiptLayout::from_profile(&PrinterProfile::from_toml_str(XPRINTER).unwrap())
    }

    fn sample() -> Receipt {
        Receipt {
            store_name: "鲜果超市 人民路店".into(),
            store_code: "SH001".into(),
            lane: "03".into(),
            cashier: "张三".into(),
            sale_no: "SH001-03-000123".into(),
            // 13:19:03 UTC = 21:19:03 in China.
            printed_at: Utc.with_ymd_and_hms(2026, 11, 23, 13, 19, 3).unwrap(),
            lines: vec![
                ReceiptLine {
                    name: "红富士苹果".into(),
                    qty_text: "0.456kg".into(),
                    unit_price: m("12.80"),
                    amount: m("5.84"),
                    discount: Money::ZERO,
                },
                ReceiptLine {
                    name: "农夫山泉饮用天然水550ml 整箱24瓶装 特惠".into(),
                    qty_text: "2".into(),
                    unit_price: m("36.00"),
                    amount: m("72.00"),
                    discount: m("6.00"),
                },
                ReceiptLine {
                    name: "可乐".into(),
                    qty_text: "1".into(),
                    unit_price: m("3.50"),
                    amount: m("3.50"),
                    discount: Money::ZERO,
                },
            ],
            subtotal: m("81.34"),
            discount: m("6.00"),
            total: m("75.34"),
            payments: vec![("储值".into(), m("50.00")), ("现金".into(), m("30.00"))],
            references: vec![(
                "微信支付订单号".into(),
                "4200002345202612051234567890".into(),
            )],
            change: m("4.66"),
            member: Some(ReceiptMember {
                masked_phone: "138****1234".into(),
                points_earned: 75,
                points_balance: 2456,
            }),
            receipt_code: "RC1.abc".into(),
            footer: vec![
                "扫码领取积分 / 查看电子小票".into(),
                "谢谢惠顾，欢迎再次光临！本店支持七天无理由退换货，请保留好小票。".into(),
            ],
        }
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    /// Columns of a decoded line: ASCII 1, anything else (CJK) 2.
    fn columns(line: &str) -> usize {
        line.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
    }

    /// The data stored by `GS ( k … 31 50 30` (function 180).
    fn qr_payload(bytes: &[u8]) -> Option<Vec<u8>> {
        let header = [0x1D, 0x28, 0x6B];
        let at = (0..bytes.len()).find(|&s| {
            bytes[s..].starts_with(&header) && bytes.get(s + 5..s + 8) == Some(&[0x31, 0x50, 0x30])
        })?;
        let n = usize::from(bytes[at + 3]) + 256 * usize::from(bytes[at + 4]);
        Some(bytes[at + 8..at + 5 + n].to_vec())
    }

    fn label() -> ShippingLabel {
        ShippingLabel {
            carrier: "SF".into(),
            waybill: "SF1234567890".into(),
            recipient: "李四".into(),
            phone: "13800138010".into(),
            address: "浙江杭州 西湖区文三路 100 号 2 幢 3 单元 401 室（请放门口快递柜，谢谢）"
                .into(),
            order_no: "W20261205-000042".into(),
            slot: "2026-12-06 09:00-12:00".into(),
            items: 3,
            sender: "嘉定物流中心".into(),
        }
    }

    #[test]
    fn a_label_is_bytes_a_printer_takes() {
        let bytes = encode_label(&label(), &layout_80()).unwrap();
        // ESC @, FS &, then centred, bold, double height and the title.
        let mut header = vec![
            0x1B, 0x40, 0x1C, 0x26, 0x1B, 0x61, 0x01, 0x1B, 0x45, 0x01, 0x1D, 0x21, 0x01,
        ];
        header.extend_from_slice(b"SF SF1234567890\n");
        assert_eq!(bytes[..header.len()], header[..]);
        // The recipient is printed bold: ESC E 1 … ESC E 0.
        let recipient = GB18030.encode("收件人").0;
        let at = find(&bytes, &recipient).unwrap();
        assert_eq!(bytes[at - 3..at], [0x1B, 0x45, 0x01]);
        // The QR code holds the waybill, natively on the 80 mm printer.
        assert_eq!(qr_payload(&bytes).unwrap(), b"SF1234567890");
        // Ends with the feed and the profile's cut.
        assert!(bytes.ends_with(&[0x1B, 0x64, 0x03, 0x1D, 0x56, 0x42, 0x00]));
    }

    #[test]
    fn a_label_reads_back_as_text_with_the_whole_address() {
        for layout in [layout_80(), layout_58()] {
            let bytes = encode_label(&label(), &layout).unwrap();
            let text = decode_text(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[0], "SF SF1234567890");
            assert!(
                lines[1].starts_with("收件人") && lines[1].ends_with("李四"),
                "{text}"
            );
            assert!(lines.iter().all(|l| columns(l) <= layout.columns), "{text}");
            let address: String = lines
                .iter()
                .skip_while(|l| **l != "地址")
                .skip(1)
                .take_while(|l| !l.starts_with("---"))
                .copied()
                .collect();
            assert_eq!(address, label().address, "wrapped, never cut");
            assert!(text.contains("W20261205-000042"));
            assert!(text.contains("2026-12-06 09:00-12:00"));
        }
        // Control characters cannot inject commands.
        let mut evil = label();
        evil.recipient = "王\x1b@\x1dV".into();
        let text = decode_text(&encode_label(&evil, &layout_80()).unwrap());
        assert!(text.contains("王?@?V"), "{text}");
    }

    #[test]
    fn profiles_map_to_layouts() {
        let l = layout_80();
        assert_eq!(l.columns, 48);
        assert!(l.native_qr);
        assert_eq!(l.qr_module_size, 6);
        assert_eq!(l.cut, [0x1D, 0x56, 0x42, 0x00]);
        assert_eq!(l.drawer_kick, [0x1B, 0x70, 0x00, 0x19, 0xFA]);
        let l = layout_58();
        assert_eq!(l.columns, 32);
        assert!(!l.native_qr);
        assert_eq!(l.qr_module_size, 4);
    }

    #[test]
    fn starts_with_init_then_kanji_mode() {
        let bytes = encode_receipt(&sample(), &layout_80(), false).unwrap();
        // ESC @, FS &
        assert_eq!(bytes[..4], [0x1B, 0x40, 0x1C, 0x26]);
        // Centred (ESC a 1), bold (ESC E 1), double height (GS ! 0x01), then the name.
        let name = GB18030.encode("鲜果超市").0;
        let mut header = vec![0x1B, 0x61, 0x01, 0x1B, 0x45, 0x01, 0x1D, 0x21, 0x01];
        header.extend_from_slice(&name);
        assert_eq!(bytes[4..4 + header.len()], header[..]);
        // Size and emphasis back to normal after the name: GS ! 0, ESC E 0.
        assert!(find(&bytes, &[0x0A, 0x1D, 0x21, 0x00, 0x1B, 0x45, 0x00]).is_some());
    }

    #[test]
    fn native_qr_bytes_match_epson_reference() {
        let expected: Vec<u8> = [
            // Function 165: select model 2.
            &[0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00][..],
            // Function 167: module size 6 dots.
            &[0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x06],
            // Function 169: error correction M (49).
            &[0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x31],
            // Function 180: store 7 bytes, pL = 7 + 3 = 10, pH = 0.
            &[0x1D, 0x28, 0x6B, 0x0A, 0x00, 0x31, 0x50, 0x30],
            b"RC1.abc",
            // Function 181: print.
            &[0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30],
        ]
        .concat();
        assert_eq!(native_qr(b"RC1.abc", 6).unwrap(), expected);
        let bytes = encode_receipt(&sample(), &layout_80(), false).unwrap();
        assert!(find(&bytes, &expected).is_some());

        // pL pH for a 300-byte payload: 303 = 0x012F.
        let long = native_qr(&[b'A'; 300], 16).unwrap();
        assert_eq!(
            long[25..33],
            [0x1D, 0x28, 0x6B, 0x2F, 0x01, 0x31, 0x50, 0x30]
        );
        assert_eq!(
            long[16], 16,
            "module size 16 is allowed (no clamping to 15)"
        );
        assert!(native_qr(&[b'A'; QR_MAX_DATA + 1], 6).is_err());
    }

    #[test]
    fn qr_payload_equals_receipt_code() {
        let mut r = sample();
        r.receipt_code = "RC1.U0gwMDE.MDMtMDAwMTIz.x9_aB-cdefghijklmnopqrstuvwxyz0123456789".into();
        let bytes = encode_receipt(&r, &layout_80(), false).unwrap();
        assert_eq!(qr_payload(&bytes).unwrap(), r.receipt_code.as_bytes());
        // Twice in a row (a file of receipts), and a block cut short is skipped.
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        assert_eq!(qr_texts(&two), vec![r.receipt_code.clone(); 2]);
        assert_eq!(qr_texts(&bytes[..bytes.len() / 2]), Vec::<String>::new());
    }

    #[test]
    fn cut_and_drawer_kick_bytes() {
        let layout = layout_80();
        let with = encode_receipt(&sample(), &layout, true).unwrap();
        let without = encode_receipt(&sample(), &layout, false).unwrap();
        // ESC d 3, GS V 66 0 (partial cut after feeding to the cutter), ESC p 0 25 250.
        assert!(with
            .ends_with(&[0x1B, 0x64, 0x03, 0x1D, 0x56, 0x42, 0x00, 0x1B, 0x70, 0x00, 0x19, 0xFA]));
        assert!(without.ends_with(&[0x1B, 0x64, 0x03, 0x1D, 0x56, 0x42, 0x00]));
        assert!(find(&without, &[0x1B, 0x70]).is_none());
        // No cutter, no drawer: nothing is sent for them.
        let bare = ReceiptLayout {
            cut: vec![],
            drawer_kick: vec![],
            ..layout
        };
        assert!(encode_receipt(&sample(), &bare, true)
            .unwrap()
            .ends_with(&[0x0A, 0x1B, 0x61, 0x00, 0x1B, 0x64, 0x03]));
    }

    #[test]
    fn decodes_back_to_the_receipt_text() {
        for layout in [layout_80(), layout_58()] {
            let bytes = encode_receipt(&sample(), &layout, true).unwrap();
            let text = decode_text(&bytes);
            for needle in [
                "鲜果超市 人民路店",
                "门店 SH001",
                "收银台 03",
                "收银员 张三",
                "2026-11-23 21:19:03",
                "SH001-03-000123",
                "红富士苹果",
                "农夫山泉",
                "0.456kg",
                "可乐",
                "12.80",
                "-6.00",
                "扫码领取积分",
                "138****1234",
                "+75",
                "2456",
            ] {
                assert!(text.contains(needle), "{needle:?} missing from\n{text}");
            }
            let line = |label: &str| {
                text.lines()
                    .find(|l| l.starts_with(label))
                    .unwrap_or_else(|| panic!("no {label} line in\n{text}"))
                    .to_owned()
            };
            assert!(line("合计").ends_with(" 75.34"));
            assert!(line("小计").ends_with(" 81.34"));
            assert!(line("储值").ends_with(" 50.00"));
            assert!(line("现金").ends_with(" 30.00"));
            assert!(line("找零").ends_with(" 4.66"));
            assert!(line("积分余额").ends_with(" 2456"));
            // The transaction id is printed whole, beside its label or on the next line.
            let at = text
                .lines()
                .position(|l| l.starts_with("微信支付订单号"))
                .unwrap();
            let reference = text.lines().skip(at).take(2).collect::<Vec<_>>().join(" ");
            assert!(
                reference.contains("4200002345202612051234567890"),
                "{reference}"
            );
            // No stray control bytes survive decoding.
            assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
        }
    }

    #[test]
    fn item_rows_on_80mm() {
        let text = decode_text(&encode_receipt(&sample(), &layout_80(), false).unwrap());
        let lines: Vec<&str> = text.lines().collect();
        // A short name shares its row with the numbers.
        let cola = lines.iter().find(|l| l.starts_with("可乐")).unwrap();
        assert_eq!(
            *cola,
            format!(
                "可乐{}{:>8}{:>10}{:>10}",
                " ".repeat(16),
                "1",
                "3.50",
                "3.50"
            )
        );
        // A name too long for its column gets its own line, the numbers the next.
        let i = lines
            .iter()
            .position(|l| l.starts_with("农夫山泉"))
            .unwrap();
        assert_eq!(lines[i], "农夫山泉饮用天然水550ml 整箱24瓶装 特惠");
        assert_eq!(
            lines[i + 1],
            format!("{}{:>8}{:>10}{:>10}", " ".repeat(20), "2", "36.00", "72.00")
        );
        assert!(lines[i + 2].starts_with("  优惠") && lines[i + 2].ends_with(" -6.00"));
    }

    #[test]
    fn lines_never_exceed_the_paper_width() {
        let mut r = sample();
        r.store_name = "超长的门店名称".repeat(10);
        r.cashier = "欧阳".repeat(30);
        r.lines.push(ReceiptLine {
            name: "A".repeat(100),
            qty_text: "1234.567kg".into(),
            unit_price: m("99999999.99"),
            amount: m("123456789012.34"),
            discount: m("0.01"),
        });
        r.payments
            .push(("扫码支付（微信/支付宝）".repeat(4), m("1.00")));
        r.footer.push("x".repeat(200));
        for (layout, max) in [(layout_58(), 32), (layout_80(), 48)] {
            let text = decode_text(&encode_receipt(&r, &layout, true).unwrap());
            assert!(text.lines().count() > 20);
            for line in text.lines() {
                assert!(columns(line) <= max, "{} > {max}: {line:?}", columns(line));
            }
            // Odd widths (the second rule makes sure a CJK character is never split).
            assert!(text.contains(&"超长的门店名称".repeat(10)[..3 * 4]));
        }
        // 58 mm: the weighed item's numbers do not fit the table, so they go on their own row.
        let text = decode_text(&encode_receipt(&sample(), &layout_58(), false).unwrap());
        assert!(text
            .lines()
            .any(|l| l.starts_with("  0.456kg x 12.80") && l.ends_with(" 5.84")));
    }

    #[test]
    fn truncation_never_splits_a_character() {
        assert_eq!(truncate("苹果汁", 5), "苹果");
        assert_eq!(truncate("a苹果", 2), "a");
        assert_eq!(truncate("a苹果", 3), "a苹");
        assert_eq!(wrap("苹果汁abc", 3), ["苹", "果", "汁a", "bc"]);
        assert_eq!(width("苹果 ab"), 7);
    }

    #[test]
    fn unprintable_characters_become_question_marks() {
        let mut r = sample();
        r.lines[0].name = "草莓🍓礼盒\u{1B}@\u{20BB7}\u{E000}€".into();
        r.store_name = "\u{0}\u{7F}\u{85}".into();
        r.cashier = String::new();
        for layout in [layout_58(), layout_80()] {
            let bytes = encode_receipt(&r, &layout, false).unwrap();
            let text = decode_text(&bytes);
            assert!(text.contains("草莓?礼盒?@??€"), "{text}");
            // The ESC inside the name was not sent: the only ESC @ is the first one.
            assert_eq!(find(&bytes[2..], &[0x1B, 0x40]), None);
            // Every byte above 0x7F in text is part of a two-byte GB18030 character.
            assert!(text.lines().all(|l| columns(l) <= layout.columns));
        }
        assert_eq!(sanitize("😀 ok 中"), "? ok 中");
    }

    #[test]
    fn raster_fallback_is_a_gs_v_0_block_of_the_right_size() {
        let layout = layout_58();
        let bytes = encode_receipt(&sample(), &layout, false).unwrap();
        assert!(
            find(&bytes, &[0x1D, 0x28, 0x6B]).is_none(),
            "no native QR on XP-58"
        );
        let at = find(&bytes, &[0x1D, 0x76, 0x30, 0x00]).unwrap();
        // "RC1.abc" at level M is version 1: 21 modules + 2 × 4 quiet zone = 29 modules × 4 dots.
        let dots: usize = 29 * 4;
        let x = usize::from(bytes[at + 4]) + 256 * usize::from(bytes[at + 5]);
        let y = usize::from(bytes[at + 6]) + 256 * usize::from(bytes[at + 7]);
        assert_eq!((x, y), (dots.div_ceil(8), dots));
        let image = &bytes[at + 8..at + 8 + x * y];
        // Quiet zone white, then the finder pattern's top-left module black.
        assert!(image[..x * 16].iter().all(|&b| b == 0));
        let row = &image[16 * x..17 * x];
        assert_eq!(row[0], 0x00);
        assert_eq!(row[1], 0x00);
        assert_eq!(
            row[2], 0xFF,
            "modules 4 and 5 (dots 16–23) are the finder's edge"
        );
        // The image matches the qrcode crate's modules.
        let code =
            qrcode::QrCode::with_error_correction_level("RC1.abc", qrcode::EcLevel::M).unwrap();
        assert_eq!(code.width(), 21);
        let colors = code.to_colors();
        for my in 0..21 {
            for mx in 0..21 {
                let (px, py) = ((mx + 4) * 4 + 1, (my + 4) * 4 + 2);
                let bit = image[py * x + px / 8] & (0x80 >> (px % 8)) != 0;
                assert_eq!(bit, colors[my * 21 + mx] == qrcode::Color::Dark);
            }
        }
        // After the image the text goes on: the footer decodes.
        assert!(decode_text(&bytes).contains("扫码领取积分"));
        // A module size too large for the paper is reduced to fit 384 dots.
        let big = raster_qr(&[b'A'; 200], 16, 384).unwrap();
        let y = usize::from(big[6]) + 256 * usize::from(big[7]);
        assert!(y <= 384);
    }

    #[test]
    fn bad_layouts_are_errors_not_panics() {
        let mut l = layout_80();
        l.columns = 10;
        assert!(matches!(
            encode_receipt(&sample(), &l, false),
            Err(ReceiptError::Layout(_))
        ));
        let mut l = layout_80();
        l.qr_module_size = 0;
        assert!(encode_receipt(&sample(), &l, false).is_err());
        let mut r = sample();
        r.receipt_code = String::new();
        assert!(matches!(
            encode_receipt(&r, &layout_80(), false),
            Err(ReceiptError::Qr(_))
        ));
    }

    #[test]
    fn decode_text_skips_commands() {
        let mut bytes = vec![0x1B, 0x40, 0x1C, 0x26, 0x1B, 0x61, 0x01];
        bytes.extend_from_slice(&GB18030.encode("合计").0);
        bytes.extend_from_slice(&[
            0x0A, 0x1D, 0x76, 0x30, 0x00, 0x01, 0x00, 0x02, 0x00, 0xFF, 0xC8,
        ]);
        bytes.extend_from_slice(b"ok\n");
        bytes.extend_from_slice(&[0x1D, 0x56, 0x42, 0x00, 0x1B, 0x70, 0x00, 0x19, 0xFA]);
        assert_eq!(decode_text(&bytes), "合计\nok\n");
    }

    proptest::proptest! {
        /// Whatever bytes a printer port carried (the virtual printer, a capture), they read as
        /// text and QR data without a panic.
        #[test]
        fn any_bytes_read_as_text_and_codes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let _ = decode_text(&bytes);
            let _ = qr_texts(&bytes);
        }

        /// The data of a printed QR code reads back from its bytes, among any others.
        #[test]
        fn qr_data_reads_back(data in "[ -~]{1,300}", before in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), size in 1u8..=16) {
            let mut bytes = before.clone();
            bytes.extend(native_qr(data.as_bytes(), size).unwrap());
            let texts = qr_texts(&bytes);
            proptest::prop_assert_eq!(texts.last(), Some(&data));
        }
    }
}
