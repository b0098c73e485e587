//! The API's integration tests: the real server on a random port, over HTTP, on SQLite and on
//! PostgreSQL, then a look at what the database holds.

mod helpers;

mod abuse;
mod admin;
mod aps;
mod backups;
mod campaigns;
mod dashboard;
mod donations;
mod failover;
mod feed;
mod health;
mod ledger;
mod ngenius;
mod observability;
mod outage;
mod payments;
mod reconcile;
mod referrals;
mod startup;
mod stripe;
