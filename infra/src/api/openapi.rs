//! The OpenAPI vocabulary every service's routes share, so that the description says
//! exactly what the extractors of [`super`] accept: the bearer token as the security
//! scheme, the `idempotency-key` header as a UUID, ids with their
//! pattern and length, addresses, and request objects closed to unknown fields.
//!
//! Schemathesis checks the description against a live `ferry up` (see the README's
//! test command): a value the description allows must not be refused as malformed,
//! and a value it forbids must be refused with a 4xx.
//!
//! This module emits and consumes no event.

use super::IDEMPOTENCY_HEADER;
use ferry_events::{ID_PATTERN, MAX_AGGREGATE_ID_LEN};
use std::borrow::Cow;
use std::collections::BTreeSet;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, ArrayItems, KnownFormat,
    ObjectBuilder, SchemaFormat, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, OpenApi, Ref, RefOr, Required, Schema};
use utoipa::{IntoParams, Modify, PartialSchema, ToSchema};

/// The name of the actor's security scheme.
pub const ACTOR_SCHEME: &str = "bearer";

/// An aggregate id: a server, an account, a transit server, an infrastructure version,
/// a hardware configuration, a customer.
pub struct Id;

impl PartialSchema for Id {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(ID_PATTERN))
            .min_length(Some(1))
            .max_length(Some(MAX_AGGREGATE_ID_LEN))
            .into()
    }
}

impl ToSchema for Id {
    fn name() -> Cow<'static, str> {
        "Id".into()
    }
}

/// An IPv4 address in dotted-quad form, e.g. `192.0.2.42`.
pub struct Ipv4Address;

impl PartialSchema for Ipv4Address {
    fn schema() -> RefOr<Schema> {
        formatted_string(KnownFormat::Ipv4, "192.0.2.42")
    }
}

impl ToSchema for Ipv4Address {}

/// An IPv6 address, e.g. `2001:db8::42`.
pub struct Ipv6Address;

impl PartialSchema for Ipv6Address {
    fn schema() -> RefOr<Schema> {
        formatted_string(KnownFormat::Ipv6, "2001:db8::42")
    }
}

impl ToSchema for Ipv6Address {}

fn formatted_string(format: KnownFormat, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(format)))
        .examples([example])
        .into()
}

/// The body of a request registering a server, `T`, with its rule that a single
/// object schema cannot say: at least one address, in `ipv4` or in `ipv6`.
pub struct WithAnAddress<T>(std::marker::PhantomData<T>);

impl<T: ToSchema> PartialSchema for WithAnAddress<T> {
    fn schema() -> RefOr<Schema> {
        let listed = |list: &str| {
            ObjectBuilder::new()
                .property(list, ArrayBuilder::new().min_items(Some(1)))
                .required(list)
        };
        AllOfBuilder::new()
            .item(Ref::from_schema_name(T::name()))
            .item(
                AnyOfBuilder::new()
                    .item(listed("ipv4"))
                    .item(listed("ipv6")),
            )
            .into()
    }
}

impl<T: ToSchema> ToSchema for WithAnAddress<T> {
    fn name() -> Cow<'static, str> {
        format!("{}WithAnAddress", T::name()).into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into(), T::schema()));
        T::schemas(schemas);
    }
}

/// The optional `idempotency-key` header of every command: a UUID; the same key is
/// carried out once.
pub struct IdempotencyKey;

impl IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let uuid = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
        vec![
            ParameterBuilder::new()
                .name(IDEMPOTENCY_HEADER)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "A UUID chosen by the client: a command sent again with the same key is carried out once.",
                ))
                .schema(Some(uuid))
                .build(),
        ]
    }
}

/// Declares bearer tokens as the security scheme every operation requires: without
/// one a request is answered 401, and so it is when the token is unknown, expired,
/// revoked or badly signed.
pub struct ActorAuthentication;

impl Modify for ActorAuthentication {
    fn modify(&self, openapi: &mut OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A token ferry issued (`ferry token create`, `POST /tokens`) or one signed by the host's identity provider (a JWT): it says who makes the request, a customer or support.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Components::new)
            .add_security_scheme(ACTOR_SCHEME, SecurityScheme::Http(scheme));
        openapi.security = Some(vec![SecurityRequirement::new(
            ACTOR_SCHEME,
            Vec::<String>::new(),
        )]);
    }
}

/// Documents the limits of every operation that takes a body: 413 when the body is
/// larger than ferry reads (`FERRY_MAX_BODY_BYTES`), and, for a command, 422 when the
/// events it would record do not fit in one message of the event log; both with
/// the JSON error body (`too_large`), nothing recorded. An operation that already
/// documents `4XX` (or the status itself) keeps what it says.
pub struct BodyLimits;

impl Modify for BodyLimits {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::ResponseBuilder;
        use utoipa::openapi::content::ContentBuilder;
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.request_body.is_none() {
                    continue;
                }
                let responses = &mut operation.responses.responses;
                if responses.contains_key("4XX") {
                    continue;
                }
                responses.entry("413".to_owned()).or_insert_with(|| {
                    RefOr::T(error(
                        "The body is larger than ferry reads (FERRY_MAX_BODY_BYTES); nothing changed",
                    ))
                });
                responses.entry("422".to_owned()).or_insert_with(|| {
                    RefOr::T(error(
                        "Impossible details, or events too large for one message of the event log; nothing changed",
                    ))
                });
            }
        }
    }
}

/// Marks every object a request body can hold `additionalProperties: false`: ferry
/// refuses a field it does not know (a misspelt field must not be dropped quietly),
/// at any depth (`strict_json`), and the description says so. Responses may grow
/// fields and are left open, unless they share a type with a request.
pub struct StrictRequestBodies;

impl Modify for StrictRequestBodies {
    fn modify(&self, openapi: &mut OpenApi) {
        let mut referenced = BTreeSet::new();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
                    continue;
                };
                for content in body.content.values_mut() {
                    if let RefOr::T(content) = content
                        && let Some(schema) = content.schema.as_mut()
                    {
                        close(schema, &mut referenced);
                    }
                }
            }
        }
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let mut done = BTreeSet::new();
        while let Some(name) = referenced.iter().find(|n| !done.contains(*n)).cloned() {
            done.insert(name.clone());
            if let Some(schema) = components.schemas.get_mut(&name) {
                close(schema, &mut referenced);
            }
        }
    }
}

/// Closes the objects of `schema`, collecting the components it refers to. The
/// branches of `allOf`, `anyOf` and `oneOf` stay open (each branch sees only its own
/// properties, so closing one would refuse the others'), their properties do not.
fn close(schema: &mut RefOr<Schema>, referenced: &mut BTreeSet<String>) {
    close_as(schema, true, referenced);
}

fn close_as(schema: &mut RefOr<Schema>, closable: bool, referenced: &mut BTreeSet<String>) {
    let schema = match schema {
        RefOr::Ref(reference) => {
            if let Some(name) = reference.ref_location.strip_prefix("#/components/schemas/") {
                referenced.insert(name.to_owned());
            }
            return;
        }
        RefOr::T(schema) => schema,
    };
    let branches = match schema {
        Schema::Object(object) => {
            if closable && !object.properties.is_empty() && object.additional_properties.is_none() {
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
            for property in object.properties.values_mut() {
                close(property, referenced);
            }
            return;
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                close(items, referenced);
            }
            return;
        }
        Schema::AllOf(all) => &mut all.items,
        Schema::AnyOf(any) => &mut any.items,
        Schema::OneOf(one) => &mut one.items,
        _ => return,
    };
    for branch in branches {
        close_as(branch, false, referenced);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_pattern_is_the_id_rule() {
        let pattern = ID_PATTERN.trim_start_matches("^[").trim_end_matches("]+$");
        assert_eq!(pattern, "A-Za-z0-9_-");
        assert!(ferry_events::validate_aggregate_id("srv-0042_A").is_ok());
        assert!(ferry_events::validate_aggregate_id("srv.0042").is_err());
    }
}
