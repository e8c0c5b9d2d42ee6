//! Writes the compile-time benchmark's workspace: the same N events and handlers twice, once
//! with staticbus's macros and once written out by hand.
//!
//! ```text
//! compile_time_generate --events N --out DIR
//! ```
//!
//! `DIR` becomes a standalone Cargo workspace with two library crates, both depending on this
//! repository's `runtime/` by path (so their dependency trees are the same):
//!
//! - `staticbus_leaf`: N `#[derive(StaticEvent)]` structs `Ev{i}`, a `#[handler]` free function
//!   `free_{i}` for each of the first `N / 2` events, 10 `#[plugin]`s (fewer if there are fewer
//!   than 10 plugin handlers) whose `#[on]` methods `on_{i}` handle the other events, in blocks,
//!   and `emit_all`, which emits every event once.
//! - `handwritten_leaf`: the same structs, bodies and `emit_all`, dispatched through a trait
//!   with a table of function pointers per event.
//!
//! `benches/compile_time/run.sh` runs it and times the two crates' builds. Files whose content
//! is already what would be written are left alone (their mtime too), so running it again does
//! not make Cargo rebuild anything. The repository's `Cargo.lock` is copied in if `DIR` has
//! none, so the leaves build against the versions the repository is tested with.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: compile_time_generate --events N --out DIR
  --events N   number of events, 1..=100000 (half get a free #[handler], half a plugin #[on])
  --out DIR    directory to write the generated Cargo workspace into (created if missing)";

/// More would only make a build that takes hours.
const MAX_EVENTS: usize = 100_000;

/// Plugins the second half of the events is spread over.
const PLUGINS: usize = 10;

/// The repository's `runtime/` (the `staticbus` crate), as seen from this crate.
const RUNTIME_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime");

/// The repository's lockfile.
const LOCKFILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");

/// The two crates' names, as the workspace lists them.
const STATICBUS_LEAF: &str = "staticbus_leaf";
const HANDWRITTEN_LEAF: &str = "handwritten_leaf";

#[derive(Debug, PartialEq, Eq)]
struct Args {
    events: usize,
    out: PathBuf,
}

/// What the command line asked for: a run, or the usage text.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Generate(Args),
    Help,
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut events = None;
    let mut out = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let slot = match flag {
            "-h" | "--help" if inline.is_none() => return Ok(Command::Help),
            "--events" => &mut events,
            "--out" => &mut out,
            _ => return Err(format!("unknown argument {arg:?}")),
        };
        let value = match inline.or_else(|| rest.next().cloned()) {
            Some(value) => value,
            None => return Err(format!("{flag} needs a value")),
        };
        if slot.replace(value).is_some() {
            return Err(format!("{flag} given twice"));
        }
    }

    let events = events.ok_or("--events N is required")?;
    let events = match events.parse::<usize>() {
        Ok(n) if (1..=MAX_EVENTS).contains(&n) => n,
        Ok(n) => return Err(format!("--events must be in 1..={MAX_EVENTS}, not {n}")),
        Err(err) => return Err(format!("--events {events:?} is not a number: {err}")),
    };
    let out = out.ok_or("--out DIR is required")?;
    if out.is_empty() {
        return Err("--out must not be empty".to_owned());
    }
    Ok(Command::Generate(Args {
        events,
        out: PathBuf::from(out),
    }))
}

/// Which handler each event gets: events `0..free` a free function, `free..events` a method of
/// one of `plugins.len()` plugins; plugin `p` handles the events `plugins[p].clone()`.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    events: usize,
    free: usize,
    plugins: Vec<std::ops::Range<usize>>,
}

impl Layout {
    fn new(events: usize) -> Layout {
        let free = events / 2;
        let methods = events - free;
        let count = PLUGINS.min(methods);
        let plugins = (0..count)
            .map(|p| free + p * methods / count..free + (p + 1) * methods / count)
            .collect();
        Layout {
            events,
            free,
            plugins,
        }
    }

    /// The plugin that handles event `i`, which must be in the second half.
    fn plugin_of(&self, i: usize) -> usize {
        self.plugins
            .iter()
            .position(|range| range.contains(&i))
            .unwrap_or_default()
    }
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('"');
    for c in s.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn workspace_manifest() -> String {
    format!(
        "# Generated by compile_time_generate (benches/compile_time/): do not edit.\n\
         [workspace]\n\
         resolver = \"3\"\n\
         members = [\"{STATICBUS_LEAF}\", \"{HANDWRITTEN_LEAF}\"]\n\
         \n\
         [workspace.dependencies]\n"
    )
}

fn crate_manifest(name: &str, runtime: &Path) -> String {
    format!(
        "# Generated by compile_time_generate (benches/compile_time/): do not edit.\n\
         [package]\n\
         name = \"{name}\"\n\
         version = \"0.0.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\
         \n\
         [dependencies]\n\
         staticbus = {{ path = {} }}\n",
        toml_string(&runtime.to_string_lossy())
    )
}

/// The event structs, with the derives each crate gives them.
fn write_events(s: &mut String, layout: &Layout, derive: &str) -> fmt::Result {
    for i in 0..layout.events {
        writeln!(s, "#[derive({derive})]")?;
        writeln!(
            s,
            "pub struct Ev{i} {{\n    pub a: u64,\n    pub b: u32,\n}}\n"
        )?;
    }
    Ok(())
}

fn free_body(i: usize) -> String {
    format!("    SINK.fetch_add(e.a ^ {i}, Relaxed);\n")
}

fn method_body(i: usize) -> String {
    format!("        self.hits.fetch_add(e.a + {i}, Relaxed);\n")
}

fn header(s: &mut String, layout: &Layout, what: &str) -> fmt::Result {
    writeln!(
        s,
        "//! Generated by `compile_time_generate --events {}` (benches/compile_time/): do not \
         edit.\n//!\n//! {what}: {} events, {} free handlers, {} plugin handlers in {} plugins.\n",
        layout.events,
        layout.events,
        layout.free,
        layout.events - layout.free,
        layout.plugins.len()
    )?;
    writeln!(s, "use std::sync::atomic::AtomicU64;")?;
    writeln!(s, "use std::sync::atomic::Ordering::Relaxed;\n")?;
    Ok(())
}

const SINK: &str = "/// What the free handlers add to.\n\
                    pub static SINK: AtomicU64 = AtomicU64::new(0);\n";

/// The plugin structs and their impl blocks: `plugin` before each `impl`, `on` before each
/// method (the macros' markers, or nothing for the hand-written crate).
fn write_plugins(s: &mut String, layout: &Layout, plugin: &str, on: &str) -> fmt::Result {
    for (p, events) in layout.plugins.iter().enumerate() {
        writeln!(
            s,
            "#[derive(Default)]\npub struct Plugin{p} {{\n    hits: AtomicU64,\n}}\n"
        )?;
        writeln!(s, "{plugin}impl Plugin{p} {{")?;
        for (n, i) in events.clone().enumerate() {
            if n > 0 {
                writeln!(s)?;
            }
            writeln!(
                s,
                "{on}    fn on_{i}(&self, e: &Ev{i}) {{\n{}    }}",
                method_body(i)
            )?;
        }
        writeln!(s, "}}\n")?;
    }
    Ok(())
}

fn staticbus_leaf(layout: &Layout) -> Result<String, fmt::Error> {
    let mut s = String::new();
    header(&mut s, layout, "With staticbus's macros")?;
    writeln!(s, "use staticbus::prelude::*;\n")?;
    writeln!(s, "{SINK}")?;
    write_events(&mut s, layout, "StaticEvent, Debug, Clone")?;

    for i in 0..layout.free {
        writeln!(
            s,
            "#[handler]\nfn free_{i}(e: &Ev{i}) {{\n{}}}\n",
            free_body(i)
        )?;
    }

    write_plugins(&mut s, layout, "#[plugin]\n", "    #[on]\n")?;

    writeln!(s, "/// Emits every event once.")?;
    writeln!(s, "pub fn emit_all(system: &EventSystem) {{")?;
    for i in 0..layout.events {
        writeln!(s, "    let _ = system.emit(&Ev{i} {{ a: {i}, b: 1 }});")?;
    }
    writeln!(s, "}}")?;
    Ok(s)
}

fn handwritten_leaf(layout: &Layout) -> Result<String, fmt::Error> {
    let mut s = String::new();
    header(&mut s, layout, "Written out by hand")?;
    writeln!(
        s,
        "// The same dependency tree as staticbus_leaf; nothing of it is used.\nuse staticbus as _;\n"
    )?;
    writeln!(s, "{SINK}")?;
    writeln!(
        s,
        "/// An event and its handlers, in dispatch order.\n\
         pub trait Event: Sized + 'static {{\n    \
         /// The handlers.\n    \
         const TABLE: &'static [fn(&Plugins, &Self)];\n\
         }}\n"
    )?;
    writeln!(
        s,
        "/// Every plugin, made once.\n#[derive(Default)]\npub struct Plugins {{"
    )?;
    for p in 0..layout.plugins.len() {
        writeln!(s, "    pub plugin{p}: Plugin{p},")?;
    }
    writeln!(s, "}}\n")?;
    writeln!(
        s,
        "/// Calls every handler of `E`.\n\
         pub fn emit<E: Event>(plugins: &Plugins, e: &E) {{\n    \
         for h in E::TABLE {{\n        h(plugins, e)\n    }}\n\
         }}\n"
    )?;
    write_events(&mut s, layout, "Debug, Clone")?;

    for i in 0..layout.free {
        writeln!(s, "fn free_{i}(e: &Ev{i}) {{\n{}}}\n", free_body(i))?;
    }

    write_plugins(&mut s, layout, "", "")?;

    for i in 0..layout.events {
        let call = if i < layout.free {
            format!("|_, e| free_{i}(e)")
        } else {
            format!("|p, e| p.plugin{}.on_{i}(e)", layout.plugin_of(i))
        };
        writeln!(
            s,
            "impl Event for Ev{i} {{\n    const TABLE: &'static [fn(&Plugins, &Self)] = \
             &[{call}];\n}}\n"
        )?;
    }

    writeln!(s, "/// Emits every event once.")?;
    writeln!(s, "pub fn emit_all(plugins: &Plugins) {{")?;
    for i in 0..layout.events {
        writeln!(s, "    emit(plugins, &Ev{i} {{ a: {i}, b: 1 }});")?;
    }
    writeln!(s, "}}")?;
    Ok(s)
}

/// Writes `contents` to `path` unless it already holds exactly that.
fn write_if_changed(path: &Path, contents: &str) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|old| old == contents.as_bytes()) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    std::fs::write(path, contents).map_err(|err| format!("cannot write {}: {err}", path.display()))
}

fn generate(args: &Args) -> Result<(), String> {
    let runtime = std::fs::canonicalize(RUNTIME_DIR)
        .map_err(|err| format!("cannot find the runtime crate at {RUNTIME_DIR}: {err}"))?;
    let layout = Layout::new(args.events);
    let render = |f: fn(&Layout) -> Result<String, fmt::Error>| {
        f(&layout).map_err(|_| "formatting the generated code failed".to_owned())
    };

    let out = &args.out;
    write_if_changed(&out.join("Cargo.toml"), &workspace_manifest())?;
    for (name, lib) in [
        (STATICBUS_LEAF, render(staticbus_leaf)?),
        (HANDWRITTEN_LEAF, render(handwritten_leaf)?),
    ] {
        let dir = out.join(name);
        write_if_changed(&dir.join("Cargo.toml"), &crate_manifest(name, &runtime))?;
        write_if_changed(&dir.join("src/lib.rs"), &lib)?;
    }

    let lock = out.join("Cargo.lock");
    if !lock.exists()
        && let Ok(repo_lock) = std::fs::read_to_string(LOCKFILE)
    {
        write_if_changed(&lock, &repo_lock)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&args) {
        Ok(Command::Generate(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("compile_time_generate: {err}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match generate(&args) {
        Ok(()) => {
            let layout = Layout::new(args.events);
            println!(
                "wrote {} events ({} free handlers, {} plugin handlers in {} plugins) to {}",
                layout.events,
                layout.free,
                layout.events - layout.free,
                layout.plugins.len(),
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("compile_time_generate: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments() {
        let want = Command::Generate(Args {
            events: 20,
            out: PathBuf::from("x"),
        });
        assert_eq!(parse(&["--events", "20", "--out", "x"]), Ok(want));
        let want = Command::Generate(Args {
            events: 20,
            out: PathBuf::from("x"),
        });
        assert_eq!(parse(&["--out=x", "--events=20"]), Ok(want));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        for bad in [
            &[][..],
            &["--events", "20"],
            &["--out", "x"],
            &["--events", "0", "--out", "x"],
            &["--events", "-3", "--out", "x"],
            &["--events", "ten", "--out", "x"],
            &["--events", "20", "--out"],
            &["--events", "20", "--out", "x", "--out", "y"],
            &["--events", "20", "--out", "x", "extra"],
            &["--events", "20", "--out", ""],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn layout() {
        let l = Layout::new(200);
        assert_eq!((l.free, l.plugins.len()), (100, 10));
        assert_eq!(l.plugins[0], 100..110);
        assert_eq!(l.plugins[9], 190..200);
        assert_eq!(l.plugin_of(157), 5);

        let l = Layout::new(1);
        assert_eq!(
            (l.free, l.plugins.len(), l.plugins[0].clone()),
            (0, 1, 0..1)
        );

        let l = Layout::new(7);
        assert_eq!(l.free, 3);
        assert_eq!(l.plugins, vec![3..4, 4..5, 5..6, 6..7]);

        let l = Layout::new(23);
        let covered: Vec<usize> = l.plugins.iter().flat_map(|r| r.clone()).collect();
        assert_eq!(covered, (11..23).collect::<Vec<_>>());
    }

    #[test]
    fn toml_quoting() {
        assert_eq!(toml_string(r#"/a "b"\c"#), r#""/a \"b\"\\c""#);
    }
}
