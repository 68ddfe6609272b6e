//! docs/config-reference.md carries the configuration reference generated from the parameter
//! specs.

#[test]
fn the_docs_hold_the_current_configuration_reference() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config-reference.md");
    let readme = std::fs::read_to_string(path).unwrap_or_default();
    let reference = sniperforge_protocol::markdown_reference();
    const START: &str = "<!-- config-reference:start -->";
    const END: &str = "<!-- config-reference:end -->";
    if std::env::var_os("UPDATE_README").is_some()
        && let (Some(s), Some(e)) = (readme.find(START), readme.find(END))
    {
        let updated = format!(
            "{}\n\n{}{}",
            &readme[..s + START.len()],
            reference,
            &readme[e..]
        );
        std::fs::write(path, updated).unwrap_or_default();
        return;
    }
    assert!(
        readme.contains(&reference),
        "docs/config-reference.md is out of date: run UPDATE_README=1 cargo test -p sniperforge-protocol --test reference"
    );
}
