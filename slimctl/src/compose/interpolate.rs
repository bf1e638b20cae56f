//! Variable interpolation as Compose does it, on every string value of the file (never on keys):
//! `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//! `${VAR:?message}` / `${VAR?message}` (required), `${VAR:+other}` / `${VAR+other}`
//! (replacement when set), `$$` for a literal `$`. Defaults may themselves hold variables.
use serde_yaml::Value;
use std::collections::HashMap;

/// Where variables come from: the process environment over the project's `.env`.
pub type Vars = HashMap<String, String>;

/// Interpolates every string in `value` (recursively), keys excepted.
pub fn value(value: &mut Value, vars: &Vars) -> Result<(), String> {
    match value {
        Value::String(s) => *s = text(s, vars)?,
        Value::Sequence(items) => {
            for v in items {
                self::value(v, vars)?;
            }
        }
        Value::Mapping(map) => {
            for (_, v) in map.iter_mut() {
                self::value(v, vars)?;
            }
        }
        Value::Tagged(t) => self::value(&mut t.value, vars)?,
        _ => {}
    }
    Ok(())
}

/// Interpolates one string.
pub fn text(s: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = closing_brace(r).ok_or_else(|| format!("{s:?}: `${{` without its closing `}}`"))?;
            out.push_str(&braced(&r[..end], vars)?);
            rest = &r[end + 1..];
        } else {
            let n = name_len(after);
            if n == 0 {
                // A lone `$` (before a space, a digit, the end) stays as written.
                out.push('$');
            } else {
                out.push_str(vars.get(&after[..n]).map(String::as_str).unwrap_or(""));
            }
            rest = &after[n..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The length of the variable name at the start of `s`.
fn name_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.first().is_none_or(|c| !(c.is_ascii_alphabetic() || *c == b'_')) {
        return 0;
    }
    b.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count()
}

/// The index of the `}` closing a `${`, nested `${...}` in defaults included.
fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The inside of `${...}`.
fn braced(inner: &str, vars: &Vars) -> Result<String, String> {
    let n = name_len(inner);
    if n == 0 {
        return Err(format!("`${{{inner}}}`: not a variable name"));
    }
    let (name, op) = inner.split_at(n);
    let value = vars.get(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    let word = |w: &str| text(w, vars);
    match op {
        "" => Ok(value.cloned().unwrap_or_default()),
        _ if op.starts_with(":-") => {
            if set_nonempty {
                Ok(value.cloned().unwrap_or_default())
            } else {
                word(&op[2..])
            }
        }
        _ if op.starts_with('-') => value.cloned().map_or_else(|| word(&op[1..]), Ok),
        _ if op.starts_with(":?") || op.starts_with('?') => {
            let (strict, msg) = if let Some(m) = op.strip_prefix(":?") { (true, m) } else { (false, &op[1..]) };
            match value {
                Some(v) if !strict || !v.is_empty() => Ok(v.clone()),
                _ => Err(format!(
                    "required variable {name} is {}: {}",
                    if value.is_some() { "empty" } else { "not set" },
                    if msg.is_empty() { "set it in the environment or .env".to_owned() } else { word(msg)? }
                )),
            }
        }
        _ if op.starts_with(":+") => {
            if set_nonempty {
                word(&op[2..])
            } else {
                Ok(String::new())
            }
        }
        _ if op.starts_with('+') => {
            if value.is_some() {
                word(&op[1..])
            } else {
                Ok(String::new())
            }
        }
        _ => Err(format!("`${{{inner}}}`: unknown operator after {name} (use :- - :? ? :+ +)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("TAG", "1.2"), ("EMPTY", ""), ("HOST", "db")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn plain_and_braced_variables() {
        let v = vars();
        assert_eq!(text("app:$TAG", &v).unwrap(), "app:1.2");
        assert_eq!(text("app:${TAG}-x", &v).unwrap(), "app:1.2-x");
        assert_eq!(text("${UNSET}", &v).unwrap(), "");
        assert_eq!(text("cost: $$5 and $ alone", &v).unwrap(), "cost: $5 and $ alone");
    }

    #[test]
    fn defaults_alternatives_and_nesting() {
        let v = vars();
        assert_eq!(text("${UNSET:-fallback}", &v).unwrap(), "fallback");
        assert_eq!(text("${EMPTY:-fallback}", &v).unwrap(), "fallback");
        assert_eq!(text("${EMPTY-fallback}", &v).unwrap(), "");
        assert_eq!(text("${UNSET-fallback}", &v).unwrap(), "fallback");
        assert_eq!(text("${UNSET:-${HOST}:5432}", &v).unwrap(), "db:5432");
        assert_eq!(text("${HOST:+on-$HOST}", &v).unwrap(), "on-db");
        assert_eq!(text("${UNSET:+x}", &v).unwrap(), "");
        assert_eq!(text("${EMPTY+set}", &v).unwrap(), "set");
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        let v = vars();
        assert_eq!(text("${TAG:?need a tag}", &v).unwrap(), "1.2");
        let e = text("${UNSET:?need a tag}", &v).unwrap_err();
        assert!(e.contains("UNSET is not set: need a tag"), "{e}");
        assert!(text("${EMPTY:?x}", &v).unwrap_err().contains("EMPTY is empty"));
        assert_eq!(text("${EMPTY?x}", &v).unwrap(), "");
    }

    #[test]
    fn malformed_expressions_are_errors() {
        let v = vars();
        assert!(text("${TAG", &v).unwrap_err().contains("closing"));
        assert!(text("${1X}", &v).unwrap_err().contains("not a variable name"));
        assert!(text("${TAG%x}", &v).unwrap_err().contains("unknown operator"));
    }

    #[test]
    fn values_are_interpolated_keys_are_not() {
        let mut y: Value =
            serde_yaml::from_str("services:\n  $HOST:\n    image: app:${TAG}\n    ports: [\"${P:-80}:80\"]\n").unwrap();
        value(&mut y, &vars()).unwrap();
        assert_eq!(y["services"]["$HOST"]["image"], Value::String("app:1.2".into()));
        assert_eq!(y["services"]["$HOST"]["ports"][0], Value::String("80:80".into()));
    }
}
