//! Member tags, RFM scores and segments (issue 19, migration 0052).
//!
//! * [`purchase_stats`] aggregates the paid orders of every channel per member (the input of the
//!   segments job, `app::segments::compute`), [`write_batch`] stores one batch of computed RFM
//!   rows and rule tags in one transaction, [`drop_stale`] removes what a run did not write.
//! * Every read of members' tags goes through [`TAG_ROWS`] (the one source of tag rows: the
//!   rule tags of `member_tags` and the tags imported from the big-data platform,
//!   `imported_member_tags`, whose text value is not a figure and reads as 0) — [`tags`] lists them for one
//!   member or all, and the segment queries ([`count_members`], [`members_page`]) filter on it.
//! * Segments (`segments`, rules as JSON) and the actions taken on them (`segment_actions`, one
//!   `segment_action_members` row per member reached, so a retried action reaches each member
//!   once).

use serde::Serialize;
use sqlx::any::AnyRow;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, from_ms, now_ms, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// The one source of members' tags, as a subquery with the columns `member_id`, `tag`,
/// `source`, `value`, `updated_at`. Every read of tags ([`tags`], the segment filters) selects
/// from it: the rule tags and, with a `UNION ALL`, the imported ones (source `import`, value 0).
pub const TAG_ROWS: &str = "SELECT member_id, tag, source, value, updated_at FROM member_tags \
     UNION ALL SELECT member_id, tag, 'import', 0, imported_at FROM imported_member_tags";

/// The order statuses that count as a purchase: paid, whatever happened next, short of being
/// cancelled or refunded.
const PAID_STATUSES: &str =
    "('paid', 'shipped', 'delivered', 'ready_for_pickup', 'picked_up', 'completed', 'after_sale')";

/// One tag of a member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct MemberTag {
    /// The member.
    pub member_id: Uuid,
    /// The tag, e.g. `lapsed_60`.
    pub tag: String,
    /// Where it came from (`rule`: the segments job).
    pub source: String,
    /// The tag's figure (days, percent or score; see docs/CONTRACTS.md).
    pub value: i64,
    /// When it was last written.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The tags of `member`, or of every member (`None`), by member and tag.
pub async fn tags(store: &Store, member: Option<Uuid>) -> AppResult<Vec<MemberTag>> {
    let sql = format!(
        "SELECT member_id, tag, source, value, updated_at FROM ({TAG_ROWS}) t \
         WHERE ($1 = '' OR member_id = $1) ORDER BY member_id, tag"
    );
    let rows = sqlx::query(&sql)
        .bind(member.map(|m| m.to_string()).unwrap_or_default())
        .fetch_all(store.reader())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(MemberTag {
                member_id: uuid_col(r, "member_id")?,
                tag: col(r, "tag")?,
                source: col(r, "source")?,
                value: col(r, "value")?,
                updated_at: from_ms(col(r, "updated_at")?),
            })
        })
        .collect()
}

/// Every tag name in use with how many members carry it, by name.
pub async fn tag_counts(store: &Store) -> AppResult<Vec<(String, i64)>> {
    let sql = format!(
        "SELECT tag, COUNT(DISTINCT member_id) AS n FROM ({TAG_ROWS}) t GROUP BY tag ORDER BY tag"
    );
    let rows = sqlx::query(&sql).fetch_all(store.reader()).await?;
    rows.iter()
        .map(|r| Ok((col(r, "tag")?, col(r, "n")?)))
        .collect()
}

/// A member's paid orders, summed (all channels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseStats {
    /// The member.
    pub member_id: Uuid,
    /// The first purchase (Unix ms).
    pub first_at: i64,
    /// The last purchase (Unix ms).
    pub last_at: i64,
    /// Paid orders.
    pub orders: i64,
    /// What they came to (fen).
    pub total_fen: i64,
    /// Orders with a promotion or coupon discount, or bought through a bargain.
    pub deal_orders: i64,
    /// Online orders (delivery and pickup).
    pub online_orders: i64,
    /// Online orders collected in a store.
    pub pickup_orders: i64,
}

/// The purchase statistics of up to `limit` members (not deleted) with a paid order at or
/// before `now`, with ids after `after`, by id. A purchase's time is the sale's time at the
/// lane for lane sales (`client_ts`: a lane pushing late still dates its sales right) and the
/// order's creation for every other channel.
pub async fn purchase_stats(
    store: &Store,
    after: Option<Uuid>,
    now: i64,
    limit: i64,
) -> AppResult<Vec<PurchaseStats>> {
    let sql = format!(
        "SELECT member_id, MIN(at) AS first_at, MAX(at) AS last_at, COUNT(*) AS orders, \
         CAST(COALESCE(SUM(total_fen), 0) AS BIGINT) AS total_fen, \
         CAST(COALESCE(SUM(deal), 0) AS BIGINT) AS deal_orders, \
         CAST(COALESCE(SUM(online), 0) AS BIGINT) AS online_orders, \
         CAST(COALESCE(SUM(pickup), 0) AS BIGINT) AS pickup_orders \
         FROM (SELECT o.member_id, o.total_fen, \
           CASE WHEN o.channel = 'pos' THEN o.client_ts ELSE o.created_at END AS at, \
           CASE WHEN o.pricing LIKE '%\"promotion_id\"%' OR o.pricing LIKE '%\"coupon_id\"%' \
             OR (o.pricing IS NULL AND o.discount_fen > 0) \
             OR EXISTS (SELECT 1 FROM coupons c WHERE c.order_id = o.id) \
             OR EXISTS (SELECT 1 FROM bargain_runs b WHERE b.order_id = o.id) \
             THEN 1 ELSE 0 END AS deal, \
           CASE WHEN o.channel = 'online' THEN 1 ELSE 0 END AS online, \
           CASE WHEN o.channel = 'online' AND o.fulfilment = 'pickup' THEN 1 ELSE 0 END AS pickup \
           FROM orders o JOIN members m ON m.id = o.member_id AND m.deleted_at IS NULL \
           WHERE o.member_id IS NOT NULL AND o.member_id > $1 AND o.status IN {PAID_STATUSES}) x \
         WHERE at <= $2 GROUP BY member_id ORDER BY member_id LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(now)
        .bind(limit)
        .fetch_all(store.reader())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PurchaseStats {
                member_id: uuid_col(r, "member_id")?,
                first_at: col(r, "first_at")?,
                last_at: col(r, "last_at")?,
                orders: col(r, "orders")?,
                total_fen: col(r, "total_fen")?,
                deal_orders: col(r, "deal_orders")?,
                online_orders: col(r, "online_orders")?,
                pickup_orders: col(r, "pickup_orders")?,
            })
        })
        .collect()
}

/// A member's RFM row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rfm {
    /// The member.
    pub member_id: Uuid,
    /// Whole days since the last purchase.
    pub recency_days: i64,
    /// Paid orders.
    pub frequency: i64,
    /// What they came to (fen).
    pub monetary_fen: i64,
    /// Recency score, 1 to 5 (5: most recent).
    pub r_score: i64,
    /// Frequency score, 1 to 5.
    pub f_score: i64,
    /// Monetary score, 1 to 5.
    pub m_score: i64,
    /// First purchase (Unix ms).
    pub first_at: i64,
    /// Last purchase (Unix ms).
    pub last_at: i64,
    /// The run that wrote it (its `now`, Unix ms).
    pub computed_at: i64,
}

/// A rule tag computed for a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleTag {
    /// The member.
    pub member_id: Uuid,
    /// The tag.
    pub tag: &'static str,
    /// Its figure.
    pub value: i64,
}

/// Stores one batch of a run stamped `run` in one transaction: the RFM rows (upserted) and,
/// for every member of `members`, exactly the rule tags in `tags` (the member's other rule
/// tags are removed).
pub async fn write_batch(
    store: &Store,
    run: i64,
    members: &[Uuid],
    rfm: &[Rfm],
    tags: &[RuleTag],
) -> AppResult<()> {
    if members.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    let ids: Vec<String> = members.iter().map(Uuid::to_string).collect();
    for chunk in ids.chunks(super::MAX_PARAMS - 1) {
        let sql = format!(
            "DELETE FROM member_tags WHERE source = 'rule' AND member_id IN ({})",
            super::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(id.as_str());
        }
        q.execute(&mut *tx).await?;
    }
    if !tags.is_empty() {
        let rows: Vec<(String, &RuleTag)> =
            tags.iter().map(|t| (t.member_id.to_string(), t)).collect();
        super::insert_rows(
            &mut tx,
            "member_tags",
            &["member_id", "tag", "source", "value", "updated_at"],
            &rows,
            |q, (member, t)| {
                q.bind(member.as_str())
                    .bind(t.tag)
                    .bind("rule")
                    .bind(t.value)
                    .bind(run)
            },
        )
        .await?;
    }
    if !rfm.is_empty() {
        let rows: Vec<(String, &Rfm)> = rfm.iter().map(|r| (r.member_id.to_string(), r)).collect();
        super::upsert_rows(
            &mut tx,
            "member_rfm",
            &[
                "member_id",
                "recency_days",
                "frequency",
                "monetary_fen",
                "r_score",
                "f_score",
                "m_score",
                "first_at",
                "last_at",
                "computed_at",
            ],
            &rows,
            "ON CONFLICT (member_id) DO UPDATE SET recency_days = excluded.recency_days, \
             frequency = excluded.frequency, monetary_fen = excluded.monetary_fen, \
             r_score = excluded.r_score, f_score = excluded.f_score, m_score = excluded.m_score, \
             first_at = excluded.first_at, last_at = excluded.last_at, \
             computed_at = excluded.computed_at",
            |q, (member, r)| {
                q.bind(member.as_str())
                    .bind(r.recency_days)
                    .bind(r.frequency)
                    .bind(r.monetary_fen)
                    .bind(r.r_score)
                    .bind(r.f_score)
                    .bind(r.m_score)
                    .bind(r.first_at)
                    .bind(r.last_at)
                    .bind(run)
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Removes the RFM rows and rule tags a run stamped `run` did not write (members without a paid
/// order any more, deleted accounts); answers how many rows went.
pub async fn drop_stale(store: &Store, run: i64) -> AppResult<u64> {
    let mut tx = store.begin().await?;
    let tags = sqlx::query("DELETE FROM member_tags WHERE source = 'rule' AND updated_at <> $1")
        .bind(run)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let rfm = sqlx::query("DELETE FROM member_rfm WHERE computed_at <> $1")
        .bind(run)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(tags + rfm)
}

fn rfm_row(r: &AnyRow) -> AppResult<Rfm> {
    Ok(Rfm {
        member_id: uuid_col(r, "member_id")?,
        recency_days: col(r, "recency_days")?,
        frequency: col(r, "frequency")?,
        monetary_fen: col(r, "monetary_fen")?,
        r_score: col(r, "r_score")?,
        f_score: col(r, "f_score")?,
        m_score: col(r, "m_score")?,
        first_at: col(r, "first_at")?,
        last_at: col(r, "last_at")?,
        computed_at: col(r, "computed_at")?,
    })
}

const RFM_COLUMNS: &str = "member_id, recency_days, frequency, monetary_fen, r_score, f_score, \
     m_score, first_at, last_at, computed_at";

/// The RFM row of `member`, if the last run wrote one.
pub async fn rfm(store: &Store, member: Uuid) -> AppResult<Option<Rfm>> {
    sqlx::query(&format!(
        "SELECT {RFM_COLUMNS} FROM member_rfm WHERE member_id = $1"
    ))
    .bind(member.to_string())
    .fetch_optional(store.reader())
    .await?
    .as_ref()
    .map(rfm_row)
    .transpose()
}

/// Every RFM row, by member (tests and exports).
pub async fn all_rfm(store: &Store) -> AppResult<Vec<Rfm>> {
    let rows = sqlx::query(&format!(
        "SELECT {RFM_COLUMNS} FROM member_rfm ORDER BY member_id"
    ))
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(rfm_row).collect()
}

/// Which members a segment takes: tags all of / any of / none of, inclusive score ranges.
#[derive(Clone, Debug, Default)]
pub struct MemberFilter<'a> {
    /// Tags a member must all carry.
    pub all_of: &'a [String],
    /// Tags of which a member must carry one (none given: no condition).
    pub any_of: &'a [String],
    /// Tags a member must carry none of.
    pub none_of: &'a [String],
    /// R score range.
    pub r: Option<(i64, i64)>,
    /// F score range.
    pub f: Option<(i64, i64)>,
    /// M score range.
    pub m: Option<(i64, i64)>,
    /// For targeting: members who opted out of personalisation are left out.
    pub targeting: bool,
}

enum Bind {
    Text(String),
    Int(i64),
}

/// The `FROM … WHERE …` of the members `f` takes (members not deleted) and its values.
fn filter_sql(f: &MemberFilter<'_>) -> (String, Vec<Bind>) {
    let mut sql = String::from(
        "FROM members m LEFT JOIN member_rfm r ON r.member_id = m.id WHERE m.deleted_at IS NULL",
    );
    let mut binds = Vec::new();
    if f.targeting {
        sql.push_str(" AND m.personalisation_opt_out = 0");
    }
    for (column, range) in [("r.r_score", f.r), ("r.f_score", f.f), ("r.m_score", f.m)] {
        if let Some((lo, hi)) = range {
            let n = binds.len();
            sql.push_str(&format!(" AND {column} BETWEEN ${} AND ${}", n + 1, n + 2));
            binds.push(Bind::Int(lo));
            binds.push(Bind::Int(hi));
        }
    }
    fn tag_list(binds: &mut Vec<Bind>, tags: &[String]) -> String {
        let list = super::placeholders(binds.len() + 1, tags.len());
        binds.extend(tags.iter().map(|t| Bind::Text(t.clone())));
        list
    }
    if !f.all_of.is_empty() {
        let mut distinct = f.all_of.to_vec();
        distinct.sort();
        distinct.dedup();
        let list = tag_list(&mut binds, &distinct);
        sql.push_str(&format!(
            " AND (SELECT COUNT(DISTINCT t.tag) FROM ({TAG_ROWS}) t WHERE t.member_id = m.id \
             AND t.tag IN ({list})) = {}",
            distinct.len()
        ));
    }
    if !f.any_of.is_empty() {
        let list = tag_list(&mut binds, f.any_of);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM ({TAG_ROWS}) t WHERE t.member_id = m.id AND t.tag IN ({list}))"
        ));
    }
    if !f.none_of.is_empty() {
        let list = tag_list(&mut binds, f.none_of);
        sql.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM ({TAG_ROWS}) t WHERE t.member_id = m.id AND t.tag IN ({list}))"
        ));
    }
    (sql, binds)
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t.as_str()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}

/// How many members `f` takes.
pub async fn count_members(store: &Store, f: &MemberFilter<'_>) -> AppResult<i64> {
    let (from, binds) = filter_sql(f);
    let sql = format!("SELECT COUNT(*) AS n {from}");
    let row = bind_all(sqlx::query(&sql), &binds)
        .fetch_one(store.reader())
        .await?;
    col(&row, "n")
}

/// Up to `limit` members `f` takes with ids after `after`, by id; with `not_reached_by`, only
/// those that action has not reached yet.
pub async fn members_page(
    store: &Store,
    f: &MemberFilter<'_>,
    after: Option<Uuid>,
    not_reached_by: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<Uuid>> {
    let (from, mut binds) = filter_sql(f);
    let n = binds.len();
    let mut sql = format!("SELECT m.id {from} AND m.id > ${}", n + 1);
    binds.push(Bind::Text(after.map(|a| a.to_string()).unwrap_or_default()));
    if let Some(action) = not_reached_by {
        sql.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM segment_action_members sam WHERE sam.action_id = ${} \
             AND sam.member_id = m.id)",
            n + 2
        ));
        binds.push(Bind::Text(action.to_string()));
    }
    sql.push_str(&format!(" ORDER BY m.id LIMIT ${}", binds.len() + 1));
    binds.push(Bind::Int(limit));
    let rows = bind_all(sqlx::query(&sql), &binds)
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(|r| uuid_col(r, "id")).collect()
}

/// A stored segment.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SegmentRow {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// The rules (JSON text of `app::segments::SegmentRules`).
    pub rules: String,
    /// Who created it.
    pub created_by: String,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

fn segment_row(r: &AnyRow) -> AppResult<SegmentRow> {
    Ok(SegmentRow {
        id: uuid_col(r, "id")?,
        name: col(r, "name")?,
        rules: col(r, "rules")?,
        created_by: col(r, "created_by")?,
        created_at: from_ms(col(r, "created_at")?),
        updated_at: from_ms(col(r, "updated_at")?),
    })
}

/// Every segment, newest first.
pub async fn segments(store: &Store) -> AppResult<Vec<SegmentRow>> {
    let rows = sqlx::query(
        "SELECT id, name, rules, created_by, created_at, updated_at FROM segments \
         ORDER BY created_at DESC, id DESC",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(segment_row).collect()
}

/// The segment `id`.
pub async fn segment(store: &Store, id: Uuid) -> AppResult<Option<SegmentRow>> {
    sqlx::query(
        "SELECT id, name, rules, created_by, created_at, updated_at FROM segments WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?
    .as_ref()
    .map(segment_row)
    .transpose()
}

/// Creates the segment `id` (a retry with the same id changes nothing and answers false) or,
/// with `update`, changes its name and rules (404 when there is none); audited
/// (`segment.create`, `segment.update`).
pub async fn save_segment(
    store: &Store,
    id: Uuid,
    name: &str,
    rules: &str,
    actor: &str,
    update: bool,
) -> AppResult<bool> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    let changed = if update {
        sqlx::query("UPDATE segments SET name = $1, rules = $2, updated_at = $3 WHERE id = $4")
            .bind(name)
            .bind(rules)
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected()
    } else {
        sqlx::query(
            "INSERT INTO segments (id, name, rules, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(name)
        .bind(rules)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    };
    if changed == 0 {
        tx.rollback().await?;
        return if update {
            Err(AppError::not_found("no such segment"))
        } else {
            Ok(false)
        };
    }
    super::audit::record(
        &mut tx,
        actor,
        if update { "segment.update" } else { "segment.create" },
        "segment",
        &id.to_string(),
        serde_json::json!({ "name": name, "rules": serde_json::from_str::<serde_json::Value>(rules).unwrap_or_default() }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// An action taken on a segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SegmentAction {
    /// The client's id.
    pub id: Uuid,
    /// The segment.
    pub segment_id: Uuid,
    /// `coupon` or `notify`.
    pub kind: String,
    /// The coupon template (`coupon`).
    pub template_id: Option<Uuid>,
    /// The message (`notify`: JSON with `text_zh`, `text_en`).
    pub message: String,
    /// Who took it.
    pub created_by: String,
    /// When (Unix ms).
    pub created_at: i64,
    /// When every member was reached (Unix ms).
    pub finished_at: Option<i64>,
}

const ACTION_COLUMNS: &str =
    "id, segment_id, kind, template_id, message, created_by, created_at, finished_at";

fn action_row(r: &AnyRow) -> AppResult<SegmentAction> {
    Ok(SegmentAction {
        id: uuid_col(r, "id")?,
        segment_id: uuid_col(r, "segment_id")?,
        kind: col(r, "kind")?,
        template_id: col::<Option<String>>(r, "template_id")?
            .and_then(|t| Uuid::parse_str(&t).ok()),
        message: col(r, "message")?,
        created_by: col(r, "created_by")?,
        created_at: col(r, "created_at")?,
        finished_at: col(r, "finished_at")?,
    })
}

/// Records the action `a` (audited `segment.action`) unless its id is there already; answers
/// the stored action (the first one, on a retry).
pub async fn start_action(store: &Store, a: &SegmentAction) -> AppResult<SegmentAction> {
    let mut tx = store.begin().await?;
    let new = sqlx::query(
        "INSERT INTO segment_actions (id, segment_id, kind, template_id, message, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(a.id.to_string())
    .bind(a.segment_id.to_string())
    .bind(a.kind.as_str())
    .bind(a.template_id.map(|t| t.to_string()))
    .bind(a.message.as_str())
    .bind(a.created_by.as_str())
    .bind(a.created_at)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if new {
        super::audit::record(
            &mut tx,
            &a.created_by,
            "segment.action",
            "segment",
            &a.segment_id.to_string(),
            serde_json::json!({ "action_id": a.id, "kind": a.kind, "template_id": a.template_id }),
        )
        .await?;
    }
    let row = sqlx::query(&format!(
        "SELECT {ACTION_COLUMNS} FROM segment_actions WHERE id = $1"
    ))
    .bind(a.id.to_string())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    action_row(&row)
}

/// The actions taken on `segment`, newest first.
pub async fn actions(store: &Store, segment: Uuid) -> AppResult<Vec<SegmentAction>> {
    let rows = sqlx::query(&format!(
        "SELECT {ACTION_COLUMNS} FROM segment_actions WHERE segment_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT 50"
    ))
    .bind(segment.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(action_row).collect()
}

/// Marks `member` reached by `action` with `outcome` in `tx`; false when it was reached before
/// (nothing written).
pub async fn reach_in_tx(
    tx: &mut Tx,
    action: Uuid,
    member: Uuid,
    outcome: &str,
    coupon: Option<Uuid>,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO segment_action_members (action_id, member_id, outcome, coupon_id, at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (action_id, member_id) DO NOTHING",
    )
    .bind(action.to_string())
    .bind(member.to_string())
    .bind(outcome)
    .bind(coupon.map(|c| c.to_string()))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Marks the action finished (every member of its segment reached).
pub async fn finish_action(store: &Store, action: Uuid) -> AppResult<()> {
    sqlx::query(
        "UPDATE segment_actions SET finished_at = $1 WHERE id = $2 AND finished_at IS NULL",
    )
    .bind(now_ms())
    .bind(action.to_string())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// How many members `action` reached, by outcome.
pub async fn action_outcomes(store: &Store, action: Uuid) -> AppResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT outcome, COUNT(*) AS n FROM segment_action_members WHERE action_id = $1 \
         GROUP BY outcome ORDER BY outcome",
    )
    .bind(action.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((col(r, "outcome")?, col(r, "n")?)))
        .collect()
}
