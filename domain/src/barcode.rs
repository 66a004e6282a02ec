//! Product barcodes.
//!
//! * GTINs — EAN-13, EAN-8 and UPC-A — with the GS1 mod-10 check digit validated.
//! * Variable-measure EAN-13 (GS1 prefixes 20–29, "restricted circulation"), printed by scales
//!   and carrying a PLU plus a price or weight. Their layout differs by market and retailer, so it
//!   is configuration ([`VariableMeasureLayout`]), never hard-coded (docs/DESIGN.md §4).
//! * Internal codes — any other short alphanumeric code the retailer prints itself.
//!
//! [`classify_product_code`] is the one entry point a scanner handler needs.

use serde::{Deserialize, Serialize};

use crate::money::Money;

/// Errors from barcode validation and decoding. Messages are meant for the person scanning.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    /// The code is empty.
    #[error("barcode is empty")]
    Empty,
    /// A numeric code was expected but the text has other characters.
    #[error("barcode must contain only digits")]
    NotDigits,
    /// The length does not match any supported kind.
    #[error("barcode has {got} digits, expected {expected}")]
    BadLength {
        /// The accepted length(s), e.g. "8, 12 or 13".
        expected: &'static str,
        /// The actual length.
        got: usize,
    },
    /// The GTIN check digit (last digit) is wrong.
    #[error("check digit is {got}, expected {expected}")]
    CheckDigit {
        /// The check digit computed from the other digits.
        expected: u8,
        /// The check digit found in the code.
        got: u8,
    },
    /// The price/weight verifier digit inside a variable-measure code is wrong.
    #[error("price/weight check digit is {got}, expected {expected}")]
    ValueCheckDigit {
        /// The verifier digit computed from the value digits.
        expected: u8,
        /// The verifier digit found in the code.
        got: u8,
    },
    /// The text is neither a GTIN nor an acceptable internal code.
    #[error("unrecognised code: {0}")]
    Unrecognised(String),
    /// A variable-measure layout is inconsistent.
    #[error("invalid variable-measure layout: {0}")]
    InvalidLayout(String),
}

/// The kind of a valid GTIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GtinKind {
    /// EAN-13 / GTIN-13 (13 digits).
    Ean13,
    /// EAN-8 / GTIN-8 (8 digits).
    Ean8,
    /// UPC-A / GTIN-12 (12 digits).
    UpcA,
}

/// GS1 mod-10 check digit of `body` (the digits **without** the check digit, as numbers 0..=9,
/// not ASCII). Weights 3, 1, 3, … are applied from the rightmost body digit. Used for EAN-13
/// (12-digit body), EAN-8 (7) and UPC-A (11).
///
/// Elements above 9 give a meaningless (but non-panicking) result.
pub fn gtin_check_digit(body: &[u8]) -> u8 {
    let sum = body.iter().rev().enumerate().fold(0u32, |acc, (i, &d)| {
        let w = if i % 2 == 0 { 3 } else { 1 };
        (acc + u32::from(d % 10) * w) % 10
    });
    ((10 - sum) % 10) as u8
}

/// Digits of an all-ASCII-digit string as numbers, or `None`.
fn digit_values(text: &str) -> Option<Vec<u8>> {
    text.bytes()
        .map(|b| b.is_ascii_digit().then(|| b - b'0'))
        .collect()
}

/// Appends the check digit to a 12-digit EAN-13 body.
pub fn ean13_from_body(body12: &str) -> Result<String, BarcodeError> {
    if body12.is_empty() {
        return Err(BarcodeError::Empty);
    }
    let digits = digit_values(body12).ok_or(BarcodeError::NotDigits)?;
    if digits.len() != 12 {
        return Err(BarcodeError::BadLength {
            expected: "12",
            got: digits.len(),
        });
    }
    let check = gtin_check_digit(&digits);
    Ok(format!("{body12}{check}"))
}

/// Validates a complete GTIN (13 digits → EAN-13, 8 → EAN-8, 12 → UPC-A) including its check
/// digit.
pub fn validate_gtin(code: &str) -> Result<GtinKind, BarcodeError> {
    if code.is_empty() {
        return Err(BarcodeError::Empty);
    }
    let digits = digit_values(code).ok_or(BarcodeError::NotDigits)?;
    let kind = match digits.len() {
        13 => GtinKind::Ean13,
        8 => GtinKind::Ean8,
        12 => GtinKind::UpcA,
        n => {
            return Err(BarcodeError::BadLength {
                expected: "8, 12 or 13",
                got: n,
            })
        }
    };
    check_last_digit(&digits)?;
    Ok(kind)
}

fn check_last_digit(digits: &[u8]) -> Result<(), BarcodeError> {
    match digits.split_last() {
        Some((&got, body)) => {
            let expected = gtin_check_digit(body);
            if got == expected {
                Ok(())
            } else {
                Err(BarcodeError::CheckDigit { expected, got })
            }
        }
        None => Err(BarcodeError::Empty),
    }
}

/// What the value field of a variable-measure code holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    /// The price of the item in yuan with `decimals` implied decimals.
    Price,
    /// The weight of the item in kilograms with `decimals` implied decimals.
    Weight,
}

/// Layout of a variable-measure EAN-13 (GS1 prefix 2x):
///
/// `prefix | PLU (plu_digits) | [value check digit] | value (value_digits) | EAN check digit`
///
/// The total must be 13 digits. Layouts are market / retailer configuration;
/// [`VariableMeasureLayout::cn_default`] is just a common example.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, utoipa::ToSchema)]
pub struct VariableMeasureLayout {
    /// Leading digits that select this layout, e.g. `["20", …, "29"]` or `["2"]`. All must start
    /// with `'2'` and have a length that makes the layout add up to 13 digits.
    pub prefixes: Vec<String>,
    /// Number of digits of the PLU / item reference after the prefix.
    pub plu_digits: usize,
    /// Number of digits of the price or weight value.
    pub value_digits: usize,
    /// Whether the value is a price or a weight.
    pub value: MeasureKind,
    /// Implied decimal places of the value: of yuan for prices (at most 2, so prices are whole
    /// fen), of kilograms for weights (at most 3, so weights are whole grams).
    pub decimals: u32,
    /// Some markets put a price/weight verifier digit between the PLU and the value. It is
    /// validated with the GS1 4- or 5-digit price check algorithm (GS1 General Specifications
    /// §7.9.3), so it requires `value_digits` of 4 or 5.
    #[serde(default)]
    pub value_check_digit: bool,
}

impl VariableMeasureLayout {
    /// A layout common on Chinese retail scales: 2-digit prefix `20`–`29`, 5-digit PLU, 5-digit
    /// price in fen (2 decimals: up to ¥999.99), no value check digit, then the EAN check digit.
    /// An example and default, not a rule — configure what the store's scales actually print.
    pub fn cn_default() -> Self {
        VariableMeasureLayout {
            prefixes: (20..=29).map(|p| p.to_string()).collect(),
            plu_digits: 5,
            value_digits: 5,
            value: MeasureKind::Price,
            decimals: 2,
            value_check_digit: false,
        }
    }

    /// Checks that the layout is consistent: at least one prefix, all prefixes numeric and
    /// starting with `2`, each `prefix + PLU + (value check) + value + 1 == 13`, PLU and value at
    /// least one digit, decimals ≤ 2 for prices and ≤ 3 for weights, value check digit only with 4
    /// or 5 value digits.
    pub fn validate(&self) -> Result<(), BarcodeError> {
        let bad = |m: String| Err(BarcodeError::InvalidLayout(m));
        if self.prefixes.is_empty() {
            return bad("at least one prefix is required".into());
        }
        if self.plu_digits == 0 {
            return bad("plu_digits must be at least 1".into());
        }
        if self.value_digits == 0 {
            return bad("value_digits must be at least 1".into());
        }
        let max_decimals = match self.value {
            MeasureKind::Price => 2,
            MeasureKind::Weight => 3,
        };
        if self.decimals > max_decimals {
            return bad(format!(
                "decimals is {}, at most {max_decimals} allowed for {}",
                self.decimals,
                match self.value {
                    MeasureKind::Price => "a price (whole fen)",
                    MeasureKind::Weight => "a weight (whole grams)",
                }
            ));
        }
        if self.value_check_digit && !(4..=5).contains(&self.value_digits) {
            return bad(format!(
                "a value check digit needs 4 or 5 value digits, not {}",
                self.value_digits
            ));
        }
        let check = usize::from(self.value_check_digit);
        for p in &self.prefixes {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return bad(format!("prefix {p:?} must be digits"));
            }
            if !p.starts_with('2') {
                return bad(format!(
                    "prefix {p:?} must start with 2 (GS1 restricted circulation)"
                ));
            }
            let total = p
                .len()
                .saturating_add(self.plu_digits)
                .saturating_add(check)
                .saturating_add(self.value_digits)
                .saturating_add(1);
            if total != 13 {
                return bad(format!(
                    "prefix {p:?} ({}) + PLU ({}) + value check ({check}) + value ({}) + check \
                     digit (1) is {total} digits, must be 13",
                    p.len(),
                    self.plu_digits,
                    self.value_digits
                ));
            }
        }
        Ok(())
    }

    /// The configured prefix `code` starts with, if any.
    fn matching_prefix(&self, code: &str) -> Option<&str> {
        self.prefixes
            .iter()
            .map(String::as_str)
            .filter(|p| !p.is_empty())
            .find(|p| code.starts_with(p))
    }

    /// Decodes a 13-digit code (already known to be all digits) that starts with `prefix`.
    fn decode(&self, code: &str, prefix: &str) -> Result<ScannedCode, BarcodeError> {
        self.validate()?;
        let digits = digit_values(code).ok_or(BarcodeError::NotDigits)?;
        check_last_digit(&digits)?;
        let plu_start = prefix.len();
        let plu_end = plu_start + self.plu_digits;
        let value_start = plu_end + usize::from(self.value_check_digit);
        let value_end = value_start + self.value_digits;
        let malformed = || BarcodeError::InvalidLayout("layout does not fit the code".into());
        let plu = code.get(plu_start..plu_end).ok_or_else(malformed)?;
        let value_digits = digits.get(value_start..value_end).ok_or_else(malformed)?;
        if self.value_check_digit {
            let got = *digits.get(plu_end).ok_or_else(malformed)?;
            let expected = price_check_digit(value_digits).ok_or_else(malformed)?;
            if got != expected {
                return Err(BarcodeError::ValueCheckDigit { expected, got });
            }
        }
        // At most 11 digits, fits easily in i64.
        let value = value_digits
            .iter()
            .fold(0i64, |acc, &d| acc * 10 + i64::from(d));
        let measure = match self.value {
            MeasureKind::Price => Measure::Price(Money::from_fen(
                value * 10i64.pow(2u32.saturating_sub(self.decimals)),
            )),
            MeasureKind::Weight => {
                Measure::WeightGrams(value * 10i64.pow(3u32.saturating_sub(self.decimals)))
            }
        };
        Ok(ScannedCode::VariableMeasure {
            plu: plu.to_string(),
            measure,
            code: code.to_string(),
        })
    }
}

/// Weight "2-": units digit of 2d minus its tens digit (mod 10).
const W2_MINUS: [u8; 10] = [0, 2, 4, 6, 8, 9, 1, 3, 5, 7];
/// Weight "3": units digit of 3d.
const W3: [u8; 10] = [0, 3, 6, 9, 2, 5, 8, 1, 4, 7];
/// Weight "5+": units digit of 5d plus its tens digit (mod 10).
const W5_PLUS: [u8; 10] = [0, 5, 1, 6, 2, 7, 3, 8, 4, 9];
/// Weight "5-": units digit of 5d minus its tens digit (mod 10).
const W5_MINUS: [u8; 10] = [0, 5, 9, 4, 8, 3, 7, 2, 6, 1];

/// GS1 price/weight verifier digit (General Specifications §7.9.3) for a 4- or 5-digit value;
/// `None` for other lengths or non-digit elements.
///
/// * 4 digits: weights 2-, 2-, 3, 5-; the check digit is the units digit of 3 × the sum.
/// * 5 digits: weights 5+, 2-, 5-, 5+, 2-; with `r = (10 − sum mod 10) mod 10`, the check digit
///   is the digit whose 5- product is `r`.
pub fn price_check_digit(value: &[u8]) -> Option<u8> {
    let lookup = |table: &[u8; 10], d: u8| table.get(usize::from(d)).copied();
    match value {
        [a, b, c, d] => {
            let sum = lookup(&W2_MINUS, *a)?
                + lookup(&W2_MINUS, *b)?
                + lookup(&W3, *c)?
                + lookup(&W5_MINUS, *d)?;
            Some((sum * 3) % 10)
        }
        [a, b, c, d, e] => {
            let sum = lookup(&W5_PLUS, *a)?
                + lookup(&W2_MINUS, *b)?
                + lookup(&W5_MINUS, *c)?
                + lookup(&W5_PLUS, *d)?
                + lookup(&W2_MINUS, *e)?;
            let r = (10 - sum % 10) % 10;
            W5_MINUS.iter().position(|&x| x == r).map(|p| p as u8)
        }
        _ => None,
    }
}

/// A decoded price or weight from a variable-measure code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// The printed price of the item.
    Price(Money),
    /// The printed weight in grams.
    WeightGrams(i64),
}

/// The result of classifying a scanned product code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScannedCode {
    /// A valid GTIN (look the SKU up by `code`).
    Gtin {
        /// The full code including the check digit.
        code: String,
        /// EAN-13, EAN-8 or UPC-A.
        kind: GtinKind,
    },
    /// A variable-measure EAN-13 (look the SKU up by `plu`, use `measure` for price/quantity).
    VariableMeasure {
        /// The PLU / item reference digits (leading zeros kept).
        plu: String,
        /// The decoded price or weight.
        measure: Measure,
        /// The full 13-digit code.
        code: String,
    },
    /// A retailer-internal code (look the SKU up by this text).
    Internal(String),
}

/// Maximum length of an internal code.
pub const MAX_INTERNAL_CODE_LEN: usize = 32;

/// Classifies a scanned product code.
///
/// 1. 13 digits starting with a prefix of one of `layouts` (first matching layout wins) →
///    decoded as [`ScannedCode::VariableMeasure`]; the EAN check digit and, when configured,
///    the value check digit are validated, and an invalid layout is an error.
/// 2. Other 8-, 12- or 13-digit numeric codes → validated as GTINs ([`ScannedCode::Gtin`]).
/// 3. Any other ASCII alphanumeric code of 1–32 characters → [`ScannedCode::Internal`]. This
///    includes purely numeric codes of other lengths (e.g. 4–5 digit produce PLUs or 14-digit
///    codes), since those cannot be GTIN-8/12/13.
/// 4. Anything else (empty, whitespace, punctuation, non-ASCII, too long) → error.
///
/// Callers should trim scanner suffixes (CR/LF) before calling.
pub fn classify_product_code(
    code: &str,
    layouts: &[VariableMeasureLayout],
) -> Result<ScannedCode, BarcodeError> {
    if code.is_empty() {
        return Err(BarcodeError::Empty);
    }
    let numeric = code.bytes().all(|b| b.is_ascii_digit());
    if numeric {
        match code.len() {
            13 => {
                for layout in layouts {
                    if let Some(prefix) = layout.matching_prefix(code) {
                        return layout.decode(code, prefix);
                    }
                }
                let kind = validate_gtin(code)?;
                return Ok(ScannedCode::Gtin {
                    code: code.to_string(),
                    kind,
                });
            }
            8 | 12 => {
                let kind = validate_gtin(code)?;
                return Ok(ScannedCode::Gtin {
                    code: code.to_string(),
                    kind,
                });
            }
            _ => {}
        }
    }
    if code.len() <= MAX_INTERNAL_CODE_LEN && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(ScannedCode::Internal(code.to_string()));
    }
    let shown: String = code.chars().take(40).collect();
    Err(BarcodeError::Unrecognised(format!(
        "{shown:?} is not a GTIN or an internal code (1–{MAX_INTERNAL_CODE_LEN} letters or digits)"
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digits(s: &str) -> Vec<u8> {
        digit_values(s).unwrap()
    }

    #[test]
    fn known_vectors() {
        assert_eq!(validate_gtin("4006381333931"), Ok(GtinKind::Ean13));
        assert_eq!(validate_gtin("96385074"), Ok(GtinKind::Ean8));
        assert_eq!(validate_gtin("036000291452"), Ok(GtinKind::UpcA));
        assert_eq!(gtin_check_digit(&digits("400638133393")), 1);
        assert_eq!(gtin_check_digit(&digits("9638507")), 4);
        assert_eq!(gtin_check_digit(&digits("03600029145")), 2);
        assert_eq!(ean13_from_body("400638133393").unwrap(), "4006381333931");
        assert_eq!(gtin_check_digit(&[]), 0);
    }

    #[test]
    fn errors_are_clear() {
        let e = validate_gtin("4006381333937").unwrap_err();
        assert_eq!(
            e,
            BarcodeError::CheckDigit {
                expected: 1,
                got: 7
            }
        );
        assert_eq!(e.to_string(), "check digit is 7, expected 1");
        assert_eq!(validate_gtin(""), Err(BarcodeError::Empty));
        assert_eq!(validate_gtin("12345a78"), Err(BarcodeError::NotDigits));
        assert_eq!(
            validate_gtin("1234567"),
            Err(BarcodeError::BadLength {
                expected: "8, 12 or 13",
                got: 7
            })
        );
        assert!(ean13_from_body("12345").is_err());
        assert!(ean13_from_body("12345678901a").is_err());
        assert!(ean13_from_body("").is_err());
    }

    #[test]
    fn price_check_digit_gs1_examples() {
        assert_eq!(price_check_digit(&[2, 8, 7, 5]), Some(9));
        assert_eq!(price_check_digit(&[1, 4, 6, 8, 5]), Some(6));
        assert_eq!(price_check_digit(&[1, 2, 3]), None);
        assert_eq!(price_check_digit(&[1, 2, 3, 99]), None);
    }

    #[test]
    fn layouts_validate() {
        VariableMeasureLayout::cn_default().validate().unwrap();
        let mut l = VariableMeasureLayout::cn_default();
        l.plu_digits = 6;
        assert!(matches!(l.validate(), Err(BarcodeError::InvalidLayout(_))));
        let mut l = VariableMeasureLayout::cn_default();
        l.prefixes = vec!["30".into()];
        assert!(l.validate().is_err());
        let mut l = VariableMeasureLayout::cn_default();
        l.prefixes = vec!["2a".into()];
        assert!(l.validate().is_err());
        let mut l = VariableMeasureLayout::cn_default();
        l.prefixes.clear();
        assert!(l.validate().is_err());
        let mut l = VariableMeasureLayout::cn_default();
        l.decimals = 3;
        assert!(l.validate().is_err());
        l.value = MeasureKind::Weight;
        l.validate().unwrap();
        l.decimals = 4;
        assert!(l.validate().is_err());
        // 1-digit prefix "2" + 5 PLU + check + 5 value + 1 = 13
        let l = VariableMeasureLayout {
            prefixes: vec!["2".into()],
            plu_digits: 5,
            value_digits: 5,
            value: MeasureKind::Price,
            decimals: 2,
            value_check_digit: true,
        };
        l.validate().unwrap();
        let mut l2 = l.clone();
        l2.value_digits = 6;
        l2.plu_digits = 4;
        assert!(l2.validate().is_err()); // check digit needs 4 or 5 value digits
        let mut l3 = l;
        l3.plu_digits = usize::MAX;
        assert!(l3.validate().is_err());
    }

    #[test]
    fn layout_serde() {
        let json =
            r#"{"prefixes":["2"],"plu_digits":6,"value_digits":5,"value":"weight","decimals":3}"#;
        let l: VariableMeasureLayout = serde_json::from_str(json).unwrap();
        assert!(!l.value_check_digit);
        assert_eq!(l.value, MeasureKind::Weight);
        l.validate().unwrap();
    }

    #[test]
    fn classify_cn_price_code() {
        let layouts = [VariableMeasureLayout::cn_default()];
        // 21 + PLU 00123 + price 01250 (¥12.50) + check
        let code = ean13_from_body("210012301250").unwrap();
        match classify_product_code(&code, &layouts).unwrap() {
            ScannedCode::VariableMeasure {
                plu,
                measure,
                code: c,
            } => {
                assert_eq!(plu, "00123");
                assert_eq!(measure, Measure::Price(Money::from_fen(1250)));
                assert_eq!(c, code);
            }
            other => panic!("unexpected {other:?}"),
        }
        // Wrong EAN check digit.
        let mut bad = code[..12].to_string();
        let wrong = (code.as_bytes()[12] - b'0' + 1) % 10;
        bad.push(char::from(b'0' + wrong));
        assert!(matches!(
            classify_product_code(&bad, &layouts),
            Err(BarcodeError::CheckDigit { .. })
        ));
        // Without layouts the same code is just an EAN-13.
        assert!(matches!(
            classify_product_code(&code, &[]),
            Ok(ScannedCode::Gtin {
                kind: GtinKind::Ean13,
                ..
            })
        ));
    }

    #[test]
    fn classify_weight_with_value_check() {
        let layout = VariableMeasureLayout {
            prefixes: vec!["28".into()],
            plu_digits: 4,
            value_digits: 5,
            value: MeasureKind::Weight,
            decimals: 3,
            value_check_digit: true,
        };
        layout.validate().unwrap();
        // 28 + PLU 1234 + vcheck(14685)=6 + 14685 (14.685 kg)
        let code = ean13_from_body("281234614685").unwrap();
        let got = classify_product_code(&code, std::slice::from_ref(&layout)).unwrap();
        assert_eq!(
            got,
            ScannedCode::VariableMeasure {
                plu: "1234".into(),
                measure: Measure::WeightGrams(14685),
                code: code.clone(),
            }
        );
        let bad = ean13_from_body("281234514685").unwrap();
        assert_eq!(
            classify_product_code(&bad, &[layout]),
            Err(BarcodeError::ValueCheckDigit {
                expected: 6,
                got: 5
            })
        );
    }

    #[test]
    fn classify_weight_decimals_scale() {
        let layout = VariableMeasureLayout {
            prefixes: vec!["29".into()],
            plu_digits: 5,
            value_digits: 5,
            value: MeasureKind::Weight,
            decimals: 2,
            value_check_digit: false,
        };
        let code = ean13_from_body("290000100150").unwrap(); // 1.50 kg
        assert!(matches!(
            classify_product_code(&code, &[layout]),
            Ok(ScannedCode::VariableMeasure {
                measure: Measure::WeightGrams(1500),
                ..
            })
        ));
        let yuan = VariableMeasureLayout {
            decimals: 0,
            ..VariableMeasureLayout::cn_default()
        };
        let code = ean13_from_body("200000100015").unwrap(); // ¥15
        assert!(matches!(
            classify_product_code(&code, &[yuan]),
            Ok(ScannedCode::VariableMeasure {
                measure: Measure::Price(m),
                ..
            }) if m == Money::from_fen(1500)
        ));
    }

    #[test]
    fn classify_invalid_layout_is_error() {
        let mut layout = VariableMeasureLayout::cn_default();
        layout.plu_digits = 9;
        let code = ean13_from_body("210012301250").unwrap();
        assert!(matches!(
            classify_product_code(&code, &[layout]),
            Err(BarcodeError::InvalidLayout(_))
        ));
    }

    #[test]
    fn classify_other_kinds() {
        assert!(matches!(
            classify_product_code("96385074", &[]),
            Ok(ScannedCode::Gtin {
                kind: GtinKind::Ean8,
                ..
            })
        ));
        assert!(matches!(
            classify_product_code("036000291452", &[]),
            Ok(ScannedCode::Gtin {
                kind: GtinKind::UpcA,
                ..
            })
        ));
        assert_eq!(
            classify_product_code("SKU123abc", &[]),
            Ok(ScannedCode::Internal("SKU123abc".into()))
        );
        assert_eq!(
            classify_product_code("4011", &[]),
            Ok(ScannedCode::Internal("4011".into()))
        );
        assert!(classify_product_code("96385075", &[]).is_err());
        assert_eq!(classify_product_code("", &[]), Err(BarcodeError::Empty));
        for bad in ["SKU 1", "SKU-1", " 123", "苹果", &"A".repeat(33)] {
            assert!(
                matches!(
                    classify_product_code(bad, &[]),
                    Err(BarcodeError::Unrecognised(_))
                ),
                "{bad:?}"
            );
        }
    }

    /// Any layout, valid or not (prefixes of any digits or text, any field sizes).
    fn any_layout() -> impl Strategy<Value = VariableMeasureLayout> {
        (
            proptest::collection::vec("2?[0-9]{0,3}|.{0,3}", 0..4),
            0usize..16,
            0usize..16,
            any::<bool>(),
            0u32..8,
            any::<bool>(),
        )
            .prop_map(
                |(prefixes, plu_digits, value_digits, weight, decimals, value_check_digit)| {
                    VariableMeasureLayout {
                        prefixes,
                        plu_digits,
                        value_digits,
                        value: if weight {
                            MeasureKind::Weight
                        } else {
                            MeasureKind::Price
                        },
                        decimals,
                        value_check_digit,
                    }
                },
            )
    }

    /// A valid layout with one prefix, and digits for its PLU and value fields.
    fn label() -> impl Strategy<Value = (VariableMeasureLayout, String, Vec<u8>)> {
        (1usize..=2, any::<bool>(), any::<bool>())
            .prop_flat_map(|(prefix_len, check, weight)| {
                let value_digits = if check { 4usize..=5 } else { 1usize..=8 };
                (Just((prefix_len, check, weight)), value_digits)
            })
            .prop_flat_map(|((prefix_len, check, weight), value_digits)| {
                let plu_digits = 12 - prefix_len - usize::from(check) - value_digits;
                let max_decimals = if weight { 3 } else { 2 };
                (
                    proptest::string::string_regex(&format!("2[0-9]{{{}}}", prefix_len - 1))
                        .expect("a prefix pattern"),
                    proptest::collection::vec(0u8..10, plu_digits),
                    proptest::collection::vec(0u8..10, value_digits),
                    0u32..=max_decimals,
                )
                    .prop_map(move |(prefix, plu, value, decimals)| {
                        let layout = VariableMeasureLayout {
                            prefixes: vec![prefix],
                            plu_digits: plu.len(),
                            value_digits: value.len(),
                            value: if weight {
                                MeasureKind::Weight
                            } else {
                                MeasureKind::Price
                            },
                            decimals,
                            value_check_digit: check,
                        };
                        let plu: String = plu.iter().map(|d| char::from(b'0' + d)).collect();
                        (layout, plu, value)
                    })
            })
    }

    proptest! {
        /// A scanner hands over whatever it read: classification answers every text, under any
        /// configured layouts (invalid ones are an error, never a panic).
        #[test]
        fn classify_never_panics_under_any_layouts(code in any::<String>(), digits in "2[0-9]{12}|[0-9]{1,20}", layouts in proptest::collection::vec(any_layout(), 0..3)) {
            let _ = classify_product_code(&code, &layouts);
            let _ = classify_product_code(&digits, &layouts);
            let _ = classify_product_code(&digits, &[VariableMeasureLayout::cn_default()]);
            let _ = validate_gtin(&code);
            let _ = validate_gtin(&digits);
            let _ = ean13_from_body(&digits);
        }

        /// What a scale prints under a layout reads back as its PLU and price or weight.
        #[test]
        fn scale_labels_roundtrip((layout, plu, value) in label()) {
            prop_assert!(layout.validate().is_ok(), "{:?}", layout);
            let digits = |d: &[u8]| d.iter().map(|d| char::from(b'0' + d)).collect::<String>();
            let check = if layout.value_check_digit {
                price_check_digit(&value).map(|c| c.to_string()).unwrap_or_default()
            } else {
                String::new()
            };
            let body = format!("{}{plu}{check}{}", layout.prefixes[0], digits(&value));
            let code = ean13_from_body(&body).unwrap();
            let n = value.iter().fold(0i64, |acc, &d| acc * 10 + i64::from(d));
            let measure = match layout.value {
                MeasureKind::Price => Measure::Price(Money::from_fen(n * 10i64.pow(2 - layout.decimals))),
                MeasureKind::Weight => Measure::WeightGrams(n * 10i64.pow(3 - layout.decimals)),
            };
            prop_assert_eq!(
                classify_product_code(&code, std::slice::from_ref(&layout)),
                Ok(ScannedCode::VariableMeasure { plu, measure, code: code.clone() })
            );
        }

        #[test]
        fn body_roundtrip(body in "[0-9]{12}") {
            let code = ean13_from_body(&body).unwrap();
            prop_assert_eq!(validate_gtin(&code), Ok(GtinKind::Ean13));
        }

        #[test]
        fn single_substitution_detected(body in "[0-9]{12}", pos in 0usize..13, delta in 1u8..10) {
            let code = ean13_from_body(&body).unwrap();
            let mut bytes = code.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let mutated = String::from_utf8(bytes).unwrap();
            prop_assert!(validate_gtin(&mutated).is_err());
        }

        #[test]
        fn ean8_upca_substitution_detected(body in "[0-9]{11}", pos in 0usize..12, delta in 1u8..10) {
            let digits = digit_values(&body).unwrap();
            let code = format!("{body}{}", gtin_check_digit(&digits));
            prop_assert_eq!(validate_gtin(&code), Ok(GtinKind::UpcA));
            let ean8 = format!("{}{}", &body[..7], gtin_check_digit(&digits[..7]));
            prop_assert_eq!(validate_gtin(&ean8), Ok(GtinKind::Ean8));
            let mut bytes = code.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            prop_assert!(validate_gtin(&String::from_utf8(bytes).unwrap()).is_err());
        }

        #[test]
        fn price_check_digit_detects_single_substitution(v in proptest::collection::vec(0u8..10, 4..=5), pos in 0usize..5, delta in 1u8..10) {
            let c = price_check_digit(&v).unwrap();
            let pos = pos % v.len();
            let mut w = v.clone();
            w[pos] = (w[pos] + delta) % 10;
            prop_assert_ne!(price_check_digit(&w).unwrap(), c);
        }

        #[test]
        fn classify_never_panics(s in ".{0,40}") {
            let layouts = [VariableMeasureLayout::cn_default()];
            let _ = classify_product_code(&s, &layouts);
            let _ = validate_gtin(&s);
            let _ = ean13_from_body(&s);
        }

        #[test]
        fn classify_numeric_never_panics(s in "2[0-9]{12}", plu in 0usize..15, val in 0usize..15, dec in 0u32..5, chk: bool) {
            let layout = VariableMeasureLayout {
                prefixes: vec!["2".into(), "21".into()],
                plu_digits: plu,
                value_digits: val,
                value: MeasureKind::Weight,
                decimals: dec,
                value_check_digit: chk,
            };
            let _ = classify_product_code(&s, &[layout]);
        }
    }
}
