//! A minimal SMTP receiver for notification tests: speaks just enough SMTP (EHLO/HELO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH) for a client such as `lettre` to deliver, and
//! records every message. Plain threads, so it works under any test runtime.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// One message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA section (headers and body), dot-unstuffed, CRLF line ends.
    pub data: String,
}

impl ReceivedMail {
    /// A header's value (unfolded), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// The subject.
    pub fn subject(&self) -> String {
        self.header("subject").unwrap_or_default()
    }

    /// The body, with quoted-printable soft line breaks and `=XX` escapes decoded.
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let qp = self
            .header("content-transfer-encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if !qp {
            return body.to_string();
        }
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && let Some(v) = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn lock(m: &Mutex<Vec<ReceivedMail>>) -> MutexGuard<'_, Vec<ReceivedMail>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running SMTP receiver.
pub struct SmtpServer {
    addr: SocketAddr,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    stop: Arc<AtomicBool>,
}

impl SmtpServer {
    /// Starts on a free port of 127.0.0.1.
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let mails = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (Arc::clone(&mails), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("smtp-server".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let m = Arc::clone(&m);
                    let _ = std::thread::Builder::new()
                        .name("smtp-session".into())
                        .spawn(move || {
                            let _ = session(conn, &m);
                        });
                }
            })?;
        Ok(Self { addr, mails, stop })
    }

    /// `smtp://127.0.0.1:port` (plain SMTP, for `SCIMBRIDGE_SMTP_URL`).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message so far, oldest first.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        lock(&self.mails).clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// The address inside `MAIL FROM:<a>` / `RCPT TO:<a>`.
fn path_of(arg: &str) -> String {
    let a = arg.split_once(':').map_or(arg, |(_, r)| r).trim();
    a.trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn session(conn: TcpStream, mails: &Mutex<Vec<ReceivedMail>>) -> io::Result<()> {
    let mut out = conn.try_clone()?;
    let mut input = BufReader::new(conn);
    out.write_all(b"220 testkit SMTP ready\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end();
        let verb = cmd
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => out.write_all(b"250-testkit\r\n250 8BITMIME\r\n")?,
            "HELO" | "NOOP" => out.write_all(b"250 OK\r\n")?,
            "MAIL" => {
                from = path_of(&cmd[4..]);
                to.clear();
                out.write_all(b"250 OK\r\n")?;
            }
            "RCPT" => {
                to.push(path_of(&cmd[4..]));
                out.write_all(b"250 OK\r\n")?;
            }
            "DATA" => {
                out.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if input.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let l = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(l);
                }
                lock(mails).push(ReceivedMail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                });
                out.write_all(b"250 OK: queued\r\n")?;
            }
            "RSET" => {
                from.clear();
                to.clear();
                out.write_all(b"250 OK\r\n")?;
            }
            "QUIT" => {
                out.write_all(b"221 Bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 Command not implemented\r\n")?,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use std::io::Read;

    fn expect(r: &mut BufReader<TcpStream>, code: &str) {
        let mut l = String::new();
        loop {
            l.clear();
            r.read_line(&mut l).unwrap();
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                break;
            }
        }
        assert!(l.starts_with(code), "expected {code}, got {l}");
    }

    #[test]
    fn receives_a_message_over_smtp() {
        let s = SmtpServer::start().unwrap();
        let c = TcpStream::connect(s.addr).unwrap();
        let mut w = c.try_clone().unwrap();
        let mut r = BufReader::new(c);
        expect(&mut r, "220");
        for (cmd, code) in [
            ("EHLO me\r\n", "250"),
            ("MAIL FROM:<a@x.example>\r\n", "250"),
            ("RCPT TO:<b@y.example>\r\n", "250"),
            ("DATA\r\n", "354"),
        ] {
            w.write_all(cmd.as_bytes()).unwrap();
            expect(&mut r, code);
        }
        w.write_all(
            b"Subject: Hello\r\n world\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
              ..dotted l=\r\nine =E2=80=94 ok\r\n.\r\n",
        )
        .unwrap();
        expect(&mut r, "250");
        w.write_all(b"QUIT\r\n").unwrap();
        expect(&mut r, "221");
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        let m = s.mails();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].from, "a@x.example");
        assert_eq!(m[0].to, ["b@y.example"]);
        assert_eq!(m[0].subject(), "Hello world");
        assert_eq!(m[0].body(), ".dotted line — ok\r\n");
    }
}
