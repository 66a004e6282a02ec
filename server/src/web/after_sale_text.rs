//! How an after-sale case reads for people — its kind, status, timeline steps, reason, and the
//! errors a request or a step can meet — shared by the shop's after-sale pages
//! ([`super::shop::after_sales`]), the shopper's message centre and the console's review pages
//! ([`super::console::after_sales`]).

use crate::app::after_sales::REASONS;
use crate::storage::after_sales::{AfterSaleKind, AfterSaleStatus};

use super::Lang;

/// A kind for people.
pub fn kind_label(lang: Lang, kind: AfterSaleKind) -> &'static str {
    match kind {
        AfterSaleKind::RefundOnly => lang.t("仅退款", "Refund only"),
        AfterSaleKind::ReturnRefund => lang.t("退货退款", "Return and refund"),
        AfterSaleKind::Exchange => lang.t("换货", "Exchange"),
        AfterSaleKind::Cancel => lang.t("取消订单", "Cancel order"),
    }
}

/// A status for people.
pub fn status_label(lang: Lang, status: AfterSaleStatus) -> &'static str {
    match status {
        AfterSaleStatus::Requested => lang.t("待审核", "Waiting for review"),
        AfterSaleStatus::InfoRequested => lang.t("待补充信息", "More information needed"),
        AfterSaleStatus::Approved => lang.t("已同意，待退回商品", "Approved: send the goods back"),
        AfterSaleStatus::Returning => lang.t("商品退回中", "Goods on their way back"),
        AfterSaleStatus::Received => lang.t("已收货，换货待发出", "Received: replacement to ship"),
        AfterSaleStatus::Refunded => lang.t("已退款", "Refunded"),
        AfterSaleStatus::Exchanged => lang.t("换货已发出", "Replacement shipped"),
        AfterSaleStatus::Rejected => lang.t("已拒绝", "Rejected"),
    }
}

/// A timeline step (or notice) for people.
pub fn step_label(lang: Lang, step: &str) -> &'static str {
    match step {
        "requested" => lang.t("提交申请", "Requested"),
        "approved" => lang.t("商家已同意", "Approved by the store"),
        "auto_approved" => lang.t("已自动同意", "Approved automatically"),
        "info_requested" => lang.t("商家请您补充信息", "The store asks for more information"),
        "answered" => lang.t("已补充信息", "Information added"),
        "rejected" => lang.t("商家已拒绝", "Rejected by the store"),
        "returning" => lang.t("已寄回商品", "Goods sent back"),
        "received" => lang.t("商家已收货并验货", "Goods received and inspected"),
        "refunded" => lang.t("退款已原路退回", "Refunded to the original payment"),
        "exchanged" => lang.t("换货已发出", "Replacement shipped"),
        "rated" => lang.t("已评价", "Rated"),
        _ => lang.t("其他", "Other"),
    }
}

/// A timeline note for people: the inspection of a `received` step translated, any other note
/// as written.
pub fn note_text(lang: Lang, step: &str, note: &str) -> String {
    match (step, note) {
        ("received", "resaleable") => lang
            .t("完好，退回库存", "resaleable: back to stock")
            .to_owned(),
        ("received", "damaged") => lang.t("损坏", "damaged").to_owned(),
        _ => note.to_owned(),
    }
}

/// A reason code for people.
pub fn reason_label(lang: Lang, code: &str) -> &'static str {
    REASONS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or(lang.t("其他", "Other"), |(_, zh, en)| lang.t(zh, en))
}

/// What went wrong with an after-sale request or step, for people, by the error's code.
pub fn error_text(lang: Lang, code: &str) -> &'static str {
    match code {
        "outside_return_window" => lang.t("已超过该商品的售后期限。", "This item is outside its return window."),
        "return_exceeds_sale" => lang.t("申请数量超过了可退数量。", "That is more than was bought and not yet returned."),
        "after_sale_open" => lang.t("该商品已有进行中的售后申请。", "This item has an after-sale in progress already."),
        "refund_exceeds_paid" => lang.t("退款金额不能超过实付金额。", "The refund cannot be more than was paid."),
        "not_fulfilled" => lang.t("订单尚未发货或自提，可直接取消订单。", "The order has not shipped yet: cancel it instead."),
        "not_cancellable" => lang.t("订单已发货或已自提，请申请售后。", "The order has shipped or been collected: ask for an after-sale."),
        "after_sale_state" => lang.t("该售后的状态已变化，请刷新。", "This after-sale has moved on: reload the page."),
        "too_many_photos" => lang.t("最多上传 6 张照片。", "At most 6 photos."),
        "image_empty" | "not_an_image" | "image_unreadable" => lang.t("照片须为 JPEG、PNG 或 WebP 图片。", "Photos must be JPEG, PNG or WebP images."),
        "image_too_large" => lang.t("照片文件太大。", "A photo is too large."),
        "image_dimensions_too_large" => lang.t("照片尺寸太大。", "A photo has too many pixels."),
        "id_in_use" => lang.t("请求已提交过。", "This request was sent already."),
        "validation_failed" => lang.t(
            "请检查填写内容：至少选择一件商品，数量为整数，原因从列表中选择，文字不超过 500 字，运单号不超过 40 字，评价为 1–5 星。",
            "Please check the form: at least one item, whole quantities, a reason from the list, at most 500 characters of text, a waybill of at most 40 characters, a rating of 1 to 5.",
        ),
        _ => lang.t("操作失败，请稍后再试。", "That did not work: please try again."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_in_both_languages() {
        let e = crate::error::AppError::conflict("outside_return_window", "x");
        assert!(error_text(Lang::Zh, e.code()).contains("售后期限"));
        assert!(error_text(Lang::En, e.code()).contains("return window"));
        assert!(error_text(Lang::En, "<script>").contains("try again"));
        assert_eq!(reason_label(Lang::Zh, "damaged"), "商品破损");
        assert_eq!(reason_label(Lang::En, "nonsense"), "Other");
    }
}
