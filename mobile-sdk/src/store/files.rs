//! Atomic file writes in the store folder (temporary file, fsync, rename, fsync of the
//! folder) and removals, each step announced to an optional fault hook first so tests can stop
//! the store at any step, as a killed process would stop.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One step of a write or removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStep {
    /// Creating the temporary file.
    CreateTemp,
    /// Writing its bytes (a fault here leaves half of them written: a torn write).
    WriteTemp,
    /// Flushing it to the disk.
    SyncTemp,
    /// Renaming it over the file.
    Rename,
    /// Flushing the folder, so the rename is durable.
    SyncDir,
    /// Removing a file.
    Remove,
}

/// Called before every step; an error stops the operation there, as a crash would.
pub type FaultHook = Arc<dyn Fn(WriteStep) -> std::io::Result<()> + Send + Sync>;

/// The store folder and its fault hook.
#[derive(Clone)]
pub struct Folder {
    dir: PathBuf,
    hook: Option<FaultHook>,
}

/// Suffix of temporary files (removed when the store opens).
pub const TEMP_SUFFIX: &str = ".tmp";

impl Folder {
    /// The folder `dir` (created owner-only if missing).
    pub fn open(dir: &Path, hook: Option<FaultHook>) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            hook,
        })
    }

    fn step(&self, step: WriteStep) -> std::io::Result<()> {
        match &self.hook {
            Some(hook) => hook(step),
            None => Ok(()),
        }
    }

    /// The path of `file`.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Reads `file`, `None` when it does not exist.
    pub fn read(&self, file: &str) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(file)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces `file` with `bytes` atomically: readers see the old bytes or the new, never a
    /// mixture, whatever step a crash interrupts.
    pub fn write(&self, file: &str, bytes: &[u8]) -> std::io::Result<()> {
        let temp = self.path(&format!("{file}{TEMP_SUFFIX}"));
        self.step(WriteStep::CreateTemp)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut out = options.open(&temp)?;
        if let Err(fault) = self.step(WriteStep::WriteTemp) {
            let _ = out.write_all(&bytes[..bytes.len() / 2]);
            return Err(fault);
        }
        out.write_all(bytes)?;
        self.step(WriteStep::SyncTemp)?;
        out.sync_all()?;
        drop(out);
        self.step(WriteStep::Rename)?;
        std::fs::rename(&temp, self.path(file))?;
        self.step(WriteStep::SyncDir)?;
        self.sync_dir()
    }

    /// Removes `file` (nothing happens when it does not exist).
    pub fn remove(&self, file: &str) -> std::io::Result<()> {
        self.step(WriteStep::Remove)?;
        match std::fs::remove_file(self.path(file)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        self.step(WriteStep::SyncDir)?;
        self.sync_dir()
    }

    /// The names of the files in the folder.
    pub fn list(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file()
                && let Some(name) = entry.file_name().to_str()
            {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    fn sync_dir(&self) -> std::io::Result<()> {
        #[cfg(unix)]
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}
