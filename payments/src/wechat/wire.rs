//! WeChat Pay API v3's JSON bodies and what they map to: trades (`trade_state`), payment-code
//! answers, refunds (`status` / `refund_status`), error bodies (`{code, message}`) and
//! notifications (`event_type` and the decrypted `resource`). Pure functions over bytes, so each
//! is tested (and property-tested) without a network.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::{CodePayOutcome, PaidTrade, RefundOutcome, RefundState, TradeState};

use super::crypto::clip;

/// `amount` of a trade.
#[derive(Debug, Default, Deserialize)]
pub struct TradeAmount {
    /// The order amount in fen.
    pub total: Option<i64>,
    /// Its currency.
    pub currency: Option<String>,
}

/// A trade as the query, the payment-code answer and the payment notification give it.
#[derive(Debug, Default, Deserialize)]
pub struct Transaction {
    /// The merchant id.
    pub mchid: Option<String>,
    /// The app id.
    pub appid: Option<String>,
    /// Our payment id.
    pub out_trade_no: Option<String>,
    /// WeChat Pay's transaction id.
    pub transaction_id: Option<String>,
    /// SUCCESS, NOTPAY, USERPAYING, CLOSED, REVOKED, REFUND, PAYERROR, ACCEPT.
    pub trade_state: Option<String>,
    /// Its description.
    pub trade_state_desc: Option<String>,
    /// When it was paid (RFC 3339).
    pub success_time: Option<String>,
    /// The amount.
    pub amount: Option<TradeAmount>,
}

/// An error body: `{"code": "...", "message": "..."}`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    /// The error code.
    pub code: Option<String>,
    /// Its message.
    pub message: Option<String>,
}

/// `amount` of a refund.
#[derive(Debug, Default, Deserialize)]
pub struct RefundAmount {
    /// The amount refunded, in fen.
    pub refund: Option<i64>,
}

/// A refund as the refund API and the refund notification give it.
#[derive(Debug, Default, Deserialize)]
pub struct Refund {
    /// The merchant id (notifications).
    pub mchid: Option<String>,
    /// Our payment id.
    pub out_trade_no: Option<String>,
    /// Our refund id.
    pub out_refund_no: Option<String>,
    /// WeChat Pay's refund id.
    pub refund_id: Option<String>,
    /// The state in API answers.
    pub status: Option<String>,
    /// The state in notifications.
    pub refund_status: Option<String>,
    /// The amount.
    pub amount: Option<RefundAmount>,
}

/// The encrypted `resource` of a notification.
#[derive(Debug, Default, Deserialize)]
pub struct Resource {
    /// `AEAD_AES_256_GCM`.
    pub algorithm: Option<String>,
    /// base64 of ciphertext ‖ tag.
    pub ciphertext: Option<String>,
    /// The associated data (may be absent or empty).
    pub associated_data: Option<String>,
    /// The 12-byte nonce.
    pub nonce: Option<String>,
}

/// A notification's envelope.
#[derive(Debug, Default, Deserialize)]
pub struct Envelope {
    /// The notification id: a retry carries the same.
    pub id: Option<String>,
    /// TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED, …
    pub event_type: Option<String>,
    /// The encrypted resource.
    pub resource: Option<Resource>,
}

/// Parses a JSON body, naming what it should have been.
pub fn parse<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("{what} is not the expected JSON: {e}"))
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("time {:?} is not RFC 3339", clip(text)))
}

/// A trade in state SUCCESS as a [`PaidTrade`]: it must name its transaction id and amount.
pub fn paid_trade(t: &Transaction) -> Result<PaidTrade, String> {
    let amount = t.amount.as_ref().ok_or("a paid trade without amount")?;
    Ok(PaidTrade {
        out_trade_no: t
            .out_trade_no
            .clone()
            .ok_or("a paid trade without out_trade_no")?,
        transaction_id: t
            .transaction_id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or("a paid trade without transaction_id")?,
        amount_fen: amount.total.ok_or("a paid trade without amount.total")?,
        currency: amount
            .currency
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or("a paid trade without amount.currency")?,
        paid_at: t.success_time.as_deref().map(parse_time).transpose()?,
    })
}

/// The state of a queried trade.
pub fn trade_state(t: &Transaction) -> Result<TradeState, String> {
    let state = t
        .trade_state
        .as_deref()
        .ok_or("a trade without trade_state")?;
    Ok(match state {
        "SUCCESS" => TradeState::Paid(paid_trade(t)?),
        "NOTPAY" => TradeState::NotPaid,
        // ACCEPT: received, the debit not done yet; like USERPAYING, ask again.
        "USERPAYING" | "ACCEPT" => TradeState::UserPaying,
        "CLOSED" | "REVOKED" => TradeState::Closed,
        "REFUND" => TradeState::Refunded,
        "PAYERROR" => TradeState::Failed(
            t.trade_state_desc
                .clone()
                .unwrap_or_else(|| "PAYERROR".into()),
        ),
        other => return Err(format!("unknown trade_state {:?}", clip(other))),
    })
}

/// What a verified answer of `POST /v3/pay/transactions/codepay` comes to. `Ok(None)` means the
/// answer says nothing final (a server error, flow control, an order already paid): the caller
/// reports the provider unavailable and queries.
pub fn code_pay_outcome(status: u16, body: &[u8]) -> Result<Option<CodePayOutcome>, String> {
    // 202 Accepted: the payer must confirm (enter their PIN) on their phone.
    if status == 202 {
        return Ok(Some(CodePayOutcome::UserPaying));
    }
    if (200..300).contains(&status) {
        let trade: Transaction = parse(body, "the payment-code answer")?;
        return match trade.trade_state.as_deref() {
            Some("SUCCESS") => Ok(Some(CodePayOutcome::Paid(paid_trade(&trade)?))),
            Some("USERPAYING") | Some("ACCEPT") => Ok(Some(CodePayOutcome::UserPaying)),
            Some("PAYERROR") | Some("CLOSED") | Some("REVOKED") | Some("NOTPAY") => {
                let code = trade.trade_state.clone().unwrap_or_default();
                Ok(Some(CodePayOutcome::Failed {
                    message: trade
                        .trade_state_desc
                        .clone()
                        .unwrap_or_else(|| code.clone()),
                    code,
                }))
            }
            Some(other) => Err(format!("unknown trade_state {:?}", clip(other))),
            None => Err("a payment-code answer without trade_state".into()),
        };
    }
    if (400..500).contains(&status) {
        let error: ErrorBody = parse(body, "the error answer")?;
        let code = error.code.unwrap_or_default();
        let message = error.message.unwrap_or_default();
        return Ok(match code.as_str() {
            "USERPAYING" => Some(CodePayOutcome::UserPaying),
            // Outcome unknown or not ours to decide: query.
            "SYSTEM_ERROR" | "SYSTEMERROR" | "BANK_ERROR" | "BANKERROR" | "FREQUENCY_LIMITED"
            | "ORDERPAID" | "ORDER_PAID" | "TRADE_ERROR_RETRY" => None,
            "" => return Err(format!("an error answer ({status}) without code")),
            _ if status == 429 => None,
            _ => Some(CodePayOutcome::Failed { code, message }),
        });
    }
    Ok(None)
}

/// The state of a refund, from the API's `status` or a notification's `refund_status`.
pub fn refund_state(text: &str) -> Result<RefundState, String> {
    Ok(match text {
        "SUCCESS" => RefundState::Success,
        "CLOSED" => RefundState::Closed,
        "PROCESSING" => RefundState::Processing,
        "ABNORMAL" => RefundState::Abnormal,
        other => return Err(format!("unknown refund status {:?}", clip(other))),
    })
}

/// A refund as a [`RefundOutcome`].
pub fn refund_outcome(r: &Refund) -> Result<RefundOutcome, String> {
    let state = r
        .status
        .as_deref()
        .or(r.refund_status.as_deref())
        .ok_or("a refund without status")?;
    Ok(RefundOutcome {
        out_refund_no: r
            .out_refund_no
            .clone()
            .ok_or("a refund without out_refund_no")?,
        refund_id: r.refund_id.clone().filter(|id| !id.is_empty()),
        state: refund_state(state)?,
        amount_fen: r
            .amount
            .as_ref()
            .and_then(|a| a.refund)
            .ok_or("a refund without amount.refund")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trade(json: &str) -> Transaction {
        parse(json.as_bytes(), "test").expect("json")
    }

    #[test]
    fn trade_states_map() {
        let paid = trade(
            r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","out_trade_no":"1217752501201407033233368018",
               "transaction_id":"1217752501201407033233368018","trade_type":"MICROPAY","trade_state":"SUCCESS",
               "trade_state_desc":"支付成功","bank_type":"CMC","success_time":"2018-06-08T10:34:56+08:00",
               "payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},"amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"}}"#,
        );
        match trade_state(&paid) {
            Ok(TradeState::Paid(p)) => {
                assert_eq!(p.amount_fen, 100);
                assert_eq!(p.transaction_id, "1217752501201407033233368018");
                assert_eq!(
                    p.paid_at.map(|t| t.to_rfc3339()),
                    Some("2018-06-08T02:34:56+00:00".into())
                );
            }
            other => panic!("{other:?}"),
        }
        let state = |s: &str| trade_state(&trade(&format!(r#"{{"trade_state":"{s}"}}"#)));
        assert_eq!(state("NOTPAY"), Ok(TradeState::NotPaid));
        assert_eq!(state("USERPAYING"), Ok(TradeState::UserPaying));
        assert_eq!(state("CLOSED"), Ok(TradeState::Closed));
        assert_eq!(state("REVOKED"), Ok(TradeState::Closed));
        assert_eq!(state("REFUND"), Ok(TradeState::Refunded));
        assert_eq!(state("PAYERROR"), Ok(TradeState::Failed("PAYERROR".into())));
        assert!(state("SUCCESS").is_err(), "paid without transaction id");
        assert!(state("PAID").is_err());
    }

    #[test]
    fn code_pay_answers_map() {
        assert_eq!(
            code_pay_outcome(202, br#"{"trade_state":"USERPAYING"}"#),
            Ok(Some(CodePayOutcome::UserPaying))
        );
        assert_eq!(
            code_pay_outcome(200, br#"{"trade_state":"USERPAYING"}"#),
            Ok(Some(CodePayOutcome::UserPaying))
        );
        assert_eq!(
            code_pay_outcome(
                403,
                r#"{"code":"USERPAYING","message":"需要用户输入支付密码"}"#.as_bytes()
            ),
            Ok(Some(CodePayOutcome::UserPaying))
        );
        assert_eq!(
            code_pay_outcome(
                403,
                r#"{"code":"NOT_ENOUGH","message":"用户账户余额不足"}"#.as_bytes()
            ),
            Ok(Some(CodePayOutcome::Failed {
                code: "NOT_ENOUGH".into(),
                message: "用户账户余额不足".into()
            }))
        );
        assert_eq!(
            code_pay_outcome(
                403,
                r#"{"code":"ORDERPAID","message":"订单已支付"}"#.as_bytes()
            ),
            Ok(None)
        );
        assert_eq!(
            code_pay_outcome(429, br#"{"code":"FREQUENCY_LIMITED"}"#),
            Ok(None)
        );
        assert_eq!(code_pay_outcome(429, br#"{"code":"SOMETHING"}"#), Ok(None));
        assert!(code_pay_outcome(400, b"<html>").is_err());
        assert!(code_pay_outcome(200, b"{}").is_err());
    }

    #[test]
    fn refunds_map() {
        let r: Refund = parse(
            r#"{"refund_id":"50000000382019052709732678859","out_refund_no":"1217752501201407033233368018",
                "transaction_id":"1217752501201407033233368018","out_trade_no":"1217752501201407033233368018",
                "channel":"ORIGINAL","user_received_account":"招商银行信用卡0403","status":"PROCESSING",
                "amount":{"total":100,"refund":100,"payer_total":90,"payer_refund":90,"currency":"CNY"}}"#.as_bytes(),
            "refund",
        )
        .expect("json");
        let outcome = refund_outcome(&r).expect("maps");
        assert_eq!(outcome.state, RefundState::Processing);
        assert_eq!(outcome.amount_fen, 100);
        for (text, state) in [
            ("SUCCESS", RefundState::Success),
            ("CLOSED", RefundState::Closed),
            ("ABNORMAL", RefundState::Abnormal),
        ] {
            assert_eq!(refund_state(text), Ok(state));
        }
        assert!(refund_state("DONE").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn answer_parsers_never_panic(status in 0u16..700, body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = code_pay_outcome(status, &body);
            if let Ok(t) = parse::<Transaction>(&body, "t") { let _ = trade_state(&t); }
            if let Ok(r) = parse::<Refund>(&body, "r") { let _ = refund_outcome(&r); }
            let _ = parse::<Envelope>(&body, "e");
        }

        #[test]
        fn trade_parsers_never_panic_on_near_json(
            state in "[A-Z]{0,12}", time in ".{0,30}", total in any::<Option<i64>>(), id in proptest::option::of("[0-9]{0,30}"),
        ) {
            let body = serde_json::json!({
                "trade_state": state, "success_time": time, "transaction_id": id,
                "out_trade_no": "x", "amount": {"total": total}
            }).to_string();
            let _ = code_pay_outcome(200, body.as_bytes());
            let t: Transaction = parse(body.as_bytes(), "t").expect("json");
            let _ = trade_state(&t);
        }
    }
}
