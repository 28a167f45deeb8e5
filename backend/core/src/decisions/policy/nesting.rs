//! Bounds on how much work parsing a Rego source takes, checked before it is parsed.
//!
//! The Rego parser tries a comprehension before an array, set or object and parses the
//! bracket's contents again when that fails, so parsing time doubles with every level of
//! nesting (a 70-byte policy nested 30 deep would parse for days). Two bounds keep it small,
//! both checked in one linear pass over the text:
//!
//! - no bracket nests deeper than [`MAX_NESTING`];
//! - the parse work — every opening bracket counts 2^(its depth − 1), which is how often the
//!   parser may read it — stays within [`MAX_PARSE_WORK`] (the worst sources within it, four
//!   objects nested twelve deep, parse in about 1.4 s of one core in a debug build, far less
//!   optimized; policies are parsed off the request threads and one at a time). A real policy uses a small part of either: the built-in authority policy
//!   nests 6 deep and its tests, 11 KiB, use 2,297 of the work.

/// The deepest nesting of `(`, `[` and `{` a policy may use.
pub const MAX_NESTING: usize = 12;

/// The most parse work (see the module documentation) one source may take.
pub const MAX_PARSE_WORK: u64 = 1 << 14;

/// Why a source is refused before it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooComplex {
    /// It nests deeper than [`MAX_NESTING`]; the 1-based line of the bracket that goes past.
    Deep { line: usize },
    /// Its parse work exceeds [`MAX_PARSE_WORK`]; the line where it does.
    Costly { line: usize },
}

/// Checks the bracket nesting and parse work of a Rego source, skipping strings, raw strings
/// and comments.
///
/// # Errors
/// [`TooComplex`] naming the line where the source first goes past a bound.
pub fn check(source: &str) -> Result<(), TooComplex> {
    let mut depth = 0_usize;
    let mut work = 0_u64;
    let mut line = 1;
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '#' => {
                // A comment runs to the end of its line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        '\n' => {
                            line += 1;
                            break;
                        }
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
            }
            '`' => {
                for c in chars.by_ref() {
                    match c {
                        '\n' => line += 1,
                        '`' => break,
                        _ => {}
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(TooComplex::Deep { line });
                }
                work += 1 << (depth - 1);
                if work > MAX_PARSE_WORK {
                    return Err(TooComplex::Costly { line });
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!(
            "package steward.authority\n\nx := {}1{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        )
    }

    #[test]
    fn nesting_up_to_the_bound_is_accepted() {
        assert_eq!(check(&nested(MAX_NESTING)), Ok(()));
    }

    #[test]
    fn nesting_past_the_bound_is_refused_with_its_line() {
        assert_eq!(
            check(&nested(MAX_NESTING + 1)),
            Err(TooComplex::Deep { line: 3 })
        );
        let mixed = format!("package p\n\n\ny := {}", "({[".repeat(5));
        assert_eq!(check(&mixed), Err(TooComplex::Deep { line: 4 }));
    }

    #[test]
    fn many_deep_expressions_are_refused_for_their_total_work() {
        // Each uses 2^12 − 1 of the 2^14: four fit, the fifth does not.
        let line = format!("x := {}1{}\n", "[".repeat(12), "]".repeat(12));
        let four = format!("package p\n{}", line.repeat(4));
        assert_eq!(check(&four), Ok(()));
        let five = format!("package p\n{}", line.repeat(5));
        assert_eq!(check(&five), Err(TooComplex::Costly { line: 6 }));
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let deep = "[".repeat(40);
        let source = format!(
            "package p\n# {deep}\nx := \"{deep}\\\"{deep}\"\ny := `{deep}\n{deep}`\nz := [1]\n"
        );
        assert_eq!(check(&source), Ok(()));
    }

    #[test]
    fn the_built_in_policies_are_well_within_the_bound() {
        for (path, source) in super::super::PolicySet::builtin().sources() {
            assert_eq!(check(source), Ok(()), "{path}");
        }
    }
}
