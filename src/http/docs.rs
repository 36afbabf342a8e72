//! `GET /docs` (SPEC §9): the API reference as a page to read, rendered on
//! the server from the OpenAPI document (`openapi.rs`) — every operation
//! with its parameters, body fields, responses and a curl line, and the
//! error code table. Entirely offline: no script at all, styles inline, and
//! a Content-Security-Policy that forbids loading anything.

use std::fmt::Write;
use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde_json::Value;

use super::openapi;
use crate::domain::refusal::Code;

pub const ROUTE: &str = openapi::DOCS_ROUTE;

pub fn serve() -> Response {
    static PAGE: OnceLock<String> = OnceLock::new();
    let page = PAGE.get_or_init(|| render(openapi::document()));
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
        ),
    ];
    (headers, page.as_str()).into_response()
}

const STYLE: &str = "
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2430;background:#fbfbfd}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:28px;margin:8px 0}h2{font-size:20px;margin:0 0 6px}h3{font-size:15px;margin:16px 0 4px}
nav ul{columns:2;padding-left:18px}
section.op{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:16px 20px;margin:18px 0}
.method{display:inline-block;min-width:58px;text-align:center;border-radius:4px;color:#fff;
 font:bold 12px/22px monospace;margin-right:8px;text-transform:uppercase}
.get{background:#2f7d32}.post{background:#1f5fbf}.patch{background:#a05a00}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{border-bottom:1px solid #e6e9ef;text-align:left;padding:4px 8px;vertical-align:top}
th{font-weight:600;background:#f3f5f8}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#0f1722;color:#e7edf5;padding:10px 12px;border-radius:6px;overflow-x:auto;white-space:pre-wrap}
.muted{color:#5b6575}
";

/// Text with `&`, `<`, `>` and `"` escaped; `` `code` `` spans become
/// `<code>`.
fn text(out: &mut String, raw: &str) {
    let mut in_code = false;
    for c in raw.chars() {
        match c {
            '`' => {
                out.push_str(if in_code { "</code>" } else { "<code>" });
                in_code = !in_code;
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    if in_code {
        out.push_str("</code>");
    }
}

fn escaped(raw: &str) -> String {
    let mut out = String::new();
    text(&mut out, &raw.replace('`', "'"));
    out
}

/// A schema in a few words: `string (≤ 250)`, `integer 1–50`, `one of …`.
fn summary(schema: &Value) -> String {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.rsplit('/').next().unwrap_or(target);
        return name.to_owned();
    }
    if let Some(any) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
        return any.iter().map(summary).collect::<Vec<_>>().join(" or ");
    }
    let mut words = match &schema["type"] {
        Value::String(kind) => kind.clone(),
        _ => "any".to_owned(),
    };
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .map(|v| match v.as_str() {
                Some("") => "\"\"".to_owned(),
                Some(v) => v.to_owned(),
                None => v.to_string(),
            })
            .collect();
        words = format!("one of {}", values.join(", "));
    }
    if schema["type"] == "array" {
        words = format!("array of {}", summary(&schema["items"]));
    }
    match (schema["minimum"].as_i64(), schema["maximum"].as_i64()) {
        (Some(min), Some(max)) => write!(words, " {min}–{max}").unwrap(),
        (Some(min), None) => write!(words, " ≥ {min}").unwrap(),
        _ => {}
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        write!(words, " (≤ {max} characters)").unwrap();
    }
    if let Some(default) = schema.get("default") {
        write!(
            words,
            ", default {}",
            default.as_str().map_or(default.to_string(), str::to_owned)
        )
        .unwrap();
    }
    words
}

fn schema_named<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(target) => &document["components"]["schemas"][target.rsplit('/').next().unwrap_or_default()],
        None => schema,
    }
}

/// An example of the operation as a curl line.
fn curl(method: &str, path: &str, operation: &Value) -> String {
    let path = path
        .replace("{reseller_id}", "2000000000")
        .replace("{customer_id}", "1000000001");
    let api = "\\\n  -H \"Authorization: Bearer $TOKEN\" -H \"X-Api-Key: $CLIENT_ID\"";
    match operation["operationId"].as_str().unwrap_or_default() {
        "listCustomers" => {
            format!("curl -s \"$ROSTER{path}?status=1000&name=north*&sort-by=companyName&limit=5\" {api}")
        }
        "createCustomer" => format!(
            "curl -s -X POST \"$ROSTER{path}\" {api} \\\n  -H 'Content-Type: application/json' \
             -H 'X-Correlation-Id: order-4711' \\\n  -d '{{\"resellerId\": \"2000000000\", \"companyProfile\": \
             {{\"companyName\": \"Newcomer Ltd\", \"address\": {{\"country\": \"GB\", \"region\": \"LND\", \
             \"city\": \"London\", \"addressLine1\": \"1 Example Street\", \"postalCode\": \"EC1A 1AA\"}}, \
             \"contacts\": [{{\"firstName\": \"Ada\", \"lastName\": \"Lovelace\", \"email\": \"ada@newcomer.example\"}}]}}}}'"
        ),
        "updateCustomer" => format!(
            "curl -s -X PATCH \"$ROSTER{path}\" {api} \\\n  -H 'Content-Type: application/merge-patch+json' \
             -H 'If-Match: \"9f2c41d07a5be813\"' \\\n  -d '{{\"tags\": [\"renewal-q3\"]}}'"
        ),
        "issueToken" => format!(
            "curl -s -X POST \"$ROSTER{path}\" \\\n  -d grant_type=client_credentials -d client_id=$CLIENT_ID \
             -d client_secret=$CLIENT_SECRET"
        ),
        "issueTokenV2" => format!(
            "curl -s -X POST \"$ROSTER{path}?grant_type=client_credentials&client_id=$CLIENT_ID&client_secret=$CLIENT_SECRET\""
        ),
        _ if operation["security"].as_array().is_some_and(|s| !s.is_empty()) && method == "get" => {
            format!("curl -s -i \"$ROSTER{path}\" {api}")
        }
        _ => format!("curl -s \"$ROSTER{path}\""),
    }
}

fn render(document: &Value) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str("<link rel=\"icon\" href=\"data:,\"><title>");
    text(&mut out, document["info"]["title"].as_str().unwrap_or("API"));
    out.push_str(" — API reference</title><style>");
    out.push_str(STYLE);
    out.push_str("</style></head><body><main><h1>");
    text(&mut out, document["info"]["title"].as_str().unwrap_or("API"));
    out.push_str("</h1><p class=\"muted\">Version ");
    text(&mut out, document["info"]["version"].as_str().unwrap_or_default());
    out.push_str(" · the machine-readable document is <a href=\"/openapi.json\">/openapi.json</a></p><p>");
    text(&mut out, document["info"]["description"].as_str().unwrap_or_default());
    out.push_str("</p><h2>Getting started</h2><p>Every API request carries a bearer token and the API key ");
    out.push_str("(client id) it was issued to. The examples use three shell variables:</p><pre>");
    text(
        &mut out,
        "ROSTER=http://127.0.0.1:8080\nCLIENT_ID=…  CLIENT_SECRET=…   # from `roster clients create`\n\
         TOKEN=$(curl -s -X POST \"$ROSTER/ims/token/v3\" -d grant_type=client_credentials \\\n  \
         -d client_id=$CLIENT_ID -d client_secret=$CLIENT_SECRET | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')",
    );
    out.push_str("</pre>");

    let operations: Vec<(&str, &str, &Value)> = document["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .map(move |(method, operation)| (path.as_str(), method.as_str(), operation))
        })
        .collect();
    out.push_str("<nav><h2>Operations</h2><ul>");
    for (path, method, operation) in &operations {
        let id = operation["operationId"].as_str().unwrap_or_default();
        write!(
            out,
            "<li><a href=\"#{id}\">{} <code>{}</code></a> — ",
            method.to_uppercase(),
            escaped(path)
        )
        .unwrap();
        text(&mut out, operation["summary"].as_str().unwrap_or_default());
        out.push_str("</li>");
    }
    out.push_str("<li><a href=\"#errors\">Error codes</a></li></ul></nav>");

    for (path, method, operation) in &operations {
        render_operation(&mut out, document, path, method, operation);
    }

    out.push_str("<section class=\"op\" id=\"errors\"><h2>Error codes</h2><p>Every error has ");
    out.push_str("<code>{\"code\", \"message\", \"additionalDetails\"}</code>; details name each problem.</p>");
    out.push_str("<table><tr><th>HTTP</th><th>code</th><th>message</th></tr>");
    for code in Code::ALL {
        write!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>",
            code.status(),
            code.code()
        )
        .unwrap();
        text(&mut out, code.message());
        out.push_str("</td></tr>");
    }
    out.push_str("</table></section></main></body></html>\n");
    out
}

fn render_operation(out: &mut String, document: &Value, path: &str, method: &str, operation: &Value) {
    let id = operation["operationId"].as_str().unwrap_or_default();
    write!(
        out,
        "<section class=\"op\" id=\"{id}\"><h2><span class=\"method {method}\">{method}</span><code>{}</code></h2><p><strong>",
        escaped(path)
    )
    .unwrap();
    text(out, operation["summary"].as_str().unwrap_or_default());
    out.push_str("</strong>. ");
    text(out, operation["description"].as_str().unwrap_or_default());
    out.push_str("</p>");
    if operation["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("bearerToken").is_some()))
    {
        out.push_str("<p class=\"muted\">Needs <code>Authorization: Bearer …</code> and <code>X-Api-Key</code>.</p>");
    }

    if let Some(parameters) = operation["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>type</th><th>what</th></tr>");
        for parameter in parameters {
            out.push_str("<tr><td><code>");
            text(out, parameter["name"].as_str().unwrap_or_default());
            out.push_str("</code></td><td>");
            text(out, parameter["in"].as_str().unwrap_or_default());
            out.push_str("</td><td>");
            text(out, &summary(&parameter["schema"]));
            out.push_str("</td><td>");
            text(out, parameter["description"].as_str().unwrap_or_default());
            out.push_str("</td></tr>");
        }
        out.push_str("</table>");
    }

    if let Some(content) = operation["requestBody"]["content"].as_object() {
        out.push_str("<h3>Body</h3><p>");
        let media: Vec<&str> = content.keys().map(String::as_str).collect();
        text(out, &format!("`{}`", media.join("` or `")));
        out.push_str("</p>");
        let schema = content.values().next().map(|c| schema_named(document, &c["schema"]));
        if let Some(properties) = schema.and_then(|s| s["properties"].as_object()) {
            let required: Vec<&str> = schema
                .and_then(|s| s["required"].as_array())
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            out.push_str("<table><tr><th>field</th><th>type</th><th>required</th></tr>");
            for (name, field) in properties {
                write!(out, "<tr><td><code>{}</code></td><td>", escaped(name)).unwrap();
                text(out, &summary(field));
                write!(
                    out,
                    "</td><td>{}</td></tr>",
                    if required.contains(&name.as_str()) { "yes" } else { "" }
                )
                .unwrap();
            }
            out.push_str("</table>");
        }
    }

    out.push_str("<h3>Responses</h3><table><tr><th>status</th><th>what</th></tr>");
    for (status, response) in operation["responses"].as_object().into_iter().flatten() {
        write!(out, "<tr><td>{}</td><td>", escaped(status)).unwrap();
        text(out, response["description"].as_str().unwrap_or_default());
        out.push_str("</td></tr>");
    }
    out.push_str("</table><h3>Example</h3><pre>");
    text(out, &curl(method, path, operation).replace('`', "'"));
    out.push_str("</pre></section>");
}
