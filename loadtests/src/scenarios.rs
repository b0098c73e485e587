//! What each kind of user does, and what each step must get back.

use std::sync::OnceLock;

use goose::goose::GooseMethod;
use goose::prelude::*;

static CAMPAIGN: OnceLock<String> = OnceLock::new();

pub fn set_campaign(slug: &str) {
    let _ = CAMPAIGN.set(slug.to_string());
}

fn campaign() -> &'static str {
    CAMPAIGN.get().map_or("clean-water", String::as_str)
}

/// The ETag of the totals a visitor last saw, as the page's script keeps it.
#[derive(Clone)]
struct SeenTotals(Option<String>);

/// The share code a sharer made.
#[derive(Clone)]
struct ShareCode(String);

/// The home page with its build-time progress block, then its stylesheets and scripts.
pub async fn open_home_page(user: &mut GooseUser) -> TransactionResult {
    let mut goose = user.get("/").await?;
    let Ok(response) = goose.response else { return Ok(()) };
    let body = response.text().await.unwrap_or_default();
    if !body.contains(&format!("data-campaign=\"{}\"", campaign())) {
        return user.set_failure("home page lacks the progress block", &mut goose.request, None, Some(&body));
    }
    for asset in same_origin_assets(&body, &user.base_url) {
        let request = GooseRequest::builder().path(asset.as_str()).name("asset").build();
        user.request(request).await?;
    }
    Ok(())
}

/// Stylesheets and scripts on the page's origin, as absolute URLs, as a browser fetches them.
fn same_origin_assets(html: &str, page: &url::Url) -> Vec<String> {
    let mut assets: Vec<String> = Vec::new();
    for attribute in ["href=\"", "src=\""] {
        for piece in html.split(attribute).skip(1) {
            let Some(Ok(url)) = piece.split('"').next().map(|link| page.join(link)) else { continue };
            let is_asset = url.path().ends_with(".css") || url.path().ends_with(".js");
            if is_asset && url.origin() == page.origin() && !assets.iter().any(|a| a == url.as_str()) {
                assets.push(url.to_string());
            }
        }
    }
    assets
}

/// What the page's script does every few seconds: a conditional GET. The check is on the JSON,
/// so a broken snapshot counts as an error even when the status is 200.
pub async fn poll_totals(user: &mut GooseUser) -> TransactionResult {
    let path = format!("/api/v1/campaigns/{}/totals", campaign());
    let mut builder = user.get_request_builder(&GooseMethod::Get, &path)?;
    if let Some(SeenTotals(Some(etag))) = user.get_session_data::<SeenTotals>() {
        builder = builder.header("if-none-match", etag.clone());
    }
    let request = GooseRequest::builder().set_request_builder(builder).name("totals").build();
    let mut goose = user.request(request).await?;
    let Ok(response) = goose.response else { return Ok(()) };
    if response.status() == 304 {
        return user.set_success(&mut goose.request);
    }
    let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = response.text().await.unwrap_or_default();
    let totals: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    if totals["campaign"] != campaign() || !totals["raised_minor"].is_i64() || etag.is_none() {
        return user.set_failure(
            "totals are not a totals document with an ETag",
            &mut goose.request,
            None,
            Some(&body),
        );
    }
    user.set_session_data(SeenTotals(etag));
    Ok(())
}

/// A whole gift through the sandbox gateway: donate page, form post, hosted page, pay, return,
/// thank-you page. Redirects are followed, so each step lands where a browser would.
pub async fn give(user: &mut GooseUser) -> TransactionResult {
    let mut goose = user.get("/donate/").await?;
    let Ok(response) = goose.response else { return Ok(()) };
    let body = response.text().await.unwrap_or_default();
    if !body.contains("/api/v1/donations") {
        return user.set_failure("donate page lacks the form", &mut goose.request, None, Some(&body));
    }

    let form = [("campaign", campaign()), ("amount", "25")];
    let mut goose = user.post_form("/api/v1/donations", &form).await?;
    let Ok(response) = goose.response else { return Ok(()) };
    let hosted_page = response.url().clone();
    if !hosted_page.path().ends_with("/sandbox/pay") {
        let body = response.text().await.unwrap_or_default();
        return user.set_failure(
            "the donation did not lead to the sandbox page",
            &mut goose.request,
            None,
            Some(&body),
        );
    }

    let mut fields: Vec<(String, String)> = hosted_page.query_pairs().into_owned().collect();
    fields.push(("choice".into(), "paid".into()));
    // The gateway's page is wherever the API sent the donor (behind nginx it is not on the
    // site's host, as a real gateway's is not), so the choice is posted there.
    let mut pay = hosted_page.clone();
    pay.set_query(None);
    let builder = user.get_request_builder(&GooseMethod::Post, pay.as_str())?.form(&fields);
    let request =
        GooseRequest::builder().method(GooseMethod::Post).set_request_builder(builder).name("/sandbox/pay").build();
    let mut goose = user.request(request).await?;
    let Ok(response) = goose.response else { return Ok(()) };
    if !response.url().path().ends_with("/thank-you/") {
        let landed = response.url().to_string();
        return user.set_failure("paying did not end on the thank-you page", &mut goose.request, None, Some(&landed));
    }
    Ok(())
}

/// Makes a share link once per user (a few may be refused by the per-visitor limit: those users
/// follow the shared code of the first).
pub async fn make_share_link(user: &mut GooseUser) -> TransactionResult {
    let code = format!("load{}", user.weighted_users_index);
    let body = serde_json::json!({ "campaign": campaign(), "code": code });
    let mut goose = user.post_json("/api/v1/referrals", &body).await?;
    let code = match goose.response {
        Ok(response) if response.status() == 201 || response.status() == 409 => code,
        Ok(response) if response.status() == 429 => {
            user.set_success(&mut goose.request)?;
            drop(response);
            "load0".to_string()
        }
        Ok(response) => {
            let body = response.text().await.unwrap_or_default();
            return user.set_failure("share link not made", &mut goose.request, None, Some(&body));
        }
        Err(_) => return Ok(()),
    };
    if goose.request.status_code == 409 {
        user.set_success(&mut goose.request)?;
    }
    user.set_session_data(ShareCode(code));
    Ok(())
}

/// A friend following the link: `/r/{code}` must land on the site with `?ref=` kept.
pub async fn follow_share_link(user: &mut GooseUser) -> TransactionResult {
    let code = user.get_session_data::<ShareCode>().map_or_else(|| "load0".to_string(), |c| c.0.clone());
    let path = format!("/r/{code}?to=/donate/");
    let request = GooseRequest::builder().path(path.as_str()).name("/r/{code}").build();
    let mut goose = user.request(request).await?;
    let Ok(response) = goose.response else { return Ok(()) };
    let landed = response.url().clone();
    if !landed.path().ends_with("/donate/") || !landed.query().unwrap_or_default().contains(&format!("ref={code}")) {
        return user.set_failure("the share link lost its code", &mut goose.request, None, Some(landed.as_str()));
    }
    Ok(())
}
