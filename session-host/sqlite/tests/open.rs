//! `walkie_sqlite::open` against real files: modes whatever the umask, options, migrations.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use sqlx::migrate::Migrator;

static MIGRATOR: Migrator = sqlx::migrate!("./tests/migrations");

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test timed out")
}

#[tokio::test]
async fn files_are_private_whatever_the_umask() {
    bounded(async {
        // The loosest umask: everything SQLite or create_dir would make is world-writable.
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        let dir = tempfile::tempdir().unwrap();
        // Characters a URL would take for a query or a fragment.
        let db = dir.path().join("state?x=1#y/sub/app.db");
        let pool = walkie_sqlite::open(&db, &MIGRATOR).await.unwrap();
        sqlx::query("INSERT INTO parents (id) VALUES (1)")
            .execute(&pool)
            .await
            .unwrap();
        nix::sys::stat::umask(old);
        assert!(db.is_file(), "the database is where it was asked to be");
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(db.parent().unwrap()), 0o700);
        for side in ["app.db-wal", "app.db-shm"] {
            let p = db.parent().unwrap().join(side);
            assert_eq!(mode(&p), 0o600, "{side}");
        }
        pool.close().await;
    })
    .await
}

#[tokio::test]
async fn loose_existing_files_are_tightened() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        let db = state.join("app.db");
        let pool = walkie_sqlite::open(&db, &MIGRATOR).await.unwrap();
        pool.close().await;
        for p in [db.clone(), state.join("app.db-wal")] {
            if p.exists() {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let pool = walkie_sqlite::open(&db, &MIGRATOR).await.unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&state), 0o700);
        pool.close().await;
    })
    .await
}

#[tokio::test]
async fn wal_foreign_keys_and_migrations_once() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let pool = walkie_sqlite::open(&db, &MIGRATOR).await.unwrap();
        let (journal,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(fk, 1);
        // Foreign keys are enforced, not only declared.
        let orphan = sqlx::query("INSERT INTO items (id, parent, name) VALUES (1, 99, 'x')")
            .execute(&pool)
            .await;
        assert!(orphan.is_err(), "{orphan:?}");
        sqlx::query("INSERT INTO parents (id) VALUES (1)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO items (id, parent, name) VALUES (1, 1, 'kept')")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        // Reopening runs no migration twice and keeps the data.
        let pool = walkie_sqlite::open(&db, &MIGRATOR).await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 2);
        let (name,): (String,) = sqlx::query_as("SELECT name FROM items WHERE id = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(name, "kept");
        pool.close().await;
    })
    .await
}

#[tokio::test]
async fn a_directory_in_the_way_is_a_clear_error() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        std::fs::create_dir(&db).unwrap();
        let e = walkie_sqlite::open(&db, &MIGRATOR).await.unwrap_err();
        assert!(matches!(e, walkie_sqlite::Error::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("app.db"), "{e}");
    })
    .await
}
