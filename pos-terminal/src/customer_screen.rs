//! What the shopper sees (issue 21): one model of the customer screen ([`CustomerScreen`]),
//! drawn on the pole display ([`pole_rows`], bytes by [`retail_devices::display`]) and served as
//! a page for a second monitor ([`serve`]: a small axum server on the lane's
//! `customer_screen` address, live by Server-Sent Events, no build step).
//!
//! The screen follows the sale: the lines as they are scanned (the last one on the pole
//! display), the counter scale's weight, the total and what is due, the payment prompt (the QR
//! to scan on the page, "confirm on phone" for a payment code), the points the member earns,
//! then "thank you" with the change; while the lane is idle it loops through the welcome and
//! the configured adverts.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use retail_devices::display::row;
use retail_domain::money::Money;
use serde::Serialize;
use tokio::sync::watch;

use crate::lane::Lane;

/// The welcome shown when no advert is configured.
pub const WELCOME: &str = "欢迎光临 WELCOME";

/// One sale line as the shopper sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScreenLine {
    /// The item's name.
    pub name: String,
    /// `2` or `0.456kg`.
    pub qty: String,
    /// The line's amount after discounts.
    pub amount: String,
}

/// What the shopper should see now (both displays).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CustomerScreen {
    /// `idle`, `sale`, `pay_qr`, `pay_code` or `done`.
    pub mode: String,
    /// The sale's lines, oldest first.
    pub lines: Vec<ScreenLine>,
    /// The counter scale's weight (`0.456 kg`), when the lane has a scale.
    pub weight: Option<String>,
    /// The sale's total.
    pub total: Option<String>,
    /// What is still due.
    pub due: Option<String>,
    /// Points the member earns with this sale (or earned with the last).
    pub points: Option<i64>,
    /// The change of the sale just completed.
    pub change: Option<String>,
    /// The payment prompt.
    pub prompt: Option<String>,
    /// The QR payment's URL, while the shopper pays by QR.
    pub qr_url: Option<String>,
    /// The QR payment as an SVG image.
    pub qr_svg: Option<String>,
    /// The welcome or advert shown while idle.
    pub advert: Option<String>,
}

/// The sale just completed, shown until the next one starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastSale {
    /// Change given.
    pub change: Money,
    /// Points the member earned (none: no member).
    pub points: Option<i64>,
}

/// The extras the lane core does not know: the scale, the last sale, the advert turn.
#[derive(Clone, Debug, Default)]
pub struct ScreenExtras {
    /// The counter scale's reading, when the lane has a scale.
    pub weight: Option<String>,
    /// The sale just completed.
    pub last: Option<LastSale>,
    /// The idle lines (empty: [`WELCOME`]).
    pub adverts: Vec<String>,
    /// Which idle line is on (taken modulo their number).
    pub advert_turn: usize,
}

impl CustomerScreen {
    /// The screen for the lane now.
    pub fn build(lane: &Lane, extras: &ScreenExtras) -> Self {
        let mut screen = CustomerScreen {
            weight: extras.weight.clone(),
            ..Self::default()
        };
        let priced = lane.priced();
        screen.lines = lane
            .basket()
            .lines
            .iter()
            .map(|l| ScreenLine {
                name: l.sku.display_name(),
                qty: l.qty_text(),
                amount: priced
                    .and_then(|p| p.lines.iter().find(|x| x.line_no == l.line_no))
                    .map(|p| p.amount.to_string())
                    .unwrap_or_default(),
            })
            .collect();
        if let Some(p) = priced {
            screen.total = Some(p.total.to_string());
            screen.due = Some(lane.due().to_string());
            if lane.basket().member.is_some() {
                screen.points = Some(p.points_earned);
            }
        }
        if let Some(code) = lane.pending_code() {
            screen.mode = "pay_code".into();
            screen.due = Some(code.amount.to_string());
            screen.prompt = Some("请在手机上确认 Confirm on your phone".into());
        } else if let Some(qr) = lane.pending_qr() {
            screen.mode = "pay_qr".into();
            screen.due = Some(qr.amount.to_string());
            screen.prompt = Some("请扫码支付 Scan the QR code to pay".into());
            screen.qr_url = Some(qr.pay_url.clone());
            screen.qr_svg = qr_svg(&qr.pay_url).ok();
        } else if priced.is_some() {
            screen.mode = "sale".into();
            if !lane.basket().payments.is_empty() {
                screen.prompt = Some("请付款 Please pay the amount due".into());
            }
        } else if let Some(last) = &extras.last {
            screen.mode = "done".into();
            screen.change = Some(last.change.to_string());
            screen.points = last.points;
        } else {
            screen.mode = "idle".into();
            screen.advert = Some(if extras.adverts.is_empty() {
                WELCOME.to_owned()
            } else {
                extras.adverts[extras.advert_turn % extras.adverts.len()].clone()
            });
        }
        screen
    }
}

/// The pole display's rows for a screen (before fitting to its width; `\t` separates a label
/// from its right-aligned value).
pub fn pole_rows(screen: &CustomerScreen) -> Vec<String> {
    let total = || row("TOTAL", screen.total.as_deref().unwrap_or("0.00"));
    match screen.mode.as_str() {
        "pay_code" => vec![
            "CONFIRM ON PHONE".into(),
            row("PAYING", screen.due.as_deref().unwrap_or("")),
        ],
        "pay_qr" => vec![
            "SCAN QR TO PAY".into(),
            row("DUE", screen.due.as_deref().unwrap_or("")),
        ],
        "sale" => {
            let first = match (&screen.weight, screen.lines.last()) {
                // The weight on the platter while the last item is a weighed one.
                (Some(weight), Some(last)) if last.qty.ends_with("kg") => row("WEIGHT", weight),
                (_, Some(last)) => row(&last.name, &last.amount),
                (_, None) => String::new(),
            };
            let second = if screen.total == screen.due {
                total()
            } else {
                row("DUE", screen.due.as_deref().unwrap_or(""))
            };
            vec![first, second]
        }
        "done" => vec![
            match screen.points {
                Some(p) if p > 0 => row("THANK YOU", &format!("+{p} PTS")),
                _ => "THANK YOU".into(),
            },
            row("CHANGE", screen.change.as_deref().unwrap_or("0.00")),
        ],
        _ => vec!["WELCOME".into(), screen.advert.clone().unwrap_or_default()],
    }
}

/// The pole display's rows for the lane now (no scale, no adverts).
pub fn rows_for(lane: &Lane, last_change: Option<Money>) -> Vec<String> {
    pole_rows(&CustomerScreen::build(
        lane,
        &ScreenExtras {
            last: last_change.map(|change| LastSale {
                change,
                points: None,
            }),
            ..ScreenExtras::default()
        },
    ))
}

/// A QR code of `data` as an SVG image (one square per dark module, a quiet zone of four).
pub fn qr_svg(data: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M)
        .map_err(|e| format!("cannot make a QR code: {e}"))?;
    let width = code.width();
    let size = width + 8;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" shape-rendering="crispEdges" data-modules="{width}"><rect width="{size}" height="{size}" fill="#fff"/>"##
    );
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            svg.push_str(&format!(
                r#"<rect class="m" x="{}" y="{}" width="1" height="1"/>"#,
                i % width + 4,
                i / width + 4
            ));
        }
    }
    svg.push_str("</svg>");
    Ok(svg)
}

/// Serves the browser customer display on `listener` until the lane stops: `/` the page,
/// `/screen` the screen as JSON, `/events` the screen on every change (Server-Sent Events).
pub async fn serve(
    listener: tokio::net::TcpListener,
    screens: watch::Receiver<CustomerScreen>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", get(page))
        .route("/screen", get(current))
        .route("/events", get(events))
        .with_state(screens);
    axum::serve(listener, app).await
}

/// Binds the browser display's address.
///
/// # Errors
/// When the address cannot be bound.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

async fn page() -> impl IntoResponse {
    Html(PAGE)
}

async fn current(State(screens): State<watch::Receiver<CustomerScreen>>) -> Json<CustomerScreen> {
    Json(screens.borrow().clone())
}

async fn events(
    State(mut screens): State<watch::Receiver<CustomerScreen>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    screens.mark_changed();
    let stream = futures_util::stream::unfold(screens, |mut rx| async move {
        rx.changed().await.ok()?;
        let screen = rx.borrow_and_update().clone();
        let event = Event::default()
            .json_data(&screen)
            .unwrap_or_else(|_| Event::default().data("{}"));
        Some((Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The page: plain HTML, CSS and a script (no build step); it reconnects by itself.
const PAGE: &str = r##"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>顾客显示 Customer display</title>
<style>
body{margin:0;font-family:system-ui,"Noto Sans CJK SC",sans-serif;background:#0b3d2e;color:#fff;height:100vh;display:flex;flex-direction:column}
header{padding:16px 24px;font-size:28px;font-weight:700;background:#08291f}
main{flex:1;display:flex;gap:24px;padding:24px}
#lines{flex:2;background:#fff;color:#222;border-radius:12px;padding:16px;overflow:auto}
#lines table{width:100%;font-size:22px;border-collapse:collapse}
#lines td{padding:6px 4px;border-bottom:1px solid #eee}
#lines td.n,#lines td.a{text-align:right;white-space:nowrap}
aside{flex:1;display:flex;flex-direction:column;gap:16px}
.box{background:#14563f;border-radius:12px;padding:16px;font-size:24px}
.big{font-size:44px;font-weight:800}
#qr svg{width:260px;height:260px;background:#fff}
#advert{font-size:48px;text-align:center;margin:auto}
.hidden{display:none}
</style></head>
<body>
<header>鲜邻超市 · 顾客显示 <span id="mode" data-mode=""></span></header>
<main>
 <div id="idle" class="hidden"><div id="advert"></div></div>
 <div id="lines"><table><tbody id="rows"></tbody></table></div>
 <aside>
  <div class="box" id="weightbox">称重 Weight <div class="big" id="weight">—</div></div>
  <div class="box">合计 Total <div class="big" id="total">0.00</div>应付 Due <span id="due">0.00</span></div>
  <div class="box hidden" id="pointsbox">本单积分 Points <span id="points"></span></div>
  <div class="box hidden" id="promptbox"><div id="prompt"></div><div id="qr"></div></div>
  <div class="box hidden" id="donebox">谢谢惠顾 Thank you · 找零 Change <span id="change"></span></div>
 </aside>
</main>
<script>
function show(s){
  const $=id=>document.getElementById(id);
  $('mode').dataset.mode=s.mode;
  const idle=s.mode==='idle';
  $('idle').className=idle?'':'hidden';
  $('lines').className=idle?'hidden':'';
  $('advert').textContent=s.advert||'';
  const rows=$('rows'); rows.textContent='';
  for(const l of s.lines){const tr=document.createElement('tr');
    for(const [c,t] of [['',l.name],['n',l.qty],['a',l.amount]]){const td=document.createElement('td');td.className=c;td.textContent=t;tr.appendChild(td);}
    rows.appendChild(tr);}
  $('weightbox').className=s.weight?'box':'box hidden';
  $('weight').textContent=s.weight||'—';
  $('total').textContent=s.total||'0.00';
  $('due').textContent=s.due||'0.00';
  $('pointsbox').className=(s.points!=null)?'box':'box hidden';
  $('points').textContent=(s.points!=null)?('+'+s.points):'';
  $('promptbox').className=s.prompt?'box':'box hidden';
  $('prompt').textContent=s.prompt||'';
  $('qr').innerHTML=s.qr_svg||'';
  $('donebox').className=s.mode==='done'?'box':'box hidden';
  $('change').textContent=s.change||'';
}
function connect(){
  const es=new EventSource('/events');
  es.onmessage=e=>show(JSON.parse(e.data));
  es.onerror=()=>{es.close();setTimeout(connect,1000);};
}
connect();
</script>
</body></html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(mode: &str) -> CustomerScreen {
        CustomerScreen {
            mode: mode.into(),
            ..CustomerScreen::default()
        }
    }

    #[test]
    fn pole_rows_follow_the_sale() {
        let mut s = screen("idle");
        s.advert = Some("FRESH EGGS 9.90".into());
        assert_eq!(pole_rows(&s), vec!["WELCOME", "FRESH EGGS 9.90"]);
        let mut s = screen("sale");
        s.lines.push(ScreenLine {
            name: "MILK".into(),
            qty: "2".into(),
            amount: "7.00".into(),
        });
        s.total = Some("7.00".into());
        s.due = Some("7.00".into());
        assert_eq!(
            pole_rows(&s),
            vec![row("MILK", "7.00"), row("TOTAL", "7.00")]
        );
        s.lines.push(ScreenLine {
            name: "APPLES".into(),
            qty: "0.456kg".into(),
            amount: "5.42".into(),
        });
        s.weight = Some("0.456 kg".into());
        s.due = Some("2.00".into());
        assert_eq!(
            pole_rows(&s),
            vec![row("WEIGHT", "0.456 kg"), row("DUE", "2.00")]
        );
        let mut s = screen("done");
        s.change = Some("3.00".into());
        s.points = Some(12);
        assert_eq!(
            pole_rows(&s),
            vec![row("THANK YOU", "+12 PTS"), row("CHANGE", "3.00")]
        );
    }

    #[test]
    fn the_qr_svg_has_one_square_per_dark_module() {
        let svg = qr_svg("https://pay.example/q/1").expect("svg");
        let code = qrcode::QrCode::with_error_correction_level(
            "https://pay.example/q/1",
            qrcode::EcLevel::M,
        )
        .expect("qr");
        let dark = code
            .to_colors()
            .iter()
            .filter(|c| **c == qrcode::Color::Dark)
            .count();
        assert_eq!(svg.matches(r#"class="m""#).count(), dark);
    }
}
