//! Fuzz target: the server's HTTP front door on any bytes. A request head
//! is written to a real loopback socket and read with the server's own
//! `read_request`; whatever route it yields is answered as the server
//! answers it. Nothing may panic, and an upgrade always carries a key.

#![no_main]

use std::sync::OnceLock;

use chat_server::http::{self, Route};
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// One runtime and one listening socket for the whole fuzzing run.
struct Loopback {
    runtime: Runtime,
    listener: TcpListener,
}

fn loopback() -> &'static Loopback {
    static LOOPBACK: OnceLock<Loopback> = OnceLock::new();
    LOOPBACK.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback listener");
        Loopback { runtime, listener }
    })
}

fuzz_target!(|head: &[u8]| {
    let loopback = loopback();
    let head = head.to_vec();
    loopback.runtime.block_on(async {
        let addr = loopback.listener.local_addr().expect("bound");
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let (mut server, _) = loopback.listener.accept().await.expect("accept");
        // The client writes and then says it is done, on its own task, so
        // a head the server stops reading early cannot block the run.
        let writer = tokio::spawn(async move {
            let _ = client.write_all(&head).await;
            let _ = client.shutdown().await;
            client
        });
        match http::read_request(&mut server).await {
            Ok(Route::Upgrade { key, .. }) => {
                assert!(!key.is_empty(), "an upgrade without a key");
                let _ = http::accept_upgrade(&mut server, &key).await;
            }
            Ok(route @ Route::Refuse { .. }) => {
                let _ = http::refuse(&mut server, &route).await;
            }
            Ok(Route::Health | Route::Metrics | Route::Page(_)) | Err(_) => {}
        }
        drop(server);
        let _ = writer.await;
    });
});
