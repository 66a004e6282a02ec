//! Coupons (券): the kinds head office creates (templates: rule, scope, validity, stock,
//! per-member limit, how they are issued) and the coupons members own, used once by one order
//! and given back when that order is cancelled.

use retail_domain::pricing::{Coupon, CouponRule, Scope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{self, Cursor, Order, Page};
use super::{col, from_ms, now_ms, placeholders, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// How coupons of a template reach members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueOn {
    /// Staff issue them to chosen members.
    Staff,
    /// Every new member gets one on sign-up.
    Signup,
    /// A member gets one when reaching a higher tier.
    TierUpgrade,
    /// Members claim them from the coupon centre while stock lasts.
    Claim,
}

impl IssueOn {
    fn as_str(self) -> &'static str {
        match self {
            IssueOn::Staff => "staff",
            IssueOn::Signup => "signup",
            IssueOn::TierUpgrade => "tier_upgrade",
            IssueOn::Claim => "claim",
        }
    }

    fn parse(text: &str) -> AppResult<IssueOn> {
        Ok(match text {
            "staff" => IssueOn::Staff,
            "signup" => IssueOn::Signup,
            "tier_upgrade" => IssueOn::TierUpgrade,
            "claim" => IssueOn::Claim,
            other => {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "unknown issue_on {other}"
                )))
            }
        })
    }
}

/// What every coupon of a template does (stored as the template's JSON body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponTerms {
    /// Chinese name, e.g. `满100减20券`.
    pub name_zh: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// What it takes off.
    pub rule: CouponRule,
    /// Which lines it covers (default: the whole basket).
    #[serde(default)]
    pub scope: Scope,
    /// Store codes where it may be used; empty = everywhere.
    #[serde(default)]
    pub stores: Vec<String>,
    /// May be used on lines that also got a promotion.
    #[serde(default)]
    pub stacks_with_promotions: bool,
    /// May be used together with other coupons.
    #[serde(default)]
    pub stacks_with_coupons: bool,
}

/// A new coupon template.
#[derive(Clone, Debug)]
pub struct NewTemplate {
    /// Client id.
    pub id: Uuid,
    /// What its coupons do.
    pub terms: CouponTerms,
    /// How they are issued.
    pub issue_on: IssueOn,
    /// Window in which coupons may be issued and used (ms).
    pub valid_from: i64,
    /// End of that window (ms).
    pub valid_until: i64,
    /// If set, each coupon is valid this many days from its issue (within the window).
    pub valid_days: Option<i64>,
    /// Most coupons of this template one member may hold (used or not).
    pub per_member_limit: i64,
    /// Coupons that may be issued in all; `None` = unlimited.
    pub stock_total: Option<i64>,
}

/// A template as listed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TemplateView {
    /// Id.
    pub id: Uuid,
    /// Terms.
    pub terms: CouponTerms,
    /// How issued.
    pub issue_on: IssueOn,
    /// Window start.
    pub valid_from: chrono::DateTime<chrono::Utc>,
    /// Window end.
    pub valid_until: chrono::DateTime<chrono::Utc>,
    /// Days of validity from issue, if relative.
    pub valid_days: Option<i64>,
    /// Per-member limit.
    pub per_member_limit: i64,
    /// Total stock (None = unlimited).
    pub stock_total: Option<i64>,
    /// Issued so far.
    pub issued: i64,
    /// When it was ended early.
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A member's coupon.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CouponView {
    /// Coupon id.
    pub id: Uuid,
    /// Its template.
    pub template_id: Uuid,
    /// Owner.
    pub member_id: Uuid,
    /// Terms.
    pub terms: CouponTerms,
    /// Usable from.
    pub valid_from: chrono::DateTime<chrono::Utc>,
    /// Usable until.
    pub valid_until: chrono::DateTime<chrono::Utc>,
    /// `available` or `used`.
    pub status: String,
    /// The order that used it.
    pub order_id: Option<Uuid>,
}

impl CouponView {
    /// The coupon as the pricing engine sees it.
    pub fn to_engine(&self) -> Coupon {
        Coupon {
            id: self.id,
            owner: self.member_id,
            name_zh: self.terms.name_zh.clone(),
            name_en: self.terms.name_en.clone(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            stores: self.terms.stores.clone(),
            scope: self.terms.scope.clone(),
            rule: self.terms.rule.clone(),
            stacks_with_promotions: self.terms.stacks_with_promotions,
            stacks_with_coupons: self.terms.stacks_with_coupons,
        }
    }
}

fn terms_from(text: &str) -> AppResult<CouponTerms> {
    serde_json::from_str(text)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored coupon terms do not parse: {e}")))
}

fn template_from_row(row: &sqlx::any::AnyRow) -> AppResult<TemplateView> {
    Ok(TemplateView {
        id: uuid_col(row, "id")?,
        terms: terms_from(&col::<String>(row, "body")?)?,
        issue_on: IssueOn::parse(&col::<String>(row, "issue_on")?)?,
        valid_from: from_ms(col(row, "valid_from")?),
        valid_until: from_ms(col(row, "valid_until")?),
        valid_days: col(row, "valid_days")?,
        per_member_limit: col(row, "per_member_limit")?,
        stock_total: col(row, "stock_total")?,
        issued: col(row, "issued")?,
        ended_at: col::<Option<i64>>(row, "ended_at")?.map(from_ms),
    })
}

const COUPON_SELECT: &str = "SELECT c.id, c.template_id, c.member_id, c.valid_from, \
     c.valid_until, c.status, c.order_id, c.issued_at, t.body FROM coupons c \
     JOIN coupon_templates t ON t.id = c.template_id";

fn coupon_from_row(row: &sqlx::any::AnyRow) -> AppResult<CouponView> {
    Ok(CouponView {
        id: uuid_col(row, "id")?,
        template_id: uuid_col(row, "template_id")?,
        member_id: uuid_col(row, "member_id")?,
        terms: terms_from(&col::<String>(row, "body")?)?,
        valid_from: from_ms(col(row, "valid_from")?),
        valid_until: from_ms(col(row, "valid_until")?),
        status: col(row, "status")?,
        order_id: col::<Option<String>>(row, "order_id")?
            .map(|s| s.parse())
            .transpose()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("order_id: {e}")))?,
    })
}

/// Stores a template. Returns false, changing nothing, on a retry (the id exists).
pub async fn create_template(tx: &mut Tx, t: &NewTemplate, actor: &str) -> AppResult<bool> {
    let body = serde_json::to_string(&t.terms).map_err(|e| AppError::Internal(e.into()))?;
    let inserted = sqlx::query(
        "INSERT INTO coupon_templates (id, body, issue_on, valid_from, valid_until, valid_days, \
         per_member_limit, stock_total, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
    )
    .bind(t.id.to_string())
    .bind(body)
    .bind(t.issue_on.as_str())
    .bind(t.valid_from)
    .bind(t.valid_until)
    .bind(t.valid_days)
    .bind(t.per_member_limit)
    .bind(t.stock_total)
    .bind(actor)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted > 0 {
        super::audit::record(
            tx,
            actor,
            "coupon_template.create",
            "coupon_template",
            &t.id.to_string(),
            serde_json::json!({ "terms": t.terms, "issue_on": t.issue_on,
                "per_member_limit": t.per_member_limit, "stock_total": t.stock_total }),
        )
        .await?;
    }
    Ok(inserted > 0)
}

/// Ends a template: no more coupons are issued (coupons already issued stay usable).
pub async fn end_template(tx: &mut Tx, id: Uuid, actor: &str) -> AppResult<()> {
    let changed =
        sqlx::query("UPDATE coupon_templates SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(now_ms())
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?
            .rows_affected();
    if changed == 0 {
        template(tx, id).await?;
        return Ok(());
    }
    super::audit::record(
        tx,
        actor,
        "coupon_template.end",
        "coupon_template",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await
}

async fn template(tx: &mut Tx, id: Uuid) -> AppResult<TemplateView> {
    let row = sqlx::query("SELECT * FROM coupon_templates WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| AppError::not_found("no such coupon template"))?;
    template_from_row(&row)
}

/// A page of the templates, newest first (keyset on creation time then id, from `cursor`); with
/// `issue_on`, only those issued that way and issuable now (not ended, inside their window).
pub async fn templates(
    store: &Store,
    issue_on: Option<IssueOn>,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<TemplateView>> {
    let sql = format!(
        "SELECT * FROM coupon_templates WHERE ($1 IS NULL OR (issue_on = $1 AND ended_at IS NULL \
         AND valid_from <= $2 AND valid_until > $2)) AND {} {} LIMIT $3",
        paging::after("created_at", "id", 4, Order::Desc),
        paging::order_by("created_at", "id", Order::Desc),
    );
    let query = sqlx::query(&sql)
        .bind(issue_on.map(IssueOn::as_str))
        .bind(now_ms())
        .bind(paging::fetch_limit(limit));
    paging::fetch(store.reader(), query, cursor, limit, |row| {
        let at = Cursor::new(col::<i64>(row, "created_at")?, uuid_col(row, "id")?);
        Ok((at, template_from_row(row)?))
    })
    .await
}

/// A coupon in the points mall: its template and its price in points.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MallItem {
    /// The template.
    pub template: TemplateView,
    /// Points one coupon costs.
    pub points_price: i64,
}

/// The points mall: templates with a points price that can be issued now (not ended, inside
/// their window), cheapest first.
pub async fn points_mall(store: &Store) -> AppResult<Vec<MallItem>> {
    sqlx::query(
        "SELECT * FROM coupon_templates WHERE points_price IS NOT NULL AND ended_at IS NULL \
         AND valid_from <= $1 AND valid_until > $1 ORDER BY points_price, id",
    )
    .bind(now_ms())
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|row| {
        Ok(MallItem {
            template: template_from_row(row)?,
            points_price: col(row, "points_price")?,
        })
    })
    .collect()
}

/// A template's points price (none: not in the points mall).
pub async fn points_price_in_tx(tx: &mut Tx, template: Uuid) -> AppResult<Option<i64>> {
    let row = sqlx::query("SELECT points_price FROM coupon_templates WHERE id = $1")
        .bind(template.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row
        .map(|r| col::<Option<i64>>(&r, "points_price"))
        .transpose()?
        .flatten())
}

/// Puts a template in the points mall at `price` points, or takes it out (`None`); audited as
/// `coupon_template.points_price`. 404 for no such template.
pub async fn set_points_price(
    store: &Store,
    template: Uuid,
    price: Option<i64>,
    actor: &str,
) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let done = sqlx::query("UPDATE coupon_templates SET points_price = $2 WHERE id = $1")
        .bind(template.to_string())
        .bind(price)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if done == 0 {
        return Err(AppError::not_found(format!(
            "coupon template {template} not found"
        )));
    }
    super::audit::record(
        &mut tx,
        actor,
        "coupon_template.points_price",
        "coupon_template",
        &template.to_string(),
        serde_json::json!({"points_price": price}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The template `id`, if there is one.
pub async fn template_by_id(store: &Store, id: Uuid) -> AppResult<Option<TemplateView>> {
    sqlx::query("SELECT * FROM coupon_templates WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?
        .as_ref()
        .map(template_from_row)
        .transpose()
}

/// Issues one coupon of `template_id` to `member_id`, with the client's `coupon_id`.
///
/// A retry (same coupon id) answers the coupon issued first. Refused with 409 when the template
/// is ended or past its window (`coupon_ended`), out of stock (`coupon_sold_out`), or the member
/// holds the most coupons of it allowed (`coupon_limit`).
pub async fn issue(
    tx: &mut Tx,
    template_id: Uuid,
    member_id: Uuid,
    coupon_id: Uuid,
    issued_by: &str,
) -> AppResult<CouponView> {
    if let Some(existing) = coupon_in_tx(tx, coupon_id).await? {
        if existing.member_id != member_id || existing.template_id != template_id {
            return Err(AppError::conflict(
                "id_reused",
                "this coupon id was used for another coupon",
            ));
        }
        return Ok(existing);
    }
    let now = now_ms();
    // Taking stock first locks the template row, which serialises the per-member count below.
    let taken = sqlx::query(
        "UPDATE coupon_templates SET issued = issued + 1 WHERE id = $1 AND ended_at IS NULL \
         AND valid_until > $2 AND (stock_total IS NULL OR issued < stock_total)",
    )
    .bind(template_id.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let t = template(tx, template_id).await?;
    if taken == 0 {
        return Err(
            if t.ended_at.is_some() || t.valid_until.timestamp_millis() <= now {
                AppError::conflict("coupon_ended", "this coupon can no longer be issued")
            } else {
                AppError::conflict("coupon_sold_out", "all of these coupons have been issued")
            },
        );
    }
    let held: i64 = col(
        &sqlx::query("SELECT COUNT(*) AS n FROM coupons WHERE template_id = $1 AND member_id = $2")
            .bind(template_id.to_string())
            .bind(member_id.to_string())
            .fetch_one(&mut **tx)
            .await?,
        "n",
    )?;
    if held >= t.per_member_limit {
        return Err(AppError::conflict(
            "coupon_limit",
            format!(
                "a member may hold at most {} of these coupons",
                t.per_member_limit
            ),
        ));
    }
    let valid_from = t.valid_from.timestamp_millis().max(now);
    let valid_until = match t.valid_days {
        Some(days) => (now + days.saturating_mul(86_400_000)).min(t.valid_until.timestamp_millis()),
        None => t.valid_until.timestamp_millis(),
    };
    sqlx::query(
        "INSERT INTO coupons (id, template_id, member_id, valid_from, valid_until, status, \
         issued_by, issued_at) VALUES ($1, $2, $3, $4, $5, 'available', $6, $7)",
    )
    .bind(coupon_id.to_string())
    .bind(template_id.to_string())
    .bind(member_id.to_string())
    .bind(valid_from)
    .bind(valid_until)
    .bind(issued_by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    super::audit::record(
        tx,
        issued_by,
        "coupon.issue",
        "coupon",
        &coupon_id.to_string(),
        serde_json::json!({ "template_id": template_id, "member_id": member_id }),
    )
    .await?;
    coupon_in_tx(tx, coupon_id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("issued coupon vanished")))
}

/// Issues every automatic coupon of kind `how` (sign-up, tier upgrade) to a member. Templates
/// out of stock or already at the member's limit are skipped.
pub async fn issue_automatic(tx: &mut Tx, member_id: Uuid, how: IssueOn) -> AppResult<usize> {
    let rows = sqlx::query(
        "SELECT id FROM coupon_templates WHERE issue_on = $1 AND ended_at IS NULL \
         AND valid_until > $2 ORDER BY id",
    )
    .bind(how.as_str())
    .bind(now_ms())
    .fetch_all(&mut **tx)
    .await?;
    let mut issued = 0;
    for row in rows {
        let template_id = uuid_col(&row, "id")?;
        // The per-member limit (checked under the template's row lock) keeps a repeated
        // trigger from issuing twice.
        let coupon_id = retail_domain::ids::new_id();
        match issue(tx, template_id, member_id, coupon_id, "system").await {
            Ok(_) => issued += 1,
            Err(AppError::Conflict { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(issued)
}

async fn coupon_in_tx(tx: &mut Tx, id: Uuid) -> AppResult<Option<CouponView>> {
    let sql = format!("{COUPON_SELECT} WHERE c.id = $1");
    sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(coupon_from_row)
        .transpose()
}

/// Unused coupons of members (not deleted) that expire after `from` and by `until` (Unix ms)
/// and whose member has not been told yet (`account_notices` `coupon_expiring`): at most
/// `limit`, soonest first.
pub async fn expiring_untold(
    store: &Store,
    from: i64,
    until: i64,
    limit: i64,
) -> AppResult<Vec<CouponView>> {
    let sql = format!(
        "{COUPON_SELECT} JOIN members m ON m.id = c.member_id \
         WHERE c.status = 'available' AND c.valid_until > $1 AND c.valid_until <= $2 \
         AND m.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM account_notices n \
         WHERE n.member_id = c.member_id AND n.kind = 'coupon_expiring' AND n.ref = c.id) \
         ORDER BY c.valid_until, c.id LIMIT $3"
    );
    sqlx::query(&sql)
        .bind(from)
        .bind(until)
        .bind(limit)
        .fetch_all(store.reader())
        .await?
        .iter()
        .map(coupon_from_row)
        .collect()
}

/// Which of a member's coupons a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MemberCoupons {
    /// Every one.
    #[default]
    All,
    /// Unused and not expired.
    Usable,
    /// Used or expired.
    Spent,
}

impl MemberCoupons {
    /// The condition on `coupons c`, with the time now at `$2`.
    fn condition(self) -> &'static str {
        match self {
            MemberCoupons::All => "$2 = $2",
            MemberCoupons::Usable => "c.status = 'available' AND c.valid_until > $2",
            MemberCoupons::Spent => "(c.status <> 'available' OR c.valid_until <= $2)",
        }
    }
}

/// A page of a member's coupons, newest first (keyset on issue time then id, from `cursor`).
pub async fn member_coupons(
    store: &Store,
    member_id: Uuid,
    which: MemberCoupons,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<CouponView>> {
    let sql = format!(
        "{COUPON_SELECT} WHERE c.member_id = $1 AND {} AND {} {} LIMIT $3",
        which.condition(),
        paging::after("c.issued_at", "c.id", 4, Order::Desc),
        paging::order_by("c.issued_at", "c.id", Order::Desc),
    );
    let query = sqlx::query(&sql)
        .bind(member_id.to_string())
        .bind(now_ms())
        .bind(paging::fetch_limit(limit));
    paging::fetch(store.reader(), query, cursor, limit, |row| {
        let coupon = coupon_from_row(row)?;
        Ok((
            Cursor::new(col::<i64>(row, "issued_at")?, coupon.id),
            coupon,
        ))
    })
    .await
}

/// Every usable coupon of a member (unused, not expired), newest first: what checkout and the
/// till offer. Not paged: all of them, however many.
pub async fn usable(store: &Store, member_id: Uuid) -> AppResult<Vec<CouponView>> {
    sqlx::query(&format!(
        "{COUPON_SELECT} WHERE c.member_id = $1 AND {} ORDER BY c.issued_at DESC, c.id DESC",
        MemberCoupons::Usable.condition()
    ))
    .bind(member_id.to_string())
    .bind(now_ms())
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(coupon_from_row)
    .collect()
}

/// How many usable coupons (unused, not expired) a member holds.
pub async fn count_usable(store: &Store, member_id: Uuid) -> AppResult<i64> {
    let row = sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM coupons c WHERE c.member_id = $1 AND {}",
        MemberCoupons::Usable.condition()
    ))
    .bind(member_id.to_string())
    .bind(now_ms())
    .fetch_one(store.reader())
    .await?;
    col(&row, "n")
}

/// Coupons by id, for pricing a basket of `member_id`. Every id must be the member's own,
/// unused coupon: otherwise a field error on `coupons` (nothing is changed).
pub async fn chosen(store: &Store, member_id: Uuid, ids: &[Uuid]) -> AppResult<Vec<CouponView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{COUPON_SELECT} WHERE c.id IN ({})",
        placeholders(1, ids.len())
    );
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(id.to_string());
    }
    let found: Vec<CouponView> = query
        .fetch_all(store.reader())
        .await?
        .iter()
        .map(coupon_from_row)
        .collect::<AppResult<_>>()?;
    for id in ids {
        let Some(coupon) = found.iter().find(|c| c.id == *id) else {
            return Err(AppError::field("coupons", format!("no coupon {id}")));
        };
        if coupon.member_id != member_id {
            return Err(AppError::field(
                "coupons",
                format!("coupon {id} belongs to another member"),
            ));
        }
        if coupon.status != "available" {
            return Err(AppError::conflict(
                "coupon_used",
                format!("coupon {id} has been used already"),
            ));
        }
    }
    Ok(found)
}

/// Marks coupons used by an order, inside the order's transaction. Refused (409 `coupon_used`)
/// when any of them is no longer available (another order took it first).
pub async fn use_for_order(tx: &mut Tx, ids: &[Uuid], order_id: Uuid) -> AppResult<()> {
    let now = now_ms();
    for id in ids {
        let changed = sqlx::query(
            "UPDATE coupons SET status = 'used', order_id = $1, used_at = $2 \
             WHERE id = $3 AND status = 'available'",
        )
        .bind(order_id.to_string())
        .bind(now)
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(AppError::conflict(
                "coupon_used",
                format!("coupon {id} has been used already"),
            ));
        }
    }
    Ok(())
}

/// Gives back the coupons an order used (it was cancelled). Idempotent.
pub async fn release_for_order(tx: &mut Tx, order_id: Uuid) -> AppResult<u64> {
    Ok(sqlx::query(
        "UPDATE coupons SET status = 'available', order_id = NULL, used_at = NULL \
         WHERE order_id = $1 AND status = 'used'",
    )
    .bind(order_id.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Uses the coupons a lane sale chose at the till, inside the push's transaction: each must be
/// `member_id`'s, available, and valid at `at_ms` (when the sale was completed). Refused
/// (nothing changed by the caller's savepoint) with a message naming the coupon: unknown,
/// another member's, used by another order (409 `coupon_used`), or out of its window.
pub async fn use_for_sale_in_tx(
    tx: &mut Tx,
    member_id: Uuid,
    ids: &[Uuid],
    sale_id: Uuid,
    at_ms: i64,
) -> AppResult<()> {
    for id in ids {
        let changed = sqlx::query(
            "UPDATE coupons SET status = 'used', order_id = $1, used_at = $2 \
             WHERE id = $3 AND member_id = $4 AND status = 'available' \
             AND valid_from <= $5 AND valid_until > $5",
        )
        .bind(sale_id.to_string())
        .bind(now_ms())
        .bind(id.to_string())
        .bind(member_id.to_string())
        .bind(at_ms)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if changed == 1 {
            continue;
        }
        let row = sqlx::query("SELECT member_id, status, order_id FROM coupons WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else {
            return Err(AppError::field("coupons", format!("no coupon {id}")));
        };
        if col::<String>(&row, "member_id")? != member_id.to_string() {
            return Err(AppError::field(
                "coupons",
                format!("coupon {id} belongs to another member"),
            ));
        }
        if col::<String>(&row, "status")? == "used" {
            let other: Option<String> = col(&row, "order_id")?;
            return Err(AppError::conflict(
                "coupon_used",
                format!(
                    "coupon {id} has been used already by order {}",
                    other.unwrap_or_default()
                ),
            ));
        }
        return Err(AppError::field(
            "coupons",
            format!("coupon {id} was not valid when the sale was made"),
        ));
    }
    Ok(())
}

/// The coupons an order (or lane sale) used.
pub async fn used_by_order(store: &Store, order_id: Uuid) -> AppResult<Vec<CouponView>> {
    sqlx::query(&format!(
        "{COUPON_SELECT} WHERE c.order_id = $1 AND c.status = 'used'"
    ))
    .bind(order_id.to_string())
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(coupon_from_row)
    .collect()
}
