//! The `roster` command line (SPEC §5): clap definitions, and what each
//! command does with them. Commands print JSON on stdout; logs and errors
//! go to stderr.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::app::{AppConfig, HttpLimits};
use crate::auth::clients::{ClientSettings, create_client, issue_token, rotate_secret};
use crate::auth::logins::LoginPolicy;
use crate::catalog::{Backing, CatalogOptions};
use crate::demo::{self, DemoOptions};
use crate::domain::{ApiVersion, ClientRecord, ResellerScope};
use crate::generate::{self, Plan};
use crate::logs::LogFormat;
use crate::serve::{self, ServeOptions};
use crate::store::{ClientChange, Retention};
use crate::{import, store};

/// Roster serves a software marketplace's partner API for customer
/// accounts: a reseller's customers listed, filtered and counted exactly,
/// and one customer read, created or updated, idempotently.
#[derive(Debug, Parser)]
#[command(name = "roster", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (migrations run at start).
    Serve(ServeArgs),
    /// Load customers from an NDJSON file or a JSON array: all or nothing.
    Import(ImportArgs),
    /// Manage partner clients (API keys, secrets, scopes).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Issue access tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Try Roster in one step: demo data, a client, a token, and the server.
    Demo(DemoArgs),
    /// Write realistic synthetic customers as NDJSON to stdout.
    Generate(GenerateArgs),
}

impl Command {
    /// Whether the command runs a server (`serve`, `demo`) rather than
    /// doing one thing and exiting.
    pub fn serves(&self) -> bool {
        matches!(self, Command::Serve(_) | Command::Demo(_))
    }
}

#[derive(Debug, Args)]
pub struct DatabaseArg {
    /// Database URL: sqlite://PATH (embedded) or postgres://USER@HOST/DB.
    #[arg(long, env = "ROSTER_DATABASE", default_value = "sqlite://roster.db")]
    pub database: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArg,
    /// Address to listen on.
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Address of a second listener serving Prometheus metrics at
    /// /metrics (SPEC §9); without it no metrics are recorded.
    #[arg(long, env = "ROSTER_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    #[command(flatten)]
    pub tuning: ServerTuning,
}

/// The server's limits; shared by `serve` and `demo`.
#[derive(Debug, Args)]
pub struct ServerTuning {
    /// Requests per second allowed to a client without a limit of its own
    /// (bursts of twice that); 0 disables rate limiting.
    #[arg(long, env = "ROSTER_RATE_LIMIT", default_value_t = 50)]
    pub rate_limit: u32,
    /// Seconds during which a client may not reuse an X-Request-Id.
    #[arg(long, env = "ROSTER_REQUEST_ID_WINDOW", default_value_t = 86_400)]
    pub request_id_window: u64,
    /// Most request ids remembered at once; past it the oldest are forgotten
    /// first (docs/OPERATIONS.md gives their memory).
    #[arg(long, env = "ROSTER_REQUEST_ID_CAPACITY", default_value_t = 1_000_000)]
    pub request_id_capacity: usize,
    /// Seconds during which a write sent with an X-Correlation-Id is
    /// answered again, unchanged, when the same request comes again.
    #[arg(long, env = "ROSTER_CORRELATION_WINDOW", default_value_t = 864_000)]
    pub correlation_window: u64,
    /// Most answers remembered for correlation ids (the oldest are
    /// forgotten first past it; about 1.1 KB each, in the database).
    #[arg(long, env = "ROSTER_CORRELATION_CAPACITY", default_value_t = 1_000_000)]
    pub correlation_capacity: u64,
    /// Redis URL (redis://HOST:PORT) to share rate limits and request ids
    /// between instances; without it they live in this process.
    #[arg(long, env = "ROSTER_REDIS")]
    pub redis: Option<String>,
    /// Seconds a request may take before it is answered 500.
    #[arg(long, env = "ROSTER_REQUEST_TIMEOUT", default_value_t = 10)]
    pub request_timeout: u64,
    /// Longest accepted request URI (path and query), in bytes.
    #[arg(long, env = "ROSTER_MAX_URI_BYTES", default_value_t = 8192)]
    pub max_uri_bytes: usize,
    /// Largest accepted request header section, in bytes.
    #[arg(long, env = "ROSTER_MAX_HEADER_BYTES", default_value_t = 16_384)]
    pub max_header_bytes: usize,
    /// Requests worked on at once; more wait for their turn.
    #[arg(long, env = "ROSTER_MAX_IN_FLIGHT", default_value_t = 512)]
    pub max_in_flight: usize,
    /// Open connections at once; when all are taken, idle ones are closed
    /// to make room, and more wait to be accepted.
    #[arg(long, env = "ROSTER_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers once it has begun,
    /// and a new connection to begin one (slow clients are disconnected).
    #[arg(long, env = "ROSTER_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Seconds a keep-alive connection may wait for its next request before
    /// it is closed; keep it above a load balancer's idle timeout.
    #[arg(long, env = "ROSTER_IDLE_TIMEOUT", default_value_t = 75)]
    pub idle_timeout: u64,
    /// Seconds requests in flight get to finish on SIGINT/SIGTERM.
    #[arg(long, env = "ROSTER_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,
    /// Token requests waiting for a secret check (one runs per core at
    /// a time); past it they are refused at once with 429.
    #[arg(long, env = "ROSTER_LOGIN_QUEUE", default_value_t = 64)]
    pub login_queue: usize,
    /// Seconds over which failed logins are counted.
    #[arg(long, env = "ROSTER_LOGIN_WINDOW", default_value_t = 60)]
    pub login_window: u64,
    /// Failed logins of one client id from one address, in the window,
    /// after which that address is refused (429) for that client id.
    #[arg(long, env = "ROSTER_LOGIN_PAIR_FAILURES", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_pair_failures: u32,
    /// Client ids one address may fail to log in as, in the window, before
    /// it is refused for every client id.
    #[arg(long, env = "ROSTER_LOGIN_ADDRESS_CLIENTS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_address_clients: u32,
    /// Failed logins of one client id from every address, in the window,
    /// after which addresses that failed for it are refused at once.
    #[arg(long, env = "ROSTER_LOGIN_CLIENT_FAILURES", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_client_failures: u32,
    /// Where the server keeps its copy of the customer records: files
    /// (unlinked, mapped; the default) or memory (their size in RAM).
    #[arg(long, env = "ROSTER_DOCUMENTS", value_enum, default_value_t = DocumentStorage::Files)]
    pub documents: DocumentStorage,
    /// The directory for those files: by default the SQLite database's
    /// directory, or the system's temporary directory with PostgreSQL.
    #[arg(long, env = "ROSTER_DOCUMENTS_DIR")]
    pub documents_dir: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, env = "ROSTER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `--documents`: where the catalog's record copy lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DocumentStorage {
    Files,
    Memory,
}

impl ServerTuning {
    pub fn app_config(&self) -> Result<AppConfig> {
        Ok(AppConfig {
            rate_limit: self.rate_limit,
            request_id_window: Duration::from_secs(self.request_id_window),
            request_id_capacity: self.request_id_capacity,
            client_cache_ttl: crate::auth::CLIENT_CACHE_TTL,
            redis: self.redis.clone(),
            limits: HttpLimits {
                request_timeout: Duration::from_secs(self.request_timeout.max(1)),
                max_uri_bytes: self.max_uri_bytes,
                max_header_bytes: self.max_header_bytes,
                max_in_flight: self.max_in_flight,
                max_connections: self.max_connections,
                header_read_timeout: Duration::from_secs(self.header_read_timeout.max(1)),
                idle_timeout: Duration::from_secs(self.idle_timeout.max(1)),
                shutdown_grace: Duration::from_secs(self.shutdown_grace),
                ..HttpLimits::default()
            },
            catalog: CatalogOptions {
                documents: match self.documents {
                    DocumentStorage::Memory => Some(Backing::Memory),
                    DocumentStorage::Files => self.documents_dir.clone().map(Backing::Files),
                },
                ..CatalogOptions::default()
            },
            correlations: Retention {
                window: Duration::from_secs(self.correlation_window),
                capacity: self.correlation_capacity,
            },
            logins: LoginPolicy {
                queue: self.login_queue,
                window: Duration::from_secs(self.login_window.max(1)),
                pair_failures: self.login_pair_failures as usize,
                address_clients: self.login_address_clients as usize,
                client_failures: self.login_client_failures as usize,
                ..LoginPolicy::default()
            },
            ..AppConfig::default()
        })
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub database: DatabaseArg,
    /// NDJSON (one customer per line) or a JSON array of customers; `-` reads stdin.
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Create a client; prints its id (the API key) and its secret, once.
    Create {
        /// A name for the integration.
        #[arg(long)]
        name: String,
        /// Reseller ids it may read, comma separated, or '*' for all.
        #[arg(long)]
        resellers: String,
        /// Its own requests-per-second limit (0: unlimited); without it the
        /// server's --rate-limit applies.
        #[arg(long, value_parser = rate_limit_value())]
        rate_limit: Option<u32>,
        /// The API version its requests get unless they ask for another
        /// with X-Api-Version. 2025-08 (the default, the seed's shape)
        /// lists full records under `customers`; 2025-11 lists summaries
        /// under `accounts`, which integrations written against the
        /// family's current documentation read: choose it for them.
        #[arg(long, value_parser = api_version_value(), default_value = "2025-08")]
        api_version: ApiVersion,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Change a client's API version, rate limit or resellers; prints the
    /// client as `clients list` does. Running servers apply it within
    /// seconds.
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true)))]
    Update {
        /// The client id.
        id: String,
        /// The API version its requests get by default.
        #[arg(long, value_parser = api_version_value(), group = "change")]
        api_version: Option<ApiVersion>,
        /// Its own requests-per-second limit (0: unlimited).
        #[arg(long, value_parser = rate_limit_value(), group = "change")]
        rate_limit: Option<u32>,
        /// Reseller ids it may read, comma separated, or '*' for all.
        #[arg(long, group = "change")]
        resellers: Option<String>,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List clients (never their secrets).
    List {
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Disable a client; its tokens stop working within seconds.
    Disable {
        /// The client id.
        id: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Enable a disabled client again; it logs in for new tokens (those it
    /// had stay revoked).
    Enable {
        /// The client id.
        id: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Give a client a new secret; its tokens stop working within seconds.
    RotateSecret {
        /// The client id.
        id: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

/// `--rate-limit` of a client: what the databases can store.
fn rate_limit_value() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(0..=i64::from(i32::MAX))
}

/// `--api-version`: one of SPEC §7's versions.
fn api_version_value() -> impl clap::builder::TypedValueParser<Value = ApiVersion> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(ApiVersion::ALL.map(ApiVersion::as_str))
        .map(|text: String| ApiVersion::parse(&text).expect("a possible value"))
}

/// A client as `clients list` and `clients update` print it.
fn client_json(client: &ClientRecord) -> Value {
    json!({
        "clientId": client.client_id,
        "name": client.name,
        "resellers": client.scope.to_list(),
        "rateLimit": client.rate_limit,
        "enabled": client.enabled,
        "apiVersion": client.api_version.as_str(),
    })
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Issue an access token to a client without its secret.
    Issue {
        #[arg(long)]
        client_id: String,
        /// Lifetime in seconds (default 24 h, at most 366 days).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=31_622_400))]
        expires_in: Option<u64>,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Customers to generate when the demo database is new.
    #[arg(long, default_value_t = 10_000)]
    pub customers: u64,
    /// Address to listen on.
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Database URL (a separate demo file by default, so real data stays untouched).
    #[arg(long, env = "ROSTER_DATABASE", default_value = "sqlite://roster-demo.db")]
    pub database: String,
    #[command(flatten)]
    pub tuning: ServerTuning,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many customers.
    #[arg(long)]
    pub customers: u64,
    /// Over how many resellers (sizes are skewed: a few large, many small).
    #[arg(long, default_value_t = 20)]
    pub resellers: u32,
    /// Random seed: the same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Accepted like every command's, and unused: generate only writes to stdout.
    #[command(flatten)]
    pub database: DatabaseArg,
}

/// Runs the command; `Err` ends the process with a message and exit code 1.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => {
            serve::run(ServeOptions {
                database: args.database.database,
                listen: args.listen,
                metrics_listen: args.metrics_listen,
                config: args.tuning.app_config()?,
            })
            .await
        }
        Command::Import(args) => {
            let store = store::open(&args.database.database).await?;
            let outcome = import::import_file(store.as_ref(), args.file).await?;
            print_json(&json!({"records": outcome.records, "created": outcome.created, "updated": outcome.updated}));
            Ok(())
        }
        Command::Clients(command) => clients(command).await,
        Command::Tokens(TokensCommand::Issue {
            client_id,
            expires_in,
            database,
        }) => {
            let store = store::open(&database.database).await?;
            let token = issue_token(store.as_ref(), &client_id, expires_in).await?;
            print_json(&json!({
                "access_token": token.access_token,
                "token_type": "bearer",
                "expires_in": token.expires_in,
            }));
            Ok(())
        }
        Command::Demo(args) => {
            demo::run(DemoOptions {
                customers: args.customers,
                listen: args.listen,
                database: args.database,
                config: args.tuning.app_config()?,
            })
            .await
        }
        Command::Generate(args) => {
            let plan = Plan {
                customers: args.customers,
                resellers: args.resellers.max(1),
                seed: args.seed,
            };
            match generate::write_ndjson(plan, std::io::stdout().lock()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.context("writing customers"),
            }
        }
    }
}

async fn clients(command: ClientsCommand) -> Result<()> {
    match command {
        ClientsCommand::Create {
            name,
            resellers,
            rate_limit,
            api_version,
            database,
        } => {
            let scope = ResellerScope::parse(&resellers).map_err(|e| anyhow::anyhow!("--resellers: {e}"))?;
            let store = store::open(&database.database).await?;
            let settings = ClientSettings {
                scope,
                rate_limit,
                api_version,
            };
            let created = create_client(store.as_ref(), &name, settings).await?;
            print_json(&json!({
                "clientId": created.client.client_id,
                "clientSecret": created.secret,
                "resellers": created.client.scope.to_list(),
            }));
        }
        ClientsCommand::List { database } => {
            let store = store::open(&database.database).await?;
            let clients: Vec<Value> = store.clients().await?.iter().map(client_json).collect();
            print_json(&Value::Array(clients));
        }
        ClientsCommand::Update {
            id,
            api_version,
            rate_limit,
            resellers,
            database,
        } => {
            let scope = resellers
                .map(|resellers| ResellerScope::parse(&resellers).map_err(|e| anyhow::anyhow!("--resellers: {e}")))
                .transpose()?;
            let store = store::open(&database.database).await?;
            let change = ClientChange {
                api_version,
                rate_limit,
                scope,
            };
            let Some(client) = store.update_client(&id, &change).await? else {
                bail!("no client with id {id}");
            };
            print_json(&client_json(&client));
        }
        ClientsCommand::Disable { id, database } => set_enabled(&id, &database, false).await?,
        ClientsCommand::Enable { id, database } => set_enabled(&id, &database, true).await?,
        ClientsCommand::RotateSecret { id, database } => {
            let store = store::open(&database.database).await?;
            let secret = rotate_secret(store.as_ref(), &id).await?;
            print_json(&json!({"clientId": id, "clientSecret": secret}));
        }
    }
    Ok(())
}

/// `clients disable` and `clients enable`: prints `{"clientId": …, "enabled": …}`.
async fn set_enabled(id: &str, database: &DatabaseArg, enabled: bool) -> Result<()> {
    let store = store::open(&database.database).await?;
    if !store.set_client_enabled(id, enabled).await? {
        bail!("no client with id {id}");
    }
    print_json(&json!({"clientId": id, "enabled": enabled}));
    Ok(())
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialise")
    );
}

/// Logs go to stderr (buffered, see [`crate::logs`]): `info` for the server
/// commands, `warn` for the others, unless `ROSTER_LOG` (an `EnvFilter`
/// directive such as `debug`) says otherwise.
pub fn init_logging(cli: &Cli) {
    let (format, default_level) = match &cli.command {
        Command::Serve(args) => (args.tuning.log_format, "info"),
        Command::Demo(args) => (args.tuning.log_format, "info"),
        _ => (LogFormat::Text, "warn"),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROSTER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(crate::logs::BufferedStderr::global().clone());
    crate::logs::set_access_format(format);
    match format {
        LogFormat::Json => logs.json().flatten_event(true).init(),
        LogFormat::Text => logs.init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
