//! TEMPORARY stand-in for the service bot built on branch `faqbot` (replaced at merge).
use uuid::Uuid;

use super::AppState;
use crate::actor::StaffActor;
use crate::error::AppResult;

/// A question.
pub struct BotQuestion<'a> {
    /// Text.
    pub text: &'a str,
    /// Member.
    pub member: Option<Uuid>,
    /// Order.
    pub order_id: Option<Uuid>,
    /// English.
    pub english: bool,
}

/// Why.
#[derive(serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoverReason {
    /// Asked.
    Asked,
    /// Low.
    LowConfidence,
}

/// Reply.
pub enum BotReply {
    /// Answer.
    Answer {
        /// Text.
        text: String,
        /// Entry.
        faq_id: Option<i64>,
        /// Score.
        score: f32,
    },
    /// Hand over.
    Handover {
        /// Why.
        reason: HandoverReason,
        /// Told.
        text: String,
    },
}

/// Reply.
pub async fn reply(_state: &AppState, q: BotQuestion<'_>) -> AppResult<BotReply> {
    if q.text.contains("人工") || q.text.contains("human") {
        return Ok(BotReply::Handover {
            reason: HandoverReason::Asked,
            text: "正在为您转接人工客服".into(),
        });
    }
    if q.text.contains("自提") {
        return Ok(BotReply::Answer {
            text: "自提订单备好后可到门店取货".into(),
            faq_id: Some(1),
            score: 1.0,
        });
    }
    Ok(BotReply::Handover {
        reason: HandoverReason::LowConfidence,
        text: "正在为您转接人工客服".into(),
    })
}

/// Learn.
pub async fn learn_from_agent(
    _state: &AppState,
    _staff: &StaffActor,
    _question: &str,
    _answer: &str,
    _english: bool,
    _conversation: Option<&str>,
) -> AppResult<i64> {
    Ok(1)
}
