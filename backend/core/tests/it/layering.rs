//! The layering rule: storage holds persistence only and reaches into no stage of the loop.
//!
//! Every module under `src/storage` is parsed, and every path it names (in `use` items, types
//! and expressions, relative `super::` paths resolved) is checked against the stage modules.
//! A stage owns its rules and calls storage; storage calling back into a stage makes the arrows
//! run both ways and puts business rules where no one looks for them.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use syn::visit::Visit;

/// `steward-core`'s modules for the stages of the loop, those that exist and those to come.
/// Storage may use the audit chain, the outbox (`jobs`), secrets, clocks and the domain types.
const STAGES: &[&str] = &[
    "actions",
    "approvals",
    "decisions",
    "detection",
    "incidents",
    "inventory",
    "reports",
    "risk",
    "sync",
    "triage",
];

/// Arrows from storage into a stage that are allowed, as (file under `src`, stage): none. A
/// type a stage hands storage to record belongs to storage or to `steward-domain`; a rule
/// belongs to its stage, which calls storage.
const ALLOWED: &[(&str, &str)] = &[];

/// The crate-level modules a source file names, `super::` paths resolved from `depth` (how
/// many `super`s reach the crate root from the file's module).
struct Named {
    depth: usize,
    modules: BTreeSet<String>,
}

impl Named {
    fn record(&mut self, segments: &[String]) {
        let supers = segments.iter().take_while(|s| *s == "super").count();
        let from_root = if segments.first().is_some_and(|s| s == "crate") {
            &segments[1..]
        } else if supers == self.depth && supers > 0 {
            &segments[supers..]
        } else {
            return;
        };
        if let Some(module) = from_root.first() {
            self.modules.insert(module.clone());
        }
    }

    fn use_tree(&mut self, tree: &syn::UseTree, prefix: &mut Vec<String>) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(&path.tree, prefix);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                prefix.push(name.ident.to_string());
                self.record(prefix);
                prefix.pop();
            }
            syn::UseTree::Rename(rename) => {
                prefix.push(rename.ident.to_string());
                self.record(prefix);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.record(prefix),
            syn::UseTree::Group(group) => {
                for item in &group.items {
                    self.use_tree(item, prefix);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Named {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.record(&segments);
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&item.tree, &mut Vec::new());
    }
}

/// The stages `source` names, read as a module `depth` `super`s below the crate root.
fn stages_named(source: &str, depth: usize) -> BTreeSet<String> {
    let file = syn::parse_file(source).expect("a storage module parses");
    let mut named = Named {
        depth,
        modules: BTreeSet::new(),
    };
    named.visit_file(&file);
    named
        .modules
        .into_iter()
        .filter(|module| STAGES.contains(&module.as_str()))
        .collect()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the storage folder is readable") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn storage_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage")
}

#[test]
fn storage_reaches_into_no_stage_of_the_loop() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&storage_dir(), &mut files);
    assert!(files.len() > 20, "storage's modules were not found");
    let mut arrows = BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        // `storage/x.rs` is `crate::storage::x`: two `super`s up; a `mod.rs` is its folder.
        let mut depth = relative.components().count();
        if relative.file_name().is_some_and(|name| name == "mod.rs") {
            depth -= 1;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        let name = relative.to_string_lossy().replace('\\', "/");
        for stage in stages_named(&source, depth) {
            arrows.insert((name.clone(), stage));
        }
    }
    let allowed: BTreeSet<(String, String)> = ALLOWED
        .iter()
        .map(|(file, stage)| ((*file).to_owned(), (*stage).to_owned()))
        .collect();
    let new: Vec<_> = arrows.difference(&allowed).collect();
    assert!(
        new.is_empty(),
        "storage must not reach into a stage of the loop; move the rule into the stage and have \
         the stage call storage instead: {new:?}"
    );
    let gone: Vec<_> = allowed.difference(&arrows).collect();
    assert!(
        gone.is_empty(),
        "these arrows are gone: strike them from ALLOWED: {gone:?}"
    );
}

#[test]
fn the_check_sees_stages_in_uses_types_calls_and_relative_paths() {
    let source = r"
        use crate::{audit::{self, ChainRef}, risk::tag_criticality, jobs::Job};
        use super::super::triage as t;
        fn f(input: crate::decisions::policy::AuthorityInput) -> super::inventory::Reader {
            crate::reports::outcome_report();
            super::super::detection::Detected::default();
            super::actions::list()
        }
        /// [`crate::incidents`] in a comment is no dependency.
        fn g() {}
    ";
    let named = stages_named(source, 2);
    let expected: BTreeSet<String> = ["decisions", "detection", "reports", "risk", "triage"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    // `super::inventory` and `super::actions` are storage's own modules, not the stages.
    assert_eq!(named, expected);
}

/// Storage modules that filter on a tenant column themselves, and why: every other query on a
/// tenant's rows goes through `scoping::InTenant` (the MSP and the tenant at once).
const OWN_TENANT_FILTERS: &[(&str, &str)] = &[
    ("scoping.rs", "the helper itself"),
    (
        "vendor_slots.rs",
        "a vendor's budget is shared by every MSP's tenants",
    ),
    (
        "users.rs",
        "staff of the MSP or members of one tenant, in one condition",
    ),
    (
        "guardrails.rs",
        "kill switches are the MSP's (no tenant) or one tenant's",
    ),
];

#[test]
fn storage_narrows_to_a_tenant_through_one_helper() {
    let mut files = Vec::new();
    rust_files(&storage_dir(), &mut files);
    let mut hand_written = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        let count = source.matches("Column::TenantId.eq(").count();
        if count > 0 && !OWN_TENANT_FILTERS.iter().any(|(file, _)| *file == name) {
            hand_written.push(format!("{name}: {count}"));
        }
    }
    assert!(
        hand_written.is_empty(),
        "filter on the tenant with `.in_tenant(msp_id, tenant_id)` (storage/scoping.rs): \
         {hand_written:?}"
    );
}
