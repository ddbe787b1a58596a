//! What every operation of the processes' OpenAPI documents shares, added
//! once here rather than in each handler's `#[utoipa::path]`: the refusals
//! of the extractors ([`crate::http::ApiJson`], [`crate::http::ApiPath`],
//! [`crate::http::ApiQuery`]), of the token check and of the router, which
//! answer before any handler runs. A handler's own description of a status
//! is kept.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::error::{ErrorBody, ErrorDetail};

/// Text of a request schema: a string with a pattern and an upper bound.
macro_rules! text_schema {
    ($(#[$doc:meta])* $name:ident, $pattern:expr, $max:expr, $example:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some($pattern))
                    .max_length(Some($max))
                    .examples([$example])
                    .into()
            }
        }

        impl ToSchema for $name {}
    };
}

text_schema!(
    /// In request schemas: an email address as [`crate::Email::parse`]
    /// takes it (printable ASCII before the `@`, a hostname with a dot
    /// after it).
    EmailAddress,
    r"^[!-?A-~]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$",
    254,
    "owner@shop.example"
);

text_schema!(
    /// In request schemas: a store handle as [`crate::Handle::parse`]
    /// takes it, 3 to 40 of a-z, 0-9 and inner hyphens (a few names such as
    /// `www` are reserved).
    StoreHandle,
    r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$",
    40,
    "ada-teas"
);

text_schema!(
    /// In request schemas: a hostname with at least two labels, as
    /// [`crate::Domain::parse`] takes it.
    Hostname,
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
    253,
    "shop.example.com"
);

/// The bearer-token security scheme the documents name.
pub const BEARER: &str = "bearer";

/// Who checks tokens on an API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    /// The router checks any bearer token sent to a store's domain, on every
    /// route (`401` when it is not valid, `403` when it is another store's),
    /// and counts every request against the store's rate budget (`429`).
    CheckedOnEveryRoute,
    /// Only operations that declare a security requirement check one.
    CheckedWhereRequired,
}

/// Adds the shared error answers to every operation of `doc`, the
/// `ErrorBody` schema and the bearer security scheme.
pub fn add_common_answers(doc: &mut OpenApi, tokens: Tokens) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_to_operation(op, tokens);
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .entry(ErrorBody::name().into_owned())
        .or_insert_with(ErrorBody::schema);
    components
        .schemas
        .entry(ErrorDetail::name().into_owned())
        .or_insert_with(ErrorDetail::schema);
    components.security_schemes.insert(
        BEARER.to_owned(),
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
}

fn add_to_operation(op: &mut Operation, tokens: Tokens) {
    let has_input = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_body = op.request_body.is_some();
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(error_response(description)));
    };
    if has_input || has_body {
        add(
            "400",
            "A malformed id, query or body, a value out of range, or a control character \
             (`invalid_id`, `invalid_request`, `invalid_json`, `invalid_text`, ...)",
        );
    }
    if has_body {
        add("413", "The body is too large (`payload_too_large`)");
        add(
            "415",
            "The body is not of the documented content type (`unsupported_media_type`)",
        );
    }
    if secured || tokens == Tokens::CheckedOnEveryRoute {
        add(
            "401",
            "No token where one is needed, or one that is not valid or has expired \
             (`unauthorized`, `token_expired`)",
        );
        add("403", "The token does not allow this (`forbidden`)");
    }
    if tokens == Tokens::CheckedOnEveryRoute {
        add(
            "429",
            "Over a rate limit at the router (`rate_limited`, with `Retry-After`)",
        );
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
}
