//! The lane core: a plain state machine of one checkout lane, without UI or devices.
//!
//! The cashier's screen, the headless command input and the tests all drive a [`Lane`] through
//! the same methods: [`Lane::scan`] (whatever the scanner read), [`Lane::set_qty`],
//! [`Lane::void_line`], [`Lane::void_sale`] (manager PIN), [`Lane::park`] / [`Lane::resume`],
//! [`Lane::pay`] (cash with tendered amount and change, card, split across methods), a QR payment
//! confirmed by the server ([`Lane::check_qr`], [`Lane::set_pending_qr`], [`Lane::qr_paid`]),
//! the shopper's payment code (付款码) scanned while an amount is due and charged by the server
//! ([`ScanOutcome::PaymentCode`], [`Lane::begin_code_payment`] journals the attempt first,
//! [`Lane::code_paid`], [`Lane::drop_code`]), the member's coupons listed online ([`Lane::apply_coupon`]). Parked sales are kept in the
//! lane's database until resumed. Receipt codes are signed with the lane's own key (`RC2`) and a
//! scanned receipt code of any lane of the store is verified fully, offline, with the store's
//! registered receipt keys ([`retail_domain::receipts::ReceiptKeyring`]). Every
//! change re-prices the basket with the one pricing engine
//! ([`retail_domain::pricing::price_basket`]) from the stored pricing context, so the lane
//! prices offline exactly as the server does.
//!
//! Bad input (an unknown code, a forged or expired member code, a quantity that makes no sense,
//! a wrong PIN) answers a [`LaneError`] whose text is for the cashier's screen, and changes
//! nothing: each change is priced on a copy of the basket and kept only when it prices.
//!
//! When the payments cover the amount due the sale is complete: it is committed to the local
//! journal (with the receipt bytes) *before* anything is printed, and [`PaymentOutcome::Completed`]
//! hands the receipt to the caller to print.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use retail_devices::receipt::{encode_receipt, Receipt, ReceiptLayout, ReceiptLine, ReceiptMember};
use retail_devices::scanner::{classify_scan, Scan};
use retail_domain::barcode::{Measure, ScannedCode, VariableMeasureLayout};
use retail_domain::codes::{
    read_receipt_code, CodeError, CodeSigner, CodeVerifier, PickupCode, ReceiptCode, SignedCode,
};
use retail_domain::ids::new_id;
use retail_domain::money::Money;
use retail_domain::payment_code::{classify_payment_code, PaymentCodeProvider};
use retail_domain::pricing::{
    price_basket, BasketLine, Coupon, DiscountSource, MemberContext, PricedBasket, PricedLine,
    PricingError,
};
use retail_domain::receipts::{ReceiptCodeError, ReceiptKeyring};
use retail_domain::wire::catalog::{ShelfStatus, SkuRecord};
use retail_domain::wire::pricing::PricingContext;
use retail_domain::wire::sales::{
    LanePaymentStatus, PaymentMethod, PosPayment, PosSale, PosSaleLine,
};
use retail_domain::wire::staff::{LaneRoster, LaneStaff, StaffRole};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::{CodeAttempt, LaneDb, StoreError};

/// Most units on one line (a typo guard; the server accepts up to 1,000,000).
pub const MAX_UNITS_PER_LINE: i64 = 9_999;
/// Most lines in one sale (the server's limit).
pub const MAX_LINES: usize = 500;
/// Most parked sales.
pub const MAX_PARKED: usize = 9;

/// What the lane needs to know about itself.
#[derive(Clone, Debug)]
pub struct LaneSettings {
    /// Store code, e.g. `SH001`.
    pub store: String,
    /// Store name for the receipt header.
    pub store_name: String,
    /// Lane number.
    pub lane: u32,
    /// Variable-measure barcode layouts for this lane only (its configuration file's
    /// `variable_measure`), overriding the chain's from the pricing context; empty: the
    /// chain's ([`Lane::layouts`]).
    pub layouts: Vec<VariableMeasureLayout>,
    /// The receipt printer's layout.
    pub receipt_layout: ReceiptLayout,
    /// Footer lines of the receipt.
    pub footer: Vec<String>,
}

/// Why the lane refused something; the text is for the cashier's screen.
#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    /// The scanned text is no code this lane knows.
    #[error("unknown code {text}: {reason}")]
    UnknownCode {
        /// What was scanned.
        text: String,
        /// Why it is unknown.
        reason: String,
    },
    /// A product code that is not in the catalog.
    #[error("barcode {0} is not in the catalog; nothing added")]
    NotInCatalog(String),
    /// A SKU withdrawn from sale.
    #[error("{0} is off shelf and may not be sold")]
    OffShelf(String),
    /// A quantity that makes no sense.
    #[error("quantity: {0}")]
    BadQuantity(String),
    /// No such line in the sale.
    #[error("there is no line {0} in this sale")]
    NoSuchLine(u32),
    /// The sale has no lines.
    #[error("the sale is empty")]
    EmptySale,
    /// Too many lines.
    #[error("a sale has at most {MAX_LINES} lines")]
    TooManyLines,
    /// A signed code whose signature does not verify.
    #[error("forged or damaged {0}: rejected")]
    Forged(&'static str),
    /// A receipt code signed by a lane key this lane does not know (yet).
    #[error("{}", unknown_receipt_key_text(.0.as_deref()))]
    UnknownReceiptKey(Option<String>),
    /// An expired member code.
    #[error("the member code has expired; ask the shopper to refresh it")]
    ExpiredCode,
    /// Spending a member's balance, points or coupons needs their member code scanned.
    #[error("scan the member's code to use their balance, points or coupons (a phone number only earns points)")]
    MemberCodeNeeded,
    /// A code that cannot be used at this lane.
    #[error("{0}")]
    NotUsableHere(String),
    /// A wrong user name or PIN at sign-in, or an approval by someone who may not approve.
    #[error("{0}")]
    WrongPin(String),
    /// Too many wrong PINs for one person: they wait before trying again.
    #[error("too many wrong PINs for {username}: try again in {minutes} min")]
    PinLocked {
        /// Whose PIN.
        username: String,
        /// Minutes left.
        minutes: u64,
    },
    /// Nobody is signed in at the lane.
    #[error("sign in first: your user name and PIN (login USER PIN)")]
    SignedOut,
    /// Something that needs the server while the lane is offline.
    #[error("offline: {0} needs the server; try again when the lane is online")]
    Offline(&'static str),
    /// A payment that does not fit.
    #[error("payment: {0}")]
    BadPayment(String),
    /// Parking refused.
    #[error("{0}")]
    Park(String),
    /// The pricing engine refused the basket.
    #[error("cannot price this sale: {0}")]
    Pricing(#[from] PricingError),
    /// No pricing context yet (no first sync).
    #[error("no pricing context: the lane has not synced with the server yet")]
    NoContext,
    /// The local database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Result of a lane action.
pub type LaneResult<T> = Result<T, LaneError>;

fn unknown_receipt_key_text(key_id: Option<&str>) -> String {
    let key = key_id.map(|k| format!(" {k}")).unwrap_or_default();
    format!(
        "receipt code signed by a lane key{key} this lane does not know: the lane learns its          store's receipt keys from the server (try again when online); rejected"
    )
}

/// One line of the sale being rung up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLine {
    /// Line number (1-based, never reused within a sale).
    pub line_no: u32,
    /// The SKU.
    pub sku: SkuRecord,
    /// The code scanned.
    pub barcode: String,
    /// Units, or grams for weighed SKUs.
    pub qty: i64,
    /// The category path, most specific first.
    pub categories: Vec<String>,
    /// The price printed in a variable-measure price code (the line's fixed price).
    pub fixed_price: Option<Money>,
}

impl SaleLine {
    /// Whether the quantity came from the code (weight or price label) and cannot be changed.
    pub fn measured(&self) -> bool {
        self.fixed_price.is_some() || self.sku.weighed
    }

    /// Quantity and unit price as recorded and printed: the priced line's, except for a price
    /// label, whose line is priced as one unit at the label's price but stands for its weight
    /// (grams, at the per-kg list price) for a weighed SKU.
    fn recorded(&self, priced: &PricedLine) -> (i64, Money) {
        match self.fixed_price {
            Some(_) if self.sku.weighed => (self.qty, self.sku.effective_price()),
            _ => (priced.qty, priced.list_unit_price),
        }
    }

    /// Quantity as shown and printed: `2` or `0.456kg`.
    pub fn qty_text(&self) -> String {
        if self.sku.weighed {
            format!("{}.{:03}kg", self.qty / 1000, self.qty % 1000)
        } else {
            self.qty.to_string()
        }
    }
}

/// The member identified for the sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneMember {
    /// Member id.
    pub id: Uuid,
    /// Tier code (the base tier until the server told the real one).
    pub tier: String,
    /// Tier name for the screen.
    pub tier_name: String,
    /// Points balance as last known.
    pub points: i64,
    /// Stored balance as last known (online only).
    pub balance: Option<Money>,
    /// Masked phone, once known from the server.
    pub masked_phone: Option<String>,
    /// Whether the server confirmed the member's details.
    pub confirmed_online: bool,
    /// The signed member code scanned at the till; without it (a member found by phone
    /// number) the sale only earns points: it cannot spend balance, points or coupons.
    #[serde(default)]
    pub code: Option<String>,
}

/// A payment taken for the current sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakenPayment {
    /// The payment as journalled.
    pub payment: PosPayment,
    /// What the shopper handed over (cash), else the amount.
    pub tendered: Money,
    /// Change given back.
    pub change: Money,
}

impl TakenPayment {
    /// A provider's tender (QR or payment code) the server confirmed paid: its payment id, the
    /// tender, the amount and the provider's transaction id.
    pub fn provider(id: Uuid, method: PaymentMethod, amount: Money, provider_ref: String) -> Self {
        TakenPayment {
            payment: PosPayment {
                id,
                method,
                amount,
                points: 0,
                provider_ref: Some(provider_ref),
            },
            tendered: amount,
            change: Money::ZERO,
        }
    }
}

/// A QR payment shown to the shopper and not paid yet (the server holds the intent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingQr {
    /// The payment's id (the intent's client id; the sale's payment id once paid).
    pub payment_id: Uuid,
    /// Amount.
    pub amount: Money,
    /// The provider's page, shown as a QR code.
    pub pay_url: String,
}

/// A payment code (付款码) the server was asked to charge and that is not settled yet: the
/// sale is frozen (nothing added, no other tender, no void) until the server says paid,
/// refused or reversed. Only the code's last four digits are kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCode {
    /// The payment's id (the lane's client id; the sale's payment id once paid).
    pub payment_id: Uuid,
    /// Amount charged: what was due when the code was scanned.
    pub amount: Money,
    /// Who issued the code (by its digits).
    pub provider: PaymentCodeProvider,
    /// The code's last four digits.
    pub last4: String,
    /// When the lane journalled it (the deadline for the shopper's PIN counts from here).
    pub started_at: DateTime<Utc>,
    /// Where the server last said it stands (`None`: no answer yet).
    #[serde(default)]
    pub status: Option<LanePaymentStatus>,
}

impl PendingCode {
    /// The provider's name for the cashier and the shopper.
    pub fn provider_label(&self) -> &'static str {
        match self.provider {
            PaymentCodeProvider::WechatPay => "微信支付 WeChat Pay",
            PaymentCodeProvider::Alipay => "支付宝 Alipay",
        }
    }

    /// What the cashier is told while it is open.
    pub fn status_text(&self) -> &'static str {
        match self.status {
            Some(LanePaymentStatus::UserPaying) => "等待顾客输入密码 Waiting for the shopper's PIN",
            Some(LanePaymentStatus::Pending) => "等待支付结果 Waiting for the provider's answer",
            _ => "正在收款 Charging the code",
        }
    }
}

/// A sale being rung up (current or parked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basket {
    /// The sale's client id (UUIDv7).
    pub id: Uuid,
    /// Lines.
    pub lines: Vec<SaleLine>,
    /// The member.
    pub member: Option<LaneMember>,
    /// Payments taken so far.
    pub payments: Vec<TakenPayment>,
    /// Points redeemed as a payment (priced by the engine: cap and value).
    pub points_to_redeem: i64,
    /// The member's coupons chosen at the till (online), priced by the engine.
    #[serde(default)]
    pub coupons: Vec<Coupon>,
    /// A QR payment waiting for the shopper.
    #[serde(default)]
    pub pending_qr: Option<PendingQr>,
    /// A payment code being charged.
    #[serde(default)]
    pub pending_code: Option<PendingCode>,
    /// Who rang the sale up (the user name signed in when its first line was added): a sale
    /// completed by a QR payment found paid after a restart still names them.
    #[serde(default)]
    pub cashier: Option<String>,
    next_line_no: u32,
}

impl Basket {
    fn new() -> Self {
        Self {
            id: new_id(),
            lines: Vec::new(),
            member: None,
            payments: Vec::new(),
            points_to_redeem: 0,
            coupons: Vec::new(),
            pending_qr: None,
            pending_code: None,
            cashier: None,
            next_line_no: 1,
        }
    }

    /// Sum of the payments taken.
    pub fn paid(&self) -> Money {
        Money::sum(self.payments.iter().map(|p| p.payment.amount)).unwrap_or(Money::ZERO)
    }
}

/// What a scan did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanOutcome {
    /// A line was added.
    LineAdded(u32),
    /// An existing line's quantity went up by one.
    LineIncremented(u32),
    /// The member was identified (verified offline).
    MemberIdentified(Uuid),
    /// A verified receipt code (for a return; online).
    Receipt(ReceiptCode),
    /// A verified pickup code (for a handover; online).
    Pickup(PickupCode),
    /// The shopper's payment code, scanned while an amount is due: the tender for what is due
    /// (the runner journals it with [`Lane::begin_code_payment`] and asks the server).
    PaymentCode {
        /// Who issued it.
        provider: PaymentCodeProvider,
        /// The code as scanned (kept in memory only, for the one request).
        code: String,
    },
}

/// A completed sale, journalled, with its receipt to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedSale {
    /// The sale as journalled (and later pushed).
    pub sale: PosSale,
    /// Receipt bytes (without the drawer kick).
    pub receipt: Vec<u8>,
    /// Whether to kick the drawer (a cash payment).
    pub open_drawer: bool,
    /// Change to give.
    pub change: Money,
}

/// What a payment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Part paid; this much is still due.
    Partial(Money),
    /// Fully paid: committed to the journal.
    Completed(Box<CompletedSale>),
}

/// One checkout lane; see the [module documentation](self).
pub struct Lane {
    db: LaneDb,
    settings: LaneSettings,
    context: PricingContext,
    verifier: Option<CodeVerifier>,
    receipt_signer: CodeSigner,
    receipt_keys: ReceiptKeyring,
    categories: HashMap<String, Option<String>>,
    basket: Basket,
    priced: Option<PricedBasket>,
    parked: Vec<Basket>,
    online: bool,
    shift: Option<Uuid>,
    roster: LaneRoster,
    cashier: Option<Cashier>,
    /// Wrong PINs per user name: (count, when the person may try again).
    wrong_pins: HashMap<String, (u32, Option<Instant>)>,
    /// What the counter scale offers the scan in progress ([`Lane::scan_at_scale`]).
    scale: ScaleInput,
    /// Whether the scan in progress took the scale's weight.
    scale_used: bool,
}

/// What the lane's counter scale offers a weighed item scanned by its plain barcode.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ScaleInput {
    /// The lane has no counter scale: weighed items need a scale label.
    #[default]
    NoScale,
    /// A stable weight in grams, ready for the next weighed item.
    Ready(i64),
    /// No usable weight now: why (moving, under zero, not back to zero since the last item …).
    NotReady(String),
}

/// The person signed in at the lane: every sale, void, return and drawer opening names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cashier {
    /// Staff id.
    pub id: Uuid,
    /// Log-in name (recorded on sales and printed on receipts).
    pub username: String,
    /// Name on the screen.
    pub display_name: String,
    /// What they may do.
    pub role: StaffRole,
}

/// Wrong PINs a person may enter at one lane before they wait [`PIN_LOCKOUT`].
pub const MAX_WRONG_PINS: u32 = 5;
/// How long a person waits after [`MAX_WRONG_PINS`] wrong PINs.
pub const PIN_LOCKOUT: Duration = Duration::from_secs(5 * 60);

impl Lane {
    /// A lane over its database with the stored pricing context. Fails when there is none
    /// (no first sync yet).
    pub async fn open(db: LaneDb, settings: LaneSettings) -> LaneResult<Self> {
        let context = db.pricing_context().await?.ok_or(LaneError::NoContext)?;
        let verifier = CodeVerifier::from_public_b64(&context.public_key).ok();
        let categories = db.category_parents().await?;
        let receipt_signer = db.receipt_signer().await?;
        let receipt_keys = receipt_keyring(&db, &settings.store, &receipt_signer).await?;
        let shift = db.open_shift_info().await?.map(|s| s.0);
        let roster = db.roster().await?.unwrap_or_default();
        let mut parked = Vec::new();
        for (id, body) in db.parked_sales().await? {
            match serde_json::from_str::<Basket>(&body) {
                Ok(basket) => parked.push(basket),
                Err(e) => {
                    tracing::error!(sale = %id, error = %e, "a parked sale could not be read back")
                }
            }
        }
        // A sale that was waiting for its QR payment when the lane stopped comes back (unless
        // it was completed after all).
        let mut basket = Basket::new();
        if let Some(body) = db.qr_sale().await? {
            match serde_json::from_str::<Basket>(&body) {
                Ok(waiting) if db.sale(waiting.id).await?.is_none() => basket = waiting,
                Ok(_) => db.save_qr_sale(None).await?,
                Err(e) => {
                    tracing::error!(error = %e, "the sale waiting for a QR payment is unreadable")
                }
            }
        }
        let mut lane = Self {
            db,
            settings,
            context,
            verifier,
            receipt_signer,
            receipt_keys,
            categories,
            basket,
            priced: None,
            parked,
            online: false,
            shift,
            roster,
            cashier: None,
            wrong_pins: HashMap::new(),
            scale: ScaleInput::NoScale,
            scale_used: false,
        };
        let basket = lane.basket.clone();
        lane.priced = lane.price(&basket)?;
        Ok(lane)
    }

    /// The lane database.
    pub fn db(&self) -> &LaneDb {
        &self.db
    }

    /// The settings.
    pub fn settings(&self) -> &LaneSettings {
        &self.settings
    }

    /// The sale being rung up.
    pub fn basket(&self) -> &Basket {
        &self.basket
    }

    /// Its price (none while empty).
    pub fn priced(&self) -> Option<&PricedBasket> {
        self.priced.as_ref()
    }

    /// Parked sales.
    pub fn parked(&self) -> &[Basket] {
        &self.parked
    }

    /// Whether the server is reachable (as the runner last found).
    pub fn online(&self) -> bool {
        self.online
    }

    /// Tells the lane whether the server is reachable.
    pub fn set_online(&mut self, online: bool) {
        self.online = online;
    }

    /// The open shift.
    pub fn shift(&self) -> Option<Uuid> {
        self.shift
    }

    /// Sets the open shift.
    pub fn set_shift(&mut self, shift: Option<Uuid>) {
        self.shift = shift;
    }

    /// The code verifier (server public key), if the context has a valid one.
    pub fn verifier(&self) -> Option<&CodeVerifier> {
        self.verifier.as_ref()
    }

    /// The pricing context in force.
    pub fn context(&self) -> &PricingContext {
        &self.context
    }

    /// The variable-measure layouts scale labels are read with: the lane's own override
    /// ([`LaneSettings::layouts`]) when it has one, else the chain's, which the server sends
    /// with the pricing context (kept in the lane database, so offline too).
    pub fn layouts(&self) -> Cow<'_, [VariableMeasureLayout]> {
        if self.settings.layouts.is_empty() {
            self.context.layouts()
        } else {
            Cow::Borrowed(&self.settings.layouts)
        }
    }

    /// The person signed in, if anyone.
    pub fn cashier(&self) -> Option<&Cashier> {
        self.cashier.as_ref()
    }

    /// The person signed in, or [`LaneError::SignedOut`].
    pub fn require_cashier(&self) -> LaneResult<&Cashier> {
        self.cashier.as_ref().ok_or(LaneError::SignedOut)
    }

    /// Signs a person in with their user name and PIN, checked offline against the roster the
    /// lane pulled from the server. Refused while another person's sale is open; after
    /// [`MAX_WRONG_PINS`] wrong PINs the person waits [`PIN_LOCKOUT`].
    pub fn sign_in(&mut self, username: &str, pin: &str) -> LaneResult<&Cashier> {
        if self.cashier.is_some() && self.sale_open() {
            return Err(LaneError::NotUsableHere(
                "finish or park the open sale before someone else signs in".into(),
            ));
        }
        let person = self.check_pin(username, pin, "wrong user name or PIN")?;
        tracing::info!(cashier = %person.username, "signed in at the lane");
        self.cashier = Some(Cashier {
            id: person.id,
            username: person.username,
            display_name: person.display_name,
            role: person.role,
        });
        self.cashier.as_ref().ok_or(LaneError::SignedOut)
    }

    /// Signs the person out (refused while a sale is open: finish or park it first).
    pub fn sign_out(&mut self) -> LaneResult<String> {
        let cashier = self.require_cashier()?.username.clone();
        if self.sale_open() {
            return Err(LaneError::NotUsableHere(
                "finish or park the open sale before signing out".into(),
            ));
        }
        self.cashier = None;
        tracing::info!(cashier = %cashier, "signed out of the lane");
        Ok(cashier)
    }

    /// Whether a sale is being rung up (lines, a member, payments or a QR payment waiting).
    fn sale_open(&self) -> bool {
        !self.basket.lines.is_empty()
            || self.basket.member.is_some()
            || !self.basket.payments.is_empty()
            || self.basket.pending_qr.is_some()
            || self.basket.pending_code.is_some()
    }

    /// Checks an approval (a void, a return): `username` is a store manager of this store or a
    /// head-office administrator on the roster, and `pin` is theirs. Answers their user name.
    pub fn approve(&mut self, username: &str, pin: &str) -> LaneResult<String> {
        let person = self.check_pin(username, pin, "approval refused: wrong user name or PIN")?;
        if !person.role.approves() {
            return Err(LaneError::WrongPin(format!(
                "{} may not approve: a store manager's PIN is needed",
                person.username
            )));
        }
        Ok(person.username)
    }

    /// Checks a PIN against the roster, counting wrong tries per user name.
    fn check_pin(&mut self, username: &str, pin: &str, wrong: &str) -> LaneResult<LaneStaff> {
        let key = username.trim().to_lowercase();
        let now = Instant::now();
        if let Some((_, Some(until))) = self.wrong_pins.get(&key) {
            if *until > now {
                return Err(LaneError::PinLocked {
                    username: key,
                    minutes: (*until - now).as_secs().div_ceil(60),
                });
            }
            self.wrong_pins.remove(&key);
        }
        match self.roster.find(&key) {
            Some(person) if person.pin_matches(pin.trim()) => {
                self.wrong_pins.remove(&key);
                Ok(person.clone())
            }
            _ => {
                if self.wrong_pins.len() > 1_000 {
                    self.wrong_pins.clear();
                }
                let entry = self.wrong_pins.entry(key).or_insert((0, None));
                entry.0 += 1;
                if entry.0 >= MAX_WRONG_PINS {
                    *entry = (0, Some(now + PIN_LOCKOUT));
                }
                Err(LaneError::WrongPin(wrong.to_owned()))
            }
        }
    }

    /// Reloads the roster after a sync; a person who dropped off it (PIN cleared, account
    /// disabled or moved) is signed out once no sale of theirs is open.
    pub async fn reload_roster(&mut self) -> LaneResult<()> {
        if let Some(roster) = self.db.roster().await? {
            self.roster = roster;
        }
        let gone = self
            .cashier
            .as_ref()
            .is_some_and(|c| self.roster.find(&c.username).is_none());
        if gone && !self.sale_open() {
            tracing::warn!("the cashier is no longer on the roster: signed out");
            self.cashier = None;
        }
        Ok(())
    }

    /// Reloads the roster, the pricing context, categories and receipt keys after a sync, and
    /// re-prices.
    pub async fn reload(&mut self) -> LaneResult<()> {
        self.reload_roster().await?;
        if let Some(context) = self.db.pricing_context().await? {
            self.verifier = CodeVerifier::from_public_b64(&context.public_key).ok();
            self.context = context;
        }
        self.reload_receipt_keys().await?;
        self.categories = self.db.category_parents().await?;
        let basket = self.basket.clone();
        if let Ok(priced) = self.price(&basket) {
            self.priced = priced;
        }
        Ok(())
    }

    /// Reloads the store's receipt keys from the lane database (after they were fetched).
    pub async fn reload_receipt_keys(&mut self) -> LaneResult<()> {
        self.receipt_keys =
            receipt_keyring(&self.db, &self.settings.store, &self.receipt_signer).await?;
        Ok(())
    }

    /// Amount still due on the current sale.
    pub fn due(&self) -> Money {
        // Points redeemed are one of the payments, so the total is what the payments cover.
        let total = self.priced.as_ref().map(|p| p.total).unwrap_or(Money::ZERO);
        total.checked_sub(self.basket.paid()).unwrap_or(Money::ZERO)
    }

    fn category_path(&self, category: &str) -> Vec<String> {
        retail_domain::wire::pricing::category_path(category, |c| {
            self.categories.get(c).and_then(|p| p.as_deref())
        })
    }

    fn price(&self, basket: &Basket) -> LaneResult<Option<PricedBasket>> {
        if basket.lines.is_empty() {
            return Ok(None);
        }
        let lines = basket
            .lines
            .iter()
            .map(|l| {
                let line = BasketLine::from_sku(l.line_no, &l.sku, l.categories.clone(), l.qty);
                match l.fixed_price {
                    Some(price) => line.labelled(price),
                    None => line,
                }
            })
            .collect();
        let member = basket.member.as_ref().map(|m| MemberContext {
            member_id: m.id,
            tier: m.tier.clone(),
            points_balance: m.points.max(0),
        });
        let input = self.context.input(
            lines,
            member,
            basket.coupons.clone(),
            basket.points_to_redeem,
            Utc::now(),
        );
        Ok(Some(price_basket(&input)?))
    }

    /// Prices `basket` and makes it current; on any error nothing changes.
    fn commit_basket(&mut self, mut basket: Basket) -> LaneResult<()> {
        let priced = self.price(&basket)?;
        if basket.cashier.is_none() && !basket.lines.is_empty() {
            basket.cashier = self.cashier.as_ref().map(|c| c.username.clone());
        }
        self.basket = basket;
        self.priced = priced;
        Ok(())
    }

    fn refuse_while_paying(&self) -> LaneResult<()> {
        if let Some(code) = &self.basket.pending_code {
            Err(LaneError::BadPayment(format!(
                "a payment code of {} is being charged: wait for it or cancel it",
                code.amount
            )))
        } else if self.basket.pending_qr.is_some() {
            Err(LaneError::BadPayment(
                "a QR payment is waiting for the shopper: wait for it or cancel it".into(),
            ))
        } else if self.basket.payments.is_empty() {
            Ok(())
        } else {
            Err(LaneError::BadPayment(
                "payment has started: finish paying or void the sale".into(),
            ))
        }
    }

    /// Handles one scanned frame at a lane with a counter scale: a weighed SKU scanned by its
    /// plain barcode (not a scale label) takes the scale's stable weight, when `scale` offers
    /// one. Answers the outcome and whether the weight was taken (the scale must then return
    /// to zero before the next weighed item).
    pub async fn scan_at_scale(
        &mut self,
        text: &str,
        scale: ScaleInput,
    ) -> LaneResult<(ScanOutcome, bool)> {
        self.scale = scale;
        self.scale_used = false;
        let result = self.scan(text).await;
        self.scale = ScaleInput::NoScale;
        let used = std::mem::take(&mut self.scale_used);
        result.map(|outcome| (outcome, used))
    }

    /// Handles one scanned frame.
    pub async fn scan(&mut self, text: &str) -> LaneResult<ScanOutcome> {
        self.require_cashier()?;
        if let Some(provider) = classify_payment_code(text) {
            self.check_code_payment()?;
            return Ok(ScanOutcome::PaymentCode {
                provider,
                code: text.trim().to_owned(),
            });
        }
        match classify_scan(text, &self.layouts()) {
            Scan::Product(code) => self.add_product(code).await,
            Scan::MemberCode(text) => self.member_code(&text),
            Scan::ReceiptCode(text) => self.receipt_code(&text).map(ScanOutcome::Receipt),
            Scan::PickupCode(text) => self.pickup_code(&text).map(ScanOutcome::Pickup),
            Scan::ExitPass(_) => Err(LaneError::NotUsableHere(
                "that is a scan-and-go exit pass: it is for the exit gate".into(),
            )),
            Scan::StoreCode(_) => Err(LaneError::NotUsableHere(
                "that is a store poster code: nothing to do at the till".into(),
            )),
            Scan::Unknown { text, reason } => Err(LaneError::UnknownCode { text, reason }),
        }
    }

    async fn add_product(&mut self, code: ScannedCode) -> LaneResult<ScanOutcome> {
        self.refuse_while_paying()?;
        let (lookup, full, measure) = match &code {
            ScannedCode::Gtin { code, .. } => (code.clone(), code.clone(), None),
            ScannedCode::Internal(code) => (code.clone(), code.clone(), None),
            ScannedCode::VariableMeasure { plu, measure, code } => {
                (plu.clone(), code.clone(), Some(*measure))
            }
        };
        let sku = self
            .db
            .sku_by_barcode(&lookup)
            .await?
            .ok_or_else(|| LaneError::NotInCatalog(full.clone()))?;
        if sku.status == ShelfStatus::OffShelf {
            return Err(LaneError::OffShelf(sku.display_name()));
        }
        let mut basket = self.basket.clone();
        let (qty, fixed_price) = match measure {
            None if sku.weighed => match &self.scale {
                ScaleInput::Ready(grams) if *grams > 0 => {
                    self.scale_used = true;
                    (*grams, None)
                }
                ScaleInput::Ready(_) | ScaleInput::NotReady(_) => {
                    let why = match &self.scale {
                        ScaleInput::NotReady(why) => why.clone(),
                        _ => "put it on the scale".to_owned(),
                    };
                    return Err(LaneError::BadQuantity(format!(
                        "{} is sold by weight: {why}",
                        sku.display_name()
                    )));
                }
                ScaleInput::NoScale => {
                    return Err(LaneError::BadQuantity(format!(
                        "{} is sold by weight: scan the scale label",
                        sku.display_name()
                    )))
                }
            },
            None => (1, None),
            Some(Measure::Price(price)) => {
                if price.is_zero() {
                    return Err(LaneError::BadQuantity("the label's price is zero".into()));
                }
                (label_quantity(&sku, price)?, Some(price))
            }
            Some(Measure::WeightGrams(grams)) => {
                if !sku.weighed {
                    return Err(LaneError::BadQuantity(format!(
                        "{} is not sold by weight",
                        sku.display_name()
                    )));
                }
                if grams <= 0 {
                    return Err(LaneError::BadQuantity("the label's weight is zero".into()));
                }
                (grams, None)
            }
        };
        if measure.is_none() {
            if let Some(line) = basket
                .lines
                .iter_mut()
                .find(|l| l.sku.id == sku.id && l.barcode == full && !l.measured())
            {
                if line.qty >= MAX_UNITS_PER_LINE {
                    return Err(LaneError::BadQuantity(format!(
                        "at most {MAX_UNITS_PER_LINE} units on a line"
                    )));
                }
                line.qty += 1;
                let line_no = line.line_no;
                self.commit_basket(basket)?;
                return Ok(ScanOutcome::LineIncremented(line_no));
            }
        }
        if basket.lines.len() >= MAX_LINES {
            return Err(LaneError::TooManyLines);
        }
        let line_no = basket.next_line_no;
        basket.next_line_no += 1;
        basket.lines.push(SaleLine {
            line_no,
            categories: self.category_path(&sku.category_id),
            sku,
            barcode: full,
            qty,
            fixed_price,
        });
        self.commit_basket(basket)?;
        Ok(ScanOutcome::LineAdded(line_no))
    }

    fn verify(&self, text: &str, what: &'static str) -> LaneResult<SignedCode> {
        let verifier = self.verifier.as_ref().ok_or(LaneError::NoContext)?;
        verifier.verify(text, Utc::now()).map_err(|e| match e {
            CodeError::Expired => LaneError::ExpiredCode,
            _ => LaneError::Forged(what),
        })
    }

    fn member_code(&mut self, text: &str) -> LaneResult<ScanOutcome> {
        let SignedCode::Member(code) = self.verify(text, "member code")? else {
            return Err(LaneError::Forged("member code"));
        };
        self.refuse_while_paying()?;
        let base = self.context.points_rules.tier_for_growth(0).clone();
        let member = LaneMember {
            id: code.member_id,
            tier: base.code,
            tier_name: base.name,
            points: 0,
            balance: None,
            masked_phone: None,
            confirmed_online: false,
            code: Some(text.trim().to_owned()),
        };
        let mut basket = self.basket.clone();
        if basket.member.as_ref().map(|m| m.id) != Some(member.id) {
            basket.coupons.clear();
        }
        basket.member = Some(member);
        self.commit_basket(basket)?;
        Ok(ScanOutcome::MemberIdentified(code.member_id))
    }

    /// Takes a tier change head office made for the sale's member (the store bus) and prices
    /// the sale again; refused while a payment is under way (the sale is paid at the price it
    /// was rung up at; the server prices it again with the member's tier anyway).
    pub fn retier_member(&mut self, member: LaneMember) -> LaneResult<()> {
        self.refuse_while_paying()?;
        self.confirm_member(member)
    }

    /// The name of tier `code` in the lane's tier table (the code itself when unknown).
    pub fn tier_name(&self, code: &str) -> String {
        self.context
            .points_rules
            .tier(code)
            .map_or_else(|| code.to_owned(), |t| t.name.clone())
    }

    /// Sets the member's details as the server told them (tier, points, balance, phone).
    pub fn confirm_member(&mut self, member: LaneMember) -> LaneResult<()> {
        let mut basket = self.basket.clone();
        let code = match &basket.member {
            Some(m) if m.id != member.id => return Ok(()),
            Some(m) => m.code.clone(),
            None => None,
        };
        basket.member = Some(LaneMember {
            code: member.code.or(code),
            ..member
        });
        self.commit_basket(basket)
    }

    /// The sale's member, when they proved who they are with their member code: only then may
    /// the sale spend their stored balance, points or coupons.
    pub fn member_with_code(&self) -> LaneResult<&LaneMember> {
        match &self.basket.member {
            Some(m) if m.code.is_some() => Ok(m),
            Some(_) => Err(LaneError::MemberCodeNeeded),
            None => Err(LaneError::BadPayment("identify the member first".into())),
        }
    }

    /// Sets the sale's member (found online by phone number).
    pub fn set_member(&mut self, member: LaneMember) -> LaneResult<()> {
        self.refuse_while_paying()?;
        let mut basket = self.basket.clone();
        if basket.member.as_ref().map(|m| m.id) != Some(member.id) {
            basket.coupons.clear();
        }
        basket.member = Some(member);
        self.commit_basket(basket)
    }

    /// Removes the member from the sale.
    pub fn clear_member(&mut self) -> LaneResult<()> {
        self.refuse_while_paying()?;
        let mut basket = self.basket.clone();
        basket.member = None;
        basket.coupons.clear();
        self.commit_basket(basket)
    }

    fn receipt_code(&self, text: &str) -> LaneResult<ReceiptCode> {
        let code = read_receipt_code(text.trim()).map_err(|e| LaneError::UnknownCode {
            text: text.trim().to_owned(),
            reason: format!("not a receipt code ({e})"),
        })?;
        if code.store != self.settings.store {
            return Err(LaneError::NotUsableHere(format!(
                "this receipt is from store {}; returns are taken at that store",
                code.store
            )));
        }
        // Verified fully, whichever lane of the store printed it, with the keys kept offline.
        match self.receipt_keys.verify(text) {
            Ok(verified) => Ok(verified.code),
            Err(ReceiptCodeError::Forged) => Err(LaneError::Forged("receipt code")),
            Err(ReceiptCodeError::UnknownKey { key_id, .. }) => {
                Err(LaneError::UnknownReceiptKey(key_id))
            }
            Err(e @ ReceiptCodeError::RevokedKey { .. }) => {
                Err(LaneError::NotUsableHere(e.to_string()))
            }
            Err(ReceiptCodeError::Unreadable(e)) => Err(LaneError::UnknownCode {
                text: text.trim().to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    fn pickup_code(&self, text: &str) -> LaneResult<PickupCode> {
        match self.verify(text, "pickup code")? {
            SignedCode::Pickup(code) => Ok(code),
            _ => Err(LaneError::Forged("pickup code")),
        }
    }

    /// Sets a line's quantity (units; not for weighed or price-labelled lines).
    pub fn set_qty(&mut self, line_no: u32, qty: i64) -> LaneResult<()> {
        self.refuse_while_paying()?;
        let mut basket = self.basket.clone();
        let line = basket
            .lines
            .iter_mut()
            .find(|l| l.line_no == line_no)
            .ok_or(LaneError::NoSuchLine(line_no))?;
        if line.measured() {
            return Err(LaneError::BadQuantity(
                "the quantity of a weighed or price-labelled item comes from its label".into(),
            ));
        }
        if !(1..=MAX_UNITS_PER_LINE).contains(&qty) {
            return Err(LaneError::BadQuantity(format!(
                "{qty} makes no sense: 1 to {MAX_UNITS_PER_LINE} (void the line to remove it)"
            )));
        }
        line.qty = qty;
        self.commit_basket(basket)
    }

    /// Removes a line.
    pub fn void_line(&mut self, line_no: u32) -> LaneResult<()> {
        self.refuse_while_paying()?;
        let mut basket = self.basket.clone();
        let before = basket.lines.len();
        basket.lines.retain(|l| l.line_no != line_no);
        if basket.lines.len() == before {
            return Err(LaneError::NoSuchLine(line_no));
        }
        self.commit_basket(basket)
    }

    /// Voids the whole sale with a store manager's approval (their user name and PIN, checked
    /// offline against the roster); recorded in the lane's database with the cashier and the
    /// approver. Answers the approver's user name.
    pub async fn void_sale(&mut self, approver: &str, pin: &str) -> LaneResult<String> {
        let cashier = self.require_cashier()?.username.clone();
        if self.basket.lines.is_empty() && self.basket.member.is_none() {
            return Err(LaneError::EmptySale);
        }
        if self.basket.pending_qr.is_some() || self.basket.pending_code.is_some() {
            return Err(LaneError::BadPayment(
                "a QR or payment-code payment is open: cancel it first".into(),
            ));
        }
        if self
            .basket
            .payments
            .iter()
            .any(|p| p.payment.method != PaymentMethod::Cash)
        {
            return Err(LaneError::BadPayment(
                "a non-cash payment was taken: refund it before voiding".into(),
            ));
        }
        let approved_by = self.approve(approver, pin)?;
        let total = self.priced.as_ref().map_or(Money::ZERO, |p| p.total);
        self.db
            .record_void(
                self.basket.id,
                &cashier,
                &approved_by,
                self.basket.lines.len(),
                total.fen(),
            )
            .await?;
        tracing::info!(sale = %self.basket.id, %cashier, %approved_by, %total, "sale voided");
        self.basket = Basket::new();
        self.priced = None;
        Ok(approved_by)
    }

    /// Parks the current sale and starts a new one. The parked sale is kept in the lane's
    /// database, so a crash or restart does not lose it.
    pub async fn park(&mut self) -> LaneResult<()> {
        if self.basket.lines.is_empty() {
            return Err(LaneError::Park("nothing to park".into()));
        }
        self.refuse_while_paying()?;
        if self.parked.len() >= MAX_PARKED {
            return Err(LaneError::Park(format!(
                "at most {MAX_PARKED} parked sales: resume one first"
            )));
        }
        let body = serde_json::to_string(&self.basket)
            .map_err(|e| LaneError::Park(format!("cannot keep the parked sale: {e}")))?;
        self.db.park_sale(self.basket.id, &body).await?;
        self.parked
            .push(std::mem::replace(&mut self.basket, Basket::new()));
        self.priced = None;
        Ok(())
    }

    /// Resumes the parked sale at `index` (0 = parked first); the current sale must be empty.
    pub async fn resume(&mut self, index: usize) -> LaneResult<()> {
        self.require_cashier()?;
        if !self.basket.lines.is_empty() {
            return Err(LaneError::Park(
                "finish or park the current sale first".into(),
            ));
        }
        if index >= self.parked.len() {
            return Err(LaneError::Park(format!(
                "there is no parked sale {}",
                index + 1
            )));
        }
        let basket = self.parked[index].clone();
        let id = basket.id;
        self.commit_basket(basket)?;
        self.parked.remove(index);
        self.db.unpark_sale(id).await?;
        Ok(())
    }

    /// Takes a payment. Cash: `amount` is what the shopper handed over (change is given back
    /// when it covers more than is due). Card: at most what is due. Stored balance, points and
    /// QR payments need the server: the runner confirms them and calls
    /// [`Lane::add_confirmed_payment`].
    pub async fn pay(
        &mut self,
        method: PaymentMethod,
        amount: Money,
    ) -> LaneResult<PaymentOutcome> {
        self.require_cashier()?;
        if self.basket.lines.is_empty() {
            return Err(LaneError::EmptySale);
        }
        if amount.is_negative() || amount.is_zero() {
            return Err(LaneError::BadPayment("the amount must be positive".into()));
        }
        let due = self.due();
        let (applied, change) = match method {
            PaymentMethod::Cash => {
                if amount > due {
                    (due, amount.checked_sub(due).unwrap_or(Money::ZERO))
                } else {
                    (amount, Money::ZERO)
                }
            }
            PaymentMethod::Card => {
                if amount > due {
                    return Err(LaneError::BadPayment(format!(
                        "card payment {amount} is more than the {due} due"
                    )));
                }
                (amount, Money::ZERO)
            }
            PaymentMethod::StoredBalance => {
                return Err(LaneError::Offline("paying with the stored balance"))
            }
            PaymentMethod::Points => return Err(LaneError::Offline("paying with points")),
            PaymentMethod::SandboxQr | PaymentMethod::WechatPay | PaymentMethod::Alipay => {
                return Err(LaneError::Offline("a QR payment"))
            }
        };
        self.add_confirmed_payment(TakenPayment {
            payment: PosPayment {
                id: new_id(),
                method,
                amount: applied,
                points: 0,
                provider_ref: None,
            },
            tendered: amount,
            change,
        })
        .await
    }

    /// Adds a payment confirmed by the server (stored balance, QR) or taken by [`Lane::pay`];
    /// completes the sale when it covers what is due.
    pub async fn add_confirmed_payment(
        &mut self,
        taken: TakenPayment,
    ) -> LaneResult<PaymentOutcome> {
        if let Some(code) = &self.basket.pending_code {
            return Err(LaneError::BadPayment(format!(
                "a payment code of {} is being charged: wait for it or cancel it",
                code.amount
            )));
        }
        if taken.payment.amount > self.due() {
            return Err(LaneError::BadPayment(format!(
                "{} is more than the {} due",
                taken.payment.amount,
                self.due()
            )));
        }
        self.basket.payments.push(taken);
        let due = self.due();
        if !due.is_zero() {
            return Ok(PaymentOutcome::Partial(due));
        }
        match self.complete().await {
            Ok(done) => Ok(PaymentOutcome::Completed(Box::new(done))),
            Err(e) => {
                // Not journalled: the sale stays open with its payments minus the last.
                self.basket.payments.pop();
                Err(e)
            }
        }
    }

    /// Redeems `points` of the member's points as a payment (online: `balance` is the member's
    /// points balance the server just gave). The pricing engine checks the cap and the balance
    /// and values the points; nothing changes when it refuses.
    pub async fn redeem_points(&mut self, points: i64, balance: i64) -> LaneResult<PaymentOutcome> {
        if self.basket.lines.is_empty() {
            return Err(LaneError::EmptySale);
        }
        if points <= 0 {
            return Err(LaneError::BadPayment("points must be positive".into()));
        }
        if self.basket.points_to_redeem > 0 {
            return Err(LaneError::BadPayment(
                "points were already redeemed on this sale".into(),
            ));
        }
        self.refuse_while_paying_by_code()?;
        self.member_with_code()?;
        let mut basket = self.basket.clone();
        let member = basket
            .member
            .as_mut()
            .ok_or_else(|| LaneError::BadPayment("identify the member first".into()))?;
        member.points = balance;
        basket.points_to_redeem = points;
        let priced = self.price(&basket)?.ok_or(LaneError::EmptySale)?;
        let value = priced.points_value;
        let due_before = priced
            .total
            .checked_sub(self.basket.paid())
            .unwrap_or(Money::ZERO);
        if value > due_before {
            return Err(LaneError::BadPayment(format!(
                "{points} points are worth {value}, more than the {due_before} still due"
            )));
        }
        self.basket = basket;
        self.priced = Some(priced);
        self.add_confirmed_payment(TakenPayment {
            payment: PosPayment {
                id: new_id(),
                method: PaymentMethod::Points,
                amount: value,
                points,
                provider_ref: None,
            },
            tendered: value,
            change: Money::ZERO,
        })
        .await
    }

    /// Checks that a QR payment of `amount` may start now (lines, nothing else waiting, at
    /// most what is due); answers the new payment's client id. Nothing changes.
    pub fn check_qr(&self, amount: Money) -> LaneResult<Uuid> {
        if self.basket.lines.is_empty() {
            return Err(LaneError::EmptySale);
        }
        if self.basket.pending_qr.is_some() {
            return Err(LaneError::BadPayment(
                "a QR payment is already waiting for the shopper".into(),
            ));
        }
        self.refuse_while_paying_by_code()?;
        if amount.is_negative() || amount.is_zero() {
            return Err(LaneError::BadPayment("the amount must be positive".into()));
        }
        let due = self.due();
        if amount > due {
            return Err(LaneError::BadPayment(format!(
                "QR payment {amount} is more than the {due} due"
            )));
        }
        Ok(new_id())
    }

    /// Shows a QR payment the server created (the basket is frozen until it is paid or
    /// cancelled). The sale is kept in the lane's database meanwhile: after a crash the lane
    /// comes back with it and the QR, and asks the server again.
    pub async fn set_pending_qr(&mut self, pending: PendingQr) -> LaneResult<()> {
        if pending.amount > self.due() {
            return Err(LaneError::BadPayment(format!(
                "{} is more than the {} due",
                pending.amount,
                self.due()
            )));
        }
        let mut basket = self.basket.clone();
        basket.pending_qr = Some(pending);
        let body = serde_json::to_string(&basket)
            .map_err(|e| LaneError::BadPayment(format!("cannot keep the sale: {e}")))?;
        self.db.save_qr_sale(Some(&body)).await?;
        self.basket = basket;
        Ok(())
    }

    /// The QR payment waiting for the shopper.
    pub fn pending_qr(&self) -> Option<&PendingQr> {
        self.basket.pending_qr.as_ref()
    }

    /// Drops the waiting QR payment (cancelled at the server).
    pub async fn drop_qr(&mut self) -> LaneResult<Option<PendingQr>> {
        self.db.save_qr_sale(None).await?;
        Ok(self.basket.pending_qr.take())
    }

    /// The waiting QR payment `payment_id` was paid (the server said so, with the provider's
    /// reference): the tender is taken, and the sale completes when it covers what is due.
    pub async fn qr_paid(
        &mut self,
        payment_id: Uuid,
        provider_ref: String,
    ) -> LaneResult<PaymentOutcome> {
        let pending = match &self.basket.pending_qr {
            Some(p) if p.payment_id == payment_id => p.clone(),
            _ => {
                return Err(LaneError::BadPayment(format!(
                    "QR payment {payment_id} is not the one waiting at this lane"
                )))
            }
        };
        self.basket.pending_qr = None;
        let outcome = self
            .add_confirmed_payment(TakenPayment::provider(
                payment_id,
                PaymentMethod::SandboxQr,
                pending.amount,
                provider_ref,
            ))
            .await;
        match &outcome {
            Err(_) => self.basket.pending_qr = Some(pending),
            Ok(_) => self.db.save_qr_sale(None).await?,
        }
        outcome
    }

    fn refuse_while_paying_by_code(&self) -> LaneResult<()> {
        match &self.basket.pending_code {
            Some(code) => Err(LaneError::BadPayment(format!(
                "a payment code of {} is being charged: wait for it or cancel it",
                code.amount
            ))),
            None => Ok(()),
        }
    }

    /// Checks that a payment code may be charged now: a sale with something due and no other
    /// provider payment open. Nothing changes.
    pub fn check_code_payment(&self) -> LaneResult<Money> {
        if self.basket.lines.is_empty() {
            return Err(LaneError::NotUsableHere(
                "that is a payment code (付款码): ring the sale up first, then scan it to pay"
                    .into(),
            ));
        }
        self.refuse_while_paying_by_code()?;
        if self.basket.pending_qr.is_some() {
            return Err(LaneError::BadPayment(
                "a QR payment is waiting for the shopper: wait for it or cancel it".into(),
            ));
        }
        let due = self.due();
        if due.is_zero() {
            return Err(LaneError::BadPayment("nothing is due".into()));
        }
        Ok(due)
    }

    /// Journals a payment-code attempt for what is due **before** the server is asked: a row
    /// in the lane's `code_payments` (the code's last four digits only) and the sale, with the
    /// attempt, kept in the lane's database (like a QR payment's), so a crash or restart comes
    /// back with both and settles the attempt before the sale can complete.
    pub async fn begin_code_payment(
        &mut self,
        provider: PaymentCodeProvider,
        code: &str,
    ) -> LaneResult<PendingCode> {
        let amount = self.check_code_payment()?;
        let digits: Vec<char> = code.trim().chars().collect();
        let pending = PendingCode {
            payment_id: new_id(),
            amount,
            provider,
            last4: digits[digits.len().saturating_sub(4)..].iter().collect(),
            started_at: Utc::now(),
            status: None,
        };
        let mut basket = self.basket.clone();
        basket.pending_code = Some(pending.clone());
        let body = serde_json::to_string(&basket)
            .map_err(|e| LaneError::BadPayment(format!("cannot keep the sale: {e}")))?;
        self.db
            .begin_code_payment(
                &CodeAttempt {
                    id: pending.payment_id,
                    sale_id: basket.id,
                    amount,
                    provider: provider_name(provider).into(),
                    code_last4: pending.last4.clone(),
                    status: "asking".into(),
                    method: None,
                    transaction_id: None,
                    failure: None,
                    created_at: pending.started_at,
                },
                &body,
            )
            .await?;
        self.basket = basket;
        Ok(pending)
    }

    /// The payment code being charged.
    pub fn pending_code(&self) -> Option<&PendingCode> {
        self.basket.pending_code.as_ref()
    }

    fn pending_code_with(&self, payment_id: Uuid) -> LaneResult<PendingCode> {
        match &self.basket.pending_code {
            Some(p) if p.payment_id == payment_id => Ok(p.clone()),
            _ => Err(LaneError::BadPayment(format!(
                "payment {payment_id} is not the payment code being charged at this lane"
            ))),
        }
    }

    /// The server said where the payment code stands while it is still open (`pending`,
    /// `user_paying`): recorded in the journal, shown on the screen.
    pub async fn code_status(
        &mut self,
        payment_id: Uuid,
        status: LanePaymentStatus,
    ) -> LaneResult<()> {
        let mut pending = self.pending_code_with(payment_id)?;
        if pending.status == Some(status) {
            return Ok(());
        }
        pending.status = Some(status);
        let mut basket = self.basket.clone();
        basket.pending_code = Some(pending);
        let body = serde_json::to_string(&basket)
            .map_err(|e| LaneError::BadPayment(format!("cannot keep the sale: {e}")))?;
        self.db
            .update_code_payment(payment_id, status.as_str(), None, None, None)
            .await?;
        self.db.save_qr_sale(Some(&body)).await?;
        self.basket = basket;
        Ok(())
    }

    /// The payment code was paid (the server said so, with the tender it recorded and the
    /// provider's transaction id): the tender is taken, and the sale completes when it covers
    /// what is due (its journal commit also settles the attempt's row, in one transaction).
    pub async fn code_paid(
        &mut self,
        payment_id: Uuid,
        method: PaymentMethod,
        provider_ref: String,
    ) -> LaneResult<PaymentOutcome> {
        let pending = self.pending_code_with(payment_id)?;
        if !method.is_provider() {
            return Err(LaneError::BadPayment(format!(
                "the server recorded the payment code as {}",
                method.as_str()
            )));
        }
        self.basket.pending_code = None;
        let outcome = self
            .add_confirmed_payment(TakenPayment::provider(
                payment_id,
                method,
                pending.amount,
                provider_ref.clone(),
            ))
            .await;
        match &outcome {
            Err(_) => self.basket.pending_code = Some(pending),
            // The sale's journal commit settled the attempt and closed the open sale with it.
            Ok(PaymentOutcome::Completed(_)) => {}
            Ok(PaymentOutcome::Partial(_)) => {
                self.db
                    .update_code_payment(
                        payment_id,
                        LanePaymentStatus::Succeeded.as_str(),
                        Some(method.as_str()),
                        Some(&provider_ref),
                        None,
                    )
                    .await?;
                self.keep_open_sale().await?;
            }
        }
        outcome
    }

    /// The payment code ended without paying (`failed`, `reversed`, `cancelled`, or `unsent`:
    /// the server never took it): journalled with why, and the sale is open for another tender.
    pub async fn drop_code(
        &mut self,
        payment_id: Uuid,
        status: &str,
        failure: Option<&str>,
    ) -> LaneResult<PendingCode> {
        let pending = self.pending_code_with(payment_id)?;
        self.db
            .update_code_payment(payment_id, status, None, None, failure)
            .await?;
        self.basket.pending_code = None;
        self.keep_open_sale().await?;
        Ok(pending)
    }

    /// Keeps the open sale in the lane's database while it has taken a provider's tender or
    /// has one open (a restart comes back with it); forgets it otherwise.
    async fn keep_open_sale(&self) -> LaneResult<()> {
        let provider_tender = self
            .basket
            .payments
            .iter()
            .any(|p| p.payment.method.is_provider());
        if provider_tender || self.basket.pending_qr.is_some() || self.basket.pending_code.is_some()
        {
            let body = serde_json::to_string(&self.basket)
                .map_err(|e| LaneError::BadPayment(format!("cannot keep the sale: {e}")))?;
            self.db.save_qr_sale(Some(&body)).await?;
        } else {
            self.db.save_qr_sale(None).await?;
        }
        Ok(())
    }

    /// Applies one of the member's coupons (listed online): the engine prices it, and it must
    /// take something off; nothing changes otherwise.
    pub fn apply_coupon(&mut self, coupon: Coupon) -> LaneResult<()> {
        self.refuse_while_paying()?;
        self.member_with_code()?;
        let member = self
            .basket
            .member
            .as_ref()
            .ok_or_else(|| LaneError::NotUsableHere("identify the member first".into()))?;
        if coupon.owner != member.id {
            return Err(LaneError::NotUsableHere(
                "this coupon belongs to another member".into(),
            ));
        }
        if self.basket.coupons.iter().any(|c| c.id == coupon.id) {
            return Err(LaneError::NotUsableHere(
                "this coupon is applied already".into(),
            ));
        }
        let mut basket = self.basket.clone();
        let id = coupon.id;
        basket.coupons.push(coupon);
        let priced = self.price(&basket)?.ok_or(LaneError::EmptySale)?;
        let used = priced
            .applied
            .iter()
            .any(|a| a.source == DiscountSource::Coupon { coupon_id: id });
        if !used {
            return Err(LaneError::NotUsableHere(
                "this coupon takes nothing off this sale (threshold, scope or a better \
                 combination): not applied"
                    .into(),
            ));
        }
        self.basket = basket;
        self.priced = Some(priced);
        Ok(())
    }

    /// Removes the coupons chosen for the sale.
    pub fn clear_coupons(&mut self) -> LaneResult<()> {
        self.refuse_while_paying()?;
        let mut basket = self.basket.clone();
        basket.coupons.clear();
        self.commit_basket(basket)
    }

    fn sale_number(&self, seq: i64) -> String {
        format!("{}-{:02}-{seq:06}", self.settings.store, self.settings.lane)
    }

    async fn complete(&mut self) -> LaneResult<CompletedSale> {
        let priced = self.priced.clone().ok_or(LaneError::EmptySale)?;
        let basket = self.basket.clone();
        let now = Utc::now();
        let lines: Vec<PosSaleLine> = priced
            .lines
            .iter()
            .filter_map(|p| {
                let line = basket.lines.iter().find(|l| l.line_no == p.line_no)?;
                let (qty, unit_price) = line.recorded(p);
                Some(PosSaleLine {
                    line_no: p.line_no,
                    sku_id: p.sku_id,
                    barcode: line.barcode.clone(),
                    name: line.sku.display_name(),
                    qty,
                    unit_price,
                    discount: p.discount,
                    amount: p.amount,
                    label_price: line.fixed_price,
                })
            })
            .collect();
        let mut sale = PosSale {
            id: basket.id,
            sale_no: String::new(),
            store: self.settings.store.clone(),
            cashier: match (&self.cashier, &basket.cashier) {
                (Some(signed_in), _) => signed_in.username.clone(),
                (None, Some(rang_up)) => rang_up.clone(),
                (None, None) => return Err(LaneError::SignedOut),
            },
            member_id: basket.member.as_ref().map(|m| m.id),
            member_code: basket.member.as_ref().and_then(|m| m.code.clone()),
            lines,
            payments: basket.payments.iter().map(|p| p.payment.clone()).collect(),
            subtotal: priced.subtotal,
            discount: priced.discount,
            total: priced.total,
            completed_at: now,
            offline: !self.online,
            coupons: priced
                .applied
                .iter()
                .filter_map(|a| match a.source {
                    DiscountSource::Coupon { coupon_id } => Some(coupon_id),
                    _ => None,
                })
                .collect(),
        };
        let change = Money::sum(basket.payments.iter().map(|p| p.change)).unwrap_or(Money::ZERO);
        let open_drawer = basket
            .payments
            .iter()
            .any(|p| p.payment.method == PaymentMethod::Cash);
        let receipt_code = self.receipt_signer.sign_receipt(sale.id, &sale.store);
        let layout = self.settings.receipt_layout.clone();
        let mut receipt_error = None;
        let store_name = self.settings.store_name.clone();
        let lane = self.settings.lane;
        let footer = self.settings.footer.clone();
        let number = |seq| self.sale_number(seq);
        let build = |sale: &PosSale| {
            let receipt = build_receipt(
                sale,
                &basket,
                &priced,
                &store_name,
                lane,
                receipt_code.clone().unwrap_or_default(),
                change,
                footer.clone(),
                now,
            );
            match encode_receipt(&receipt, &layout, false) {
                Ok(bytes) => bytes,
                Err(e) => {
                    receipt_error = Some(e.to_string());
                    Vec::new()
                }
            }
        };
        self.db
            .commit_sale(&mut sale, number, build, open_drawer, self.shift)
            .await?;
        if let Some(e) = receipt_error {
            tracing::error!(error = %e, sale = %sale.id, "receipt could not be encoded");
        }
        let receipt = self
            .db
            .sale(sale.id)
            .await?
            .map(|e| e.receipt)
            .unwrap_or_default();
        self.basket = Basket::new();
        self.priced = None;
        Ok(CompletedSale {
            sale,
            receipt,
            open_drawer,
            change,
        })
    }
}

/// The receipt keys a lane verifies receipt codes with: its store's registered keys as last
/// fetched, and its own key (trusted before the server has confirmed it).
async fn receipt_keyring(db: &LaneDb, store: &str, own: &CodeSigner) -> LaneResult<ReceiptKeyring> {
    let registered = db.receipt_keys().await?;
    let mut ring = ReceiptKeyring::from_keys(registered.iter().flat_map(|k| k.keys.iter()));
    ring.add(store, own.verifier());
    Ok(ring)
}

fn method_name(method: PaymentMethod) -> &'static str {
    match method {
        PaymentMethod::Cash => "现金",
        PaymentMethod::StoredBalance => "储值",
        PaymentMethod::Points => "积分",
        PaymentMethod::SandboxQr => "扫码",
        PaymentMethod::Card => "银行卡",
        PaymentMethod::WechatPay => "微信支付",
        PaymentMethod::Alipay => "支付宝",
    }
}

/// The stored name of a payment code's issuer.
fn provider_name(provider: PaymentCodeProvider) -> &'static str {
    match provider {
        PaymentCodeProvider::WechatPay => "wechat_pay",
        PaymentCodeProvider::Alipay => "alipay",
    }
}

/// What the receipt calls a provider's transaction id.
fn reference_label(method: PaymentMethod) -> &'static str {
    match method {
        PaymentMethod::WechatPay => "微信支付订单号",
        PaymentMethod::Alipay => "支付宝交易号",
        _ => "交易号",
    }
}

/// The grams a scale's price label stands for: its price at the SKU's per-kg list price,
/// rounded to the gram (at least one). Price labels of items sold by the unit stand for one.
fn label_quantity(sku: &SkuRecord, price: Money) -> LaneResult<i64> {
    if !sku.weighed {
        return Ok(1);
    }
    retail_domain::pricing::label_grams(price, sku.effective_price()).ok_or_else(|| {
        LaneError::BadQuantity(format!(
            "{} has no price per kg to weigh its label by",
            sku.display_name()
        ))
    })
}

#[allow(clippy::too_many_arguments)]
fn build_receipt(
    sale: &PosSale,
    basket: &Basket,
    priced: &PricedBasket,
    store_name: &str,
    lane: u32,
    receipt_code: String,
    change: Money,
    footer: Vec<String>,
    at: DateTime<Utc>,
) -> Receipt {
    let lines = priced
        .lines
        .iter()
        .filter_map(|p| {
            let line = basket.lines.iter().find(|l| l.line_no == p.line_no)?;
            Some(ReceiptLine {
                name: line.sku.display_name(),
                qty_text: line.qty_text(),
                unit_price: line.recorded(p).1,
                amount: p.list_amount,
                discount: p.discount,
            })
        })
        .collect();
    let member = basket.member.as_ref().map(|m| ReceiptMember {
        masked_phone: m
            .masked_phone
            .clone()
            .unwrap_or_else(|| format!("会员 {}", &m.id.simple().to_string()[24..])),
        points_earned: priced.points_earned,
        points_balance: m
            .points
            .saturating_add(priced.points_earned)
            .saturating_sub(basket.points_to_redeem),
    });
    Receipt {
        store_name: store_name.to_owned(),
        store_code: sale.store.clone(),
        lane: format!("{lane:02}"),
        cashier: sale.cashier.clone(),
        sale_no: sale.sale_no.clone(),
        printed_at: at,
        lines,
        subtotal: priced.subtotal,
        discount: priced.discount,
        total: priced.total,
        payments: basket
            .payments
            .iter()
            .map(|p| (method_name(p.payment.method).to_owned(), p.tendered))
            .collect(),
        references: basket
            .payments
            .iter()
            .filter(|p| p.payment.method.is_provider())
            .filter_map(|p| {
                let id = p.payment.provider_ref.as_deref()?;
                Some((reference_label(p.payment.method).to_owned(), id.to_owned()))
            })
            .collect(),
        change,
        member,
        receipt_code,
        footer,
    }
}
