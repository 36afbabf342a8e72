//! Which handler answers a request: the API's routes, each a path template
//! of its handler's module, matched as the text around its one parameter,
//! then the method. A known path with another method is 405 with `Allow`,
//! an unknown path 404 (SPEC §3); HEAD is answered as GET without the body.
//!
//! Matched here rather than by axum's `Router`, for what the router cost
//! on every request (the match, a map of percent-decoded path parameters
//! and the matched path in the request's extensions, a boxed clone of the
//! route's service, the extractors' futures), measured in
//! docs/PERFORMANCE.md ("Routing without axum's router"). The API has a
//! handful of fixed paths with at most one parameter, so the match is a
//! few string comparisons. axum still gives the bodies and the response
//! types.

use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, header};
use percent_encoding::percent_decode_str;

use super::error::ApiError;
use super::request::{Peer, RequestId};
use super::{customer, docs, health, openapi, reseller_customers, token};
use crate::app::App;
use crate::domain::refusal::Code;

/// One route of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    CustomerList,
    Customers,
    Customer,
    Token,
    TokenV2,
    Health,
    Ready,
    OpenApi,
    Docs,
}

/// Every route with its template as matched, in the order tried: the
/// partner API's, most requested, first.
const ROUTES: [(Route, Pattern); 9] = [
    Route::CustomerList.matched(),
    Route::Customers.matched(),
    Route::Customer.matched(),
    Route::Token.matched(),
    Route::TokenV2.matched(),
    Route::Health.matched(),
    Route::Ready.matched(),
    Route::OpenApi.matched(),
    Route::Docs.matched(),
];

/// A path template as matched: the whole path, or the text before and
/// after its one `{name}` segment. Worked out at compile time: splitting
/// the templates on every request cost more than the rest of the routing.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    Exact(&'static str),
    Parameter { prefix: &'static str, suffix: &'static str },
}

impl Pattern {
    const fn of(template: &'static str) -> Pattern {
        let bytes = template.as_bytes();
        let mut open = 0;
        while open < bytes.len() && bytes[open] != b'{' {
            open += 1;
        }
        if open == bytes.len() {
            return Pattern::Exact(template);
        }
        let mut close = open;
        while bytes[close] != b'}' {
            close += 1;
        }
        Pattern::Parameter {
            prefix: template.split_at(open).0,
            suffix: template.split_at(close + 1).1,
        }
    }

    /// Whether `path` fits: `Some` with the parameter, if the template has
    /// one, which takes any non-empty segment.
    fn fits(self, path: &str) -> Option<Option<&str>> {
        match self {
            Pattern::Exact(template) => (path == template).then_some(None),
            Pattern::Parameter { prefix, suffix } => {
                let parameter = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
                (!parameter.is_empty() && !parameter.contains('/')).then_some(Some(parameter))
            }
        }
    }
}

impl Route {
    /// The route whose template `path` fits, and the path's parameter
    /// (still percent-encoded) for a template with one.
    pub fn of(path: &str) -> Option<(Route, Option<&str>)> {
        ROUTES
            .into_iter()
            .find_map(|(route, pattern)| pattern.fits(path).map(|parameter| (route, parameter)))
    }

    const fn matched(self) -> (Route, Pattern) {
        (self, Pattern::of(self.template()))
    }

    /// The path template, as the access log, the metrics and the OpenAPI
    /// document name the route.
    pub const fn template(self) -> &'static str {
        match self {
            Route::CustomerList => reseller_customers::ROUTE,
            Route::Customers => customer::CUSTOMERS_ROUTE,
            Route::Customer => customer::CUSTOMER_ROUTE,
            Route::Token => token::ROUTE,
            Route::TokenV2 => token::ROUTE_V2,
            Route::Health => health::ROUTE,
            Route::Ready => health::READY_ROUTE,
            Route::OpenApi => openapi::ROUTE,
            Route::Docs => docs::ROUTE,
        }
    }

    /// The methods the route answers, as `Allow` lists them: what
    /// [`answer`] dispatches on.
    fn allow(self) -> &'static str {
        match self {
            Route::Customers | Route::Token | Route::TokenV2 => "POST",
            Route::Customer => "GET,HEAD,PATCH",
            Route::CustomerList | Route::Health | Route::Ready | Route::OpenApi | Route::Docs => "GET,HEAD",
        }
    }

    /// The most body bytes a request to the route is read for (its
    /// handler's own limit): the guard receives that much before the
    /// request takes a work slot. None: the route reads no body.
    pub fn body_limit(self, limits: &crate::app::HttpLimits) -> Option<usize> {
        match self {
            Route::Customers | Route::Customer => Some(customer::MAX_BODY_BYTES),
            Route::Token | Route::TokenV2 => Some(limits.max_body_bytes),
            Route::CustomerList | Route::Health | Route::Ready | Route::OpenApi | Route::Docs => None,
        }
    }

    /// Whether requests to the route skip the in-flight limit: logins have
    /// their own budget (`auth::logins`) and health checks cost nothing, so
    /// a login flood cannot fill the API's permits, nor a busy API fail a
    /// probe.
    pub fn has_own_budget(self) -> bool {
        matches!(self, Route::Token | Route::TokenV2 | Route::Health | Route::Ready)
    }

    fn answers(self, method: &Method) -> bool {
        self.allow().split(',').any(|allowed| allowed == method.as_str())
    }
}

/// The route of `path`, with the path's parameter decoded (empty for a
/// route without one).
pub fn resolve(path: &str) -> Option<(Route, String)> {
    Route::of(path).map(|(route, parameter)| (route, decoded(parameter)))
}

/// A path parameter, percent-decoded; one that does not decode to UTF-8,
/// or holds U+0000 (which no id does: docs/DECISIONS.md, "Hostile input"),
/// names no customer or reseller, and goes through the checks as an
/// unknown one.
fn decoded(parameter: Option<&str>) -> String {
    match parameter {
        Some(parameter) if parameter.contains('%') => percent_decode_str(parameter)
            .decode_utf8()
            .ok()
            .filter(|decoded| !decoded.contains('\0'))
            .map_or_else(|| "\u{FFFD}".to_owned(), |decoded| decoded.into_owned()),
        Some(parameter) => parameter.to_owned(),
        None => String::new(),
    }
}

/// The answer of the route's handler for the method of `request`, which
/// has `parameter` in its path (see [`resolve`]); 404 for no route.
pub async fn answer(
    app: Arc<App>,
    routed: Option<(Route, String)>,
    request_id: RequestId,
    peer: Peer,
    request: Request,
) -> Response {
    let head = request.method() == Method::HEAD;
    let response = match routed {
        None => ApiError::from(Code::NotFound).into_response(),
        Some((route, _)) if !route.answers(request.method()) => {
            let mut response = ApiError::from(Code::MethodNotAllowed).into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(route.allow()));
            response
        }
        Some((Route::CustomerList, reseller_id)) => {
            reseller_customers::list(&app, reseller_id, &request_id, request).await
        }
        Some((Route::Customer, customer_id)) if request.method() == Method::PATCH => {
            customer::update(&app, customer_id, &request_id, request).await
        }
        Some((Route::Customer, customer_id)) => customer::get(&app, customer_id, &request_id, request).await,
        Some((Route::Customers, _)) => customer::create(&app, &request_id, request).await,
        Some((Route::Token, _)) => token::issue(&app, peer, request).await,
        Some((Route::TokenV2, _)) => token::issue_v2(&app, peer, request).await,
        Some((Route::Health, _)) => health::health(),
        Some((Route::Ready, _)) => health::ready(&app).await,
        Some((Route::OpenApi, _)) => openapi::serve(),
        Some((Route::Docs, _)) => docs::serve(),
    };
    if head { without_body(response) } else { response }
}

/// A GET's response as HEAD answers it: every header, the body's length
/// included, and no body.
fn without_body(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    if let Some(length) = body.size_hint().exact() {
        parts.headers.entry(header::CONTENT_LENGTH).or_insert(length.into());
    }
    Response::from_parts(parts, Body::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fit_their_templates() {
        assert_eq!(
            Route::of("/v3/resellers/2000/customers"),
            Some((Route::CustomerList, Some("2000")))
        );
        assert_eq!(Route::of("/v3/customers"), Some((Route::Customers, None)));
        assert_eq!(
            Route::of("/v3/customers/12%2F3"),
            Some((Route::Customer, Some("12%2F3")))
        );
        assert_eq!(Route::of("/ims/token/v2"), Some((Route::TokenV2, None)));
        assert_eq!(Route::of("/docs"), Some((Route::Docs, None)));
        for unknown in [
            "/",
            "",
            "/v3/customers/",
            "/v3/customers/1/",
            "/v3/customers/1/x",
            "/v3//customers",
            "/v3/resellers//customers",
            "//v3/customers",
            "/V3/customers",
            "/healthz/",
            "/v3/resellers/1/customers/2",
        ] {
            assert_eq!(Route::of(unknown), None, "{unknown:?}");
        }
    }

    /// The table and the OpenAPI document (built from the handlers'
    /// templates) describe the same API: every documented path resolves to
    /// the route of that template, which answers exactly the documented
    /// methods (and HEAD with GET), and every route is documented.
    #[test]
    fn the_routes_are_the_paths_and_methods_of_the_openapi_document() {
        let paths = openapi::document()["paths"].as_object().expect("paths");
        for (template, operations) in paths {
            let path = template.replace('{', "x").replace('}', "");
            let (route, _) = Route::of(&path).unwrap_or_else(|| panic!("{template} has no route"));
            assert_eq!(route.template(), template);
            let mut methods: Vec<String> = operations
                .as_object()
                .unwrap()
                .keys()
                .map(|m| m.to_uppercase())
                .collect();
            if methods.contains(&"GET".to_owned()) {
                methods.push("HEAD".to_owned());
            }
            methods.sort();
            let mut allowed: Vec<&str> = route.allow().split(',').collect();
            allowed.sort();
            assert_eq!(methods, allowed, "{template}");
        }
        for (route, _) in ROUTES {
            assert!(paths.contains_key(route.template()), "{route:?} is not documented");
        }
    }

    #[test]
    fn a_route_answers_the_methods_its_allow_header_lists() {
        assert!(Route::Customer.answers(&Method::GET));
        assert!(Route::Customer.answers(&Method::HEAD));
        assert!(Route::Customer.answers(&Method::PATCH));
        assert!(!Route::Customer.answers(&Method::POST));
        assert!(Route::Customers.answers(&Method::POST));
        assert!(!Route::Customers.answers(&Method::GET));
        assert!(Route::TokenV2.answers(&Method::POST));
        assert!(!Route::Health.answers(&Method::DELETE));
        assert!(!Route::CustomerList.answers(&Method::OPTIONS));
    }

    #[test]
    fn parameters_are_percent_decoded() {
        assert_eq!(decoded(Some("12%2F3")), "12/3");
        assert_eq!(decoded(Some("caf%C3%A9")), "café");
        assert_eq!(decoded(Some("a+b")), "a+b");
        assert_eq!(decoded(Some("%FF")), "\u{FFFD}");
        assert_eq!(decoded(None), "");
    }
}
