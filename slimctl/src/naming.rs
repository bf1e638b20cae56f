//! Names of images: the slim image's default name, like SlimToolkit's (`<repo>.slim:<tag>`),
//! and the check of a name the user gives for it.

use oci_spec::distribution::Reference;

/// A name for the slim image as `docker tag` takes it: checked against the reference grammar
/// before anything runs (the engine would refuse it only at the very end), and given `:latest`
/// when it has no tag, as `docker tag` does.
pub fn output_tag(name: &str) -> Result<String, String> {
    let reference: Reference = name
        .parse()
        .map_err(|e| format!("--tag {name:?} is not a valid image name ({e}); use NAME[:TAG], lowercase"))?;
    if reference.digest().is_some() {
        return Err(format!("--tag {name:?}: a tag names an image by NAME[:TAG], not by digest"));
    }
    let has_tag = name.rsplit('/').next().is_some_and(|last| last.contains(':'));
    Ok(if has_tag { name.to_owned() } else { format!("{name}:latest") })
}

/// Splits `registry:5000/ns/app:1.2@sha256:…` into (`registry:5000/ns/app`, `1.2`).
pub fn split_reference(reference: &str) -> (String, String) {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_slash..].rfind(':') {
        Some(i) => (without_digest[..last_slash + i].to_owned(), without_digest[last_slash + i + 1..].to_owned()),
        None => (without_digest.to_owned(), "latest".to_owned()),
    }
}

fn looks_like_id(reference: &str) -> bool {
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    hex.len() >= 12 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// The default tag for the slim image of `reference` (an engine name or id), given the tags the
/// image carries.
pub fn slim_tag(reference: &str, repo_tags: &[String]) -> String {
    let named = if looks_like_id(reference) {
        match repo_tags.iter().find(|t| !t.contains("<none>")) {
            Some(t) => t.clone(),
            None => {
                let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
                return format!("slimctl-{}.slim:latest", &hex[..12]);
            }
        }
    } else {
        reference.to_owned()
    };
    let (repo, tag) = split_reference(&named);
    format!("{}.slim:{tag}", repo.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_get_latest_and_bad_ones_are_refused() {
        assert_eq!(output_tag("par-a").unwrap(), "par-a:latest");
        assert_eq!(output_tag("team/app:v2").unwrap(), "team/app:v2");
        assert_eq!(output_tag("localhost:5000/app").unwrap(), "localhost:5000/app:latest");
        for bad in ["Par-A", "app:", "app:-x", "a b", "", "app@sha256:0123"] {
            let err = output_tag(bad).unwrap_err();
            assert!(err.contains("--tag"), "{bad}: {err}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(slim_tag("app", &[]), "app.slim:latest");
        assert_eq!(slim_tag("app:1.2", &[]), "app.slim:1.2");
        assert_eq!(slim_tag("localhost:5000/team/app:v3", &[]), "localhost:5000/team/app.slim:v3");
        assert_eq!(slim_tag("app@sha256:abcd", &[]), "app.slim:latest");
        assert_eq!(slim_tag("0123456789abcdef", &["web:2".into()]), "web.slim:2");
        assert_eq!(slim_tag("sha256:0123456789abcdef0000", &[]), "slimctl-0123456789ab.slim:latest");
    }
}
