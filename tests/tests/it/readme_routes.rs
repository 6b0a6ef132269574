//! README.md's route table is the API's index for people; `/api/openapi.json` is what the server
//! serves. This test reads both and fails when a route the server describes is missing from the
//! README, or when the README lists a route the server does not describe, so neither can drift.
//!
//! The table's first cell may abbreviate: ``` `GET`, `PUT /path` ``` is two methods on one path,
//! and a following ``` `/finish` ``` is a sibling of the path before it (its segments replace
//! as many trailing segments of that path). Query strings are ignored and every path parameter
//! reads as `{}`, since the README names them for people.

use gp_online_tests::spawn_app;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Routes served but deliberately absent from the OpenAPI description: the WebSocket upgrade,
/// which OpenAPI cannot describe (README and PROTOCOL.md do).
const NOT_IN_OPENAPI: &[(&str, &str)] = &[("GET", "/api/v1/sync/ws")];

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

type Route = (String, String);

/// A path with every `{parameter}` written `{}` and any query string dropped.
fn normalise(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let mut out = String::new();
    let mut in_parameter = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_parameter = true;
                out.push_str("{}");
            }
            '}' => in_parameter = false,
            _ if !in_parameter => out.push(c),
            _ => {}
        }
    }
    out
}

/// The routes one table row's first cell names.
fn routes_of_cell(cell: &str) -> Vec<Route> {
    let mut routes = Vec::new();
    let mut pending_methods: Vec<String> = Vec::new();
    let mut last: Option<(Vec<String>, String)> = None;
    for quoted in cell.split('`').skip(1).step_by(2) {
        let quoted = quoted.trim();
        let (methods, path) = match quoted.split_once(' ') {
            Some((method, path)) if METHODS.contains(&method) => {
                let mut methods = std::mem::take(&mut pending_methods);
                methods.push(method.to_owned());
                (methods, normalise(path))
            }
            _ if METHODS.contains(&quoted) => {
                pending_methods.push(quoted.to_owned());
                continue;
            }
            _ if quoted.starts_with('/') => {
                let (methods, base) = last.clone().expect("a sibling path follows a full route");
                let sibling = normalise(quoted);
                let replaced = sibling.matches('/').count();
                let kept: Vec<&str> = base.split('/').collect();
                let keep = kept.len().saturating_sub(replaced);
                (methods, format!("{}{sibling}", kept[..keep].join("/")))
            }
            _ => continue,
        };
        for method in &methods {
            routes.push((method.clone(), path.clone()));
        }
        last = Some((methods, path));
    }
    routes
}

/// Every route in README.md's HTTP API table.
fn readme_routes() -> BTreeSet<Route> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(readme).expect("README.md is readable");
    let table = text
        .split("\n## HTTP API")
        .nth(1)
        .expect("README.md has an HTTP API section");
    let table = table.split("\n## ").next().unwrap_or(table);
    table
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| line.split(" | ").next())
        .flat_map(routes_of_cell)
        .collect()
}

fn openapi_routes(doc: &Value) -> BTreeSet<Route> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, operations)| {
            let operations = operations.as_object().expect("a path item is an object");
            operations
                .keys()
                .filter_map(|method| {
                    let method = method.to_ascii_uppercase();
                    METHODS
                        .contains(&method.as_str())
                        .then(|| (method, normalise(path)))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn abbreviated_cells_expand_to_every_route_they_name() {
    let routes = routes_of_cell(
        "`GET`, `PUT /api/v1/patients/{id}/pharmacy?x=1` and `POST /api/v1/login/begin`, \
         `/login/finish`, `/cancel`",
    );
    let expected: Vec<Route> = [
        ("GET", "/api/v1/patients/{}/pharmacy"),
        ("PUT", "/api/v1/patients/{}/pharmacy"),
        ("POST", "/api/v1/login/begin"),
        ("POST", "/api/v1/login/finish"),
        ("POST", "/api/v1/login/cancel"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(routes, expected);
}

#[tokio::test]
async fn readme_lists_exactly_the_routes_the_server_describes() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let served = openapi_routes(&doc);
    let documented = readme_routes();
    let exempt: BTreeSet<Route> = NOT_IN_OPENAPI
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();

    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes served but missing from README.md's HTTP API table: {undocumented:#?}"
    );
    let unserved: Vec<_> = documented
        .difference(&served)
        .filter(|route| !exempt.contains(*route))
        .collect();
    assert!(
        unserved.is_empty(),
        "routes in README.md's HTTP API table that the server does not describe: {unserved:#?}"
    );
}
