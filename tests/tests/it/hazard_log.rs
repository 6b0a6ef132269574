//! The hazard log (`docs/safety/hazard-log.md`) names, for each control, the tests that prove it
//! as `path::function`. This test fails when a named test does not exist, so a renamed or removed
//! test cannot leave a control claiming a proof it no longer has.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace root")
        .to_path_buf()
}

/// Every `path.rs::function` written in backticks in `text`.
fn named_tests(text: &str) -> BTreeSet<(String, String)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| {
            let (path, function) = quoted.split_once(".rs::")?;
            let plain = |s: &str, extra: &[char]| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(&c))
            };
            (plain(path, &['/', '-', '.']) && plain(function, &[]))
                .then(|| (format!("{path}.rs"), function.to_owned()))
        })
        .collect()
}

/// The named tests that do not exist: no such file, or no `fn` of that name marked as a test in it.
fn missing(root: &Path, named: &BTreeSet<(String, String)>) -> Vec<String> {
    named
        .iter()
        .filter(|(path, function)| {
            let Ok(source) = std::fs::read_to_string(root.join(path)) else {
                return true;
            };
            !is_test_function(&source, function)
        })
        .map(|(path, function)| format!("{path}::{function}"))
        .collect()
}

/// Whether `source` defines `fn function` as a test: a `#[test]` or `#[tokio::test]` before it
/// with only attributes, comments or blank lines between (proptest's functions carry `#[test]`).
fn is_test_function(source: &str, function: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    lines.iter().enumerate().any(|(at, line)| {
        let trimmed = line.trim_start();
        let defines = ["fn ", "async fn "].iter().any(|prefix| {
            trimmed
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix(function))
                .is_some_and(|rest| rest.starts_with('(') || rest.starts_with('<'))
        });
        defines
            && lines[..at]
                .iter()
                .rev()
                .map(|line| line.trim())
                .take_while(|line| {
                    line.starts_with("#[") || line.starts_with("//") || line.is_empty()
                })
                .any(|line| line.starts_with("#[") && line.contains("test"))
    })
}

#[test]
fn every_test_the_hazard_log_names_exists() {
    let root = workspace_root();
    let log = std::fs::read_to_string(root.join("docs/safety/hazard-log.md")).unwrap();
    let named = named_tests(&log);
    assert!(
        named.len() >= 30,
        "the hazard log names only {} tests: has its format changed?",
        named.len()
    );
    let missing = missing(&root, &named);
    assert!(
        missing.is_empty(),
        "the hazard log names tests that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_hazard_has_a_control_proven_by_a_test_or_says_it_has_none() {
    let log = std::fs::read_to_string(workspace_root().join("docs/safety/hazard-log.md")).unwrap();
    let hazards: Vec<&str> = log.split("\n### ").skip(1).collect();
    assert!(hazards.len() >= 10, "{} hazards", hazards.len());
    for hazard in hazards {
        let title = hazard.lines().next().unwrap_or_default();
        assert!(
            hazard.contains("- Controls:") || hazard.contains("- Controls: "),
            "{title}: no controls"
        );
        assert!(
            !named_tests(hazard).is_empty(),
            "{title}: no control is proven by a named test"
        );
        assert!(hazard.contains("Residual"), "{title}: no residual risk");
    }
}

#[test]
fn the_check_notices_a_missing_or_renamed_test() {
    // Positive control: the checker must fail for names that are not tests.
    let root = workspace_root();
    let named = named_tests(
        "`tests/tests/it/hazard_log.rs::every_test_the_hazard_log_names_exists` \
         `tests/tests/it/hazard_log.rs::no_such_test` `tests/tests/it/nowhere.rs::x` \
         `tests/tests/it/hazard_log.rs::workspace_root` `plain words`",
    );
    assert_eq!(named.len(), 4);
    assert_eq!(
        missing(&root, &named),
        vec![
            "tests/tests/it/hazard_log.rs::no_such_test",
            "tests/tests/it/hazard_log.rs::workspace_root",
            "tests/tests/it/nowhere.rs::x",
        ]
    );
}
