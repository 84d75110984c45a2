//! Cost of the body encryption core per request: the client seals, the server opens, the server
//! seals the response, the client opens it. Run with `cargo bench --bench crypto`.

use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use microweb::mods::crypto::{Client, CryptoConfig, Identity, ServerCrypto};

fn exchange(c: &mut Criterion) {
    let body = vec![b'x'; 1024];
    let mut group = c.benchmark_group("crypto");
    group.throughput(Throughput::Bytes(body.len() as u64));
    let server = ServerCrypto::new(
        Identity::random().expect("rng"),
        CryptoConfig::default().with_replay_capacity(usize::MAX),
    );
    let client = Client::new(
        "http://bench",
        server.identity().public_key(),
        Identity::random().expect("rng"),
    );
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);

    group.bench_function("seal_request_1k", |b| {
        b.iter(|| {
            client
                .post(["api"])
                .body(body.clone())
                .seal(now)
                .expect("seal")
        });
    });
    group.bench_function("open_request_1k", |b| {
        b.iter_batched(
            || {
                client
                    .post(["api"])
                    .body(body.clone())
                    .seal(now)
                    .expect("seal")
            },
            |req| {
                server
                    .open_request(&req.method, &req.target, |h| req.header(h), &req.body, now)
                    .expect("open")
            },
            criterion::BatchSize::SmallInput,
        );
    });
    group.bench_function("round_trip_1k", |b| {
        b.iter(|| {
            let req = client
                .post(["api"])
                .body(body.clone())
                .seal(now)
                .expect("seal");
            let opened = server
                .open_request(&req.method, &req.target, |h| req.header(h), &req.body, now)
                .expect("open");
            let reply = opened.reply_to.expect("reply key");
            let sealed = server
                .seal_response(200, &opened.plaintext, &reply)
                .expect("seal");
            let lookup = |h: &str| {
                sealed
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(h))
                    .map(|(_, v)| v.as_str())
            };
            req.open_response(200, lookup, &sealed.body)
                .expect("open response")
        });
    });
    group.finish();
}

criterion_group!(benches, exchange);
criterion_main!(benches);
