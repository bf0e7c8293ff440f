//! `sofgate index` and `sofgate scrub` run as an operator runs them, beside
//! a running server on the same device: files copied in get their true
//! MD5 (one changed during the run is left for the next), a scrub finds
//! planted damage and leftovers and `--fix` deals with each, the progress
//! bar shows on a terminal only, and `--json` parses.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sofgate"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sofgate")
}

/// The JSON summary a tool printed on stdout.
fn summary(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "{e}: {text:?} (stderr {})",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn cfg(s: &Server) -> String {
    s.config_path().display().to_string()
}

/// Content of the i-th planted file.
fn content(i: usize) -> Vec<u8> {
    format!("file {i} copied in on the mount\n")
        .repeat(i + 1)
        .into_bytes()
}

fn stored_etag(p: &Path) -> Option<String> {
    swift_meta(p).and_then(|m| meta_str(&m, "ETag"))
}

#[test]
fn index_gives_every_file_its_true_md5_and_leaves_one_changed_during_the_run() {
    // The server may hash nothing inline: its listings show only what is
    // stored, so a listing after the index proves the metadata fresh.
    let s = Builder::new()
        .storage("listing_hash_budget_bytes = 0\n")
        .start();
    s.put_container("c");
    let c = s.cont_dir("c");
    let mut files = Vec::new();
    for i in 0..12 {
        let rel = format!("d{}/f{i}.txt", i % 3);
        std::fs::create_dir_all(c.join(&rel).parent().unwrap()).unwrap();
        std::fs::write(c.join(&rel), content(i)).unwrap();
        files.push(rel);
    }
    let big: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(c.join("grow.bin"), &big).unwrap();
    // 8 MiB at 2 MiB/s: the big file is being hashed for about 4 s.
    let child = Command::new(env!("CARGO_BIN_EXE_sofgate"))
        .args(["index", "--config", &cfg(&s), "--json", "--jobs", "1"])
        .args(["--max-rate", "2M", "AUTH_test/c"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(c.join("grow.bin"))
        .unwrap();
    f.write_all(b"appended while it was hashed").unwrap();
    drop(f);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let first = summary(&out);
    assert_eq!(first["files"], 13, "{first}");
    assert_eq!(first["changed"], 1, "{first}");
    assert_eq!(first["indexed"], 12, "{first}");
    assert_eq!(first["errors"], 0, "{first}");
    assert_eq!(stored_etag(&c.join("grow.bin")), None);

    // Resumable: the next run reads only what is left.
    let out = tool(&["index", "--config", &cfg(&s), "--json"]);
    assert!(out.status.success(), "{out:?}");
    let second = summary(&out);
    assert_eq!(
        (&second["indexed"], &second["fresh"], &second["changed"]),
        (&Value::from(1), &Value::from(12), &Value::from(0)),
        "{second}"
    );
    let grown = std::fs::read(c.join("grow.bin")).unwrap();
    assert_eq!(second["bytes_hashed"], grown.len() as u64, "{second}");

    let mut want: Vec<(String, String)> = files
        .iter()
        .enumerate()
        .map(|(i, rel)| (rel.clone(), md5_hex(&content(i))))
        .collect();
    want.push(("grow.bin".into(), md5_hex(&grown)));
    want.sort();
    for (rel, md5) in &want {
        assert_eq!(stored_etag(&c.join(rel)).as_ref(), Some(md5), "{rel}");
        let m = swift_meta(&c.join(rel)).unwrap();
        assert!(meta_str(&m, "Content-Type").is_some(), "{rel}");
        assert!(meta_str(&m, "X-Timestamp").is_some(), "{rel}");
    }
    let r = s.get("c?format=json");
    let listed: Vec<(String, String)> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let (n, h) = (o["name"].as_str().unwrap(), o["hash"].as_str().unwrap());
            (n.to_string(), h.to_string())
        })
        .collect();
    assert_eq!(listed, want);
}

/// Sets a file's mtime back to what it was (as damage below the filesystem
/// would leave it).
fn keep_mtime(p: &Path, change: impl FnOnce(&Path)) {
    let mtime = std::fs::metadata(p).unwrap().modified().unwrap();
    change(p);
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(mtime).unwrap();
}

/// Kinds of the problems in a scrub summary, sorted, with their paths.
fn problems(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["kind"].as_str().unwrap(),
                p["path"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn scrub_finds_damage_and_leftovers_and_fix_deals_with_each() {
    let s = Builder::new().storage("reap_temp_after_secs = 1\n").start();
    s.put_container("c");
    let c = s.cont_dir("c");
    for name in ["good", "flip", "trunc", "badmeta", "dir/deep"] {
        s.put_object(
            &format!("c/{name}"),
            format!("the object {name}\n").repeat(50).as_bytes(),
        );
    }
    keep_mtime(&c.join("flip"), |p| {
        let mut d = std::fs::read(p).unwrap();
        d[100] ^= 0x04;
        std::fs::write(p, d).unwrap();
    });
    keep_mtime(&c.join("trunc"), |p| {
        let f = std::fs::File::options().write(true).open(p).unwrap();
        f.set_len(300).unwrap();
    });
    xattr::set(
        c.join("badmeta"),
        "user.swift.metadata",
        b"{\"ETag\": \"cut sh",
    )
    .unwrap();
    std::fs::write(c.join(".up.0123456789abcdef.sgtmp"), b"half an upload").unwrap();
    std::fs::write(c.join("dir/.gone.sgmeta"), b"{\"X-Object-Meta-A\":\"1\"}").unwrap();
    let long = format!("{}~{}.sglong", "a".repeat(180), md5_hex(b"lost"));
    std::fs::write(c.join(&long), b"a long name without its xattr").unwrap();
    std::thread::sleep(Duration::from_millis(1500));

    let before = snapshot(&c);
    let out = tool(&["scrub", "--config", &cfg(&s), "--json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let v = summary(&out);
    assert_eq!(v["mismatches"], 2, "{v}");
    assert_eq!(v["unreadable_metadata"], 1, "{v}");
    assert_eq!(v["orphan_temp"], 1, "{v}");
    assert_eq!(v["orphan_sidecars"], 1, "{v}");
    assert_eq!(v["bad_long_names"], 1, "{v}");
    assert_eq!(v["good"], 2, "{v}");
    assert_eq!(v["fixed"], 0, "{v}");
    assert_eq!(
        problems(&v),
        [
            format!("bad_long_name AUTH_test/c/{long}"),
            "mismatch AUTH_test/c/flip".to_string(),
            "mismatch AUTH_test/c/trunc".to_string(),
            "orphan_sidecar AUTH_test/c/dir/.gone.sgmeta".to_string(),
            "orphan_temp AUTH_test/c/.up.0123456789abcdef.sgtmp".to_string(),
            "unreadable_metadata AUTH_test/c/badmeta".to_string(),
        ]
    );
    assert_eq!(
        snapshot(&c),
        before,
        "a scrub without --fix changed the tree"
    );

    let out = tool(&["scrub", "--config", &cfg(&s), "--json", "--fix"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = summary(&out);
    assert_eq!(v["fixed"], 6, "{v}");
    for gone in ["flip", "trunc"] {
        assert_eq!(s.get(&format!("c/{gone}")).status, 404, "{gone}");
    }
    let r = s.get("c/badmeta");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some(md5_hex(&r.body).as_str()));
    assert!(!c.join(".up.0123456789abcdef.sgtmp").exists());
    assert!(!c.join("dir/.gone.sgmeta").exists());
    assert!(!c.join(&long).exists());
    let q = s.device().join(".sofgate/quarantine/AUTH_test/c");
    let names: Vec<String> = walk(&q).iter().map(|p| p.display().to_string()).collect();
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".data")).count(),
        4,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".json")).count(),
        4,
        "{names:?}"
    );
    let notes: Vec<Value> = names
        .iter()
        .filter(|n| n.ends_with(".json"))
        .map(|n| serde_json::from_slice(&std::fs::read(q.join(n)).unwrap()).unwrap())
        .collect();
    let flip = notes
        .iter()
        .find(|n| n["path"] == "flip")
        .expect("flip's note");
    assert!(
        flip["reason"].as_str().unwrap().starts_with("MD5 "),
        "{flip}"
    );
    assert_eq!(
        flip["metadata"]["ETag"],
        md5_hex("the object flip\n".repeat(50).as_bytes())
    );

    let out = tool(&["scrub", "--config", &cfg(&s), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = summary(&out);
    assert_eq!(
        (&v["good"], &v["problems"]),
        (&Value::from(3), &Value::from(Vec::<Value>::new())),
        "{v}"
    );
}

#[test]
fn the_server_scrubs_in_the_background_when_configured() {
    let s = Builder::new()
        .toml("[scrub]\ninterval_secs = 1\nfix = true\n")
        .start();
    s.put_container("c");
    s.put_object("c/o", &[7u8; 4096]);
    s.put_object("c/kept", b"fine");
    keep_mtime(&s.cont_dir("c").join("o"), |p| {
        std::fs::write(p, [8u8; 4096]).unwrap();
    });
    let quarantined = wait_until(Duration::from_secs(15), || s.get("c/o").status == 404);
    assert!(quarantined, "the damaged object is still served");
    assert_eq!(s.get("c/kept").body, b"fine");
}

#[test]
fn the_progress_bar_shows_on_a_terminal_only_and_json_parses_under_it() {
    let s = Server::start();
    s.put_container("c");
    let data: Vec<u8> = (0..6u32 << 20).map(|i| (i % 253) as u8).collect();
    std::fs::write(s.cont_dir("c").join("big"), &data).unwrap();
    let bin = env!("CARGO_BIN_EXE_sofgate");
    let cmd = format!("{bin} index --config {} --json --max-rate 4M", cfg(&s));
    let out = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for part in ["index", "ETA", "files", "MiB"] {
        assert!(text.contains(part), "no {part:?} in {text:?}");
    }
    let json = text
        .lines()
        .find_map(|l| l.find("{\"containers\"").map(|i| l[i..].trim_end()))
        .unwrap_or_else(|| panic!("no JSON in {text:?}"));
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["indexed"], 1, "{v}");
    // Not a terminal: no bar, only the summary.
    std::fs::write(s.cont_dir("c").join("more"), &data).unwrap();
    let out = tool(&["index", "--config", &cfg(&s), "--json", "--max-rate", "4M"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(summary(&out)["indexed"], 1);
}

#[test]
fn bad_arguments_are_clear_errors_that_change_nothing() {
    let s = Server::start();
    s.put_container("c");
    std::fs::write(s.cont_dir("c").join("f"), b"no metadata yet").unwrap();
    let before = snapshot(s.device());
    for (args, says) in [
        (vec!["index", "AUTH_test/.."], "cannot be . or .."),
        (
            vec!["scrub", "AUTH_test/nope"],
            "no container AUTH_test/nope",
        ),
        (vec!["index", "--max-rate", "0"], "bad rate"),
        (vec!["scrub", "--max-rate", "fast"], "bad rate"),
        (vec!["index", "a/b/c"], "cannot contain /"),
    ] {
        let mut all = args.clone();
        all.extend(["--config", s.config_path().to_str().unwrap()]);
        let out = tool(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {out:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let out = tool(&["index", "--config", "/nonexistent/sofgate.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/sofgate.toml"));
    assert_eq!(snapshot(s.device()), before);
}
