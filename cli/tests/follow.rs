//! `tail --follow`: events appended by another process are printed as they commit, in
//! order; Ctrl-C (SIGINT) and a closed standard output end it with exit 0.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{append, sample};
use staticbus_store::NewEvent;

const PATIENCE: Duration = Duration::from_secs(20);

fn follow(store: &std::path::Path) -> (Child, ChildStdout) {
    let mut child = common::command()
        .arg("--store")
        .arg(store)
        .args(["--json", "tail", "-n", "1", "--follow", "--interval", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    (child, stdout)
}

/// The child's lines, through a thread (a read never blocks the test past its patience).
fn lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

fn next_id(lines: &mpsc::Receiver<String>) -> String {
    let line = lines.recv_timeout(PATIENCE).expect("a line in time");
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    event["id"].as_str().unwrap().to_owned()
}

fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("tail --follow did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn new(id: &str) -> NewEvent {
    NewEvent::new("order.noted", b"{}".to_vec()).id(id)
}

#[test]
fn follow_prints_what_another_process_appends_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let (mut child, stdout) = follow(&store);
    let lines = lines(stdout);
    assert_eq!(next_id(&lines), "event-8");
    append(&store, "order-3", vec![new("later-1"), new("later-2")]);
    assert_eq!(next_id(&lines), "later-1");
    assert_eq!(next_id(&lines), "later-2");
    append(&store, "order-4", vec![new("later-3")]);
    assert_eq!(next_id(&lines), "later-3");

    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn follow_stops_with_success_when_its_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let (mut child, stdout) = follow(&store);
    let mut reader = BufReader::new(stdout);
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.contains("event-8"), "{first}");
    drop(reader);
    // The next write finds the pipe closed.
    append(&store, "order-3", vec![new("unread")]);
    let status = wait(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}");
    let mut errors = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut errors).unwrap();
    assert_eq!(errors, "", "a broken pipe is not an error");
}
