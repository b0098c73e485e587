//! What several fuzz targets share: a site's campaigns to check forms against, and a way to run
//! the gateways' async methods that never wait on anything.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use campaigns::Campaigns;

/// Two campaigns with different exponents (cents and fils) and an extra language, so amounts,
/// currencies and languages all have something to be checked against.
pub fn campaigns() -> Campaigns {
    Campaigns::from_config_toml(
        r#"
        default_language = "en"
        [languages.ar]
        [[campaigns]]
        slug = "water"
        currency = "USD"
        goal = 250000
        suggested_amounts = [25, "50.50"]
        min_amount = "0.50"
        max_amount = 10000
        [[campaigns]]
        slug = "school-meals"
        currency = "KWD"
        goal = 1000
        min_amount = "0.250"
        max_amount = 500
        "#,
    )
    .expect("the fuzz campaigns are valid")
}

/// Runs a future that completes without waiting (the sandbox adapter's verification is pure
/// computation behind an async trait). One that would wait is a bug in the target, not the
/// input, so it panics.
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future waited on something"),
    }
}
