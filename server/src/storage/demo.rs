//! Bulk insert of the demo chain in one transaction.

use uuid::Uuid;

use super::stock::{Movement, MovementKind};
use super::{insert_rows, now_ms, Store};
use crate::demo_data::{DemoChain, DemoLocationKind, DemoRole};
use crate::error::AppResult;
use crate::secrets::Keys;

/// Deterministic ids for demo rows, so reloading the demo gives the same ids.
fn demo_id(kind: &str, key: &str) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("retail-demo:{kind}:{key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // Shape it as a UUIDv7 (time bits from 2026-01-01) so it passes client-id checks.
    let ts: u64 = 1_767_225_600_000;
    bytes[..6].copy_from_slice(&ts.to_be_bytes()[2..]);
    bytes[6] = 0x70 | (bytes[6] & 0x0f);
    bytes[8] = 0x80 | (bytes[8] & 0x3f);
    Uuid::from_bytes(bytes)
}

/// Inserts the whole chain: locations, staff, categories, products, SKUs, barcodes, store prices,
/// opening stock (as `opening` movements), members with opening points and balance, the
/// recharge packages, and the catalog feed.
pub async fn load(
    store: &Store,
    keys: &Keys,
    chain: &DemoChain,
    password_hash: &str,
    pin_hash: &str,
) -> AppResult<()> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    insert_rows(
        &mut tx,
        "locations",
        &[
            "id",
            "kind",
            "name_zh",
            "name_en",
            "city",
            "address",
            "created_at",
        ],
        &chain.locations,
        |q, l| {
            let kind = match l.kind {
                DemoLocationKind::HeadOffice => "head_office",
                DemoLocationKind::Warehouse => "warehouse",
                DemoLocationKind::Store => "store",
            };
            q.bind(l.code)
                .bind(kind)
                .bind(l.name_zh.as_str())
                .bind(l.name_en.as_str())
                .bind(l.city_zh.as_str())
                .bind(l.address_zh.as_str())
                .bind(now)
        },
    )
    .await?;
    insert_rows(
        &mut tx,
        "staff",
        &[
            "id",
            "username",
            "display_name",
            "password_hash",
            "pin_hash",
            "role",
            "location_id",
            "created_at",
        ],
        &chain.staff,
        |q, s| {
            let role = match s.role {
                DemoRole::HeadOfficeAdmin => "head_office_admin",
                DemoRole::StoreManager => "store_manager",
                DemoRole::Cashier => "cashier",
            };
            q.bind(demo_id("staff", &s.username).to_string())
                .bind(s.username.as_str())
                .bind(s.display_name.as_str())
                .bind(password_hash.to_owned())
                .bind(pin_hash.to_owned())
                .bind(role)
                .bind(s.store)
                .bind(now)
        },
    )
    .await?;
    // Parents before children (the demo lists them in that order; sort by depth to be sure).
    let mut categories: Vec<_> = chain.categories.iter().collect();
    categories.sort_by_key(|c| c.code.matches('-').count());
    insert_rows(
        &mut tx,
        "categories",
        &["id", "parent_id", "name_zh", "name_en", "sort"],
        &categories,
        |q, c| {
            q.bind(c.code.as_str())
                .bind(c.parent.as_deref())
                .bind(c.name_zh.as_str())
                .bind(c.name_en.as_str())
                .bind(0_i64)
        },
    )
    .await?;
    insert_rows(
        &mut tx,
        "products",
        &[
            "id",
            "code",
            "name_zh",
            "name_en",
            "brand",
            "category_id",
            "description",
            "status",
            "created_at",
            "updated_at",
        ],
        &chain.products,
        |q, p| {
            q.bind(demo_id("product", &p.code).to_string())
                .bind(p.code.as_str())
                .bind(p.name_zh.as_str())
                .bind(p.name_en.as_str())
                .bind(p.brand.as_str())
                .bind(p.category.as_str())
                .bind(p.description_zh.as_str())
                .bind("on_shelf")
                .bind(now)
                .bind(now)
        },
    )
    .await?;
    let skus: Vec<_> = chain
        .products
        .iter()
        .flat_map(|p| p.skus.iter().map(move |s| (p, s)))
        .collect();
    insert_rows(
        &mut tx,
        "skus",
        &[
            "id",
            "product_id",
            "sku_code",
            "spec_zh",
            "spec_en",
            "unit",
            "weighed",
            "price_fen",
            "member_price_fen",
            "status",
            "created_at",
            "updated_at",
        ],
        &skus,
        |q, (p, s)| {
            q.bind(demo_id("sku", &s.sku_code).to_string())
                .bind(demo_id("product", &p.code).to_string())
                .bind(s.sku_code.as_str())
                .bind(s.spec_zh.as_str())
                .bind(s.spec_en.as_str())
                .bind(s.unit.as_str())
                .bind(i64::from(s.weighed))
                .bind(s.price_fen)
                .bind(s.member_price_fen)
                .bind("on_shelf")
                .bind(now)
                .bind(now)
        },
    )
    .await?;
    // Every SKU's EAN-13, and a weighed SKU's scale PLU (an internal code) too.
    let barcodes: Vec<(&str, &str)> = skus
        .iter()
        .flat_map(|(_, s)| {
            std::iter::once(s.barcode.as_str())
                .chain(s.plu.as_deref())
                .map(move |code| (code, s.sku_code.as_str()))
        })
        .collect();
    insert_rows(
        &mut tx,
        "barcodes",
        &["code", "sku_id"],
        &barcodes,
        |q, (code, sku)| q.bind(*code).bind(demo_id("sku", sku).to_string()),
    )
    .await?;
    let store_prices: Vec<_> = skus
        .iter()
        .flat_map(|(_, s)| {
            s.store_prices
                .iter()
                .map(move |(loc, price)| (*loc, s.sku_code.as_str(), *price))
        })
        .collect();
    insert_rows(
        &mut tx,
        "store_prices",
        &["location_id", "sku_id", "price_fen"],
        &store_prices,
        |q, (loc, sku, price)| {
            q.bind(*loc)
                .bind(demo_id("sku", sku).to_string())
                .bind(*price)
        },
    )
    .await?;
    insert_rows(
        &mut tx,
        "stock",
        &[
            "location_id",
            "sku_id",
            "on_hand",
            "reserved",
            "low_stock_threshold",
            "updated_at",
        ],
        &chain.stock,
        |q, s| {
            q.bind(s.location)
                .bind(demo_id("sku", &s.sku_code).to_string())
                .bind(0_i64)
                .bind(0_i64)
                .bind(s.low_stock_threshold)
                .bind(now)
        },
    )
    .await?;
    // Opening stock through the one ledger function (the rows above carry the thresholds).
    let sku_ids: Vec<Uuid> = chain
        .stock
        .iter()
        .map(|s| demo_id("sku", &s.sku_code))
        .collect();
    let movements: Vec<Movement<'_>> = chain
        .stock
        .iter()
        .zip(&sku_ids)
        .map(|(s, sku_id)| Movement {
            location_id: s.location,
            sku_id: *sku_id,
            kind: MovementKind::Opening,
            on_hand_delta: s.on_hand,
            reserved_delta: 0,
            reason: "demo opening stock",
            actor: "system",
            ref_id: None,
            client_ts: now,
        })
        .collect();
    super::stock::apply_movements(&mut tx, &movements).await?;
    for m in &chain.members {
        super::members::insert_demo_member(
            &mut tx,
            keys,
            demo_id("member", &m.phone),
            &m.phone,
            &m.name,
            m.growth,
            m.points,
            m.balance_fen,
        )
        .await?;
        // The demo members signed up under the current privacy policy.
        super::privacy::record_consent(
            &mut tx,
            demo_id("member", &m.phone),
            crate::config::PRIVACY_POLICY_VERSION,
            "demo",
        )
        .await?;
    }
    for (sort, (name, pay_fen, bonus_fen)) in (0_i64..).zip(&chain.recharge_packages) {
        sqlx::query(
            "INSERT INTO recharge_packages (id, name, pay_fen, bonus_fen, active, sort, created_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, 'system', $6, $6)",
        )
        .bind(demo_id("recharge_package", name).to_string())
        .bind(*name)
        .bind(*pay_fen)
        .bind(*bonus_fen)
        .bind(sort)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    super::catalog::bump_all(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}
