//! The payment code (付款码) a shopper shows at a lane: a barcode/QR of digits whose prefix says
//! which provider issued it. WeChat Pay: 18 digits beginning 10–15. Alipay: 16 to 24 digits
//! beginning 25–30. A scan that is neither is not a payment code (it may be a product).

use serde::{Deserialize, Serialize};

/// Which provider issued a payment code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentCodeProvider {
    /// WeChat Pay.
    WechatPay,
    /// Alipay.
    Alipay,
}

/// The provider of a scanned payment code, or `None` when the text is no payment code.
pub fn classify_payment_code(text: &str) -> Option<PaymentCodeProvider> {
    let text = text.trim();
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = text.get(..2)?.parse().ok()?;
    match (text.len(), prefix) {
        (18, 10..=15) => Some(PaymentCodeProvider::WechatPay),
        (16..=24, 25..=30) => Some(PaymentCodeProvider::Alipay),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wechat_and_alipay_codes_are_told_apart() {
        assert_eq!(
            classify_payment_code("134567890123456789"),
            Some(PaymentCodeProvider::WechatPay)
        );
        assert_eq!(
            classify_payment_code("286543210987654321"),
            Some(PaymentCodeProvider::Alipay)
        );
        assert_eq!(
            classify_payment_code("2812345678901234"),
            Some(PaymentCodeProvider::Alipay)
        );
        // A product barcode (EAN-13), a scale label, too short, letters: not payment codes.
        for text in [
            "6901234567892",
            "2010001012344",
            "13456789012345678",
            "1345678901234567890",
            "13456789012345678x",
            "",
            "１３4567890123456789",
        ] {
            assert_eq!(classify_payment_code(text), None, "{text}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in ".{0,64}") {
            let _ = classify_payment_code(&text);
        }

        /// Any text a scanner hands over (any characters, surrounding spaces and line ends).
        #[test]
        fn any_text_is_a_payment_code_or_not(text in any::<String>()) {
            let found = classify_payment_code(&text);
            if found.is_some() {
                prop_assert!(text.trim().bytes().all(|b| b.is_ascii_digit()));
            }
            prop_assert_eq!(classify_payment_code(&format!(" {text}\r\n")), classify_payment_code(&text));
        }

        #[test]
        fn sixteen_to_24_digits_from_25_to_30_are_alipay(prefix in 25u8..=30, rest in "[0-9]{14,22}") {
            let code = format!("{prefix}{rest}");
            prop_assert_eq!(classify_payment_code(&code), Some(PaymentCodeProvider::Alipay));
        }

        /// Digit strings of any other length or prefix are not payment codes: product barcodes,
        /// scale labels and internal numeric codes stay products.
        #[test]
        fn other_digit_strings_are_not_payment_codes(digits in "[0-9]{1,30}") {
            let prefix: u8 = digits.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
            let wechat = digits.len() == 18 && (10..=15).contains(&prefix);
            let alipay = (16..=24).contains(&digits.len()) && (25..=30).contains(&prefix);
            let expected = match (wechat, alipay) {
                (true, _) => Some(PaymentCodeProvider::WechatPay),
                (_, true) => Some(PaymentCodeProvider::Alipay),
                _ => None,
            };
            prop_assert_eq!(classify_payment_code(&digits), expected);
        }

        #[test]
        fn eighteen_digits_from_10_to_15_are_wechat(prefix in 10u8..=15, rest in "[0-9]{16}") {
            let code = format!("{prefix}{rest}");
            prop_assert_eq!(classify_payment_code(&code), Some(PaymentCodeProvider::WechatPay));
        }
    }
}
