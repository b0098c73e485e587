//! What the fuzz targets in `fuzz/` reach that the API does not otherwise publish: the gateways'
//! pure protocol halves and the donation form's decoding. Hidden from the docs and no promise
//! to anyone else; it only re-exports, so the targets exercise the code the server runs.

use actix_web::ResponseError;

pub use crate::gateway::aps::protocol::{Params as ApsParams, placeholder_email, purchase_event, status_event};
pub use crate::gateway::ngenius::protocol::{
    AccessToken as NgeniusAccessToken, Order as NgeniusOrder, Prompt as NgeniusPrompt,
    ReturnQuery as NgeniusReturnQuery, usable_for,
};
pub use crate::gateway::stripe::protocol::{
    Charge as StripeCharge, Session as StripeSession, Webhook as StripeWebhook, interpret as stripe_interpret,
    is_stripe_id,
};
pub use crate::routes::donations::{DonationFields, decode_donation};
pub use crate::routes::form::FlagField;

/// The HTTP status an error is answered with.
pub fn status(error: &crate::error::ApiError) -> u16 {
    error.status_code().as_u16()
}
