//! Member tags and segments (issue 19): RFM scores and rule tags computed by a scheduled job
//! from the paid orders of every channel, segments built from them in the console, and the
//! segment actions (issue a coupon to a segment, notify a segment).
//!
//! * [`compute`] (the job, [`run`], every `segments.every_secs`) walks the members with a paid
//!   order in batches of `segments.batch`, scores them with fixed thresholds ([`score_up`],
//!   [`score_down`]) and writes each batch's RFM rows and rule tags in one transaction; what the
//!   run did not write is removed at its end. The result depends only on the orders and on
//!   `now`: running it again over the same orders at the same `now` writes exactly the same
//!   rows. The rules are documented in docs/CONTRACTS.md ("Member tags and segments").
//! * Segments ([`SegmentRules`]: tags all of / any of / none of, inclusive R/F/M score ranges)
//!   read tags only through `storage::segments::TAG_ROWS` (the one source of tag rows).
//! * Actions: [`issue_coupon_to_segment`] and [`notify_segment`] reach the members of the
//!   segment who did not opt out of personalisation (`members.personalisation_opt_out`), in
//!   batches, each member once per action id (a resubmitted or retried action resumes and never
//!   reaches a member twice).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::actor::{Role, StaffActor};
use crate::config::SegmentSettings;
use crate::error::{AppError, AppResult};
use crate::storage::segments::{MemberFilter, MemberTag, Rfm, RuleTag, SegmentAction};
use crate::storage::{self, now_ms};

/// Tag: the first purchase was at most `segments.new_days` days ago.
pub const TAG_NEW: &str = "new";
/// Tag: no purchase for more than `segments.lapsed_days` days.
pub const TAG_LAPSED: &str = "lapsed_60";
/// Tag: more than half of the member's orders had a promotion or coupon discount or were
/// bargains.
pub const TAG_BARGAIN_HUNTER: &str = "bargain_hunter";
/// Tag: more than half of the member's online orders were collected in a store.
pub const TAG_PICKUP_FIRST: &str = "pickup_first";
/// Tag: the M score is at least `segments.high_value_m_score`.
pub const TAG_HIGH_VALUE: &str = "high_value";
/// The rule tags, in the order the console lists them.
pub const RULE_TAGS: [&str; 5] = [
    TAG_NEW,
    TAG_LAPSED,
    TAG_BARGAIN_HUNTER,
    TAG_PICKUP_FIRST,
    TAG_HIGH_VALUE,
];

const DAY_MS: i64 = 86_400_000;

/// A score from 1 to 5 where less is better (recency): 5 at or under `thresholds[0]`, 4 at or
/// under `thresholds[1]`, …, 1 above `thresholds[3]`.
pub fn score_down(value: i64, thresholds: &[i64; 4]) -> i64 {
    5 - thresholds.iter().filter(|t| value > **t).count() as i64
}

/// A score from 1 to 5 where more is better (frequency, monetary): 1 under `thresholds[0]`, 2
/// from it, …, 5 from `thresholds[3]`.
pub fn score_up(value: i64, thresholds: &[i64; 4]) -> i64 {
    1 + thresholds.iter().filter(|t| value >= **t).count() as i64
}

/// The RFM row and rule tags of one member's statistics at `now`.
pub fn score(
    cfg: &SegmentSettings,
    s: &storage::segments::PurchaseStats,
    now: i64,
) -> (Rfm, Vec<RuleTag>) {
    let recency_days = (now - s.last_at).max(0) / DAY_MS;
    let first_days = (now - s.first_at).max(0) / DAY_MS;
    let rfm = Rfm {
        member_id: s.member_id,
        recency_days,
        frequency: s.orders,
        monetary_fen: s.total_fen,
        r_score: score_down(recency_days, &cfg.recency_days),
        f_score: score_up(s.orders, &cfg.frequency),
        m_score: score_up(s.total_fen, &cfg.monetary_fen),
        first_at: s.first_at,
        last_at: s.last_at,
        computed_at: now,
    };
    let mut tags = Vec::new();
    let mut tag = |tag: &'static str, value: i64| {
        tags.push(RuleTag {
            member_id: s.member_id,
            tag,
            value,
        })
    };
    if now - s.first_at <= cfg.new_days * DAY_MS {
        tag(TAG_NEW, first_days);
    }
    if now - s.last_at > cfg.lapsed_days * DAY_MS {
        tag(TAG_LAPSED, recency_days);
    }
    let min = cfg.habit_min_orders.max(1);
    if s.orders >= min && s.deal_orders * 2 > s.orders {
        tag(TAG_BARGAIN_HUNTER, s.deal_orders * 100 / s.orders);
    }
    if s.online_orders >= min && s.pickup_orders * 2 > s.online_orders {
        tag(TAG_PICKUP_FIRST, s.pickup_orders * 100 / s.online_orders);
    }
    if rfm.m_score >= cfg.high_value_m_score {
        tag(TAG_HIGH_VALUE, rfm.m_score);
    }
    (rfm, tags)
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ComputeReport {
    /// Members scored.
    pub members: usize,
    /// Rule tags written.
    pub tags: usize,
    /// Rows of members no longer scored removed.
    pub removed: u64,
}

/// Computes every member's RFM row and rule tags as of `now` (Unix ms), in batches of
/// `segments.batch` members, each batch in one transaction (see the module documentation).
pub async fn compute(state: &AppState, now: i64) -> AppResult<ComputeReport> {
    let cfg = &state.settings.segments;
    let batch = i64::from(cfg.batch.clamp(1, 5_000));
    let mut report = ComputeReport::default();
    let mut after = None;
    loop {
        let stats = storage::segments::purchase_stats(&state.store, after, now, batch).await?;
        let Some(last) = stats.last() else { break };
        after = Some(last.member_id);
        let members: Vec<Uuid> = stats.iter().map(|s| s.member_id).collect();
        let mut rows = Vec::with_capacity(stats.len());
        let mut tags = Vec::new();
        for s in &stats {
            let (rfm, member_tags) = score(cfg, s, now);
            rows.push(rfm);
            tags.extend(member_tags);
        }
        storage::segments::write_batch(&state.store, now, &members, &rows, &tags).await?;
        report.members += rows.len();
        report.tags += tags.len();
        if (stats.len() as i64) < batch {
            break;
        }
    }
    report.removed = storage::segments::drop_stale(&state.store, now).await?;
    Ok(report)
}

/// Runs [`compute`] at start and every `segments.every_secs` until cancelled (never with 0).
pub async fn run(state: AppState, cancel: CancellationToken) {
    let every = state.settings.segments.every_secs;
    if every == 0 {
        return;
    }
    loop {
        let hold = Duration::from_secs(every);
        match super::cluster::leased(&state, "segments", hold, compute(&state, now_ms())).await {
            Ok(None) => {}
            Ok(Some(r)) => tracing::info!(
                members = r.members,
                tags = r.tags,
                removed = r.removed,
                "member tags computed"
            ),
            Err(err) => tracing::warn!(error = %err, "computing member tags failed; will retry"),
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(every)) => {}
        }
    }
}

/// An inclusive score range, 1 to 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScoreRange {
    /// Lowest score.
    pub min: i64,
    /// Highest score.
    pub max: i64,
}

/// A segment's rules: the members carrying all of `all_of`, at least one of `any_of` (when
/// any are given), none of `none_of`, with scores within the ranges given. A member without an
/// RFM row fails any score range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentRules {
    /// Tags a member must all carry.
    #[serde(default)]
    pub all_of: Vec<String>,
    /// Tags of which a member must carry one.
    #[serde(default)]
    pub any_of: Vec<String>,
    /// Tags a member must carry none of.
    #[serde(default)]
    pub none_of: Vec<String>,
    /// R score range.
    #[serde(default)]
    pub r: Option<ScoreRange>,
    /// F score range.
    #[serde(default)]
    pub f: Option<ScoreRange>,
    /// M score range.
    #[serde(default)]
    pub m: Option<ScoreRange>,
}

/// A tag name: 1 to 64 of `a-z 0-9 _ - . :`.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 64
        && tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.:".contains(&b))
}

impl SegmentRules {
    /// Checks the rules: field errors for a bad tag, a bad range, or no condition at all.
    pub fn validate(&self) -> AppResult<()> {
        for (field, tags) in [
            ("all_of", &self.all_of),
            ("any_of", &self.any_of),
            ("none_of", &self.none_of),
        ] {
            if tags.len() > 20 {
                return Err(AppError::field(field, "at most 20 tags"));
            }
            if let Some(bad) = tags.iter().find(|t| !valid_tag(t)) {
                return Err(AppError::field(
                    field,
                    format!("{bad:?} is not a tag (a-z, 0-9, _ - . :)"),
                ));
            }
        }
        for (field, range) in [("r", self.r), ("f", self.f), ("m", self.m)] {
            if let Some(ScoreRange { min, max }) = range {
                if !(1..=5).contains(&min) || !(1..=5).contains(&max) || min > max {
                    return Err(AppError::field(field, "a range within 1 to 5, low to high"));
                }
            }
        }
        if self.all_of.is_empty()
            && self.any_of.is_empty()
            && self.none_of.is_empty()
            && self.r.is_none()
            && self.f.is_none()
            && self.m.is_none()
        {
            return Err(AppError::field(
                "all_of",
                "give at least one tag or score range",
            ));
        }
        Ok(())
    }

    /// The storage filter of these rules (`targeting`: opted-out members left out).
    pub fn filter(&self, targeting: bool) -> MemberFilter<'_> {
        let pair = |r: Option<ScoreRange>| r.map(|r| (r.min, r.max));
        MemberFilter {
            all_of: &self.all_of,
            any_of: &self.any_of,
            none_of: &self.none_of,
            r: pair(self.r),
            f: pair(self.f),
            m: pair(self.m),
            targeting,
        }
    }
}

/// A stored segment with its rules.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Segment {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Rules.
    pub rules: SegmentRules,
    /// Who created it.
    pub created_by: String,
    /// Last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

fn segment_of(row: storage::segments::SegmentRow) -> AppResult<Segment> {
    let rules = serde_json::from_str(&row.rules)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("segment {} rules: {e}", row.id)))?;
    Ok(Segment {
        id: row.id,
        name: row.name,
        rules,
        created_by: row.created_by,
        updated_at: row.updated_at,
    })
}

fn head_office(staff: &StaffActor) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])
}

/// Every segment (head office).
pub async fn segments(state: &AppState, staff: &StaffActor) -> AppResult<Vec<Segment>> {
    head_office(staff)?;
    storage::segments::segments(&state.store)
        .await?
        .into_iter()
        .map(segment_of)
        .collect()
}

/// The segment `id` (head office); 404 when there is none.
pub async fn segment(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<Segment> {
    head_office(staff)?;
    storage::segments::segment(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found("no such segment"))
        .and_then(segment_of)
}

/// Creates (client id `id`, UUIDv7; a retry changes nothing) or, with `update`, changes a
/// segment (head office); audited.
pub async fn save_segment(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    name: &str,
    rules: &SegmentRules,
    update: bool,
) -> AppResult<Segment> {
    head_office(staff)?;
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field("id", e.to_string()))?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AppError::field("name", "1 to 64 characters"));
    }
    rules.validate()?;
    let text = serde_json::to_string(rules).map_err(|e| AppError::Internal(e.into()))?;
    storage::segments::save_segment(&state.store, id, name, &text, &staff.actor(), update).await?;
    segment(state, staff, id).await
}

/// How many members the rules take; with `targeting`, without those who opted out of
/// personalisation (whom actions never reach).
pub async fn count(state: &AppState, rules: &SegmentRules, targeting: bool) -> AppResult<i64> {
    storage::segments::count_members(&state.store, &rules.filter(targeting)).await
}

/// One member of a preview: masked, never the phone number in full.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PreviewMember {
    /// Id.
    pub id: Uuid,
    /// Masked phone, e.g. `138****8000`.
    pub phone: String,
    /// RFM scores, when computed.
    pub rfm: Option<Rfm>,
    /// Tags.
    pub tags: Vec<String>,
}

/// The first `limit` (at most 50) members the rules take, masked (head office).
pub async fn preview(
    state: &AppState,
    staff: &StaffActor,
    rules: &SegmentRules,
    limit: i64,
) -> AppResult<Vec<PreviewMember>> {
    head_office(staff)?;
    let ids = storage::segments::members_page(
        &state.store,
        &rules.filter(false),
        None,
        None,
        limit.clamp(1, 50),
    )
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let (rfm, tags) = profile(state, id).await?;
        let m =
            storage::members::get(&state.store, &state.keys, &state.settings.points, id).await?;
        out.push(PreviewMember {
            id,
            phone: m.phone,
            rfm,
            tags: tags.into_iter().map(|t| t.tag).collect(),
        });
    }
    Ok(out)
}

/// A member's RFM row and tags (as the console's member page shows them).
pub async fn profile(state: &AppState, member: Uuid) -> AppResult<(Option<Rfm>, Vec<MemberTag>)> {
    Ok((
        storage::segments::rfm(&state.store, member).await?,
        storage::segments::tags(&state.store, Some(member)).await?,
    ))
}

/// Every tag in use and how many members carry it, with the rule tags always listed.
pub async fn tag_names(state: &AppState) -> AppResult<Vec<(String, i64)>> {
    let mut counts = storage::segments::tag_counts(&state.store).await?;
    for tag in RULE_TAGS {
        if !counts.iter().any(|(t, _)| t == tag) {
            counts.push((tag.to_owned(), 0));
        }
    }
    counts.sort();
    Ok(counts)
}

/// What an action did: members reached so far by outcome (`issued`, `notified`,
/// `refused:<code>` when the coupon could not be issued to that member).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ActionReport {
    /// The action.
    pub action: SegmentAction,
    /// Members reached, by outcome.
    pub outcomes: Vec<(String, i64)>,
}

/// What a segment action does.
#[derive(Clone, Debug)]
pub enum ActionKind {
    /// Issue one coupon of this template to each member.
    Coupon {
        /// The coupon template.
        template: Uuid,
    },
    /// Tell each member (in-app, and the outside channels their preferences allow).
    Notify {
        /// The text in Chinese.
        text_zh: String,
        /// The text in English (the Chinese when empty).
        text_en: String,
    },
}

/// Members handled per batch of an action.
const ACTION_BATCH: i64 = 200;

/// Issues one coupon of `template` to every member of the segment (not opted out), as `staff`
/// (head office), through the coupons' issuing path (`storage::coupons::issue`, the same as
/// `app::coupons::issue_coupon`: stock, window and per-member limit checked, audited
/// `coupon.issue`). The action id (UUIDv7) makes it idempotent: sent again it resumes, and a
/// member already reached is never issued another coupon by it. A member the template refuses
/// (limit reached, sold out) is recorded `refused:<code>`.
pub async fn issue_coupon_to_segment(
    state: &AppState,
    staff: &StaffActor,
    segment_id: Uuid,
    action_id: Uuid,
    template: Uuid,
) -> AppResult<ActionReport> {
    head_office(staff)?;
    super::coupons::find_template(state, template).await?;
    act(
        state,
        staff,
        segment_id,
        action_id,
        ActionKind::Coupon { template },
    )
    .await
}

/// Tells every member of the segment (not opted out) `text_zh` / `text_en`, as `staff` (head
/// office): an in-app notice and the outside channels by the member's preferences for
/// `campaign` (SMS off unless they turned it on), through `storage::notifications`' outbox,
/// once per member and action id (sent again, it resumes).
pub async fn notify_segment(
    state: &AppState,
    staff: &StaffActor,
    segment_id: Uuid,
    action_id: Uuid,
    text_zh: &str,
    text_en: &str,
) -> AppResult<ActionReport> {
    let (zh, en) = (text_zh.trim(), text_en.trim());
    if zh.is_empty() || zh.chars().count() > 200 {
        return Err(AppError::field("text_zh", "1 to 200 characters"));
    }
    if en.chars().count() > 200 {
        return Err(AppError::field("text_en", "at most 200 characters"));
    }
    let en = if en.is_empty() { zh } else { en };
    act(
        state,
        staff,
        segment_id,
        action_id,
        ActionKind::Notify {
            text_zh: zh.to_owned(),
            text_en: en.to_owned(),
        },
    )
    .await
}

async fn act(
    state: &AppState,
    staff: &StaffActor,
    segment_id: Uuid,
    action_id: Uuid,
    kind: ActionKind,
) -> AppResult<ActionReport> {
    let seg = segment(state, staff, segment_id).await?;
    retail_domain::ids::require_v7(action_id)
        .map_err(|e| AppError::field("action_id", e.to_string()))?;
    let (kind_name, template_id, message) = match &kind {
        ActionKind::Coupon { template } => ("coupon", Some(*template), String::new()),
        ActionKind::Notify { text_zh, text_en } => (
            "notify",
            None,
            serde_json::json!({ "text_zh": text_zh, "text_en": text_en }).to_string(),
        ),
    };
    let wanted = SegmentAction {
        id: action_id,
        segment_id,
        kind: kind_name.to_owned(),
        template_id,
        message,
        created_by: staff.actor(),
        created_at: now_ms(),
        finished_at: None,
    };
    let stored = storage::segments::start_action(&state.store, &wanted).await?;
    if stored.segment_id != wanted.segment_id
        || stored.kind != wanted.kind
        || stored.template_id != wanted.template_id
        || stored.message != wanted.message
    {
        return Err(AppError::conflict(
            "id_reused",
            "this action id was used for another action",
        ));
    }
    let filter = seg.rules.filter(true);
    let actor = format!("segment:{action_id}");
    let mut after = None;
    loop {
        let members = storage::segments::members_page(
            &state.store,
            &filter,
            after,
            Some(action_id),
            ACTION_BATCH,
        )
        .await?;
        let Some(last) = members.last() else { break };
        after = Some(*last);
        match &kind {
            ActionKind::Coupon { template } => {
                for &member in &members {
                    issue_one(state, action_id, *template, member, &actor).await?;
                }
            }
            ActionKind::Notify { text_zh, text_en } => {
                let detail = serde_json::json!({ "text_zh": text_zh, "text_en": text_en });
                let mut tx = state.store.begin().await?;
                for &member in &members {
                    if storage::segments::reach_in_tx(&mut tx, action_id, member, "notified", None)
                        .await?
                    {
                        storage::notifications::notify_account_in_tx(
                            &mut tx,
                            member,
                            storage::notifications::EventKind::Campaign,
                            &action_id.to_string(),
                            &detail,
                        )
                        .await?;
                    }
                }
                tx.commit().await?;
            }
        }
        if (members.len() as i64) < ACTION_BATCH {
            break;
        }
    }
    storage::segments::finish_action(&state.store, action_id).await?;
    Ok(ActionReport {
        action: stored,
        outcomes: storage::segments::action_outcomes(&state.store, action_id).await?,
    })
}

/// Issues the action's coupon to one member in a transaction of its own that also marks the
/// member reached (so a retry never issues twice); a refusal is recorded as the outcome.
async fn issue_one(
    state: &AppState,
    action: Uuid,
    template: Uuid,
    member: Uuid,
    actor: &str,
) -> AppResult<()> {
    let coupon_id = retail_domain::ids::new_id();
    let mut tx = state.store.begin().await?;
    if !storage::segments::reach_in_tx(&mut tx, action, member, "issued", Some(coupon_id)).await? {
        tx.rollback().await?;
        return Ok(());
    }
    match storage::coupons::issue(&mut tx, template, member, coupon_id, actor).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(())
        }
        Err(AppError::Conflict { code, .. }) => {
            // Nothing of the refused issue is kept; the member is recorded as reached.
            tx.rollback().await?;
            let mut tx = state.store.begin().await?;
            storage::segments::reach_in_tx(
                &mut tx,
                action,
                member,
                &format!("refused:{code}"),
                None,
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }
        Err(other) => Err(other),
    }
}

/// The actions taken on a segment, newest first, with their outcomes (head office).
pub async fn actions(
    state: &AppState,
    staff: &StaffActor,
    segment_id: Uuid,
) -> AppResult<Vec<ActionReport>> {
    head_office(staff)?;
    let mut out = Vec::new();
    for action in storage::segments::actions(&state.store, segment_id).await? {
        let outcomes = storage::segments::action_outcomes(&state.store, action.id).await?;
        out.push(ActionReport { action, outcomes });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_the_thresholds() {
        let r = [7, 14, 30, 60];
        assert_eq!(
            [0, 7, 8, 14, 30, 31, 60, 61].map(|d| score_down(d, &r)),
            [5, 5, 4, 4, 3, 2, 2, 1]
        );
        let f = [2, 4, 8, 16];
        assert_eq!(
            [0, 1, 2, 3, 4, 8, 15, 16, 100].map(|n| score_up(n, &f)),
            [1, 1, 2, 2, 3, 4, 4, 5, 5]
        );
    }

    #[test]
    fn rules_need_a_condition_and_good_tags() {
        assert!(SegmentRules::default().validate().is_err());
        let bad = SegmentRules {
            all_of: vec!["Bad Tag".into()],
            ..SegmentRules::default()
        };
        assert!(bad.validate().is_err());
        let range = SegmentRules {
            r: Some(ScoreRange { min: 4, max: 2 }),
            ..SegmentRules::default()
        };
        assert!(range.validate().is_err());
        let ok = SegmentRules {
            all_of: vec![TAG_LAPSED.into()],
            m: Some(ScoreRange { min: 3, max: 5 }),
            ..SegmentRules::default()
        };
        assert!(ok.validate().is_ok());
    }
}
