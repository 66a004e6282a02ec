//! Shared retail domain library.
//!
//! This crate holds the rules that every part of the omnichannel retail system (server, online
//! shop, POS terminals, edge agents) must apply identically, as pure functions without I/O:
//!
//! * [`money`] — CNY amounts held in whole fen, with a strict wire form (`"12.50"`), checked
//!   arithmetic, explicit rounding and exact proportional allocation.
//! * [`ids`] — client-generated UUIDv7 identifiers, their compact base64url form for QR codes, and
//!   human-facing order numbers.
//! * [`barcode`] — GTIN (EAN-13 / EAN-8 / UPC-A) check digits and configurable variable-measure
//!   (price / weight) EAN-13 decoding.
//! * [`order`] — order channels, fulfilment kinds, statuses and the checked state machine.
//! * [`payment_code`] — telling a WeChat Pay from an Alipay payment code (付款码) scanned at a
//!   lane.
//! * [`points`] — member tiers, points earning, redemption and reversal.
//! * [`pricing`] — the pricing and promotions engine: one pure function that prices a basket
//!   for every channel (sale, member and tier prices, 满减, discounts, buy X get Y, coupons,
//!   points, 抹零), allocating every discount to its lines.
//! * [`codes`] — Ed25519-signed compact QR code texts (member, pickup, exit pass, receipt) and
//!   unsigned store codes.
//! * [`receipts`] — verifying receipt codes with the registered keys of a store's lanes.
//! * [`key_pinning`] — which code-verifier key a lane or an edge agent trusts (configured, or the
//!   first fetched with its credential; a different key from the network is refused).
//!
//! Nothing in this crate panics on untrusted input: parsing and validation return typed errors
//! whose `Display` text is suitable for showing to staff or API clients.
#![forbid(unsafe_code)]

pub mod barcode;
pub mod codes;
pub mod ids;
pub mod key_pinning;
pub mod money;
pub mod order;
pub mod payment_code;
pub mod points;
pub mod pricing;
pub mod profiles;
pub mod receipts;
pub mod wire;
