use crate::helpers::TestApp;
use crate::on_both_databases;
use crate::referrals::{create_link, pay};

on_both_databases!(
    the_totals_carry_recent_gifts_without_the_names_of_anonymous_donors,
    the_leaderboard_lists_only_links_whose_makers_opted_in,
);

async fn the_totals_carry_recent_gifts_without_the_names_of_anonymous_donors(app: TestApp) {
    pay(&app, &[("campaign", "water"), ("amount", "10"), ("display_name", "Amina")], None).await;
    pay(&app, &[("campaign", "water"), ("amount", "20"), ("display_name", "Hidden Person"), ("anonymous", "on")], None)
        .await;
    pay(&app, &[("campaign", "water"), ("amount", "30")], None).await;

    let totals = app.wait_for_raised("water", 6000).await;
    let recent = totals["recent"].as_array().expect("a recent-gifts feed");
    let shown: Vec<(serde_json::Value, i64)> =
        recent.iter().map(|g| (g["name"].clone(), g["amount_minor"].as_i64().unwrap())).collect();
    assert_eq!(
        shown,
        [(serde_json::Value::Null, 3000), (serde_json::Value::Null, 2000), (serde_json::json!("Amina"), 1000)],
        "newest first"
    );
    assert!(recent.iter().all(|g| g["at"].as_str().is_some_and(|at| at.len() >= 19)), "{totals}");
    assert!(!totals.to_string().contains("Hidden Person"), "an anonymous donor's name never leaves the API");
    let other: serde_json::Value = app.totals("schools").await;
    assert_eq!(other["recent"], serde_json::json!([]), "feeds are per campaign");
}

async fn the_leaderboard_lists_only_links_whose_makers_opted_in(app: TestApp) {
    create_link(&app, "listed").await;
    app.client
        .post(app.at("/api/v1/referrals"))
        .json(&serde_json::json!({ "campaign": "water", "code": "private", "display_name": "Quiet" }))
        .send()
        .await
        .unwrap();
    pay(&app, &[("campaign", "water"), ("amount", "30"), ("ref", "listed")], None).await;
    pay(&app, &[("campaign", "water"), ("amount", "50"), ("ref", "private")], None).await;

    let board: serde_json::Value = app.get("/api/v1/campaigns/water/leaderboard").await.json().await.unwrap();

    assert_eq!(
        board["leaders"],
        serde_json::json!([{ "code": "listed", "name": "Amina", "donations": 1, "raised_minor": 3000 }])
    );
    assert_eq!(app.get("/api/v1/campaigns/nope/leaderboard").await.status(), 404);
}
