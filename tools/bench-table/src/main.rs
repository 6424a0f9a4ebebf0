//! `bench-table`: reads the criterion results of bach's benches and of its
//! peers' runs of the same workloads, and writes one Markdown table of
//! medians and ratios.
//!
//! ```text
//! bench-table [--criterion DIR] [--out FILE] [--readme FILE] [--machine TEXT]
//! ```
//!
//! * `--criterion`: criterion's output directory (default `target/criterion`);
//!   every `*/new/benchmark.json` under it is one measurement.
//! * `--out`: where to write the table (default: standard output).
//! * `--readme`: a Markdown file whose text between `<!-- bench-table:begin -->`
//!   and `<!-- bench-table:end -->` is replaced by the table.
//! * `--machine`: a line describing the machine, printed above the table.
//!
//! A measurement's tool comes from its criterion function id (`bach`,
//! `bach-0.2`, `turmoil`, `madsim`, `anysystem`, `shuttle_dfs`, …); each
//! row is one workload, with bach's median per item and every peer's median
//! per item and its ratio to bach's (how many times longer the peer takes).
//! `benches/table.sh` runs every bench and then this tool.

use serde_json::Value;
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs, io,
    path::{Path, PathBuf},
    process::ExitCode,
};

const BEGIN: &str = "<!-- bench-table:begin -->";
const END: &str = "<!-- bench-table:end -->";

/// Peers, in column order, with the names criterion ids use for them.
const PEERS: &[(&str, &[&str])] = &[
    ("bach 0.2", &["bach-0.2", "bach 0.2"]),
    ("turmoil", &["turmoil"]),
    ("madsim", &["madsim"]),
    ("AnySystem", &["anysystem"]),
    ("shuttle", &["shuttle"]),
];

/// Workloads in table order, with what one item is.
const WORKLOADS: &[(&str, &str)] = &[
    ("spawn", "100k tasks spawned and completed; per task"),
    ("sleep", "1M sequential 1 ms sleeps; per sleep"),
    ("timers", "200k concurrent timers; per timer"),
    (
        "channel",
        "10M `u64` through a bounded(1024) channel; per message",
    ),
    ("mutex", "8 tasks × 125k contended locks; per acquisition"),
    ("udp_stream", "8-byte datagrams, 2 ms pacing; per packet"),
    ("udp_pingpong", "sequential UDP round trips; per round trip"),
    ("mesh", "K nodes, all-to-all rounds; per message"),
    (
        "process_pingpong",
        "AnySystem-style processes, 10k round trips; per message",
    ),
    (
        "fs_write_sync",
        "4 KiB `write_all` + `sync_data` on one file; per round",
    ),
    (
        "fs_crash_points",
        "every crash point of 100 synced 4 KiB appends, both outcomes; per crash point",
    ),
    (
        "explore_contention",
        "interleaving exploration, 10 tasks on one lock; per execution",
    ),
    (
        "model_check/depth_6",
        "model checking the retrying ping-pong, depth 6; per search",
    ),
    (
        "model_check/depth_8",
        "model checking the retrying ping-pong, depth 8; per search",
    ),
    (
        "model_check/depth_10",
        "model checking the retrying ping-pong, depth 10; per search",
    ),
    (
        "model_check_parallel/depth_10",
        "breadth-first model checking, depth 10, by thread count; per search",
    ),
];

/// One criterion measurement.
#[derive(Clone, Debug, PartialEq)]
struct Measurement {
    group: String,
    /// `bach` or a peer's display name.
    tool: String,
    /// What distinguishes rows of one workload (`K=10`, `dfs`, `capture on`).
    variant: String,
    /// Median nanoseconds per item (per iteration without a throughput).
    per_item_ns: f64,
}

/// Reads one `benchmark.json` and the `estimates.json` beside it.
fn read_measurement(benchmark: &Path) -> io::Result<Measurement> {
    let invalid = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}", benchmark.display()),
        )
    };
    let parse = |path: &Path| -> io::Result<Value> {
        let text = fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(|err| invalid(&format!("not JSON: {err}")))
    };
    let meta = parse(benchmark)?;
    let estimates = parse(&benchmark.with_file_name("estimates.json"))?;
    let group = meta["group_id"]
        .as_str()
        .ok_or_else(|| invalid("no group_id"))?;
    let function = meta["function_id"]
        .as_str()
        .ok_or_else(|| invalid("no function_id"))?;
    let value = meta["value_str"].as_str();
    let median = estimates["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| invalid("no median estimate"))?;
    let items = meta["throughput"]["Elements"].as_u64().unwrap_or(1).max(1);
    let (tool, variant) = classify(group, function, value);
    Ok(Measurement {
        group: group.to_string(),
        tool,
        variant,
        per_item_ns: median / items as f64,
    })
}

/// Splits a criterion function id into (tool, variant): `bach` → (bach, ""),
/// `bach+pcap` → (bach, capture on), `shuttle_dfs` → (shuttle, dfs),
/// `anysystem` → (AnySystem, ""); a `mesh` parameter is the variant `K=…`.
fn classify(group: &str, function: &str, value: Option<&str>) -> (String, String) {
    let (name, mut variant) = match function.split_once('_') {
        Some((name, variant)) => (name, variant.replace('_', " ")),
        None => (function, String::new()),
    };
    let (name, flavour) = match name.split_once('+') {
        Some((name, "pcap")) => (name, "capture on"),
        Some((name, "trace")) => (name, "trace on"),
        Some((name, other)) => (name, other),
        None => (name, ""),
    };
    if !flavour.is_empty() {
        variant = flavour.to_string();
    }
    if group == "mesh" {
        if let Some(k) = value {
            variant = format!("K={k}");
        }
    }
    let tool = PEERS
        .iter()
        .find(|(_, ids)| ids.contains(&name))
        .map_or(name, |(display, _)| display);
    (tool.to_string(), variant)
}

/// Every `new/benchmark.json` under `dir`, in a stable order.
fn find_benchmarks(dir: &Path, found: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name == "new") {
                let benchmark = path.join("benchmark.json");
                if benchmark.is_file() {
                    found.push(benchmark);
                }
            } else if path.file_name().is_none_or(|name| name != "report") {
                find_benchmarks(&path, found)?;
            }
        }
    }
    Ok(())
}

/// A duration in ns, with three significant digits and a unit.
fn format_ns(ns: f64) -> String {
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

fn format_ratio(ratio: f64) -> String {
    if ratio >= 10.0 {
        format!("{ratio:.0}×")
    } else {
        format!("{ratio:.1}×")
    }
}

/// The Markdown table: one row per workload and variant that bach ran.
fn table(measurements: &[Measurement]) -> String {
    let order = |group: &str| {
        WORKLOADS
            .iter()
            .position(|(name, _)| *name == group)
            .unwrap_or(WORKLOADS.len())
    };
    // (workload order, group, variant) → tool → ns per item
    let mut rows: BTreeMap<(usize, String, String), BTreeMap<String, f64>> = BTreeMap::new();
    for m in measurements {
        // Peers' variants name their own strategy; their row is bach's.
        rows.entry((order(&m.group), m.group.clone(), m.variant.clone()))
            .or_default()
            .insert(m.tool.clone(), m.per_item_ns);
    }
    let peers: Vec<&str> = PEERS
        .iter()
        .map(|(name, _)| *name)
        .filter(|peer| rows.values().any(|tools| tools.contains_key(*peer)))
        .collect();
    let mut out = String::from("| bench | workload | bach |");
    for peer in &peers {
        let _ = write!(out, " {peer} |");
    }
    out.push_str("\n|---|---|---|");
    for _ in &peers {
        out.push_str("---|");
    }
    out.push('\n');
    for ((_, group, variant), tools) in &rows {
        let Some(&ours) = tools.get("bach") else {
            continue;
        };
        let name = if variant.is_empty() {
            format!("`{group}`")
        } else {
            format!("`{group}` {variant}")
        };
        let workload = WORKLOADS
            .iter()
            .find(|(g, _)| g == group)
            .map_or("", |(_, description)| description);
        let _ = write!(out, "| {name} | {workload} | {} |", format_ns(ours));
        for peer in &peers {
            match tools.get(*peer) {
                Some(&theirs) => {
                    let _ = write!(
                        out,
                        " {} ({}) |",
                        format_ns(theirs),
                        format_ratio(theirs / ours)
                    );
                }
                None => out.push_str(" — |"),
            }
        }
        out.push('\n');
    }
    out
}

/// Replaces the text between the markers in `text` with `table`.
fn splice(text: &str, table: &str) -> Result<String, String> {
    let begin = text
        .find(BEGIN)
        .ok_or_else(|| format!("no `{BEGIN}` marker"))?;
    let end = text[begin..]
        .find(END)
        .map(|at| begin + at)
        .ok_or_else(|| format!("no `{END}` marker after `{BEGIN}`"))?;
    Ok(format!(
        "{}{BEGIN}\n{table}{}",
        &text[..begin],
        &text[end..]
    ))
}

struct Options {
    criterion: PathBuf,
    out: Option<PathBuf>,
    readme: Option<PathBuf>,
    machine: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        criterion: PathBuf::from("target/criterion"),
        out: None,
        readme: None,
        machine: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("`{flag}` needs a value"));
        match flag.as_str() {
            "--criterion" => options.criterion = value()?.into(),
            "--out" => options.out = Some(value()?.into()),
            "--readme" => options.readme = Some(value()?.into()),
            "--machine" => options.machine = Some(value()?),
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: bench-table [--criterion DIR] \
                     [--out FILE] [--readme FILE] [--machine TEXT]"
                ))
            }
        }
    }
    Ok(options)
}

fn run() -> Result<(), String> {
    let options = options()?;
    let mut files = Vec::new();
    find_benchmarks(&options.criterion, &mut files).map_err(|err| {
        format!(
            "cannot read criterion results in `{}`: {err} (run `benches/table.sh`, or \
             `cargo bench` first)",
            options.criterion.display()
        )
    })?;
    if files.is_empty() {
        return Err(format!(
            "no criterion results under `{}` (run `benches/table.sh`, or `cargo bench` first)",
            options.criterion.display()
        ));
    }
    let measurements = files
        .iter()
        .map(|file| read_measurement(file))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|err| err.to_string())?;
    let mut text = String::new();
    if let Some(machine) = &options.machine {
        let _ = writeln!(text, "{machine}\n");
    }
    text.push_str(&table(&measurements));
    match &options.out {
        Some(path) => fs::write(path, &text)
            .map_err(|err| format!("cannot write `{}`: {err}", path.display()))?,
        None => print!("{text}"),
    }
    if let Some(readme) = &options.readme {
        let old = fs::read_to_string(readme)
            .map_err(|err| format!("cannot read `{}`: {err}", readme.display()))?;
        let new = splice(&old, &text).map_err(|err| format!("{}: {err}", readme.display()))?;
        fs::write(readme, new)
            .map_err(|err| format!("cannot write `{}`: {err}", readme.display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench-table: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(group: &str, tool: &str, variant: &str, ns: f64) -> Measurement {
        Measurement {
            group: group.into(),
            tool: tool.into(),
            variant: variant.into(),
            per_item_ns: ns,
        }
    }

    #[test]
    fn function_ids_name_tools_and_variants() {
        let c = |g, f, v| classify(g, f, v);
        assert_eq!(
            c("spawn", "bach", Some("100000")),
            ("bach".into(), "".into())
        );
        assert_eq!(
            c("spawn", "bach-0.2", Some("100000")),
            ("bach 0.2".into(), "".into())
        );
        assert_eq!(
            c("channel", "bach 0.2", None),
            ("bach 0.2".into(), "".into())
        );
        assert_eq!(
            c("udp_stream", "bach+pcap", Some("100000")),
            ("bach".into(), "capture on".into())
        );
        assert_eq!(
            c("explore_contention", "shuttle_dfs", None),
            ("shuttle".into(), "dfs".into())
        );
        assert_eq!(
            c("model_check_parallel/depth_10", "bach_bfs_2_threads", None),
            ("bach".into(), "bfs 2 threads".into())
        );
        assert_eq!(
            c("mesh", "bach-0.2", Some("1000")),
            ("bach 0.2".into(), "K=1000".into())
        );
        assert_eq!(
            c("process_pingpong", "anysystem", Some("10000")),
            ("AnySystem".into(), "".into())
        );
    }

    #[test]
    fn rows_show_bach_and_each_peer_with_its_ratio() {
        let table = table(&[
            m("udp_pingpong", "bach", "", 346.0),
            m("udp_pingpong", "bach 0.2", "", 5_800.0),
            m("udp_pingpong", "turmoil", "", 8_405.0),
            m("spawn", "bach", "", 50.0),
            m("spawn", "madsim", "", 1_188.0),
            m("udp_stream", "bach", "capture on", 420.0),
            m("explore_contention", "bach", "dfs", 10_020.0),
            m("explore_contention", "shuttle", "dfs", 21_140.0),
            // A peer's workload bach did not run is no row.
            m("elsewhere", "turmoil", "", 1.0),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "| bench | workload | bach | bach 0.2 | turmoil | madsim | shuttle |"
        );
        assert_eq!(lines[1], "|---|---|---|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| `spawn` | 100k tasks spawned and completed; per task | 50.0 ns | — | — | \
             1.19 µs (24×) | — |"
        );
        assert_eq!(
            lines[3],
            "| `udp_stream` capture on | 8-byte datagrams, 2 ms pacing; per packet | 420 ns | — \
             | — | — | — |"
        );
        assert_eq!(
            lines[4],
            "| `udp_pingpong` | sequential UDP round trips; per round trip | 346 ns | \
             5.80 µs (17×) | 8.40 µs (24×) | — | — |"
        );
        assert_eq!(
            lines[5],
            "| `explore_contention` dfs | interleaving exploration, 10 tasks on one lock; per \
             execution | 10.0 µs | — | — | — | 21.1 µs (2.1×) |"
        );
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn the_readme_keeps_everything_outside_the_markers() {
        let readme = format!("# bach\n\nintro\n{BEGIN}\nold table\n{END}\nafter\n");
        let new = splice(&readme, "| new |\n").unwrap();
        assert_eq!(
            new,
            format!("# bach\n\nintro\n{BEGIN}\n| new |\n{END}\nafter\n")
        );
        assert!(splice("no markers", "x").unwrap_err().contains("no `<!--"));
    }

    #[test]
    fn results_are_read_from_criterion_files() {
        let dir = std::env::temp_dir().join(format!("bench-table-{}", std::process::id()));
        let new = dir.join("udp_pingpong/bach/new");
        fs::create_dir_all(&new).unwrap();
        fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"udp_pingpong","function_id":"bach","value_str":"100000",
                "throughput":{"Elements":100000}}"#,
        )
        .unwrap();
        fs::write(
            new.join("estimates.json"),
            r#"{"median":{"point_estimate":34600000.0}}"#,
        )
        .unwrap();
        let mut files = Vec::new();
        find_benchmarks(&dir, &mut files).unwrap();
        assert_eq!(files, vec![new.join("benchmark.json")]);
        let measurement = read_measurement(&files[0]).unwrap();
        assert_eq!(measurement, m("udp_pingpong", "bach", "", 346.0));
        fs::remove_dir_all(&dir).unwrap();
    }
}
