//! `roster demo` (SPEC §5): a first-time user's one step to a working API —
//! a demo database of realistic customers, a client scoped to every
//! reseller, a token, the server, and curl lines to paste.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::app::{App, AppConfig};
use crate::auth::clients::{ClientSettings, create_client, issue_token};
use crate::catalog::Items;
use crate::domain::{CustomerRecord, ListQuery, ResellerScope};
use crate::generate::{Generator, Plan, reseller_id};
use crate::http::reseller_customers::page_body;
use crate::serve;
use crate::store::{self, Store};

/// The name of the demo's own client, reused on later runs.
const DEMO_CLIENT: &str = "roster-demo";

/// What `roster demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Customers to generate when the demo database is new.
    pub customers: u64,
    pub listen: String,
    pub database: String,
    pub config: AppConfig,
}

pub async fn run(args: DemoOptions) -> Result<()> {
    let config = args.config;
    // The address first: a port in use is said at once, before generating
    // data (a million customers take a while) or creating a database.
    store::DatabaseUrl::parse(&args.database)?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let store = store::open(&args.database).await?;
    let resellers = (args.customers / 1_250).clamp(3, 2_000) as u32;
    if store.generation().await? == 0 {
        eprintln!(
            "Generating {} demo customers over {resellers} resellers…",
            args.customers
        );
        let plan = Plan {
            customers: args.customers,
            resellers,
            seed: 1,
        };
        load(store.as_ref(), plan).await?;
    } else {
        eprintln!("Reusing the demo data already in {}.", store::redacted(&args.database));
    }

    let existing = store
        .clients()
        .await?
        .into_iter()
        .find(|c| c.name == DEMO_CLIENT && c.enabled);
    let client_id = match existing {
        Some(client) => client.client_id,
        None => {
            let settings = ClientSettings {
                scope: ResellerScope::All,
                rate_limit: None,
                api_version: Default::default(),
            };
            create_client(store.as_ref(), DEMO_CLIENT, settings)
                .await?
                .client
                .client_id
        }
    };
    let token = issue_token(store.as_ref(), &client_id, None).await?;

    let app = App::new(store, config).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let size = |rank: u32| app.catalog.reseller_size(&reseller_id(rank));
    let (large, small) = (reseller_id(0), reseller_id(resellers.saturating_sub(1)));
    // The newest active customer of the largest reseller, to read and update.
    let first_page: Value =
        serde_json::from_slice(&page_body(&app.catalog, &large, &ListQuery::default(), Items::Records))?;
    let example = first_page["customers"][0]["customerId"]
        .as_str()
        .unwrap_or("1000000000")
        .to_owned();
    let auth = format!(
        "-H 'Authorization: Bearer {}' \\\n    -H 'X-Api-Key: {client_id}'",
        token.access_token
    );
    let new_customer = json!({
        "resellerId": large,
        "companyProfile": {
            "companyName": "Demo Newcomer Ltd",
            "address": {"country": "GB", "region": "LND", "city": "London", "addressLine1": "1 Example Street",
                        "postalCode": "EC1A 1AA"},
            "contacts": [{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@newcomer.example"}]
        }
    });

    println!(
        "\nRoster demo: {} customers in {}; the server is starting on {base}.\n\
         \n  API key (client id): {client_id}\n  Access token (24 h): {}\n\
         \nThe largest reseller is {large} ({} customers); a small one is {small} ({} customers).\n\
         \nA first page (the default: active customers, newest first, 20 per page):\n\
         \n  curl -s '{base}/v3/resellers/{large}/customers?limit=2' \\\n    {auth}\n\
         \nAPI versions: this client is on 2025-08, the seed's shape (full records under `customers`).\n\
         Integrations written against the family's current documentation read `accounts`: give them a\n\
         client made with `roster clients create --api-version 2025-11`, or send X-Api-Version per request:\n\
         \n  curl -s '{base}/v3/resellers/{large}/customers?limit=2' \\\n    {auth} \\\n    -H 'X-Api-Version: 2025-11'\n\
         \nFilters, sorting and paging together:\n\
         \n  curl -s '{base}/v3/resellers/{large}/customers?status=1000&status=1002&name=north*&sort-by=companyName&order-by=asc&offset=5&limit=5' \\\n    {auth}\n\
         \nOne customer (its ETag, for If-None-Match and If-Match, is in the headers):\n\
         \n  curl -s '{base}/v3/customers/{example}' \\\n    {auth}\n\
         \nUpdate it (a JSON merge patch; the list shows it at once):\n\
         \n  curl -s -X PATCH '{base}/v3/customers/{example}' \\\n    {auth} \\\n    -H 'Content-Type: application/json' \\\n    -d '{{\"tags\":[\"renewal-q3\"]}}'\n\
         \nCreate a customer (again with the same X-Correlation-Id: the same answer, nothing written twice):\n\
         \n  curl -s -X POST '{base}/v3/customers' \\\n    {auth} \\\n    -H 'Content-Type: application/json' \\\n    -H 'X-Correlation-Id: demo-create-1' \\\n    -d '{new_customer}'\n\
         \nPress Ctrl-C to stop.\n",
        app.catalog.customer_count(),
        store::redacted(&args.database),
        token.access_token,
        size(0),
        size(resellers.saturating_sub(1)),
    );
    serve::until_signal(app, listener).await
}

/// Generates `plan`'s customers straight into the store, through the same
/// validation as `roster import`.
async fn load(store: &dyn Store, plan: Plan) -> Result<()> {
    store::import_with(store, move |records| {
        for value in Generator::new(plan) {
            let record =
                CustomerRecord::from_json(value).map_err(|e| anyhow::anyhow!("generated a bad record: {e}"))?;
            if records.send(record).is_err() {
                // The writer failed; its error is the one returned.
                break;
            }
        }
        anyhow::Ok(())
    })
    .await
    .map(|_| ())
    .map_err(|error| match error {
        store::ImportError::Records(error) | store::ImportError::Store(error) => error,
    })
}
