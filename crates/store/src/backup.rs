//! `scimbridge backup`: an online, consistent copy of a SQLite database.
//!
//! `VACUUM INTO` copies the database as one read transaction, so it sees a single committed
//! state while the server keeps writing (WAL readers do not block the writer). The copy is
//! written to a new 0600 file beside the destination and then put in place: linked when the
//! destination must not exist (the link fails if it does, even if it appeared meanwhile),
//! renamed over it with `force`. A failed backup never leaves a half-written destination.

use crate::{Store, StoreError};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::path::{Path, PathBuf};

/// Why a backup was not written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database is PostgreSQL (or an in-memory SQLite one): use `pg_dump`.
    #[error("not a SQLite database file")]
    NotSqliteFile,
    /// The destination exists and `force` was not given.
    #[error("{0} exists (use --force to overwrite it)")]
    Exists(PathBuf),
    /// Creating, writing or moving the file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database refused the copy.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    /// Writes a consistent copy of this SQLite database to `dest` (mode 0600) and returns its
    /// size in bytes. Refuses an existing `dest` unless `force`.
    pub async fn backup_sqlite(&self, dest: &Path, force: bool) -> Result<u64, BackupError> {
        if self.backend() != DbBackend::Sqlite || self.direct().is_none() {
            return Err(BackupError::NotSqliteFile);
        }
        if !force && dest.symlink_metadata().is_ok() {
            return Err(BackupError::Exists(dest.to_path_buf()));
        }
        let name = dest
            .file_name()
            .ok_or_else(|| BackupError::Io {
                path: dest.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
            })?
            .to_string_lossy()
            .into_owned();
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let partial = dir.join(format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple()));
        let result = self.backup_into(&partial, dest, force).await;
        // Gone after a successful link or rename already; after a failure, clean up.
        let _ = std::fs::remove_file(&partial);
        result
    }

    async fn backup_into(
        &self,
        partial: &Path,
        dest: &Path,
        force: bool,
    ) -> Result<u64, BackupError> {
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Created empty and 0600 first: `VACUUM INTO` accepts an empty file and keeps
            // its mode, so the copy is never readable by others, not even for a moment.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(partial)
                .map_err(io(partial))?;
        }
        let target = partial.to_string_lossy().into_owned();
        self.db()
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "VACUUM INTO ?1",
                [target.into()],
            ))
            .await
            .map_err(StoreError::Db)?;
        std::fs::File::open(partial)
            .and_then(|f| f.sync_all())
            .map_err(io(partial))?;
        if force {
            std::fs::rename(partial, dest).map_err(io(dest))?;
        } else {
            std::fs::hard_link(partial, dest).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    BackupError::Exists(dest.to_path_buf())
                } else {
                    io(dest)(e)
                }
            })?;
        }
        Ok(std::fs::metadata(dest).map_err(io(dest))?.len())
    }
}
