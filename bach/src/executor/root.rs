//! Which future is a task's whole body.
//!
//! Wrappers such as `Grouped` behave differently when they *are* the task
//! (`.group("a").spawn()` moves the task itself to node `a`) than when they
//! are awaited inside one. Before each poll the task cell records the
//! address and type name of its future; a wrapper recognises itself by both
//! (an address alone is ambiguous: a future's first field shares it) and
//! hands the mark on to the future it wraps.

use std::cell::Cell;

/// Identity of the future at the root of the task being polled.
#[derive(Clone, Copy)]
pub(crate) struct Root {
    pub addr: *const (),
    pub type_name: &'static str,
}

impl Root {
    pub(crate) const NONE: Root = Root {
        addr: std::ptr::null(),
        type_name: "",
    };
}

/// If the future at `this_addr` of type `W` is the task's root, passes the
/// mark to its inner future (`inner_addr`, `inner_type`) and returns `true`.
#[inline]
pub(crate) fn take<W>(
    root_cell: &Cell<Root>,
    this_addr: *const (),
    inner_addr: *const (),
    inner_type: &'static str,
) -> bool {
    let root = root_cell.get();
    if root.addr != this_addr {
        return false;
    }
    let name = std::any::type_name::<W>();
    // The same type's name is normally the same static string: compare the
    // pointers first and the text only when they differ.
    if !(std::ptr::eq(root.type_name, name) || root.type_name == name) {
        return false;
    }
    root_cell.set(Root {
        addr: inner_addr,
        type_name: inner_type,
    });
    true
}
