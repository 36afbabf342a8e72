//! One customer account (SPEC §6): `GET /v3/customers/{customer_id}`,
//! `POST /v3/customers` and `PATCH /v3/customers/{customer_id}`, made
//! idempotent by `X-Correlation-Id` (SPEC §7).
//!
//! A write is read as an [`Intent`] and checked in SPEC §7's order: token,
//! API key, binding, rate limit, headers ([`with_caller`]) → the
//! correlation id, parameters, body size → correlation replay → the body
//! and the target → request-id replay → the write. The target's rules
//! ([`judge_create`], [`judge_patch`]) run twice: here against the catalog,
//! to refuse early and in order, and inside the write's transaction
//! against the database ([`Intent::decide`]), which is what counts should
//! another write have come between. Every answer after the correlation
//! check but 429 and 5xx is remembered with the id.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use sha2::{Digest, Sha256};

use super::caller::{Caller, with_caller};
use super::error::{ApiError, Result, json_headers, replied};
use super::headers::{self, Body as Expected};
use super::request::RequestId;
use crate::app::App;
use crate::app::writer::InFlight;
use crate::domain::customer::{etag, tag_matches, with_links};
use crate::domain::form;
use crate::domain::intent::{Answer, Intent, PatchIntent, Verdict, judge_create, judge_patch};
use crate::domain::refusal::Code;
use crate::domain::write::{NewCustomer, Patch};
use crate::store::{Abandoned, Correlation, CustomerWrite, WriteOutcome};

pub const CUSTOMER_ROUTE: &str = "/v3/customers/{customer_id}";
pub const CUSTOMERS_ROUTE: &str = "/v3/customers";

/// Largest write body (SPEC §6); larger is 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The detail of a correlation id reused for another request (SPEC §7).
const REUSED: &str = "X-Correlation-Id: already used for a different request";

/// GET: headers → parameters → the customer, in scope → request id → 200
/// (or 304 for a matching `If-None-Match`).
pub async fn get(app: &App, customer_id: String, request_id: &RequestId, request: Request) -> Response {
    let (headers, uri) = (request.headers(), request.uri());
    with_caller(app, headers, request_id, None, Expected::None, async |caller| {
        headers::correlation_id(headers)?;
        no_parameters(uri)?;
        // The record's body and ETag, built straight from the catalog's copy.
        let (tag, body) = app
            .catalog
            .read_customer(&customer_id, |customer| {
                caller
                    .client
                    .scope
                    .contains(customer.reseller_id)
                    .then(|| (customer.tag, with_links(customer.document, &customer_id)))
            })
            .flatten()
            .ok_or(Code::UnknownCustomer)?;
        caller.spend(app, request_id).await?;
        let etag = HeaderValue::try_from(etag(tag)).expect("hex");
        if let Some(tags) = headers.get(header::IF_NONE_MATCH)
            && tags
                .to_str()
                .is_ok_and(|tags| tag_matches(tags, etag.to_str().expect("ASCII"), false))
        {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(header::ETAG, etag);
            return Ok(response);
        }
        let mut response = (json_headers(), body).into_response();
        response.headers_mut().insert(header::ETAG, etag);
        Ok(response)
    })
    .await
}

/// POST: a new customer.
pub async fn create(app: &App, request_id: &RequestId, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    with_caller(app, &parts.headers, request_id, None, Expected::Json, async |caller| {
        write(app, caller, request_id, None, &parts.headers, &parts.uri, body).await
    })
    .await
}

/// PATCH: a merge patch of one customer.
pub async fn update(app: &App, customer_id: String, request_id: &RequestId, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    with_caller(
        app,
        &parts.headers,
        request_id,
        None,
        Expected::MergePatch,
        async |caller| {
            write(
                app,
                caller,
                request_id,
                Some(customer_id),
                &parts.headers,
                &parts.uri,
                body,
            )
            .await
        },
    )
    .await
}

/// POST (`target` None) and PATCH: see the module's order of checks.
async fn write(
    app: &App,
    caller: &Caller,
    request_id: &RequestId,
    target: Option<String>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<Response> {
    let correlation_id = headers::correlation_id(headers)?;
    no_parameters(uri)?;
    let body = to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::refused(
            Code::PayloadTooLarge,
            vec![format!("the body must be at most {MAX_BODY_BYTES} bytes")],
        )
    })?;
    let method = if target.is_some() { "PATCH" } else { "POST" };
    let (correlation, _in_flight) = match correlation_id {
        None => (None, None),
        Some(id) => match correlated(app, caller, id, fingerprint(method, uri.path(), &body)).await? {
            Correlated::Replay(answer) => return Ok(replied(&answer)),
            Correlated::Fresh(correlation, in_flight) => (Some(correlation), Some(in_flight)),
        },
    };
    let prepared = match target {
        None => prepare_create(app, caller, &body).await,
        Some(customer_id) => prepare_update(app, caller, customer_id, headers, &body),
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return Err(refuse(app, correlation.as_ref(), error).await),
    };
    if let Err(error) = caller.spend(app, request_id).await {
        return Err(refuse(app, correlation.as_ref(), error).await);
    }
    if let (Some(answer), None) = (&prepared.unchanged, &correlation) {
        // Nothing to write, nothing to remember.
        return Ok(replied(answer));
    }
    let outcome = app
        .writer
        .submit(CustomerWrite {
            intent: prepared.intent,
            correlation: correlation.clone(),
            abandoned: Abandoned::default(),
        })
        .await?;
    match outcome {
        WriteOutcome::Written { answer, .. } | WriteOutcome::Answered(answer) => Ok(replied(&answer)),
        WriteOutcome::Duplicate => {
            // Another server answered this correlation id first.
            let correlation = correlation.expect("only a correlated write can be a duplicate");
            match app
                .store
                .remembered(&correlation.client_id, &correlation.correlation_id)
                .await?
            {
                Some(remembered) if remembered.fingerprint == correlation.fingerprint => {
                    Ok(replied(&remembered.answer))
                }
                _ => Err(ApiError::refused(Code::CorrelationInvalid, vec![REUSED.into()])),
            }
        }
    }
}

/// A write ready to go, and (for a PATCH that changes nothing) the answer
/// already known.
struct Prepared {
    intent: Intent,
    unchanged: Option<Answer>,
}

/// A POST's body and target: the problems of §6 in order, then scope (4121),
/// a known reseller (1115) and duplicates (1127).
async fn prepare_create(app: &App, caller: &Caller, body: &[u8]) -> Result<Prepared> {
    let new = NewCustomer::parse(body)?;
    if !caller.client.scope.contains(new.reseller_id()) {
        return Err(Code::ResellerForbidden.into());
    }
    if !app
        .catalog
        .reseller_known(new.reseller_id(), &caller.client.scope)
        .await?
    {
        return Err(Code::UnknownReseller.into());
    }
    let namesakes: Vec<_> = app
        .catalog
        .namesakes(new.reseller_id(), &new.name_key())
        .into_iter()
        .map(|found| found.record)
        .collect();
    judge_create(&new, &namesakes)?;
    Ok(Prepared {
        intent: Intent::Create(new),
        unchanged: None,
    })
}

/// A PATCH's body and target: bad fields (1121, 1117), then the customer
/// (1116), `If-Match` (412), its status (1125), non-editable fields (1119).
fn prepare_update(
    app: &App,
    caller: &Caller,
    customer_id: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Prepared> {
    let intent = PatchIntent {
        patch: Patch::parse(body)?,
        // A value that is not text matches no tag.
        if_match: headers
            .get(header::IF_MATCH)
            .map(|value| value.to_str().unwrap_or_default().to_owned()),
        scope: caller.client.scope.clone(),
        customer_id,
    };
    let current = app.catalog.customer(&intent.customer_id).map(|found| found.record);
    let unchanged = match judge_patch(&intent, current.as_ref()) {
        Verdict::Refused(refusal) => return Err(refusal.into()),
        Verdict::Unchanged(answer) => Some(answer),
        Verdict::Changed { .. } => None,
    };
    Ok(Prepared {
        intent: Intent::Patch(intent),
        unchanged,
    })
}

/// What the correlation id says about this request.
enum Correlated {
    /// It was answered before: the same answer again.
    Replay(Answer),
    /// New: this request's answer will be remembered under it.
    Fresh(Correlation, InFlight),
}

/// SPEC §7: a request with this correlation id in flight on this server is
/// 4122 (4119 if it is another request); one answered before is replayed
/// (4119 if it was another request).
async fn correlated(app: &App, caller: &Caller, correlation_id: &str, fingerprint: Vec<u8>) -> Result<Correlated> {
    let client_id = &caller.client.client_id;
    let reused = || ApiError::refused(Code::CorrelationInvalid, vec![REUSED.into()]);
    let in_flight = match app.writer.begin(client_id, correlation_id, &fingerprint) {
        Ok(in_flight) => in_flight,
        Err(running) if running == fingerprint => return Err(Code::CorrelationInFlight.into()),
        Err(_) => return Err(reused()),
    };
    let now = crate::auth::unix_now() as i64;
    let fresh_since = now.saturating_sub(app.correlation_window.as_secs() as i64);
    if let Some(remembered) = app.store.remembered(client_id, correlation_id).await?
        && remembered.created_at >= fresh_since
    {
        return if remembered.fingerprint == fingerprint {
            Ok(Correlated::Replay(remembered.answer))
        } else {
            Err(reused())
        };
    }
    let correlation = Correlation {
        client_id: client_id.clone(),
        correlation_id: correlation_id.to_owned(),
        fingerprint,
    };
    Ok(Correlated::Fresh(correlation, in_flight))
}

/// Answers `error`; a 4xx is first remembered with the correlation id.
async fn refuse(app: &App, correlation: Option<&Correlation>, error: ApiError) -> ApiError {
    let (Some(correlation), Some(refusal)) = (correlation, error.remembered()) else {
        return error;
    };
    let remembered = app
        .writer
        .submit(CustomerWrite {
            intent: Intent::Remember(Answer::refused(refusal)),
            correlation: Some(correlation.clone()),
            abandoned: Abandoned::default(),
        })
        .await;
    match remembered {
        Err(cause) => ApiError::Internal(cause.context("remembering an answer")),
        Ok(_) => error,
    }
}

/// SPEC §6: these endpoints take no query parameters (1132, each named).
fn no_parameters(uri: &Uri) -> Result<()> {
    let problems: Vec<String> = form::pairs(uri.query().unwrap_or_default())
        .into_iter()
        .map(|(name, _)| format!("{name}: unknown parameter"))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::refused(Code::InvalidParameters, problems))
    }
}

/// What identifies a request for its correlation id: method, path, body.
fn fingerprint(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update(b"\n");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().to_vec()
}
