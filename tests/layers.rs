//! The source tree's own rules, read from its text so that a change that
//! breaks one fails `cargo test`:
//! - the module graph of `src/` (STYLE.md, "Dependencies point one way"):
//!   every `crate::…` path a module names leads to a lower layer, and
//!   within one folder the sibling modules do not import each other in a
//!   circle;
//! - the docs the code points to stay true: every section of `docs/*.md`
//!   that a comment names (`docs/PERFORMANCE.md, "Memory"`, or
//!   `docs/PERFORMANCE.md ("Memory")`) exists there, as a heading or as the
//!   bold or italic words that open a paragraph or an item;
//! - every request header the code reads (`headers.get(header::IF_MATCH)`,
//!   `.get(&X_REQUEST_ID)`) is in the server's own `/openapi.json` (SPEC
//!   §9), as a header parameter, a security scheme, or in words.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, from the top of the request path down. A module may
/// use only modules of lower layers (and its own submodules).
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["demo"],
    &["serve"],
    &["http"],
    &["app"],
    &["catalog", "auth", "limits", "import"],
    &["store", "generate", "logs"],
    &["telemetry", "memory"],
    &["domain"],
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is in no layer of tests/layers.rs"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments (so a doc comment naming a module is no import).
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start..].find("*/").map_or("", |end| &rest[start + end + 2..]);
    }
    out.push_str(rest);
    out.lines()
        .map(|line| match line.find("//") {
            // `://` is a URL in a string, not a comment.
            Some(at) if !line[..at].ends_with(':') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of every path after `prefix` (`crate::` or
/// `super::`), including each member of a `{…}` group.
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if item_start && depth == 1 && !c.is_whitespace() => {
                        names.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(ident(rest));
        }
    }
    names.remove("");
    names
}

/// The module path of a source file (`src/catalog/index/mod.rs` is `catalog::index`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

#[test]
fn dependencies_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    // Sibling edges, per parent module: child -> children it uses.
    let mut siblings: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut children: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let path = module_path(&src, file);
        if let [.., last] = path.as_slice() {
            children
                .entry(path[..path.len() - 1].to_vec())
                .or_default()
                .insert(last.clone());
        }
    }
    for file in &files {
        let path = module_path(&src, file);
        let Some(top) = path.first().filter(|top| *top != "main" && *top != "lib") else {
            continue;
        };
        let code = code(&std::fs::read_to_string(file).unwrap());
        for used in names_after(&code, "crate::") {
            if used != *top && layer_of(&used) <= layer_of(top) {
                problems.push(format!(
                    "{}: `{top}` uses `{used}`, which is not in a lower layer",
                    file.display()
                ));
            }
        }
        // Siblings: `super::x` from a child, and `crate::a::b::x` spelled out.
        if path.len() >= 2 {
            let parent = path[..path.len() - 1].to_vec();
            let me = path.last().unwrap().clone();
            let known = &children[&parent];
            let mut used: BTreeSet<String> = names_after(&code, "super::");
            let spelled = format!("crate::{}::", parent.join("::"));
            used.extend(names_after(&code, &spelled));
            for name in used {
                if name != me && known.contains(&name) {
                    siblings
                        .entry(parent.clone())
                        .or_default()
                        .entry(me.clone())
                        .or_default()
                        .insert(name);
                }
            }
        }
    }
    for (parent, edges) in &siblings {
        if let Some(cycle) = find_cycle(edges) {
            problems.push(format!(
                "in `{}`: the modules {} import each other in a circle",
                parent.join("::"),
                cycle.join(" → ")
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn the_checker_sees_imports_and_ignores_comments() {
    let text = "//! see `crate::http`\nuse crate::{app::App, domain::{A, B}};\nuse super::redis::X; // crate::cli\nlet u = \"sqlite://x\"; crate::store::open();";
    assert_eq!(
        names_after(&code(text), "crate::"),
        ["app", "domain", "store"].map(String::from).into()
    );
    assert_eq!(names_after(&code(text), "super::"), ["redis"].map(String::from).into());
    let mut edges = BTreeMap::new();
    edges.insert("rate".to_owned(), BTreeSet::from(["redis".to_owned()]));
    edges.insert("redis".to_owned(), BTreeSet::from(["rate".to_owned()]));
    assert_eq!(
        find_cycle(&edges),
        Some(vec!["rate".into(), "redis".into(), "rate".into()])
    );
}

/// Each run of comment lines of `text`, joined into one line.
fn comment_blocks(text: &str) -> Vec<String> {
    let mut blocks = vec![String::new()];
    for line in text.lines() {
        let trimmed = line.trim_start();
        match trimmed.find("//") {
            Some(0) => {
                let words = trimmed.trim_start_matches('/').trim_start_matches('!').trim();
                let block = blocks.last_mut().unwrap();
                block.push(' ');
                block.push_str(words);
            }
            _ => blocks.push(String::new()),
        }
    }
    blocks.retain(|block| !block.is_empty());
    blocks
}

/// The (document, section) pairs a comment names.
fn references(comment: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = comment;
    while let Some(at) = rest.find("docs/") {
        rest = &rest[at + 5..];
        let Some(end) = rest.find(".md") else { break };
        let document = rest[..end].to_owned();
        let after = rest[end + 3..].trim_start_matches([',', ' ', '(']);
        if let Some(quoted) = after.strip_prefix('"')
            && let Some(close) = quoted.find('"')
        {
            found.push((document, quoted[..close].to_owned()));
        }
        rest = &rest[end..];
    }
    found
}

/// Whether `section` opens a heading, or a paragraph or item in bold or
/// italic, of `document`.
fn has_section(document: &str, section: &str) -> bool {
    document.lines().any(|line| {
        let heading = line.starts_with('#');
        let line = line.trim_start_matches(['#', '-', ' ']);
        let emphasised = line.starts_with('*');
        (heading || emphasised) && line.trim_start_matches('*').starts_with(section)
    })
}

#[test]
fn every_section_a_comment_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut problems = Vec::new();
    let mut seen = 0;
    for file in &files {
        for comment in comment_blocks(&std::fs::read_to_string(file).unwrap()) {
            for (document, section) in references(&comment) {
                seen += 1;
                let path = root.join("docs").join(format!("{document}.md"));
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !has_section(&text, &section) {
                    problems.push(format!(
                        "{}: docs/{document}.md has no section {section:?}",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
    assert!(
        seen > 10,
        "the comments name {seen} sections; the reader above lost them"
    );
}

#[test]
fn the_reader_finds_references_across_lines() {
    let text = "/// as measured\n/// (docs/PERFORMANCE.md, \"The cost of\n/// metrics\").\nfn x() {}\n// docs/OPERATIONS.md (\"Limits\")";
    let blocks = comment_blocks(text);
    assert_eq!(
        references(&blocks[0]),
        [("PERFORMANCE".to_owned(), "The cost of metrics".to_owned())]
    );
    assert_eq!(references(&blocks[1]), [("OPERATIONS".to_owned(), "Limits".to_owned())]);
    assert!(has_section("# Title\n## The cost of metrics\n", "The cost of metrics"));
    assert!(has_section("**Walks that give up.** A page", "Walks that give up"));
    assert!(has_section(
        "- *Routing without axum's router* (since",
        "Routing without axum's router"
    ));
    assert!(!has_section("Some text about Memory", "Memory"));
    assert!(!has_section("Memory is a plain paragraph here", "Memory"));
}

/// The request headers the code reads: every `.get(…)`, `.get_all(…)` or
/// `.contains_key(…)` whose argument is one of `http::header`'s names or a
/// `static … HeaderName = HeaderName::from_static("…")` of `src/`.
/// Lower-case names.
fn headers_read(files: &[PathBuf]) -> BTreeSet<String> {
    let sources: Vec<String> = files
        .iter()
        .map(|file| {
            let text = code(&std::fs::read_to_string(file).unwrap());
            // Tests send headers; only what the server reads counts.
            text.split("#[cfg(test)]").next().unwrap_or_default().to_owned()
        })
        .collect();
    let mut statics = BTreeMap::new();
    for line in sources.iter().flat_map(|source| source.lines()) {
        if let (Some(at), Some(from)) = (line.find("static "), line.find("from_static(\"")) {
            let name: String = line[at + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let value = &line[from + 13..];
            statics.insert(name, value[..value.find('"').unwrap()].to_owned());
        }
    }
    let mut read = BTreeSet::new();
    for source in &sources {
        for call in [".get(", ".get_all(", ".contains_key("] {
            for (at, _) in source.match_indices(call) {
                let rest = &source[at + call.len()..];
                let argument = rest[..rest.find([')', ',']).unwrap_or(rest.len())]
                    .trim()
                    .trim_start_matches('&');
                let constant = argument.rsplit("header::").next().unwrap_or_default();
                if argument.contains("header::") {
                    read.insert(constant.to_ascii_lowercase().replace('_', "-"));
                } else if let Some(name) = statics.get(argument) {
                    read.insert(name.clone());
                }
            }
        }
    }
    read
}

#[test]
fn every_header_the_code_reads_is_documented() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let read = headers_read(&files);
    // What the code reads, at least: a scan that found none of these would
    // be looking in the wrong place.
    for expected in ["if-match", "x-request-id", "x-api-key", "authorization", "accept"] {
        assert!(read.contains(expected), "the scan did not find `{expected}`: {read:?}");
    }

    let document = roster::http::openapi::document();
    let mut documented = BTreeSet::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] == "header" {
                    documented.insert(parameter["name"].as_str().unwrap().to_ascii_lowercase());
                }
            }
        }
    }
    for scheme in document["components"]["securitySchemes"].as_object().unwrap().values() {
        match scheme["type"].as_str() {
            Some("http") => documented.insert("authorization".to_owned()),
            Some("apiKey") => documented.insert(scheme["name"].as_str().unwrap().to_ascii_lowercase()),
            _ => false,
        };
    }
    // OpenAPI ignores `Accept` and `Content-Type` as parameters: the
    // document names them, in backquotes, in its description.
    let words = document["info"]["description"].as_str().unwrap().to_ascii_lowercase();
    documented.extend(read.iter().filter(|name| words.contains(&format!("`{name}`"))).cloned());

    let missing: Vec<&String> = read.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "headers the code reads that /openapi.json does not document: {missing:?}"
    );
}
