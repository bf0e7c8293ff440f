//! The sample configs in contrib/ load with the real config loader and
//! pass its checks once their placeholder secret is replaced.

use sofgate::config::Config;

#[test]
fn every_contrib_config_loads_and_validates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let mut cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let placeholder = cfg
            .validate()
            .expect_err("a published secret must be refused");
        assert!(
            placeholder.contains("placeholder"),
            "{}: {placeholder}",
            path.display()
        );
        cfg.auth.secret = "0123456789abcdef0123456789abcdef".into();
        cfg.validate()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
    }
    assert!(n >= 1, "no contrib/*.toml");
}
