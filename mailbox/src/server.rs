//! The SMTP listener: a task per connection reads lines (at most
//! [`MAX_LINE`] bytes each) and lets the [`Session`] decide the answers;
//! whole messages go to the [`Store`].

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::smtp::{Action, Limits, Line, Reply, Session, MAX_LINE};
use crate::store::Store;

/// How long a client may stay silent before the server hangs up.
const IDLE: Duration = Duration::from_secs(300);

/// What one read gave.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    /// A line (in the buffer, with its line ending).
    Line,
    /// A line over the limit, read and dropped.
    TooLong,
    /// The client closed the connection.
    Eof,
}

/// Reads up to and including the next `\n` into `buf`, keeping at most
/// `max` bytes: a longer line is consumed and reported [`Read::TooLong`].
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Read> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Read::Eof);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let n = chunk.len();
        reader.consume(n);
        if done {
            return Ok(if too_long { Read::TooLong } else { Read::Line });
        }
    }
}

pub async fn accept_loop(listener: TcpListener, store: Store, hostname: String, limits: Limits) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let (store, hostname) = (store.clone(), hostname.clone());
                tokio::spawn(async move {
                    if let Err(e) = converse(stream, &store, &hostname, limits).await {
                        tracing::debug!(%peer, error = %e, "smtp connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn converse(
    stream: TcpStream,
    store: &Store,
    hostname: &str,
    limits: Limits,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut session = Session::new(hostname, limits);
    write
        .write_all(session.greeting().to_string().as_bytes())
        .await?;
    let mut buf = Vec::with_capacity(MAX_LINE);
    loop {
        let read =
            match tokio::time::timeout(IDLE, read_line(&mut reader, &mut buf, MAX_LINE)).await {
                Ok(read) => read?,
                Err(_) => {
                    let bye = Reply::new(421, "4.4.2 idle too long, closing");
                    write.write_all(bye.to_string().as_bytes()).await?;
                    return Ok(());
                }
            };
        let line = match read {
            Read::Eof => return Ok(()),
            Read::TooLong => Line::TooLong,
            // A line ends in CRLF; a bare LF stays in the line, where the
            // session refuses it as a control character.
            Read::Line => Line::Text(buf.strip_suffix(b"\r\n").unwrap_or(&buf)),
        };
        let reply = match session.on_line(line) {
            Action::Nothing => continue,
            Action::Reply(reply) => reply,
            Action::Close(reply) => {
                write.write_all(reply.to_string().as_bytes()).await?;
                return Ok(());
            }
            Action::Deliver(received) => {
                let recipients = received.to.len();
                let id = store.add(received);
                tracing::info!(%id, recipients, "message received");
                Reply::new(250, format!("2.0.0 ok: queued as {id}"))
            }
        };
        write.write_all(reply.to_string().as_bytes()).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_cut_at_lf_and_long_ones_dropped_whole() {
        let input: &[u8] = b"EHLO a\r\nshort\n0123456789abc\r\nafter\r\ntail";
        let mut reader = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut seen = Vec::new();
        loop {
            let read = read_line(&mut reader, &mut buf, 10).await.expect("read");
            if read == Read::Eof {
                break;
            }
            seen.push((read, String::from_utf8_lossy(&buf).into_owned()));
        }
        assert_eq!(
            seen,
            [
                (Read::Line, "EHLO a\r\n".to_owned()),
                (Read::Line, "short\n".to_owned()),
                (Read::TooLong, String::new()),
                (Read::Line, "after\r\n".to_owned()),
            ]
        );
    }
}
