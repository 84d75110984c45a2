//! Criterion benches of the sans-IO HTTP core: head parsing and response writing (bytes/s).
//!
//! Run with `cargo bench --bench http -- --warm-up-time 1 --measurement-time 3`. Before the
//! timings it prints how many heap allocations one parse + one response cost (expected: 0).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge: reads the clock

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::StatusCode;
use microweb::http::{
    BodyDecoder, BodyEvent, BodyKind, Framing, HttpDate, Limits, ResponseWriter, Status,
    keep_alive, parse_head,
};

/// Counts allocations so the bench can show the common path makes none.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts them.
// The bench opts in to `unsafe` for this item only: a counting allocator cannot be safe code.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A Chrome navigation request: ~500 bytes, 12 header fields.
const BROWSER_GET: &[u8] = b"GET /docs/guide/index.html?lang=en&page=2 HTTP/1.1\r\n\
Host: www.example.com:8080\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=0\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Referer: https://www.example.com/docs/\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n\
Cookie: sid=31d4d96e407aad42; theme=dark\r\n\r\n";

/// What wrk sends by default.
const WRK_GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

const CHUNKED_BODY: &[u8] = b"400\r\n\
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
\r\n0\r\n\r\n";

/// Parses a head and writes a 200 response with a 13-byte body; returns the bytes written.
fn handle(req: &[u8], limits: &Limits, date: &HttpDate, out: &mut [u8]) -> usize {
    let Ok(Status::Complete(head)) = parse_head(req, limits) else {
        return 0;
    };
    let keep = keep_alive(&head, 0, limits, true);
    let mut w = ResponseWriter::new(out).head_request(head.is_head());
    let written = w
        .start(StatusCode::OK, date)
        .and_then(|w| w.header("Content-Type", b"text/plain"))
        .and_then(|w| w.framing(Framing::Length(13)))
        .and_then(|w| w.connection(keep, head.version()))
        .and_then(|w| w.end_head())
        .and_then(|w| w.body(b"Hello, World!"))
        .map(|w| w.len());
    written.unwrap_or(0)
}

fn report_allocations(limits: &Limits, date: &HttpDate) {
    let mut out = [0u8; 512];
    for req in [BROWSER_GET, WRK_GET] {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let n = black_box(handle(black_box(req), limits, date, &mut out));
        let after = ALLOCATIONS.load(Ordering::Relaxed);
        println!(
            "parse {} bytes + write {n} bytes: {} heap allocations",
            req.len(),
            after - before
        );
    }
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let date = HttpDate::new(SystemTime::now());
    report_allocations(&limits, &date);

    let mut g = c.benchmark_group("parse_head");
    for (name, req) in [("browser_get", BROWSER_GET), ("wrk_get", WRK_GET)] {
        g.throughput(Throughput::Bytes(req.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| match parse_head(black_box(req), &limits) {
                Ok(Status::Complete(h)) => h.head_len(),
                _ => 0,
            })
        });
    }
    g.finish();

    // The floor: httparse alone, with the same 64 header slots and no framing facts.
    let mut g = c.benchmark_group("httparse_baseline");
    for (name, req) in [("browser_get", BROWSER_GET), ("wrk_get", WRK_GET)] {
        g.throughput(Throughput::Bytes(req.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut r = httparse::Request::new(&mut headers);
                match r.parse(black_box(req)) {
                    Ok(httparse::Status::Complete(n)) => n,
                    _ => 0,
                }
            })
        });
    }
    g.finish();

    let mut out = [0u8; 512];
    let response_len = handle(WRK_GET, &limits, &date, &mut out) as u64;
    let mut g = c.benchmark_group("write_response");
    g.throughput(Throughput::Bytes(response_len));
    g.bench_function("ok_13_byte_body", |b| {
        b.iter(|| {
            let mut w = ResponseWriter::new(&mut out);
            let r = w
                .start(StatusCode::OK, black_box(&date))
                .and_then(|w| w.header("Content-Type", b"text/plain"))
                .and_then(|w| w.framing(Framing::Length(13)))
                .and_then(|w| w.connection(true, http::Version::HTTP_11))
                .and_then(|w| w.end_head())
                .and_then(|w| w.body(black_box(b"Hello, World!")))
                .map(|w| w.len());
            r.unwrap_or(0)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("request_cycle");
    g.throughput(Throughput::Bytes(WRK_GET.len() as u64));
    g.bench_function("wrk_get_parse_and_respond", |b| {
        b.iter(|| handle(black_box(WRK_GET), &limits, &date, &mut out))
    });
    g.finish();

    let mut g = c.benchmark_group("body");
    g.throughput(Throughput::Bytes(CHUNKED_BODY.len() as u64));
    g.bench_function("chunked_1k", |b| {
        b.iter(|| {
            let mut dec = BodyDecoder::new(BodyKind::Chunked, &limits);
            let mut at = 0;
            let mut data = 0;
            while let Ok((used, event)) = dec.decode(black_box(&CHUNKED_BODY[at..])) {
                at += used;
                match event {
                    BodyEvent::Data(r) => data += r.len(),
                    _ => break,
                }
            }
            data
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
