//! Paths on the simulated disk: absolute, `/`-separated, normalised
//! lexically.
//!
//! `//` and `.` components vanish and `..` removes the component before it,
//! without looking at the namespace (there are no symbolic links, so the
//! only difference from the kernel's walk is that `/file/..` is `/` here
//! where Linux says "not a directory"). A path must start at `/`, must not
//! climb above it and must not contain a NUL byte; a trailing `/` is
//! ignored.

use std::io::{self, ErrorKind};

/// The components of `path` once normalised: `[]` for the root,
/// `["data", "wal.log"]` for `/data//./wal.log`.
///
/// Fails with `InvalidInput`, naming the path, for a relative path, a
/// path climbing above the root and a NUL byte.
pub(super) fn components(path: &str) -> io::Result<Vec<&str>> {
    if !path.starts_with('/') {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("relative path `{path}`: paths on the simulated disk start at `/`"),
        ));
    }
    if path.contains('\0') {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("path {path:?} contains a NUL byte"),
        ));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(io::Error::new(
                        ErrorKind::InvalidInput,
                        format!("path `{path}` climbs above the root directory"),
                    ));
                }
            }
            name => parts.push(name),
        }
    }
    Ok(parts)
}

/// The normalised path of `parts`: `/` for none.
pub(super) fn join(parts: &[&str]) -> String {
    if parts.is_empty() {
        return "/".to_string();
    }
    let mut path = String::new();
    for part in parts {
        path.push('/');
        path.push_str(part);
    }
    path
}

/// The path of the entry `name` in the directory at `dir`.
pub(super) fn child(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}
