//! Share posters (issue 17): a phone-sized PNG a shopper saves and sends to friends — the
//! product's picture, name and price (the flash-sale, group-buy or bargain price while one
//! runs), who recommends it, and a QR code of the product's link carrying the sharer's signed
//! share code (`app::shares`: opens and orders are attributed to them).
//!
//! [`render`] is a pure function from a [`PosterContent`] to PNG bytes, drawn with the configured
//! CJK font (`[media] poster_font`). [`product_poster`] gathers the content from the catalog, the
//! pricing caches and the member, and keeps what it rendered in a bounded in-memory cache keyed by
//! a hash of everything drawn, so a poster is rendered once per content.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use ab_glyph::{Font, FontArc, PxScale, ScaleFont};
use bytes::Bytes;
use image::RgbImage;
use retail_domain::money::Money;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;

/// Poster width in pixels (WeChat's usual share-poster size: 750 × 1334, an iPhone's screen at 2×).
pub const WIDTH: u32 = 750;
/// Poster height in pixels.
pub const HEIGHT: u32 = 1334;
/// The side of the square product picture at the top.
const PICTURE: u32 = 750;
/// The left and right margin of the text.
const MARGIN: i32 = 40;
/// The side of the QR code, in pixels (quiet zone included).
const QR_SIDE: u32 = 240;

const INK: [u8; 3] = [0x22, 0x22, 0x22];
const GREY: [u8; 3] = [0x88, 0x88, 0x88];
const RED: [u8; 3] = [0xe0, 0x2e, 0x24];
const PAPER: [u8; 3] = [0xff, 0xff, 0xff];
const PANEL: [u8; 3] = [0xf5, 0xf5, 0xf5];

/// Everything a poster shows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PosterContent {
    /// The product's name (wrapped to two lines, cut with an ellipsis).
    pub title: String,
    /// What the price is: `拼团价`, `秒杀价`, `会员价` or `售价`.
    pub price_label: String,
    /// The price shown large, in fen.
    pub price_fen: i64,
    /// The regular price, struck through, when the shown price is a promotion's.
    pub regular_fen: Option<i64>,
    /// Who recommends it (a masked nickname), when a member shares.
    pub sharer: Option<String>,
    /// The absolute link the QR code holds.
    pub link: String,
    /// The product's picture (a kept JPEG), when it has one.
    pub picture: Option<Bytes>,
}

/// Why a poster could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PosterError {
    /// The configured font is missing or is not a font.
    #[error("the poster font {0} cannot be used: {1}")]
    Font(PathBuf, String),
    /// The link does not fit a QR code.
    #[error("the link does not fit a QR code: {0}")]
    Link(String),
    /// Encoding the PNG failed.
    #[error("encoding the poster failed: {0}")]
    Encode(String),
}

impl From<PosterError> for AppError {
    fn from(e: PosterError) -> Self {
        AppError::Internal(anyhow::Error::new(e))
    }
}

/// Draws a poster: `WIDTH` × `HEIGHT` pixels, encoded as PNG.
pub fn render(content: &PosterContent, font: &FontArc) -> Result<Vec<u8>, PosterError> {
    let mut canvas = blank(WIDTH, HEIGHT);
    draw_picture(&mut canvas, content, font);

    // The name, two lines at most.
    let title_px = 40.0;
    let lines = wrap(font, title_px, &content.title, WIDTH as i32 - 2 * MARGIN, 2);
    let mut baseline = PICTURE as i32 + 70;
    for line in &lines {
        draw_text(&mut canvas, font, title_px, MARGIN, baseline, INK, line);
        baseline += 54;
    }

    // The price: a red label, the price large, the regular price struck through.
    let price_base = PICTURE as i32 + 230;
    let label_width = draw_text(
        &mut canvas,
        font,
        30.0,
        MARGIN,
        price_base - 8,
        RED,
        &content.price_label,
    );
    let price = format!("¥{}", Money::from_fen(content.price_fen));
    let price_x = MARGIN + label_width + 14;
    let price_width = draw_text(&mut canvas, font, 72.0, price_x, price_base, RED, &price);
    if let Some(regular) = content.regular_fen.filter(|r| *r > content.price_fen) {
        let text = format!("¥{}", Money::from_fen(regular));
        let x = price_x + price_width + 18;
        let width = draw_text(&mut canvas, font, 30.0, x, price_base - 8, GREY, &text);
        fill_rect(&mut canvas, x, price_base - 19, width, 2, GREY);
    }

    // The panel at the bottom: who recommends it, and the QR code.
    let panel_top = HEIGHT as i32 - QR_SIDE as i32 - 60;
    fill_rect(
        &mut canvas,
        0,
        panel_top,
        WIDTH as i32,
        HEIGHT as i32 - panel_top,
        PANEL,
    );
    let qr_x = WIDTH as i32 - MARGIN - QR_SIDE as i32;
    let qr_y = panel_top + 30;
    draw_qr(&mut canvas, &content.link, qr_x, qr_y)?;
    let text_width = qr_x - MARGIN - 20;
    let mut y = panel_top + 100;
    if let Some(sharer) = &content.sharer {
        let line = format!("{sharer} 向你推荐");
        for part in wrap(font, 34.0, &line, text_width, 1) {
            draw_text(&mut canvas, font, 34.0, MARGIN, y, INK, &part);
        }
        y += 60;
    }
    for part in wrap(font, 28.0, "长按识别二维码，查看商品", text_width, 2) {
        draw_text(&mut canvas, font, 28.0, MARGIN, y, GREY, &part);
        y += 42;
    }

    let mut png = Vec::with_capacity(256 * 1024);
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    );
    image::ImageEncoder::write_image(
        encoder,
        canvas.as_raw(),
        WIDTH,
        HEIGHT,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| PosterError::Encode(e.to_string()))?;
    Ok(png)
}

/// A white canvas.
fn blank(width: u32, height: u32) -> RgbImage {
    let raw = vec![0xff; width as usize * height as usize * 3];
    RgbImage::from_raw(width, height, raw).unwrap_or_else(|| RgbImage::new(width, height))
}

/// The product picture, cropped to a square and scaled to fill the top; a grey square with the
/// name's first character when there is none (or it cannot be read).
fn draw_picture(canvas: &mut RgbImage, content: &PosterContent, font: &FontArc) {
    // `DynamicImage`'s own methods (not the generic `imageops` functions) so the work runs
    // in the image crate's code, optimised even in a debug build.
    let picture = content
        .picture
        .as_ref()
        .and_then(|bytes| image::load_from_memory(bytes).ok())
        .map(|img| {
            img.resize_to_fill(PICTURE, PICTURE, image::imageops::FilterType::Triangle)
                .to_rgb8()
        });
    match picture {
        Some(square) if square.width() == WIDTH => {
            // Full-width rows: the picture is the canvas's first bytes.
            let raw = square.as_raw();
            (**canvas)[..raw.len()].copy_from_slice(raw);
        }
        _ => {
            fill_rect(canvas, 0, 0, PICTURE as i32, PICTURE as i32, PANEL);
            let first: String = content.title.chars().take(1).collect();
            let width = text_width(font, 240.0, &first);
            draw_text(
                canvas,
                font,
                240.0,
                (PICTURE as i32 - width) / 2,
                PICTURE as i32 / 2 + 85,
                GREY,
                &first,
            );
        }
    }
}

/// The QR code of `link`, black on white with its quiet zone, `QR_SIDE` pixels at (`x`, `y`).
fn draw_qr(canvas: &mut RgbImage, link: &str, x: i32, y: i32) -> Result<(), PosterError> {
    let code = qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| PosterError::Link(e.to_string()))?;
    let modules = code.width() as i32;
    let quiet = 4;
    let module_px = (QR_SIDE as i32 / (modules + 2 * quiet)).max(1);
    let drawn = module_px * (modules + 2 * quiet);
    let offset = (QR_SIDE as i32 - drawn) / 2;
    fill_rect(canvas, x, y, QR_SIDE as i32, QR_SIDE as i32, PAPER);
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let i = i as i32;
            fill_rect(
                canvas,
                x + offset + (quiet + i % modules) * module_px,
                y + offset + (quiet + i / modules) * module_px,
                module_px,
                module_px,
                INK,
            );
        }
    }
    Ok(())
}

fn fill_rect(canvas: &mut RgbImage, x: i32, y: i32, w: i32, h: i32, color: [u8; 3]) {
    let (cw, ch) = (canvas.width() as i32, canvas.height() as i32);
    let (x0, x1) = (x.clamp(0, cw) as usize, (x + w).clamp(0, cw) as usize);
    let stride = cw as usize * 3;
    for py in y.clamp(0, ch)..(y + h).clamp(0, ch) {
        let row = py as usize * stride;
        for pixel in (**canvas)[row + x0 * 3..row + x1 * 3].chunks_exact_mut(3) {
            pixel.copy_from_slice(&color);
        }
    }
}

/// The advance width of `text` at `px` pixels.
fn text_width(font: &FontArc, px: f32, text: &str) -> i32 {
    let scaled = font.as_scaled(PxScale::from(px));
    text.chars()
        .map(|c| scaled.h_advance(scaled.glyph_id(c)))
        .sum::<f32>()
        .ceil() as i32
}

/// `text` cut into at most `max_lines` lines of at most `max_width` pixels (character by
/// character, as Chinese is set); the last line ends with `…` when text is left over.
fn wrap(font: &FontArc, px: f32, text: &str, max_width: i32, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut candidate = line.clone();
        candidate.push(c);
        if text_width(font, px, &candidate) <= max_width {
            line = candidate;
            continue;
        }
        if lines.len() + 1 == max_lines {
            // The last line: make room for the ellipsis.
            while !line.is_empty() && text_width(font, px, &format!("{line}…")) > max_width {
                line.pop();
            }
            line.push('…');
            lines.push(line);
            return lines;
        }
        lines.push(std::mem::take(&mut line));
        if c != ' ' {
            line.push(c);
        }
        if chars.peek().is_none() {
            break;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Draws `text` with its baseline at `baseline`, starting at `x`; returns the width drawn.
fn draw_text(
    canvas: &mut RgbImage,
    font: &FontArc,
    px: f32,
    x: i32,
    baseline: i32,
    color: [u8; 3],
    text: &str,
) -> i32 {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut caret = x as f32;
    let (cw, ch) = (canvas.width() as i32, canvas.height() as i32);
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        let glyph = id.with_scale_and_position(px, ab_glyph::point(caret, baseline as f32));
        caret += scaled.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let px = bounds.min.x as i32 + gx as i32;
            let py = bounds.min.y as i32 + gy as i32;
            if px < 0 || py < 0 || px >= cw || py >= ch {
                return;
            }
            let pixel = canvas.get_pixel_mut(px as u32, py as u32);
            let a = coverage.clamp(0.0, 1.0);
            for (channel, ink) in pixel.0.iter_mut().zip(color) {
                *channel = (f32::from(*channel) * (1.0 - a) + f32::from(ink) * a).round() as u8;
            }
        });
    }
    (caret - x as f32).ceil() as i32
}

/// The poster font (read once) and the posters rendered recently.
pub struct PosterMaker {
    font_path: PathBuf,
    font: OnceLock<Result<FontArc, String>>,
    cache: Mutex<PosterCache>,
}

struct PosterCache {
    /// Most bytes kept.
    capacity: usize,
    /// Bytes kept now.
    bytes: usize,
    posters: HashMap<[u8; 32], Bytes>,
    order: VecDeque<[u8; 32]>,
}

impl PosterMaker {
    /// A maker drawing with the font at `font_path`, keeping posters of at most `capacity`
    /// bytes in all (the oldest go first; one poster is always kept).
    pub fn new(font_path: PathBuf, capacity: usize) -> Self {
        Self {
            font_path,
            font: OnceLock::new(),
            cache: Mutex::new(PosterCache {
                capacity: capacity.max(1),
                bytes: 0,
                posters: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// The font, read from disk the first time (a blocking read: call from a blocking thread).
    fn font(&self) -> Result<FontArc, PosterError> {
        self.font
            .get_or_init(|| {
                let bytes = std::fs::read(&self.font_path).map_err(|e| e.to_string())?;
                ab_glyph::FontVec::try_from_vec_and_index(bytes, 0)
                    .map(FontArc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| PosterError::Font(self.font_path.clone(), e))
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Bytes> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.posters.get(key).cloned()
    }

    fn keep(&self, key: [u8; 32], png: Bytes) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let size = png.len();
        match cache.posters.insert(key, png) {
            Some(old) => cache.bytes = cache.bytes - old.len() + size,
            None => {
                cache.order.push_back(key);
                cache.bytes += size;
            }
        }
        while cache.bytes > cache.capacity && cache.order.len() > 1 {
            if let Some(old) = cache.order.pop_front() {
                if let Some(gone) = cache.posters.remove(&old) {
                    cache.bytes -= gone.len();
                }
            }
        }
    }

    /// The poster of `content`: from the cache, else rendered on a blocking thread and kept.
    pub async fn poster(self: &Arc<Self>, content: PosterContent) -> AppResult<Bytes> {
        let key = content_key(&content);
        if let Some(png) = self.cached(&key) {
            return Ok(png);
        }
        let maker = Arc::clone(self);
        let png = tokio::task::spawn_blocking(move || -> Result<Bytes, PosterError> {
            let font = maker.font()?;
            render(&content, &font).map(Bytes::from)
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("poster rendering")))??;
        self.keep(key, png.clone());
        Ok(png)
    }
}

/// A hash of everything a poster draws (the picture by its bytes' hash).
fn content_key(content: &PosterContent) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in [
        content.title.as_bytes(),
        content.price_label.as_bytes(),
        content.sharer.as_deref().unwrap_or("\u{0}").as_bytes(),
        content.link.as_bytes(),
    ] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hash.update(content.price_fen.to_le_bytes());
    hash.update(content.regular_fen.unwrap_or(-1).to_le_bytes());
    match &content.picture {
        Some(p) => hash.update(Sha256::digest(p)),
        None => hash.update([0u8; 32]),
    }
    hash.finalize().into()
}

/// What a product poster is asked for.
#[derive(Clone, Debug)]
pub struct ProductPosterRequest {
    /// The product.
    pub product_id: Uuid,
    /// The SKU shown (the product's first on-shelf SKU when `None` or not the product's).
    pub sku_id: Option<Uuid>,
    /// Where prices are read (the shopper's pickup store or the online warehouse).
    pub location: String,
    /// The member sharing, when one is logged in.
    pub sharer: Option<Uuid>,
}

/// The share poster of a product (PNG bytes, see [`product_poster_content`]), from the cache
/// when it was drawn before. 404 when the product is not on shelf.
pub async fn product_poster(state: &AppState, req: ProductPosterRequest) -> AppResult<Bytes> {
    let content = product_poster_content(state, req).await?;
    state.posters.poster(content).await
}

/// What a product's share poster shows: its picture, name and the price a shopper pays now (a
/// running flash sale's price, else the lowest running group-buy price, else the lowest floor
/// of a running bargain, else the member or regular price), the sharer's masked name, and the
/// product's link for the QR code — with the sharer's signed share code when a member shares
/// (`app::shares`). 404 when the product is not on shelf.
pub async fn product_poster_content(
    state: &AppState,
    req: ProductPosterRequest,
) -> AppResult<PosterContent> {
    let detail = state
        .catalog_cache
        .product(&state.store, req.product_id)
        .await?
        .filter(|d| d.status.as_str() == "on_shelf")
        .ok_or_else(|| AppError::not_found("product"))?;
    let sku = req
        .sku_id
        .and_then(|id| {
            detail
                .skus
                .iter()
                .find(|s| s.id == id && s.status.as_str() == "on_shelf")
        })
        .or_else(|| detail.skus.iter().find(|s| s.status.as_str() == "on_shelf"))
        .ok_or_else(|| AppError::not_found("product"))?;
    let prices = state
        .catalog_cache
        .sku_prices(&state.store, &req.location, &[sku.id])
        .await?;
    let price = prices
        .get(&sku.id)
        .ok_or_else(|| AppError::not_found("product price"))?;
    let flash = crate::app::promotions::running_flash_sale(state, sku.id).await?;
    let group = crate::app::group_buys::running_for_sku(state, sku.id)
        .await?
        .into_iter()
        .map(|g| g.group_buy.group_price.fen())
        .min();
    let bargain = crate::app::bargains::running_for_sku(state, sku.id)
        .await?
        .into_iter()
        .map(|b| b.floor_price.fen())
        .min();
    let (price_label, price_fen, regular_fen) = match (flash, group, bargain) {
        (Some(f), _, _) => ("秒杀价", f.price.fen(), Some(price.price_fen)),
        (None, Some(g), _) => ("拼团价", g, Some(price.price_fen)),
        (None, None, Some(b)) => ("砍价低至", b, Some(price.price_fen)),
        (None, None, None) => match price.member_price_fen {
            Some(m) => ("会员价", m, Some(price.price_fen)),
            None => ("售价", price.price_fen, None),
        },
    };
    let sharer = match req.sharer {
        Some(id) => {
            storage::members::find_by_id(&state.store, &state.keys, &state.settings.points, id)
                .await?
                .map(|m| crate::app::group_buys::mask_name(&m.name))
        }
        None => None,
    };
    let images = state
        .catalog_cache
        .product_images(&state.store, detail.id)
        .await?;
    let picture = match images.first() {
        Some(img) => crate::app::media::load(state, &img.image.at_least(PICTURE).name).await?,
        None => None,
    };
    // A member's poster carries their signed share code (attribution, distribution).
    let path = match req.sharer {
        Some(member) => crate::app::shares::product_share_path(state, member, detail.id, sku.id),
        None => format!("/p/{}?sku={}", detail.id, sku.id),
    };
    let link = format!("{}{path}", state.public_url.trim_end_matches('/'));
    Ok(PosterContent {
        title: detail.name_zh.clone(),
        price_label: price_label.into(),
        price_fen,
        regular_fen,
        sharer,
        link,
        picture,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn font() -> Option<FontArc> {
        let bytes = std::fs::read("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").ok()?;
        ab_glyph::FontVec::try_from_vec_and_index(bytes, 0)
            .ok()
            .map(FontArc::new)
    }

    fn content() -> PosterContent {
        PosterContent {
            title:
                "阳光玫瑰青提 约500g 新鲜当季水果 产地直发 甜度高 脆爽多汁 整箱装 冷链配送 坏果包赔"
                    .into(),
            price_label: "拼团价".into(),
            price_fen: 2990,
            regular_fen: Some(3990),
            sharer: Some("张**".into()),
            link: "https://shop.example.cn/p/0190f3a2-0000-7000-8000-000000000001?sku=1".into(),
            picture: None,
        }
    }

    /// The font is installed by `.ci/run` (fonts-wqy-microhei); without it the test says so.
    fn font_or_skip() -> Option<FontArc> {
        let font = font();
        if font.is_none() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the poster font is missing under CI"
            );
            eprintln!("SKIPPED: fonts-wqy-microhei is not installed");
        }
        font
    }

    #[test]
    fn the_poster_is_phone_sized_and_its_qr_reads_back_the_link() {
        let Some(font) = font_or_skip() else { return };
        let png = render(&content(), &font).expect("render");
        let img = image::load_from_memory(&png).expect("png").to_luma8();
        assert_eq!((img.width(), img.height()), (WIDTH, HEIGHT));
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
            img.width() as usize,
            img.height() as usize,
            |x, y| img.get_pixel(x as u32, y as u32).0[0],
        );
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, text) = grids[0].decode().expect("decode");
        assert_eq!(text, content().link);
    }

    #[test]
    fn the_font_covers_the_chinese_drawn() {
        let Some(font) = font_or_skip() else { return };
        for c in "阳光玫瑰青提向你推荐长按识别二维码拼团价秒杀¥…".chars() {
            assert_ne!(font.glyph_id(c).0, 0, "no glyph for {c}");
        }
    }

    #[test]
    fn long_names_wrap_to_two_lines_with_an_ellipsis() {
        let Some(font) = font_or_skip() else { return };
        let lines = wrap(&font, 40.0, &content().title, 670, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with('…'));
        assert!(lines.iter().all(|l| text_width(&font, 40.0, l) <= 670));
        let short = wrap(&font, 40.0, "青提", 670, 2);
        assert_eq!(short, vec!["青提".to_string()]);
    }

    #[test]
    fn text_is_drawn_where_it_is_set() {
        let Some(font) = font_or_skip() else { return };
        let mut canvas = RgbImage::from_pixel(200, 80, Rgb(PAPER));
        let width = draw_text(&mut canvas, &font, 40.0, 10, 50, INK, "拼团");
        assert!((60..=90).contains(&width), "width {width}");
        let inked = canvas.pixels().filter(|p| p.0[0] < 128).count();
        assert!(inked > 200, "only {inked} dark pixels");
        // Nothing drawn left of the start or right of the advance.
        for y in 0..80 {
            assert_eq!(canvas.get_pixel(5, y).0, PAPER);
            assert_eq!(canvas.get_pixel(10 + width as u32 + 5, y).0, PAPER);
        }
    }

    #[test]
    fn the_key_changes_with_anything_drawn() {
        let a = content();
        let mut b = content();
        b.price_fen += 1;
        let mut c = content();
        c.sharer = None;
        let mut d = content();
        d.picture = Some(Bytes::from_static(b"x"));
        let keys = [&a, &b, &c, &d].map(content_key);
        for i in 0..keys.len() {
            for j in i + 1..keys.len() {
                assert_ne!(keys[i], keys[j]);
            }
        }
        assert_eq!(content_key(&a), content_key(&content()));
    }

    #[test]
    fn the_cache_keeps_the_newest_posters_within_its_bytes() {
        let maker = PosterMaker::new(PathBuf::from("/nonexistent/font.ttc"), 10);
        for (i, len) in [4, 4, 4].into_iter().enumerate() {
            maker.keep([i as u8; 32], Bytes::from(vec![0; len]));
        }
        assert!(maker.cached(&[0; 32]).is_none(), "the oldest went");
        assert!(maker.cached(&[1; 32]).is_some() && maker.cached(&[2; 32]).is_some());
        // One poster larger than the whole cache is still kept (alone).
        maker.keep([9; 32], Bytes::from(vec![0; 50]));
        assert!(maker.cached(&[9; 32]).is_some());
        assert!(maker.cached(&[2; 32]).is_none());
    }

    #[test]
    fn a_missing_font_is_a_clear_error() {
        let maker = PosterMaker::new(PathBuf::from("/nonexistent/font.ttc"), 4);
        match maker.font() {
            Err(err) => assert!(err.to_string().contains("/nonexistent/font.ttc")),
            Ok(_) => panic!("a missing font was read"),
        }
    }
}
