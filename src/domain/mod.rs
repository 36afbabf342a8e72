//! The domain: validated values that the HTTP layer parses into and the
//! catalog and the store work from. Nothing here knows about HTTP or SQL.

pub mod client;
pub mod customer;
pub mod form;
pub mod formats;
pub mod intent;
pub mod pattern;
pub mod query;
pub mod refusal;
pub mod scope;
pub mod status;
pub mod version;
pub mod write;

pub use client::ClientRecord;
pub use customer::{CustomerRecord, RecordError};
pub use pattern::{NamePattern, PatternShape, fold};
pub use query::{CreatedRange, Limit, ListQuery, SortKey, SortOrder};
pub use scope::ResellerScope;
pub use status::{Status, StatusSet};
pub use version::ApiVersion;
