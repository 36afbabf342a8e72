//! The error table of SPEC §3, once: each [`Code`] with its HTTP status, its
//! code and its message, and a [`Refusal`] (a code and the details that name
//! what is wrong) rendered in the API's one error shape.
//!
//! Below `http` on purpose: a write's decision (`intent`) refuses with the
//! same table that the HTTP layer answers from, and the store remembers
//! that answer as data.

use serde_json::json;

use super::write::BodyProblem;

/// Declares [`Code`]: one line per code gives its HTTP status, the code the
/// body carries and its message (after meilisearch's `make_error_codes!`).
macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $code:literal, $message:literal;)*) => {
        /// Every error the API answers with (SPEC §3).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $name,)*
        }

        impl Code {
            /// The whole table, in SPEC §3's order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The HTTP status answered with it.
            pub const fn status(self) -> u16 {
                match self { $(Code::$name => $status,)* }
            }

            /// The body's `code`.
            pub const fn code(self) -> &'static str {
                match self { $(Code::$name => $code,)* }
            }

            /// The body's `message`.
            pub const fn message(self) -> &'static str {
                match self { $(Code::$name => $message,)* }
            }
        }
    };
}

codes! {
    /// Bad headers or body fields; details name each.
    InvalidFields = 400, "1117", "Some Fields are Invalid";
    /// Query-parameter problems, one detail each.
    InvalidParameters = 400, "1132", "Invalid value for search parameter";
    DuplicateRequestId = 400, "4120", "Duplicate request id, same requestId has already been processed";
    /// A PATCH gives a non-editable field another value.
    NotEditable = 400, "1119", "Some fields are not editable";
    /// Unknown or read-only body fields.
    UnexpectedFields = 400, "1121", "Request contains additional unexpected fields";
    /// Required body fields absent.
    MissingFields = 400, "1122", "Request is missing required fields";
    /// A PATCH of a pending or blocked customer.
    UpdateBlocked = 400, "1125", "Account cannot be updated while status is pending or blocked";
    /// A POST duplicating a customer.
    AlreadyExists = 400, "1127", "Account already exists";
    /// A bad X-Correlation-Id, or one reused for another request.
    CorrelationInvalid = 400, "4119", "Correlation ID is Invalid or Missing";
    /// The same X-Correlation-Id is still being processed.
    CorrelationInFlight = 400, "4122", "This request is already being processed. Please wait a moment and try again.";
    TokenMissing = 401, "4117", "Authorization token is missing";
    TokenInvalid = 401, "4116", "Authorization token is invalid";
    ApiKeyInvalid = 403, "4115", "API key is invalid or missing";
    ResellerForbidden = 403, "4121", "You are not allowed to perform that action on this resource";
    UnknownReseller = 404, "1115", "Invalid Reseller";
    /// A customer unknown or outside the client's scope.
    UnknownCustomer = 404, "1116", "Invalid Customer";
    NotFound = 404, "404", "Resource not found";
    MethodNotAllowed = 405, "405", "Method not allowed";
    /// `If-Match` no longer matches.
    PreconditionFailed = 412, "412", "Precondition failed";
    /// A body that did not arrive within the request timeout (a
    /// project-defined code, like 413).
    BodyTimeout = 408, "408", "Request timeout";
    PayloadTooLarge = 413, "413", "Payload too large";
    /// A request body in a content coding (RFC 9110 §8.4), which Roster
    /// does not decode (a project-defined code, like 413).
    EncodingUnsupported = 415, "415", "Unsupported content encoding";
    UriTooLong = 414, "414", "Request URI too long";
    HeadersTooLarge = 431, "431", "Request header fields too large";
    TooManyRequests = 429, "4118", "Too many requests";
    /// Not ready (SPEC §9): the catalog is loading, or a dependency does
    /// not answer (a project-defined code, like 404 and 405).
    Unavailable = 503, "503", "Service unavailable";
    /// Anything unexpected; the partner learns nothing more.
    Internal = 500, "1124", "Internal Server Error. Please try again later";
}

impl Code {
    /// The code whose body carries `code`.
    pub fn of(code: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|known| known.code() == code)
    }
}

/// A request refused: its code and the details that name each problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    pub details: Vec<String>,
}

impl Refusal {
    pub fn new(code: Code, details: Vec<String>) -> Self {
        Refusal { code, details }
    }

    /// `{"code": …, "message": …, "additionalDetails": […]}` (SPEC §3).
    pub fn body(&self) -> Vec<u8> {
        json!({"code": self.code.code(), "message": self.code.message(), "additionalDetails": self.details})
            .to_string()
            .into_bytes()
    }
}

impl From<Code> for Refusal {
    fn from(code: Code) -> Self {
        Refusal::new(code, Vec::new())
    }
}

impl From<BodyProblem> for Refusal {
    fn from(problem: BodyProblem) -> Self {
        let code = match problem {
            BodyProblem::NotObject | BodyProblem::Invalid(_) => Code::InvalidFields,
            BodyProblem::Unexpected(_) => Code::UnexpectedFields,
            BodyProblem::Missing(_) => Code::MissingFields,
            BodyProblem::NotEditable(_) => Code::NotEditable,
        };
        Refusal::new(code, problem.details())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_is_listed_once_and_found_by_its_text() {
        let texts: std::collections::HashSet<&str> = Code::ALL.iter().map(|code| code.code()).collect();
        assert_eq!(texts.len(), Code::ALL.len());
        for &code in Code::ALL {
            assert_eq!(Code::of(code.code()), Some(code));
        }
        assert_eq!(Code::of("9999"), None);
    }

    #[test]
    fn a_refusal_renders_spec_3s_shape() {
        let refusal = Refusal::new(Code::InvalidParameters, vec!["limit: must be between 1 and 50".into()]);
        assert_eq!(
            String::from_utf8(refusal.body()).unwrap(),
            r#"{"code":"1132","message":"Invalid value for search parameter","additionalDetails":["limit: must be between 1 and 50"]}"#
        );
        assert_eq!(
            String::from_utf8(Refusal::from(Code::UnknownCustomer).body()).unwrap(),
            r#"{"code":"1116","message":"Invalid Customer","additionalDetails":[]}"#
        );
    }
}
