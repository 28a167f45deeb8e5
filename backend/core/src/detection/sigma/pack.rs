//! The built-in rule pack: SigmaHQ's rules for the telemetry Steward normalizes, copied under
//! `detections/sigma` (see its `SOURCE.txt` for the curation and the licence) and compiled into
//! Steward, so a deployment has them without reaching the internet.

use std::sync::OnceLock;

use include_dir::{Dir, include_dir};

use super::{RuleDocument, RuleSet};

static PACK: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../detections/sigma/rules");

/// The pack's rule files, each named `built-in:<path in SigmaHQ's rules folder>`.
#[must_use]
pub fn documents() -> Vec<RuleDocument> {
    let mut documents = Vec::new();
    collect(&PACK, &mut documents);
    documents.sort_by(|a, b| a.origin.cmp(&b.origin));
    documents
}

fn collect(dir: &Dir<'_>, into: &mut Vec<RuleDocument>) {
    for file in dir.files() {
        if let Some(yaml) = file.contents_utf8() {
            into.push(RuleDocument {
                origin: format!("built-in:{}", file.path().display()),
                yaml: yaml.to_owned(),
            });
        }
    }
    for child in dir.dirs() {
        collect(child, into);
    }
}

/// The pack compiled, once per process: compiling ~1,700 rules is done at first use, not per
/// tenant or per request.
pub fn compiled() -> &'static RuleSet {
    static COMPILED: OnceLock<RuleSet> = OnceLock::new();
    COMPILED.get_or_init(|| RuleSet::load(documents()))
}
