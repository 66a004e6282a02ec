//! The server's API and storage test suite. Every test runs against SQLite and PostgreSQL
//! (`both_backends!`), each on its own fresh database with the demo chain loaded.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

/// `both_backends!(name, body[, adjust])`: the test on SQLite and on PostgreSQL.
pub(crate) use retail_testkit::both_backends;

mod after_sales;
mod audit_paging;
mod auth;
mod backup;
mod bargains;
mod browser;
mod bus;
mod cash_control;
mod catalog;
mod categories;
mod changes;
mod chat;
mod checkouts;
mod cluster;
mod delivery;
mod distribution;
mod edge;
mod esl;
mod events;
mod export;
mod funnel;
mod fuzz;
mod group_buys;
mod http_safety;
mod lane_code_pay;
mod lane_pay;
mod lane_staff;
mod list_paging;
mod media;
mod member_perks;
mod members;
mod merchant_statements;
mod merchants;
mod middle_platform;
mod notifications;
mod orders;
mod payment_intake;
mod pda_browser;
mod points_debt;
mod points_mall;
mod posters;
mod pricing;
mod privacy;
mod promotions_console;
mod provider_pay;
mod receipts;
mod recommendations;
mod reconciliation;
mod refund_approvals;
mod reviews;
mod safety;
mod sales;
mod sales_report;
mod scales;
mod search_words;
mod segments;
mod service_bot;
mod shelf;
mod sms;
mod staff_admin;
mod stock;
mod store_ops;
mod stored_value;
mod tls;
mod web;
mod webhooks;
mod wechat_in_app;
