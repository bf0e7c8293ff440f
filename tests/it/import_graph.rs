//! The module graph of `src/swift` and `src/store`, read from the source:
//! which file names which (`use super::x`, `super::x::f()`, `crate::swift::x`,
//! an item of the layer's `mod.rs` as `super::App`, and in a `mod.rs` a
//! child named as `x::`). Test modules are left out.
//!
//! Every circle is printed. What is asserted: the modules of each layer,
//! apart from its `mod.rs` (the store's `Store`, `Error` and `ContainerLoc`;
//! the Swift layer's `App`, `Ctx` and the re-entry `App::get_object`, which
//! every module uses), name each other without a circle (issue 12 item 2);
//! the store never names the Swift layer; the core of the Swift layer (the
//! write path, listing rows, the object core) names no feature: features
//! plug into it through `features.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Module names of the `.rs` files (and `mod.rs`) of `dir`.
fn modules(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "rs").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect()
}

/// The file's text without its `#[cfg(test)]` modules and comment lines.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => &text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Identifiers that follow `prefix` in `text`, and the names inside a
/// `prefix{a, b::c}` group.
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices(prefix) {
        let rest = &text[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                out.insert(ident(item.trim()));
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

/// Edges among the modules of `src/<layer>`; without `mod.rs` when
/// `with_mod` is false (its `App` and caches name half the features).
fn graph(layer: &str, with_mod: bool) -> Graph {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(layer);
    let mods = modules(&dir);
    let mut g = Graph::new();
    for m in &mods {
        let text = code(&dir.join(format!("{m}.rs")));
        let mut deps = names_after(&text, "super::");
        deps.extend(names_after(&text, &format!("crate::{layer}::")));
        // An item of the layer's own `mod.rs` (`super::App`) names `mod`;
        // in `mod.rs`, `super::` is the crate.
        deps = deps
            .into_iter()
            .filter(|d| !d.is_empty() && d != "super" && d != "self")
            .filter_map(|d| match mods.contains(&d) {
                true => Some(d),
                false => (m != "mod").then(|| "mod".to_string()),
            })
            .collect();
        if m == "mod" {
            for other in &mods {
                let named = text.match_indices(&format!("{other}::")).any(|(i, _)| {
                    let before = text[..i].chars().next_back();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                });
                if named {
                    deps.insert(other.clone());
                }
            }
        }
        deps.retain(|d| d != m && mods.contains(d) && (with_mod || d != "mod"));
        if with_mod || m != "mod" {
            g.insert(m.clone(), deps);
        }
    }
    g
}

/// The strongly connected components of more than one module (Tarjan).
fn circles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> T<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on.insert(v);
            for w in &self.g[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let l = self.low[v].min(self.low[w]);
                    self.low.insert(v, l);
                } else if self.on.contains(w) {
                    let l = self.low[v].min(self.index[w]);
                    self.low.insert(v, l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut c = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    c.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if c.len() > 1 {
                    c.sort();
                    self.out.push(c);
                }
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

#[test]
fn no_import_circle_apart_from_mod_and_the_core_names_no_feature() {
    for layer in ["swift", "store"] {
        for with_mod in [true, false] {
            let g = graph(layer, with_mod);
            let cs = circles(&g);
            let what = if with_mod { "" } else { " apart from mod.rs" };
            eprintln!(
                "src/{layer}{what}: {} modules, {} circle(s)",
                g.len(),
                cs.len()
            );
            for c in &cs {
                eprintln!("  circle of {}: {}", c.len(), c.join(" "));
            }
        }
    }
    for layer in ["store", "swift"] {
        let cs = circles(&graph(layer, false));
        assert!(
            cs.is_empty(),
            "src/{layer} has import circles apart from mod.rs: {cs:?}"
        );
    }
    let g = graph("swift", true);
    assert!(
        g["object"].contains("symlink"),
        "the graph reads the source"
    );
    // The core names no feature: the write path takes its hooks from the
    // App (`features.rs` lists them), and so do listing rows.
    let core = [
        ("write", &["mod"][..]),
        ("listing", &["mod", "headers"][..]),
        (
            "object_core",
            &["mod", "headers", "range", "object_meta"][..],
        ),
        ("object_meta", &[][..]),
        // The feature interface names what its hooks are.
        ("feature", &["mod", "write", "listing"][..]),
        // Containers, accounts and /info ask the pipeline (issue 12 item 3).
        ("container", &["mod", "auth", "headers", "listing"][..]),
        (
            "account",
            &["mod", "headers", "listing", "account_acl", "keystone_auth"][..],
        ),
        ("info", &["mod"][..]),
    ];
    for (m, allowed) in core {
        let names: Vec<&String> = g[m]
            .iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(
            names.is_empty(),
            "{m}.rs names more than the core: {names:?}"
        );
    }
    assert_eq!(
        g["receive"].iter().collect::<Vec<_>>(),
        ["write"],
        "the body stream feeds the write path only"
    );
    // Nothing below the write path names it back but the features whose
    // restores take its last steps.
    for (m, deps) in &g {
        if deps.contains("write") {
            let ok = [
                "mod",
                "feature",
                "features",
                "object",
                "copy",
                "slo",
                "symlink",
                "bulk",
                "formpost",
                "receive",
                "versioning",
            ];
            assert!(ok.contains(&m.as_str()), "{m} names the write path");
        }
    }
    let store = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    for m in modules(&store) {
        let text = code(&store.join(format!("{m}.rs")));
        assert!(
            !text.contains("crate::swift"),
            "store/{m}.rs names the Swift layer"
        );
    }
    // Nothing names the object dispatch, nor the list of features, but
    // the layer's root (and the S3 door, from outside).
    for (m, deps) in &g {
        for top in ["object", "features"] {
            assert!(m == "mod" || !deps.contains(top), "{m}.rs names {top}.rs");
        }
    }
}

/// Issue 12 item 6: the HTTP layer (server loop, bodies, errors, logs) is
/// generic: it names neither API (`swift`, `s3`) nor what is behind them
/// beyond the store's error type, which `ApiError` maps.
#[test]
fn the_http_layer_names_no_api() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut found = Vec::new();
    for m in modules(&dir) {
        let text = code(&dir.join(format!("{m}.rs")));
        for api in ["crate::swift", "crate::s3", "crate::admin"] {
            if text.contains(api) {
                found.push(format!("http/{m}.rs names {api}"));
            }
        }
    }
    assert!(found.is_empty(), "{found:?}");
}
