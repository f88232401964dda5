//! Embeds bot/console/migrations/*.sql into the binary: writes `$OUT_DIR/migrations.rs` with one
//! `(version, description, sql)` entry per file named `NNNN_description.sql`.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    // A new migration file must rebuild the list even when no Rust source changed.
    println!("cargo:rerun-if-changed=migrations");
    // Read at run time, not with env!(): copies of the tree that share one target
    // directory may run a build script compiled for another copy.
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = manifest.join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let mut out =
        String::from("/// Embedded migrations: (version, description, SQL), oldest first.\n");
    out.push_str("pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[\n");
    for path in &files {
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let stem = name.trim_end_matches(".sql");
        let (version, description) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("migration {stem:?} must be named NNNN_description.sql"));
        let version: i64 = version
            .parse()
            .unwrap_or_else(|e| panic!("migration {stem:?}: version {version:?}: {e}"));
        // Relative to the crate being compiled, for the same reason as above.
        let _ = writeln!(
            out,
            "    ({version}, {description:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/migrations/{name}\"))),"
        );
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("migrations.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
}
