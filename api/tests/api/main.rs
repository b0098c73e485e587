//! The API's integration tests: the real server on a random port, over HTTP, on SQLite and on
//! PostgreSQL, then a look at what the database holds.

mod helpers;

mod admin;
mod aps;
mod campaigns;
mod donations;
mod feed;
mod health;
mod ngenius;
mod payments;
mod referrals;
mod startup;
mod stripe;
