//! walkie's own changes to walkie.toml, made with `toml_edit` so the user's comments and
//! layout stay as written: only the one value changes, written through a temporary file and
//! a rename (a crash leaves the old file or the new one, never half of one).

use std::path::Path;

/// Why the file was not changed.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not valid TOML ({message}); fix it, then answer again")]
    Parse {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("`{field}` in {path} is not a {what}; fix it by hand")]
    Shape {
        path: std::path::PathBuf,
        field: String,
        what: &'static str,
    },
    #[error("cannot write {path}: {error}")]
    Write {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("{0:?} is not a domain rule (write pypi.org or *.pythonhosted.org)")]
    Domain(String),
    #[error("there is no sandbox profile {0:?} to extend")]
    Profile(String),
}

/// Adds `domain` to `[sandbox.profiles.PROFILE] allow_domains` of `file` (made when missing;
/// a built-in profile gets a table `base = "PROFILE"` that extends it). Nothing changes when
/// the domain is there already. The result is checked by parsing it as a whole [`Config`]
/// before it replaces the file.
///
/// [`Config`]: crate::Config
pub fn allow_domain(file: &Path, profile: &str, domain: &str) -> Result<(), EditError> {
    let domain = domain.trim().to_ascii_lowercase();
    if domain.is_empty()
        || domain.contains(['/', ':', ' ', '"'])
        || domain.strip_prefix("*.").unwrap_or(&domain).contains('*')
    {
        return Err(EditError::Domain(domain));
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => {
            return Err(EditError::Read {
                path: file.into(),
                error,
            })
        }
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| EditError::Parse {
        path: file.into(),
        message: format!("{e}"),
    })?;
    let shape = |field: &str, what| EditError::Shape {
        path: file.into(),
        field: field.into(),
        what,
    };
    let builtin = walkie_sandbox::Profile::builtin(profile);
    let sandbox = implicit_table(&mut doc, "sandbox").ok_or_else(|| shape("sandbox", "table"))?;
    let profiles =
        sub_table(sandbox, "profiles").ok_or_else(|| shape("sandbox.profiles", "table"))?;
    if !profiles.contains_key(profile) {
        let Some(b) = &builtin else {
            return Err(EditError::Profile(profile.to_string()));
        };
        let mut t = toml_edit::Table::new();
        t["base"] = toml_edit::value(base_name(b.base));
        profiles.insert(profile, toml_edit::Item::Table(t));
    }
    let field = format!("sandbox.profiles.{profile}");
    let table = profiles[profile]
        .as_table_mut()
        .ok_or_else(|| shape(&field, "table"))?;
    if !table.contains_key("allow_domains") {
        table["allow_domains"] = toml_edit::value(toml_edit::Array::new());
    }
    let list = table["allow_domains"]
        .as_array_mut()
        .ok_or_else(|| shape(&format!("{field}.allow_domains"), "list"))?;
    if list.iter().any(|v| v.as_str() == Some(domain.as_str())) {
        return Ok(());
    }
    list.push(domain.as_str());
    let out = doc.to_string();
    crate::Config::from_toml(&out).map_err(|message| EditError::Parse {
        path: file.into(),
        message,
    })?;
    let write = |error| EditError::Write {
        path: file.into(),
        error,
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let tmp = file.with_extension("toml.tmp");
    std::fs::write(&tmp, out).map_err(write)?;
    std::fs::rename(&tmp, file).map_err(write)
}

fn base_name(base: walkie_sandbox::FileBase) -> &'static str {
    match base {
        walkie_sandbox::FileBase::Off => "off",
        walkie_sandbox::FileBase::Workspace => "workspace",
        walkie_sandbox::FileBase::Readonly => "readonly",
    }
}

fn implicit_table<'a>(
    doc: &'a mut toml_edit::DocumentMut,
    key: &str,
) -> Option<&'a mut toml_edit::Table> {
    if !doc.contains_key(key) {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        doc.insert(key, toml_edit::Item::Table(t));
    }
    doc[key].as_table_mut()
}

fn sub_table<'a>(t: &'a mut toml_edit::Table, key: &str) -> Option<&'a mut toml_edit::Table> {
    if !t.contains_key(key) {
        let mut sub = toml_edit::Table::new();
        sub.set_implicit(true);
        t.insert(key, toml_edit::Item::Table(sub));
    }
    t[key].as_table_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_joins_the_profile_and_the_rest_of_the_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("walkie.toml");
        let before = "# my settings\n[sandbox]\nask_timeout_secs = 30 # short\n\n[sandbox.profiles.py]\nbase = \"workspace\"\nallow_domains = [\"pypi.org\"]\n";
        std::fs::write(&file, before).unwrap();
        allow_domain(&file, "workspace", "Files.Example.com").unwrap();
        allow_domain(&file, "py", "*.pythonhosted.org").unwrap();
        allow_domain(&file, "py", "pypi.org").unwrap();
        let after = std::fs::read_to_string(&file).unwrap();
        assert!(after.starts_with("# my settings\n"), "{after}");
        assert!(after.contains("ask_timeout_secs = 30 # short"), "{after}");
        let cfg = crate::Config::from_toml(&after).unwrap();
        cfg.validate().unwrap();
        let ws = cfg.sandbox.profile("workspace").unwrap();
        assert_eq!(ws.base, walkie_sandbox::FileBase::Workspace);
        assert_eq!(ws.allow_domains, ["files.example.com"]);
        assert_eq!(
            cfg.sandbox.profile("py").unwrap().allow_domains,
            ["pypi.org", "*.pythonhosted.org"]
        );
    }

    #[test]
    fn a_missing_file_is_made_and_bad_input_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conf/walkie.toml");
        allow_domain(&file, "readonly", "pypi.org").unwrap();
        let cfg = crate::Config::from_toml(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(
            cfg.sandbox.profile("readonly").unwrap().allow_domains,
            ["pypi.org"]
        );
        assert!(matches!(
            allow_domain(&file, "nosuch", "pypi.org"),
            Err(EditError::Profile(_))
        ));
        assert!(matches!(
            allow_domain(&file, "workspace", "http://x/"),
            Err(EditError::Domain(_))
        ));
        let broken = dir.path().join("broken.toml");
        std::fs::write(&broken, "[sandbox\n").unwrap();
        assert!(matches!(
            allow_domain(&broken, "workspace", "pypi.org"),
            Err(EditError::Parse { .. })
        ));
        assert_eq!(std::fs::read_to_string(&broken).unwrap(), "[sandbox\n");
    }
}
