//! What the display at an exit gate shows: what the gate decided and why, in the shopper's sight
//! (docs/DESIGN.md §7–§8). The bytes — `commands.init` once when the gate starts, then for every message
//! clear, home and every row padded to the width, in the display's encoding — are
//! [`retail_devices::display::DisplayLayout`]'s, from the display's profile.
//!
//! Headlines are Chinese on a Chinese display and English otherwise; the reason (the same text
//! as in the log and the `exit_scan` event) fills the rows below, wrapped at word boundaries.

use retail_devices::display::DisplayLayout;
use retail_domain::wire::bus::GateDecision;

/// What the display shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// Waiting for a scan.
    Idle,
    /// A decision, with its reason.
    Verdict(GateDecision, Option<&'a str>),
    /// Staff opened the gate by command.
    OpenedByStaff,
}

/// The rows of text for a message (before encoding).
pub fn text(layout: &DisplayLayout, message: Message<'_>) -> Vec<String> {
    let zh = layout.is_chinese();
    let pick = |zh_text: &str, en: &str| if zh { zh_text } else { en }.to_owned();
    let (headline, detail) = match message {
        Message::Idle => (pick("请扫描出场码", "SCAN YOUR EXIT PASS"), None),
        Message::OpenedByStaff => (pick("请通行", "PLEASE GO AHEAD"), Some("opened by staff")),
        Message::Verdict(GateDecision::Open, reason) => {
            (pick("请通行 谢谢光临", "THANK YOU, GO AHEAD"), reason)
        }
        Message::Verdict(GateDecision::Deny, reason) => {
            (pick("禁止通行", "STOP: PASS REFUSED"), reason)
        }
        Message::Verdict(GateDecision::Audit, reason) => {
            (pick("请稍候 工作人员核验", "PLEASE WAIT: CHECK"), reason)
        }
    };
    let mut rows = vec![headline];
    if let Some(detail) = detail {
        rows.extend(layout.wrap(detail, layout.rows.saturating_sub(1)));
    }
    rows.truncate(layout.rows);
    rows
}

/// The bytes that show `message`: clear, home, then every row of the display (blank below the
/// text) padded to the width.
pub fn frame(layout: &DisplayLayout, message: Message<'_>) -> Vec<u8> {
    let mut rows = text(layout, message);
    rows.resize(layout.rows, String::new());
    layout.screen(&rows, false)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use encoding_rs::GBK;
    use retail_domain::profiles::TextEncoding;

    use super::*;

    fn display(encoding: TextEncoding) -> DisplayLayout {
        DisplayLayout {
            rows: 2,
            columns: 20,
            encoding,
            init: Some(vec![0x1B, 0x40]),
            clear: vec![0x0C],
            home: vec![0x0B],
        }
    }

    #[test]
    fn ascii_frames_pad_and_wrap() {
        let d = display(TextEncoding::Ascii);
        let bytes = frame(
            &d,
            Message::Verdict(GateDecision::Deny, Some("pass expired")),
        );
        let mut expected = vec![0x0C, 0x0B];
        expected.extend_from_slice(b"STOP: PASS REFUSED  ");
        expected.extend_from_slice(b"pass expired        ");
        assert_eq!(bytes, expected);
        // Too long for one row: the reason is cut at a word boundary.
        let bytes = frame(
            &d,
            Message::Verdict(GateDecision::Audit, Some("basket total 450.00 over 300.00")),
        );
        assert_eq!(&bytes[2..22], b"PLEASE WAIT: CHECK  ");
        assert_eq!(&bytes[22..], b"basket total 450.00 ");
        // Chinese on an ASCII display: question marks, never a wrong byte.
        let bytes = frame(&d, Message::Verdict(GateDecision::Deny, Some("过期 pass")));
        assert_eq!(&bytes[22..], b"?? pass             ");
    }

    #[test]
    fn chinese_frames_count_two_columns() {
        let d = display(TextEncoding::Gbk);
        let bytes = frame(
            &d,
            Message::Verdict(GateDecision::Audit, Some("first scan-and-go visit")),
        );
        let (headline, _, _) = GBK.encode("请稍候 工作人员核验");
        let mut expected = vec![0x0C, 0x0B];
        // Nine characters of two columns and a space: 19 columns, one of padding.
        assert_eq!(headline.len(), 19);
        expected.extend_from_slice(&headline);
        expected.push(b' ');
        expected.extend_from_slice(b"first scan-and-go   ");
        assert_eq!(bytes, expected);
        assert_eq!(bytes.len(), 2 + 40);
    }

    #[test]
    fn idle_and_staff() {
        let d = display(TextEncoding::Ascii);
        assert_eq!(
            text(&d, Message::Idle),
            vec!["SCAN YOUR EXIT PASS".to_owned()]
        );
        assert_eq!(
            text(&d, Message::OpenedByStaff),
            vec!["PLEASE GO AHEAD".to_owned(), "opened by staff".to_owned()]
        );
        // An idle frame still fills both rows.
        assert_eq!(frame(&d, Message::Idle).len(), 2 + 40);
    }
}
