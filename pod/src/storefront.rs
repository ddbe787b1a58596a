//! The shopper-facing pages on the store's own domain.

use mercato_tenants::text::escape_html as escape;
use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Html;

use crate::catalog::{list_products, ProductStatus};
use crate::error::PodError;
use crate::state::AppState;
use crate::tenancy::TenantContext;

/// `GET /`: the store's home page with its newest active products.
pub async fn home(
    State(state): State<AppState>,
    tenant: TenantContext,
) -> Result<Html<String>, PodError> {
    let page = list_products(
        &state.db,
        tenant.store_id,
        Some(ProductStatus::Active),
        None,
        48,
    )
    .await?;
    let name = escape(&tenant.name);
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\n\
         <body><header><h1>{name}</h1></header>\n<main><ul class=\"products\">\n"
    );
    for product in &page.items {
        let price = product
            .variants
            .iter()
            .map(|v| v.price)
            .min_by_key(|p| p.minor);
        let _ = writeln!(
            html,
            "<li class=\"product\" data-id=\"{}\"><h2>{}</h2><p class=\"price\">{}</p></li>",
            product.id,
            escape(&product.title),
            price.map(|p| p.to_string()).unwrap_or_default(),
        );
    }
    if page.items.is_empty() {
        html.push_str("<li class=\"empty\">No products yet.</li>\n");
    }
    html.push_str("</ul></main></body></html>\n");
    Ok(Html(html))
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<b a=\"1\">&'"),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;"
        );
    }
}
