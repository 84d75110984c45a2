//! Static files over real sockets: default pages, MIME types, validators and 304, every range
//! form, the traversal table, pre-compressed siblings, gzip on the fly, attachments, and a
//! 100 MB file streamed within the slot budget.
//!
//! Every server serves a fresh temporary folder (never `webroot/`) on 127.0.0.1:0, and every
//! case checks that all buffer slots are free again afterwards.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

#[path = "support/http_client.rs"]
mod http_client;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use http_client::{RawClient, RawResponse, wait_until};
use microweb::{Method, Preset, WebServer};
use parking_lot::RwLock;

/// Process-wide settings (gzip on the fly) and the RSS measurement need the process to
/// themselves: those tests take this lock for writing, every other test for reading.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

/// What a file outside the root holds: it must never appear in a response.
const SECRET: &str = "TOPSECRET-outside-the-root";

/// A temporary folder with `root/` (served) and `secret.txt` next to it (not served).
struct Site {
    dir: tempfile::TempDir,
    server: WebServer,
    addr: SocketAddr,
}

impl Site {
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn get(&self, path: &str) -> RawResponse {
        self.request("GET", path, &[])
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> RawResponse {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut c = RawClient::connect(self.addr);
        c.send(req.as_bytes());
        let r = if method == "HEAD" {
            c.read_head_only()
        } else {
            c.read_response()
        };
        let r = r.unwrap_or_else(|| panic!("no response to {method} {path}"));
        drop(c);
        self.assert_slots_free();
        r
    }

    /// Sends exact bytes as the request target (no normalisation).
    fn raw_target(&self, target: &[u8]) -> RawResponse {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(target);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        let mut c = RawClient::connect(self.addr);
        c.send(&req);
        let r = c
            .read_response()
            .unwrap_or_else(|| panic!("no response to {:?}", String::from_utf8_lossy(target)));
        drop(c);
        self.assert_slots_free();
        r
    }

    fn assert_slots_free(&self) {
        let full = wait_until(Duration::from_secs(5), || {
            self.server
                .slots()
                .is_some_and(|(free, total)| free == total)
        });
        assert!(
            full,
            "buffer slots leaked: {:?} (free, total)",
            self.server.slots()
        );
    }
}

fn site_with(preset: Preset, build: impl FnOnce(&Path)) -> Site {
    site_configured(
        |server| {
            server.set_preset(preset);
        },
        build,
    )
}

fn site_configured(configure: impl FnOnce(&mut WebServer), build: impl FnOnce(&Path)) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(&root).unwrap();
    fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
    build(&root);
    let mut server = WebServer::new();
    configure(&mut server);
    server
        .set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)))
        .set_root_path(&root);
    server
        .route(Method::GET, "/download", |_req, resp| {
            resp.return_file(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
                Some("résumé 2024.toml"),
            );
        })
        .unwrap();
    server.start_managed(2, None).unwrap();
    let addr = server.local_addrs()[0];
    Site { dir, server, addr }
}

fn site(build: impl FnOnce(&Path)) -> Site {
    site_with(Preset::Normal, build)
}

fn write(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// 1000 bytes whose value tells their offset.
fn pattern() -> Vec<u8> {
    (0..1000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn directories_serve_their_first_default_page_and_redirect_without_slash() {
    let _g = EXCLUSIVE.read();
    assert!(microweb::server::add_default_page("start.page"));
    let s = site(|root| {
        write(root, "index.html", "root index");
        write(root, "a/index.htm", "a htm");
        write(root, "a/default.html", "a default loses");
        write(root, "b/default.html", "b default html");
        write(root, "c/default.htm", "c default htm");
        write(root, "d/start.page", "d added page");
        write(root, "e/other.txt", "no default here");
    });
    for (path, body) in [
        ("/", "root index"),
        ("/a/", "a htm"),
        ("/b/", "b default html"),
        ("/c/", "c default htm"),
        ("/d/", "d added page"),
    ] {
        let r = s.get(path);
        assert_eq!((r.status, r.text().as_str()), (200, body), "{path}");
    }
    assert_eq!(
        s.get("/b/").header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(s.get("/e/").status, 404);

    let r = s.get("/a");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/a/"));
    let r = s.get("/a?x=1");
    assert_eq!(r.header("location"), Some("/a/?x=1"));
    // `//a` must not become the protocol-relative `//a/` (a redirect to host "a").
    let r = s.raw_target(b"//a");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/a/"));
}

#[test]
fn files_carry_the_mime_type_of_their_extension() {
    let _g = EXCLUSIVE.read();
    let table = [
        ("f.txt", "text/plain; charset=utf-8"),
        ("f.html", "text/html; charset=utf-8"),
        ("f.htm", "text/html; charset=utf-8"),
        ("f.css", "text/css; charset=utf-8"),
        ("f.js", "application/javascript; charset=utf-8"),
        ("f.mjs", "text/javascript; charset=utf-8"),
        ("f.json", "application/json"),
        ("f.map", "application/json"),
        ("f.xml", "application/xml"),
        ("f.svg", "image/svg+xml"),
        ("f.png", "image/png"),
        ("f.JPG", "image/jpeg"),
        ("f.gif", "image/gif"),
        ("f.ico", "image/x-icon"),
        ("f.webp", "image/webp"),
        ("f.avif", "image/avif"),
        ("f.wasm", "application/wasm"),
        ("f.mp4", "video/mp4"),
        ("f.webm", "video/webm"),
        ("f.pdf", "application/pdf"),
        ("f.zip", "application/zip"),
        ("f.woff2", "font/woff2"),
        ("f.unknownext", "application/octet-stream"),
        ("noextension", "application/octet-stream"),
    ];
    let s = site(|root| {
        for (name, _) in table {
            write(root, name, name);
        }
    });
    for (name, mime) in table {
        let r = s.get(&format!("/{name}"));
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("content-type"), Some(mime), "{name}");
        assert_eq!(r.body, name.as_bytes(), "{name}");
        assert_eq!(r.header("accept-ranges"), Some("bytes"), "{name}");
    }
    let head = s.request("HEAD", "/f.css", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("5"));
    assert_eq!(head.header("content-type"), Some("text/css; charset=utf-8"));

    let post = s.request("POST", "/f.txt", &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn validators_answer_304_on_either_condition() {
    let _g = EXCLUSIVE.read();
    let s = site(|root| write(root, "page.html", "<p>cached</p>"));
    let r = s.get("/page.html");
    assert_eq!(r.status, 200);
    let etag = r.header("etag").unwrap().to_owned();
    let modified = r.header("last-modified").unwrap().to_owned();
    assert!(etag.starts_with("\"d-") && etag.ends_with('"'), "{etag}");
    let mtime = httpdate::parse_http_date(&modified).unwrap();
    assert!(mtime <= SystemTime::now());
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=0, must-revalidate")
    );

    let weak = format!("W/{etag}");
    let listed = format!("\"nope\", {etag}");
    let earlier = httpdate::fmt_http_date(mtime - Duration::from_secs(60));
    let later = httpdate::fmt_http_date(mtime + Duration::from_secs(60));
    let cases: [(&[(&str, &str)], u16); 11] = [
        (&[("If-None-Match", &etag)], 304),
        (&[("If-None-Match", &weak)], 304),
        (&[("If-None-Match", &listed)], 304),
        (&[("If-None-Match", "*")], 304),
        (&[("If-None-Match", "\"other\"")], 200),
        (&[("If-Modified-Since", &modified)], 304),
        (&[("If-Modified-Since", &later)], 304),
        (&[("If-Modified-Since", &earlier)], 200),
        (&[("If-Modified-Since", "not a date")], 200),
        // If-None-Match present: If-Modified-Since is ignored (RFC 9110 §13.1.3).
        (
            &[
                ("If-None-Match", "\"other\""),
                ("If-Modified-Since", &later),
            ],
            200,
        ),
        (
            &[("If-None-Match", &etag), ("If-Modified-Since", &earlier)],
            304,
        ),
    ];
    for (headers, status) in cases {
        let r = s.request("GET", "/page.html", headers);
        assert_eq!(r.status, status, "{headers:?}");
        if status == 304 {
            assert!(r.body.is_empty());
            assert_eq!(r.header("content-length"), None);
            assert_eq!(r.header("etag"), Some(etag.as_str()));
            assert_eq!(r.header("last-modified"), Some(modified.as_str()));
            assert_eq!(
                r.header("cache-control"),
                Some("public, max-age=0, must-revalidate")
            );
        } else {
            assert_eq!(r.body, b"<p>cached</p>");
        }
    }
    let head = s.request("HEAD", "/page.html", &[("If-None-Match", &etag)]);
    assert_eq!(head.status, 304);

    // If-Match and If-Unmodified-Since (RFC 9110 §13.1.1, §13.1.4).
    assert_eq!(
        s.request("GET", "/page.html", &[("If-Match", &etag)])
            .status,
        200
    );
    assert_eq!(
        s.request("GET", "/page.html", &[("If-Match", &weak)])
            .status,
        412
    );
    assert_eq!(
        s.request("GET", "/page.html", &[("If-Unmodified-Since", &earlier)])
            .status,
        412
    );
}

/// A `Range` value, an `If-Range` value, the status, and the bytes `first..=last` of a 206.
type RangeCase<'a> = (&'a str, Option<&'a str>, u16, Option<(usize, usize)>);

#[test]
fn every_range_form_answers_its_bytes_or_416() {
    let _g = EXCLUSIVE.read();
    let data = pattern();
    let s = site(|root| write(root, "data.bin", pattern()));
    let whole = s.get("/data.bin");
    assert_eq!(whole.body, data);
    let etag = whole.header("etag").unwrap().to_owned();
    let modified = whole.header("last-modified").unwrap().to_owned();
    let old_date = httpdate::fmt_http_date(
        httpdate::parse_http_date(&modified).unwrap() - Duration::from_secs(3600),
    );

    // (Range, If-Range, expected status, expected first..=last when 206)
    let cases: [RangeCase<'_>; 14] = [
        ("bytes=0-9", None, 206, Some((0, 9))),
        ("bytes=990-", None, 206, Some((990, 999))),
        ("bytes=-10", None, 206, Some((990, 999))),
        ("bytes=500-5000", None, 206, Some((500, 999))),
        ("bytes=-5000", None, 206, Some((0, 999))),
        ("bytes=999-999", None, 206, Some((999, 999))),
        ("bytes=1000-", None, 416, None),
        ("bytes=-0", None, 416, None),
        ("bytes=0-1,5-6", None, 200, None),
        ("bytes=9-5", None, 200, None),
        ("pages=1-2", None, 200, None),
        ("bytes=0-9", Some(&etag), 206, Some((0, 9))),
        ("bytes=0-9", Some(&modified), 206, Some((0, 9))),
        ("bytes=0-9", Some("\"stale\""), 200, None),
    ];
    for (range, if_range, status, part) in cases {
        let mut headers = vec![("Range", range)];
        if let Some(v) = if_range {
            headers.push(("If-Range", v));
        }
        let r = s.request("GET", "/data.bin", &headers);
        assert_eq!(r.status, status, "{range} {if_range:?}");
        match (status, part) {
            (206, Some((first, last))) => {
                assert_eq!(r.body, &data[first..=last], "{range}");
                assert_eq!(
                    r.header("content-range"),
                    Some(format!("bytes {first}-{last}/1000").as_str())
                );
                assert_eq!(
                    r.header("content-length"),
                    Some((last - first + 1).to_string().as_str())
                );
            }
            (416, _) => {
                assert_eq!(r.header("content-range"), Some("bytes */1000"));
            }
            _ => {
                assert_eq!(r.body, data, "{range}");
                assert_eq!(r.header("content-range"), None);
            }
        }
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
    }
    // A date older than Last-Modified and a weak tag are not current: the whole file.
    for v in [old_date.as_str(), &format!("W/{etag}")] {
        let r = s.request(
            "GET",
            "/data.bin",
            &[("Range", "bytes=0-9"), ("If-Range", v)],
        );
        assert_eq!((r.status, r.body.len()), (200, 1000), "If-Range {v}");
    }
    // Range is only defined for GET: HEAD answers the whole file's head.
    let head = s.request("HEAD", "/data.bin", &[("Range", "bytes=0-9")]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("1000"));
    // Two ranges on one keep-alive connection: each answer is framed exactly.
    let mut c = RawClient::connect(s.addr);
    c.send(b"GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1-2\r\n\r\n");
    c.send(b"GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=-1\r\nConnection: close\r\n\r\n");
    assert_eq!(c.read_response().unwrap().body, &data[1..=2]);
    assert_eq!(c.read_response().unwrap().body, &data[999..]);
    drop(c);
    s.assert_slots_free();
}

#[test]
fn traversal_attempts_never_leave_the_root() {
    let _g = EXCLUSIVE.read();
    let s = site(|root| {
        write(root, "sub/inside.txt", "inside");
        write(
            root,
            "%2e%2e/secret.txt",
            "decoy: a folder literally named %2e%2e",
        );
    });
    let outside = s.dir.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret.txt"), SECRET).unwrap();
    std::os::unix::fs::symlink(s.dir.path().join("secret.txt"), s.root().join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, s.root().join("leakdir")).unwrap();

    // The traversal table must not be vacuous: the same server serves what is inside.
    assert_eq!(s.get("/sub/inside.txt").text(), "inside");
    assert_eq!(s.get("/sub/./inside.txt").text(), "inside");

    let long_dots = format!("/{}secret.txt", "../".repeat(1000));
    let long_encoded = format!("/{}secret.txt", "%2e%2e/".repeat(400));
    let huge = format!("/{}secret.txt", "a/".repeat(5000));
    // (target, expected status). A path that decodes to a NUL or to invalid UTF-8 names
    // nothing (404), like every other way out of the root; only a head too large is 431.
    let table: Vec<(&[u8], u16)> = vec![
        (b"/../secret.txt", 404),
        (b"/sub/../../secret.txt", 404),
        (b"/%2e%2e/secret.txt", 404),
        (b"/%2E%2E%2Fsecret.txt", 404),
        (b"/..%2fsecret.txt", 404),
        (b"/sub/%2e%2e/%2e%2e/secret.txt", 404),
        (b"/sub/..%2f..%2fsecret.txt", 404),
        (b"/..\\secret.txt", 404),
        (b"/sub\\..\\..\\secret.txt", 404),
        (b"/%5c..%5csecret.txt", 404),
        (b"/%2e%2e%5csecret.txt", 404),
        (b"/secret.txt%00.html", 404),
        (b"/%00/../secret.txt", 404),
        (b"/%c0%ae%c0%ae/secret.txt", 404),
        (b"/%c0%ae%c0%ae%c0%afsecret.txt", 404),
        (b"/./../secret.txt", 404),
        (b"//etc/passwd", 404),
        (b"/leak.txt", 404),
        (b"/leakdir/secret.txt", 404),
        (b"/..;/secret.txt", 404),
        (b"/.%2e/secret.txt", 404),
        (b"http://test/../secret.txt", 404),
        (long_dots.as_bytes(), 404),
        (long_encoded.as_bytes(), 404),
        (huge.as_bytes(), 431),
    ];
    for (target, status) in &table {
        let shown = String::from_utf8_lossy(&target[..target.len().min(60)]).into_owned();
        let r = s.raw_target(target);
        assert_eq!(r.status, *status, "{shown}");
        assert!(!r.text().contains(SECRET), "{shown} leaked the secret");
        assert!(!r.text().contains("root:"), "{shown} leaked /etc/passwd");
    }
    // The same rules through the public resolver, on decoded paths.
    let root = s.root();
    assert!(microweb::server::resolve_physical_path(&root, "/sub/inside.txt").is_some());
    for path in [
        "/../secret.txt",
        "/leak.txt",
        "/leakdir/secret.txt",
        "/sub/..\\..\\secret.txt",
    ] {
        assert_eq!(
            microweb::server::resolve_physical_path(&root, path),
            None,
            "{path}"
        );
    }
    // Double encoding is decoded once: `%252e%252e` names the decoy folder `%2e%2e`, never `..`.
    let r = s.raw_target(b"/%252e%252e/secret.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "decoy: a folder literally named %2e%2e");
}

/// A site with `app.js` and its `.br` and `.gz` siblings, and `plain.js` without any.
fn compressed_site() -> (Site, Vec<u8>, Vec<u8>) {
    let js = "console.log('hello');\n".repeat(50);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(js.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let br = b"not really brotli, but distinct bytes".to_vec();
    let (gz2, br2) = (gz.clone(), br.clone());
    let s = site(move |root| {
        write(root, "app.js", &js);
        write(root, "app.js.gz", &gz2);
        write(root, "app.js.br", &br2);
        write(root, "plain.js", &js);
    });
    (s, gz, br)
}

#[test]
fn precompressed_siblings_follow_accept_encoding() {
    let _g = EXCLUSIVE.read();
    let (s, gz, br) = compressed_site();
    let js = "console.log('hello');\n".repeat(50).into_bytes();
    let js_type = "application/javascript; charset=utf-8";

    // (Accept-Encoding, expected Content-Encoding)
    let cases: [(Option<&str>, Option<&str>); 9] = [
        (None, None),
        (Some("identity"), None),
        (Some("gzip"), Some("gzip")),
        (Some("x-gzip"), Some("gzip")),
        (Some("gzip, deflate, br"), Some("br")),
        (Some("br;q=0, gzip"), Some("gzip")),
        (Some("gzip;q=0.9, br;q=0.5"), Some("gzip")),
        (Some("*"), Some("br")),
        (Some("gzip;q=0, br;q=0"), None),
    ];
    let mut etags = Vec::new();
    for (ae, coding) in cases {
        let headers: Vec<(&str, &str)> = ae.map(|v| ("Accept-Encoding", v)).into_iter().collect();
        let r = s.request("GET", "/app.js", &headers);
        assert_eq!(r.status, 200, "{ae:?}");
        assert_eq!(r.header("content-encoding"), coding, "{ae:?}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{ae:?}");
        assert_eq!(r.header("content-type"), Some(js_type), "{ae:?}");
        let want: &[u8] = match coding {
            Some("br") => &br,
            Some(_) => &gz,
            None => &js,
        };
        assert_eq!(r.body, want, "{ae:?}");
        etags.push((coding, r.header("etag").unwrap().to_owned()));
    }
    // One ETag per encoding, stable for the same encoding.
    for (c1, e1) in &etags {
        for (c2, e2) in &etags {
            assert_eq!(c1 == c2, e1 == e2, "{c1:?} {e1} / {c2:?} {e2}");
        }
    }
    let gz_etag = etags
        .iter()
        .find(|(c, _)| *c == Some("gzip"))
        .unwrap()
        .1
        .clone();
    let plain_etag = etags.iter().find(|(c, _)| c.is_none()).unwrap().1.clone();
    let ok = s.request(
        "GET",
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &gz_etag)],
    );
    assert_eq!(ok.status, 304);
    assert_eq!(ok.header("vary"), Some("Accept-Encoding"));
    let other = s.request(
        "GET",
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &plain_etag)],
    );
    assert_eq!((other.status, other.body.as_slice()), (200, gz.as_slice()));

    // Ranges apply to the bytes sent: the compressed ones.
    let r = s.request(
        "GET",
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-1")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.body, &gz[..2]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 0-1/{}", gz.len()).as_str())
    );

    // A file without siblings does not vary.
    let r = s.request("GET", "/plain.js", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(
        (r.header("content-encoding"), r.header("vary")),
        (None, None)
    );
    assert_eq!(r.body, js);
    // The siblings themselves stay reachable by name, as plain files.
    let r = s.get("/app.js.gz");
    assert_eq!(r.header("content-type"), Some("application/gzip"));
    assert_eq!(r.header("content-encoding"), None);
}

#[test]
fn gzip_on_the_fly_compresses_large_text_when_asked() {
    let _g = EXCLUSIVE.write();
    let text = "a line of text that compresses well\n".repeat(300);
    let t2 = text.clone();
    let build = |root: &Path| {
        write(root, "big.txt", &t2);
        write(root, "small.txt", "tiny");
        write(root, "big.png", &t2);
    };
    let s = site_configured(
        |server| {
            server.set_gzip_on_the_fly(Some(1024));
        },
        build,
    );
    let s_off = site(build);
    let gz = s.request("GET", "/big.txt", &[("Accept-Encoding", "gzip")]);
    let plain = s.request("GET", "/big.txt", &[]);
    let ranged = s.request(
        "GET",
        "/big.txt",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-3")],
    );
    let small = s.request("GET", "/small.txt", &[("Accept-Encoding", "gzip")]);
    let png = s.request("GET", "/big.png", &[("Accept-Encoding", "gzip")]);
    let off = s_off.request("GET", "/big.txt", &[("Accept-Encoding", "gzip")]);

    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    assert!(gz.chunked, "length unknown: chunked");
    assert!(gz.header("etag").unwrap().starts_with("W/"));
    assert!(gz.body.len() < text.len() / 4, "{} bytes", gz.body.len());
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(gz.body.as_slice())
        .read_to_string(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, text);

    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    assert_eq!(plain.text(), text);
    assert_eq!(
        (ranged.status, ranged.header("content-encoding")),
        (206, None)
    );
    assert_eq!(ranged.text(), &text[..4]);
    assert_eq!(small.header("content-encoding"), None);
    assert_eq!(png.header("content-encoding"), None);
    assert_eq!(off.header("content-encoding"), None);
    assert_eq!(off.text(), text);
}

#[test]
fn return_file_with_an_attachment_name_sets_content_disposition() {
    let _g = EXCLUSIVE.read();
    let s = site(|_| {});
    let r = s.get("/download");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some(
            "attachment; filename=\"r_sum_ 2024.toml\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.toml"
        )
    );
    let cargo_toml = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    assert_eq!(r.body, fs::read(cargo_toml).unwrap());
}

/// Resident set size of this process (the server runs in it), in bytes.
fn vm_rss() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn a_100_mb_file_streams_within_the_slot_budget() {
    let _g = EXCLUSIVE.write();
    const SIZE: u64 = 100 * 1024 * 1024;
    /// Allowance above the slot budget: the event loop threads' touched stacks, the
    /// allocator's per-thread arenas and bookkeeping. Far below the file's size.
    const SLACK: u64 = 4 * 1024 * 1024;
    let preset = Preset::Normal;
    let budget = preset.slot_budget() as u64;

    let before = vm_rss();
    let s = site_with(preset, |root| {
        let f = fs::File::create(root.join("big.bin")).unwrap();
        f.set_len(SIZE).unwrap(); // sparse: reads as zeros
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(root.join("big.bin"))
            .unwrap();
        f.write_all(b"first bytes").unwrap();
    });

    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut body_bytes: u64 = 0;
    let mut first = Vec::new();
    let mut peak = 0u64;
    let mut reads = 0u64;
    loop {
        assert!(Instant::now() < deadline, "100 MB took too long");
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        let mut chunk = &buf[..n];
        if !head.ends_with(b"\r\n\r\n") {
            let split = chunk
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| i + 4);
            let take = split.unwrap_or(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        if first.len() < 11 {
            first.extend_from_slice(&chunk[..chunk.len().min(11 - first.len())]);
        }
        body_bytes += chunk.len() as u64;
        reads += 1;
        if reads % 64 == 0 {
            peak = peak.max(vm_rss());
        }
    }
    peak = peak.max(vm_rss());
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {SIZE}\r\n")),
        "{head}"
    );
    assert_eq!(body_bytes, SIZE);
    assert_eq!(first, b"first bytes");
    drop(stream);
    s.assert_slots_free();
    let grown = peak.saturating_sub(before);
    assert!(
        grown < budget + SLACK,
        "RSS grew by {grown} bytes serving {SIZE} bytes; budget {budget} + slack {SLACK}"
    );
    eprintln!("RSS before {before}, peak {peak}, grown {grown}, budget {budget}");
}

#[test]
fn the_embedded_preset_streams_files_and_ranges_through_1_kib_slots() {
    let _g = EXCLUSIVE.read();
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    let d2 = data.clone();
    let s = site_with(Preset::Embedded, move |root| {
        write(root, "asset.bin", &d2);
        write(root, "asset.bin.gz", b"pretend gzip");
    });
    let whole = s.get("/asset.bin");
    assert_eq!((whole.status, whole.body.len()), (200, data.len()));
    assert_eq!(whole.body, data);
    let part = s.request(
        "GET",
        "/asset.bin",
        &[("Range", "bytes=1000-41000"), ("Accept-Encoding", "br")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &data[1000..=41000]);
    assert_eq!(part.header("vary"), Some("Accept-Encoding"));
    let etag = whole.header("etag").unwrap();
    let cached = s.request("GET", "/asset.bin", &[("If-None-Match", etag)]);
    assert_eq!(cached.status, 304);
    let gz = s.request("GET", "/asset.bin", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gz.body, b"pretend gzip");
}

/// Dates the file back an hour: the static cache keeps only files that settled.
fn settle(path: &Path) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

/// Requests `path` until `check` holds for the response, for at most 5 s.
fn get_until(
    s: &Site,
    path: &str,
    headers: &[(&str, &str)],
    check: impl Fn(&RawResponse) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if check(&s.request("GET", path, headers)) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_cached_file_is_always_served_as_it_is_on_disk_now() {
    let _g = EXCLUSIVE.read();
    let s = site(|root| write(root, "page.txt", "first version"));
    let page = s.root().join("page.txt");
    settle(&page);
    let first = s.get("/page.txt");
    assert_eq!(first.text(), "first version");
    let etag = first.header("etag").unwrap().to_owned();
    // Served again (from memory now): the same bytes and validators, 304 on the ETag, HEAD,
    // a range.
    let again = s.get("/page.txt");
    assert_eq!(again.text(), "first version");
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let not_modified = s.request("GET", "/page.txt", &[("If-None-Match", &etag)]);
    assert_eq!(not_modified.status, 304);
    let head = s.request("HEAD", "/page.txt", &[]);
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("13"))
    );
    let part = s.request("GET", "/page.txt", &[("Range", "bytes=6-12")]);
    assert_eq!((part.status, part.text().as_str()), (206, "version"));

    // Rewritten with the same size (and an old time again), then with another size: the next
    // request sees each at once.
    fs::write(&page, "second versio").unwrap();
    let f = fs::File::options().write(true).open(&page).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    let second = s.get("/page.txt");
    assert_eq!(second.text(), "second versio");
    assert_ne!(second.header("etag"), Some(etag.as_str()));
    fs::write(&page, "third, longer version").unwrap();
    settle(&page);
    assert_eq!(s.get("/page.txt").text(), "third, longer version");
    // Removed: 404 at once.
    fs::remove_file(&page).unwrap();
    assert_eq!(s.get("/page.txt").status, 404);
}

#[test]
fn a_cached_path_that_now_leads_out_of_the_root_is_refused() {
    let _g = EXCLUSIVE.read();
    let s = site(|root| write(root, "dir/a.txt", "inside"));
    settle(&s.root().join("dir/a.txt"));
    assert_eq!(s.get("/dir/a.txt").text(), "inside");
    assert_eq!(s.get("/dir/a.txt").text(), "inside");
    // The folder is swapped for a symlink to a folder outside the root holding the same name.
    let outside = s.dir.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("a.txt"), SECRET).unwrap();
    settle(&outside.join("a.txt"));
    fs::rename(s.root().join("dir"), s.dir.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(&outside, s.root().join("dir")).unwrap();
    let r = s.get("/dir/a.txt");
    assert_eq!(r.status, 404);
    assert!(!r.text().contains(SECRET));
}

#[test]
fn a_sibling_or_default_page_added_after_caching_is_served_within_a_second() {
    let _g = EXCLUSIVE.read();
    let s = site(|root| {
        write(root, "app.js", "let x = 1;");
        write(root, "docs/index.htm", "htm page");
    });
    settle(&s.root().join("app.js"));
    settle(&s.root().join("docs/index.htm"));
    let gzip = [("Accept-Encoding", "gzip")];
    for _ in 0..2 {
        assert_eq!(s.request("GET", "/app.js", &gzip).text(), "let x = 1;");
        assert_eq!(s.get("/docs/").text(), "htm page");
    }
    write(&s.root(), "app.js.gz", b"pretend-gzip");
    write(&s.root(), "docs/index.html", "html page");
    assert!(get_until(&s, "/app.js", &gzip, |r| {
        r.header("content-encoding") == Some("gzip") && r.body == b"pretend-gzip"
    }));
    assert!(get_until(&s, "/docs/", &[], |r| r.text() == "html page"));
}

#[test]
fn with_the_cache_off_or_past_its_file_size_files_are_read_each_time() {
    let _g = EXCLUSIVE.read();
    let s = site_configured(
        |server| {
            server.config_mut().static_cache_size = 0;
        },
        |root| write(root, "a.txt", "one"),
    );
    settle(&s.root().join("a.txt"));
    assert_eq!(s.get("/a.txt").text(), "one");
    fs::write(s.root().join("a.txt"), "two").unwrap();
    assert_eq!(s.get("/a.txt").text(), "two");
    // Larger than the 64 KiB a cached file may have: streamed from disk, whole.
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    write(&s.root(), "big.bin", &big);
    settle(&s.root().join("big.bin"));
    assert_eq!(s.get("/big.bin").body, big);
    assert_eq!(s.get("/big.bin").body, big);
}
