//! `GET /v3/resellers/{reseller_id}/customers` (SPEC §2), its checks in the
//! SPEC's order: token, API key, token binding, scope, rate limit, headers
//! ([`with_caller`]) → parameters → reseller known → request-id replay →
//! the page, in the JSON envelope of SPEC §2 written here.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::caller::with_caller;
use super::error::{ApiError, json_headers};
use super::headers::Body;
use super::request::RequestId;
use crate::app::App;
use crate::catalog::{Catalog, Items, PageWriter};
use crate::domain::refusal::Code;
use crate::domain::{ApiVersion, ListQuery};

pub const ROUTE: &str = "/v3/resellers/{reseller_id}/customers";

pub async fn list(app: &App, reseller_id: String, request_id: &RequestId, request: Request) -> Response {
    let (headers, uri) = (request.headers(), request.uri());
    with_caller(
        app,
        headers,
        request_id,
        Some(&reseller_id),
        Body::None,
        async |caller| {
            // 6: the parameters (the headers were checked with the caller).
            let query = ListQuery::parse(uri.query().unwrap_or_default())
                .map_err(|problems| ApiError::refused(Code::InvalidParameters, problems))?;
            // 7: the reseller exists.
            if !app.catalog.reseller_known(&reseller_id, &caller.client.scope).await? {
                return Err(Code::UnknownReseller.into());
            }
            // 8: the request id is new for this client; only now is it spent.
            caller.spend(app, request_id).await?;
            let items = match caller.version {
                ApiVersion::V2025_08 => Items::Records,
                ApiVersion::V2025_11 => Items::Summaries,
            };
            let body = page_body(&app.catalog, &reseller_id, &query, items);
            Ok((StatusCode::OK, json_headers(), body).into_response())
        },
    )
    .await
}

/// The whole 200 body of SPEC §2 for `query` on `reseller_id`:
/// `{"totalCount":…,"count":…,"offset":…,"limit":…,"customers":[…]}` (or
/// `"accounts":[…]` for summaries).
pub fn page_body(catalog: &Catalog, reseller_id: &str, query: &ListQuery, items: Items) -> Vec<u8> {
    let mut page = PageBody {
        body: Vec::new(),
        query,
        items,
        first: true,
    };
    catalog.page_into(reseller_id, query, items, &mut page);
    page.body.extend_from_slice(b"]}");
    page.body
}

/// A page's JSON as the catalog hands over its parts. (Pieced together:
/// `write!` cost more than the rest of the envelope.)
struct PageBody<'q> {
    body: Vec<u8>,
    query: &'q ListQuery,
    items: Items,
    first: bool,
}

impl PageWriter for PageBody<'_> {
    fn begin(&mut self, total: u64, count: usize) {
        self.body.reserve(96 + count * 1024);
        let mut number = itoa::Buffer::new();
        for (name, value) in [
            (&br#"{"totalCount":"#[..], total),
            (br#","count":"#, count as u64),
            (br#","offset":"#, self.query.offset),
            (br#","limit":"#, self.query.limit.get() as u64),
        ] {
            self.body.extend_from_slice(name);
            self.body.extend_from_slice(number.format(value).as_bytes());
        }
        self.body.extend_from_slice(match self.items {
            Items::Records => br#","customers":["#,
            Items::Summaries => br#","accounts":["#,
        });
    }

    fn item(&mut self, bytes: &[u8]) {
        if !std::mem::take(&mut self.first) {
            self.body.push(b',');
        }
        self.body.extend_from_slice(bytes);
    }
}
