//! tokio-tungstenite on tokio's multi-thread runtime (one worker per core), serving the load
//! benchmark's WebSocket echo: `/ws/echo` answers each text message with the same text and each
//! binary message with the same bytes; pings are answered by tungstenite; TCP_NODELAY on.
//!
//! In scope: the opening handshake (other paths get 404), the echo loop, the close handshake.
//! Out of scope: HTTP endpoints (the HTTP peers serve those), TLS.
//!
//! Run: `tokio_tungstenite_peer 127.0.0.1:PORT`.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

/// Accepts the opening handshake on `/ws/echo` only; other paths get 404.
#[allow(clippy::result_large_err)] // the signature tungstenite's `Callback` asks for
fn check_path(req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path() == "/ws/echo" {
        Ok(resp)
    } else {
        let mut err = ErrorResponse::new(Some("not found".to_owned()));
        *err.status_mut() = StatusCode::NOT_FOUND;
        Err(err)
    }
}

/// Upgrades `tcp` if it asks for `/ws/echo`, then echoes every data message until the peer
/// closes or the connection fails.
async fn serve(tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, check_path).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        let reply = match msg {
            Message::Text(_) | Message::Binary(_) => msg,
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        if ws.send(reply).await.is_err() {
            break;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}/ws/echo", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                tokio::spawn(serve(tcp));
            }
            // Out of descriptors, or a connection reset before accept: keep serving the others.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}
