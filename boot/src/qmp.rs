//! A minimal QMP (QEMU Machine Protocol) client over a unix socket.
//!
//! QEMU is started with `-qmp unix:SOCKET,server=on,wait=off`. The conversation is one
//! JSON object per line: QEMU greets with `{"QMP": ...}`, the client must send
//! `qmp_capabilities` before any other command, and every command is answered by
//! `{"return": ...}` or `{"error": {"class", "desc"}}`, possibly after asynchronous
//! `{"event": ...}` lines, which this client skips. `boot` needs two commands:
//! `screendump` with `"format": "png"` (QEMU 7.2 and later) and `quit`.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// How long one reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// A QMP connection in command mode.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    /// Connects to QEMU's QMP socket, retrying until `timeout` while QEMU creates it,
    /// reads the greeting and enters command mode.
    ///
    /// # Errors
    ///
    /// [`Error::Qmp`] when the socket does not accept a connection in time or the
    /// greeting is wrong, [`Error::QmpCommand`] when `qmp_capabilities` is refused.
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Self> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(error) if Instant::now() >= deadline => {
                    return Err(Error::Qmp(format!(
                        "could not connect to {}: {error}",
                        socket.display()
                    )));
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        };
        Self::handshake(stream)
    }

    /// Reads the greeting on an open stream and sends `qmp_capabilities`.
    ///
    /// # Errors
    ///
    /// As [`Client::connect`].
    pub fn handshake(stream: UnixStream) -> Result<Self> {
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(|error| Error::Qmp(format!("setting a read timeout: {error}")))?;
        let writer = stream
            .try_clone()
            .map_err(|error| Error::Qmp(format!("cloning the socket: {error}")))?;
        let mut client = Self {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = client.read_message()?;
        if greeting.get("QMP").is_none() {
            return Err(Error::Qmp(format!("unexpected greeting {greeting}")));
        }
        client.execute("qmp_capabilities", None)?;
        Ok(client)
    }

    /// Sends a command and returns the value of its `return`.
    ///
    /// # Errors
    ///
    /// [`Error::QmpCommand`] when QEMU answers with an error, [`Error::Qmp`] when the
    /// connection fails.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|error| Error::Qmp(format!("sending `{command}`: {error}")))?;
        loop {
            let message = self.read_message()?;
            if let Some(reply) = interpret_reply(command, message) {
                return reply;
            }
        }
    }

    /// Writes a PNG screenshot of the primary display to `path` (absolute, as QEMU
    /// resolves relative paths against its own working directory).
    ///
    /// # Errors
    ///
    /// As [`Client::execute`]; QEMU refuses when there is no display adapter.
    pub fn screendump(&mut self, path: &Path) -> Result<()> {
        let filename = path.to_str().ok_or_else(|| {
            Error::Qmp(format!(
                "the screenshot path {} is not UTF-8",
                path.display()
            ))
        })?;
        self.execute(
            "screendump",
            Some(json!({ "filename": filename, "format": "png" })),
        )?;
        Ok(())
    }

    /// Asks QEMU to quit. QEMU may close the socket before answering; that counts as
    /// success.
    ///
    /// # Errors
    ///
    /// [`Error::QmpCommand`] when QEMU refuses.
    pub fn quit(&mut self) -> Result<()> {
        match self.execute("quit", None) {
            Ok(_) | Err(Error::Qmp(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err(Error::Qmp("QEMU closed the connection".into())),
            Ok(_) => serde_json::from_str(&line)
                .map_err(|error| Error::Qmp(format!("unreadable message {line:?}: {error}"))),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(Error::Qmp(format!(
                    "no answer within {}s",
                    REPLY_TIMEOUT.as_secs()
                )))
            }
            Err(error) => Err(Error::Qmp(format!("reading: {error}"))),
        }
    }
}

/// Classifies one message received after sending `command`: `None` for an event (keep
/// reading), the `return` value, or the error.
fn interpret_reply(command: &str, mut message: Value) -> Option<Result<Value>> {
    if let Some(value) = message.get_mut("return") {
        return Some(Ok(value.take()));
    }
    if let Some(error) = message.get("error") {
        let field = |name: &str| error[name].as_str().unwrap_or("?").to_owned();
        return Some(Err(Error::QmpCommand {
            command: command.to_owned(),
            class: field("class"),
            description: field("desc"),
        }));
    }
    if message.get("event").is_some() {
        return None;
    }
    Some(Err(Error::Qmp(format!("unexpected message {message}"))))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;

    use super::*;

    #[test]
    fn replies_and_events() {
        let ok = interpret_reply("x", json!({"return": {"a": 1}})).unwrap();
        assert_eq!(ok.unwrap(), json!({"a": 1}));
        assert!(interpret_reply("x", json!({"event": "RESUME"})).is_none());
        let error = interpret_reply(
            "screendump",
            json!({"error": {"class": "GenericError", "desc": "no surface"}}),
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "QMP command `screendump` failed: GenericError: no surface"
        );
        assert!(interpret_reply("x", json!({"what": 1})).unwrap().is_err());
    }

    /// A scripted QEMU: checks each request line and answers with the given lines.
    fn fake_qemu(listener: UnixListener, script: Vec<(Value, Vec<&'static str>)>) {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        writer
            .write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
            .unwrap();
        for (expected, answers) in script {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let request: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(request, expected);
            for answer in answers {
                writer.write_all(answer.as_bytes()).unwrap();
                writer.write_all(b"\n").unwrap();
            }
        }
    }

    #[test]
    fn a_screendump_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = thread::spawn(move || {
            fake_qemu(
                listener,
                vec![
                    (
                        json!({"execute": "qmp_capabilities"}),
                        vec![r#"{"return": {}}"#],
                    ),
                    (
                        json!({"execute": "screendump",
                               "arguments": {"filename": "/tmp/shot.png", "format": "png"}}),
                        vec![r#"{"event": "X", "data": {}}"#, r#"{"return": {}}"#],
                    ),
                    (
                        json!({"execute": "screendump",
                               "arguments": {"filename": "/tmp/shot.png", "format": "png"}}),
                        vec![r#"{"error": {"class": "GenericError", "desc": "nope"}}"#],
                    ),
                    (json!({"execute": "quit"}), vec![]),
                ],
            );
        });
        let mut client = Client::connect(&socket, Duration::from_secs(5)).unwrap();
        client.screendump(Path::new("/tmp/shot.png")).unwrap();
        let error = client.screendump(Path::new("/tmp/shot.png")).unwrap_err();
        assert!(error.to_string().contains("nope"), "{error}");
        // The fake closes without answering `quit`, as QEMU may.
        client.quit().unwrap();
        server.join().unwrap();
    }

    #[test]
    fn connecting_to_nothing_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let error =
            Client::connect(&dir.path().join("none"), Duration::from_millis(50)).unwrap_err();
        assert!(
            error.to_string().starts_with("QMP: could not connect"),
            "{error}"
        );
    }
}
