//! The module map's promise, checked on the source: no two top-level modules of
//! `src/` import each other, directly or around a circle (docs/architecture.md, "Who
//! imports whom").

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `crate::NAME` uses per top-level module, from every `.rs` file under `src/` (lines
/// that are comments skipped: a doc link is no import).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src/");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_string();
        if top == "main" || top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("a source file");
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    edges.entry(top.clone()).or_default().insert(name);
                }
            }
        }
    }
    edges
}

/// A circle through `start`, if there is one.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in edges.get(&at).into_iter().flatten() {
            if next == start {
                let mut path = path.clone();
                path.push(next.clone());
                return Some(path);
            }
            if seen.insert(next.clone()) {
                let mut path = path.clone();
                path.push(next.clone());
                stack.push((next.clone(), path));
            }
        }
    }
    None
}

#[test]
fn no_top_level_modules_import_each_other() {
    let edges = imports();
    assert!(edges.len() > 10, "the modules were read: {edges:?}");
    let circles: Vec<String> = edges
        .keys()
        .filter_map(|m| circle(&edges, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(
        circles.is_empty(),
        "modules that import each other: {circles:#?}"
    );
}

/// The simulator is a tool beside the service: the demo, the benchmarks and the
/// commands that start them may use it; nothing the service runs imports it. (A
/// workspace crate would let the compiler say this; this test says it without one.)
#[test]
fn the_service_never_uses_the_simulator() {
    let edges = imports();
    let users: Vec<&String> = edges
        .iter()
        .filter(|(_, to)| to.contains("sim"))
        .map(|(from, _)| from)
        .collect();
    let allowed = ["bench", "cli", "demo"];
    let strays: Vec<&&String> = users
        .iter()
        .filter(|m| !allowed.contains(&m.as_str()))
        .collect();
    assert!(!users.is_empty(), "the demo uses the simulator: {edges:?}");
    assert!(
        strays.is_empty(),
        "modules of the service import the simulator: {strays:?}"
    );
}

#[test]
fn the_check_sees_a_circle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        circle(&edges, "a").map(|c| c.join(" -> ")).as_deref(),
        Some("a -> b -> c -> a")
    );
}

/// Files hold one idea each: none of `src/` passes 800 lines before its tests (a
/// `#[cfg(test)]` module at its end, or a file of tests).
#[test]
fn no_source_file_is_over_800_lines_tests_aside() {
    fn walk(dir: &Path, out: &mut Vec<(String, usize)>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                let text = std::fs::read_to_string(&path).expect("a source file");
                let code = text
                    .lines()
                    .take_while(|l| l.trim() != "#[cfg(test)]")
                    .count();
                out.push((path.display().to_string(), code));
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let long: Vec<_> = files.iter().filter(|(_, n)| *n > 800).collect();
    assert!(
        files.len() > 50 && long.is_empty(),
        "files over 800 lines: {long:?}"
    );
}
