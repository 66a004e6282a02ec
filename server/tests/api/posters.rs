//! Share posters (issue 17): a product's poster is a 750 × 1334 PNG whose QR code reads back the
//! product's link with the sharer's signed share code; it shows the price a shopper pays now (the group-buy price while one runs) and
//! the sharer's masked name; the same content is served from the cache, byte for byte; a product
//! off shelf or unknown is a 404 and draws nothing.

use reqwest::StatusCode;
use retail_server::app::posters::{self, ProductPosterRequest};
use retail_server::storage;
use uuid::Uuid;

use crate::support::TestApp;
use crate::web::shopper;

/// The product of a SKU.
async fn product_of(app: &TestApp, sku: Uuid) -> Uuid {
    storage::catalog::skus(&app.state.store, &[sku], None)
        .await
        .unwrap()[&sku]
        .product_id
}

/// The text of the one QR code in a PNG.
pub(crate) fn qr_text(png: &[u8]) -> String {
    let img = image::load_from_memory(png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        img.width() as usize,
        img.height() as usize,
        |x, y| img.get_pixel(x as u32, y as u32).0[0],
    );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    grids[0].decode().expect("the QR code decodes").1
}

async fn a_poster_carries_the_price_the_sharer_and_the_link(app: TestApp) {
    let (sku, price) = crate::group_buys::stocked_sku(&app, 50).await;
    let product = product_of(&app, sku).await;
    let phone = "13900190011";
    let member = crate::group_buys::new_member(&app, phone).await;
    let mut b = shopper(&app, phone).await;

    let path = format!("/p/{product}/poster.png?sku={sku}");
    let (status, content_type, png) = b.get_bytes(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("image/png"));
    let img = image::load_from_memory(&png).expect("png");
    assert_eq!(
        (img.width(), img.height()),
        (posters::WIDTH, posters::HEIGHT)
    );
    // The QR code holds the product's link with the member's signed share code.
    let link = qr_text(&png);
    let prefix = format!("{}/p/{product}?sku={sku}&s=", app.url);
    assert!(link.starts_with(&prefix), "{link}");
    let share = retail_server::app::shares::resolve(&app.state, &link[prefix.len()..]).unwrap();
    assert_eq!(share.sharer_id, member);
    assert_eq!(
        share.target,
        retail_server::app::shares::ShareTarget::Product(sku)
    );
    // The same content again: the kept poster, byte for byte.
    let (_, _, again) = b.get_bytes(&path).await;
    assert_eq!(again, png);

    let request = |sharer| ProductPosterRequest {
        product_id: product,
        sku_id: Some(sku),
        location: "SH001".into(),
        sharer,
    };
    let plain = posters::product_poster_content(&app.state, request(Some(member)))
        .await
        .unwrap();
    assert_eq!(plain.sharer.as_deref(), Some("张**"));
    assert_eq!(plain.price_label, "售价");
    assert_eq!((plain.price_fen, plain.regular_fen), (price, None));

    // While a group-buy runs, the poster shows its price with the regular one struck through.
    let group_price = price * 8 / 10;
    crate::group_buys::create_group_buy(&app, sku, group_price, 3, false).await;
    let grouped = posters::product_poster_content(&app.state, request(None))
        .await
        .unwrap();
    assert_eq!(grouped.price_label, "拼团价");
    assert_eq!(
        (grouped.price_fen, grouped.regular_fen, grouped.sharer),
        (group_price, Some(price), None)
    );
    let (status, _, changed) = b.get_bytes(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(changed, png, "a new price draws a new poster");

    // Unknown: a 404 page, no picture.
    let (status, content_type, _) = b
        .get_bytes(&format!("/p/{}/poster.png", Uuid::now_v7()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_ne!(content_type.as_deref(), Some("image/png"));
    // Anonymous visitors get a poster without a sharer.
    let mut anonymous = crate::web::Browser::new(&app);
    let (status, _, anon) = anonymous.get_bytes(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(qr_text(&anon), format!("{}/p/{product}?sku={sku}", app.url));
}
crate::both_backends!(
    a_poster_carries_the_price_the_sharer_and_the_link,
    a_poster_carries_the_price_the_sharer_and_the_link
);
