//! The architecture ARCHITECTURE.md draws, checked: which crate may depend
//! on which (the pure crates on no async runtime, the backends on the
//! domain and the text analysis only), and no two modules of a crate that
//! import each other. A change that breaks the layering fails here, not in
//! a review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The normal dependencies of a crate (not its dev- or build-dependencies).
fn dependencies(krate: &str) -> BTreeSet<String> {
    let path = root().join("crates").join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

fn engram_dependencies(krate: &str) -> BTreeSet<String> {
    dependencies(krate)
        .into_iter()
        .filter(|d| d.starts_with("engram-"))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn crates_depend_only_downwards() {
    let pure = [
        ("engram-domain", set(&[])),
        ("engram-text", set(&["engram-domain"])),
        ("engram-rules", set(&["engram-domain", "engram-text"])),
        ("engram-context", set(&["engram-domain", "engram-text"])),
        ("engram-crypto", set(&["engram-domain", "engram-text"])),
        ("engram-backoff", set(&[])),
    ];
    for (krate, allowed) in &pure {
        let found = engram_dependencies(krate);
        assert!(found.is_subset(allowed), "{krate} depends on {found:?}");
        let deps = dependencies(krate);
        for io in [
            "tokio",
            "fred",
            "tokio-postgres",
            "redb",
            "reqwest",
            "tonic",
        ] {
            assert!(!deps.contains(io), "{krate} is pure but depends on {io}");
        }
    }
    let backend = set(&["engram-domain", "engram-text", "engram-backoff"]);
    for krate in [
        "engram-embedded",
        "engram-postgres",
        "engram-redis",
        "engram-qdrant",
        "engram-models",
    ] {
        let found = engram_dependencies(krate);
        assert!(
            found.is_subset(&backend),
            "backend {krate} depends on {found:?}"
        );
    }
    let engine = engram_dependencies("engram-engine");
    for backend in [
        "engram-embedded",
        "engram-postgres",
        "engram-redis",
        "engram-qdrant",
    ] {
        assert!(!engine.contains(backend), "the engine depends on {backend}");
    }
}

/// The modules a source file names with `crate::` or `super::` outside
/// its tests, as paths from the crate root.
fn imports(module: &str, source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let parent = module.rsplit_once("::").map(|(p, _)| p).unwrap_or("");
    let mut found = BTreeSet::new();
    let words = |at: &str| -> Vec<String> {
        at.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for (marker, base) in [("crate::", ""), ("super::", parent)] {
        for (i, _) in code.match_indices(marker) {
            let before = code[..i].chars().last();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &code[i + marker.len()..];
            let names = if let Some(group) = rest.strip_prefix('{') {
                words(&group[..group.find('}').unwrap_or(group.len())])
            } else {
                words(rest).into_iter().take(1).collect()
            };
            for name in names {
                let path = if base.is_empty() {
                    name
                } else {
                    format!("{base}::{name}")
                };
                found.insert(path);
            }
        }
    }
    found
}

fn modules(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let name = relative.to_string_lossy().replace('/', "::");
            let name = name.trim_end_matches("::mod").to_owned();
            if name == "lib" || name == "main" || name.starts_with("bin::") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            out.insert(name.clone(), imports(&name, &source));
        }
    }
    out
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let mut sources = vec![root().join("src")];
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        sources.push(entry.unwrap().path().join("src"));
    }
    let mut cycles = Vec::new();
    for src in sources {
        let graph = modules(&src);
        for (a, uses) in &graph {
            for b in uses {
                // A module and its parent or child are one unit.
                let related = a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"));
                if a < b && !related && graph.get(b).is_some_and(|u| u.contains(a)) {
                    cycles.push(format!("{}: {a} <-> {b}", src.display()));
                }
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "modules that import each other: {cycles:#?}"
    );
}
