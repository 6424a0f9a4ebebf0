//! The layering of `bach/src`, checked against the sources.
//!
//! `ARCHITECTURE.md` assigns every module of the `bach` crate to a layer
//! (its table between the `layers:begin` and `layers:end` markers). This
//! test reads every source file, collects the modules it imports from
//! (`use crate::…`, `crate::…`, `super::…`, `self::…` and child-module
//! paths; unit-test modules and comments excluded) and fails, naming the
//! file and the import,
//!
//! * when a module imports from a layer above its own,
//! * when modules import each other in a cycle (in any layer; a folder's
//!   `mod.rs` using its own children, which it declares and re-exports, is
//!   not part of a cycle, a child using its parent is),
//! * when a module is in no row of the table.
//!
//! There is no list of exceptions: an import that breaks the table is
//! untied (or the table changed, with its reason in ARCHITECTURE.md).

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

#[test]
fn modules_import_only_from_their_layer_and_below_without_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = Table::read(&root.join("ARCHITECTURE.md"));
    let graph = Graph::read(&root.join("bach/src"));
    let mut problems = Vec::new();

    for module in graph.files.keys() {
        if table.layer(module).is_none() {
            problems.push(format!(
                "module `{module}` ({}) is in no layer of ARCHITECTURE.md: add it to the table",
                graph.files[module].display()
            ));
        }
    }
    for (from, imports) in &graph.imports {
        for (to, example) in imports {
            let (Some(low), Some(high)) = (table.layer(from), table.layer(to)) else {
                continue;
            };
            if high.0 > low.0 {
                problems.push(format!(
                    "{}: `{from}` (layer {} {}) imports `{example}` from `{to}`, a layer above \
                     (layer {} {})",
                    graph.files[from].display(),
                    low.0,
                    low.1,
                    high.0,
                    high.1
                ));
            }
        }
    }
    // Every cycle, each reported once: an edge of a reported cycle is left
    // out of the search for the next.
    let mut seen = BTreeSet::new();
    while let Some(cycle) = graph.cycle(&seen) {
        seen.insert((
            cycle[cycle.len() - 2].clone(),
            cycle[cycle.len() - 1].clone(),
        ));
        let shown: Vec<String> = cycle
            .windows(2)
            .map(|pair| {
                let example = &graph.imports[&pair[0]][&pair[1]];
                format!("{} imports `{example}`", graph.files[&pair[0]].display())
            })
            .collect();
        problems.push(format!(
            "import cycle {}: {}",
            cycle.join(" -> "),
            shown.join("; ")
        ));
    }
    assert!(
        problems.is_empty(),
        "the layering of ARCHITECTURE.md is broken:\n  {}",
        problems.join("\n  ")
    );
}

/// The layer table of ARCHITECTURE.md: module path prefix -> (layer, name).
struct Table {
    rows: Vec<(String, (u32, String))>,
}

impl Table {
    fn read(path: &Path) -> Self {
        let text = fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let begin = text
            .find("<!-- layers:begin -->")
            .expect("ARCHITECTURE.md has a `<!-- layers:begin -->` marker");
        let end = text
            .find("<!-- layers:end -->")
            .expect("ARCHITECTURE.md has a `<!-- layers:end -->` marker");
        let mut rows = Vec::new();
        for line in text[begin..end].lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // | layer | name | modules | ...
            let Some(Ok(layer)) = cells.get(1).map(|c| c.parse::<u32>()) else {
                continue;
            };
            let name = cells[2].to_string();
            for module in cells[3].split('`').skip(1).step_by(2) {
                rows.push((module.to_string(), (layer, name.clone())));
            }
        }
        assert!(
            !rows.is_empty(),
            "the layer table of ARCHITECTURE.md has no rows"
        );
        Table { rows }
    }

    /// The layer of `module`: the row naming it, or else its longest
    /// listed ancestor (`crate` is the crate root).
    fn layer(&self, module: &str) -> Option<(u32, &str)> {
        self.rows
            .iter()
            .filter(|(prefix, _)| {
                prefix == module
                    || prefix == "crate"
                    || module
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            })
            .max_by_key(|(prefix, _)| {
                if prefix == "crate" {
                    0
                } else {
                    prefix.len() + 1
                }
            })
            .filter(|(prefix, _)| prefix != "crate" || module == "crate")
            .map(|(_, (layer, name))| (*layer, name.as_str()))
    }
}

/// Which module imports from which, read from the sources.
struct Graph {
    /// Module path (`net::state`, `crate` for lib.rs) -> its file.
    files: BTreeMap<String, PathBuf>,
    /// from -> to -> one import that makes the edge (for messages).
    imports: BTreeMap<String, BTreeMap<String, String>>,
}

impl Graph {
    fn read(src: &Path) -> Self {
        let mut files = BTreeMap::new();
        collect(src, src, &mut files);
        let mut graph = Graph {
            files,
            imports: BTreeMap::new(),
        };
        let modules: Vec<String> = graph.files.keys().cloned().collect();
        for module in modules {
            let path = graph.files[&module].clone();
            let text = fs::read_to_string(&path).expect("readable source file");
            let code = strip_test_modules(&strip_comments(&text));
            for import in paths(&code) {
                if let Some(target) = graph.resolve(&module, &path, &import) {
                    if target != module {
                        graph
                            .imports
                            .entry(module.clone())
                            .or_default()
                            .entry(target)
                            .or_insert(import);
                    }
                }
            }
        }
        graph
    }

    /// The module an import path names, relative to `module` (in `file`).
    fn resolve(&self, module: &str, file: &Path, import: &str) -> Option<String> {
        let mut segments: Vec<&str> = import.split("::").collect();
        // The module `self` and `super` are relative to: a `mod.rs` or
        // `lib.rs` is its module's folder, another file is a module of its own.
        let mut base: Vec<&str> = if module == "crate" {
            Vec::new()
        } else {
            module.split("::").collect()
        };
        match segments[0] {
            "crate" | "$crate" => {
                base.clear();
                segments.remove(0);
            }
            "self" => {
                segments.remove(0);
            }
            "super" => {
                while segments.first() == Some(&"super") {
                    segments.remove(0);
                    base.pop();
                }
            }
            // A child module named without `self::` (`use socket::UdpSocket`).
            _ => {
                let folder = matches!(
                    file.file_name().and_then(|n| n.to_str()),
                    Some("mod.rs" | "lib.rs")
                );
                if !folder {
                    return None;
                }
            }
        }
        base.extend(segments);
        // The longest prefix that is a module of the crate.
        (0..=base.len()).rev().find_map(|n| {
            let name = if n == 0 {
                "crate".to_string()
            } else {
                base[..n].join("::")
            };
            self.files.contains_key(&name).then_some(name)
        })
    }

    /// An import cycle among modules, ignoring the edges in `skip`.
    fn cycle(&self, skip: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
        // Depth-first search with colours; the first back edge closes a cycle.
        fn visit<'a>(
            graph: &'a Graph,
            skip: &BTreeSet<(String, String)>,
            node: &'a str,
            state: &mut BTreeMap<&'a str, bool>,
            stack: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            state.insert(node, true);
            stack.push(node);
            for next in graph.imports.get(node).into_iter().flat_map(|i| i.keys()) {
                let own_child = node == "crate" || next.starts_with(&format!("{node}::"));
                if own_child || skip.contains(&(node.to_string(), next.clone())) {
                    continue;
                }
                match state.get(next.as_str()) {
                    Some(true) => {
                        let start = stack.iter().position(|m| *m == next).expect("on the stack");
                        let mut cycle: Vec<String> =
                            stack[start..].iter().map(|m| m.to_string()).collect();
                        cycle.push(next.clone());
                        return Some(cycle);
                    }
                    Some(false) => {}
                    None => {
                        if let Some(cycle) = visit(graph, skip, next, state, stack) {
                            return Some(cycle);
                        }
                    }
                }
            }
            stack.pop();
            state.insert(node, false);
            None
        }
        let mut state = BTreeMap::new();
        for module in self.files.keys() {
            if !state.contains_key(module.as_str()) {
                if let Some(cycle) = visit(self, skip, module, &mut state, &mut Vec::new()) {
                    return Some(cycle);
                }
            }
        }
        None
    }
}

/// Every `.rs` file below `dir`, by module path.
fn collect(src: &Path, dir: &Path, files: &mut BTreeMap<String, PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(src, &path, files);
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let relative = path.strip_prefix(src).expect("below src");
        let mut parts: Vec<String> = relative
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
            parts.pop();
        }
        let module = if parts.is_empty() {
            "crate".to_string()
        } else {
            parts.join("::")
        };
        files.insert(module, path);
    }
}

/// The code without comments (line, doc and block comments) and without
/// the contents of string and character literals.
fn strip_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |end| end + 2);
        } else if let Some(skip) = raw_string_len(rest) {
            out.push_str("\"\"");
            i += skip;
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() && rest.as_bytes()[j] != b'"' {
                j += if rest.as_bytes()[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i += (j + 1).min(rest.len());
        } else if let Some(skip) = char_literal_len(rest) {
            out.push_str("' '");
            i += skip;
        } else {
            let c = rest.chars().next().expect("not at the end");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The length of a raw string literal (`r"…"`, `r#"…"#`) at the start.
fn raw_string_len(text: &str) -> Option<usize> {
    let after_r = text.strip_prefix('r').or_else(|| text.strip_prefix("br"))?;
    let hashes = after_r.len() - after_r.trim_start_matches('#').len();
    let body = after_r[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close)?;
    Some(text.len() - body.len() + end + close.len())
}

/// The length of a character literal (`'a'`, `'\n'`, `'{'`) at the start;
/// `None` for a lifetime or label (`'a`, `'static`).
fn char_literal_len(text: &str) -> Option<usize> {
    let rest = text.strip_prefix('\'')?;
    if let Some(escaped) = rest.strip_prefix('\\') {
        let end = escaped.find('\'')?;
        return Some(2 + end + 1);
    }
    let c = rest.chars().next()?;
    rest[c.len_utf8()..]
        .starts_with('\'')
        .then_some(1 + c.len_utf8() + 1)
}

/// The code without `#[cfg(test)] mod … { … }` blocks: unit tests may use
/// any layer.
fn strip_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let item = after.trim_start();
        let is_module = item.starts_with("mod ") || item.starts_with("pub(crate) mod ");
        match (is_module, item.find(['{', ';'])) {
            (true, Some(open)) if item.as_bytes()[open] == b'{' => {
                let mut depth = 0;
                let mut end = item.len();
                for (i, c) in item.char_indices().skip(open) {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &item[end..];
            }
            _ => {
                out.push_str("#[cfg(test)]");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every module path the code names: `crate::…`, `super::…`, `self::…`
/// anywhere, and the paths of `use` trees (`use a::{b, c::d}` names `a::b`
/// and `a::c::d`).
fn paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    let mut i = 0;
    while i < bytes.len() {
        if !ident(bytes[i]) || (i > 0 && (ident(bytes[i - 1]) || bytes[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && ident(bytes[i]) {
            i += 1;
        }
        let word = &code[start..i];
        if word == "use" {
            let end = code[i..].find(';').map_or(code.len(), |e| i + e);
            use_tree("", code[i..end].trim(), &mut found);
            i = end;
        } else if matches!(word, "crate" | "$crate" | "super" | "self")
            && code[i..].starts_with("::")
        {
            let mut end = i;
            while code[end..].starts_with("::") && code[end + 2..].bytes().next().is_some_and(ident)
            {
                end += 2;
                while end < bytes.len() && ident(bytes[end]) {
                    end += 1;
                }
            }
            found.push(code[start..end].to_string());
            i = end;
        }
    }
    found
}

/// Flattens a `use` tree into paths, each prefixed with `prefix`.
fn use_tree(prefix: &str, tree: &str, found: &mut Vec<String>) {
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            format!("{a}::{b}")
        }
    };
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let prefix = join(prefix, head);
        let mut depth = 0;
        let mut item = String::new();
        for c in inner.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    use_tree(&prefix, &item, found);
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        use_tree(&prefix, &item, found);
    } else if !tree.is_empty() {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        let path = path.strip_suffix("::*").unwrap_or(path);
        let full = match path {
            "self" => prefix.to_string(),
            _ => join(prefix, path),
        };
        if !full.is_empty() {
            found.push(full);
        }
    }
}
