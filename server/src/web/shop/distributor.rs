//! The shop's distributor centre (分销中心) at `/distributor`: apply, the application's
//! status, earnings (frozen, available, withdrawn), the orders that earned commission, the team
//! (bound buyers and recruited sub-distributors, masked), the withdrawal form and the month's
//! leaderboard. Writes go through [`crate::app::distribution`].

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::money::Money;
use serde::Deserialize;
use uuid::Uuid;

use super::{cart_count, require_member, session};
use crate::app::distribution::{self, NewWithdrawal};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{redirect, shop_page, yuan, Ctx, Form, WebResult};

/// Distributor centre routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/distributor", get(centre))
        .route("/distributor/apply", post(apply))
        .route("/distributor/withdraw", post(withdraw))
}

#[derive(Debug, Default, Deserialize)]
struct CentreParams {
    /// What the last action did (`applied`, `withdrawn`, `insufficient`, `bad_amount`).
    done: Option<String>,
}

fn kind_text(ctx: &Ctx, kind: &str) -> &'static str {
    match kind {
        "commission" => ctx.t("佣金（冻结）", "Commission (frozen)"),
        "release" => ctx.t("解冻", "Released"),
        "reversal" => ctx.t("退款冲回", "Reversed (refund)"),
        "withdrawal_hold" => ctx.t("提现申请", "Withdrawal asked"),
        "withdrawal_paid" => ctx.t("提现到账", "Withdrawal paid"),
        "withdrawal_rejected" => ctx.t("提现驳回", "Withdrawal rejected"),
        _ => ctx.t("其他", "Other"),
    }
}

async fn centre(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<CentreParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/distributor")?;
    let count = cart_count(&state, session.as_ref()).await?;
    let c = distribution::centre(&state, member).await?;
    let status = c.distributor.as_ref().map(|d| d.status.as_str());
    let active = status == Some("active");
    let (ledger, team) = if active {
        (
            distribution::ledger(&state, member, None).await?,
            distribution::team(&state, member).await?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let board = distribution::leaderboard(&state, 10).await?;
    let b = c.balances;
    let body = html! {
        @match p.done.as_deref() {
            Some("applied") => div.notice.ok role="status" { (ctx.t("申请已提交。", "Application sent.")) }
            Some("withdrawn") => div.notice.ok role="status" #withdraw-ok { (ctx.t("提现申请已提交，等待总部审核。", "Withdrawal asked: head office reviews it.")) }
            Some("insufficient") => div.notice.err role="alert" #withdraw-error { (ctx.t("提现金额超过可提现余额。", "That is more than you can withdraw.")) }
            Some("bad_amount") => div.notice.err role="alert" #withdraw-error { (ctx.t("请输入有效金额。", "Enter a valid amount.")) }
            _ => {}
        }
        div.card #distributor-status {
            h2 { (ctx.t("分销中心", "Distributor centre")) }
            @match status {
                None | Some("rejected") => {
                    @if status == Some("rejected") { p.muted #application-rejected { (ctx.t("申请未通过：", "Not approved: ")) (c.distributor.as_ref().map(|d| d.note.as_str()).unwrap_or("")) } }
                    p { (ctx.t("成为分销员，分享商品赚取佣金。", "Become a distributor: share products and earn commission.")) }
                    form method="post" action="/distributor/apply" {
                        (ctx.csrf_field())
                        button.btn #apply type="submit" { (ctx.t("申请成为分销员", "Apply")) }
                    }
                }
                Some("applied") => p #application-waiting { span.status.pending_payment { (ctx.t("审核中", "Under review")) } " " (ctx.t("总部审核后即可开始分销。", "Head office reviews your application.")) }
                _ => p { span.status.paid #distributor-active { (ctx.t("分销员", "Distributor")) } " · "
                    (ctx.t("分享链接被打开 ", "Links opened ")) (c.share_opens) " · " (ctx.t("带来订单 ", "Orders ")) (c.share_orders) }
            }
        }
        @if active {
            div.card #earnings {
                b { (ctx.t("收益", "Earnings")) }
                div.spread {
                    div.kpi { span.muted { (ctx.t("冻结中", "Frozen")) } b #frozen { (yuan(b.frozen_fen)) } }
                    div.kpi { span.muted { (ctx.t("可提现", "Available")) } b #available { (yuan(b.available_fen)) } }
                    div.kpi { span.muted { (ctx.t("提现中", "Withdrawing")) } b #withdrawing { (yuan(b.withdrawing_fen)) } }
                    div.kpi { span.muted { (ctx.t("已提现", "Withdrawn")) } b #withdrawn { (yuan(b.withdrawn_fen)) } }
                }
                p.muted { (ctx.t("佣金在售后期结束后解冻；退款的订单佣金会被冲回。", "Commission is released once the after-sale window has passed; a refund takes it back.")) }
                form.row #withdraw-form method="post" action="/distributor/withdraw" {
                    (ctx.csrf_field())
                    input type="hidden" name="id" value=(Uuid::now_v7());
                    input #withdraw-amount name="amount" inputmode="decimal" placeholder=(c.withdrawable.to_string()) aria-label=(ctx.t("提现金额", "Amount")) style="max-width:140px";
                    button.btn #withdraw type="submit" { (ctx.t("申请提现", "Withdraw")) }
                }
            }
            div.card #commission-ledger {
                b { (ctx.t("佣金明细", "Commission and withdrawals")) }
                @if ledger.is_empty() { p.muted { (ctx.t("暂无记录", "Nothing yet")) } }
                table { tbody { @for row in &ledger {
                    tr data-kind=(row.kind) {
                        td { (row.created_at.with_timezone(&crate::app::china_offset()).format("%m-%d %H:%M")) }
                        td { (kind_text(&ctx, &row.kind)) @if let Some(l) = row.level { @if l > 1 { " L" (l) } } }
                        td { @if let Some(no) = &row.order_no { (no) } }
                        td.price { (yuan(row.delta.frozen_fen + row.delta.available_fen + row.delta.withdrawing_fen + row.delta.withdrawn_fen)) }
                    }
                } } }
            }
            div.card #team {
                b { (ctx.t("我的团队", "My team")) }
                @if team.is_empty() { p.muted { (ctx.t("分享商品链接，好友打开后会绑定到你。", "Share a product: friends who open it are bound to you.")) } }
                ul { @for t in &team {
                    li { (t.member.nickname) " " (t.member.phone) " · "
                        @if t.role == "distributor" { (ctx.t("下级分销员", "Sub-distributor")) } @else { (ctx.t("绑定客户", "Bound buyer")) } }
                } }
            }
        }
        div.card #leaderboard {
            b { (ctx.t("本月佣金榜", "This month's leaderboard")) }
            @if board.is_empty() { p.muted { (ctx.t("暂无", "Nobody yet")) } }
            ol { @for l in &board { li { (l.member.nickname) " " (l.member.phone) " · " span.price { (yuan(l.commission.fen())) } } } }
        }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("分销中心", "Distributor centre"),
        count,
        body,
    ))
}

async fn apply(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    let (_, member) = require_member(session(&state, &ctx).await?.as_ref(), "/distributor")?;
    distribution::apply(&state, member).await?;
    Ok(redirect("/distributor?done=applied"))
}

#[derive(Debug, Deserialize)]
struct WithdrawForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    amount: String,
}

async fn withdraw(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<WithdrawForm>,
) -> WebResult<Response> {
    let (_, member) = require_member(session(&state, &ctx).await?.as_ref(), "/distributor")?;
    let (Ok(id), Ok(amount)) = (
        form.id.trim().parse::<Uuid>(),
        form.amount.trim().parse::<Money>(),
    ) else {
        return Ok(redirect("/distributor?done=bad_amount#earnings"));
    };
    match distribution::request_withdrawal(&state, member, &NewWithdrawal { id, amount }).await {
        Ok(_) => Ok(redirect("/distributor?done=withdrawn#earnings")),
        Err(AppError::Conflict { .. }) => Ok(redirect("/distributor?done=insufficient#earnings")),
        Err(AppError::Invalid { .. }) => Ok(redirect("/distributor?done=bad_amount#earnings")),
        Err(e) => Err(e.into()),
    }
}
