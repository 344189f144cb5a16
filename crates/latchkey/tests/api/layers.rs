//! The layering the crates promise (docs/architecture.md), checked from their manifests: the
//! core depends on no SQL or HTTP crate, the store on no HTTP crate.

fn dependencies(krate: &str) -> Vec<String> {
    let path = format!("{}/../{krate}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut names = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once(['=', '.']) {
                names.push(name.trim().to_owned());
            }
        }
    }
    assert!(!names.is_empty(), "{path} lists no dependencies");
    names
}

#[test]
fn the_core_has_no_sql_and_no_http_and_the_store_no_http() {
    let forbidden_in_core = ["sqlx", "axum", "tower", "tower-http", "hyper", "redis"];
    for d in dependencies("latchkey-core") {
        assert!(
            !forbidden_in_core.contains(&d.as_str()),
            "latchkey-core depends on {d}"
        );
    }
    for d in dependencies("latchkey-store") {
        assert!(
            !["axum", "tower", "tower-http", "hyper"].contains(&d.as_str()),
            "latchkey-store depends on {d}"
        );
    }
    assert!(dependencies("latchkey-store").contains(&"latchkey-core".to_owned()));
}
