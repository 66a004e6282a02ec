//! Uploaded images (issue 16): kept content-addressed in the data folder or an S3-compatible
//! bucket (a private Moto server), served at `/media/{name}` with a year-long immutable cache,
//! revalidated by `ETag`, never with a session cookie; refused uploads (oversized, not an image,
//! a decompression bomb) keep nothing.

use std::io::Cursor;

use bytes::Bytes;
use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::StatusCode;
use retail_server::app::media::{self, ImageLimits};
use retail_server::storage::media::ImageStore;
use retail_testkit::s3::S3Server;

use crate::both_backends;
use crate::support::TestApp;

/// A JPEG photo of `w`×`h` pixels (a gradient, so that it compresses like a photo would not).
pub(crate) fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 256) as u8])
    }));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// The files kept in a server's `data_dir/media/` (none when the folder does not exist).
pub(crate) fn media_files(app: &TestApp) -> Vec<String> {
    match std::fs::read_dir(app.settings.data_dir.join("media")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

async fn served_with_immutable_cache_and_revalidated(app: TestApp) {
    let image = media::store_image(&app.state, Bytes::from(jpeg(1000, 600)))
        .await
        .unwrap();
    assert_eq!(image.thumbs.len(), 4);
    let mut files = media_files(&app);
    files.sort();
    let mut names: Vec<String> = image.variants().map(|v| v.name.clone()).collect();
    names.sort();
    assert_eq!(files, names, "every variant kept under its content address");

    let thumb = image.at_least(160);
    let response = app
        .client
        .get(format!("{}{}", app.url, thumb.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        headers.get("set-cookie").is_none(),
        "no cookie on a cached image"
    );
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len() as u64, thumb.bytes);
    let decoded = image::load_from_memory(&body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (160, 96));

    let again = app
        .client
        .get(format!("{}{}", app.url, thumb.url()))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());

    for missing in [
        format!("/media/{}.jpg", "0".repeat(64)),
        "/media/..%2Fsecrets.toml".to_owned(),
        "/media/secrets.toml".to_owned(),
    ] {
        let response = app
            .client
            .get(format!("{}{missing}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
    }

    media::delete_image(&app.state, &image).await.unwrap();
    assert!(media_files(&app).is_empty());
}
both_backends!(
    images_are_served_with_an_immutable_cache_and_revalidated,
    served_with_immutable_cache_and_revalidated
);

/// A PNG declaring `w`×`h` RGB pixels in a few dozen bytes (a decompression bomb's header).
pub(crate) fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend(kind);
        out.extend(data);
        let mut crc = 0xffff_ffffu32;
        for &b in kind.iter().chain(data) {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        out.extend((!crc).to_be_bytes());
        out
    }
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    out.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    out.extend(chunk(b"IEND", b""));
    out
}

async fn refused_uploads_keep_nothing(app: TestApp) {
    let limit = app.settings.media.max_upload_bytes;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("image_too_large", vec![0xff; limit + 1]),
        ("not_an_image", b"%PDF-1.7\n not a photo".to_vec()),
        (
            "not_an_image",
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
        ),
        ("image_dimensions_too_large", png_declaring(60_000, 60_000)),
        ("image_dimensions_too_large", png_declaring(20_000, 10)),
        ("image_empty", Vec::new()),
    ];
    for (code, bytes) in cases {
        let err = media::store_image(&app.state, Bytes::from(bytes))
            .await
            .unwrap_err();
        assert_eq!(err.code(), code);
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY, "{code}");
    }
    assert!(media_files(&app).is_empty(), "nothing kept");
}
both_backends!(
    oversized_non_image_and_bomb_uploads_keep_nothing,
    refused_uploads_keep_nothing
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_bucket_keeps_and_serves_images() {
    let Some(s3) = S3Server::start().await.unwrap() else {
        return;
    };
    let settings = s3.settings("retail-media-test");
    let app = TestApp::sqlite_with(|s| s.media.s3 = settings).await;
    assert!(matches!(app.state.media, ImageStore::Bucket(_)));
    app.state.media.create_bucket().await.unwrap();

    let image = media::store_image(&app.state, Bytes::from(jpeg(800, 800)))
        .await
        .unwrap();
    assert!(media_files(&app).is_empty(), "nothing in the data folder");
    // Straight from the bucket, signed.
    let kept = app
        .state
        .media
        .get(&image.full.name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.len() as u64, image.full.bytes);
    // And through the server.
    let response = app
        .client
        .get(format!("{}{}", app.url, image.at_least(480).url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.unwrap();
    assert_eq!(image::load_from_memory(&body).unwrap().width(), 480);

    // Refused uploads reach no bucket; deleting removes every variant.
    let bomb = media::store_image_in(
        &app.state.media,
        ImageLimits::from(&app.settings.media),
        Bytes::from(png_declaring(60_000, 60_000)),
    )
    .await;
    assert!(bomb.is_err());
    media::delete_image(&app.state, &image).await.unwrap();
    for variant in image.variants() {
        assert!(app.state.media.get(&variant.name).await.unwrap().is_none());
    }
}

/// The demo's first product (any will do).
async fn a_product(app: &TestApp, token: &str) -> String {
    let (status, page) = app.get("/api/v1/products?limit=1", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"][0]["id"].as_str().unwrap().to_owned()
}

async fn upload(
    app: &TestApp,
    token: &str,
    product: &str,
    client_id: uuid::Uuid,
    bytes: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let response = app
        .client
        .post(format!(
            "{}/api/v1/products/{product}/images?client_id={client_id}",
            app.url
        ))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

async fn product_images_over_the_api(app: TestApp) {
    let token = app.login("admin").await;
    let product = a_product(&app, &token).await;
    let first_id = retail_domain::ids::new_id();
    let (status, first) = upload(&app, &token, &product, first_id, jpeg(640, 480)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["image"]["full"]["width"], 640);
    // The same client id again: the same image, nothing new.
    let (status, again) = upload(&app, &token, &product, first_id, jpeg(640, 480)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    let (_, second) = upload(
        &app,
        &token,
        &product,
        retail_domain::ids::new_id(),
        jpeg(300, 300),
    )
    .await;
    let (status, listed) = app
        .get(&format!("/api/v1/products/{product}/images"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["id"], first["id"]);
    // Reordered: the second first; the shop's index shows it.
    let (status, reordered) = app
        .put(
            &format!("/api/v1/products/{product}/images/order"),
            Some(&token),
            serde_json::json!({ "order": [second["id"], first["id"]] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reordered}");
    assert_eq!(reordered[0]["id"], second["id"]);
    let (status, refused) = app
        .put(
            &format!("/api/v1/products/{product}/images/order"),
            Some(&token),
            serde_json::json!({ "order": [second["id"]] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, removed) = app
        .delete(
            &format!(
                "/api/v1/products/{product}/images/{}",
                second["id"].as_str().unwrap()
            ),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    let (_, listed) = app
        .get(&format!("/api/v1/products/{product}/images"), Some(&token))
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (_, audit) = app
        .get(&format!("/api/v1/audit?entity_id={product}"), Some(&token))
        .await;
    let actions = audit.to_string();
    for action in [
        "product.image.add",
        "product.image.move",
        "product.image.remove",
    ] {
        assert!(actions.contains(action), "{action} audited: {actions}");
    }
    // A cashier may not.
    let cashier = app.login("cashier1.sh001").await;
    let (status, _) = upload(
        &app,
        &cashier,
        &product,
        retail_domain::ids::new_id(),
        jpeg(64, 64),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
both_backends!(
    head_office_uploads_orders_and_removes_product_images,
    product_images_over_the_api
);

async fn bad_uploads_over_the_api(app: TestApp) {
    let token = app.login("admin").await;
    let product = a_product(&app, &token).await;
    let limit = app.settings.media.max_upload_bytes;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("image_too_large", vec![0xff; limit + 1]),
        ("not_an_image", b"<html>not an image</html>".to_vec()),
        ("image_dimensions_too_large", png_declaring(60_000, 60_000)),
    ];
    for (code, bytes) in cases {
        let (status, body) =
            upload(&app, &token, &product, retail_domain::ids::new_id(), bytes).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {body}");
        assert_eq!(body["error"]["code"], code);
        assert!(body["error"]["fields"]["image"].is_string(), "{body}");
    }
    assert!(media_files(&app).is_empty(), "nothing kept");
    let (_, listed) = app
        .get(&format!("/api/v1/products/{product}/images"), Some(&token))
        .await;
    assert_eq!(listed, serde_json::json!([]));
}
both_backends!(
    oversized_non_image_and_huge_uploads_are_refused_over_the_api,
    bad_uploads_over_the_api
);
