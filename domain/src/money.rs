//! Money: CNY amounts held in whole fen (分).
//!
//! A [`Money`] value is always an exact number of fen (two decimal places of a yuan) that fits in
//! an `i64`; every constructor enforces this. Arithmetic is checked (`checked_*`) and returns
//! `None` on overflow instead of panicking or saturating, which is why this type deliberately
//! does **not** implement `std::ops::{Add, Sub, Neg}`.
//!
//! Rounding is never implicit: every operation that can produce fractions of a fen
//! ([`Money::from_decimal`], [`Money::mul_ratio`]) takes a [`Rounding`] mode from the caller
//! (which normally comes from configuration), and [`Money::allocate`] splits amounts exactly.
//!
//! On the wire (JSON, docs/DESIGN.md §11) money is a decimal **string** with exactly two places, e.g.
//! `"12.50"`; JSON numbers are rejected on input.

use std::fmt;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// ISO 4217 currency. The system trades in Chinese yuan only; the enum exists so that wire
/// formats can name the currency explicitly where it is not obvious.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Currency {
    /// Chinese yuan renminbi (`"CNY"`), minor unit fen = 0.01 yuan.
    #[default]
    #[serde(rename = "CNY")]
    Cny,
}

impl Currency {
    /// The ISO 4217 code, e.g. `"CNY"`.
    pub fn code(&self) -> &'static str {
        match self {
            Currency::Cny => "CNY",
        }
    }

    /// Number of decimal places of the minor unit (2 for CNY: 1 fen = 0.01 yuan).
    pub fn minor_units(&self) -> u32 {
        match self {
            Currency::Cny => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How to round a value to whole fen.
///
/// Rounding is always explicit in this system: functions that may produce fractions of a fen take
/// a `Rounding` argument, and the mode in use is configuration (docs/DESIGN.md §4, "Rounding is explicit
/// and configurable"). All modes are symmetric around zero, so `-x` rounds to `-(round x)`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Round to nearest; exact halves go away from zero (2.345 → 2.35, −2.345 → −2.35).
    /// This is the usual commercial "四舍五入".
    #[default]
    HalfUp,
    /// Round to nearest; exact halves go to the even neighbour (banker's rounding:
    /// 2.345 → 2.34, 2.355 → 2.36).
    HalfEven,
    /// Truncate toward zero (2.349 → 2.34, −2.349 → −2.34).
    Down,
    /// Round away from zero (2.341 → 2.35, −2.341 → −2.35).
    Up,
}

impl Rounding {
    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::Down => RoundingStrategy::ToZero,
            Rounding::Up => RoundingStrategy::AwayFromZero,
        }
    }
}

/// Errors from constructing or parsing [`Money`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text is not a plain decimal amount (the message says what was wrong).
    #[error("malformed amount: {0}")]
    Malformed(String),
    /// The text has more than two decimal places (amounts are whole fen).
    #[error("amount has more than two decimal places")]
    TooManyDecimals,
    /// The value does not fit in the supported range (±92 233 720 368 547 758.07 yuan).
    #[error("amount out of range")]
    Overflow,
}

/// A CNY amount, always an exact whole number of fen that fits in an `i64`.
///
/// `Display` and serde use the wire form with exactly two decimals (`"12.50"`, `"-0.05"`,
/// `"0.00"`); see [`Money::parse`] for the accepted input form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money {
    /// Invariant: `amount * 100` is an integer in `i64` range.
    amount: Decimal,
}

/// Longest text [`Money::parse`] looks at; anything longer is malformed (the largest amount has
/// 20 characters).
const MAX_TEXT_LEN: usize = 32;

impl Money {
    /// Zero yuan.
    pub const ZERO: Money = Money {
        amount: Decimal::from_parts(0, 0, 0, false, 2),
    };

    /// An amount of `fen` (0.01 yuan) units, e.g. `from_fen(1250)` is ¥12.50.
    pub fn from_fen(fen: i64) -> Money {
        Money {
            amount: Decimal::new(fen, 2),
        }
    }

    /// The amount in fen. Infallible: every `Money` is a whole number of fen within `i64`.
    pub fn fen(&self) -> i64 {
        let mut a = self.amount;
        // Exact because of the invariant (at most two decimal places).
        a.rescale(2);
        // Cannot truncate because of the invariant (fits in i64).
        a.mantissa() as i64
    }

    /// The amount in yuan as a decimal with two decimal places.
    pub fn amount(&self) -> Decimal {
        let mut a = self.amount;
        a.rescale(2);
        a
    }

    /// Builds an amount from any decimal by rounding to whole fen with `rounding`.
    ///
    /// ```
    /// # use retail_domain::money::{Money, Rounding};
    /// # use rust_decimal::Decimal;
    /// let d: Decimal = "2.345".parse().unwrap();
    /// assert_eq!(Money::from_decimal(d, Rounding::HalfUp).unwrap().to_string(), "2.35");
    /// assert_eq!(Money::from_decimal(d, Rounding::HalfEven).unwrap().to_string(), "2.34");
    /// ```
    pub fn from_decimal(value: Decimal, rounding: Rounding) -> Result<Money, MoneyError> {
        let rounded = value.round_dp_with_strategy(2, rounding.strategy());
        let fen = rounded
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|f| f.to_i64())
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::from_fen(fen))
    }

    /// Parses the strict wire form: an optional leading `-`, one or more ASCII digits, and
    /// optionally a `.` followed by one or two digits (`"12"`, `"12.5"`, `"12.50"`, `"-0.05"`).
    ///
    /// Rejected: empty text, surrounding whitespace, `+`, exponents (`"1e3"`), `"NaN"`, a bare
    /// `"."`/`"1."`/`".5"`, thousands separators, and more than two decimals
    /// ([`MoneyError::TooManyDecimals`]).
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        if text.is_empty() {
            return Err(MoneyError::Malformed("empty amount".into()));
        }
        if text.len() > MAX_TEXT_LEN {
            return Err(MoneyError::Malformed(format!(
                "amount text is longer than {MAX_TEXT_LEN} characters"
            )));
        }
        let malformed = || {
            MoneyError::Malformed(format!(
                "{text:?} is not a decimal amount like \"12.50\" (optional '-', digits, \
                 optional '.' and one or two digits)"
            ))
        };
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (int_part, frac_part) = match rest.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (rest, None),
        };
        if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let frac_fen: i128 = match frac_part {
            None => 0,
            Some(f) => {
                if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(malformed());
                }
                if f.len() > 2 {
                    return Err(MoneyError::TooManyDecimals);
                }
                let v = digits_value(f).ok_or(MoneyError::Overflow)?;
                if f.len() == 1 {
                    v * 10
                } else {
                    v
                }
            }
        };
        let int_value = digits_value(int_part).ok_or(MoneyError::Overflow)?;
        let magnitude = int_value
            .checked_mul(100)
            .and_then(|v| v.checked_add(frac_fen))
            .ok_or(MoneyError::Overflow)?;
        let signed = if negative { -magnitude } else { magnitude };
        let fen = i64::try_from(signed).map_err(|_| MoneyError::Overflow)?;
        Ok(Money::from_fen(fen))
    }

    /// Checked addition; `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.fen().checked_add(other.fen()).map(Money::from_fen)
    }

    /// Checked subtraction; `None` on overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.fen().checked_sub(other.fen()).map(Money::from_fen)
    }

    /// Checked multiplication by an integer quantity (e.g. unit price × qty); `None` on overflow.
    pub fn checked_mul_qty(self, qty: i64) -> Option<Money> {
        self.fen().checked_mul(qty).map(Money::from_fen)
    }

    /// Checked negation; `None` only for the most negative amount.
    pub fn checked_neg(self) -> Option<Money> {
        self.fen().checked_neg().map(Money::from_fen)
    }

    /// Multiplies by a decimal ratio and rounds to whole fen with `rounding`, e.g. a 9.5折
    /// discount is `price.mul_ratio(Decimal::new(95, 2), Rounding::HalfUp)`.
    pub fn mul_ratio(self, ratio: Decimal, rounding: Rounding) -> Result<Money, MoneyError> {
        let product = self
            .amount()
            .checked_mul(ratio)
            .ok_or(MoneyError::Overflow)?;
        Money::from_decimal(product, rounding)
    }

    /// True if the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.fen() < 0
    }

    /// True if the amount is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.fen() == 0
    }

    /// Absolute value. The most negative representable amount has no positive counterpart and is
    /// returned as the largest positive amount (one fen less) rather than panicking.
    pub fn abs(self) -> Money {
        Money::from_fen(self.fen().checked_abs().unwrap_or(i64::MAX))
    }

    /// Checked sum of any number of amounts; `None` on overflow. The empty sum is zero.
    pub fn sum<I: IntoIterator<Item = Money>>(iter: I) -> Option<Money> {
        iter.into_iter()
            .try_fold(Money::ZERO, |acc, m| acc.checked_add(m))
    }

    /// Splits `self` into parts proportional to `weights`, summing **exactly** to `self`.
    ///
    /// Uses the largest-remainder method: each part first gets the floor of its exact share (in
    /// fen, computed on the magnitude), then the leftover fen go one each to the parts with the
    /// largest remainders, ties broken by lower index. So every part is within one fen of its
    /// exact proportional share, and the result is deterministic.
    ///
    /// * Negative weights count as zero.
    /// * If all weights are zero, the amount is split evenly, the leftover fen going to the first
    ///   parts.
    /// * Empty `weights` → empty vector (there is nothing to carry the amount).
    /// * A negative amount is split by magnitude and each part negated, so all parts have the
    ///   sign of `self`.
    ///
    /// ```
    /// # use retail_domain::money::Money;
    /// let parts = Money::from_fen(1000).allocate(&[1, 1, 1]);
    /// assert_eq!(parts, vec![Money::from_fen(334), Money::from_fen(333), Money::from_fen(333)]);
    /// ```
    pub fn allocate(self, weights: &[i64]) -> Vec<Money> {
        if weights.is_empty() {
            return Vec::new();
        }
        let total = i128::from(self.fen());
        let negative = total < 0;
        let magnitude = total.abs();
        let ws: Vec<i128> = weights.iter().map(|&w| i128::from(w.max(0))).collect();
        let weight_sum: i128 = ws.iter().sum();

        let mut parts: Vec<i128>;
        if weight_sum == 0 {
            // Even split; remainder goes to the first lines.
            let n = ws.len() as i128;
            let base = magnitude / n;
            let extra = magnitude % n;
            parts = (0..ws.len())
                .map(|i| base + i128::from((i as i128) < extra))
                .collect();
        } else {
            // magnitude <= 2^63 and each weight < 2^63, so the product fits in i128.
            let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(ws.len());
            parts = Vec::with_capacity(ws.len());
            for (i, &w) in ws.iter().enumerate() {
                let p = magnitude * w;
                parts.push(p / weight_sum);
                remainders.push((p % weight_sum, i));
            }
            let assigned: i128 = parts.iter().sum();
            let mut leftover = magnitude - assigned; // 0 <= leftover < number of parts
                                                     // Largest remainder first, then lowest index.
            remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            for &(_, i) in &remainders {
                if leftover == 0 {
                    break;
                }
                if let Some(p) = parts.get_mut(i) {
                    *p += 1;
                }
                leftover -= 1;
            }
        }
        parts
            .into_iter()
            .map(|p| {
                let signed = if negative { -p } else { p };
                // Each part is at most |self| in magnitude with self's sign, so it fits.
                Money::from_fen(i64::try_from(signed).unwrap_or(0))
            })
            .collect()
    }
}

/// Value of a non-empty ASCII digit string (at most [`MAX_TEXT_LEN`] digits); `None` on overflow.
fn digits_value(digits: &str) -> Option<i128> {
    digits.bytes().try_fold(0i128, |acc, b| {
        acc.checked_mul(10)?.checked_add(i128::from(b - b'0'))
    })
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fen = self.fen();
        let sign = if fen < 0 { "-" } else { "" };
        let abs = fen.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl std::str::FromStr for Money {
    type Err = MoneyError;

    /// Same as [`Money::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MoneyVisitor;

        impl serde::de::Visitor<'_> for MoneyVisitor {
            type Value = Money;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal amount string with at most two decimals, e.g. \"12.50\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                Money::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(MoneyVisitor)
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "CNY amount as a decimal string with two places (yuan.fen); never a number",
            ))
            .pattern(Some(r"^-?[0-9]+(\.[0-9]{1,2})?$"))
            .examples(["12.50"])
            .into()
    }
}

impl utoipa::ToSchema for Money {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Money")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn display_always_two_decimals() {
        assert_eq!(Money::from_fen(1250).to_string(), "12.50");
        assert_eq!(Money::from_fen(-5).to_string(), "-0.05");
        assert_eq!(Money::ZERO.to_string(), "0.00");
        assert_eq!(Money::default().to_string(), "0.00");
        assert_eq!(Money::from_fen(-100).to_string(), "-1.00");
        assert_eq!(
            Money::from_fen(i64::MIN).to_string(),
            "-92233720368547758.08"
        );
        assert_eq!(
            Money::from_fen(i64::MAX).to_string(),
            "92233720368547758.07"
        );
    }

    #[test]
    fn default_equals_zero() {
        assert_eq!(Money::default(), Money::ZERO);
        assert_eq!(Money::default().fen(), 0);
        assert_eq!(Money::ZERO.amount().to_string(), "0.00");
    }

    #[test]
    fn parse_accepts_wire_forms() {
        assert_eq!(Money::parse("12.50").unwrap().fen(), 1250);
        assert_eq!(Money::parse("12.5").unwrap().fen(), 1250);
        assert_eq!(Money::parse("12").unwrap().fen(), 1200);
        assert_eq!(Money::parse("-0.05").unwrap().fen(), -5);
        assert_eq!(Money::parse("0").unwrap().fen(), 0);
        assert_eq!(Money::parse("-0.00").unwrap(), Money::ZERO);
        assert_eq!(Money::parse("007.10").unwrap().fen(), 710);
        assert_eq!(
            Money::parse("-92233720368547758.08").unwrap().fen(),
            i64::MIN
        );
        assert_eq!(
            Money::parse("92233720368547758.07").unwrap().fen(),
            i64::MAX
        );
    }

    #[test]
    fn parse_rejects_everything_else() {
        for bad in [
            "", " 1", "1 ", "+1", "NaN", "nan", "inf", "1e3", "1E3", ".", "1.", ".5", "-", "-.5",
            "1,000.00", "1.2.3", "--1", "1-", "１", "0x10", "1_000", "¥1", "1.0a",
        ] {
            let err = Money::parse(bad).unwrap_err();
            assert!(matches!(err, MoneyError::Malformed(_)), "{bad:?} → {err:?}");
        }
        assert_eq!(Money::parse("1.234"), Err(MoneyError::TooManyDecimals));
        assert_eq!(Money::parse("1.000"), Err(MoneyError::TooManyDecimals));
        assert_eq!(
            Money::parse("92233720368547758.08"),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::parse("99999999999999999999999999999"),
            Err(MoneyError::Overflow)
        );
        assert!(matches!(
            Money::parse(&"9".repeat(100)),
            Err(MoneyError::Malformed(_))
        ));
    }

    #[test]
    fn serde_is_a_string() {
        let m = Money::from_fen(1250);
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"12.50\"");
        let back: Money = serde_json::from_str("\"12.5\"").unwrap();
        assert_eq!(back, m);
        assert!(serde_json::from_str::<Money>("12.5").is_err());
        assert!(serde_json::from_str::<Money>("12").is_err());
        assert!(serde_json::from_str::<Money>("\"1.234\"").is_err());
        assert!(serde_json::from_str::<Money>("null").is_err());
    }

    #[test]
    fn schema_is_string() {
        use utoipa::PartialSchema;
        let json = serde_json::to_value(Money::schema()).unwrap();
        assert_eq!(json["type"], "string");
        assert_eq!(json["examples"][0], "12.50");
        assert_eq!(<Money as utoipa::ToSchema>::name(), "Money");
    }

    #[test]
    fn currency_and_rounding_serde() {
        assert_eq!(serde_json::to_string(&Currency::Cny).unwrap(), "\"CNY\"");
        assert_eq!(Currency::Cny.code(), "CNY");
        assert_eq!(Currency::default().minor_units(), 2);
        assert_eq!(
            serde_json::to_string(&Rounding::HalfEven).unwrap(),
            "\"half_even\""
        );
        assert_eq!(Rounding::default(), Rounding::HalfUp);
        let r: Rounding = serde_json::from_str("\"down\"").unwrap();
        assert_eq!(r, Rounding::Down);
    }

    #[test]
    fn from_decimal_rounding_modes() {
        let cases = [
            ("2.345", Rounding::HalfUp, "2.35"),
            ("2.345", Rounding::HalfEven, "2.34"),
            ("2.345", Rounding::Down, "2.34"),
            ("2.345", Rounding::Up, "2.35"),
            ("2.355", Rounding::HalfEven, "2.36"),
            ("2.341", Rounding::Up, "2.35"),
            ("2.349", Rounding::Down, "2.34"),
            ("2.344", Rounding::HalfUp, "2.34"),
            ("-2.345", Rounding::HalfUp, "-2.35"),
            ("-2.345", Rounding::HalfEven, "-2.34"),
            ("-2.345", Rounding::Down, "-2.34"),
            ("-2.345", Rounding::Up, "-2.35"),
            ("7", Rounding::Up, "7.00"),
            ("0.001", Rounding::Up, "0.01"),
            ("-0.001", Rounding::Down, "0.00"),
        ];
        for (input, mode, want) in cases {
            let got = Money::from_decimal(dec(input), mode).unwrap();
            assert_eq!(got.to_string(), want, "{input} {mode:?}");
        }
        assert_eq!(
            Money::from_decimal(dec("1e20"), Rounding::HalfUp),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::from_fen(150);
        let b = Money::from_fen(75);
        assert_eq!(a.checked_add(b), Some(Money::from_fen(225)));
        assert_eq!(b.checked_sub(a), Some(Money::from_fen(-75)));
        assert_eq!(a.checked_mul_qty(3), Some(Money::from_fen(450)));
        assert_eq!(
            Money::from_fen(i64::MAX).checked_add(Money::from_fen(1)),
            None
        );
        assert_eq!(
            Money::from_fen(i64::MIN).checked_sub(Money::from_fen(1)),
            None
        );
        assert_eq!(Money::from_fen(i64::MAX).checked_mul_qty(2), None);
        assert_eq!(Money::from_fen(i64::MIN).checked_neg(), None);
        assert_eq!(Money::from_fen(-5).abs(), Money::from_fen(5));
        assert_eq!(Money::from_fen(i64::MIN).abs(), Money::from_fen(i64::MAX));
        assert!(Money::from_fen(-1).is_negative());
        assert!(!Money::ZERO.is_negative());
        assert!(Money::ZERO.is_zero());
        assert_eq!(
            Money::sum([a, b, Money::from_fen(-25)]),
            Some(Money::from_fen(200))
        );
        assert_eq!(Money::sum(Vec::new()), Some(Money::ZERO));
        assert_eq!(
            Money::sum([Money::from_fen(i64::MAX), Money::from_fen(1)]),
            None
        );
    }

    #[test]
    fn mul_ratio_discount() {
        let price = Money::from_fen(1999);
        assert_eq!(
            price.mul_ratio(dec("0.95"), Rounding::HalfUp).unwrap(),
            Money::from_fen(1899) // 18.9905
        );
        assert_eq!(
            price.mul_ratio(dec("0.95"), Rounding::Up).unwrap(),
            Money::from_fen(1900)
        );
        assert_eq!(
            Money::from_fen(i64::MAX).mul_ratio(dec("2"), Rounding::HalfUp),
            Err(MoneyError::Overflow)
        );
        assert!(Money::from_fen(i64::MAX)
            .mul_ratio(Decimal::MAX, Rounding::HalfUp)
            .is_err());
    }

    #[test]
    fn allocate_examples() {
        let f = Money::from_fen;
        assert_eq!(f(1000).allocate(&[1, 1, 1]), vec![f(334), f(333), f(333)]);
        assert_eq!(f(100).allocate(&[0, 0, 0]), vec![f(34), f(33), f(33)]);
        assert_eq!(f(-100).allocate(&[0, 0, 0]), vec![f(-34), f(-33), f(-33)]);
        assert_eq!(f(100).allocate(&[]), Vec::<Money>::new());
        assert_eq!(f(100).allocate(&[5]), vec![f(100)]);
        assert_eq!(f(100).allocate(&[3, 0, 1]), vec![f(75), f(0), f(25)]);
        assert_eq!(f(100).allocate(&[-3, 1]), vec![f(0), f(100)]);
        // 10 fen discount over lines 1.00 / 2.00: shares 3.33 / 6.67
        assert_eq!(f(10).allocate(&[100, 200]), vec![f(3), f(7)]);
        let big = f(i64::MAX).allocate(&[i64::MAX, i64::MAX, 1]);
        assert_eq!(Money::sum(big), Some(f(i64::MAX)));
        let small = f(i64::MIN).allocate(&[i64::MAX, 1]);
        assert_eq!(Money::sum(small), Some(f(i64::MIN)));
    }

    proptest! {
        #[test]
        fn parse_display_roundtrip(fen in any::<i64>()) {
            let m = Money::from_fen(fen);
            prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
            let json = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = Money::parse(&s);
        }

        #[test]
        fn add_sub_inverse(a in -1_000_000_000_000i64..1_000_000_000_000, b in -1_000_000_000_000i64..1_000_000_000_000) {
            let (a, b) = (Money::from_fen(a), Money::from_fen(b));
            prop_assert_eq!(a.checked_add(b).and_then(|s| s.checked_sub(b)), Some(a));
            prop_assert_eq!(a.checked_sub(b).and_then(|s| s.checked_add(b)), Some(a));
        }

        #[test]
        fn allocate_sums_exactly(total in any::<i64>(), weights in proptest::collection::vec(0i64..1_000_000_000, 1..12)) {
            let parts = Money::from_fen(total).allocate(&weights);
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(Money::sum(parts.iter().copied()), Some(Money::from_fen(total)));
            let wsum: i128 = weights.iter().map(|&w| i128::from(w)).sum();
            for (p, &w) in parts.iter().zip(&weights) {
                let p = i128::from(p.fen());
                let t = i128::from(total);
                if wsum == 0 {
                    let n = weights.len() as i128;
                    prop_assert!((p * n - t).abs() < n);
                } else {
                    // |p - t*w/wsum| < 1  <=>  |p*wsum - t*w| < wsum
                    let diff = p * wsum - t * i128::from(w);
                    prop_assert!(diff.abs() < wsum, "part {} weight {} total {}", p, w, t);
                }
            }
        }

        #[test]
        fn from_decimal_is_within_half_fen_for_half_modes(fen in -1_000_000_000i64..1_000_000_000, extra in 0u32..1000) {
            // value = fen/100 + extra/100000
            let value = Decimal::new(fen, 2) + Decimal::new(i64::from(extra), 5);
            for mode in [Rounding::HalfUp, Rounding::HalfEven, Rounding::Down, Rounding::Up] {
                let m = Money::from_decimal(value, mode).unwrap();
                let diff = (m.amount() - value).abs();
                prop_assert!(diff < Decimal::new(1, 2));
            }
        }
    }
}
