//! The customer-service bot (智能客服, issue 18): it answers first, from head office's FAQ
//! knowledge base and from the shopper's own orders, and hands over to a person when asked, when
//! unsure, or on a hand-over keyword. The chat calls [`reply`] for each shopper message and
//! [`learn_from_agent`] when an agent turns an answer into an FAQ entry; the API's
//! `POST /api/v1/faq/ask` calls it too.
//!
//! A question is checked, in this order (the [`matcher`] module has the details):
//! 1. asking for a person (转人工, 人工客服, "human", "agent", …) → [`HandoverReason::Asked`];
//! 2. a hand-over keyword of `[service_bot] handover_keywords` (投诉, 12315, 律师, complaint, …)
//!    → [`HandoverReason::Keyword`];
//! 3. an order question about the shopper's own order — where is it, when can I pick it up, how
//!    do I return it — answered from their data when `member` is given (only their orders: an
//!    order of someone else is answered exactly like an order that does not exist), else "please
//!    log in";
//! 4. the FAQ ranking (BM25 over question, examples, keywords and answer, keyword boost); the
//!    best entry answers when its score reaches `[service_bot] min_score`, otherwise
//!    [`HandoverReason::LowConfidence`].
//!
//! The ranking index lives in memory ([`ServiceBot`] in the shared state): built at start,
//! rebuilt at once after a change on this instance, and after a change on another instance
//! within [`CHECK_EVERY`] (the `faq_changes` counter moved).

pub mod matcher;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use retail_domain::order::{Fulfilment, OrderStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage::faq::{FaqContent, FaqEntry, FaqSource, NewFaq};
use crate::storage::{self, Store};
use matcher::{FaqIndex, IndexEntry, Rule};

/// Longest question the bot reads, in characters (longer: 400).
pub const MAX_QUESTION_CHARS: usize = 500;
/// Longest answer or question stored in an entry, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// Most keywords and most examples of one entry.
pub const MAX_LIST: usize = 50;
/// How often the index checks whether another instance changed the knowledge base.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The language the shopper writes in (the bot answers in it when the entry has it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// 简体中文.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }
}

/// A shopper's question to the bot.
#[derive(Clone, Copy, Debug)]
pub struct BotQuestion<'a> {
    /// What they wrote.
    pub text: &'a str,
    /// The logged-in member, if any (order questions are answered only for them).
    pub member: Option<Uuid>,
    /// The order the conversation is about, if any.
    pub order_id: Option<Uuid>,
    /// The shopper's language.
    pub lang: Lang,
}

/// Why the bot hands over to a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoverReason {
    /// The shopper asked for a person.
    Asked,
    /// No entry matched well enough.
    LowConfidence,
    /// A hand-over keyword (a complaint, a lawyer, …).
    Keyword,
}

/// The bot's reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BotReply {
    /// The bot answers.
    Answer {
        /// The answer.
        text: String,
        /// The FAQ entry it came from (none for an order answer).
        faq_id: Option<i64>,
        /// How sure the bot is (FAQ: the ranking score, about 0 to 1; order answers: 1).
        score: f32,
    },
    /// A person takes over.
    Handover {
        /// Why.
        reason: HandoverReason,
        /// What the shopper is told.
        text: String,
    },
}

/// What the bot understood a question as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotIntent {
    /// An FAQ entry answers it.
    Faq,
    /// "Where is my order?"
    OrderStatus,
    /// "When can I pick it up?"
    OrderPickup,
    /// "How do I return this?"
    OrderReturn,
    /// A person takes over.
    Handover,
}

/// A reply with what the question was understood as.
#[derive(Clone, Debug)]
pub struct BotOutcome {
    /// The reply.
    pub reply: BotReply,
    /// The intent.
    pub intent: BotIntent,
}

struct Built {
    index: Arc<FaqIndex>,
    answers: Arc<HashMap<i64, (String, String)>>,
    seq: i64,
    checked: Instant,
}

/// The bot's in-memory ranking index over the enabled entries.
#[derive(Default)]
pub struct ServiceBot {
    current: RwLock<Option<Built>>,
    rebuilding: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ServiceBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBot").finish_non_exhaustive()
    }
}

type Snapshot = (Arc<FaqIndex>, Arc<HashMap<i64, (String, String)>>);

impl ServiceBot {
    /// Loads the segmentation dictionary and builds the index from the database (the server's
    /// start).
    pub async fn load(store: &Store) -> AppResult<Self> {
        tokio::task::spawn_blocking(matcher::warm_up)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        let bot = Self::default();
        bot.rebuild(store).await?;
        Ok(bot)
    }

    fn fresh(&self) -> Option<Snapshot> {
        let guard = self.current.read().ok()?;
        guard.as_ref().and_then(|b| {
            (b.checked.elapsed() < CHECK_EVERY).then(|| (b.index.clone(), b.answers.clone()))
        })
    }

    /// The index, checked against the database at most every [`CHECK_EVERY`].
    async fn get(&self, store: &Store) -> AppResult<Snapshot> {
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        let _one = self.rebuilding.lock().await;
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        let seq = storage::faq::changes(store).await?;
        if let Ok(mut guard) = self.current.write() {
            if let Some(b) = guard.as_mut() {
                if b.seq == seq {
                    b.checked = Instant::now();
                    return Ok((b.index.clone(), b.answers.clone()));
                }
            }
        }
        self.build_locked(store).await
    }

    /// Rebuilds the index now (after a change on this instance).
    pub async fn rebuild(&self, store: &Store) -> AppResult<()> {
        let _one = self.rebuilding.lock().await;
        self.build_locked(store).await.map(|_| ())
    }

    async fn build_locked(&self, store: &Store) -> AppResult<Snapshot> {
        let seq = storage::faq::changes(store).await?;
        let entries = storage::faq::enabled(store).await?;
        let (index, answers) = tokio::task::spawn_blocking(move || build_index(&entries))
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        let (index, answers) = (Arc::new(index), Arc::new(answers));
        if let Ok(mut guard) = self.current.write() {
            *guard = Some(Built {
                index: index.clone(),
                answers: answers.clone(),
                seq,
                checked: Instant::now(),
            });
        }
        Ok((index, answers))
    }
}

/// The ranking index and the answers (zh, en) by entry id.
pub fn build_index(entries: &[FaqEntry]) -> (FaqIndex, HashMap<i64, (String, String)>) {
    let docs: Vec<IndexEntry> = entries
        .iter()
        .map(|e| IndexEntry {
            id: e.id,
            phrasings: [&e.content.question_zh, &e.content.question_en]
                .into_iter()
                .chain(e.content.examples.iter())
                .filter(|t| !t.is_empty())
                .cloned()
                .collect(),
            keywords: e.content.keywords.clone(),
            answers: vec![e.content.answer_zh.clone(), e.content.answer_en.clone()],
        })
        .collect();
    let answers = entries
        .iter()
        .map(|e| {
            (
                e.id,
                (e.content.answer_zh.clone(), e.content.answer_en.clone()),
            )
        })
        .collect();
    (FaqIndex::build(&docs), answers)
}

/// The bot's reply to a shopper's question (see the module). 400 `empty_question` for a
/// question with nothing in it, 400 `question_too_long` beyond [`MAX_QUESTION_CHARS`].
pub async fn reply(state: &AppState, question: BotQuestion<'_>) -> AppResult<BotReply> {
    Ok(answer(state, question).await?.reply)
}

/// [`reply`] with what the question was understood as (the accuracy test and the API's
/// metrics read it).
pub async fn answer(state: &AppState, question: BotQuestion<'_>) -> AppResult<BotOutcome> {
    let text = question.text.trim();
    if text.chars().all(|c| c.is_whitespace() || c.is_control()) {
        return Err(AppError::bad_request(
            "empty_question",
            "the question is empty",
        ));
    }
    if text.chars().count() > MAX_QUESTION_CHARS {
        return Err(AppError::bad_request(
            "question_too_long",
            format!("a question is at most {MAX_QUESTION_CHARS} characters"),
        ));
    }
    let lang = question.lang;
    let settings = &state.settings.service_bot;
    let keywords: Vec<String> = settings
        .handover_keywords
        .iter()
        .map(|k| matcher::normalise(k.trim()))
        .filter(|k| !k.is_empty())
        .collect();
    let outcome = match matcher::rule(text, &keywords, question.order_id.is_some()) {
        Some(Rule::AskedForPerson) => handover(lang, HandoverReason::Asked),
        Some(Rule::HandoverKeyword) => handover(lang, HandoverReason::Keyword),
        Some(rule) => {
            let intent = match rule {
                Rule::OrderPickup => BotIntent::OrderPickup,
                Rule::OrderReturn => BotIntent::OrderReturn,
                _ => BotIntent::OrderStatus,
            };
            let text = match question.member {
                None => lang
                    .t(
                        "请先登录，我才能查询您的订单哦。",
                        "Please log in so I can look up your orders.",
                    )
                    .to_owned(),
                Some(member) => {
                    order_answer(state, member, question.order_id, intent, lang).await?
                }
            };
            BotOutcome {
                reply: BotReply::Answer {
                    text,
                    faq_id: None,
                    score: 1.0,
                },
                intent,
            }
        }
        None => {
            let (index, answers) = state.service_bot.get(&state.store).await?;
            let best = index.rank(text, 1).into_iter().next();
            match best {
                Some(best) if best.score >= settings.min_score => {
                    let (zh, en) = answers.get(&best.id).cloned().unwrap_or_default();
                    let text = if lang == Lang::En && !en.is_empty() {
                        en
                    } else {
                        zh
                    };
                    BotOutcome {
                        reply: BotReply::Answer {
                            text,
                            faq_id: Some(best.id),
                            score: best.score,
                        },
                        intent: BotIntent::Faq,
                    }
                }
                _ => handover(lang, HandoverReason::LowConfidence),
            }
        }
    };
    let kind = match &outcome.reply {
        BotReply::Answer { .. } => "answer",
        BotReply::Handover { reason, .. } => match reason {
            HandoverReason::Asked => "handover_asked",
            HandoverReason::LowConfidence => "handover_low_confidence",
            HandoverReason::Keyword => "handover_keyword",
        },
    };
    metrics::counter!("service_bot_replies_total", "kind" => kind).increment(1);
    Ok(outcome)
}

fn handover(lang: Lang, reason: HandoverReason) -> BotOutcome {
    let text = match reason {
        HandoverReason::Asked => lang.t(
            "好的，正在为您转接人工客服，请稍候。",
            "Sure, I'm passing you to one of our agents. One moment please.",
        ),
        HandoverReason::LowConfidence => lang.t(
            "抱歉，这个问题我还答不好，已为您转接人工客服。",
            "Sorry, I can't answer that well yet. I'm passing you to one of our agents.",
        ),
        HandoverReason::Keyword => lang.t(
            "非常抱歉给您带来不便，已为您优先转接人工客服处理。",
            "We're very sorry for the trouble. An agent will take this over right away.",
        ),
    };
    BotOutcome {
        reply: BotReply::Handover {
            reason,
            text: text.to_owned(),
        },
        intent: BotIntent::Handover,
    }
}

fn china_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&super::china_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn status_text(lang: Lang, status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::PendingPayment => lang.t("待付款", "awaiting payment"),
        OrderStatus::Paid => lang.t("已付款，正在备货", "paid, being prepared"),
        OrderStatus::Shipped => lang.t("已发货", "shipped"),
        OrderStatus::Delivered => lang.t("已送达", "delivered"),
        OrderStatus::ReadyForPickup => lang.t("已备好，待自提", "ready for pickup"),
        OrderStatus::PickedUp => lang.t("已自提", "collected"),
        OrderStatus::Completed => lang.t("已完成", "completed"),
        OrderStatus::Cancelled => lang.t("已取消", "cancelled"),
        OrderStatus::AfterSale => lang.t("售后处理中", "in after-sale"),
        OrderStatus::Refunded => lang.t("已退款", "refunded"),
    }
}

/// The member's order the question is about: the named one if it is theirs, else their latest
/// (of `fulfilment`, in one of `statuses` when given). `None` when there is none — the same for
/// an order of someone else as for no order at all.
async fn own_order(
    state: &AppState,
    member: Uuid,
    named: Option<Uuid>,
    fulfilment: Option<&str>,
    statuses: &[&str],
) -> AppResult<Option<storage::orders::OrderView>> {
    if let Some(id) = named {
        return match storage::orders::get(&state.store, id).await {
            Ok(order) if order.member_id == Some(member) => Ok(Some(order)),
            Ok(_) | Err(AppError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        };
    }
    let page = storage::web::orders(
        &state.store,
        &storage::web::OrderQuery {
            location: None,
            member: Some(member),
            statuses: statuses.iter().map(|s| (*s).to_owned()).collect(),
            number: None,
            since: None,
            fulfilment: fulfilment.map(str::to_owned),
            cursor: None,
            limit: 1,
        },
    )
    .await?;
    match page.items.first() {
        Some(row) => Ok(Some(storage::orders::get(&state.store, row.id).await?)),
        None => Ok(None),
    }
}

fn store_name(lang: Lang, loc: &storage::locations::Location) -> String {
    let name = match lang {
        Lang::En if !loc.name_en.is_empty() => &loc.name_en,
        _ => &loc.name_zh,
    };
    if loc.address.is_empty() {
        name.clone()
    } else {
        format!("{name} ({})", loc.address)
    }
}

/// When the order last entered `status`.
fn entered(order: &storage::orders::OrderView, status: &[OrderStatus]) -> Option<DateTime<Utc>> {
    order
        .events
        .iter()
        .rev()
        .find(|e| status.contains(&e.to))
        .map(|e| e.at)
}

async fn order_answer(
    state: &AppState,
    member: Uuid,
    named: Option<Uuid>,
    intent: BotIntent,
    lang: Lang,
) -> AppResult<String> {
    let not_found = || {
        lang.t(
            "没有在您的账户里找到相关订单。如有疑问可以回复「转人工」。",
            "I couldn't find a matching order on your account. Reply \"agent\" to talk to a person.",
        )
        .to_owned()
    };
    let order = match intent {
        BotIntent::OrderPickup => own_order(state, member, named, Some("pickup"), &[]).await?,
        BotIntent::OrderReturn => {
            own_order(
                state,
                member,
                named,
                None,
                &[
                    "delivered",
                    "picked_up",
                    "completed",
                    "after_sale",
                    "shipped",
                ],
            )
            .await?
        }
        _ => own_order(state, member, named, None, &[]).await?,
    };
    let Some(order) = order else {
        return Ok(not_found());
    };
    let link = format!("{}/orders/{}", state.public_url, order.id);
    let head = match lang {
        Lang::Zh => format!(
            "您的订单 {}（{} 下单）：{}。",
            order.order_no,
            china_time(order.created_at),
            status_text(lang, order.status)
        ),
        Lang::En => format!(
            "Your order {} (placed {}) is {}.",
            order.order_no,
            china_time(order.created_at),
            status_text(lang, order.status)
        ),
    };
    let mut text = head;
    match intent {
        BotIntent::OrderPickup => {
            pickup_text(state, &order, lang, &mut text).await?;
        }
        BotIntent::OrderReturn => {
            return_text(state, &order, lang, &mut text).await?;
        }
        _ => {
            if order.fulfilment == Fulfilment::Delivery {
                if let Some(d) = storage::delivery::order_delivery(&state.store, order.id).await? {
                    if let (Some(carrier), Some(waybill)) = (d.carrier, d.waybill) {
                        text.push_str(&match lang {
                            Lang::Zh => format!("承运：{carrier}，运单号 {waybill}。"),
                            Lang::En => format!("Carrier {carrier}, waybill {waybill}."),
                        });
                    } else if !d.slot.is_empty() {
                        text.push_str(&match lang {
                            Lang::Zh => format!("预约送达时段：{}。", d.slot),
                            Lang::En => format!("Delivery slot: {}.", d.slot),
                        });
                    }
                }
                let events = storage::delivery::tracking_events(&state.store, order.id).await?;
                if let Some(last) = events.last() {
                    text.push_str(&match lang {
                        Lang::Zh => format!(
                            "最新物流（{}）：{}。",
                            china_time(last.happened_at),
                            last.description
                        ),
                        Lang::En => format!(
                            "Latest tracking ({}): {}.",
                            china_time(last.happened_at),
                            last.description
                        ),
                    });
                }
            } else if order.fulfilment == Fulfilment::Pickup {
                pickup_text(state, &order, lang, &mut text).await?;
            }
        }
    }
    text.push_str(&match lang {
        Lang::Zh => format!(" 订单详情：{link}"),
        Lang::En => format!(" Order details: {link}"),
    });
    Ok(text)
}

async fn pickup_text(
    state: &AppState,
    order: &storage::orders::OrderView,
    lang: Lang,
    text: &mut String,
) -> AppResult<()> {
    let store = storage::locations::get(&state.store, &order.location_id)
        .await
        .map(|l| store_name(lang, &l))
        .unwrap_or_else(|_| order.location_id.clone());
    match order.status {
        OrderStatus::ReadyForPickup => {
            let hold = i64::try_from(state.settings.orders.pickup_hold_secs).unwrap_or(i64::MAX);
            let deadline = entered(order, &[OrderStatus::ReadyForPickup])
                .map(|at| at + chrono::Duration::seconds(hold.min(10 * 365 * 86_400)));
            text.push_str(&match lang {
                Lang::Zh => format!("已经备好，可以到 {store} 出示订单里的提货码取货。"),
                Lang::En => format!(
                    "It is ready: collect it at {store} with the pickup code on your order."
                ),
            });
            if let Some(deadline) = deadline {
                text.push_str(&match lang {
                    Lang::Zh => format!(
                        "请在 {} 前取货，逾期未取将自动取消并退款。",
                        china_time(deadline)
                    ),
                    Lang::En => format!(
                        " Please collect it before {}; after that it is cancelled and refunded.",
                        china_time(deadline)
                    ),
                });
            }
        }
        OrderStatus::Paid => text.push_str(&match lang {
            Lang::Zh => format!("{store} 正在备货，备好后会通知您来取。"),
            Lang::En => format!("{store} is preparing it; we'll tell you when it's ready."),
        }),
        OrderStatus::PendingPayment => text.push_str(lang.t(
            "订单还没有付款，付款后门店开始备货。",
            " It is not paid yet; the store prepares it once paid.",
        )),
        OrderStatus::PickedUp | OrderStatus::Completed => {
            if let Some(at) = entered(order, &[OrderStatus::PickedUp, OrderStatus::Completed]) {
                text.push_str(&match lang {
                    Lang::Zh => format!("已于 {} 取货。", china_time(at)),
                    Lang::En => format!(" It was collected on {}.", china_time(at)),
                });
            }
        }
        _ => {}
    }
    Ok(())
}

async fn return_text(
    state: &AppState,
    order: &storage::orders::OrderView,
    lang: Lang,
    text: &mut String,
) -> AppResult<()> {
    use storage::after_sales::{AfterSaleKind, AfterSaleStatus};
    let kinds = super::after_sales::kinds_open(order.status);
    let cases = storage::after_sales::of_order(&state.store, order.id).await?;
    if cases.iter().any(|c| {
        !matches!(
            c.status,
            AfterSaleStatus::Refunded | AfterSaleStatus::Rejected | AfterSaleStatus::Exchanged
        )
    }) {
        text.push_str(lang.t(
            "这笔订单已有售后申请正在处理，进度可在订单详情查看。",
            " An after-sale request on it is in progress; see its progress on the order page.",
        ));
        return Ok(());
    }
    if kinds.is_empty() {
        text.push_str(match order.status {
            OrderStatus::Paid | OrderStatus::PendingPayment | OrderStatus::ReadyForPickup => lang
                .t(
                    "还未发货或取货，不需要退货：可以在订单详情直接取消，款项原路退回。",
                    " It has not shipped or been collected yet: cancel it on the order page and it is refunded.",
                ),
            _ => lang.t(
                "这笔订单当前不能申请售后。",
                " This order cannot take an after-sale request now.",
            ),
        });
        return Ok(());
    }
    let names: Vec<&str> = kinds
        .iter()
        .map(|k| match k {
            AfterSaleKind::ReturnRefund => lang.t("退货退款", "return and refund"),
            AfterSaleKind::RefundOnly => lang.t("仅退款", "refund only"),
            AfterSaleKind::Exchange => lang.t("换货", "exchange"),
            AfterSaleKind::Cancel => lang.t("取消订单", "cancellation"),
        })
        .collect();
    let rules = storage::after_sales::rules(&state.store).await?;
    let fulfilled = entered(
        order,
        &[
            OrderStatus::Delivered,
            OrderStatus::PickedUp,
            OrderStatus::Completed,
        ],
    );
    let sep = lang.t("、", ", ");
    text.push_str(&match lang {
        Lang::Zh => format!(
            "可以申请：{}。在订单详情点「申请售后」，选择商品和原因即可",
            names.join(sep)
        ),
        Lang::En => format!(
            " You can ask for: {}. Open the order and use \"After-sale\", choosing the items and the reason",
            names.join(sep)
        ),
    });
    match fulfilled {
        Some(at) => {
            let until = at + chrono::Duration::days(rules.return_window_days.clamp(0, 3650));
            text.push_str(&match lang {
                Lang::Zh => format!(
                    "，一般商品请在 {} 前申请（部分品类时限不同，生鲜质量问题请在 48 小时内申请）。",
                    china_time(until)
                ),
                Lang::En => format!(
                    "; for most goods before {} (some categories differ; fresh food quality problems within 48 hours).",
                    china_time(until)
                ),
            });
        }
        None => text.push_str(lang.t("。", ".")),
    }
    Ok(())
}

/// The checked content of an entry: questions and answers trimmed, Chinese ones required, each
/// at most [`MAX_TEXT_CHARS`]; keywords and examples trimmed, empty ones dropped, repeats
/// dropped, at most [`MAX_LIST`] each of at most 200 characters, none holding a line break.
/// 422 on the field otherwise.
pub fn checked_content(content: &FaqContent) -> AppResult<FaqContent> {
    let text = |field: &str, value: &str, required: bool| -> AppResult<String> {
        let v = value.trim();
        if required && v.is_empty() {
            return Err(AppError::field(field, "required"));
        }
        if v.chars().count() > MAX_TEXT_CHARS {
            return Err(AppError::field(
                field,
                format!("at most {MAX_TEXT_CHARS} characters"),
            ));
        }
        Ok(v.to_owned())
    };
    let list = |field: &str, values: &[String]| -> AppResult<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for v in values {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            if v.chars().count() > 200 || v.contains(['\n', '\r']) {
                return Err(AppError::field(
                    field,
                    "each at most 200 characters on one line",
                ));
            }
            if !out.iter().any(|o| o == v) {
                out.push(v.to_owned());
            }
        }
        if out.len() > MAX_LIST {
            return Err(AppError::field(field, format!("at most {MAX_LIST}")));
        }
        Ok(out)
    };
    Ok(FaqContent {
        question_zh: text("question_zh", &content.question_zh, true)?,
        question_en: text("question_en", &content.question_en, false)?,
        answer_zh: text("answer_zh", &content.answer_zh, true)?,
        answer_en: text("answer_en", &content.answer_en, false)?,
        keywords: list("keywords", &content.keywords)?,
        examples: list("examples", &content.examples)?,
    })
}

fn require_client_id(id: Uuid) -> AppResult<()> {
    retail_domain::ids::require_v7(id)
        .map(|_| ())
        .map_err(|e| AppError::field("id", e.to_string()))
}

fn require_head_office(staff: &StaffActor) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])
}

/// Head office adds an entry (a retry with the same client id answers the first one; the
/// bot uses it at once). 422 on a bad shape or an id that is not a UUIDv7; 403 for anyone else.
/// Audited.
pub async fn create(
    state: &AppState,
    staff: &StaffActor,
    client_id: Uuid,
    content: &FaqContent,
) -> AppResult<FaqEntry> {
    require_head_office(staff)?;
    require_client_id(client_id)?;
    let content = checked_content(content)?;
    let (entry, created) = storage::faq::create(
        &state.store,
        &NewFaq {
            client_id: &client_id.to_string(),
            content: &content,
            source: FaqSource::HeadOffice,
            conversation: None,
            actor: &staff.actor(),
        },
    )
    .await?;
    if created {
        state.service_bot.rebuild(&state.store).await?;
    }
    Ok(entry)
}

/// Head office changes what an entry says (404 when there is none). Audited.
pub async fn update(
    state: &AppState,
    staff: &StaffActor,
    id: i64,
    content: &FaqContent,
) -> AppResult<FaqEntry> {
    require_head_office(staff)?;
    let content = checked_content(content)?;
    storage::faq::update(&state.store, id, &content, &staff.actor()).await?;
    state.service_bot.rebuild(&state.store).await?;
    storage::faq::get(&state.store, id).await
}

/// Head office turns an entry on or off (404 when there is none). Audited.
pub async fn set_enabled(
    state: &AppState,
    staff: &StaffActor,
    id: i64,
    enabled: bool,
) -> AppResult<FaqEntry> {
    require_head_office(staff)?;
    storage::faq::set_enabled(&state.store, id, enabled, &staff.actor()).await?;
    state.service_bot.rebuild(&state.store).await?;
    storage::faq::get(&state.store, id).await
}

/// An agent turns their answer to a shopper's question into a new FAQ entry in one click
/// (any staff role: agents are store staff too). The question becomes the entry's question
/// (and the English one too when `lang` is English), the answer its answer, in `lang`; the
/// conversation is kept as free text. The bot answers the same question with it at once.
/// 422 on an empty or over-long question or answer. Audited. See [`learn_from_agent_once`] for
/// the idempotent form the API uses.
pub async fn learn_from_agent(
    state: &AppState,
    staff: &StaffActor,
    question: &str,
    answer: &str,
    lang: Lang,
    conversation: Option<&str>,
) -> AppResult<i64> {
    learn_from_agent_once(
        state,
        staff,
        retail_domain::ids::new_id(),
        question,
        answer,
        lang,
        conversation,
    )
    .await
}

/// [`learn_from_agent`] under a client id: a retry with the same id answers the first entry's
/// id and changes nothing.
pub async fn learn_from_agent_once(
    state: &AppState,
    staff: &StaffActor,
    client_id: Uuid,
    question: &str,
    answer: &str,
    lang: Lang,
    conversation: Option<&str>,
) -> AppResult<i64> {
    require_client_id(client_id)?;
    let question = question.trim();
    if question.is_empty() {
        return Err(AppError::field("question", "required"));
    }
    if answer.trim().is_empty() {
        return Err(AppError::field("answer", "required"));
    }
    if question.chars().count() > MAX_QUESTION_CHARS {
        return Err(AppError::field(
            "question",
            format!("at most {MAX_QUESTION_CHARS} characters"),
        ));
    }
    let conversation = conversation.map(str::trim).filter(|c| !c.is_empty());
    if conversation.is_some_and(|c| c.chars().count() > 200) {
        return Err(AppError::field("conversation", "at most 200 characters"));
    }
    let mut content = FaqContent {
        question_zh: question.to_owned(),
        answer_zh: answer.to_owned(),
        ..FaqContent::default()
    };
    if lang == Lang::En {
        content.question_en = question.to_owned();
        content.answer_en = answer.to_owned();
    }
    let content = checked_content(&content)?;
    let (entry, created) = storage::faq::create(
        &state.store,
        &NewFaq {
            client_id: &client_id.to_string(),
            content: &content,
            source: FaqSource::Agent,
            conversation,
            actor: &staff.actor(),
        },
    )
    .await?;
    if created {
        state.service_bot.rebuild(&state.store).await?;
    }
    Ok(entry.id)
}

/// Head office's view of one entry (403 for anyone else; 404 when there is none).
pub async fn entry(state: &AppState, staff: &StaffActor, id: i64) -> AppResult<FaqEntry> {
    require_head_office(staff)?;
    storage::faq::get(&state.store, id).await
}

/// Head office's list of entries (see [`storage::faq::list`]).
pub async fn list(
    state: &AppState,
    staff: &StaffActor,
    text: Option<&str>,
    enabled: Option<bool>,
    cursor: Option<&storage::paging::Cursor<i64>>,
    limit: i64,
) -> AppResult<storage::paging::Page<FaqEntry>> {
    require_head_office(staff)?;
    storage::faq::list(&state.store, text, enabled, cursor, limit).await
}
