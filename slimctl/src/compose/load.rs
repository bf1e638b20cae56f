//! Reading Compose files: each file parsed on its own (a syntax error names its file, line and
//! column), its values interpolated, override files merged over the first as Compose merges
//! them, then the result read into docker-compose-types' model.
use super::interpolate::{self, Vars};
use super::ComposeError;
use docker_compose_types::Compose;
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// Compose files read and merged.
#[derive(Debug)]
pub struct Loaded {
    pub compose: Compose,
    /// The project directory: the first file's. Relative paths (bind mounts, env files) start here.
    pub dir: PathBuf,
    /// The project name: the file's `name:`, else the directory's name.
    pub project: String,
    /// The interpolation variables (the environment over `.env`), for env_file values too.
    pub vars: Vars,
}

/// Sequences an override replaces rather than extends.
const REPLACED: &[&str] = &["command", "entrypoint", "test"];
/// Sequences in `KEY=VALUE` form that merge by key with a mapping.
const KEYED: &[&str] = &["environment", "labels"];

pub fn load(files: &[PathBuf]) -> Result<Loaded, ComposeError> {
    let first = files.first().ok_or_else(|| ComposeError::Invalid("no Compose file given".into()))?;
    let dir = first.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let dir = std::fs::canonicalize(&dir).map_err(|e| ComposeError::Read { path: dir.clone(), source: e })?;
    let vars = variables(&dir)?;
    let mut merged: Option<Value> = None;
    let mut texts = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| ComposeError::Read { path: f.clone(), source: e })?;
        let mut v: Value = serde_yaml::from_str(&text).map_err(|e| located(f, &e))?;
        if !matches!(v, Value::Mapping(_)) {
            return Err(ComposeError::Parse {
                file: f.clone(),
                line: 1,
                column: 1,
                message: "a Compose file is a mapping with `services:` at its top".into(),
            });
        }
        interpolate::value(&mut v, &vars).map_err(|m| ComposeError::Invalid(format!("{}: {m}", f.display())))?;
        match &mut merged {
            None => merged = Some(v),
            Some(base) => merge(base, v, None),
        }
        texts.push((f, text));
    }
    let merged = merged.expect("one file at least");
    let compose: Compose = match serde_yaml::from_value(merged) {
        Ok(c) => c,
        Err(e) => {
            // The merged value has no positions: the file that fails alone names the place.
            for (f, text) in &texts {
                if let Err(e) = serde_yaml::from_str::<Compose>(text) {
                    if e.location().is_some() {
                        return Err(located(f, &e));
                    }
                }
            }
            return Err(ComposeError::Invalid(format!("{}: {e}", first.display())));
        }
    };
    if compose.services.0.is_empty() {
        return Err(ComposeError::Invalid(format!("{}: no services", first.display())));
    }
    let project = compose
        .name
        .clone()
        .unwrap_or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "stack".into()));
    Ok(Loaded { compose, dir, project, vars })
}

fn located(file: &Path, e: &serde_yaml::Error) -> ComposeError {
    let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
    // serde_yaml appends " at line L column C" itself: said once, by us.
    let message = e.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    ComposeError::Parse { file: file.to_path_buf(), line, column, message }
}

/// The process environment over the project's `.env` (which may be absent).
fn variables(dir: &Path) -> Result<Vars, ComposeError> {
    let mut vars = Vars::new();
    let dotenv = dir.join(".env");
    if dotenv.exists() {
        vars.extend(read_env_file(&dotenv)?);
    }
    vars.extend(std::env::vars());
    Ok(vars)
}

/// KEY=VALUE lines of an env file (`.env`, `env_file:`), quotes and comments as Compose reads them.
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, ComposeError> {
    let iter = dotenvy::from_path_iter(path).map_err(|e| env_file_error(path, e))?;
    iter.map(|kv| kv.map_err(|e| env_file_error(path, e))).collect()
}

fn env_file_error(path: &Path, e: dotenvy::Error) -> ComposeError {
    match e {
        dotenvy::Error::Io(source) => ComposeError::Read { path: path.to_path_buf(), source },
        e => ComposeError::Invalid(format!("env file {}: {e}", path.display())),
    }
}

/// Merges an override file's value into the base, as Compose does: mappings by key, sequences
/// appended (without repeats) except those an override replaces, scalars replaced.
fn merge(base: &mut Value, over: Value, key: Option<&str>) {
    let keyed = key.is_some_and(|k| KEYED.contains(&k));
    if keyed && (matches!(base, Value::Sequence(_)) || matches!(over, Value::Sequence(_))) {
        let (mut b, o) = (as_mapping(base), as_mapping(&over));
        for (k, v) in o {
            b.insert(k, v);
        }
        *base = Value::Mapping(b);
        return;
    }
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                let name = k.as_str().map(str::to_owned);
                match b.get_mut(&k) {
                    Some(bv) => merge(bv, v, name.as_deref()),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Sequence(b), Value::Sequence(o)) if !key.is_some_and(|k| REPLACED.contains(&k)) => {
            for v in o {
                if !b.contains(&v) {
                    b.push(v);
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// `[K=V, K]` or `{K: V}` as a mapping.
fn as_mapping(v: &Value) -> Mapping {
    match v {
        Value::Mapping(m) => m.clone(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str())
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (Value::String(k.into()), Value::String(v.into())),
                None => (Value::String(s.into()), Value::Null),
            })
            .collect(),
        _ => Mapping::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_syntax_error_names_file_line_and_column() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "compose.yaml", "services:\n  web:\n    image: [unclosed\n");
        match load(std::slice::from_ref(&f)).unwrap_err() {
            ComposeError::Parse { file, line, column, .. } => {
                assert_eq!(file, f);
                assert!(line >= 3, "line {line}");
                assert!(column > 0);
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn a_wrong_type_is_located_too() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "compose.yaml", "services:\n  web:\n    image: app\n    depends_on: 7\n");
        // An untagged field's error points at the service that holds it.
        let e = load(&[f]).unwrap_err();
        assert!(matches!(&e, ComposeError::Parse { line: 3, message, .. } if message.contains("DependsOn")), "{e}");
    }

    #[test]
    fn dotenv_and_environment_interpolate_and_the_environment_wins() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), ".env", "SLIMCTL_T_TAG=from-dotenv\nSLIMCTL_T_ONLY_FILE=file\n");
        let f = write(
            d.path(),
            "compose.yaml",
            "name: shop\nservices:\n  web:\n    image: app:${SLIMCTL_T_TAG}-${SLIMCTL_T_ONLY_FILE}-${SLIMCTL_T_NONE:-dflt}\n",
        );
        std::env::set_var("SLIMCTL_T_TAG", "from-env");
        let l = load(&[f]).unwrap();
        std::env::remove_var("SLIMCTL_T_TAG");
        let web = l.compose.services.0["web"].as_ref().unwrap();
        assert_eq!(web.image.as_deref(), Some("app:from-env-file-dflt"));
        assert_eq!(l.project, "shop");
    }

    #[test]
    fn override_files_merge_as_compose_merges_them() {
        let d = tempfile::tempdir().unwrap();
        let base = write(
            d.path(),
            "compose.yaml",
            "services:\n  web:\n    image: app:1\n    command: [serve, --fast]\n    ports: [\"80\"]\n    environment: [A=1, B=2]\n",
        );
        let over = write(
            d.path(),
            "override.yaml",
            "services:\n  web:\n    image: app:2\n    command: [serve]\n    ports: [\"81\"]\n    environment: {B: 3, C: 4}\n  db:\n    image: pg\n",
        );
        let l = load(&[base, over]).unwrap();
        let web = l.compose.services.0["web"].as_ref().unwrap();
        assert_eq!(web.image.as_deref(), Some("app:2"));
        assert_eq!(web.command, Some(docker_compose_types::Command::Args(vec!["serve".into()])));
        assert_eq!(web.ports, docker_compose_types::Ports::Short(vec!["80".into(), "81".into()]));
        let env = serde_json::to_value(&web.environment).unwrap();
        assert_eq!(env, serde_json::json!({"A": "1", "B": 3, "C": 4}));
        assert!(l.compose.services.0.contains_key("db"));
    }

    #[test]
    fn a_missing_required_variable_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "compose.yaml", "services:\n  web:\n    image: ${SLIMCTL_T_MISSING:?give the image}\n");
        let e = load(&[f]).unwrap_err().to_string();
        assert!(e.contains("give the image"), "{e}");
    }
}
