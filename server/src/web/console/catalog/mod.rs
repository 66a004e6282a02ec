//! The console's catalog (head office): the product list and its CSV export ([`list`]),
//! creating a product ([`create`]), the category tree ([`categories`]), importing products from a CSV file as a background job ([`import`]), and a product's page:
//! shelf status, prices, category and barcodes ([`product`]).

use axum::Router;

use crate::app::AppState;

pub mod categories;
pub mod create;
pub mod import;
pub mod list;
pub mod product;

/// Catalog routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(list::router())
        .merge(create::router())
        .merge(categories::router())
        .merge(import::router())
        .merge(product::router())
}
