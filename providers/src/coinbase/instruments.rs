//! Coinbase's product list: `GET /api/v3/brokerage/market/products?product_type=SPOT&get_all_products=true`
//! (public, no key), `{"products": [...], "num_products": N}`. Coinbase publishes no listing
//! or delisting dates; `status` is `online` for a trading product, and a product whose
//! `trading_disabled` or `is_disabled` is true does not trade.

use serde::Deserialize;

use crate::error::{ErrorKind, FetchError};
use crate::instrument::{Instrument, InstrumentStatus};

/// The path and query of the spot product list, every product included.
pub const PRODUCTS: &str =
    "/api/v3/brokerage/market/products?product_type=SPOT&get_all_products=true";

#[derive(Debug, Deserialize)]
struct ProductList {
    products: Vec<Product>,
}

/// The fields of a product candlelake reads; every other field is ignored.
#[derive(Debug, Deserialize)]
struct Product {
    product_id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    product_type: Option<String>,
    #[serde(default)]
    trading_disabled: Option<bool>,
    #[serde(default)]
    is_disabled: Option<bool>,
    #[serde(default)]
    display_name: Option<String>,
}

/// The spot products of a product-list body.
pub fn parse_products(body: &str) -> Result<Vec<Instrument>, FetchError> {
    let list: ProductList = serde_json::from_str(body).map_err(|e| {
        FetchError::new(
            ErrorKind::Transient,
            format!("coinbase sent a product list candlelake cannot read ({e})"),
        )
    })?;
    Ok(list
        .products
        .into_iter()
        .filter(|p| p.product_type.as_deref().is_none_or(|t| t == "SPOT"))
        .map(|p| {
            let disabled = p.trading_disabled == Some(true) || p.is_disabled == Some(true);
            let status = match p.status.as_deref().map(str::to_ascii_lowercase).as_deref() {
                Some("delisted") => InstrumentStatus::Delisted,
                Some("online") if !disabled => InstrumentStatus::Online,
                _ => InstrumentStatus::Offline,
            };
            Instrument {
                status,
                ..Instrument::online(p.product_id.to_ascii_uppercase(), "spot", p.display_name)
            }
        })
        .collect())
}
