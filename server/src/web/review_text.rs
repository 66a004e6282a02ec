//! How a review reads for people — its stars, status, why it was held, and the errors writing or
//! moderating one can meet — shared by the shop's review pages and product page
//! ([`super::shop::reviews`], [`super::shop::browse`]) and the console's moderation pages
//! ([`super::console::reviews`]).

use maud::{html, Markup};

use super::Lang;
use crate::storage::reviews::ReviewStatus;

/// A rating as stars (★★★★☆), with the number for screen readers.
pub fn stars(rating: i64) -> Markup {
    let full = usize::try_from(rating.clamp(0, 5)).unwrap_or(0);
    html! {
        span.stars role="img" aria-label={ (rating) "/5" } data-rating=(rating) {
            ("★".repeat(full)) ("☆".repeat(5 - full))
        }
    }
}

/// A status for people.
pub fn status_label(lang: Lang, status: ReviewStatus) -> &'static str {
    match status {
        ReviewStatus::Held => lang.t("审核中", "Awaiting moderation"),
        ReviewStatus::Published => lang.t("已发布", "Published"),
        ReviewStatus::Hidden => lang.t("已隐藏", "Hidden"),
    }
}

/// Why the rules held a text, for people.
pub fn hold_label(lang: Lang, reason: &str) -> &'static str {
    match reason {
        "banned_word" => lang.t("含违禁词", "Contains a banned word"),
        "too_many_links" => lang.t("链接过多", "Too many links"),
        "repeated" => lang.t("重复内容", "Repeated content"),
        _ => lang.t("其他", "Other"),
    }
}

/// What went wrong writing, following up, voting or moderating, for people, by the error's code.
pub fn error_text(lang: Lang, code: &str) -> &'static str {
    match code {
        "not_completed" => lang.t("订单完成后才能评价。", "An order is reviewed once it is completed."),
        "already_reviewed" => lang.t("该商品已评价过，可以追加评价。", "This item is reviewed already: add a follow-up instead."),
        "follow_up_exists" => lang.t("每条评价只能追评一次。", "A review takes one follow-up."),
        "review_hidden" => lang.t("该评价已被隐藏，不能追评。", "This review is hidden: it takes no follow-up."),
        "no_member" => lang.t("只有会员订单可以评价。", "Only members' orders are reviewed."),
        "own_review" => lang.t("不能给自己的评价点赞。", "You cannot vote for your own review."),
        "no_follow_up" => lang.t("该评价没有追评。", "This review has no follow-up."),
        "too_many_photos" => lang.t("最多上传 9 张照片。", "At most 9 photos."),
        "image_empty" | "not_an_image" | "image_unreadable" => lang.t("照片须为 JPEG、PNG 或 WebP 图片。", "Photos must be JPEG, PNG or WebP images."),
        "image_too_large" => lang.t("照片文件太大。", "A photo is too large."),
        "image_dimensions_too_large" => lang.t("照片尺寸太大。", "A photo has too many pixels."),
        "id_in_use" => lang.t("评价已提交过。", "This review was sent already."),
        "validation_failed" => lang.t(
            "请检查：评分为 1–5 星，文字不超过 500 字，原因不超过 200 字。",
            "Please check: a rating of 1 to 5 stars, at most 500 characters of text, a reason of at most 200.",
        ),
        _ => lang.t("操作失败，请稍后再试。", "That did not work: please try again."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviews_read_in_both_languages() {
        assert!(error_text(Lang::Zh, "already_reviewed").contains("追加"));
        assert!(error_text(Lang::En, "too_many_photos").contains('9'));
        assert!(error_text(Lang::En, "<script>").contains("try again"));
        assert_eq!(hold_label(Lang::Zh, "banned_word"), "含违禁词");
        assert!(stars(4).into_string().contains("★★★★☆"));
    }
}
