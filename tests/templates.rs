//! Template engine tests: snapshots of the AST, the render and the errors for every case in
//! `tests/template-inputs/`, plus the cache, the streaming sink, `after` blocks and the demo page.
//!
//! A case file is a JSON header (optional keys `context`, `args`, `fuel`, `max_include_depth`),
//! a line `---`, the template, and optionally partials, each after a line `=== name.html ===`.
//! The template is named after the file (`if_else.txt` renders as `if_else.html`). Files named
//! `err_*.txt` must fail (to parse or to render) and snapshot the error's `Display` and `{:#}`.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::fmt::Write as _;
use std::sync::Arc;

use microweb::mods::templates::{
    Callee, ErrorKind, Expr, ExprKind, Node, PageData, RenderSink, SinkError, SlotSink, Stmt,
    TemplateConfig, Templates,
};
use serde_json::{Value, json};

fn request() -> Value {
    json!({
        "method": "GET",
        "path": "/page.html",
        "query": {"q": "rust & <nom>"},
        "headers": {"host": "localhost", "user-agent": "test"},
        "cookies": {"session": "abc123"},
        "user_address": "127.0.0.1:50000",
        "is_ssl": false
    })
}

/// An engine with the globals and functions every case can use.
fn engine(config: TemplateConfig) -> Templates {
    let t = Templates::with_config("tests/template-inputs/no-such-folder", config);
    t.set_global_var("site", json!("microweb"));
    t.set_global_var("hits", json!(0));
    t.set_global_var("shadowed", json!("global"));
    t.register_function("money", |args| match args.first().and_then(Value::as_f64) {
        Some(x) => Ok(json!(format!("${x:.2}"))),
        None => Err("money needs a number".to_owned()),
    });
    t.register_function("shout", |args| {
        let s = args.first().and_then(Value::as_str).unwrap_or_default();
        let times = args.get(1).and_then(Value::as_u64).unwrap_or(1) as usize;
        Ok(json!(format!("{}{}", s.to_uppercase(), "!".repeat(times))))
    });
    t.register_function("fail", |_| Err("the database is down".to_owned()));
    t
}

struct Case {
    name: String,
    header: Value,
    source: String,
    partials: Vec<(String, String)>,
}

fn read_case(path: &std::path::Path) -> Case {
    let text = std::fs::read_to_string(path).expect("a readable case file");
    let (header, rest) = text
        .split_once("\n---\n")
        .expect("a case needs a `---` line");
    let header: Value = serde_json::from_str(header).expect("a JSON header");
    let mut parts = rest.split("\n=== ");
    let source = parts.next().unwrap_or_default().to_owned();
    let partials = parts
        .map(|p| {
            let (name, body) = p.split_once(" ===\n").expect("a partial header line");
            (name.to_owned(), body.to_owned())
        })
        .collect();
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a UTF-8 file name");
    Case {
        name: format!("{stem}.html"),
        header,
        source,
        partials,
    }
}

/// Prints the node tree compactly: one node per line, with its span.
fn dump_nodes(out: &mut String, src: &str, nodes: &[Node], depth: usize) {
    let pad = "  ".repeat(depth);
    for node in nodes {
        match node {
            Node::Text(s) => {
                let _ = writeln!(
                    out,
                    "{pad}Text {}..{} {:?}",
                    s.start,
                    s.end,
                    &src[s.range()]
                );
            }
            Node::Print { expr, raw, span } => {
                let kind = if *raw { "Raw" } else { "Print" };
                let _ = writeln!(
                    out,
                    "{pad}{kind} {}..{} {}",
                    span.start,
                    span.end,
                    sexp(expr)
                );
            }
            Node::If {
                branches,
                otherwise,
                span,
            } => {
                let _ = writeln!(out, "{pad}If {}..{}", span.start, span.end);
                for b in branches {
                    let _ = writeln!(out, "{pad}  when {}", sexp(&b.cond));
                    dump_nodes(out, src, &b.body, depth + 2);
                }
                if let Some(body) = otherwise {
                    let _ = writeln!(out, "{pad}  else");
                    dump_nodes(out, src, body, depth + 2);
                }
            }
            Node::For {
                key,
                value,
                iter,
                body,
                span,
            } => {
                let names = match key {
                    Some(k) => format!("{}, {}", k.name, value.name),
                    None => value.name.to_string(),
                };
                let _ = writeln!(
                    out,
                    "{pad}For {}..{} {names} in {}",
                    span.start,
                    span.end,
                    sexp(iter)
                );
                dump_nodes(out, src, body, depth + 1);
            }
            Node::Set(stmt) => {
                let _ = writeln!(out, "{pad}Set {}", stmt_text(stmt));
            }
            Node::Code { stmts, span } => {
                let _ = writeln!(out, "{pad}Code {}..{}", span.start, span.end);
                for s in stmts {
                    let _ = writeln!(out, "{pad}  {}", stmt_text(s));
                }
            }
            Node::After { stmts, span } => {
                let _ = writeln!(out, "{pad}After {}..{}", span.start, span.end);
                for s in stmts.iter() {
                    let _ = writeln!(out, "{pad}  {}", stmt_text(s));
                }
            }
            Node::Include { path, span } => {
                let _ = writeln!(out, "{pad}Include {}..{} {path:?}", span.start, span.end);
            }
            other => {
                let _ = writeln!(out, "{pad}{other:?}");
            }
        }
    }
}

fn stmt_text(stmt: &Stmt) -> String {
    match stmt {
        Stmt::Assign {
            target,
            op,
            value,
            span,
        } => format!(
            "{} {op:?} {} @{}..{}",
            target.name,
            sexp(value),
            span.start,
            span.end
        ),
        Stmt::Expr(e) => format!("expr {}", sexp(e)),
        other => format!("{other:?}"),
    }
}

/// An expression in prefix form with its span: `(+ a@3..4 1@7..8)@3..8`.
fn sexp(e: &Expr) -> String {
    let inner = match &e.kind {
        ExprKind::Literal(v) => v.to_string(),
        ExprKind::Name(n) => n.to_string(),
        ExprKind::Attr(x, k) => format!("(. {} {k})", sexp(x)),
        ExprKind::Index(x, i) => format!("([] {} {})", sexp(x), sexp(i)),
        ExprKind::Call { func, args, filter } => {
            let f = match func {
                Callee::Builtin(b) => format!("builtin:{}", b.name()),
                Callee::Registered(n) => format!("fn:{n}"),
                other => format!("{other:?}"),
            };
            let args: Vec<String> = args.iter().map(sexp).collect();
            let how = if *filter { "filter" } else { "call" };
            format!("({how} {f} {})", args.join(" "))
        }
        ExprKind::Unary(op, x) => format!("({op:?} {})", sexp(x)),
        ExprKind::Binary(op, l, r) => format!("({} {} {})", op.as_str(), sexp(l), sexp(r)),
        ExprKind::Array(items) => {
            let items: Vec<String> = items.iter().map(sexp).collect();
            format!("[{}]", items.join(" "))
        }
        ExprKind::Object(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|(k, v)| format!("{k:?}: {}", sexp(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => format!("{other:?}"),
    };
    format!("{inner}@{}..{}", e.span.start, e.span.end)
}

fn config_of(header: &Value) -> TemplateConfig {
    let mut config = TemplateConfig::default();
    if let Some(fuel) = header.get("fuel").and_then(Value::as_u64) {
        config = config.with_fuel(fuel);
    }
    if let Some(depth) = header.get("max_include_depth").and_then(Value::as_u64) {
        config = config.with_max_include_depth(depth as u32);
    }
    config
}

#[test]
fn cases() {
    insta::glob!("template-inputs/*.txt", |path| {
        let case = read_case(path);
        let is_err = case.name.starts_with("err_");
        let t = engine(config_of(&case.header));
        for (name, body) in &case.partials {
            t.add_template(name, body).unwrap();
        }
        let empty = json!({});
        let context = case.header.get("context").unwrap_or(&empty);
        let args = case.header.get("args").unwrap_or(&empty);
        let req = request();
        let result = t.add_template(&case.name, &case.source).and_then(|tpl| {
            let mut out = Vec::new();
            let page = PageData::new(context).with_args(args).with_request(&req);
            let after = t.render_template(&tpl, page, &mut out)?;
            Ok((tpl, out, after))
        });
        match result {
            Ok((_, _, after)) if is_err => {
                // The only errors a finished render can still give are in its `after` blocks.
                let e = after.run().expect_err("the case should fail");
                insta::assert_snapshot!("error", format!("{e}\n\n{e:#}"));
            }
            Ok((tpl, out, after)) => {
                let mut ast = String::new();
                dump_nodes(&mut ast, tpl.source(), tpl.nodes(), 0);
                insta::assert_snapshot!("ast", ast);
                let mut page = String::from_utf8(out).unwrap();
                if !after.is_empty() {
                    let outcome = after
                        .run()
                        .map_or_else(|e| format!("error: {e}"), |()| "ok".into());
                    let _ = write!(
                        page,
                        "\n--- after blocks: {outcome}; hits = {}",
                        t.get_global_var("hits").unwrap_or_default()
                    );
                }
                insta::assert_snapshot!("render", page);
            }
            Err(e) => {
                assert!(is_err, "{} failed: {e:#}", case.name);
                insta::assert_snapshot!("error", format!("{e}\n\n{e:#}"));
            }
        }
    });
}

/// Renders a case with a fresh engine, whole (`piece` = 0) or pulled through a
/// [`microweb::mods::templates::RenderStream`] `piece` bytes at a time; returns the page or the error, and what
/// the `after` blocks did.
#[allow(clippy::unwrap_used)] // a test helper outside #[test] functions
fn render_case(case: &Case, piece: usize) -> (Result<Vec<u8>, String>, String) {
    let t = engine(config_of(&case.header));
    for (name, body) in &case.partials {
        t.add_template(name, body).unwrap();
    }
    let empty = json!({});
    let context = case.header.get("context").unwrap_or(&empty);
    let args = case.header.get("args").unwrap_or(&empty);
    let req = request();
    let tpl = match t.add_template(&case.name, &case.source) {
        Ok(tpl) => tpl,
        Err(e) => return (Err(format!("{e:#}")), String::new()),
    };
    let (page, after) = if piece == 0 {
        let mut out = Vec::new();
        let page = PageData::new(context).with_args(args).with_request(&req);
        match t.render_template(&tpl, page, &mut out) {
            Ok(after) => (Ok(out), Some(after)),
            Err(e) => (Err(format!("{e:#}")), None),
        }
    } else {
        let mut stream = t.start_render(tpl, context.clone(), args.clone(), req);
        let mut out = Vec::new();
        let mut buf = vec![0u8; piece];
        loop {
            match stream.fill(&mut buf) {
                Ok(0) => break (Ok(out), Some(stream.into_after_work())),
                Ok(n) => {
                    assert!(n <= piece);
                    out.extend_from_slice(&buf[..n]);
                }
                Err(e) => {
                    // The error sticks: the page never looks complete afterwards.
                    let again = stream.fill(&mut buf).expect_err("the error again");
                    assert_eq!(again.to_string(), e.to_string());
                    break (Err(format!("{e:#}")), None);
                }
            }
        }
    };
    let after = match after {
        Some(a) if !a.is_empty() => format!(
            "{:?}; hits = {:?}",
            a.run().map_err(|e| e.to_string()),
            t.get_global_var("hits")
        ),
        _ => String::new(),
    };
    (page, after)
}

#[test]
fn every_case_renders_the_same_when_pulled_piece_by_piece() {
    let mut cases = 0;
    for entry in std::fs::read_dir("tests/template-inputs").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("txt") {
            continue;
        }
        let case = read_case(&path);
        let whole = render_case(&case, 0);
        for piece in [1, 7, 64, 4096] {
            assert_eq!(render_case(&case, piece), whole, "{} by {piece}", case.name);
        }
        cases += 1;
    }
    assert!(cases > 20, "{cases} cases");
}

#[test]
fn a_stream_keeps_the_rest_of_a_long_value_for_the_next_call() {
    let t = engine(TemplateConfig::default());
    let tpl = t
        .add_template("v.html", "[<< v >>]<< include \"_p.html\" >>")
        .unwrap();
    t.add_template("_p.html", "<< for k, x in o >><< k >>=<< x >>;<< end >>")
        .unwrap();
    let v = "<&>".repeat(100);
    let context = json!({"v": v, "o": {"a": 1, "b": "<"}});
    let mut stream = t.start_render(tpl, context, json!({}), json!({}));
    let mut buf = [0u8; 10];
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        let n = stream.fill(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        // Every call but the last fills the buffer.
        assert!(n == buf.len() || stream.fill(&mut [0u8; 1]).unwrap() == 0);
        out.extend_from_slice(&buf[..n]);
        calls += 1;
    }
    let expected = format!("[{}]a=1;b=&lt;;", "&lt;&amp;&gt;".repeat(100));
    assert_eq!(String::from_utf8(out).unwrap(), expected);
    assert_eq!(calls, expected.len().div_ceil(10));
    assert!(stream.into_after_work().is_empty());
}

#[test]
fn templates_are_reparsed_when_their_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("page.html");
    std::fs::write(&file, "one << 1 >>").unwrap();
    let t = Templates::new(dir.path());
    assert_eq!(
        t.render_to_string("/page.html", &json!({}), &json!({}))
            .unwrap(),
        "one 1"
    );
    let first = t.load("page.html").unwrap();
    assert!(
        Arc::ptr_eq(&first, &t.load("page.html").unwrap()),
        "unchanged file is cached"
    );
    // A different size changes the stamp even within the file system's time granularity.
    std::fs::write(&file, "two << 1 + 1 >>!").unwrap();
    assert_eq!(
        t.render_to_string("page.html", &json!({}), &json!({}))
            .unwrap(),
        "two 2!"
    );
    // A broken page keeps failing (from the cache) until the file is fixed.
    std::fs::write(&file, "<< if x >>").unwrap();
    let broken = t.load("page.html").unwrap_err().to_string();
    assert_eq!(
        broken,
        "page.html:1:11: expected `<< end >>` to close the `if` opened at 1:1"
    );
    assert_eq!(t.load("page.html").unwrap_err().to_string(), broken);
    std::fs::write(&file, "fixed, at last").unwrap();
    assert_eq!(
        t.render_to_string("page.html", &json!({}), &json!({}))
            .unwrap(),
        "fixed, at last"
    );
    std::fs::remove_file(&file).unwrap();
    let err = t.load("page.html").unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
    assert!(err.is_not_found());
    assert_eq!(err.to_string(), "page.html: template not found");
}

#[test]
fn precompile_reports_every_broken_template_in_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("good.html"), "<< 1 >>").unwrap();
    std::fs::write(dir.path().join("bad.html"), "<< if x >>").unwrap();
    std::fs::write(dir.path().join("sub/_part.htm"), "<< 1 + >>").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "<< not a template").unwrap();
    let t = Templates::new(dir.path());
    let mut errors: Vec<String> = t.precompile_all().iter().map(ToString::to_string).collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            "bad.html:1:11: expected `<< end >>` to close the `if` opened at 1:1",
            "sub/_part.htm:1:8: expected an expression",
        ]
    );
}

#[test]
fn names_outside_the_folder_are_refused() {
    let t = Templates::new("templates");
    for name in ["../Cargo.toml", "a/../../x.html", ""] {
        assert_eq!(
            t.load(name).unwrap_err().kind(),
            &ErrorKind::InvalidName,
            "{name}"
        );
    }
}

/// A sink that records chunks and can be told to fail.
struct Chunks {
    chunks: Vec<Vec<u8>>,
}

#[test]
fn a_page_larger_than_the_slot_streams_in_slot_sized_chunks() {
    let t = engine(TemplateConfig::default());
    t.add_template(
        "big.html",
        "<< for i in range(200) >><p><< i >> &amp; << \"<b>\" >></p>\n<< end >>",
    )
    .unwrap();
    let mut whole = Vec::new();
    let _ = t
        .render("big.html", &json!({}), &json!({}), &mut whole)
        .unwrap();
    assert!(whole.len() > 4000);

    let mut rec = Chunks { chunks: Vec::new() };
    let mut slot = [0u8; 256];
    {
        let mut sink = SlotSink::new(&mut slot, |b: &[u8]| {
            rec.chunks.push(b.to_vec());
            Ok(())
        });
        let _ = t
            .render("big.html", &json!({}), &json!({}), &mut sink)
            .unwrap();
        assert!(sink.has_sent());
        sink.finish().unwrap();
    }
    assert!(rec.chunks.iter().all(|c| c.len() <= 256));
    assert!(rec.chunks.iter().rev().skip(1).all(|c| c.len() == 256));
    assert_eq!(rec.chunks.concat(), whole);
}

#[test]
fn the_sink_tells_whether_an_error_came_before_or_after_bytes_left() {
    let t = engine(TemplateConfig::default());
    t.add_template("early.html", "short << 1 / 0 >>").unwrap();
    t.add_template(
        "late.html",
        "<< for i in range(100) >>0123456789<< end >><< 1 / 0 >>",
    )
    .unwrap();
    let mut slot = [0u8; 64];
    let mut sink = SlotSink::new(&mut slot, |_: &[u8]| Ok(()));
    let err = t
        .render("early.html", &json!({}), &json!({}), &mut sink)
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::DivisionByZero);
    assert!(!sink.has_sent(), "the server can still answer 500");

    let mut slot = [0u8; 64];
    let mut sink = SlotSink::new(&mut slot, |_: &[u8]| Ok(()));
    let err = t
        .render("late.html", &json!({}), &json!({}), &mut sink)
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::DivisionByZero);
    assert!(sink.has_sent(), "the server must close the connection");
}

#[test]
fn a_closed_sink_stops_the_render() {
    struct Closed;
    impl RenderSink for Closed {
        fn write(&mut self, _: &[u8]) -> Result<(), SinkError> {
            Err(SinkError::Closed)
        }
        fn has_sent(&self) -> bool {
            true
        }
    }
    let t = engine(TemplateConfig::default());
    t.add_template("p.html", "hello").unwrap();
    let err = t
        .render("p.html", &json!({}), &json!({}), &mut Closed)
        .unwrap_err();
    assert!(err.is_sink());
    assert_eq!(err.to_string(), "p.html:1:1: output closed");
}

#[test]
fn after_blocks_run_only_when_asked_and_update_globals() {
    let t = engine(TemplateConfig::default());
    t.add_template(
        "count.html",
        "page<< after >>hits += 1; last = request.path << end >>",
    )
    .unwrap();
    let mut out = Vec::new();
    let after = t
        .render("count.html", &json!({}), &request(), &mut out)
        .unwrap();
    assert_eq!(out, b"page");
    assert_eq!(
        t.get_global_var("hits"),
        Some(json!(0)),
        "not before the page is sent"
    );
    after.run().unwrap();
    assert_eq!(t.get_global_var("hits"), Some(json!(1)));
    assert_eq!(t.get_global_var("last"), Some(json!("/page.html")));
    for _ in 0..3 {
        let _ = t
            .render_to_string("count.html", &json!({}), &request())
            .unwrap();
    }
    assert_eq!(t.get_global_var("hits"), Some(json!(4)));
}

#[test]
fn show_debug_gives_an_escaped_page_with_the_location() {
    let t = engine(TemplateConfig::default());
    assert!(!t.is_show_debug());
    t.show_debug(true);
    assert!(t.is_show_debug());
    let err = t
        .add_template("broken.html", "<h1>Hi</h1>\n<p><< user.name >></p>")
        .and_then(|_| t.render_to_string("broken.html", &json!({}), &json!({})))
        .unwrap_err();
    let html = err.debug_html();
    assert!(
        html.contains("broken.html:2:7: unknown name `user`"),
        "{html}"
    );
    assert!(
        html.contains("&lt;p&gt;&lt;&lt; user.name &gt;&gt;&lt;/p&gt;"),
        "{html}"
    );
    assert!(html.contains("^^^^"), "{html}");
}

#[test]
fn the_demo_page_renders_every_instruction() {
    let t = Templates::new("templates");
    t.set_global_var("site_name", json!("microweb demo"));
    t.set_global_var("visits", json!(0));
    assert!(t.precompile_all().is_empty(), "{:?}", t.precompile_all());
    assert!(t.is_template_path("/test.html"));
    let mut out = Vec::new();
    let after = t
        .render("test.html", &json!({}), &request(), &mut out)
        .unwrap();
    let page = String::from_utf8(out).unwrap();
    assert!(page.contains("microweb demo"), "{page}");
    assert!(page.contains("GET"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
    assert!(!page.contains("<<"), "{page}");
    after.run().unwrap();
    assert_eq!(t.get_global_var("visits"), Some(json!(1)));
}

#[test]
#[ignore = "prints the demo page for a manual look"]
fn print_demo_page() {
    let t = Templates::new("templates");
    t.set_global_var("site_name", json!("microweb demo"));
    let page = t
        .render_to_string("test.html", &json!({}), &request())
        .unwrap();
    println!("{page}");
}

#[test]
fn the_engine_and_after_work_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Templates>();
    send_sync::<microweb::mods::templates::Template>();
    send::<microweb::mods::templates::AfterWork>();
    send_sync::<microweb::mods::templates::TemplateError>();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Whatever the input, parsing and rendering (with a small budget) return, never panic.
    #[test]
    fn any_input_parses_and_renders_without_panicking(
        parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "<<", ">>", "<<-", "->>", "<<#", "#>>", " ", "\n", "x", "xs", "loop", "(", ")", "[",
                "]", "{", "}", "\"", "'", "\\", ",", ":", ".", "|", "+", "-", "*", "/", "%", "==",
                "<", ">=", "not", "and", "or", "in", "if", "elif", "else", "end", "for", "set", "=",
                "+=", "code", "after", "include", "raw", "1", "0", "2.5", "é", "range(9)",
                "default", "len", "upper", "money", "null", "true", ";",
            ]),
            0..40,
        )
    ) {
        let source: String = parts.concat();
        let t = engine(TemplateConfig::default().with_fuel(2_000).with_max_include_depth(2));
        if t.add_template("p.html", &source).is_ok() {
            let context = json!({"x": 3, "xs": [1, "<a>", null, [2]]});
            let mut out = Vec::new();
            if let Ok(after) = t.render("p.html", &context, &request(), &mut out) {
                let _ = after.run();
            }
        } else {
            let e = t.add_template("p.html", &source).unwrap_err();
            let _ = format!("{e:#}");
            let _ = e.debug_html();
        }
    }
}

#[test]
fn nesting_up_to_the_bound_renders() {
    let t = engine(TemplateConfig::default());
    let depth = 120;
    let blocks = format!(
        "{}deep{}",
        "<< if 1 >>".repeat(depth),
        "<< end >>".repeat(depth)
    );
    t.add_template("blocks.html", &blocks).unwrap();
    assert_eq!(
        t.render_to_string("blocks.html", &json!({}), &json!({}))
            .unwrap(),
        "deep"
    );
    let parens = format!("<< {}1{} >>", "(-".repeat(60), ")".repeat(60));
    t.add_template("parens.html", &parens).unwrap();
    assert_eq!(
        t.render_to_string("parens.html", &json!({}), &json!({}))
            .unwrap(),
        "1"
    );
}

#[test]
fn concurrent_pages_share_the_cache_and_count_exactly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("count.html"),
        "<< for i in range(3) >><< i >><< end >><< after >>hits += 1<< end >>",
    )
    .unwrap();
    let t = Templates::new(dir.path());
    t.set_global_var("hits", json!(0));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    assert_eq!(
                        t.render_to_string("count.html", &json!({}), &json!({}))
                            .unwrap(),
                        "012"
                    );
                }
            });
        }
    });
    assert_eq!(t.get_global_var("hits"), Some(json!(200)));
}
