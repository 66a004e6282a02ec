//! Categories (issue 16): created, renamed, moved and ordered by head office, at most three
//! levels deep; a move that would make a fourth level or a cycle is refused and changes nothing.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::support::TestApp;

async fn three_levels_at_most(app: TestApp) {
    let token = app.login("admin").await;
    let put = |code: &str, parent: Option<&str>, name: &str, sort: i64| json!({ "code": code, "parent_id": parent, "name_zh": name, "name_en": "", "sort": sort });
    for (body, expected) in [
        (put("T1", None, "测试一级", 5), StatusCode::OK),
        (put("T1-A", Some("T1"), "测试二级", 1), StatusCode::OK),
        (put("T1-A-X", Some("T1-A"), "测试三级", 1), StatusCode::OK),
        // A fourth level, under a third.
        (
            put("T1-A-X-Q", Some("T1-A-X"), "第四级", 1),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        // Rename and reorder.
        (put("T1-A", Some("T1"), "测试二级改名", 9), StatusCode::OK),
        // A cycle.
        (
            put("T1", Some("T1-A-X"), "测试一级", 5),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, answer) = app
            .post("/api/v1/categories", Some(&token), body.clone())
            .await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    // Moving a two-level branch under a second-level category would make four levels.
    let (status, _) = app
        .post(
            "/api/v1/categories",
            Some(&token),
            put("T2", None, "测试另一级", 6),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            "/api/v1/categories",
            Some(&token),
            put("T2-B", Some("T2"), "二级", 1),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = app
        .post(
            "/api/v1/categories",
            Some(&token),
            put("T1", Some("T2-B"), "测试一级", 5),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (_, all) = app.get("/api/v1/categories", Some(&token)).await;
    let by_code = |code: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == code)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        by_code("T1")["parent_id"],
        serde_json::Value::Null,
        "not moved"
    );
    assert_eq!(by_code("T1-A")["name_zh"], "测试二级改名");
    assert_eq!(by_code("T1-A")["sort"], 9);
    assert!(all.to_string().contains("T1-A-X") && !all.to_string().contains("T1-A-X-Q"));
}
both_backends!(
    categories_are_at_most_three_levels_deep,
    three_levels_at_most
);
