//! The display at an exit gate: what the gate decided and why, in the shopper's sight
//! (docs/DESIGN.md §7–§8). The bytes come from the display's profile in `firmware-config`
//! (`kind = "display"`): `commands.init` once when the gate starts, then for every message
//! `commands.clear`, `commands.home` and the rows, each padded with spaces to `columns` so the
//! display's own wrap moves to the next row (the Epson DM-D overwrite mode). Text is encoded in
//! the profile's `encoding`; a character the display cannot show becomes `?`, and a Chinese
//! character takes two columns (GBK / GB18030 displays).
//!
//! Headlines are Chinese on a Chinese display and English otherwise; the reason (the same text
//! as in the log and the `exit_scan` event) fills the rows below, wrapped at word boundaries.

use encoding_rs::{GB18030, GBK};
use retail_domain::profiles::{DisplayProfile, TextEncoding};
use retail_domain::wire::bus::GateDecision;

/// A gate display's layout and command bytes (from its profile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateDisplay {
    /// Text rows.
    pub rows: usize,
    /// Columns per row.
    pub columns: usize,
    /// Text encoding.
    pub encoding: TextEncoding,
    /// Sent once when the gate starts.
    pub init: Option<Vec<u8>>,
    /// Clears the screen.
    pub clear: Vec<u8>,
    /// Cursor to the top-left position.
    pub home: Vec<u8>,
}

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

impl GateDisplay {
    /// The layout of a display profile.
    pub fn from_profile(profile: &DisplayProfile) -> Self {
        Self {
            rows: usize::from(profile.rows),
            columns: usize::from(profile.columns),
            encoding: profile.encoding,
            init: profile.commands.init.clone(),
            clear: profile.commands.clear.clone(),
            home: profile.commands.home.clone(),
        }
    }

    fn chinese(&self) -> bool {
        matches!(self.encoding, TextEncoding::Gbk | TextEncoding::Gb18030)
    }

    /// The rows of text for a message (before encoding).
    pub fn text(&self, message: Message<'_>) -> Vec<String> {
        let zh = self.chinese();
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
            rows.extend(self.wrap(detail, self.rows.saturating_sub(1)));
        }
        rows.truncate(self.rows);
        rows
    }

    /// Splits `text` into at most `max_rows` rows of at most `columns` display columns, at
    /// spaces where it can.
    fn wrap(&self, text: &str, max_rows: usize) -> Vec<String> {
        let mut rows: Vec<String> = Vec::new();
        let mut current = String::new();
        for word in text.split_whitespace() {
            let candidate = if current.is_empty() {
                word.to_owned()
            } else {
                format!("{current} {word}")
            };
            if self.width(&candidate) <= self.columns {
                current = candidate;
                continue;
            }
            if !current.is_empty() {
                rows.push(std::mem::take(&mut current));
            }
            // A word longer than a row is cut into row-sized pieces.
            let mut piece = String::new();
            for c in word.chars() {
                if self.width(&piece) + self.char_width(c) > self.columns {
                    rows.push(std::mem::take(&mut piece));
                }
                piece.push(c);
            }
            current = piece;
        }
        if !current.is_empty() {
            rows.push(current);
        }
        rows.truncate(max_rows);
        rows
    }

    fn char_width(&self, c: char) -> usize {
        self.encode_char(c).len()
    }

    fn width(&self, text: &str) -> usize {
        text.chars().map(|c| self.char_width(c)).sum()
    }

    /// One character in the display's encoding (`?` when it has no such character).
    fn encode_char(&self, c: char) -> Vec<u8> {
        if c.is_ascii() {
            return vec![if c.is_ascii_control() { b' ' } else { c as u8 }];
        }
        let encoding = match self.encoding {
            TextEncoding::Gbk => GBK,
            TextEncoding::Gb18030 => GB18030,
            TextEncoding::Ascii | TextEncoding::Cp437 => return vec![b'?'],
        };
        let mut buf = [0u8; 4];
        let (bytes, _, unmappable) = encoding.encode(c.encode_utf8(&mut buf));
        if unmappable {
            vec![b'?']
        } else {
            bytes.into_owned()
        }
    }

    /// The bytes that show `message`: clear, home, then every row padded to the width.
    pub fn frame(&self, message: Message<'_>) -> Vec<u8> {
        let mut out = self.clear.clone();
        out.extend_from_slice(&self.home);
        let text = self.text(message);
        for row in 0..self.rows {
            let mut bytes = Vec::with_capacity(self.columns);
            for c in text.get(row).map(String::as_str).unwrap_or("").chars() {
                let encoded = self.encode_char(c);
                if bytes.len() + encoded.len() > self.columns {
                    break;
                }
                bytes.extend_from_slice(&encoded);
            }
            bytes.resize(self.columns, b' ');
            out.extend_from_slice(&bytes);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn display(encoding: TextEncoding) -> GateDisplay {
        GateDisplay {
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
        let frame = d.frame(Message::Verdict(GateDecision::Deny, Some("pass expired")));
        let mut expected = vec![0x0C, 0x0B];
        expected.extend_from_slice(b"STOP: PASS REFUSED  ");
        expected.extend_from_slice(b"pass expired        ");
        assert_eq!(frame, expected);
        // Too long for one row: the reason is cut at a word boundary.
        let frame = d.frame(Message::Verdict(
            GateDecision::Audit,
            Some("basket total 450.00 over 300.00"),
        ));
        assert_eq!(&frame[2..22], b"PLEASE WAIT: CHECK  ");
        assert_eq!(&frame[22..], b"basket total 450.00 ");
        // Chinese on an ASCII display: question marks, never a wrong byte.
        let frame = d.frame(Message::Verdict(GateDecision::Deny, Some("过期 pass")));
        assert_eq!(&frame[22..], b"?? pass             ");
    }

    #[test]
    fn chinese_frames_count_two_columns() {
        let d = display(TextEncoding::Gbk);
        let frame = d.frame(Message::Verdict(
            GateDecision::Audit,
            Some("first scan-and-go visit"),
        ));
        let (headline, _, _) = GBK.encode("请稍候 工作人员核验");
        let mut expected = vec![0x0C, 0x0B];
        // Nine characters of two columns and a space: 19 columns, one of padding.
        assert_eq!(headline.len(), 19);
        expected.extend_from_slice(&headline);
        expected.push(b' ');
        expected.extend_from_slice(b"first scan-and-go   ");
        assert_eq!(frame, expected);
        assert_eq!(frame.len(), 2 + 40);
        // A double-width character never straddles the row end.
        let long = d.wrap("一二三四五六七八九十一", 1);
        assert_eq!(long, vec!["一二三四五六七八九十".to_owned()]);
    }

    #[test]
    fn idle_and_staff() {
        let d = display(TextEncoding::Ascii);
        assert_eq!(
            d.text(Message::Idle),
            vec!["SCAN YOUR EXIT PASS".to_owned()]
        );
        assert_eq!(
            d.text(Message::OpenedByStaff),
            vec!["PLEASE GO AHEAD".to_owned(), "opened by staff".to_owned()]
        );
    }
}
