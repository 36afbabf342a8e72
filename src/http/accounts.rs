//! One customer account (SPEC §6): `GET /v3/customers/{customer_id}`,
//! `POST /v3/customers` and `PATCH /v3/customers/{customer_id}`, made
//! idempotent by `X-Correlation-Id` (SPEC §7).
//!
//! Checks run in SPEC §7's order: token, API key, binding → rate limit →
//! headers (4119 for a bad correlation id), parameters, body size →
//! correlation replay → the body and the target → request-id replay → the
//! write. A write decides twice from the same pure function: first from
//! the catalog (to refuse early and in order), then inside its transaction
//! from the database (which is what counts, should another write have come
//! between). Every answer after the correlation check but 5xx is
//! remembered with the id.
//!
//! Depends on `app`, `catalog`, `store`, `domain` and its siblings
//! `caller`, `error`, `headers` and `request`.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use sha2::{Digest, Sha256};

use super::caller::{Answer, Caller, Handled, admit};
use super::error::{ApiError, Result, json_headers, replied};
use super::headers::{self, Body as Expected};
use super::request::RequestId;
use crate::app::App;
use crate::app::writer::InFlight;
use crate::catalog::tag_of;
use crate::domain::customer::{customer_uri, links_member};
use crate::domain::write::{NewCustomer, Patch, first_email_of};
use crate::domain::{CustomerRecord, ResellerScope, Status, form};
use crate::store::{Abandoned, Correlation, CustomerWrite, Decision, Reply, Seen, Target, WriteOutcome};

pub const CUSTOMER_ROUTE: &str = "/v3/customers/{customer_id}";
pub const CUSTOMERS_ROUTE: &str = "/v3/customers";

/// Largest write body (SPEC §6); larger is 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The detail of a correlation id reused for another request (SPEC §7).
const REUSED: &str = "X-Correlation-Id: already used for a different request";

pub async fn get(app: &App, customer_id: String, request_id: &RequestId, request: Request) -> Response {
    let answer = match admit(app, request.headers(), None).await {
        Ok(caller) => {
            let handled = read(app, &caller, request_id, &customer_id, request.headers(), request.uri()).await;
            Answer::from(caller, handled)
        }
        Err(refused) => refused,
    };
    answer.respond()
}

pub async fn create(app: &App, request_id: &RequestId, request: Request) -> Response {
    let answer = match admit(app, request.headers(), None).await {
        Ok(caller) => {
            let (parts, body) = request.into_parts();
            let handled = write(app, &caller, request_id, None, &parts.headers, &parts.uri, body).await;
            Answer::from(caller, handled)
        }
        Err(refused) => refused,
    };
    answer.respond()
}

pub async fn update(app: &App, customer_id: String, request_id: &RequestId, request: Request) -> Response {
    let answer = match admit(app, request.headers(), None).await {
        Ok(caller) => {
            let (parts, body) = request.into_parts();
            let handled = write(
                app,
                &caller,
                request_id,
                Some(&customer_id),
                &parts.headers,
                &parts.uri,
                body,
            )
            .await;
            Answer::from(caller, handled)
        }
        Err(refused) => refused,
    };
    answer.respond()
}

/// GET: headers → parameters → the customer, in scope → request id → 200
/// (or 304 for a matching `If-None-Match`).
async fn read(
    app: &App,
    caller: &Caller,
    request_id: &RequestId,
    customer_id: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Handled {
    let mut version = None;
    let result = async {
        version = headers::check(headers, request_id, Expected::None)?;
        headers::correlation_id(headers)?;
        no_parameters(uri)?;
        // The record's body and ETag, built straight from the catalog's copy.
        let (tag, body) = app
            .catalog
            .read_customer(customer_id, |customer| {
                caller
                    .client
                    .scope
                    .contains(customer.reseller_id)
                    .then(|| (customer.tag, with_links(customer.document, customer_id)))
            })
            .flatten()
            .ok_or(ApiError::UnknownCustomer)?;
        spend(app, caller, request_id).await?;
        let etag = HeaderValue::try_from(etag(tag)).expect("hex");
        if let Some(tags) = headers.get(header::IF_NONE_MATCH)
            && matches_any(tags, etag.to_str().expect("ASCII"), false)
        {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(header::ETAG, etag);
            return Ok(response);
        }
        let mut response = (json_headers(), body).into_response();
        response.headers_mut().insert(header::ETAG, etag);
        Ok(response)
    }
    .await;
    (result, version)
}

/// POST (`target` None) and PATCH: see the module's order of checks.
async fn write(
    app: &App,
    caller: &Caller,
    request_id: &RequestId,
    target: Option<&str>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Handled {
    let mut version = None;
    let result = async {
        version = headers::check(
            headers,
            request_id,
            if target.is_some() {
                Expected::MergePatch
            } else {
                Expected::Json
            },
        )?;
        let correlation_id = headers::correlation_id(headers)?;
        no_parameters(uri)?;
        let body = to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge {
                max_bytes: MAX_BODY_BYTES,
            })?;
        let method = if target.is_some() { "PATCH" } else { "POST" };
        let (correlation, _in_flight) = match correlation_id {
            None => (None, None),
            Some(id) => match correlated(app, caller, id, fingerprint(method, uri.path(), &body)).await? {
                Correlated::Replay(reply) => return Ok(replied(&reply)),
                Correlated::Fresh(correlation, in_flight) => (Some(correlation), Some(in_flight)),
            },
        };
        let decided = match target {
            None => prepare_create(app, caller, &body).await,
            Some(customer_id) => prepare_update(app, caller, customer_id, headers, &body),
        };
        let write = match decided {
            Ok(write) => write,
            Err(error) => return Err(refuse(app, correlation.as_ref(), error).await),
        };
        if let Err(error) = spend(app, caller, request_id).await {
            return Err(refuse(app, correlation.as_ref(), error).await);
        }
        let Prepared { target, decide, early } = write;
        if let (Some(reply), None) = (&early, &correlation) {
            // Nothing to write, nothing to remember.
            return Ok(replied(reply));
        }
        let outcome = app
            .writer
            .submit(CustomerWrite {
                target,
                correlation: correlation.clone(),
                decide,
                abandoned: Abandoned::default(),
            })
            .await?;
        match outcome {
            WriteOutcome::Written { reply, .. } | WriteOutcome::Answered(reply) => Ok(replied(&reply)),
            WriteOutcome::Duplicate => {
                // Another server answered this correlation id first.
                let correlation = correlation.expect("only a correlated write can be a duplicate");
                match app
                    .store
                    .remembered(&correlation.client_id, &correlation.correlation_id)
                    .await?
                {
                    Some(remembered) if remembered.fingerprint == correlation.fingerprint => {
                        Ok(replied(&remembered.reply))
                    }
                    _ => Err(ApiError::CorrelationInvalid(REUSED)),
                }
            }
        }
    }
    .await;
    (result, version)
}

/// A write ready to go: its target, how it decides, and (for a PATCH that
/// changes nothing) the answer already known.
struct Prepared {
    target: Target,
    decide: Box<dyn Fn(&Seen<'_>) -> Decision + Send + Sync>,
    early: Option<Reply>,
}

/// A POST's body and target: the problems of §6 in order, then scope (4121),
/// a known reseller (1115) and duplicates (1127).
async fn prepare_create(app: &App, caller: &Caller, body: &[u8]) -> Result<Prepared> {
    let new = NewCustomer::parse(body)?;
    if !caller.client.scope.contains(new.reseller_id()) {
        return Err(ApiError::ResellerForbidden);
    }
    if !app
        .catalog
        .reseller_known(new.reseller_id(), &caller.client.scope)
        .await?
    {
        return Err(ApiError::UnknownReseller);
    }
    let namesakes: Vec<CustomerRecord> = app
        .catalog
        .namesakes(new.reseller_id(), &new.name_key())
        .into_iter()
        .map(|found| found.record)
        .collect();
    if duplicates(&new, &namesakes) {
        return Err(ApiError::AlreadyExists);
    }
    let target = Target::New {
        reseller_id: new.reseller_id().to_owned(),
        name_key: new.name_key(),
    };
    Ok(Prepared {
        target,
        decide: Box::new(move |seen| decide_create(&new, seen)),
        early: None,
    })
}

/// Whether a customer of the reseller has the same folded name and first
/// contact email (SPEC §6; emails compared without ASCII case).
fn duplicates(new: &NewCustomer, namesakes: &[CustomerRecord]) -> bool {
    let email = new.first_email();
    namesakes
        .iter()
        .any(|record| first_email_of(record).is_some_and(|other| other == email))
}

fn decide_create(new: &NewCustomer, seen: &Seen<'_>) -> Decision {
    if duplicates(new, seen.namesakes) {
        return Decision::Answer(ApiError::AlreadyExists.reply());
    }
    let record = new.record(seen.new_id.expect("a new customer gets an id"), seen.now);
    let mut reply = record_reply(StatusCode::CREATED, &record, tag_of(record.doc.as_bytes()));
    reply
        .headers
        .push(("location".into(), customer_uri(&record.customer_id)));
    Decision::Write { record, reply }
}

/// A PATCH's body and target: bad fields (1121, 1117), then the customer
/// (1116), `If-Match` (412), its status (1125), non-editable fields (1119).
fn prepare_update(app: &App, caller: &Caller, customer_id: &str, headers: &HeaderMap, body: &[u8]) -> Result<Prepared> {
    let patch = Patch::parse(body)?;
    let if_match = headers.get(header::IF_MATCH).cloned();
    let scope = caller.client.scope.clone();
    let current = app.catalog.customer(customer_id).map(|found| found.record);
    let early = match judge_update(&patch, if_match.as_ref(), &scope, current.as_ref()) {
        Verdict::Refused(error) => return Err(error),
        Verdict::Unchanged(reply) => Some(reply),
        Verdict::Changed { .. } => None,
    };
    let decide = move |seen: &Seen<'_>| match judge_update(&patch, if_match.as_ref(), &scope, seen.current) {
        Verdict::Refused(error) => Decision::Answer(error.reply()),
        Verdict::Unchanged(reply) => Decision::Answer(reply),
        Verdict::Changed { record, reply } => Decision::Write { record, reply },
    };
    Ok(Prepared {
        target: Target::Existing {
            customer_id: customer_id.to_owned(),
        },
        decide: Box::new(decide),
        early,
    })
}

/// What a PATCH comes to for the customer as it is (`current`).
enum Verdict {
    Refused(ApiError),
    /// It changes nothing: the customer as it is.
    Unchanged(Reply),
    Changed {
        record: CustomerRecord,
        reply: Reply,
    },
}

fn judge_update(
    patch: &Patch,
    if_match: Option<&HeaderValue>,
    scope: &ResellerScope,
    current: Option<&CustomerRecord>,
) -> Verdict {
    let Some(current) = current.filter(|current| scope.contains(&current.reseller_id)) else {
        return Verdict::Refused(ApiError::UnknownCustomer);
    };
    let tag = tag_of(current.doc.as_bytes());
    if let Some(tags) = if_match
        && !matches_any(tags, &etag(tag), true)
    {
        return Verdict::Refused(ApiError::PreconditionFailed);
    }
    let blocked = [Status::parse("1002"), Status::parse("1012")];
    if blocked.contains(&Some(current.status)) {
        return Verdict::Refused(ApiError::UpdateBlocked);
    }
    match patch.apply(current) {
        Err(problem) => Verdict::Refused(problem.into()),
        Ok(None) => Verdict::Unchanged(record_reply(StatusCode::OK, current, tag)),
        Ok(Some(record)) => {
            let reply = record_reply(StatusCode::OK, &record, tag_of(record.doc.as_bytes()));
            Verdict::Changed { record, reply }
        }
    }
}

/// What the correlation id says about this request.
enum Correlated {
    /// It was answered before: the same answer again.
    Replay(Reply),
    /// New: this request's answer will be remembered under it.
    Fresh(Correlation, InFlight),
}

/// SPEC §7: a request with this correlation id in flight on this server is
/// 4122 (4119 if it is another request); one answered before is replayed
/// (4119 if it was another request).
async fn correlated(app: &App, caller: &Caller, correlation_id: &str, fingerprint: Vec<u8>) -> Result<Correlated> {
    let client_id = &caller.client.client_id;
    let in_flight = match app.writer.begin(client_id, correlation_id, &fingerprint) {
        Ok(in_flight) => in_flight,
        Err(running) if running == fingerprint => return Err(ApiError::CorrelationInFlight),
        Err(_) => return Err(ApiError::CorrelationInvalid(REUSED)),
    };
    let now = crate::auth::unix_now() as i64;
    let fresh_since = now.saturating_sub(app.correlation_window.as_secs() as i64);
    if let Some(remembered) = app.store.remembered(client_id, correlation_id).await?
        && remembered.created_at >= fresh_since
    {
        return if remembered.fingerprint == fingerprint {
            Ok(Correlated::Replay(remembered.reply))
        } else {
            Err(ApiError::CorrelationInvalid(REUSED))
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
    let Some(correlation) = correlation else {
        return error;
    };
    if !error.parts().0.is_client_error() {
        return error;
    }
    let reply = error.reply();
    let remembered = app
        .writer
        .submit(CustomerWrite {
            target: Target::Nothing,
            correlation: Some(correlation.clone()),
            decide: Box::new(move |_| Decision::Answer(reply.clone())),
            abandoned: Abandoned::default(),
        })
        .await;
    match remembered {
        Err(cause) => ApiError::Internal(cause.context("remembering an answer")),
        Ok(_) => error,
    }
}

/// Spends the request's own X-Request-Id for this client (SPEC §2, 4120).
async fn spend(app: &App, caller: &Caller, request_id: &RequestId) -> Result<()> {
    if let Some(id) = request_id.supplied()
        && !app.replay.first_use(&caller.client.client_id, id).await?
    {
        return Err(ApiError::DuplicateRequestId);
    }
    Ok(())
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
        Err(ApiError::InvalidParameters(problems))
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

/// A strong ETag for a document's tag.
fn etag(tag: u64) -> String {
    // By hand rather than `format!("\"{tag:016x}\"")`, which GET of one
    // customer paid on every request (about 1 % of its CPU).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(18);
    text.push('"');
    for nibble in (0..16).rev() {
        text.push(char::from(HEX[(tag >> (nibble * 4)) as usize & 15]));
    }
    text.push('"');
    text
}

/// Whether an `If-Match` (strong comparison) or `If-None-Match` (weak)
/// header lists `etag`, or is `*` (RFC 9110 §13.1).
fn matches_any(header: &HeaderValue, etag: &str, strong: bool) -> bool {
    let Ok(header) = header.to_str() else {
        return false;
    };
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*"
            || match candidate.strip_prefix("W/") {
                Some(weak) => !strong && weak == etag,
                None => candidate == etag,
            }
    })
}

/// A stored document with `links` as its last member (SPEC §6).
fn with_links(document: &[u8], customer_id: &str) -> Vec<u8> {
    let links = links_member(customer_id);
    let mut body = Vec::with_capacity(document.len() + links.len() + 1);
    body.extend_from_slice(&document[..document.len() - 1]);
    body.push(b',');
    body.extend_from_slice(links.as_bytes());
    body.push(b'}');
    body
}

/// A customer as §6 answers with it: its record and `links`, with its ETag.
fn record_reply(status: StatusCode, record: &CustomerRecord, tag: u64) -> Reply {
    Reply {
        status: status.as_u16(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("etag".into(), etag(tag)),
        ],
        body: with_links(record.doc.as_bytes(), &record.customer_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tags_compare_as_rfc_9110_says() {
        assert_eq!(etag(u64::MAX - 0x0f), "\"fffffffffffffff0\"");
        assert_eq!(etag(0x0123_4567_89ab_cdef), "\"0123456789abcdef\"");
        let etag = etag(0xabc);
        assert_eq!(etag, "\"0000000000000abc\"");
        let header = |v: &'static str| HeaderValue::from_static(v);
        assert!(matches_any(&header("\"0000000000000abc\""), &etag, true));
        assert!(matches_any(&header("\"x\", \"0000000000000abc\""), &etag, true));
        assert!(matches_any(&header("*"), &etag, true));
        assert!(
            !matches_any(&header("W/\"0000000000000abc\""), &etag, true),
            "If-Match is strong"
        );
        assert!(
            matches_any(&header("W/\"0000000000000abc\""), &etag, false),
            "If-None-Match is weak"
        );
        assert!(!matches_any(&header("\"0000000000000abd\""), &etag, false));
    }
}
