//! What every operation of the processes' OpenAPI documents shares, added
//! once here rather than in each handler's `#[utoipa::path]`: the refusals
//! of the extractors ([`crate::http::ApiJson`], [`crate::http::ApiPath`],
//! [`crate::http::ApiQuery`]), of the token check and of the router, which
//! answer before any handler runs. A handler's own description of a status
//! is kept.

use std::collections::BTreeSet;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema, SchemaType, Type};
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

text_schema!(
    /// In request schemas: a gift card's code as a shopper types it
    /// (`ABCD-EFGH-JKLM-NPQR`, any case; dashes and spaces are ignored).
    GiftCardCodeText,
    r"^[A-Za-z0-9 -]{1,64}$",
    64,
    "ABCD-EFGH-JKLM-NPQR"
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

/// Text in a JSON body: no control character but tab, line feed and
/// carriage return ([`crate::text`]).
pub const BODY_TEXT_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

/// Text in a path or query string: no control character at all.
pub const URL_TEXT_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// Adds the shared error answers to every operation of `doc`, the
/// `ErrorBody` schema and the bearer security scheme, and says the text
/// rule: every string a request carries (path, query, header, JSON body)
/// without a pattern, format or list of values of its own gets a pattern
/// that leaves out the control characters the extractors refuse.
pub fn add_common_answers(doc: &mut OpenApi, tokens: Tokens) {
    add_text_rule(doc);
    for op in operations(doc) {
        add_to_operation(op, tokens);
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
    // Text schemas named by `value_type` in parameters, which utoipa does
    // not collect.
    let text = serde_json::to_string(&doc.paths).unwrap_or_default();
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in [
        (EmailAddress::name(), EmailAddress::schema()),
        (StoreHandle::name(), StoreHandle::schema()),
        (Hostname::name(), Hostname::schema()),
    ] {
        if text.contains(&format!("\"#/components/schemas/{name}\"")) {
            components
                .schemas
                .entry(name.into_owned())
                .or_insert(schema);
        }
    }
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
    let has_path_params = op.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Path))
    });
    if has_path_params {
        add("404", "Nothing with this id or name here (`not_found`)");
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

fn operations(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

fn add_text_rule(doc: &mut OpenApi) {
    // The component schemas a request can carry, found through references.
    let mut pending = Vec::new();
    for op in operations(doc) {
        for p in op.parameters.iter_mut().flatten() {
            let pattern = match p.parameter_in {
                ParameterIn::Header => BODY_TEXT_PATTERN,
                _ => URL_TEXT_PATTERN,
            };
            if let Some(schema) = &mut p.schema {
                never_null(schema);
                constrain(schema, pattern, &mut pending);
            }
        }
        if let Some(body) = &mut op.request_body {
            for content in body.content.values_mut() {
                if let Some(schema) = &mut content.schema {
                    constrain(schema, BODY_TEXT_PATTERN, &mut pending);
                }
            }
        }
    }
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) || name == ErrorBody::name() {
            continue;
        }
        if let Some(schema) = components.schemas.get_mut(&name) {
            constrain(schema, BODY_TEXT_PATTERN, &mut pending);
        }
    }
}

/// A parameter is sent or left out, never `null`: an `Option` in a
/// handler's parameter list (which utoipa writes as nullable) is a
/// parameter that is not required, not one whose value may be `null`.
fn never_null(schema: &mut RefOr<Schema>) {
    if let RefOr::T(Schema::Object(o)) = schema {
        if let SchemaType::Array(types) = &o.schema_type {
            let mut left: Vec<Type> = types
                .iter()
                .filter(|t| **t != Type::Null)
                .cloned()
                .collect();
            o.schema_type = match left.len() {
                1 => SchemaType::Type(left.remove(0)),
                _ => SchemaType::Array(left),
            };
        }
    }
}

/// Gives every plain string inside `schema` the `pattern`; collects the
/// names of the component schemas it refers to.
fn constrain(schema: &mut RefOr<Schema>, pattern: &str, refs: &mut Vec<String>) {
    let schema = match schema {
        RefOr::Ref(r) => {
            if let Some(name) = r.ref_location.strip_prefix("#/components/schemas/") {
                refs.push(name.to_owned());
            }
            return;
        }
        RefOr::T(schema) => schema,
    };
    match schema {
        Schema::Object(o) => {
            let is_string = match &o.schema_type {
                SchemaType::Type(t) => *t == Type::String,
                SchemaType::Array(ts) => ts.contains(&Type::String),
                SchemaType::AnyValue => false,
            };
            if is_string && o.pattern.is_none() && o.format.is_none() && o.enum_values.is_none() {
                o.pattern = Some(pattern.to_owned());
            }
            for p in o.properties.values_mut() {
                constrain(p, pattern, refs);
            }
            if let Some(AdditionalProperties::RefOr(extra)) = o.additional_properties.as_deref_mut()
            {
                constrain(extra, pattern, refs);
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                constrain(items, pattern, refs);
            }
        }
        Schema::OneOf(c) => c.items.iter_mut().for_each(|s| constrain(s, pattern, refs)),
        Schema::AllOf(c) => c.items.iter_mut().for_each(|s| constrain(s, pattern, refs)),
        Schema::AnyOf(c) => c.items.iter_mut().for_each(|s| constrain(s, pattern, refs)),
        _ => {}
    }
}
