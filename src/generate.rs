//! Realistic synthetic customers (`roster generate`, the demo, the
//! benchmarks): deterministic for a seed, resellers of very different sizes.
//!
//! Reseller sizes follow a Zipf–Mandelbrot law, weight 1/(rank + 1.3): with
//! 2,000 resellers and 1,000,000 customers the largest has about 99,000 and
//! a few hundred have 500 or more.

use std::io::Write;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::domain::customer::format_creation_date;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub customers: u64,
    pub resellers: u32,
    pub seed: u64,
}

/// The id of the reseller of size rank `rank` (0 is the largest).
pub fn reseller_id(rank: u32) -> String {
    (2_000_000_000u64 + u64::from(rank) * 7_919).to_string()
}

/// The customers of `plan`, one JSON record at a time.
pub struct Generator {
    plan: Plan,
    rng: ChaCha8Rng,
    /// Cumulative reseller weights, for picking a reseller by size.
    cumulative: Vec<f64>,
    next: u64,
}

impl Generator {
    pub fn new(plan: Plan) -> Self {
        let resellers = plan.resellers.max(1);
        let mut total = 0.0;
        let cumulative = (0..resellers)
            .map(|rank| {
                total += 1.0 / (f64::from(rank) + 1.3);
                total
            })
            .collect();
        Generator {
            plan,
            rng: ChaCha8Rng::seed_from_u64(plan.seed),
            cumulative,
            next: 0,
        }
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.rng.random_range(0..options.len())]
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.rng.random_range(0..100) < percent
    }

    fn reseller(&mut self) -> String {
        let total = *self.cumulative.last().expect("at least one reseller");
        let point = self.rng.random_range(0.0..total);
        let rank = self.cumulative.partition_point(|&c| c <= point);
        reseller_id(rank.min(self.cumulative.len() - 1) as u32)
    }

    fn record(&mut self, index: u64) -> Value {
        let reseller_id = self.reseller();
        let status = {
            let roll = self.rng.random_range(0..100);
            match roll {
                0..80 => "1000",
                80..88 => "1002",
                88..93 => "1004",
                93..96 => "1010",
                96..98 => "1012",
                98..99 => "1014",
                _ => "1026",
            }
        };
        let country = &COUNTRIES[self.rng.random_range(0..COUNTRIES.len())];
        let segment = match self.rng.random_range(0..100) {
            0..85 => "COM",
            85..95 => "EDU",
            _ => "GOV",
        };
        let city = self.pick(country.cities);
        let company_name = match segment {
            "EDU" if self.chance(50) => format!(
                "{city} {}",
                self.pick(&["School District", "Public Schools", "Academy"])
            ),
            "EDU" => format!(
                "{} of {city}",
                self.pick(&["University", "College", "Institute of Technology"])
            ),
            "GOV" => format!(
                "{} of {city}",
                self.pick(&["City", "County", "Department of Transport", "Port Authority"])
            ),
            _ => {
                let suffix = self.pick(country.suffixes);
                format!("{} {} {suffix}", self.pick(NAME_STARTS), self.pick(NAME_CORES))
            }
        };
        let sub_segments: Vec<&str> = match segment {
            "EDU" if company_name.contains("School") || company_name.contains("Academy") => vec!["K_12"],
            "EDU" => vec!["HIGHER_ED"],
            "COM" if self.chance(5) => vec!["NON_PROFIT"],
            _ => vec![],
        };
        let domain: String = company_name
            .split_whitespace()
            .take(2)
            .collect::<String>()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let contacts: Vec<Value> = (0..self.rng.random_range(1..=3))
            .map(|_| {
                let first = self.pick(FIRST_NAMES);
                let last = self.pick(LAST_NAMES);
                let mut contact = json!({
                    "firstName": first,
                    "lastName": last,
                    "email": format!("{}.{}@{domain}.example", ascii_lower(first), ascii_lower(last)),
                });
                if self.chance(50) {
                    contact["phoneNumber"] = self.phone(country).into();
                }
                contact
            })
            .collect();
        // Spread over 2014-01-01 .. 2026-10-31.
        let created = self.rng.random_range(1_388_534_400i64..1_793_404_800);
        let coterm = if self.chance(60) {
            format_creation_date(created + 365 * 86_400 * self.rng.random_range(1..=3))[..10].to_owned()
        } else {
            String::new()
        };
        let mut discounts = Vec::new();
        if self.chance(30) {
            discounts.push(json!({"offerType": "LICENSE", "level": self.pick(&["02", "03", "04", "12", "13", "14"])}));
        }
        if self.chance(10) {
            discounts.push(json!({"offerType": "CONSUMABLES", "level": self.pick(&["T1", "T2", "T3"])}));
        }
        let tags: Vec<&str> = [("strategic", 15), ("renewal-risk", 8), ("multi-year", 10)]
            .into_iter()
            .filter(|(_, p)| self.chance(*p))
            .map(|(t, _)| t)
            .collect();
        let benefits = if self.chance(12) {
            json!([{
                "type": "THREE_YEAR_COMMIT",
                "commitment": {
                    "startDate": &format_creation_date(created)[..10],
                    "endDate": &format_creation_date(created + 3 * 365 * 86_400)[..10],
                    "status": self.pick(&["COMMITTED", "ACTIVE", "EXPIRED"]),
                    "minimumQuantities": [{"offerType": "LICENSE", "quantity": self.rng.random_range(10..=500)}]
                }
            }])
        } else {
            json!([])
        };
        let external_reference_id = if self.chance(80) {
            let a: u64 = self.rng.random();
            let b: u64 = self.rng.random();
            // 35 characters, like the seed's sample: SPEC §1 allows no more.
            format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:011x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xffff,
                b >> 48,
                b & 0x0fff_ffff_ffff
            )
        } else {
            String::new()
        };
        json!({
            "externalReferenceId": external_reference_id,
            "customerId": (1_000_000_000 + index).to_string(),
            "resellerId": reseller_id,
            "status": status,
            "companyProfile": {
                "companyName": company_name,
                "preferredLanguage": country.language,
                "marketSegment": segment,
                "marketSubSegments": sub_segments,
                "address": {
                    "country": country.code,
                    "region": self.pick(country.regions),
                    "city": city,
                    "addressLine1": format!("{} {}", self.rng.random_range(1..=999), self.pick(STREETS)),
                    "addressLine2": if self.chance(20) { format!("Suite {}", self.rng.random_range(100..=999)) } else { String::new() },
                    "postalCode": self.rng.random_range(10u32.pow(country.postal_digits - 1)..10u32.pow(country.postal_digits)).to_string(),
                    "phoneNumber": self.phone(country),
                },
                "contacts": contacts,
            },
            "discounts": discounts,
            "tags": tags,
            "cotermDate": coterm,
            "creationDate": format_creation_date(created),
            "benefits": benefits,
            "globalSalesEnabled": self.chance(10),
        })
    }

    fn phone(&mut self, country: &Country) -> String {
        format!(
            "{} {} {}",
            country.dial,
            self.rng.random_range(100..=999),
            self.rng.random_range(1_000_000..=9_999_999)
        )
    }
}

impl Iterator for Generator {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.next == self.plan.customers {
            return None;
        }
        let record = self.record(self.next);
        self.next += 1;
        Some(record)
    }
}

/// Writes the plan's customers as NDJSON.
pub fn write_ndjson(plan: Plan, out: impl Write) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    for record in Generator::new(plan) {
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn ascii_lower(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

struct Country {
    code: &'static str,
    language: &'static str,
    dial: &'static str,
    postal_digits: u32,
    cities: &'static [&'static str],
    regions: &'static [&'static str],
    suffixes: &'static [&'static str],
}

const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        language: "en-US",
        dial: "+1",
        postal_digits: 5,
        cities: &[
            "San Jose", "Austin", "Denver", "Portland", "Raleigh", "Columbus", "Boise", "Tampa",
        ],
        regions: &["CA", "TX", "CO", "OR", "NC", "OH", "ID", "FL"],
        suffixes: &["Inc", "LLC", "Corp", "Co."],
    },
    Country {
        code: "US",
        language: "en-US",
        dial: "+1",
        postal_digits: 5,
        cities: &["Seattle", "Chicago", "Boston", "Atlanta", "Phoenix", "Nashville"],
        regions: &["WA", "IL", "MA", "GA", "AZ", "TN"],
        suffixes: &["Inc", "LLC", "Group"],
    },
    Country {
        code: "DE",
        language: "de-DE",
        dial: "+49",
        postal_digits: 5,
        cities: &["München", "Köln", "Düsseldorf", "Berlin", "Nürnberg"],
        regions: &["BY", "NW", "BE"],
        suffixes: &["GmbH", "AG", "GmbH & Co. KG"],
    },
    Country {
        code: "FR",
        language: "fr-FR",
        dial: "+33",
        postal_digits: 5,
        cities: &["Paris", "Lyon", "Besançon", "Orléans", "Nîmes"],
        regions: &["IDF", "ARA", "BFC", "CVL", "OCC"],
        suffixes: &["SA", "SARL", "SAS"],
    },
    Country {
        code: "GB",
        language: "en-GB",
        dial: "+44",
        postal_digits: 4,
        cities: &["London", "Leeds", "Bristol", "Glasgow"],
        regions: &["ENG", "SCT"],
        suffixes: &["Ltd", "PLC", "LLP"],
    },
    Country {
        code: "JP",
        language: "ja-JP",
        dial: "+81",
        postal_digits: 7,
        cities: &["Tōkyō", "Ōsaka", "Kyōto", "Sapporo"],
        regions: &["13", "27", "26", "01"],
        suffixes: &["KK", "GK"],
    },
    Country {
        code: "DK",
        language: "da-DK",
        dial: "+45",
        postal_digits: 4,
        cities: &["København", "Århus", "Odense", "Ærøskøbing"],
        regions: &["84", "82", "83"],
        suffixes: &["ApS", "A/S"],
    },
    Country {
        code: "AU",
        language: "en-AU",
        dial: "+61",
        postal_digits: 4,
        cities: &["Sydney", "Melbourne", "Brisbane", "Perth"],
        regions: &["NSW", "VIC", "QLD", "WA"],
        suffixes: &["Pty Ltd"],
    },
];

const NAME_STARTS: &[&str] = &[
    "North",
    "Northwind",
    "South",
    "East",
    "West",
    "Blue",
    "Red",
    "Green",
    "Silver",
    "Golden",
    "Summit",
    "Pioneer",
    "Atlas",
    "Apex",
    "Vertex",
    "Harbor",
    "River",
    "Lakeside",
    "Pine",
    "Oak",
    "Maple",
    "Cedar",
    "Granite",
    "Iron",
    "Bright",
    "Clear",
    "Quantum",
    "Nova",
    "Stellar",
    "Crescent",
    "Evergreen",
    "Horizon",
    "Prime",
    "Metro",
    "Urban",
    "Global",
    "United",
    "First",
    "Alpine",
    "Coastal",
    "Sunrise",
    "Müller",
    "Schäfer",
    "Søndergaard",
    "Straße",
    "Élan",
    "Ōmura",
    "Øresund",
    "ÆGIR",
    "Δelta",
    "100%",
    "5*",
    "A_B",
    "Tech",
];

const NAME_CORES: &[&str] = &[
    "Analytics",
    "Logistics",
    "Systems",
    "Software",
    "Dynamics",
    "Health",
    "Medical",
    "Dental",
    "Legal",
    "Partners",
    "Consulting",
    "Design",
    "Media",
    "Studios",
    "Foods",
    "Farms",
    "Energy",
    "Solar",
    "Robotics",
    "Networks",
    "Labs",
    "Works",
    "Industries",
    "Manufacturing",
    "Construction",
    "Bau",
    "Technik",
    "Architecture",
    "Protection",
    "Textiles",
    "Motors",
    "Finance",
    "Capital",
    "Insurance",
    "Realty",
    "Marine",
    "Aerospace",
    "Pharma",
    "Biotech",
    "Electronics",
];

const FIRST_NAMES: &[&str] = &[
    "Anna", "Ben", "Chloé", "David", "Emma", "Farah", "Georg", "Hana", "Ivan", "Jonas", "Kenji", "Lena", "Mateo",
    "Nora", "Oliver", "Priya", "Quentin", "Rosa", "Søren", "Tomás", "Uma", "Viktor", "Wei", "Yuki", "Zoë",
];

const LAST_NAMES: &[&str] = &[
    "Smith", "Müller", "Dubois", "Tanaka", "Jensen", "García", "Rossi", "Kowalski", "Nguyen", "O'Brien", "Patel",
    "Schmidt", "Andersen", "Moreau", "Sato", "Brown", "Fischer", "Lefèvre", "Larsen", "Wilson",
];

const STREETS: &[&str] = &[
    "Park Ave",
    "Main St",
    "Hauptstraße",
    "Rue de la Paix",
    "High Street",
    "Market St",
    "Elm St",
    "Bahnhofstraße",
    "Chūō-dōri",
    "Strandvejen",
    "George St",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CustomerRecord;

    #[test]
    fn deterministic_valid_and_skewed() {
        let plan = Plan {
            customers: 2_000,
            resellers: 10,
            seed: 7,
        };
        let first: Vec<Value> = Generator::new(plan).collect();
        let again: Vec<Value> = Generator::new(plan).collect();
        assert_eq!(first, again, "same seed, same data");
        assert_ne!(first, Generator::new(Plan { seed: 8, ..plan }).collect::<Vec<_>>());

        let mut per_reseller = std::collections::HashMap::<String, usize>::new();
        for record in first {
            let record = CustomerRecord::from_json(record).expect("generated records are valid");
            *per_reseller.entry(record.reseller_id).or_default() += 1;
        }
        let largest = per_reseller[&reseller_id(0)];
        let smallest = per_reseller[&reseller_id(9)];
        assert!(largest > 4 * smallest, "sizes differ a lot: {largest} vs {smallest}");
    }
}
