//! The namespace: paths to inodes, directories' entries in both views,
//! and how long an inode lives.
//!
//! A directory holds its entries twice: the volatile ones calls see and
//! change, and the durable ones its last sync copied. An inode lives while
//! a volatile name, a durable name or a handle refers to it (a crash can
//! bring a durable name back); its space counts while a volatile name or a
//! handle does.

use super::{
    already_exists, invalid, is_a_directory, not_a_directory, not_a_directory_within, not_found,
    path, usage, DirEntry, Directory, Disk, Ino, Inode, Kind, Metadata, PendingRename, ROOT,
};
use std::io::{self, ErrorKind};

impl Disk {
    /// The inode `path` names. Fails with `InvalidInput` for a bad path,
    /// `NotFound` when a component is missing, `NotADirectory` when one
    /// before the last is a file.
    pub(crate) fn lookup(&self, path: &str) -> io::Result<Ino> {
        let parts = path::components(path)?;
        self.walk(path, &parts)
    }

    /// What `path` names. Fails as [`lookup`](Self::lookup).
    pub(crate) fn metadata(&self, path: &str) -> io::Result<Metadata> {
        Ok(self.metadata_of(self.lookup(path)?))
    }

    /// The entries of the directory at `path`, sorted by name. Fails as
    /// [`lookup`](Self::lookup), and with `NotADirectory` for a file.
    pub(crate) fn read_dir(&self, path: &str) -> io::Result<Vec<DirEntry>> {
        let ino = self.lookup(path)?;
        let Kind::Dir(dir) = &self.inode(ino).kind else {
            return Err(not_a_directory(path));
        };
        Ok(dir
            .entries
            .iter()
            .map(|(name, &ino)| DirEntry {
                name: name.clone(),
                metadata: self.metadata_of(ino),
            })
            .collect())
    }

    /// Creates the directory `path` (not yet durable: its parent must be
    /// synced). Fails with `AlreadyExists` when the name exists, `NotFound`
    /// when the parent does not, and as [`lookup`](Self::lookup).
    pub(crate) fn create_dir(&mut self, path: &str) -> io::Result<()> {
        let parts = path::components(path)?;
        if parts.is_empty() {
            return Err(already_exists(path));
        }
        let (parent, name, existing) = self.locate(path, &parts)?;
        if existing.is_some() {
            return Err(already_exists(path));
        }
        self.link_new(parent, name, Kind::Dir(Directory::default()));
        Ok(())
    }

    /// Creates the directory `path` and its missing ancestors, as
    /// `std::fs::create_dir_all`: `Ok` when it exists already,
    /// `AlreadyExists` when `path` is a file, `NotADirectory` when an
    /// ancestor is.
    pub(crate) fn create_dir_all(&mut self, path: &str) -> io::Result<()> {
        let parts = path::components(path)?;
        let mut at = ROOT;
        for (i, name) in parts.iter().enumerate() {
            let next = match &self.inode(at).kind {
                Kind::Dir(dir) => dir.entries.get(*name).copied(),
                Kind::File(_) => return Err(not_a_directory_within(path, &parts[..i])),
            };
            at = match next {
                Some(ino) => ino,
                None => self.link_new(at, name, Kind::Dir(Directory::default())),
            };
        }
        match self.inode(at).kind {
            Kind::Dir(_) => Ok(()),
            Kind::File(_) => Err(already_exists(path)),
        }
    }

    /// Removes the empty directory `path` (durably once its parent is
    /// synced). Fails with `NotFound`, `NotADirectory` for a file,
    /// `DirectoryNotEmpty`, and `ResourceBusy` for the root.
    pub(crate) fn remove_dir(&mut self, path: &str) -> io::Result<()> {
        let parts = path::components(path)?;
        if parts.is_empty() {
            return Err(io::Error::new(
                ErrorKind::ResourceBusy,
                format!("cannot remove the root directory `{path}`"),
            ));
        }
        let (parent, name, target) = self.locate(path, &parts)?;
        let target = target.ok_or_else(|| not_found(path))?;
        match &self.inode(target).kind {
            Kind::File(_) => return Err(not_a_directory(path)),
            Kind::Dir(dir) if !dir.entries.is_empty() => {
                return Err(io::Error::new(
                    ErrorKind::DirectoryNotEmpty,
                    format!(
                        "directory not empty: `{path}` has {} entries",
                        dir.entries.len()
                    ),
                ))
            }
            Kind::Dir(_) => {}
        }
        self.unlink(parent, name);
        Ok(())
    }

    /// Removes the file name `path` (durably once its directory is synced);
    /// open handles keep the file. Fails with `NotFound`, and
    /// `IsADirectory` for a directory.
    pub(crate) fn remove_file(&mut self, path: &str) -> io::Result<()> {
        let parts = path::components(path)?;
        if parts.is_empty() {
            return Err(is_a_directory(path));
        }
        let (parent, name, target) = self.locate(path, &parts)?;
        let target = target.ok_or_else(|| not_found(path))?;
        if let Kind::Dir(_) = self.inode(target).kind {
            return Err(is_a_directory(path));
        }
        self.unlink(parent, name);
        Ok(())
    }

    /// Renames `from` to `to`, replacing an existing file (or empty
    /// directory, for a directory) at `to`, as `rename(2)`; durable once
    /// both directories are synced. Fails with `NotFound`, `IsADirectory`
    /// (a file onto a directory), `NotADirectory` (a directory onto a
    /// file), `DirectoryNotEmpty`, `InvalidInput` (a directory into
    /// itself), `ResourceBusy` (the root).
    pub(crate) fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        let from_parts = path::components(from)?;
        let to_parts = path::components(to)?;
        if from_parts.is_empty() || to_parts.is_empty() {
            return Err(io::Error::new(
                ErrorKind::ResourceBusy,
                format!("cannot rename the root directory (`{from}` to `{to}`)"),
            ));
        }
        let (from_dir, from_name, moved) = self.locate(from, &from_parts)?;
        let moved = moved.ok_or_else(|| not_found(from))?;
        let (to_dir, to_name, replaced) = self.locate(to, &to_parts)?;
        let moved_is_dir = matches!(self.inode(moved).kind, Kind::Dir(_));
        // The volatile namespace is a tree, so a lexical prefix is a subtree.
        if moved_is_dir && to_parts.len() > from_parts.len() && to_parts.starts_with(&from_parts) {
            return Err(invalid(format!(
                "cannot move the directory `{from}` into itself (`{to}`)"
            )));
        }
        if let Some(replaced) = replaced {
            if replaced == moved {
                return Ok(()); // the same name, or two names of one file
            }
            match (moved_is_dir, &self.inode(replaced).kind) {
                (false, Kind::Dir(_)) => {
                    return Err(io::Error::new(
                        ErrorKind::IsADirectory,
                        format!("cannot rename the file `{from}` over the directory `{to}`"),
                    ))
                }
                (true, Kind::File(_)) => {
                    return Err(io::Error::new(
                        ErrorKind::NotADirectory,
                        format!("cannot rename the directory `{from}` over the file `{to}`"),
                    ))
                }
                (true, Kind::Dir(dir)) if !dir.entries.is_empty() => {
                    return Err(io::Error::new(
                        ErrorKind::DirectoryNotEmpty,
                        format!("cannot rename `{from}` over the non-empty directory `{to}`"),
                    ))
                }
                _ => {}
            }
            if self.config.non_atomic_rename {
                self.renames.push(PendingRename {
                    from_dir,
                    from: from_name.to_owned(),
                    to_dir,
                    to: to_name.to_owned(),
                    moved,
                    replaced,
                });
            }
        }
        self.dir_mut(from_dir).entries.remove(from_name);
        let old = self
            .dir_mut(to_dir)
            .entries
            .insert(to_name.to_owned(), moved);
        if let Some(old) = old {
            self.inode_mut(old).links -= 1;
            self.released(old);
        }
        Ok(())
    }

    /// Makes the entries of the directory at `path` durable. Fails as
    /// [`lookup`](Self::lookup), and with `NotADirectory` for a file.
    #[cfg(test)]
    pub(crate) fn sync_dir(&mut self, path: &str) -> io::Result<()> {
        let ino = self.lookup(path)?;
        if let Kind::File(_) = self.inode(ino).kind {
            return Err(not_a_directory(path));
        }
        self.sync_directory(ino);
        Ok(())
    }

    /// The inode at the end of `parts` (the components of `path`).
    pub(super) fn walk(&self, path: &str, parts: &[&str]) -> io::Result<Ino> {
        let mut at = ROOT;
        for (i, name) in parts.iter().enumerate() {
            let Kind::Dir(dir) = &self.inode(at).kind else {
                return Err(not_a_directory_within(path, &parts[..i]));
            };
            at = *dir.entries.get(*name).ok_or_else(|| not_found(path))?;
        }
        Ok(at)
    }

    /// The directory holding the last of `parts` (not empty), that name,
    /// and what it names if anything.
    pub(super) fn locate<'p>(
        &self,
        path: &str,
        parts: &[&'p str],
    ) -> io::Result<(Ino, &'p str, Option<Ino>)> {
        let (name, above) = parts.split_last().expect("a path below the root");
        let parent = self.walk(path, above)?;
        let Kind::Dir(dir) = &self.inode(parent).kind else {
            return Err(not_a_directory_within(path, above));
        };
        Ok((parent, name, dir.entries.get(*name).copied()))
    }

    /// A new inode named `name` in the directory `dir`.
    pub(super) fn link_new(&mut self, dir: Ino, name: &str, kind: Kind) -> Ino {
        let ino = Ino(self.next_ino);
        self.next_ino += 1;
        self.inodes.insert(
            ino,
            Inode {
                links: 1,
                durable_links: 0,
                handles: 0,
                kind,
            },
        );
        self.dir_mut(dir).entries.insert(name.to_owned(), ino);
        ino
    }

    /// Removes the volatile entry `name` of `dir`.
    fn unlink(&mut self, dir: Ino, name: &str) {
        let ino = self
            .dir_mut(dir)
            .entries
            .remove(name)
            .expect("an existing entry");
        self.inode_mut(ino).links -= 1;
        self.released(ino);
    }

    /// After a volatile name or a handle of `ino` went: once neither is
    /// left its space is free, and once no durable name is left either,
    /// the inode goes.
    pub(super) fn released(&mut self, ino: Ino) {
        let inode = self.inode(ino);
        if inode.links + inode.handles > 0 {
            return;
        }
        let space = match &inode.kind {
            Kind::File(file) => usage(file.len(), self.config.sector_size),
            Kind::Dir(_) => 0,
        };
        let durable = inode.durable_links > 0;
        self.used -= space;
        if !durable {
            self.forget(ino);
        }
    }

    /// Drops an inode nothing refers to, and with a directory its durable
    /// entries (its volatile ones are empty: only an empty directory loses
    /// its last name), which may leave more inodes unreferenced.
    fn forget(&mut self, ino: Ino) {
        let mut unreferenced = vec![ino];
        while let Some(ino) = unreferenced.pop() {
            let inode = self.inodes.remove(&ino).expect("a live inode");
            if let Kind::Dir(dir) = inode.kind {
                debug_assert!(
                    dir.entries.is_empty(),
                    "{ino} lost its name while not empty"
                );
                for child in dir.durable.into_values() {
                    let child_inode = self.inode_mut(child);
                    child_inode.durable_links -= 1;
                    if child_inode.links + child_inode.handles + child_inode.durable_links == 0 {
                        unreferenced.push(child);
                    }
                }
            }
        }
    }

    /// The directory's entries become its durable entries.
    pub(super) fn sync_directory(&mut self, ino: Ino) {
        let dir = self.dir_mut(ino);
        let snapshot = dir.entries.clone();
        let old = std::mem::replace(&mut dir.durable, snapshot);
        let kept: Vec<Ino> = dir.durable.values().copied().collect();
        for child in kept {
            self.inode_mut(child).durable_links += 1;
        }
        for child in old.into_values() {
            let child_inode = self.inode_mut(child);
            child_inode.durable_links -= 1;
            if child_inode.links + child_inode.handles + child_inode.durable_links == 0 {
                self.forget(child);
            }
        }
        self.renames.retain(|rename| rename.to_dir != ino);
    }
}
