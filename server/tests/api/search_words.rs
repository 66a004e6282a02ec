//! Hot search words and search history (issue 17, member perks): searches that find something
//! are counted (in batches) and rank the hot words after head office's pinned ones, never a
//! blocked word; a logged-in member's searches are remembered, cleared by them or with their
//! account; head office manages the words in the console and the API.

use reqwest::StatusCode;
use retail_server::app::search_words;
use serde_json::json;

use crate::support::TestApp;
use crate::web::{between, console, shopper, Browser};

async fn member_searches(app: &TestApp, phone: &str) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM member_searches m JOIN members s ON s.id = m.member_id \
         WHERE s.phone_hash = $1",
    )
    .bind(app.state.keys.lookup_hash(phone))
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::Row::get::<i64, _>(&row, 0)
}

async fn hot_words_rank_searches_after_pinned_words(app: TestApp) {
    let mut b = shopper(&app, "13900170001").await;
    for q in ["牛奶", "  牛奶 ", "面包", "牛奶", "qqqq-no-such-thing"] {
        let page = b.get(&format!("/search?q={}", urlencoding(q))).await;
        assert_eq!(page.status, StatusCode::OK);
    }
    // Paging through a search does not count it again.
    b.get("/search?q=%E7%89%9B%E5%A5%B6&page=1").await;
    let mut guest = Browser::new(&app);
    guest.get("/search?q=%E9%9D%A2%E5%8C%85").await;
    assert!(search_words::flush(&app.state).await.unwrap() >= 2);
    assert_eq!(search_words::flush(&app.state).await.unwrap(), 0);

    // Head office pins 鸡蛋 and blocks 面包: pinned first, then the counts, never the blocked.
    let admin = app.login("admin").await;
    let manager = app.login("mgr.sh001").await;
    let (status, _) = app
        .put(
            "/api/v1/search/words/鸡蛋",
            Some(&manager),
            json!({"kind": "pinned"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, words) = app
        .put(
            "/api/v1/search/words/鸡蛋",
            Some(&admin),
            json!({"kind": "pinned"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{words}");
    let (_, hot) = app.get("/api/v1/search/hot", None).await;
    let hot: Vec<&str> = hot["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(&hot[..3], ["鸡蛋", "牛奶", "面包"], "{hot:?}");
    assert!(
        !hot.contains(&"qqqq-no-such-thing"),
        "nothing found: not hot"
    );
    let mut desk = console(&app, "admin").await;
    let page = desk
        .post_csrf(
            "/console/search-words",
            &[("word", "面包"), ("kind", "blocked")],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/console/search-words?done=1")
    );
    let page = desk.get("/console/search-words").await;
    let shown = between(&page.body, "id=\"hot-now\"", "</div></div>");
    assert!(
        shown.contains("鸡蛋") && shown.contains("牛奶") && !shown.contains("面包"),
        "{shown}"
    );
    assert!(between(&page.body, "id=\"top-terms\"", "</table>").contains("牛奶"));
    // The empty search page and the search box offer them, with the member's own history.
    let page = b.get("/search").await;
    let hot_section = between(&page.body, "id=\"hot-words\"", "</div></div>");
    assert!(
        hot_section.contains("鸡蛋") && !hot_section.contains("面包"),
        "{hot_section}"
    );
    let history = between(&page.body, "id=\"search-history\"", "</div></div>");
    let at = |w: &str| {
        history
            .find(w)
            .unwrap_or_else(|| panic!("{w} in {history}"))
    };
    assert!(at("牛奶") < at("面包"), "latest first: {history}");
    assert!(history.contains("qqqq-no-such-thing"), "{history}");
    let start = b.get("/search/start").await;
    let start: serde_json::Value = serde_json::from_str(&start.body).unwrap();
    assert_eq!(start["hot"][0], "鸡蛋");
    assert_eq!(
        start["history"],
        json!(["qqqq-no-such-thing", "牛奶", "面包"])
    );
    let start = guest.get("/search/start").await;
    let start: serde_json::Value = serde_json::from_str(&start.body).unwrap();
    assert_eq!(start["history"], json!([]), "a guest has no history");
    // Bad words change nothing; removing one is audited.
    let page = desk
        .post_csrf(
            "/console/search-words",
            &[("word", "   "), ("kind", "pinned")],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/console/search-words?error=word")
    );
    let (status, body) = app
        .put(
            "/api/v1/search/words/x",
            Some(&admin),
            json!({"kind": "favourite"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, words) = app.delete("/api/v1/search/words/鸡蛋", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{words}");
    assert_eq!(words.as_array().unwrap().len(), 1, "{words}");
    let (status, _) = app.delete("/api/v1/search/words/鸡蛋", Some(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = app.get("/api/v1/audit?limit=200", Some(&admin)).await;
    let removed = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "search_word.remove")
        .expect("the removal is audited");
    assert_eq!(removed["entity_id"], "鸡蛋", "{removed}");

    // The member clears their history; an erased account takes it along.
    let page = b.post_csrf("/search/history/clear", &[]).await;
    assert_eq!(page.location.as_deref(), Some("/search"));
    assert_eq!(member_searches(&app, "13900170001").await, 0);
    let mut other = shopper(&app, "13900170002").await;
    other.get("/search?q=%E7%89%9B%E5%A5%B6").await;
    assert_eq!(member_searches(&app, "13900170002").await, 1);
    let page = other
        .post_csrf("/me/delete", &[("confirm", "DELETE")])
        .await;
    assert!(page.status.is_redirection() || page.status.is_success());
    let mut tx = app.state.store.begin().await.unwrap();
    let left: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM member_searches")
            .fetch_one(&mut *tx)
            .await
            .unwrap(),
        0,
    );
    assert_eq!(left, 0, "the erased member's searches are gone");
}
crate::both_backends!(
    hot_words_rank_searches_after_pinned_words,
    hot_words_rank_searches_after_pinned_words
);

/// A member keeps their latest twenty searches.
async fn history_keeps_the_latest_twenty(app: TestApp) {
    let mut b = shopper(&app, "13900170011").await;
    for i in 0..25 {
        b.get(&format!("/search?q=term{i}")).await;
    }
    assert_eq!(member_searches(&app, "13900170011").await, 20);
    let start = b.get("/search/start").await;
    let start: serde_json::Value = serde_json::from_str(&start.body).unwrap();
    assert_eq!(start["history"][0], "term24");
    assert_eq!(start["history"][19], "term5");
}
crate::both_backends!(
    history_keeps_the_latest_twenty,
    history_keeps_the_latest_twenty
);

fn urlencoding(text: &str) -> String {
    retail_server::web::urlencode(text)
}
