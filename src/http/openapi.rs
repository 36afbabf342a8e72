//! `GET /openapi.json` (SPEC §9): an OpenAPI 3.1 description of every
//! route, built from the values that serve them, so it cannot drift: the
//! route templates of the handlers, SPEC §2's parameter list
//! (`domain::query::PARAMETERS`, each given its schema here, which a test
//! checks against the parser), the body field table that validates writes
//! (`domain::write::json_schema`), the API versions, statuses and the
//! error code table (`Code`). `GET /docs` renders the same document.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::json_headers;
use super::{customer, health, reseller_customers, token};
use crate::domain::query::PARAMETERS;
use crate::domain::refusal::Code;
use crate::domain::write::{SchemaOf, json_schema};
use crate::domain::{ApiVersion, Status};

pub const ROUTE: &str = "/openapi.json";
/// Where `docs.rs` serves the document as a page (named here, since the
/// page is drawn from this module, not the other way round).
pub const DOCS_ROUTE: &str = "/docs";

pub fn serve() -> Response {
    static BODY: OnceLock<String> = OnceLock::new();
    let body = BODY.get_or_init(|| document().to_string());
    (json_headers(), body.as_str()).into_response()
}

/// The document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

/// Which errors an operation may answer, by code (the rest of the table
/// does not apply to it).
struct Operation {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    description: &'static str,
    parameters: Vec<Value>,
    body: Option<Value>,
    /// Success responses: status → response object.
    success: Vec<(&'static str, Value)>,
    errors: Vec<Code>,
    /// OpenAPI security requirements.
    security: Value,
}

fn build() -> Value {
    let mut paths = Map::new();
    for operation in operations() {
        let mut responses = Map::new();
        for (status, response) in operation.success {
            responses.insert(status.to_owned(), response);
        }
        for (status, response) in error_responses(&[&operation.errors[..], ANY_REQUEST].concat()) {
            responses.insert(status, response);
        }
        responses.insert(
            "default".to_owned(),
            json!({"description": "Any other error, in the same shape.", "content": error_content()}),
        );
        let mut object = json!({
            "operationId": operation.id,
            "summary": operation.summary,
            "description": operation.description,
            "parameters": operation.parameters,
            "responses": responses,
        });
        if let Some(body) = operation.body {
            object["requestBody"] = body;
        }
        object["security"] = operation.security;
        paths
            .entry(operation.path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a path item")
            .insert(operation.method.to_owned(), object);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Roster: customer accounts",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A software marketplace's partner API for customer accounts: list a reseller's \
                customers (filtered, sorted, counted exactly), read, create and update one customer, \
                idempotently, in two response versions. Every error has the body \
                `{\"code\", \"message\", \"additionalDetails\"}`; the token endpoints answer OAuth's own. \
                An `Accept` header, if sent, must admit application/json; a body's `Content-Type` is \
                application/json (or `application/merge-patch+json` for updates; a token request's \
                is a form). A body is read as sent: one with a `Content-Encoding` (other than identity) \
                is 415.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                    "description": "An access token from `POST /ims/token/v3`."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                    "description": "The client id the token was issued to."},
                "clientBasic": {"type": "http", "scheme": "basic",
                    "description": "client_secret_basic: the client id and secret, form-encoded."},
            },
            "schemas": schemas(),
        },
    })
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn error_content() -> Value {
    json!({"application/json": {"schema": reference("Error")}})
}

/// One response per HTTP status among `codes`, describing each code (in
/// the table's order).
fn error_responses(codes: &[Code]) -> Vec<(String, Value)> {
    let mut by_status: Vec<(u16, Vec<String>)> = Vec::new();
    for code in Code::ALL.iter().filter(|code| codes.contains(code)) {
        let line = format!("`{}`: {}", code.code(), code.message());
        match by_status.iter_mut().find(|(s, _)| *s == code.status()) {
            Some((_, lines)) => lines.push(line),
            None => by_status.push((code.status(), vec![line])),
        }
    }
    by_status.sort_by_key(|(status, _)| *status);
    by_status
        .into_iter()
        .map(|(status, lines)| {
            let mut response = json!({"description": lines.join("; "), "content": error_content()});
            if status == 429 {
                response["headers"] = json!({"Retry-After": {
                    "description": "Seconds until a request will be allowed.",
                    "schema": {"type": "integer", "minimum": 1},
                }});
            }
            if status == 401 {
                response["headers"] = json!({"WWW-Authenticate": {"schema": {"type": "string"}}});
            }
            (status.to_string(), response)
        })
        .collect()
}

fn header(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "header", "required": false, "description": description, "schema": schema})
}

/// Headers every API operation takes (SPEC §2, §7). `Accept` (it must
/// admit application/json) and `Content-Type` are described in words:
/// OpenAPI ignores them as parameters.
fn common_headers() -> Vec<Value> {
    let versions: Vec<&str> = ApiVersion::ALL.iter().map(|v| v.as_str()).collect();
    vec![
        header(
            "X-Request-Id",
            "Your id for the request, echoed back; replayed within the window: 4120.",
            json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"}),
        ),
        header(
            "X-Api-Version",
            "The response version for this request (default: the client's).",
            json!({"type": "string", "enum": versions}),
        ),
    ]
}

fn correlation_header() -> Value {
    header(
        "X-Correlation-Id",
        "Makes a write idempotent: the same id and request again get the same answer, written once. \
         A rule this document cannot express: the same id with another method, path or body is \
         400 4119 (`X-Correlation-Id: already used for a different request`).",
        json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"}),
    )
}

fn path_parameter(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": "string", "minLength": 1}})
}

/// The schema and description of each list parameter (SPEC §2).
pub fn list_parameter(name: &str) -> Option<(Value, &'static str)> {
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.code()).collect();
    let date = json!({"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}],
        "description": "A date YYYY-MM-DD or an RFC 3339 timestamp."});
    Some(match name {
        "status" => (
            json!({"type": "array", "items": {"type": "string", "enum": statuses}}),
            "Statuses to include (repeatable); default 1000.",
        ),
        "customer-id" => (
            json!({"type": "array", "items": {"type": "string", "minLength": 1}}),
            "Only these customers (repeatable).",
        ),
        "name" => (
            json!({"type": "string", "minLength": 1}),
            "Company name, case-insensitive; `*` any run of characters, `\\*` and `\\\\` escapes. \
             `company-name` is another name for it (give one or the other).",
        ),
        "company-name" => (
            json!({"type": "string", "minLength": 1}),
            "Another name for `name` (the family's later name for it); giving both is 400 1132.",
        ),
        "from-created-date" => (
            date.clone(),
            "Created at or after (inclusive). A rule this document cannot express: a \
             `from-created-date` after `to-created-date` is 400 1132.",
        ),
        "to-created-date" => (date, "Created at or before (inclusive)."),
        "offset" => (
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX, "default": 0}),
            "Matches to skip.",
        ),
        "limit" => (
            json!({"type": "integer", "minimum": 1, "maximum": 50, "default": 20}),
            "Customers per page.",
        ),
        "sort-by" => (
            json!({"type": "string", "enum": ["creationDate", "companyName", "companyProfile.companyName"],
                "default": "creationDate"}),
            "Sort key; ties go to customerId ascending. `companyProfile.companyName` is the family's first \
             published spelling of `companyName`.",
        ),
        "order-by" => (
            json!({"type": "string", "pattern": "^(?i:asc|desc)$", "default": "desc"}),
            "Sort direction, `asc` or `desc` in any letter case.",
        ),
        _ => return None,
    })
}

fn list_parameters() -> Vec<Value> {
    let mut parameters = vec![path_parameter("reseller_id", "The reseller whose customers to list.")];
    for name in PARAMETERS {
        let (schema, description) = list_parameter(name).expect("every parameter of SPEC §2 is described");
        let mut parameter = json!({"name": name, "in": "query", "required": false,
            "description": description, "schema": schema});
        if schema_is_array(&parameter["schema"]) {
            parameter["style"] = json!("form");
            parameter["explode"] = json!(true);
        }
        parameters.push(parameter);
    }
    parameters.push(correlation_echo());
    parameters.extend(common_headers());
    parameters
}

/// `X-Correlation-Id` where it only comes back (SPEC §2).
fn correlation_echo() -> Value {
    header(
        "X-Correlation-Id",
        "Your id for a flow of requests, echoed back unchanged.",
        json!({"type": "string"}),
    )
}

fn schema_is_array(schema: &Value) -> bool {
    schema["type"] == "array"
}

fn json_body(schema: Value, media: &[&str]) -> Value {
    let mut content = Map::new();
    for media in media {
        content.insert((*media).to_owned(), json!({"schema": schema}));
    }
    json!({"required": true, "content": content})
}

fn customer_response(description: &str, headers: Value) -> Value {
    json!({"description": description, "headers": headers,
           "content": {"application/json": {"schema": reference("Customer")}}})
}

fn etag_header() -> Value {
    json!({"description": "The customer's version, for If-Match and If-None-Match.", "schema": {"type": "string"}})
}

/// What any request may be answered, whatever it asks: limits checked
/// before routing, the 503 of a server still loading, and a request out of
/// time (or a fault) as 500.
const ANY_REQUEST: &[Code] = &[
    Code::Internal,
    Code::UriTooLong,
    Code::HeadersTooLarge,
    Code::Unavailable,
];

/// What every partner API operation may answer, before its own checks.
const API_AUTH: &[Code] = &[
    Code::TokenInvalid,
    Code::TokenMissing,
    Code::ApiKeyInvalid,
    Code::TooManyRequests,
];

fn operations() -> Vec<Operation> {
    let with_auth = |codes: &[Code]| -> Vec<Code> { [codes, API_AUTH].concat() };
    let api = json!([{"bearerToken": [], "apiKey": []}]);
    let open = json!([]);
    // Unknown parameters are ignored (RFC 6749 §3.2); none may be repeated.
    let token_form = json!({
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
        },
        "additionalProperties": {"type": "string"},
    });
    let token_responses = |expires: &str| {
        vec![
            (
                "200",
                json!({"description": format!("A token; `expires_in` in {expires}."),
                "headers": {"Cache-Control": {"schema": {"type": "string", "const": "no-store"}}},
                "content": {"application/json": {"schema": reference("Token")}}}),
            ),
            (
                "400",
                json!({"description": "`invalid_request` or `unsupported_grant_type`.",
                "content": {"application/json": {"schema": reference("OAuthError")}}}),
            ),
            (
                "401",
                json!({"description": "`invalid_client`: unknown or disabled client, or a wrong secret.",
                "content": {"application/json": {"schema": reference("OAuthError")}}}),
            ),
            (
                "429",
                json!({"description": "`temporarily_unavailable`: too many logins at once, or too many failed \
                    ones from this address (see Retry-After).",
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                "content": {"application/json": {"schema": reference("OAuthError")}}}),
            ),
        ]
    };
    let basic_or_form = json!([{"clientBasic": []}, {}]);
    use Code::*;
    let list_errors = [
        InvalidFields,
        InvalidParameters,
        DuplicateRequestId,
        ResellerForbidden,
        UnknownReseller,
    ];
    let read_errors = [
        InvalidFields,
        InvalidParameters,
        DuplicateRequestId,
        CorrelationInvalid,
        UnknownCustomer,
    ];
    let create_errors = [
        UnknownReseller,
        NotEditable,
        InvalidFields,
        InvalidParameters,
        UnexpectedFields,
        MissingFields,
        AlreadyExists,
        CorrelationInvalid,
        DuplicateRequestId,
        CorrelationInFlight,
        ResellerForbidden,
        PayloadTooLarge,
        BodyTimeout,
        EncodingUnsupported,
    ];
    let update_errors = [
        InvalidFields,
        InvalidParameters,
        NotEditable,
        UnexpectedFields,
        UpdateBlocked,
        CorrelationInvalid,
        DuplicateRequestId,
        CorrelationInFlight,
        UnknownCustomer,
        PreconditionFailed,
        PayloadTooLarge,
        BodyTimeout,
        EncodingUnsupported,
    ];
    vec![
        Operation {
            method: "get",
            path: reseller_customers::ROUTE,
            id: "listCustomers",
            summary: "List a reseller's customers",
            description: "A page of the reseller's customers, filtered and sorted, with the exact total. \
                Version 2025-08 lists full records under `customers`, 2025-11 summaries under `accounts`.",
            parameters: list_parameters(),
            body: None,
            success: vec![(
                "200",
                json!({"description": "A page.", "content": {"application/json": {"schema": {"oneOf": [
                    reference("CustomerPage"), reference("AccountPage")]}}}}),
            )],
            errors: with_auth(&list_errors),
            security: api.clone(),
        },
        Operation {
            method: "get",
            path: customer::CUSTOMER_ROUTE,
            id: "getCustomer",
            summary: "Read one customer",
            description: "The customer, with its ETag; 304 when If-None-Match still matches.",
            parameters: [
                vec![
                    path_parameter("customer_id", "The customer."),
                    header("If-None-Match", "An ETag you have.", json!({"type": "string"})),
                    correlation_header(),
                ],
                common_headers(),
            ]
            .concat(),
            body: None,
            success: vec![
                (
                    "200",
                    customer_response("The customer.", json!({"ETag": etag_header()})),
                ),
                (
                    "304",
                    json!({"description": "Not modified since the ETag you sent.",
                    "headers": {"ETag": etag_header()}}),
                ),
            ],
            errors: with_auth(&read_errors),
            security: api.clone(),
        },
        Operation {
            method: "post",
            path: customer::CUSTOMERS_ROUTE,
            id: "createCustomer",
            summary: "Create a customer",
            description: "A new customer of a reseller in your scope; its id is chosen by Roster. \
                A customer with the same company name and first contact email in that reseller: 1127.",
            parameters: [vec![correlation_header()], common_headers()].concat(),
            body: Some(json_body(reference("NewCustomer"), &["application/json"])),
            success: vec![(
                "201",
                customer_response(
                    "Created.",
                    json!({"ETag": etag_header(), "Location": {"description": "The customer's URI.",
                        "schema": {"type": "string"}}}),
                ),
            )],
            errors: with_auth(&create_errors),
            security: api.clone(),
        },
        Operation {
            method: "patch",
            path: customer::CUSTOMER_ROUTE,
            id: "updateCustomer",
            summary: "Update a customer",
            description: "A JSON merge patch (RFC 7396) of the editable fields; null removes an optional \
                field. With If-Match, only if the customer is still that version (else 412).",
            parameters: [
                vec![
                    path_parameter("customer_id", "The customer."),
                    header(
                        "If-Match",
                        "The ETag the change is based on.",
                        json!({"type": "string"}),
                    ),
                    correlation_header(),
                ],
                common_headers(),
            ]
            .concat(),
            body: Some(json_body(
                reference("CustomerPatch"),
                &["application/merge-patch+json", "application/json"],
            )),
            success: vec![(
                "200",
                customer_response("The customer as changed.", json!({"ETag": etag_header()})),
            )],
            errors: with_auth(&update_errors),
            security: api,
        },
        Operation {
            method: "post",
            path: token::ROUTE,
            id: "issueToken",
            summary: "Get an access token",
            description: "OAuth 2.0 client credentials (RFC 6749 §4.4): the client id and secret in the form \
                body, or as HTTP Basic; at most 32 parameters.",
            parameters: vec![],
            body: Some(json_body(token_form.clone(), &["application/x-www-form-urlencoded"])),
            success: token_responses("seconds"),
            errors: vec![BodyTimeout, EncodingUnsupported],
            security: basic_or_form.clone(),
        },
        Operation {
            method: "post",
            path: token::ROUTE_V2,
            id: "issueTokenV2",
            summary: "Get an access token (identity service v2)",
            description: "As `/ims/token/v3`, with the parameters in the query string (or, instead, in a \
                form body). A rule this document cannot express: a parameter given in both places is \
                `invalid_request` (`a parameter is given in both the query string and the form body`); \
                and at most 32 parameters in all.",
            parameters: ["grant_type", "client_id", "client_secret"]
                .iter()
                .map(|name| {
                    json!({"name": name, "in": "query", "required": false,
                    "schema": token_form["properties"][name]})
                })
                .collect(),
            body: Some(
                json!({"required": false, "content": {"application/x-www-form-urlencoded":
                {"schema": token_form.clone()}}}),
            ),
            success: token_responses("milliseconds"),
            errors: vec![BodyTimeout, EncodingUnsupported],
            security: basic_or_form,
        },
        Operation {
            method: "get",
            path: health::ROUTE,
            id: "health",
            summary: "Liveness",
            description: "200 once the server serves.",
            parameters: vec![],
            body: None,
            success: vec![(
                "200",
                json!({"description": "Serving.",
                "content": {"application/json": {"schema": reference("Status")}}}),
            )],
            errors: vec![],
            security: open.clone(),
        },
        Operation {
            method: "get",
            path: health::READY_ROUTE,
            id: "ready",
            summary: "Readiness",
            description: "200 while the database (and Redis, when configured) answer; 503 naming which \
                does not, or while the catalog loads.",
            parameters: vec![],
            body: None,
            success: vec![(
                "200",
                json!({"description": "Ready.",
                "content": {"application/json": {"schema": reference("Status")}}}),
            )],
            errors: vec![],
            security: open.clone(),
        },
        Operation {
            method: "get",
            path: ROUTE,
            id: "openapi",
            summary: "This document",
            description: "OpenAPI 3.1.",
            parameters: vec![],
            body: None,
            success: vec![(
                "200",
                json!({"description": "The document.",
                "content": {"application/json": {"schema": {"type": "object"}}}}),
            )],
            errors: vec![],
            security: open.clone(),
        },
        Operation {
            method: "get",
            path: DOCS_ROUTE,
            id: "docs",
            summary: "The API reference",
            description: "This document as a page to read.",
            parameters: vec![],
            body: None,
            success: vec![(
                "200",
                json!({"description": "An HTML page.",
                "content": {"text/html": {"schema": {"type": "string"}}}}),
            )],
            errors: vec![],
            security: open.clone(),
        },
    ]
}

/// A customer as returned: the field table's shape, plus `links`.
fn customer_schema() -> Value {
    let mut schema = json_schema(SchemaOf::Customer);
    schema["required"] = json!(["customerId", "resellerId", "status", "companyProfile", "creationDate"]);
    schema["properties"]["links"] = links_schema();
    schema
}

fn links_schema() -> Value {
    json!({"type": "object", "properties": {"self": {"type": "object", "properties": {
        "uri": {"type": "string"}, "method": {"type": "string"}, "headers": {"type": "array"}}}}})
}

fn page_schema(items: &str, item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["totalCount", "count", "offset", "limit", items],
        "properties": {
            "totalCount": {"type": "integer", "minimum": 0},
            "count": {"type": "integer", "minimum": 0},
            "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50},
            items: {"type": "array", "items": reference(item)},
        },
    })
}

fn schemas() -> Value {
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.code()).collect();
    json!({
        "Error": {
            "type": "object",
            "required": ["code", "message", "additionalDetails"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "additionalDetails": {"type": "array", "items": {"type": "string"}},
            },
        },
        "OAuthError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "enum": ["invalid_request", "invalid_client",
                    "unsupported_grant_type", "temporarily_unavailable"]},
                "error_description": {"type": "string"},
            },
        },
        "Token": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in"],
            "properties": {
                "access_token": {"type": "string"},
                "token_type": {"type": "string", "const": "bearer"},
                "expires_in": {"type": "integer", "minimum": 0},
            },
        },
        "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
        "Customer": customer_schema(),
        "Account": {
            "type": "object",
            "required": ["customerId", "resellerId", "status", "companyProfile", "creationDate", "links"],
            "properties": {
                "externalReferenceId": {"type": "string"},
                "customerId": {"type": "string"},
                "resellerId": {"type": "string"},
                "status": {"type": "string", "enum": statuses},
                "companyProfile": {"type": "object", "required": ["companyName"],
                    "properties": {"companyName": {"type": "string"}}},
                "creationDate": {"type": "string"},
                "links": links_schema(),
            },
        },
        "CustomerPage": page_schema("customers", "Customer"),
        "AccountPage": page_schema("accounts", "Account"),
        "NewCustomer": json_schema(SchemaOf::NewCustomer),
        "CustomerPatch": json_schema(SchemaOf::Patch),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ListQuery;

    /// The whole document, reviewed with `cargo insta review` whenever a
    /// route, parameter, schema or error list changes.
    #[test]
    fn the_document_is_as_reviewed() {
        insta::assert_snapshot!("openapi", serde_json::to_string_pretty(document()).unwrap());
    }

    fn operation(path: &str, method: &str) -> &'static Value {
        &document()["paths"][path][method]
    }

    /// What integrations found missing (issue #28), each said once here.
    #[test]
    fn the_document_says_what_integrations_send_and_get() {
        let list = operation(reseller_customers::ROUTE, "get");
        let named = |operation: &Value, name: &str| {
            operation["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == name)
        };
        assert!(named(list, "company-name") && named(list, "X-Correlation-Id"));
        let form = &operation(token::ROUTE_V2, "post")["requestBody"]["content"]["application/x-www-form-urlencoded"];
        assert_eq!(
            form["schema"]["properties"]["grant_type"]["enum"],
            json!(["client_credentials"])
        );
        let create = operation(customer::CUSTOMERS_ROUTE, "post");
        assert!(
            create["responses"]["404"]["description"]
                .as_str()
                .unwrap()
                .contains("`1115`")
        );
        let country = &document()["components"]["schemas"]["NewCustomer"]["properties"]["companyProfile"]["properties"]
            ["address"]["properties"]["country"];
        let codes = country["enum"].as_array().unwrap();
        assert_eq!(codes.len(), 249);
        assert!(codes.contains(&json!("GB")) && !codes.contains(&json!("AA")));
        assert_eq!(list_parameter("order-by").unwrap().0["pattern"], "^(?i:asc|desc)$");
    }

    #[test]
    fn every_list_parameter_is_described_and_its_examples_parse() {
        for name in PARAMETERS {
            let (schema, _) = list_parameter(name).unwrap_or_else(|| panic!("{name} is not described"));
            let example = match schema["type"].as_str() {
                Some("integer") => schema["minimum"].to_string(),
                Some("array") => schema["items"]["enum"][0].as_str().unwrap_or("C1").to_owned(),
                _ => schema["enum"][0]
                    .as_str()
                    .or(schema["default"].as_str())
                    .unwrap_or("2025-01-01")
                    .to_owned(),
            };
            assert!(
                ListQuery::parse(&format!("{name}={example}")).is_ok(),
                "{name}={example}"
            );
        }
    }
}
