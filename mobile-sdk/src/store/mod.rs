//! The encrypted local store: one file per logical entry (a document with its sync state, the
//! outbox, the session, the profiles, a downloaded letter), each sealed under its own random
//! key. The keys live in the keyring file, sealed under a key derived from the host's key
//! material, which the SDK never writes anywhere.
//!
//! File names are random, so the folder says nothing about whose documents it holds. A new
//! entry's key is written to the keyring before its file; shredding an entry destroys its key
//! (keyring written without it) before removing its file, so after a crash at any step a file
//! is either readable under a key in the keyring or unreadable and removed when the store next
//! opens (crypto-shredding). Every write is atomic ([`files::Folder::write`]).

pub mod crypto;
pub mod files;

use crate::error::{Result, SdkError};
use crypto::Key;
use files::{FaultHook, Folder, TEMP_SUFFIX};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub use files::WriteStep;

/// The keyring's file name.
const KEYRING: &str = "keyring";

#[derive(Serialize, Deserialize)]
struct Entry {
    /// The entry's file (random hex).
    file: String,
    /// Its key.
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
}

/// The encrypted store.
pub struct Store {
    folder: Folder,
    keyring_key: Key,
    keys: BTreeMap<String, (String, Key)>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("entries", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir` with the host's key material.
    pub fn open(dir: &Path, host_key: &[u8; 32]) -> Result<Self> {
        Self::open_with_faults(dir, host_key, None)
    }

    /// Like [`open`](Self::open), calling `hook` before every write step (for fault tests).
    pub fn open_with_faults(
        dir: &Path,
        host_key: &[u8; 32],
        hook: Option<FaultHook>,
    ) -> Result<Self> {
        let folder = Folder::open(dir, hook)?;
        let keyring_key = Key::keyring(host_key);
        let mut keys = BTreeMap::new();
        if let Some(sealed) = folder.read(KEYRING)? {
            let plain = keyring_key
                .open(KEYRING, &sealed)
                .map_err(|_| SdkError::storage("the key material does not open this store"))?;
            let entries: BTreeMap<String, Entry> = ciborium::from_reader(plain.as_slice())
                .map_err(|_| SdkError::storage("the keyring is malformed"))?;
            for (name, entry) in entries {
                let key: [u8; 32] = entry
                    .key
                    .as_slice()
                    .try_into()
                    .map_err(|_| SdkError::storage("the keyring is malformed"))?;
                keys.insert(name, (entry.file, Key::from_bytes(key)));
            }
        }
        let store = Self {
            folder,
            keyring_key,
            keys,
            rng: SystemRandom::new(),
        };
        store.sweep()?;
        Ok(store)
    }

    /// Removes what a crash left behind: temporary files, and files whose key was destroyed
    /// (or never written).
    fn sweep(&self) -> Result<()> {
        let owned: std::collections::BTreeSet<&str> =
            self.keys.values().map(|(file, _)| file.as_str()).collect();
        for name in self.folder.list()? {
            let stray =
                name.ends_with(TEMP_SUFFIX) || (name != KEYRING && !owned.contains(name.as_str()));
            if stray {
                self.folder.remove(&name)?;
            }
        }
        Ok(())
    }

    fn save_keyring(&self) -> Result<()> {
        let entries: BTreeMap<&str, Entry> = self
            .keys
            .iter()
            .map(|(name, (file, key))| {
                (
                    name.as_str(),
                    Entry {
                        file: file.clone(),
                        key: key.bytes().to_vec(),
                    },
                )
            })
            .collect();
        let mut plain = Vec::new();
        ciborium::into_writer(&entries, &mut plain).map_err(SdkError::storage)?;
        let sealed = self
            .keyring_key
            .seal(&self.rng, KEYRING, &plain)
            .map_err(SdkError::storage)?;
        self.folder.write(KEYRING, &sealed)?;
        Ok(())
    }

    /// The entry `name`, `None` when there is none.
    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some((file, key)) = self.keys.get(name) else {
            return Ok(None);
        };
        let Some(sealed) = self.folder.read(file)? else {
            return Ok(None);
        };
        key.open(name, &sealed)
            .map(Some)
            .map_err(|_| SdkError::storage("a store file does not authenticate"))
    }

    /// Writes the entry `name` (a new entry gets a new key, written to the keyring first).
    pub fn put(&mut self, name: &str, plain: &[u8]) -> Result<()> {
        if !self.keys.contains_key(name) {
            let key = Key::random(&self.rng).map_err(SdkError::storage)?;
            let mut file = [0u8; 16];
            self.rng
                .fill(&mut file)
                .map_err(|_| SdkError::storage("random"))?;
            self.keys.insert(name.to_owned(), (hex::encode(file), key));
            if let Err(error) = self.save_keyring() {
                self.keys.remove(name);
                return Err(error);
            }
        }
        let Some((file, key)) = self.keys.get(name) else {
            return Err(SdkError::storage("entry vanished"));
        };
        let sealed = key
            .seal(&self.rng, name, plain)
            .map_err(SdkError::storage)?;
        self.folder.write(file, &sealed)?;
        Ok(())
    }

    /// Destroys the entries `names`: their keys first, then their files.
    pub fn shred(&mut self, names: &[String]) -> Result<()> {
        let mut removed = Vec::new();
        for name in names {
            if let Some(entry) = self.keys.remove(name) {
                removed.push((name.clone(), entry));
            }
        }
        if removed.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.save_keyring() {
            for (name, entry) in removed {
                self.keys.insert(name, entry);
            }
            return Err(error);
        }
        for (_, (file, _key)) in removed {
            self.folder.remove(&file)?;
        }
        Ok(())
    }

    /// Destroys every entry whose name starts with `prefix`.
    pub fn shred_prefix(&mut self, prefix: &str) -> Result<()> {
        let names: Vec<String> = self
            .names()
            .filter(|name| name.starts_with(prefix))
            .map(str::to_owned)
            .collect();
        self.shred(&names)
    }

    /// Destroys everything: the keyring (every key at once), then every file.
    pub fn wipe(&mut self) -> Result<()> {
        self.keys.clear();
        self.folder.remove(KEYRING)?;
        for name in self.folder.list()? {
            self.folder.remove(&name)?;
        }
        Ok(())
    }

    /// The names of the entries.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Reads the entry `name` as CBOR.
    pub fn get_cbor<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        match self.get(name)? {
            Some(bytes) => ciborium::from_reader(bytes.as_slice())
                .map(Some)
                .map_err(|_| SdkError::storage("a store entry is malformed")),
            None => Ok(None),
        }
    }

    /// Writes the entry `name` as CBOR.
    pub fn put_cbor<T: Serialize>(&mut self, name: &str, value: &T) -> Result<()> {
        let mut bytes = Vec::new();
        ciborium::into_writer(value, &mut bytes).map_err(SdkError::storage)?;
        self.put(name, &bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn entries_survive_reopening_and_shredding_removes_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = [7u8; 32];
        let mut store = Store::open(dir.path(), &key).unwrap();
        store.put("doc/a", b"Asthma").unwrap();
        store.put("doc/b", b"Eczema").unwrap();
        drop(store);
        let mut store = Store::open(dir.path(), &key).unwrap();
        assert_eq!(store.get("doc/a").unwrap().unwrap(), b"Asthma");
        store.shred(&["doc/a".to_owned()]).unwrap();
        assert_eq!(store.get("doc/a").unwrap(), None);
        // The keyring and the one remaining file.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        assert!(
            Store::open(dir.path(), &[8u8; 32]).is_err(),
            "another key opens nothing"
        );
        store.wipe().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
