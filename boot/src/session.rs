//! A running QEMU process whose serial output is read line by line.
//!
//! QEMU's stdout (the guest's first serial port) is read by a thread that optionally
//! echoes every chunk to our stdout as it arrives (so partial lines such as prompts show
//! at once) and sends each complete line over a channel. The owner waits for
//! [`Event`]s with a deadline. Dropping a session that is still running stops QEMU:
//! `SIGTERM` first, so that QEMU restores a terminal it put in raw mode, then `SIGKILL`.

use std::io::{self, Read, Write};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::error::{Error, Result};
use crate::qemu::Invocation;

/// How often the session looks at the process while no output arrives.
const POLL: Duration = Duration::from_millis(10);
/// How long QEMU gets to exit after `SIGTERM` before it is killed.
const GRACE: Duration = Duration::from_secs(3);

/// How the process is wired to ours.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wiring {
    /// Give QEMU our stdin (a terminal) instead of `/dev/null`.
    pub stdin: bool,
    /// Copy the serial output to our stdout as it arrives.
    pub echo: bool,
    /// Capture QEMU's stderr instead of passing it through.
    pub capture_stderr: bool,
}

/// What happened next.
#[derive(Debug)]
pub(crate) enum Event {
    /// A complete line of serial output (without the line ending).
    Line(String),
    /// QEMU exited, after all of its output was delivered.
    Exited(ExitStatus),
    /// The deadline passed; QEMU is still running.
    TimedOut,
}

/// A running QEMU.
#[derive(Debug)]
pub(crate) struct Session {
    child: Child,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
}

impl Session {
    /// Starts QEMU.
    pub(crate) fn spawn(invocation: &Invocation, wiring: Wiring) -> Result<Self> {
        let mut command = Command::new(&invocation.program);
        command
            .args(invocation.args())
            .stdin(if wiring.stdin {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(if wiring.capture_stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            program: invocation.program.display().to_string(),
            source,
        })?;
        let stdout = child.stdout.take();
        let (sender, lines) = mpsc::channel();
        let echo = wiring.echo;
        let reader = stdout.map(|stdout| {
            thread::spawn(move || {
                // A failed send means the session was dropped: nothing left to do.
                let _ = forward_lines(stdout, echo, |line| sender.send(line).is_ok());
            })
        });
        let stderr = child
            .stderr
            .take()
            .map(|stderr| thread::spawn(|| slurp(stderr)));
        Ok(Self {
            child,
            lines,
            reader,
            stderr,
        })
    }

    /// Waits for the next line, the exit, or the deadline.
    pub(crate) fn next_event(&mut self, deadline: Option<Instant>) -> Result<Event> {
        loop {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Ok(Event::TimedOut);
            }
            match self.lines.recv_timeout(POLL) {
                Ok(line) => return Ok(Event::Line(line)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if let Some(status) = self.try_wait()? {
                        return Ok(Event::Exited(status));
                    }
                    thread::sleep(POLL);
                }
            }
        }
    }

    /// Stops QEMU (`SIGTERM`, then `SIGKILL` after a grace period) and returns the lines
    /// it printed meanwhile.
    pub(crate) fn stop(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        if matches!(self.try_wait(), Ok(None)) {
            if let Some(pid) = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw) {
                // The process may have exited since; ESRCH is then harmless.
                let _ = kill_process(pid, Signal::TERM);
            }
            let deadline = Instant::now() + GRACE;
            while matches!(self.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(POLL);
            }
            // Already exited or killed: either way there is nothing else to do.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(reader) = self.reader.take() {
            // The pipe is closed now, so the reader finishes; a panic there lost output
            // only.
            let _ = reader.join();
        }
        rest.extend(self.lines.try_iter());
        rest
    }

    /// Collects QEMU's captured stderr (empty when it was passed through). Call after
    /// the process exited.
    pub(crate) fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default()
    }

    fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .map_err(|error| Error::io("waiting for QEMU", error))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads `input` to its end, echoing each chunk to stdout if asked and passing each
/// complete line (lossily decoded, without `\n` or `\r\n`) to `deliver` until it returns
/// false. A last line without a newline is delivered at the end.
fn forward_lines(
    mut input: impl Read,
    echo: bool,
    mut deliver: impl FnMut(String) -> bool,
) -> io::Result<()> {
    let mut buffer = [0_u8; 4096];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let count = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        let chunk = &buffer[..count];
        if echo {
            let mut stdout = io::stdout().lock();
            // Our stdout going away (a closed pipe) must not stop the test run.
            let _ = stdout.write_all(chunk).and_then(|()| stdout.flush());
        }
        pending.extend_from_slice(chunk);
        while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if !deliver(decode_line(&line)) {
                return Ok(());
            }
        }
    }
    if !pending.is_empty() {
        deliver(decode_line(&pending));
    }
    Ok(())
}

fn decode_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.trim_end_matches(['\n', '\r']).to_owned()
}

fn slurp(mut stderr: ChildStderr) -> String {
    let mut bytes = Vec::new();
    // Whatever was read before an error is still worth showing.
    let _ = stderr.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_cleaned() {
        let input: &[u8] = b"one\r\ntwo\n\xffthree\r\npartial";
        let mut lines = Vec::new();
        forward_lines(input, false, |line| {
            lines.push(line);
            true
        })
        .unwrap();
        assert_eq!(lines, ["one", "two", "\u{fffd}three", "partial"]);
    }

    #[test]
    fn delivery_can_stop_early() {
        let input: &[u8] = b"a\nb\nc\n";
        let mut lines = Vec::new();
        forward_lines(input, false, |line| {
            lines.push(line);
            false
        })
        .unwrap();
        assert_eq!(lines, ["a"]);
    }
}
