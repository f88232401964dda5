//! Embeds bot/migrations/*.sql into the binary: writes `$OUT_DIR/migrations.rs` with one
//! `(version, description, sql)` entry per file named `NNNN_description.sql`.

use std::fmt::Write;
use std::path::Path;

fn main() {
    // A new migration file must rebuild the list even when no Rust source changed.
    println!("cargo:rerun-if-changed=migrations");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
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
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let (version, description) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("migration {stem:?} must be named NNNN_description.sql"));
        let version: i64 = version
            .parse()
            .unwrap_or_else(|e| panic!("migration {stem:?}: version {version:?}: {e}"));
        let _ = writeln!(
            out,
            "    ({version}, {description:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("migrations.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
}
