//! `doc/config.md` embeds the keyword tables generated from `src/config/keywords.rs`.
//! This test fails when the document is stale; run it with `MOONPROXY_BLESS=1` to
//! rewrite the generated part.

const BEGIN: &str = "<!-- BEGIN GENERATED KEYWORD TABLES (cargo test --test config_doc) -->\n";
const END: &str = "<!-- END GENERATED KEYWORD TABLES -->";

#[test]
fn doc_config_md_matches_keyword_tables() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/doc/config.md");
    let doc = std::fs::read_to_string(path).expect("doc/config.md exists");
    let start = doc.find(BEGIN).expect("doc/config.md has the BEGIN marker") + BEGIN.len();
    let end = doc.find(END).expect("doc/config.md has the END marker");
    let generated = moonproxy::config::keywords::markdown();
    if doc[start..end] != generated {
        if std::env::var_os("MOONPROXY_BLESS").is_some() {
            let fresh = format!("{}{}{}", &doc[..start], generated, &doc[end..]);
            std::fs::write(path, fresh).expect("rewrite doc/config.md");
            return;
        }
        panic!("doc/config.md is stale: run `MOONPROXY_BLESS=1 cargo test --test config_doc`");
    }
}
