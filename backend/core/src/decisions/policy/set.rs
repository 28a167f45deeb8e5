//! Where the policies come from: built in, or a folder.

use std::path::{Path, PathBuf};

use regorus::Engine;

use super::nesting::TooComplex;

/// The policies built into the binary: `(path, source)`.
const BUILTIN: [(&str, &str); 2] = [
    (
        "authority/authority.rego",
        include_str!("../../../../../policies/authority/authority.rego"),
    ),
    (
        "authority/authority_test.rego",
        include_str!("../../../../../policies/authority/authority_test.rego"),
    ),
];

/// Why policies could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the policy folder {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the policy folder {} holds no .rego files", .0.display())]
    Empty(PathBuf),
    #[error("{path} does not compile: {message}")]
    Compile { path: String, message: String },
    #[error(
        "{path} nests brackets deeper than {} levels (line {line}); flatten it into helper rules",
        super::nesting::MAX_NESTING
    )]
    TooDeep { path: String, line: usize },
    #[error(
        "{path} holds too many deeply nested brackets to parse safely (past line {line}); \
         flatten them into helper rules"
    )]
    TooCostly { path: String, line: usize },
}

/// A set of Rego sources: the built-in policies, or those of a folder.
#[derive(Debug, Clone)]
pub struct PolicySet {
    sources: Vec<(String, String)>,
    origin: String,
}

impl PolicySet {
    /// The policies built into the binary.
    #[must_use]
    pub fn builtin() -> Self {
        Self {
            sources: BUILTIN
                .iter()
                .map(|(path, source)| ((*path).to_owned(), (*source).to_owned()))
                .collect(),
            origin: "built-in policies".to_owned(),
        }
    }

    /// Every `.rego` file under `dir`.
    ///
    /// # Errors
    /// When the folder cannot be read or holds no policy.
    pub fn from_dir(dir: &Path) -> Result<Self, PolicyError> {
        let mut sources = Vec::new();
        collect(dir, dir, &mut sources)?;
        if sources.is_empty() {
            return Err(PolicyError::Empty(dir.to_owned()));
        }
        sources.sort();
        Ok(Self {
            sources,
            origin: format!("policies in {}", dir.display()),
        })
    }

    /// One tenant's authority policy, set by an MSP admin: a single Rego module replacing the
    /// deployment's for that tenant.
    #[must_use]
    pub fn tenant_override(source: &str) -> Self {
        Self {
            sources: vec![("tenant/authority.rego".to_owned(), source.to_owned())],
            origin: "the tenant's own authority policy".to_owned(),
        }
    }

    /// The configured policies: the folder if one is set, else the built-in ones.
    ///
    /// # Errors
    /// When the folder cannot be read.
    pub fn load(dir: Option<&Path>) -> Result<Self, PolicyError> {
        match dir {
            Some(dir) => Self::from_dir(dir),
            None => Ok(Self::builtin()),
        }
    }

    /// Where the policies come from, for people to read.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Each policy file: its path within the set and its Rego source.
    #[must_use]
    pub fn sources(&self) -> &[(String, String)] {
        &self.sources
    }

    /// An engine with every policy compiled in. Sources nested deeper than the parser can take
    /// in reasonable time are refused before they are parsed (see [`super::nesting`]).
    pub(crate) fn engine(&self) -> Result<Engine, PolicyError> {
        let mut engine = Engine::new();
        engine.set_strict_builtin_errors(true);
        for (path, source) in &self.sources {
            super::nesting::check(source).map_err(|refused| match refused {
                TooComplex::Deep { line } => PolicyError::TooDeep {
                    path: path.clone(),
                    line,
                },
                TooComplex::Costly { line } => PolicyError::TooCostly {
                    path: path.clone(),
                    line,
                },
            })?;
            engine
                .add_policy(path.clone(), source.clone())
                .map_err(|err| PolicyError::Compile {
                    path: path.clone(),
                    message: err.to_string(),
                })?;
        }
        Ok(engine)
    }
}

fn collect(
    root: &Path,
    dir: &Path,
    sources: &mut Vec<(String, String)>,
) -> Result<(), PolicyError> {
    let read_error = |source| PolicyError::Read {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        if path.is_dir() {
            collect(root, &path, sources)?;
        } else if path.extension().is_some_and(|ext| ext == "rego") {
            let source = std::fs::read_to_string(&path).map_err(|source| PolicyError::Read {
                path: path.clone(),
                source,
            })?;
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            sources.push((relative, source));
        }
    }
    Ok(())
}
