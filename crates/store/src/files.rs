//! Permissions of the files the embedded default keeps on disk: the SQLite database (with its
//! `-wal` and `-shm` files) and the master key hold every tenant's data and secrets, so only
//! the service's own user may read them.
//!
//! Folders we create are `0700`; the database file is created `0600` before SQLite opens it
//! (SQLite gives its `-wal` and `-shm` files the mode of the database file), and existing
//! files that are more open are narrowed to `0600` at every start. A folder that already
//! existed is left as the operator made it. Elsewhere than Unix nothing is changed.

use crate::{Result, StoreError};
use std::path::Path;

/// Creates `dir` and any missing parents, each new one readable by the owner only.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        StoreError::InvalidData(format!("cannot create folder {}: {e}", dir.display()))
    })
}

/// Makes sure the SQLite database at `db` and its `-wal` / `-shm` files exist only with mode
/// `0600`: creates an empty database file if there is none (SQLite takes an empty file as a
/// new database) and narrows the mode of those that are more open.
pub(crate) fn secure_sqlite_files(db: &Path) -> Result<()> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        StoreError::InvalidData(format!("cannot {what} {}: {e}", p.display()))
    };
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        create.mode(0o600);
    }
    create.open(db).map_err(|e| io("create", db, e))?;
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = Path::new(&name);
        match std::fs::metadata(path) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| io("restrict the permissions of", path, e))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read the permissions of", path, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_folders_and_files_are_private_and_open_ones_are_narrowed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("x.db");
        secure_sqlite_files(&db).unwrap();
        assert_eq!(mode(&db), 0o600);

        let wal = dir.join("x.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o664)).unwrap();
        std::fs::write(&db, b"kept").unwrap();
        secure_sqlite_files(&db).unwrap();
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
        assert_eq!(
            std::fs::read(&db).unwrap(),
            b"kept",
            "an existing file is not truncated"
        );
    }
}
