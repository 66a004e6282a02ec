//! Alipay's daily trade bill (`bill_type=trade`): a ZIP holding the detail file
//! (`<pid>_<yyyymmdd>_业务明细.csv`) and a summary (`…_业务明细(汇总).csv`), both CSV in GBK.
//! The detail file has `#` comment lines around one header line and the data lines; fields
//! carry trailing spaces and tabs. Columns are found by their header names (支付宝交易号,
//! 商户订单号, 业务类型, 完成时间, 订单金额（元）, 退款批次号/请求号), never by position.

use std::io::{Cursor, Read};

use crate::{BillLine, BillLineKind};

use super::wire::{parse_beijing_time, yuan_to_fen};

/// The most a bill file may inflate to (a bill of a busy store is a few MB).
const MAX_INFLATED: u64 = 64 * 1024 * 1024;

/// Reads the bill's lines from the downloaded ZIP.
pub(crate) fn parse_bill_zip(zip_bytes: &[u8]) -> Result<Vec<BillLine>, String> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(zip_bytes)).map_err(|e| format!("not a ZIP: {e}"))?;
    let mut details = Vec::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index(index)
            .map_err(|e| format!("ZIP entry {index}: {e}"))?;
        if entry.is_dir() {
            continue;
        }
        let mut bytes = Vec::new();
        entry
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("ZIP entry {index}: {e}"))?;
        if bytes.len() as u64 > MAX_INFLATED {
            return Err(format!(
                "ZIP entry {index} inflates beyond {MAX_INFLATED} bytes"
            ));
        }
        let text = decode_gbk(&bytes).ok_or_else(|| format!("ZIP entry {index} is not GBK"))?;
        if header_line(&text).is_some() {
            details.push(text);
        }
    }
    match details.as_slice() {
        [one] => parse_bill_csv(one),
        [] => Err("no detail file (业务明细) in the bill".into()),
        _ => Err("more than one detail file in the bill".into()),
    }
}

/// GBK (read as GB18030, its superset) to text; `None` on a malformed byte sequence.
fn decode_gbk(bytes: &[u8]) -> Option<String> {
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|text| text.into_owned())
}

/// The detail file's header line, the first that names the Alipay trade number.
fn header_line(text: &str) -> Option<&str> {
    text.lines()
        .map(|line| line.trim_start_matches('\u{feff}'))
        .find(|line| line.trim_start().starts_with("支付宝交易号"))
}

/// Reads the lines of the detail file's text.
pub(crate) fn parse_bill_csv(text: &str) -> Result<Vec<BillLine>, String> {
    let mut lines = text
        .lines()
        .map(|line| line.trim_start_matches('\u{feff}').trim_end_matches('\r'));
    let header = lines
        .by_ref()
        .find(|line| line.trim_start().starts_with("支付宝交易号"))
        .ok_or("no header line (支付宝交易号…)")?;
    // The data lines run from the header to the next comment line.
    let data: Vec<&str> = lines
        .take_while(|line| !line.trim_start().starts_with('#'))
        .filter(|line| !line.trim().is_empty())
        .collect();
    let mut csv_text =
        String::with_capacity(header.len() + data.iter().map(|l| l.len() + 1).sum::<usize>());
    csv_text.push_str(header);
    for line in &data {
        csv_text.push('\n');
        csv_text.push_str(line);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(csv_text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("header line: {e}"))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().starts_with(name))
            .ok_or_else(|| format!("no column {name}"))
    };
    let trade_no_at = column("支付宝交易号")?;
    let out_trade_no_at = column("商户订单号")?;
    let kind_at = column("业务类型")?;
    let finished_at = column("完成时间")?;
    let amount_at = column("订单金额")?;
    let refund_no_at = column("退款批次号/请求号")?;
    let mut out = Vec::with_capacity(data.len());
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record = record.map_err(|e| format!("data line {line}: {e}"))?;
        let field = |at: usize| record.get(at).map(str::trim).unwrap_or("");
        let kind = match field(kind_at) {
            "交易" => BillLineKind::Payment,
            "退款" => BillLineKind::Refund,
            other => return Err(format!("data line {line}: unknown business type {other:?}")),
        };
        let amount_text = field(amount_at);
        let amount_fen = match kind {
            BillLineKind::Payment => yuan_to_fen(amount_text),
            // Refund lines carry the amount given back, written negative.
            BillLineKind::Refund => {
                yuan_to_fen(amount_text.strip_prefix('-').unwrap_or(amount_text))
            }
        }
        .ok_or_else(|| format!("data line {line}: amount {amount_text:?}"))?;
        let at = parse_beijing_time(field(finished_at))
            .ok_or_else(|| format!("data line {line}: completion time {:?}", field(finished_at)))?;
        let transaction_id = field(trade_no_at);
        let out_trade_no = field(out_trade_no_at);
        if transaction_id.is_empty() || out_trade_no.is_empty() {
            return Err(format!("data line {line}: no trade number"));
        }
        let out_refund_no = match kind {
            BillLineKind::Payment => None,
            BillLineKind::Refund => {
                let no = field(refund_no_at);
                if no.is_empty() {
                    return Err(format!(
                        "data line {line}: a refund without its request number"
                    ));
                }
                Some(no.to_owned())
            }
        };
        out.push(BillLine {
            kind,
            at,
            out_trade_no: out_trade_no.to_owned(),
            transaction_id: transaction_id.to_owned(),
            out_refund_no,
            refund_id: None,
            amount_fen,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    /// The layout of a real detail file (as Alipay's documentation and published samples show
    /// it): comments, the header, lines padded with spaces and tabs, the closing comments.
    const SAMPLE: &str = "#支付宝业务明细查询\r\n#账号：[20880000000000010156]\r\n#起始日期：[2024年01月02日 00:00:00]   终止日期：[2024年01月03日 00:00:00]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n2024010222001400001234567890\t,0190c1a2b3c4d5e6f708192a3b4c5d6e\t,交易\t,零售 订单 1,2024-01-02 10:00:00,2024-01-02 10:00:05,S001\t,\t,\t,lane-1\t,138****0000\t,12.34,12.34,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,-0.07,0.00,\r\n2024010222001400001234567890\t,0190c1a2b3c4d5e6f708192a3b4c5d6e\t,退款\t,零售 订单 1,2024-01-02 10:00:00,2024-01-02 11:30:00,S001\t,\t,\t,lane-1\t,138****0000\t,-2.00,-2.00,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,0190c1a2b3c4d5e6f708192a3b4c5d6f\t,0.01,0.00,\r\n#-----------------------------------------业务明细列表结束------------------------------------\r\n#交易合计：1笔，商家实收共12.34元，商家优惠共0.00元\r\n#退款合计：1笔，商家实收共-2.00元，商家优惠共0.00元\r\n#导出时间：[2024年01月03日 09:12:45]\r\n";

    #[test]
    fn a_detail_file_parses() {
        let lines = parse_bill_csv(SAMPLE).expect("parses");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].kind, BillLineKind::Payment);
        assert_eq!(lines[0].transaction_id, "2024010222001400001234567890");
        assert_eq!(lines[0].out_trade_no, "0190c1a2b3c4d5e6f708192a3b4c5d6e");
        assert_eq!(lines[0].amount_fen, 1234);
        assert_eq!(lines[0].at.to_rfc3339(), "2024-01-02T02:00:05+00:00");
        assert_eq!(lines[0].out_refund_no, None);
        assert_eq!(lines[1].kind, BillLineKind::Refund);
        assert_eq!(lines[1].amount_fen, 200);
        assert_eq!(
            lines[1].out_refund_no.as_deref(),
            Some("0190c1a2b3c4d5e6f708192a3b4c5d6f")
        );
    }

    #[test]
    fn a_zip_of_gbk_files_parses() {
        let (gbk, _, unmappable) = encoding_rs::GBK.encode(SAMPLE);
        assert!(!unmappable);
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("20880000000000010156_20240102_业务明细.csv", options)
            .expect("entry");
        zip.write_all(&gbk).expect("written");
        zip.start_file("20880000000000010156_20240102_业务明细(汇总).csv", options)
            .expect("entry");
        let (summary, _, _) =
            encoding_rs::GBK.encode("#支付宝业务汇总查询\r\n门店编号,门店名称,交易订单总笔数\r\n");
        zip.write_all(&summary).expect("written");
        let bytes = zip.finish().expect("finished").into_inner();
        let lines = parse_bill_zip(&bytes).expect("parses");
        assert_eq!(lines.len(), 2);
        assert!(parse_bill_zip(b"PK\x03\x04 not really").is_err());
    }

    #[test]
    fn bad_lines_are_refused_not_skipped() {
        let unknown = SAMPLE.replace(",退款\t,", ",冻结\t,");
        assert!(parse_bill_csv(&unknown).is_err());
        let inexact = SAMPLE.replace(",12.34,12.34,", ",12.345,12.34,");
        assert!(parse_bill_csv(&inexact).is_err());
        let no_time = SAMPLE.replace("2024-01-02 10:00:05", "yesterday");
        assert!(parse_bill_csv(&no_time).is_err());
        assert!(parse_bill_csv("#nothing here\r\n").is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "(#|支付宝交易号|,|交易|退款|\t|\r\n|[0-9.\\- :]|[a-z]){0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_bill_csv(&text);
            let _ = parse_bill_csv(&format!("支付宝交易号,商户订单号,业务类型,完成时间,订单金额,退款批次号/请求号\n{text}"));
            let _ = parse_bill_zip(&bytes);
            let mut zipped = b"PK\x03\x04".to_vec();
            zipped.extend_from_slice(&bytes);
            let _ = parse_bill_zip(&zipped);
        }
    }
}
