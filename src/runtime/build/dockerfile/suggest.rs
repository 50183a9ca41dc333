//! "did you mean ...?" hints, as BuildKit's `util/suggest`: the closest option within an edit
//! distance of 2 (strsim's Levenshtein, already in the tree through clap).

/// The closest option to `value`, or None if `value` is one of them or none is close.
pub(super) fn closest<'a>(
    value: &str,
    options: impl IntoIterator<Item = &'a str>,
    case_sensitive: bool,
) -> Option<String> {
    let fold = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let value_folded = fold(value);
    let mut best: Option<(usize, &str)> = None;
    for option in options {
        let option_folded = fold(option);
        if option_folded == value_folded {
            return None;
        }
        let distance = strsim::levenshtein(&value_folded, &option_folded);
        if distance < best.map_or(3, |(d, _)| d) {
            best = Some((distance, option));
        }
    }
    let (_, option) = best?;
    Some(if case_sensitive {
        option.to_string()
    } else {
        match_case(option, value)
    })
}

/// Writes `option` in the case `original` was written in, when that is all lower or upper.
fn match_case(option: &str, original: &str) -> String {
    if original == original.to_lowercase() {
        option.to_lowercase()
    } else if original == original.to_uppercase() {
        option.to_uppercase()
    } else {
        option.to_string()
    }
}

/// `message`, with ` (did you mean X?)` when an option is close to `value`.
pub(super) fn with_hint<'a>(
    message: String,
    value: &str,
    options: impl IntoIterator<Item = &'a str>,
    case_sensitive: bool,
) -> String {
    match closest(value, options, case_sensitive) {
        Some(hint) => format!("{message} (did you mean {hint}?)"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_close_options_in_the_callers_case() {
        let options = ["RUN", "COPY", "WORKDIR"];
        assert_eq!(closest("RUNN", options, false).as_deref(), Some("RUN"));
        assert_eq!(
            closest("wrokdir", options, false).as_deref(),
            Some("workdir")
        );
        assert_eq!(closest("run", options, false), None);
        assert_eq!(closest("XYZZY", options, false), None);
        assert_eq!(
            closest("chwon", ["chown", "chmod"], true).as_deref(),
            Some("chown")
        );
    }
}
