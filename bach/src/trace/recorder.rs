//! Where trace events are kept: a bounded ring of compact records, plus an
//! optional live sink (stderr or a JSON-lines file) chosen by `BACH_TRACE`.

use super::packet::RawPacket;
use crate::{executor::TaskId, group::table::GroupId};
use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    fs::File,
    io::{self, BufWriter, Write},
    rc::Rc,
};

/// Events kept by default: enough for the interesting end of most runs,
/// bounded so that memory stays flat however long a run is.
pub(crate) const DEFAULT_CAPACITY: usize = 65_536;

/// A compact trace record: ids instead of names.
#[derive(Clone, Debug)]
pub(crate) struct RawEvent {
    pub(crate) time: u64,
    /// `None` for packets: their node follows from the fate.
    pub(crate) node: Option<GroupId>,
    /// The task (names live on its `Spawn` event, to keep records small).
    pub(crate) task: Option<TaskId>,
    pub(crate) kind: RawKind,
}

#[derive(Clone, Debug)]
pub(crate) enum RawKind {
    /// Carries the task's name, if it has one.
    Spawn(Option<Rc<str>>),
    Complete,
    Cancel,
    Panic(Rc<str>),
    TimerSet(u64),
    TimerFire,
    TimerCancel,
    Packet(RawPacket),
    NodeCrash,
    NodeRestart,
    Fault(Rc<str>),
    Note(Rc<str>),
    /// A process-level line (`client --> server  PING {..}`).
    Process(Rc<str>),
    /// Exploration picked this task among this many contenders.
    Scheduled(u32),
}

/// Where events go as they happen.
pub(crate) enum Sink {
    Stderr,
    Jsonl(BufWriter<File>),
}

pub(crate) struct Recorder {
    enabled: Cell<bool>,
    capacity: Cell<usize>,
    events: RefCell<VecDeque<RawEvent>>,
    overwritten: Cell<u64>,
    sink: RefCell<Option<Sink>>,
    /// Whether `sink` is set (checked on every event, so not a `RefCell`).
    sinking: Cell<bool>,
    /// Where the next event goes once the ring is full (the oldest one).
    head: Cell<usize>,
    /// Events recorded but not yet printed to the sink.
    unprinted: RefCell<Vec<RawEvent>>,
    /// The task being polled, for events recorded deep inside it.
    current: Cell<Option<TaskId>>,
    /// Names of live named tasks, for printing events as they happen.
    live_names: RefCell<std::collections::HashMap<TaskId, Rc<str>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            enabled: Cell::new(false),
            capacity: Cell::new(DEFAULT_CAPACITY),
            events: RefCell::new(VecDeque::new()),
            overwritten: Cell::new(0),
            sink: RefCell::new(None),
            sinking: Cell::new(false),
            head: Cell::new(0),
            unprinted: RefCell::new(Vec::new()),
            current: Cell::new(None),
            live_names: RefCell::new(std::collections::HashMap::new()),
        }
    }
}

impl Recorder {
    /// Whether events are being recorded (the hot-path check).
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.get()
    }

    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.set(on);
    }

    pub(crate) fn set_capacity(&self, capacity: usize) {
        let capacity = capacity.max(1);
        let mut events = self.events.borrow_mut();
        events.rotate_left(self.head.get());
        self.head.set(0);
        while events.len() > capacity {
            events.pop_front();
            self.overwritten.set(self.overwritten.get() + 1);
        }
        self.capacity.set(capacity);
    }

    #[inline]
    pub(crate) fn push(&self, event: RawEvent) {
        if self.sinking.get() {
            self.unprinted.borrow_mut().push(event.clone());
        }
        let mut events = self.events.borrow_mut();
        if events.len() < self.capacity.get() {
            events.push_back(event);
            return;
        }
        // Full: overwrite the oldest in place (no shifting, no growth).
        let head = self.head.get();
        events[head] = event;
        self.head.set(if head + 1 == events.len() {
            0
        } else {
            head + 1
        });
        self.overwritten.set(self.overwritten.get() + 1);
    }

    /// Records a packet fate in the current task's context.
    pub(crate) fn record_packet(&self, packet: RawPacket) {
        self.push(RawEvent {
            time: packet.time,
            node: None,
            task: self.current(),
            kind: RawKind::Packet(packet),
        });
    }

    #[inline]
    pub(crate) fn set_current(&self, task: Option<TaskId>) {
        self.current.set(task);
    }

    #[inline]
    pub(crate) fn current(&self) -> Option<TaskId> {
        self.current.get()
    }

    /// The name of a live task, while printing events as they happen.
    pub(crate) fn live_name(&self, id: TaskId) -> Option<Rc<str>> {
        self.live_names.borrow().get(&id).cloned()
    }

    /// Tracks task names for the live sink (bounded by live tasks).
    pub(crate) fn note_name(&self, raw: &RawEvent) {
        if let (Some(id), RawKind::Spawn(Some(name))) = (raw.task, &raw.kind) {
            self.live_names.borrow_mut().insert(id, name.clone());
        }
    }

    pub(crate) fn forget_name(&self, raw: &RawEvent) {
        if let (Some(id), RawKind::Complete | RawKind::Cancel | RawKind::Panic(_)) =
            (raw.task, &raw.kind)
        {
            self.live_names.borrow_mut().remove(&id);
        }
    }

    #[inline]
    pub(crate) fn has_sink(&self) -> bool {
        self.sinking.get()
    }

    pub(crate) fn take_unprinted(&self) -> Vec<RawEvent> {
        std::mem::take(&mut *self.unprinted.borrow_mut())
    }

    /// The live sink (`BACH_TRACE`), to print expanded events to (see
    /// `trace::print_to_sink`).
    pub(crate) fn sink(&self) -> std::cell::RefMut<'_, Option<Sink>> {
        self.sink.borrow_mut()
    }

    /// The recorded events, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<RawEvent> {
        let events = self.events.borrow();
        let head = self.head.get();
        events
            .iter()
            .skip(head)
            .chain(events.iter().take(head))
            .cloned()
            .collect()
    }

    /// Events that fell out of the ring because it was full.
    pub(crate) fn overwritten(&self) -> u64 {
        self.overwritten.get()
    }

    /// Configures recording and the live sink from `BACH_TRACE`:
    /// `1`/`stderr` prints to stderr, anything else names a JSON-lines file.
    pub(crate) fn configure_from_env(&self) -> io::Result<()> {
        let Ok(value) = std::env::var("BACH_TRACE") else {
            return Ok(());
        };
        let sink = match value.trim() {
            "" | "0" | "off" => return Ok(()),
            "1" | "stderr" => Sink::Stderr,
            path => {
                let file = File::create(path).map_err(|e| {
                    io::Error::new(e.kind(), format!("BACH_TRACE: cannot create `{path}`: {e}"))
                })?;
                Sink::Jsonl(BufWriter::new(file))
            }
        };
        *self.sink.borrow_mut() = Some(sink);
        self.sinking.set(true);
        self.enabled.set(true);
        Ok(())
    }

    pub(crate) fn flush(&self) {
        if let Some(Sink::Jsonl(file)) = self.sink.borrow_mut().as_mut() {
            let _ = file.flush();
        }
    }
}
