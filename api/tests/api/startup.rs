use api::Application;

use crate::helpers::{TestApp, config_path, test_settings};
use crate::on_both_databases;

on_both_databases!(a_campaign_cannot_change_currency_once_it_has_donations, a_currency_can_change_before_any_gift);

async fn a_campaign_cannot_change_currency_once_it_has_donations(app: TestApp) {
    app.start_donation(&[("campaign", "water"), ("amount", "25")]).await;

    let restarted =
        Application::build(test_settings(app.database_url(), &config_path("site_config_new_currency.toml"))).await;

    let Err(error) = restarted else { panic!("a currency change with donations on record must not start") };
    assert!(
        error.to_string().contains("campaign `water` has donations in USD, but the config now says EUR"),
        "{error}"
    );
}

async fn a_currency_can_change_before_any_gift(app: TestApp) {
    let restarted =
        Application::build(test_settings(app.database_url(), &config_path("site_config_new_currency.toml"))).await;

    assert!(restarted.is_ok());
    assert_eq!(app.stored_totals("water").await.currency, "EUR");
}
