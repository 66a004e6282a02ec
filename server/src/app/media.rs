//! Uploaded images — product images and after-sales photos — taken in safely: the bytes must be
//! a JPEG, PNG or WebP within [`ImageLimits`], checked from the header *before* anything is
//! decoded (a small file declaring a huge canvas, a decompression bomb, is refused unread), then
//! decoded under `image::Limits`, turned upright (EXIF orientation), flattened onto white,
//! re-encoded as JPEG (which drops every piece of metadata: GPS, camera, comments) and
//! thumbnailed server-side to [`THUMB_WIDTHS`].
//!
//! Every variant is kept in the [`ImageStore`] under the SHA-256 of its bytes
//! (content-addressed), and served at [`url`] (`/media/{name}`) with a one-year immutable cache
//! header. What a caller keeps in its own tables is the [`StoredImage`] (names and sizes).
//!
//! Use cases: [`store_image`] (check, process, keep; a [`MediaError`] becomes a 422 with a clear
//! code, and nothing is kept), [`load`] (the bytes for serving), [`delete_image`], and
//! [`check_uploaded`] (the photos a shopper's after-sale or review names were kept here).

use std::io::Cursor;

use bytes::Bytes;
use image::{DynamicImage, ImageFormat, ImageReader, RgbImage};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::config::MediaSettings;
use crate::error::{AppError, AppResult};
pub use crate::storage::media::{url, ImageStore, ImageVariant, StoredImage};

/// Widths of the thumbnails made of every image (never wider than the image itself): a list
/// tile (160 CSS px) and a gallery thumbnail take the 320 on a phone's 2× screen, the product
/// page's main image the 960.
pub const THUMB_WIDTHS: [u32; 4] = [160, 320, 480, 960];

/// The longest side of the kept full-size image (larger uploads are scaled down).
pub const FULL_MAX_SIDE: u32 = 2048;

/// JPEG quality of every kept variant.
const JPEG_QUALITY: u8 = 82;

/// The content type of every kept variant.
pub const CONTENT_TYPE: &str = "image/jpeg";

/// What an upload may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest upload, in bytes.
    pub max_bytes: usize,
    /// Most pixels (width × height) the image may declare.
    pub max_pixels: u64,
    /// Longest side the image may declare.
    pub max_side: u32,
}

impl From<&MediaSettings> for ImageLimits {
    fn from(settings: &MediaSettings) -> Self {
        Self {
            max_bytes: settings.max_upload_bytes,
            max_pixels: settings.max_pixels,
            max_side: settings.max_side,
        }
    }
}

/// Why an upload is refused (each a 422 on the field `image`, nothing kept).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// No bytes at all.
    #[error("the image is empty")]
    Empty,
    /// More bytes than [`ImageLimits::max_bytes`].
    #[error("the image is larger than {} MiB", max_bytes / (1024 * 1024))]
    TooLarge {
        /// The limit.
        max_bytes: usize,
    },
    /// Not a JPEG, PNG or WebP (by its content, whatever its name or content type says).
    #[error("the file is not a JPEG, PNG or WebP image")]
    NotAnImage,
    /// The header declares more pixels or a longer side than allowed.
    #[error("the image is {width}×{height} pixels, more than allowed (at most {max_side} pixels a side and {max_megapixels} megapixels)")]
    DimensionsTooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit on a side.
        max_side: u32,
        /// The limit on pixels, in millions.
        max_megapixels: u64,
    },
    /// A JPEG, PNG or WebP header but the image cannot be read (truncated, corrupt).
    #[error("the image is damaged and cannot be read")]
    Unreadable,
}

impl MediaError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "image_empty",
            Self::TooLarge { .. } => "image_too_large",
            Self::NotAnImage => "not_an_image",
            Self::DimensionsTooLarge { .. } => "image_dimensions_too_large",
            Self::Unreadable => "image_unreadable",
        }
    }

    /// The message in Chinese (pages pick it or [`ToString`]'s English with `ctx.t`-style
    /// language choice).
    pub fn message_zh(&self) -> String {
        match self {
            Self::Empty => "图片为空。".into(),
            Self::TooLarge { max_bytes } => {
                format!("图片超过 {} MiB。", max_bytes / (1024 * 1024))
            }
            Self::NotAnImage => "文件不是 JPEG、PNG 或 WebP 图片。".into(),
            Self::DimensionsTooLarge {
                width,
                height,
                max_side,
                max_megapixels,
            } => format!(
                "图片尺寸 {width}×{height} 像素超出限制（每边最多 {max_side} 像素，共最多 {max_megapixels} 百万像素）。"
            ),
            Self::Unreadable => "图片已损坏，无法读取。".into(),
        }
    }
}

/// The Chinese message of a refused upload by its machine code (for pages that only have the
/// [`AppError`]); `None` for other codes.
pub fn message_zh_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "image_empty" => "图片为空。",
        "image_too_large" => "图片文件过大。",
        "not_an_image" => "文件不是 JPEG、PNG 或 WebP 图片。",
        "image_dimensions_too_large" => "图片像素尺寸超出限制。",
        "image_unreadable" => "图片已损坏，无法读取。",
        _ => return None,
    })
}

impl From<MediaError> for AppError {
    fn from(err: MediaError) -> Self {
        AppError::field_code(err.code(), "image", err.to_string())
    }
}

/// An image processed and ready to keep: every variant with its bytes.
#[derive(Debug)]
pub struct ProcessedImage {
    /// The names and sizes.
    pub image: StoredImage,
    /// `(name, bytes)` of every variant (variants of equal bytes once).
    pub objects: Vec<(String, Bytes)>,
}

/// Checks, decodes, re-encodes and thumbnails an upload (CPU work: call it off the async
/// threads, as [`store_image`] does).
pub fn process(bytes: &[u8], limits: &ImageLimits) -> Result<ProcessedImage, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(MediaError::TooLarge {
            max_bytes: limits.max_bytes,
        });
    }
    let format = image::guess_format(bytes).map_err(|_| MediaError::NotAnImage)?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP
    ) {
        return Err(MediaError::NotAnImage);
    }
    // The header alone first: nothing is decoded for an image declaring too many pixels.
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|_| MediaError::Unreadable)?;
    let too_large = MediaError::DimensionsTooLarge {
        width,
        height,
        max_side: limits.max_side,
        max_megapixels: limits.max_pixels / 1_000_000,
    };
    if width == 0
        || height == 0
        || width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(if width == 0 || height == 0 {
            MediaError::Unreadable
        } else {
            too_large
        });
    }
    // Then decoding, under the same limits (in case the header and the data disagree).
    let mut decode_limits = image::Limits::default();
    decode_limits.max_image_width = Some(limits.max_side);
    decode_limits.max_image_height = Some(limits.max_side);
    decode_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(1 << 20));
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decode_limits);
    let decode_error = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => too_large.clone(),
        _ => MediaError::Unreadable,
    };
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    use image::ImageDecoder as _;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut decoded = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    decoded.apply_orientation(orientation);
    let upright = flatten_onto_white(decoded);

    let mut objects: Vec<(String, Bytes)> = Vec::new();
    let full_img = scale_within(&upright, FULL_MAX_SIDE);
    let full = keep(&full_img, &mut objects)?;
    // Each thumbnail from the next larger one: far less work than from the full size each time.
    let mut thumbs = Vec::new();
    let mut source = full_img;
    for &w in THUMB_WIDTHS.iter().rev() {
        if w >= source.width() {
            continue;
        }
        let h = scaled_height(source.width(), source.height(), w);
        let thumb = image::imageops::thumbnail(&source, w, h);
        thumbs.push(keep(&thumb, &mut objects)?);
        source = thumb;
    }
    thumbs.reverse();
    Ok(ProcessedImage {
        image: StoredImage { full, thumbs },
        objects,
    })
}

/// The image as RGB, any transparency flattened onto white (JPEG has no alpha).
fn flatten_onto_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(px[3]);
        for c in 0..3 {
            let v = (u16::from(px[c]) * a + 255 * (255 - a) + 127) / 255;
            out[c] = u8::try_from(v).unwrap_or(u8::MAX);
        }
    }
    rgb
}

/// The height keeping the aspect ratio at `new_width` (at least 1).
fn scaled_height(width: u32, height: u32, new_width: u32) -> u32 {
    let h = (u64::from(height) * u64::from(new_width) + u64::from(width) / 2) / u64::from(width);
    u32::try_from(h.max(1)).unwrap_or(u32::MAX)
}

/// The image scaled down so that neither side exceeds `max_side` (unchanged when it fits).
fn scale_within(image: &RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    if w <= max_side && h <= max_side {
        return image.clone();
    }
    let (nw, nh) = if w >= h {
        (max_side, scaled_height(w, h, max_side))
    } else {
        (scaled_height(h, w, max_side), max_side)
    };
    image::imageops::thumbnail(image, nw, nh)
}

/// Encodes one variant as JPEG and adds it to `objects` under its content address.
fn keep(image: &RgbImage, objects: &mut Vec<(String, Bytes)>) -> Result<ImageVariant, MediaError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(image)
        .map_err(|_| MediaError::Unreadable)?;
    let name = format!("{}.jpg", hex::encode(Sha256::digest(&out)));
    let variant = ImageVariant {
        name: name.clone(),
        width: image.width(),
        height: image.height(),
        bytes: out.len() as u64,
    };
    if !objects.iter().any(|(n, _)| *n == name) {
        objects.push((name, Bytes::from(out)));
    }
    Ok(variant)
}

/// Checks and processes an upload and keeps every variant in `store`. A refused upload is a
/// 422 (see [`MediaError`]) and keeps nothing.
pub async fn store_image_in(
    store: &ImageStore,
    limits: ImageLimits,
    bytes: Bytes,
) -> AppResult<StoredImage> {
    // Refused before any work is handed to a thread.
    if bytes.len() > limits.max_bytes {
        return Err(MediaError::TooLarge {
            max_bytes: limits.max_bytes,
        }
        .into());
    }
    let processed = tokio::task::spawn_blocking(move || process(&bytes, &limits))
        .await
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("image processing")))??;
    for (name, object) in processed.objects {
        store.put(&name, object, CONTENT_TYPE).await?;
    }
    Ok(processed.image)
}

/// [`store_image_in`] the server's store, with the configured limits.
pub async fn store_image(state: &AppState, bytes: Bytes) -> AppResult<StoredImage> {
    store_image_in(
        &state.media,
        ImageLimits::from(&state.settings.media),
        bytes,
    )
    .await
}

/// The bytes of a kept variant (`None`: no such object, or not an object name).
pub async fn load(state: &AppState, name: &str) -> AppResult<Option<Bytes>> {
    Ok(state.media.get(name).await?)
}

/// True for the name of a kept image (`<sha256 hex>.jpg`): what a shopper's request may name as
/// a photo (after-sales, reviews).
pub fn is_image_name(name: &str) -> bool {
    name.strip_suffix(".jpg").is_some_and(|hash| {
        hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Checks the photos a shopper's request names (after-sales, reviews): at most `max`, each the
/// name of an image kept before ([`store_image`], uploaded through `upload_hint`). 422 on the
/// field `photos` otherwise: more than `max` is `too_many_photos`, a name never uploaded
/// `validation_failed`.
pub async fn check_uploaded(
    state: &AppState,
    photos: &[String],
    max: usize,
    upload_hint: &str,
) -> AppResult<()> {
    if photos.len() > max {
        return Err(AppError::field_code(
            "too_many_photos",
            "photos",
            format!("at most {max} photos"),
        ));
    }
    for photo in photos {
        if !is_image_name(photo) || load(state, photo).await?.is_none() {
            return Err(AppError::field(
                "photos",
                format!("not an image uploaded with {upload_hint}"),
            ));
        }
    }
    Ok(())
}

/// Removes every variant of an image. Objects are content-addressed: only call this when no
/// other record names the same image.
pub async fn delete_image(state: &AppState, image: &StoredImage) -> AppResult<()> {
    for variant in image.variants() {
        state.media.delete(&variant.name).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgba, RgbaImage};

    fn limits() -> ImageLimits {
        ImageLimits::from(&MediaSettings::default())
    }

    fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    fn gradient(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        }))
    }

    #[test]
    fn a_jpeg_is_reencoded_and_thumbnailed_to_each_narrower_width() {
        let bytes = encoded(&gradient(1200, 800), ImageFormat::Jpeg);
        let p = process(&bytes, &limits()).expect("processed");
        assert_eq!((p.image.full.width, p.image.full.height), (1200, 800));
        let widths: Vec<u32> = p.image.thumbs.iter().map(|t| t.width).collect();
        assert_eq!(widths, vec![160, 320, 480, 960]);
        assert_eq!(p.image.thumbs[0].height, 107);
        assert_eq!(p.objects.len(), 5);
        for (name, object) in &p.objects {
            assert_eq!(
                *name,
                format!("{}.jpg", hex::encode(Sha256::digest(object)))
            );
            assert_eq!(
                image::guess_format(object).expect("format"),
                ImageFormat::Jpeg
            );
        }
        assert_eq!(p.image.at_least(300).width, 320);
        assert_eq!(p.image.at_least(400).width, 480);
        assert_eq!(p.image.at_least(5000).width, 1200);
        assert!(p.image.srcset().starts_with("/media/"));
    }

    #[test]
    fn large_images_are_scaled_to_the_full_size_limit_and_small_ones_never_up() {
        let p = process(&encoded(&gradient(3000, 1000), ImageFormat::Png), &limits())
            .expect("processed");
        assert_eq!((p.image.full.width, p.image.full.height), (2048, 683));
        let small =
            process(&encoded(&gradient(100, 50), ImageFormat::Png), &limits()).expect("processed");
        assert_eq!(small.image.full.width, 100);
        assert!(small.image.thumbs.is_empty());
    }

    #[test]
    fn transparent_png_and_webp_are_flattened_onto_white() {
        let clear = DynamicImage::ImageRgba8(RgbaImage::from_pixel(20, 10, Rgba([0, 0, 0, 0])));
        for format in [ImageFormat::Png, ImageFormat::WebP] {
            let p = process(&encoded(&clear, format), &limits()).expect("processed");
            let full = image::load_from_memory(&p.objects[0].1).expect("decodes");
            let px = full.to_rgb8().get_pixel(5, 5).0;
            assert!(px.iter().all(|&c| c > 240), "{format:?}: {px:?}");
        }
    }

    #[test]
    fn metadata_is_dropped() {
        // A JPEG carrying EXIF (a stand-in for a phone's GPS position): the kept JPEG has none.
        let mut out = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new(&mut out);
        encoder
            .set_exif_metadata(
                b"MM\x00\x2a\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00GPS 31.2N secret".to_vec(),
            )
            .expect("exif");
        encoder
            .write_image(
                gradient(16, 16).as_bytes(),
                16,
                16,
                image::ExtendedColorType::Rgb8,
            )
            .expect("jpeg");
        assert!(out.windows(6).any(|w| w == b"secret"), "the upload has it");
        let p = process(&out, &limits()).expect("processed");
        let kept = &p.objects[0].1;
        assert!(!kept.windows(6).any(|w| w == b"secret"));
        assert!(!kept.windows(4).any(|w| w == b"Exif"));
    }

    #[test]
    fn photo_names_are_image_names() {
        assert!(is_image_name(&format!("{}.jpg", "ab".repeat(32))));
        assert!(!is_image_name("img-1"));
        assert!(!is_image_name(&format!("{}.jpg", "AB".repeat(32))));
        assert!(!is_image_name(&format!("../{}.jpg", "ab".repeat(31))));
    }

    #[test]
    fn refused_uploads_say_why() {
        let tight = ImageLimits {
            max_bytes: 10_000,
            max_pixels: 10_000,
            max_side: 200,
        };
        assert_eq!(
            process(b"", &tight).expect_err("refused"),
            MediaError::Empty
        );
        assert_eq!(
            process(&[0u8; 10_001], &tight).expect_err("refused").code(),
            "image_too_large"
        );
        assert_eq!(
            process(b"%PDF-1.7 not an image", &tight).expect_err("refused"),
            MediaError::NotAnImage
        );
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        assert_eq!(
            process(gif, &tight).expect_err("refused"),
            MediaError::NotAnImage
        );
        let wide = encoded(&gradient(300, 2), ImageFormat::Png);
        assert_eq!(
            process(&wide, &tight).expect_err("refused").code(),
            "image_dimensions_too_large"
        );
        let many = encoded(&gradient(150, 150), ImageFormat::Png);
        let err = process(&many, &tight).expect_err("refused");
        assert_eq!(err.code(), "image_dimensions_too_large");
        assert!(err.to_string().contains("150×150"));
        assert!(err.message_zh().contains("150×150"));
        let app: AppError = err.into();
        assert_eq!(app.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        let mut truncated = encoded(&gradient(50, 50), ImageFormat::Jpeg);
        truncated.truncate(truncated.len() / 3);
        assert!(process(&truncated, &tight).is_err());
    }
}
