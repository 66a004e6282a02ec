//! The WeChat Pay trade bill (交易账单, `bill_type=ALL`): a CSV text whose first line names the
//! columns, one line per payment (`交易状态` `SUCCESS`) or refund (`REFUND`), every field prefixed
//! with a backquote, then a summary header (`总交易单数,…`) and its line. Columns are found by
//! name, so columns WeChat Pay adds later do not move anything. The summary is checked against
//! the lines (count, settled payments, refunds): a bill that does not add up is refused.

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone, Utc};

use crate::{BillLine, BillLineKind};

/// Beijing time (+08:00), in which WeChat Pay writes times.
pub(crate) fn beijing() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// Yuan with at most two decimals ("0.01", "12", "45.0") as fen; `None` for anything else
/// (signs, exponents, more decimals, more than 15 digits).
pub fn parse_yuan(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 15
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (text.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let mut cents: i64 = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        let value = i64::from(digit - b'0');
        cents += if i == 0 { value * 10 } else { value };
    }
    whole.checked_mul(100)?.checked_add(cents)
}

/// A field without its backquote prefix and surrounding blanks.
fn field(text: &str) -> &str {
    text.trim().trim_start_matches('`').trim()
}

struct Columns {
    time: usize,
    transaction_id: usize,
    out_trade_no: usize,
    state: usize,
    refund_id: usize,
    out_refund_no: usize,
    settled_amount: usize,
    order_amount: Option<usize>,
    refund_amount: usize,
    requested_refund: Option<usize>,
}

impl Columns {
    fn of(header: &[&str]) -> Result<Columns, String> {
        let find = |name: &str| header.iter().position(|h| field(h) == name);
        let need = |name: &str| find(name).ok_or_else(|| format!("the bill has no column {name}"));
        Ok(Columns {
            time: need("交易时间")?,
            transaction_id: need("微信订单号")?,
            out_trade_no: need("商户订单号")?,
            state: need("交易状态")?,
            refund_id: need("微信退款单号")?,
            out_refund_no: need("商户退款单号")?,
            settled_amount: need("应结订单金额")?,
            order_amount: find("订单金额"),
            refund_amount: need("退款金额")?,
            requested_refund: find("申请退款金额"),
        })
    }
}

fn split(line: &str) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    match reader.records().next() {
        Some(Ok(record)) => Ok(record.iter().map(|f| field(f).to_owned()).collect()),
        Some(Err(e)) => Err(format!("a bill line does not parse: {e}")),
        None => Ok(Vec::new()),
    }
}

/// The payment and refund lines of a trade bill, checked against its summary. Payments carry
/// the order amount (`订单金额`, or `应结订单金额` in bills without it), refunds the amount asked
/// (`申请退款金额`, or `退款金额`). Reversed trades (`REVOKED`) moved no money and are left out; any
/// other state is refused.
pub fn parse_trade_bill(text: &str) -> Result<Vec<BillLine>, String> {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or("the bill is empty")?;
    let header = split(header)?;
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let columns = Columns::of(&header_refs)?;
    let mut out = Vec::new();
    let mut rows = 0_i64;
    let mut settled_sum = 0_i64;
    let mut refund_sum = 0_i64;
    let mut summary: Option<(i64, i64, i64)> = None;
    while let Some(line) = lines.next() {
        if field(line).starts_with("总交易单数") {
            let names = split(line)?;
            let values = split(lines.next().ok_or("the bill's summary has no values")?)?;
            let at = |name: &str| -> Result<i64, String> {
                let i = names
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| format!("the bill's summary has no {name}"))?;
                let value = values.get(i).map(String::as_str).unwrap_or("");
                parse_yuan(value).ok_or_else(|| format!("the bill's summary {name} is {value:?}"))
            };
            let count = at("总交易单数")?;
            if count % 100 != 0 {
                return Err("the bill's summary count is not whole".into());
            }
            summary = Some((count / 100, at("应结订单总金额")?, at("退款总金额")?));
            if lines.next().is_some() {
                return Err("the bill goes on after its summary".into());
            }
            break;
        }
        let fields = split(line)?;
        let get = |i: usize| fields.get(i).map(String::as_str).unwrap_or("");
        let amount = |i: usize, name: &str| {
            parse_yuan(get(i)).ok_or_else(|| format!("a bill line's {name} is {:?}", get(i)))
        };
        rows += 1;
        let at = NaiveDateTime::parse_from_str(get(columns.time), "%Y-%m-%d %H:%M:%S")
            .ok()
            .and_then(|t| beijing().from_local_datetime(&t).single())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("a bill line's time is {:?}", get(columns.time)))?;
        let settled = amount(columns.settled_amount, "应结订单金额")?;
        let refunded = amount(columns.refund_amount, "退款金额")?;
        settled_sum = settled_sum.checked_add(settled).ok_or("overflow")?;
        refund_sum = refund_sum.checked_add(refunded).ok_or("overflow")?;
        let out_trade_no = get(columns.out_trade_no).to_owned();
        let transaction_id = get(columns.transaction_id).to_owned();
        if out_trade_no.is_empty() || transaction_id.is_empty() {
            return Err("a bill line has no order number".into());
        }
        match get(columns.state) {
            "SUCCESS" => {
                let amount_fen = match columns.order_amount {
                    Some(i) => amount(i, "订单金额")?,
                    None => settled,
                };
                out.push(bill_line(
                    BillLineKind::Payment,
                    at,
                    out_trade_no,
                    transaction_id,
                    None,
                    None,
                    amount_fen,
                ));
            }
            "REFUND" => {
                let amount_fen = match columns.requested_refund {
                    Some(i) => amount(i, "申请退款金额")?,
                    None => refunded,
                };
                let refund_id = get(columns.refund_id).to_owned();
                let out_refund_no = get(columns.out_refund_no).to_owned();
                if out_refund_no.is_empty() || refund_id.is_empty() {
                    return Err("a refund line has no refund number".into());
                }
                out.push(bill_line(
                    BillLineKind::Refund,
                    at,
                    out_trade_no,
                    transaction_id,
                    Some(out_refund_no),
                    Some(refund_id),
                    amount_fen,
                ));
            }
            "REVOKED" => {}
            other => {
                return Err(format!(
                    "a bill line's state is {:?}",
                    crate::wechat::crypto::clip(other)
                ))
            }
        }
    }
    let (count, settled_total, refund_total) = summary.ok_or("the bill has no summary")?;
    if count != rows || settled_total != settled_sum || refund_total != refund_sum {
        return Err(format!(
            "the bill does not add up: {rows} lines, {settled_sum} fen settled, {refund_sum} fen refunded; \
             its summary says {count}, {settled_total}, {refund_total}"
        ));
    }
    Ok(out)
}

fn bill_line(
    kind: BillLineKind,
    at: DateTime<Utc>,
    out_trade_no: String,
    transaction_id: String,
    out_refund_no: Option<String>,
    refund_id: Option<String>,
    amount_fen: i64,
) -> BillLine {
    BillLine {
        kind,
        at,
        out_trade_no,
        transaction_id,
        out_refund_no,
        refund_id,
        amount_fen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Lines of the trade bill fixture of WeChat Pay's official PHP SDK
    /// (`wechatpay-php`, `tests/fixtures/bill.ALL.csv`): its header, three of its lines (a
    /// refund, a Native payment, a JSAPI payment) and a summary made for these three.
    const FIXTURE: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
`2019-02-19 05:01:46,`wxab8acd895ab1638a,`1921000401,`0,`harryma007,`4200000263201902167700134212,`autotest_20190216081946_82335,`oHkLxtx0vUqe-18p_AXTZ1innxkCY,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50000709672019011908420787722,`REF4200000263201902167700963919,`0.01,`0.00,`ORIGINAL,`SUCCESS,`系统拨测-cheeryin-test_micropay_succ,`,`0.00000,`39.00%,`0.00,`0.01,`
`2019-02-19 01:52:32,`wxab8acd895ab1638a,`1921000401,`0,`,`4200000263201902167700134902,`autotest_20190219015232_89201,`wxab8acb865bb1637e,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.03,`0.00,`0,`0,`0.00,`0.00,`,`,`autotest,`,`0.01000,`39.00%,`0.03,`0.00,`
`2019-02-19 18:19:32,`wxab8acd895ab1638a,`1921000401,`0,`harryma007,`4200000263201902167700134203,`autotest_20190219181930_76386,`oHkLxt5HnHcBDewv4dLc8xivG1DuE,`JSAPI,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`系统拨测-cheeryin-test_micropay_succ,`,`0.00000,`39.00%,`0.01,`0.00,`
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
`3.0,`0.04,`0.01,`0.0,`0.01,`0.04,`0.01
";

    #[test]
    fn parses_the_official_fixture() {
        let lines = parse_trade_bill(FIXTURE).expect("parses");
        assert_eq!(lines.len(), 3);
        let refund = &lines[0];
        assert_eq!(refund.kind, BillLineKind::Refund);
        assert_eq!(refund.out_trade_no, "autotest_20190216081946_82335");
        assert_eq!(refund.transaction_id, "4200000263201902167700134212");
        assert_eq!(
            refund.out_refund_no.as_deref(),
            Some("REF4200000263201902167700963919")
        );
        assert_eq!(
            refund.refund_id.as_deref(),
            Some("50000709672019011908420787722")
        );
        assert_eq!(refund.amount_fen, 1);
        assert_eq!(refund.at.to_rfc3339(), "2019-02-18T21:01:46+00:00");
        assert_eq!(lines[1].kind, BillLineKind::Payment);
        assert_eq!(lines[1].amount_fen, 3);
        assert_eq!(lines[1].out_refund_no, None);
        assert_eq!(lines[2].amount_fen, 1);
    }

    #[test]
    fn a_bill_that_does_not_add_up_is_refused() {
        for (from, to) in [
            ("`3.0,", "`4.0,"),
            ("`0.04,`0.01,", "`0.05,`0.01,"),
            (",`0.04,`0.01,`0.0", ",`0.04,`0.02,`0.0"),
        ] {
            let bad = FIXTURE.replacen(from, to, 1);
            assert_ne!(bad, FIXTURE);
            assert!(parse_trade_bill(&bad).is_err(), "{from} → {to}");
        }
        let no_summary: String = FIXTURE.lines().take(4).collect::<Vec<_>>().join("\n");
        assert!(parse_trade_bill(&no_summary).is_err());
        assert!(parse_trade_bill("").is_err());
        let odd_state = FIXTURE.replacen("`NATIVE,`SUCCESS", "`NATIVE,`MYSTERY", 1);
        assert!(parse_trade_bill(&odd_state).is_err());
    }

    #[test]
    fn yuan_are_exact() {
        assert_eq!(parse_yuan("0.01"), Some(1));
        assert_eq!(parse_yuan("12"), Some(1200));
        assert_eq!(parse_yuan("45.0"), Some(4500));
        assert_eq!(parse_yuan("1234.56"), Some(123_456));
        for bad in [
            "",
            ".5",
            "1.",
            "1.234",
            "-1",
            "+1",
            "1e3",
            "0x10",
            "1,00",
            " 1",
            "9999999999999999",
        ] {
            assert_eq!(parse_yuan(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_bill_parser_never_panics(text in ".{0,600}") {
            let _ = parse_trade_bill(&text);
        }

        #[test]
        fn the_bill_parser_never_panics_on_near_bills(
            keep in 0usize..6,
            noise in "[`0-9.,A-Z:\\- \n]{0,200}",
        ) {
            let mut text: String = FIXTURE.lines().take(keep).collect::<Vec<_>>().join("\n");
            text.push('\n');
            text.push_str(&noise);
            let _ = parse_trade_bill(&text);
        }

        #[test]
        fn yuan_round_trip(fen in 0i64..1_000_000_000_000) {
            let text = format!("{}.{:02}", fen / 100, fen % 100);
            prop_assert_eq!(parse_yuan(&text), Some(fen));
        }
    }
}
