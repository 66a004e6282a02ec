//! The cashier's screen (ratatui): sale lines, running total, member panel, the last message and
//! a status bar, plus the keyboard map that turns keys into lane [`Command`]s.
//!
//! Rendering is a pure function of a [`View`] (a snapshot of the lane and the runner), so tests
//! draw it on ratatui's `TestBackend` and read the screen as the cashier sees it.
//!
//! Signed out, the input asks for the cashier's user name, then their PIN (masked): nothing
//! else can be done until someone signs in. `Ctrl-L` signs out.
//!
//! Keys: type a barcode and Enter (keyed entry, as if scanned) · ↑/↓ select a line ·
//! `F2` quantity of the selected line · `Del` void the selected line · `F3` void the sale
//! (a manager's user name, then their PIN) · `F4` member by phone (online) · `F5` park · `F6` resume · `F7` reprint ·
//! `F8` pay cash (amount tendered) · `F9` pay by card · `F10` pay from the stored balance
//! (online) · `F11` open the shift (opening cash) · `F12` close the shift (counted cash, prints
//! the Z report) · `Ctrl-P` pay by QR (amount; Enter alone: all due; online) · `Ctrl-X` cancel
//! the QR payment or reverse the payment code being charged · `Ctrl-K` the member's coupons (then the number to apply, 0 for none;
//! online) · `Ctrl-E` cash in or out of the drawer (`in|out AMOUNT REASON`) · `Ctrl-G` hand the
//! shift over (the next cashier's user name, their PIN, then the counted cash) · `Ctrl-O`
//! offline selling on or off (`on|off`, then a manager's user name and PIN) · `Ctrl-Z` zero the
//! counter scale · `Ctrl-T` tare it · `Esc` cancel · `Ctrl-Q` quit. Scanning a receipt code switches the input to
//! the lines to return (`LINE:QTY,…`), then the approving manager's user name and PIN. Scanning
//! (or typing) the shopper's payment code (付款码) while an amount is due charges it for what is
//! due; the payment-code panel shows where it stands (waiting for the shopper's PIN, …).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use crate::app::Command;
use crate::lane::Lane;

/// One sale line as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineView {
    /// Line number.
    pub line_no: u32,
    /// Name.
    pub name: String,
    /// `2 × 3.50` or `0.456kg × 12.90`.
    pub qty_price: String,
    /// Amount after discounts.
    pub amount: String,
    /// Discount (empty when none).
    pub discount: String,
}

/// A snapshot of everything on the screen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// Header: store, lane, cashier.
    pub header: String,
    /// Sale lines.
    pub lines: Vec<LineView>,
    /// Selected line index.
    pub selected: usize,
    /// Subtotal, discount, total, paid, due.
    pub totals: Vec<(String, String)>,
    /// Member panel lines.
    pub member: Vec<String>,
    /// The last message and whether it is an error.
    pub message: (bool, String),
    /// The input prompt and what was typed (masked for PINs).
    pub input: (String, String),
    /// Online or offline.
    pub online: bool,
    /// Unsent sales.
    pub unsent: i64,
    /// Printer state: `ok`, `OFFLINE`, or what its status says (`缺纸 PAPER OUT`, `盖开 COVER
    /// OPEN`, `故障 ERROR`, `纸将尽 PAPER LOW`).
    pub printer: String,
    /// Scanner state.
    pub scanner: String,
    /// Parked sales.
    pub parked: usize,
    /// Shift state.
    pub shift: String,
    /// The QR code of a payment waiting for the shopper (text blocks), if any.
    pub qr: Vec<String>,
    /// What the QR is for (amount and URL).
    pub qr_caption: String,
    /// The payment code being charged, as the panel shows it (empty: none).
    pub payment_code: Vec<String>,
    /// The counter scale's reading (`1.234 kg`, `称重中 moving`; empty: no scale).
    pub scale: String,
}

/// A QR code of `data` as text for a terminal: each character is two modules stacked (`█` both
/// light, `▀` top light, `▄` bottom light, space both dark), light meaning the paper colour,
/// with a quiet zone of two modules, so a phone scans it off a dark-background terminal.
pub fn qr_block_lines(data: &str) -> Result<Vec<String>, String> {
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::L)
        .map_err(|e| format!("cannot make a QR code: {e}"))?;
    let width = code.width();
    let colors = code.to_colors();
    const QUIET: usize = 2;
    let size = width + 2 * QUIET;
    let light = |x: usize, y: usize| -> bool {
        if x < QUIET || y < QUIET || x >= width + QUIET || y >= width + QUIET {
            return true;
        }
        colors.get((y - QUIET) * width + (x - QUIET)) != Some(&qrcode::Color::Dark)
    };
    let mut lines = Vec::with_capacity(size.div_ceil(2));
    for y in (0..size).step_by(2) {
        let line: String = (0..size)
            .map(|x| match (light(x, y), y + 1 >= size || light(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            })
            .collect();
        lines.push(line);
    }
    Ok(lines)
}

impl View {
    /// Builds the sale part of the view from the lane.
    pub fn from_lane(lane: &Lane) -> View {
        let basket = lane.basket();
        let priced = lane.priced();
        let lines = basket
            .lines
            .iter()
            .map(|l| {
                let p = priced.and_then(|p| p.lines.iter().find(|x| x.line_no == l.line_no));
                LineView {
                    line_no: l.line_no,
                    name: l.sku.display_name(),
                    qty_price: format!(
                        "{} × {}",
                        l.qty_text(),
                        p.map(|p| p.list_unit_price.to_string()).unwrap_or_default()
                    ),
                    amount: p.map(|p| p.amount.to_string()).unwrap_or_default(),
                    discount: p
                        .filter(|p| !p.discount.is_zero())
                        .map(|p| format!("-{}", p.discount))
                        .unwrap_or_default(),
                }
            })
            .collect();
        let mut totals = Vec::new();
        if let Some(p) = priced {
            totals.push(("小计 Subtotal".into(), p.subtotal.to_string()));
            totals.push(("优惠 Discount".into(), format!("-{}", p.discount)));
            totals.push(("合计 Total".into(), p.total.to_string()));
        } else {
            totals.push(("合计 Total".into(), "0.00".into()));
        }
        let paid = basket.paid();
        if !paid.is_zero() {
            totals.push(("已付 Paid".into(), paid.to_string()));
        }
        totals.push(("应付 Due".into(), lane.due().to_string()));
        let member = match &basket.member {
            Some(m) => {
                let mut v = vec![
                    m.masked_phone
                        .clone()
                        .unwrap_or_else(|| format!("member …{}", &m.id.simple().to_string()[26..])),
                    format!("{} ({})", m.tier_name, m.tier),
                ];
                if m.confirmed_online {
                    v.push(format!("积分 points {}", m.points));
                    if let Some(b) = m.balance {
                        v.push(format!("储值 balance {b}"));
                    }
                } else {
                    v.push("verified offline".into());
                }
                if let Some(p) = priced {
                    v.push(format!("本单积分 +{}", p.points_earned));
                    for a in &p.applied {
                        if matches!(
                            a.source,
                            retail_domain::pricing::DiscountSource::Coupon { .. }
                        ) {
                            v.push(format!("券 {} -{}", a.name.zh, a.amount));
                        }
                    }
                }
                v
            }
            None => vec![
                "no member".into(),
                "scan the member code (F4: phone)".into(),
            ],
        };
        let settings = lane.settings();
        let cashier = match lane.cashier() {
            Some(c) => format!("收银员 {} {}", c.display_name, c.username),
            None => "未登录 SIGNED OUT".to_owned(),
        };
        View {
            header: format!(
                "{} · {} · 收银台 Lane {:02} · {cashier}",
                settings.store_name, settings.store, settings.lane
            ),
            lines,
            totals,
            member,
            online: lane.online(),
            parked: lane.parked().len(),
            shift: if lane.shift().is_some() {
                "shift open".into()
            } else {
                "no shift (F11)".into()
            },
            payment_code: lane
                .pending_code()
                .map(|code| {
                    vec![
                        format!("{} ¥{}", code.provider_label(), code.amount),
                        format!("付款码 code ****{}", code.last4),
                        code.status_text().to_owned(),
                    ]
                })
                .unwrap_or_default(),
            ..View::default()
        }
    }
}

/// Draws the screen.
pub fn draw(frame: &mut Frame, view: &View) {
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(6),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .split(frame.area());
    frame.render_widget(
        Paragraph::new(view.header.clone()).style(Style::default().add_modifier(Modifier::BOLD)),
        rows[0],
    );
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Min(40), Constraint::Length(30)])
        .split(rows[1]);
    if !view.payment_code.is_empty() {
        let lines: Vec<Line> = view
            .payment_code
            .iter()
            .map(|l| Line::from(l.clone()))
            .collect();
        frame.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title("付款码支付 Payment code · Ctrl-X reverse"),
            ),
            cols[0],
        );
    } else if view.qr.is_empty() {
        draw_lines(frame, view, cols[0]);
    } else {
        let mut lines: Vec<Line> = view
            .qr
            .iter()
            .map(|l| {
                Line::from(Span::styled(
                    l.clone(),
                    Style::default().fg(Color::White).bg(Color::Black),
                ))
            })
            .collect();
        lines.push(Line::from(view.qr_caption.clone()));
        frame.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title("扫码支付 QR payment · Ctrl-X cancel"),
            ),
            cols[0],
        );
    }
    let side = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(8), Constraint::Min(4)])
        .split(cols[1]);
    let totals: Vec<Line> = view
        .totals
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::raw(format!("{k:<14}")),
                Span::styled(
                    format!("{v:>12}"),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(totals).block(Block::default().borders(Borders::ALL).title("总计 Total")),
        side[0],
    );
    let member: Vec<Line> = view.member.iter().map(|l| Line::from(l.clone())).collect();
    frame.render_widget(
        Paragraph::new(member).block(Block::default().borders(Borders::ALL).title("会员 Member")),
        side[1],
    );
    let (error, message) = &view.message;
    frame.render_widget(
        Paragraph::new(message.clone()).style(Style::default().fg(if *error {
            Color::Red
        } else {
            Color::Green
        })),
        rows[2],
    );
    frame.render_widget(
        Paragraph::new(format!("{}> {}", view.input.0, view.input.1)),
        rows[3],
    );
    // The printer's part stands out when it is not fine (paper out, cover open, paper low …).
    let printer = format!("printer {}", view.printer);
    let printer = if view.printer == "ok" {
        Span::raw(printer)
    } else {
        Span::styled(
            printer,
            Style::default()
                .bg(Color::Yellow)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
        )
    };
    let mut status = vec![
        Span::raw(format!(
            " {} │ unsent {} │ ",
            if view.online { "ONLINE" } else { "OFFLINE" },
            view.unsent,
        )),
        printer,
    ];
    if !view.scale.is_empty() {
        status.push(Span::raw(" │ "));
        status.push(Span::styled(
            format!("称重 scale {}", view.scale),
            Style::default().add_modifier(Modifier::BOLD),
        ));
    }
    status.extend([Span::raw(format!(
        " │ scanner {} │ parked {} │ {} │ F1 help",
        view.scanner, view.parked, view.shift
    ))]);
    let status = Line::from(status);
    frame.render_widget(
        Paragraph::new(status).style(
            Style::default()
                .bg(if view.online { Color::Blue } else { Color::Red })
                .fg(Color::White),
        ),
        rows[4],
    );
}

fn draw_lines(frame: &mut Frame, view: &View, area: Rect) {
    let rows: Vec<Row> = view
        .lines
        .iter()
        .map(|l| {
            Row::new(vec![
                Cell::from(l.line_no.to_string()),
                Cell::from(l.name.clone()),
                Cell::from(l.qty_price.clone()),
                Cell::from(l.amount.clone()),
                Cell::from(l.discount.clone()),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(3),
            Constraint::Min(16),
            Constraint::Length(20),
            Constraint::Length(12),
            Constraint::Length(10),
        ],
    )
    .header(
        Row::new(vec![
            "#",
            "品名 Item",
            "数量×单价 Qty×Price",
            "金额 Amount",
            "优惠 Disc",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .block(Block::default().borders(Borders::ALL).title("销售 Sale"));
    let mut state = TableState::default();
    if !view.lines.is_empty() {
        state.select(Some(view.selected.min(view.lines.len() - 1)));
    }
    frame.render_stateful_widget(table, area, &mut state);
}

/// What the keyboard is being used for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputMode {
    /// Keyed barcode entry.
    #[default]
    Code,
    /// Quantity of the selected line.
    Qty,
    /// The user name of the person signing in.
    SignInUser,
    /// Their PIN (masked).
    SignInPin,
    /// The approving manager's user name (a void or a return).
    ApproverUser,
    /// Their PIN (masked).
    ApproverPin,
    /// Member phone number.
    Phone,
    /// Cash tendered.
    Cash,
    /// Card amount.
    Card,
    /// Stored balance amount.
    Balance,
    /// Opening cash of a shift.
    ShiftOpen,
    /// Counted cash at shift close.
    ShiftClose,
    /// Lines to return (after a receipt code was scanned).
    Return,
    /// QR payment amount (empty: what is due).
    Qr,
    /// Number of the coupon to apply (from the list shown).
    Coupon,
    /// Cash into or out of the drawer: `in|out AMOUNT REASON`.
    CashMove,
    /// The next cashier's user name (shift hand-over).
    HandoverUser,
    /// Their PIN (masked).
    HandoverPin,
    /// The cash counted in the drawer at the hand-over.
    HandoverCash,
    /// Offline selling `on` or `off` (then a manager approves).
    Offline,
}

impl InputMode {
    /// The prompt.
    pub fn prompt(self) -> &'static str {
        match self {
            Self::Code => "条码 barcode",
            Self::Qty => "数量 quantity",
            Self::SignInUser => "登录工号 sign in: user name",
            Self::SignInPin => "密码 PIN",
            Self::ApproverUser => "店长工号 manager user name",
            Self::ApproverPin => "店长密码 manager PIN",
            Self::Phone => "手机号 phone",
            Self::Cash => "实收现金 cash tendered",
            Self::Card => "刷卡 card amount",
            Self::Balance => "储值 balance amount",
            Self::ShiftOpen => "备用金 opening cash",
            Self::ShiftClose => "清点现金 counted cash",
            Self::Return => "退货 return LINE:QTY,…",
            Self::Qr => "扫码金额 QR amount (Enter: all due)",
            Self::Coupon => "券号 coupon number (0: none)",
            Self::CashMove => "钱箱 cash in|out AMOUNT REASON",
            Self::HandoverUser => "接班工号 next cashier",
            Self::HandoverPin => "接班密码 their PIN",
            Self::HandoverCash => "交班现金 counted cash",
            Self::Offline => "离线销售 offline on|off",
        }
    }
}

/// The keyboard state: mode, typed text and the selected line.
#[derive(Clone, Debug, Default)]
pub struct Keyboard {
    /// Current mode.
    pub mode: InputMode,
    /// Typed text.
    pub text: String,
    /// Selected line index.
    pub selected: usize,
    /// The command being built across several inputs (`login USER`, `voidsale`,
    /// `return 1:1`), completed by the next Enter.
    pub pending: String,
}

/// What a key did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyAction {
    /// Nothing to run (typing, navigation).
    None,
    /// Run a command.
    Run(Command),
    /// Show help.
    Help,
    /// Quit the lane.
    Quit,
}

impl Keyboard {
    /// The keyboard of a lane nobody is signed in at: it asks for a user name.
    pub fn signed_out() -> Self {
        Self {
            mode: InputMode::SignInUser,
            ..Self::default()
        }
    }

    /// Keeps the input in step with the lane: signed out, only signing in is possible.
    pub fn signed_in(&mut self, signed_in: bool) {
        let signing_in = matches!(self.mode, InputMode::SignInUser | InputMode::SignInPin);
        if !signed_in && !signing_in {
            *self = Self::signed_out();
        } else if signed_in && signing_in {
            self.mode = InputMode::Code;
            self.text.clear();
            self.pending.clear();
        }
    }

    /// The prompt and the text as shown (a PIN is masked).
    pub fn input(&self) -> (String, String) {
        let text = if matches!(
            self.mode,
            InputMode::SignInPin | InputMode::ApproverPin | InputMode::HandoverPin
        ) {
            "*".repeat(self.text.chars().count())
        } else {
            self.text.clone()
        };
        (self.mode.prompt().to_owned(), text)
    }

    /// Handles a key; `lines` are the current sale's line numbers.
    pub fn key(&mut self, key: KeyEvent, lines: &[u32]) -> KeyAction {
        if key.kind == KeyEventKind::Release {
            return KeyAction::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let selected_line = lines
            .get(self.selected.min(lines.len().saturating_sub(1)))
            .copied();
        let mode = |k: &mut Self, m| {
            k.mode = m;
            k.text.clear();
            KeyAction::None
        };
        match key.code {
            KeyCode::Char('q') | KeyCode::Char('c') if ctrl => KeyAction::Quit,
            KeyCode::Char('p') if ctrl => mode(self, InputMode::Qr),
            KeyCode::Char('x') if ctrl => KeyAction::Run(Command::QrCancel),
            KeyCode::Char('l') if ctrl => {
                mode(self, InputMode::Code);
                KeyAction::Run(Command::Logout)
            }
            KeyCode::Char('k') if ctrl => {
                mode(self, InputMode::Coupon);
                KeyAction::Run(Command::Coupons)
            }
            KeyCode::Char('e') if ctrl => mode(self, InputMode::CashMove),
            KeyCode::Char('g') if ctrl => mode(self, InputMode::HandoverUser),
            KeyCode::Char('o') if ctrl => mode(self, InputMode::Offline),
            KeyCode::Char('z') if ctrl => KeyAction::Run(Command::Scale(
                crate::scale::ScaleAction::Send(retail_devices::counter_scale::ScaleCommand::Zero),
            )),
            KeyCode::Char('t') if ctrl => KeyAction::Run(Command::Scale(
                crate::scale::ScaleAction::Send(retail_devices::counter_scale::ScaleCommand::Tare),
            )),
            KeyCode::Char(c) if !ctrl => {
                if self.text.chars().count() < 64 {
                    self.text.push(c);
                }
                KeyAction::None
            }
            KeyCode::Backspace => {
                self.text.pop();
                KeyAction::None
            }
            KeyCode::Esc => {
                self.pending.clear();
                mode(self, InputMode::Code)
            }
            KeyCode::Up => {
                self.selected = self.selected.saturating_sub(1);
                KeyAction::None
            }
            KeyCode::Down => {
                if self.selected + 1 < lines.len() {
                    self.selected += 1;
                }
                KeyAction::None
            }
            KeyCode::F(1) => KeyAction::Help,
            KeyCode::F(2) => mode(self, InputMode::Qty),
            KeyCode::F(3) => {
                self.pending = "voidsale".into();
                mode(self, InputMode::ApproverUser)
            }
            KeyCode::F(4) => mode(self, InputMode::Phone),
            KeyCode::F(5) => KeyAction::Run(Command::Park),
            KeyCode::F(6) => KeyAction::Run(Command::Resume(1)),
            KeyCode::F(7) => KeyAction::Run(Command::Reprint),
            KeyCode::F(8) => mode(self, InputMode::Cash),
            KeyCode::F(9) => mode(self, InputMode::Card),
            KeyCode::F(10) => mode(self, InputMode::Balance),
            KeyCode::F(11) => mode(self, InputMode::ShiftOpen),
            KeyCode::F(12) => mode(self, InputMode::ShiftClose),
            KeyCode::Delete => match selected_line {
                Some(n) => KeyAction::Run(Command::Void(n)),
                None => KeyAction::None,
            },
            KeyCode::Enter => {
                let text = std::mem::take(&mut self.text);
                let text = text.trim();
                let mode = std::mem::take(&mut self.mode);
                let line = match mode {
                    InputMode::Code if text.is_empty() => return KeyAction::None,
                    InputMode::SignInUser | InputMode::ApproverUser | InputMode::HandoverUser
                        if text.is_empty() =>
                    {
                        self.mode = mode;
                        return KeyAction::None;
                    }
                    InputMode::SignInUser => {
                        self.pending = format!("login {text}");
                        self.mode = InputMode::SignInPin;
                        return KeyAction::None;
                    }
                    InputMode::ApproverUser => {
                        self.pending = format!("{} {text}", self.pending);
                        self.mode = InputMode::ApproverPin;
                        return KeyAction::None;
                    }
                    InputMode::Return => {
                        self.pending = format!("return {text}");
                        self.mode = InputMode::ApproverUser;
                        return KeyAction::None;
                    }
                    InputMode::Offline => {
                        self.pending = format!("offline {text}");
                        self.mode = InputMode::ApproverUser;
                        return KeyAction::None;
                    }
                    InputMode::HandoverUser => {
                        self.pending = format!("handover {text}");
                        self.mode = InputMode::HandoverPin;
                        return KeyAction::None;
                    }
                    InputMode::HandoverPin => {
                        self.pending = format!("{} {text}", self.pending);
                        self.mode = InputMode::HandoverCash;
                        return KeyAction::None;
                    }
                    InputMode::HandoverCash => {
                        format!("{} {text}", std::mem::take(&mut self.pending))
                    }
                    InputMode::CashMove => format!("cash {text}"),
                    InputMode::SignInPin | InputMode::ApproverPin => {
                        format!("{} {text}", std::mem::take(&mut self.pending))
                    }
                    InputMode::Qr => format!("pay qr {text}"),
                    InputMode::Coupon if text == "0" => "nocoupon".to_owned(),
                    InputMode::Coupon => format!("coupon {text}"),
                    InputMode::Code => format!("scan {text}"),
                    InputMode::Qty => match selected_line {
                        Some(n) => format!("qty {n} {text}"),
                        None => return KeyAction::None,
                    },
                    InputMode::Phone => format!("member {text}"),
                    InputMode::Cash => format!("pay cash {text}"),
                    InputMode::Card => format!("pay card {text}"),
                    InputMode::Balance => format!("pay balance {text}"),
                    InputMode::ShiftOpen => format!("shift open {text}"),
                    InputMode::ShiftClose => format!("shift close {text}"),
                };
                match Command::parse(&line) {
                    Ok(c) => KeyAction::Run(c),
                    Err(_) if matches!(mode, InputMode::SignInPin | InputMode::ApproverPin) => {
                        KeyAction::Run(Command::Invalid(format!("{}: not valid", mode.prompt())))
                    }
                    Err(_) => KeyAction::Run(Command::Invalid(format!(
                        "{}: {text:?} is not valid",
                        mode.prompt()
                    ))),
                }
            }
            _ => KeyAction::None,
        }
    }
}

/// The help text (F1).
pub const HELP: &str = "type barcode+Enter · ↑↓ select · F2 qty · Del void line · F3 void sale \
(manager user name and PIN) · F4 member phone · F5 park · F6 resume · F7 reprint · F8 cash · F9 card · F10 balance · \
F11 open shift · F12 close shift · Ctrl-P pay by QR · Ctrl-X cancel QR · Ctrl-K coupons · \
Ctrl-E cash in/out · Ctrl-G hand over · Ctrl-O offline · Ctrl-Z scale zero · Ctrl-T tare · \
Esc cancel · Ctrl-L sign out · Ctrl-Q quit";
